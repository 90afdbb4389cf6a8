"""Edge cases of asyncio.Future, for the C class and the pure-Python one.

Every test case runs against futures._CFuture (our Modules/_asynciomodule.c),
a Python subclass of it, and futures._PyFuture; where the two classes are
documented to differ, the assertion says which class it is about.  The
crash scenarios are the ones upstream's C Future crashed on; the ones that
can only show up as a crash also run in a child interpreter, so that a
crash fails one test instead of the whole run.
"""

import asyncio
import contextvars
import gc
import os
import sys
import threading
import types
import unittest
import weakref
from asyncio import events, futures
from test.support import script_helper
from test.test_asyncio import cfork_helpers
from test.test_asyncio import utils as test_utils
from test.test_asyncio.cfork_helpers import OUR_BUILD

# __init__ refuses to start a pending future afresh (gh-142615) on our
# build, C and Python classes alike; stock 3.11 lets it.
INIT_ONCE = OUR_BUILD


def tearDownModule():
    asyncio.set_event_loop_policy(None)


class RecordingLoop:
    """The part of the loop API a Future uses, recording what it is asked."""

    def __init__(self, debug=False):
        self.scheduled = []
        self.errors = []
        self.debug = debug

    def get_debug(self):
        return self.debug

    def call_soon(self, callback, *args, context=None):
        self.scheduled.append((callback, args, context))

    def call_exception_handler(self, context):
        self.errors.append(context)

    def run_scheduled(self):
        while self.scheduled:
            callback, args, context = self.scheduled.pop(0)
            if context is None:
                callback(*args)
            else:
                context.run(callback, *args)


class FutureEdgeCases:
    cls = None

    def setUp(self):
        super().setUp()
        self.loop = self.new_test_loop()
        self.addCleanup(self.loop.close)

    def new(self, loop=None):
        return self.cls(loop=self.loop if loop is None else loop)

    @property
    def is_c(self):
        return issubclass(self.cls, futures._CFuture) \
            and futures._CFuture is not futures._PyFuture

    # --- wrong types and states ---

    def test_positional_loop_refused(self):
        with self.assertRaises(TypeError):
            self.cls(self.loop)

    def test_result_and_exception_not_ready(self):
        f = self.new()
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    '^Result is not ready.$'):
            f.result()
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    '^Exception is not set.$'):
            f.exception()

    def test_set_twice_names_state(self):
        f = self.new()
        f.set_result(1)
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    r'^FINISHED: <\w+ finished result=1>$'):
            f.set_result(2)
        g = self.new()
        g.cancel()
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    r'^CANCELLED: <\w+ cancelled>$'):
            g.set_exception(ValueError())

    def test_set_exception_stop_iteration(self):
        f = self.new()
        for exc in (StopIteration, StopIteration()):
            with self.assertRaisesRegex(TypeError,
                                        'StopIteration interacts badly'):
                f.set_exception(exc)
        self.assertFalse(f.done())
        # a subclass of StopIteration is accepted, as in the Python class
        class MyStop(StopIteration):
            pass
        f.set_exception(MyStop)
        self.assertIsInstance(f.exception(), MyStop)

    def test_set_exception_not_an_exception(self):
        f = self.new()
        # The Python class fails on `exception.__traceback__`.
        with self.assertRaises((TypeError, AttributeError)):
            f.set_exception(42)
        if self.is_c:
            self.assertFalse(f.done())

    def test_exception_class_is_instantiated(self):
        f = self.new()
        f.set_exception(KeyError)
        self.assertIs(type(f.exception()), KeyError)

    def test_cancel_message(self):
        f = self.new()
        self.assertTrue(f.cancel('stop'))
        self.assertFalse(f.cancel('again'))
        with self.assertRaises(asyncio.CancelledError) as cm:
            f.result()
        self.assertEqual(cm.exception.args, ('stop',))
        with self.assertRaises(asyncio.CancelledError) as cm:
            f.exception()
        self.assertEqual(cm.exception.args, ('stop',))

    def test_log_traceback(self):
        f = self.new()
        with self.assertRaisesRegex(ValueError, 'can only be set to False'):
            f._log_traceback = True
        f._log_traceback = False
        self.assertFalse(f._log_traceback)

    def test_uninitialized(self):
        f = self.cls.__new__(self.cls)
        self.assertFalse(f.done())
        self.assertFalse(f.cancelled())
        with self.assertRaises(asyncio.InvalidStateError):
            f.result()
        if self.is_c:
            for call in (f.get_loop, lambda: f.set_result(1),
                         lambda: f.set_exception(ValueError),
                         f.cancel, lambda: f.add_done_callback(print),
                         lambda: f.remove_done_callback(print)):
                with self.assertRaisesRegex(
                        RuntimeError, '^Future object is not initialized.$'):
                    call()
            self.assertIsNone(f._loop)
            repr(f)

    def test_class_getitem(self):
        alias = self.cls[int]
        self.assertIsInstance(alias, types.GenericAlias)
        self.assertIs(alias.__origin__, self.cls)

    # --- remove_done_callback() against a hostile __eq__ ---

    def test_remove_eq_removes_others(self):
        f = self.new(RecordingLoop())
        f.add_done_callback(str)
        for _ in range(10):
            f.add_done_callback(id)
        f.add_done_callback(repr)

        class Evil:
            def __eq__(self, other):
                f.remove_done_callback(id)
                return False
        f.remove_done_callback(Evil())
        self.assertEqual([cb for cb, ctx in f._callbacks], [str, repr])

    def test_remove_eq_clears_everything(self):
        f = self.new(RecordingLoop())
        for _ in range(20):
            f.add_done_callback(id)
            f.add_done_callback(str)

        class Evil:
            def __eq__(self, other):
                f.remove_done_callback(id)
                f.remove_done_callback(str)
                return True
        f.remove_done_callback(Evil())
        self.assertEqual(f._callbacks, [])
        f.set_result(None)
        self.assertEqual(f.get_loop().scheduled, [])

    def test_remove_eq_resolves_future(self):
        loop = RecordingLoop()
        f = self.new(loop)
        seen = []
        for i in range(5):
            f.add_done_callback(lambda fut, i=i: seen.append(i))

        class Evil:
            def __eq__(self, other):
                if not f.done():
                    f.set_result('x')
                return False
        removed = f.remove_done_callback(Evil())
        if self.is_c:
            # (the Python class answers -1 here: len() before - len() after)
            self.assertEqual(removed, 0)
        loop.run_scheduled()
        self.assertEqual(seen, [0, 1, 2, 3, 4])
        if self.is_c:
            # (the Python class writes its filtered copy back)
            self.assertEqual(f._callbacks, [])

    def test_remove_eq_reinitialises_future(self):
        f = self.new(RecordingLoop())
        for _ in range(8):
            f.add_done_callback(id)

        class Evil:
            def __eq__(self, other):
                f.__init__(loop=RecordingLoop())
                return True
        if INIT_ONCE:
            # the pending future is not made afresh: nothing is removed
            with self.assertRaisesRegex(RuntimeError, 'pending'):
                f.remove_done_callback(Evil())
            self.assertEqual([cb for cb, ctx in f._callbacks], [id] * 8)
            return
        f.remove_done_callback(Evil())
        f.add_done_callback(str)
        self.assertEqual([cb for cb, ctx in f._callbacks], [str])

    def test_remove_eq_resolves_and_reinitialises_future(self):
        # The callbacks being compared are scheduled and the future made
        # afresh (allowed, as it is done) during the comparison.
        loop = RecordingLoop()
        f = self.new(loop)
        for _ in range(8):
            f.add_done_callback(id)

        class Evil:
            def __eq__(self, other):
                if not f.done():
                    f.set_result(None)
                f.__init__(loop=loop)
                return True
        f.remove_done_callback(Evil())
        self.assertEqual(len(loop.scheduled), 8)
        f.add_done_callback(str)
        if self.is_c:
            # the C future starts afresh; the Python one stays done and
            # schedules the new callback at once
            self.assertFalse(f.done())
            self.assertEqual([cb for cb, ctx in f._callbacks], [str])
        else:
            self.assertEqual(len(loop.scheduled), 9)

    def test_remove_eq_adds_callbacks(self):
        f = self.new(RecordingLoop())
        f.add_done_callback(str)
        for _ in range(63):
            f.add_done_callback(id)
        added = 0

        class Evil:
            def __eq__(self, other):
                nonlocal added
                if added < 100:
                    added += 1
                    f.add_done_callback(id)
                return False
        self.assertEqual(f.remove_done_callback(Evil()), 0)
        self.assertEqual(len(f._callbacks), 64 + added)

    # --- scheduling callbacks against a hostile loop ---

    def test_call_soon_mutates_callbacks(self):
        f = None
        scheduled = []

        class Loop(RecordingLoop):
            def call_soon(self, callback, *args, context=None):
                scheduled.append(callback)
                # neither of these may disturb the scheduling in progress
                f.remove_done_callback(repr)
                if len(scheduled) < 3:
                    f.add_done_callback(len)
                super().call_soon(callback, *args, context=context)

        f = self.new(Loop())
        for cb in (str, repr, hash):
            f.add_done_callback(cb)
        f.set_result(None)
        # each callback registered before set_result() is scheduled exactly
        # once, in order; the ones added while scheduling are scheduled
        # right away since the future is done
        self.assertEqual(scheduled[:1], [str])
        self.assertIn(repr, scheduled)
        self.assertIn(hash, scheduled)
        self.assertEqual(scheduled.count(str), 1)
        self.assertEqual(scheduled.count(hash), 1)
        self.assertEqual(scheduled.count(len), 2)
        self.assertEqual(f._callbacks, [])

    def test_loop_getattribute_frees_first_callback(self):
        f = None
        called = []

        class Loop(RecordingLoop):
            def __getattribute__(self, name):
                if name == 'call_soon' and f is not None and f._callbacks:
                    # drop the future's hold on its callbacks
                    f.__init__(loop=self)
                return super().__getattribute__(name)

        f = self.new(Loop())
        f.add_done_callback(lambda fut: called.append('first'))
        f.add_done_callback(lambda fut: called.append('second'))
        f.set_result(None)
        gc.collect()
        # The C future drops its callbacks before calling the loop; the
        # Python one copies them: either way both are scheduled and valid.
        f.get_loop().run_scheduled()
        self.assertEqual(called, ['first', 'second'])

    def test_loop_getattribute_frees_loop(self):
        # The only reference to the loop is the future's; the loop replaces
        # itself while its call_soon is looked up.
        called = []
        holder = {}

        class Loop(RecordingLoop):
            def __getattribute__(self, name):
                if name == 'call_soon' and 'f' in holder:
                    f = holder.pop('f')
                    f.__init__(loop=RecordingLoop())
                return super().__getattribute__(name)

        f = self.new(Loop())
        holder['f'] = f
        f.add_done_callback(lambda fut: called.append(1))
        f.add_done_callback(lambda fut: called.append(2))
        f.set_result(None)
        gc.collect()
        self.assertIsInstance(f.get_loop(), RecordingLoop)

    def test_call_soon_raises(self):
        class Loop(RecordingLoop):
            def call_soon(self, *args, **kwargs):
                raise ZeroDivisionError

        f = self.new(Loop())
        f.add_done_callback(str)
        f.add_done_callback(repr)
        with self.assertRaises(ZeroDivisionError):
            f.set_result(None)
        self.assertTrue(f.done())
        self.assertEqual(f._callbacks, [])

    def test_callbacks_get_context(self):
        # (in a context of its own: setting a variable in the test runner's
        # context would keep it alive)
        contextvars.Context().run(self.check_callbacks_get_context)

    def check_callbacks_get_context(self):
        # A callback runs in a copy of the context add_done_callback() ran
        # in (the C Future makes the first callback's copy from the
        # variables it keeps, when it is first needed: one Context, the
        # same whenever it is read), or in the context it was given.
        var = contextvars.ContextVar('var')
        loop = RecordingLoop()
        f = self.new(loop)
        var.set('outer')
        seen = []

        def callback(fut):
            seen.append(var.get())
            var.set('inside')
        f.add_done_callback(callback)
        ctx = contextvars.Context()
        ctx.run(var.set, 'explicit')
        f.add_done_callback(callback, context=ctx)
        var.set('changed')
        copy = f._callbacks[0][1]
        self.assertIsInstance(copy, contextvars.Context)
        self.assertIs(f._callbacks[0][1], copy)
        self.assertIs(f._callbacks[1][1], ctx)
        self.assertEqual(copy[var], 'outer')
        f.set_result(None)
        loop.run_scheduled()
        self.assertEqual(seen, ['outer', 'explicit'])
        self.assertEqual((copy[var], ctx[var]), ('inside', 'inside'))
        self.assertEqual(var.get(), 'changed')
        # never read before the callback runs; removed, added again
        g = self.new(loop)
        g.add_done_callback(callback)
        self.assertEqual(g.remove_done_callback(callback), 1)
        self.assertEqual(g._callbacks, [])
        var.set('again')
        g.add_done_callback(callback)
        g.set_result(None)
        loop.run_scheduled()
        self.assertEqual(seen, ['outer', 'explicit', 'again'])
        self.assertEqual(var.get(), 'again')

    # --- __init__ called again ---

    def test_init_twice_pending(self):
        f = self.new()
        f.add_done_callback(str)
        other = self.new_test_loop()
        self.addCleanup(other.close)
        if INIT_ONCE:
            for args in ({'loop': other}, {}, {'loop': 1}):
                with self.assertRaisesRegex(
                        RuntimeError, r'^__init__\(\) called again on a '
                        r'pending ' + type(f).__name__ + '$'):
                    f.__init__(**args)
            # nothing was changed
            self.assertIs(f.get_loop(), self.loop)
            self.assertEqual([cb for cb, ctx in f._callbacks], [str])
        else:
            f.__init__(loop=other)
            self.assertIs(f.get_loop(), other)
            self.assertEqual(f._callbacks, [])
        f.set_result(3)
        self.assertEqual(f.result(), 3)

    def test_init_after_failed_init(self):
        # get_debug() is asked once the future has taken its loop: an
        # __init__ that fails there leaves a pending future that both
        # classes count as initialised
        class BadLoop(RecordingLoop):
            def get_debug(self):
                raise ZeroDivisionError
        f = self.cls.__new__(self.cls)
        with self.assertRaises(ZeroDivisionError):
            f.__init__(loop=BadLoop())
        self.assertIsInstance(f.get_loop(), BadLoop)
        if INIT_ONCE:
            with self.assertRaisesRegex(RuntimeError, 'pending'):
                f.__init__(loop=RecordingLoop())
            self.assertIsInstance(f.get_loop(), BadLoop)

    def test_init_twice_done(self):
        loop = RecordingLoop()
        f = self.new(loop)
        f.set_exception(ValueError('lost?'))
        f.__init__(loop=loop)
        if self.is_c:
            # the C future starts afresh and reports the exception it held
            self.assertFalse(f.done())
            self.assertEqual(len(loop.errors), 1)
            self.assertEqual(str(loop.errors[0]['exception']), 'lost?')
            f.set_result(1)
            self.assertEqual(f.result(), 1)
        else:
            self.assertTrue(f.done())

    # --- the await iterator ---

    def test_iter_yields_future_then_returns(self):
        f = self.new()
        it = f.__await__()
        self.assertIs(it.send(None), f)
        self.assertTrue(f._asyncio_future_blocking)
        f.set_result('r')
        with self.assertRaises(StopIteration) as cm:
            it.send(None)
        self.assertEqual(cm.exception.value, 'r')
        with self.assertRaises(StopIteration) as cm:
            it.send(None)
        self.assertIsNone(cm.exception.value)

    def test_iter_fresh_each_time(self):
        f = self.new()
        it1, it2 = iter(f), f.__await__()
        self.assertIsNot(it1, it2)
        self.assertIs(next(it1), f)
        self.assertIs(next(it2), f)
        f.set_result((1, 2))
        with self.assertRaises(StopIteration) as cm:
            next(it1)
        self.assertEqual(cm.exception.value, (1, 2))
        with self.assertRaises(StopIteration) as cm:
            it2.send(None)
        self.assertEqual(cm.exception.value, (1, 2))

    def test_iter_not_awaited(self):
        f = self.new()
        it = iter(f)
        next(it)
        with self.assertRaisesRegex(RuntimeError,
                                    "await wasn't used with future"):
            next(it)
        with self.assertRaises(StopIteration):
            next(it)

    def test_iter_result_raises(self):
        f = self.new()
        it = iter(f)
        f.set_exception(ValueError('v'))
        with self.assertRaisesRegex(ValueError, '^v$'):
            next(it)
        with self.assertRaises(StopIteration):
            next(it)

    def test_iter_throw_signatures(self):
        f = self.new()
        tb = None
        try:
            raise KeyError
        except KeyError as e:
            tb = e.__traceback__
        cases = [
            ((ValueError,), ValueError),
            ((ValueError('x'),), ValueError),
            ((ValueError, 'y'), ValueError),
            ((ValueError, ValueError('z')), ValueError),
            ((ValueError, None, None), ValueError),
            ((ValueError, 'w', tb), ValueError),
            ((ValueError('x'), None, tb), ValueError),
        ]
        for args, exc in cases:
            with self.subTest(args=args):
                it = iter(f)
                next(it)
                with self.assertRaises(exc):
                    it.throw(*args)
                # finished like a generator: send after throw stops
                with self.assertRaises(StopIteration):
                    it.send(None)
        it = iter(f)
        try:
            it.throw(ValueError('q'), None, tb)
        except ValueError as e:
            chain = []
            t = e.__traceback__
            while t is not None:
                chain.append(t)
                t = t.tb_next
            self.assertIs(chain[-1], tb)
        else:
            self.fail('ValueError not raised')

    def test_iter_throw_bad_arguments(self):
        f = self.new()
        it = iter(f)
        next(it)
        with self.assertRaises(TypeError):
            it.throw(None)
        with self.assertRaises(TypeError):
            it.throw(list)
        with self.assertRaises(TypeError):
            it.throw(ValueError, ValueError(), 32)
        with self.assertRaises(TypeError):
            it.throw(ValueError('a'), ValueError('b'))
        with self.assertRaises(TypeError):
            it.throw()
        # none of these finished the iterator
        f.set_result(5)
        with self.assertRaises(StopIteration) as cm:
            it.send(None)
        self.assertEqual(cm.exception.value, 5)

    def test_iter_close(self):
        f = self.new()
        it = iter(f)
        next(it)
        self.assertIsNone(it.close())
        self.assertIsNone(it.close())
        with self.assertRaises(StopIteration):
            it.send(None)
        with self.assertRaises(StopIteration):
            next(it)
        with self.assertRaises(ValueError):
            it.throw(ValueError)
        f.cancel()

    def test_iter_unstarted_close_then_send(self):
        f = self.new()
        it = f.__await__()
        it.close()
        with self.assertRaises(StopIteration):
            it.send(None)
        f.cancel()

    def test_many_iterators(self):
        # exercises the iterator freelist: recycled iterators start clean
        fs = [self.new() for _ in range(3)]
        for _ in range(600):
            its = [iter(f) for f in fs]
            for f, it in zip(fs, its):
                self.assertIs(next(it), f)
            del its
        for f in fs:
            f.set_result(f)
            with self.assertRaises(StopIteration) as cm:
                next(iter(f))
            self.assertIs(cm.exception.value, f)

    # --- subclasses ---

    def test_subclass_overrides_are_honoured(self):
        class Sub(self.cls):
            def done(self):
                return True

            def result(self):
                return 'overridden'

            def _repr_info(self):
                return ['custom', 'info']

        f = Sub(loop=self.loop)
        if self.is_c:
            # 3.11's Python Future has no _repr_info; the C one uses it
            self.assertEqual(repr(f), '<Sub custom info>')

        async def main():
            return await f
        self.assertEqual(self.loop.run_until_complete(main()), 'overridden')

    def test_subclass_recursive_repr(self):
        class Sub(self.cls):
            pass
        f = Sub(loop=self.loop)
        f.set_result(f)
        self.assertEqual(repr(f), '<Sub finished result=...>')

    # --- finaliser and GC ---

    def test_unretrieved_exception_reported(self):
        loop = RecordingLoop()
        f = self.new(loop)
        exc = ValueError('never seen')
        f.set_exception(exc)
        del f
        gc.collect()
        self.assertEqual(len(loop.errors), 1)
        context = loop.errors[0]
        self.assertEqual(context['message'],
                         f'{self.cls.__name__} exception was never retrieved')
        self.assertIs(context['exception'], exc)
        self.assertIsInstance(context['future'], self.cls)

    def test_retrieved_exception_not_reported(self):
        loop = RecordingLoop()
        for retrieve in ('result', 'exception', 'cancel', 'log'):
            f = self.new(loop)
            f.set_exception(ValueError())
            if retrieve == 'result':
                with self.assertRaises(ValueError):
                    f.result()
            elif retrieve == 'exception':
                f.exception()
            elif retrieve == 'cancel':
                f.cancel()
            else:
                f._log_traceback = False
            del f
        gc.collect()
        self.assertEqual(loop.errors, [])

    def test_finaliser_handler_resurrects(self):
        kept = []

        class Loop(RecordingLoop):
            def call_exception_handler(self, context):
                kept.append(context['future'])

        f = self.new(Loop())
        f.set_exception(ValueError())
        f_ref = weakref.ref(f)
        del f
        gc.collect()
        self.assertEqual(len(kept), 1)
        self.assertIs(f_ref(), kept[0])
        kept.clear()
        gc.collect()
        self.assertIsNone(f_ref())

    def test_cycle_collected(self):
        f = self.new()
        f.set_result(f)
        f.attr = f
        r = weakref.ref(f)
        del f
        gc.collect()
        self.assertIsNone(r())

    def test_cycle_through_callback_collected(self):
        f = self.new(RecordingLoop())
        f.add_done_callback(lambda fut, f=f: None)
        r = weakref.ref(f)
        del f
        gc.collect()
        self.assertIsNone(r())

    def test_traceback_does_not_grow(self):
        f = self.new()
        try:
            raise ValueError
        except ValueError as e:
            f.set_exception(e)
        depths = []
        for _ in range(3):
            try:
                f.result()
            except ValueError as e:
                tb, n = e.__traceback__, 0
                while tb is not None:
                    n, tb = n + 1, tb.tb_next
                depths.append(n)
        if self.is_c:
            self.assertEqual(depths, [2, 1, 1])
        else:
            self.assertEqual(len(set(depths)), 1)

    def test_source_traceback_debug(self):
        loop = RecordingLoop(debug=True)
        f = self.new(loop)
        line = sys._getframe().f_lineno - 1
        self.assertEqual(f._source_traceback[-2][:3],
                         (__file__, line, 'test_source_traceback_debug'))
        self.assertEqual(f._source_traceback[-1][2], 'new')


@unittest.skipUnless(hasattr(futures, '_CFuture'), 'requires _asyncio')
class CFutureEdgeTests(FutureEdgeCases, test_utils.TestCase):
    cls = getattr(futures, '_CFuture', None)

    def test_is_the_c_class(self):
        import _asyncio
        self.assertIs(asyncio.Future, _asyncio.Future)
        self.assertIs(self.cls, _asyncio.Future)
        self.assertEqual(self.cls.__module__, '_asyncio')

    def test_attributes_cannot_be_deleted(self):
        f = self.new()
        for name in ('_asyncio_future_blocking', '_log_traceback',
                     '_cancel_message'):
            with self.assertRaises(AttributeError):
                delattr(f, name)

    def test_callbacks_attribute_is_a_copy(self):
        f = self.new()
        f.add_done_callback(str)
        f._callbacks.clear()
        self.assertEqual(len(f._callbacks), 1)

    def test_first_callback_keeps_no_context_object(self):
        # In place of a copy of the current context, the first callback
        # keeps that context's variables until the copy is needed: one
        # object fewer for the garbage collector per future awaited by a
        # gather(), say.  A given context is kept as it is.
        def contexts(obj):
            return [r for r in gc.get_referents(obj)
                    if isinstance(r, contextvars.Context)]
        f = self.new()
        f.add_done_callback(str)
        self.assertEqual(contexts(f), [])
        ctx = f._callbacks[0][1]
        self.assertEqual(contexts(f), [ctx])
        g = self.new()
        given = contextvars.Context()
        g.add_done_callback(str, context=given)
        self.assertEqual(contexts(g), [given])


@unittest.skipUnless(hasattr(futures, '_CFuture'), 'requires _asyncio')
class CSubFutureEdgeTests(FutureEdgeCases, test_utils.TestCase):
    if hasattr(futures, '_CFuture'):
        class cls(futures._CFuture):
            pass
        cls.__name__ = 'CSubFuture'

    def test_await_iterator_closed_by_its_future(self):
        # A subclass's done() and _asyncio_future_blocking setter run while
        # the __await__ iterator asks them; closing the iterator there
        # drops the iterator's reference to the future, the only one left.
        # The future stays alive until it is yielded, as stock's does.
        iterators = []

        class ClosingDone(self.cls):
            def done(self):
                iterators[-1].close()
                return super().done()

        class ClosingSetter(self.cls):
            @property
            def _asyncio_future_blocking(self):
                return False

            @_asyncio_future_blocking.setter
            def _asyncio_future_blocking(self, value):
                iterators[-1].close()

        for kind in (ClosingDone, ClosingSetter):
            with self.subTest(kind=kind.__name__):
                fut = kind(loop=self.loop)
                iterators.append(fut.__await__())
                del fut
                gc.collect()
                yielded = next(iterators[-1])
                self.assertIs(type(yielded), kind)
                self.assertFalse(yielded.done())
                del yielded
                gc.collect()


class PyFutureEdgeTests(FutureEdgeCases, test_utils.TestCase):
    cls = futures._PyFuture


# --- the running-loop functions ---

class RunningLoopCases:
    get_running = set_running = get_running_or_none = None

    def tearDown(self):
        self.set_running(None)
        super().tearDown()

    def test_set_and_get(self):
        loop = object()
        self.assertIsNone(self.get_running_or_none())
        if self.get_running is not None:
            with self.assertRaisesRegex(RuntimeError,
                                        '^no running event loop$'):
                self.get_running()
        self.set_running(loop)
        self.assertIs(self.get_running_or_none(), loop)
        if self.get_running is not None:
            self.assertIs(self.get_running(), loop)
        self.set_running(None)
        self.assertIsNone(self.get_running_or_none())

    def test_per_thread(self):
        main_loop, thread_loop = object(), object()
        self.set_running(main_loop)
        seen = []

        def other():
            seen.append(self.get_running_or_none())
            self.set_running(thread_loop)
            seen.append(self.get_running_or_none())
        t = threading.Thread(target=other)
        t.start()
        t.join()
        self.assertEqual(seen, [None, thread_loop])
        self.assertIs(self.get_running_or_none(), main_loop)

    def test_thread_exit_releases_loop(self):
        class Loop:
            pass
        refs = []

        def other():
            loop = Loop()
            refs.append(weakref.ref(loop))
            self.set_running(loop)
            self.assertIs(self.get_running_or_none(), loop)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        del t
        gc.collect()
        self.assertIsNone(refs[0]())

    @unittest.skipUnless(hasattr(os, 'fork'), 'requires os.fork')
    def test_not_inherited_by_fork(self):
        self.set_running(object())
        pid = os.fork()
        if pid == 0:
            # child: the parent's loop is not running here
            code = 0 if self.get_running_or_none() is None else 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0)


class PyRunningLoopTests(RunningLoopCases, unittest.TestCase):
    # (events._py_get_running_loop calls the module's _get_running_loop,
    # which is the C one when _asyncio is there)
    set_running = staticmethod(events._py__set_running_loop)
    get_running_or_none = staticmethod(events._py__get_running_loop)


@unittest.skipUnless(hasattr(events, '_c__get_running_loop'),
                     'requires _asyncio')
class CRunningLoopTests(RunningLoopCases, unittest.TestCase):
    get_running = staticmethod(getattr(events, '_c_get_running_loop', None))
    set_running = staticmethod(getattr(events, '_c__set_running_loop', None))
    get_running_or_none = staticmethod(
        getattr(events, '_c__get_running_loop', None))

    def test_get_event_loop(self):
        loop = object()
        self.set_running(loop)
        self.assertIs(events._c_get_event_loop(), loop)
        self.assertIs(events._c__get_event_loop(), loop)
        self.assertIs(events._c__get_event_loop(4), loop)
        self.assertIs(events._c__get_event_loop(stacklevel=2), loop)


# --- scripts run in a child interpreter ---

# The start of each: `cls` is the future class named by argv[1], `Loop`
# the part of the loop API a Future uses, doing nothing.
SCRIPT_PRELUDE = r'''
import asyncio, atexit, gc, sys
from asyncio import futures
cls = getattr(futures, sys.argv[1])

class Loop:
    def get_debug(self):
        return False
    def call_soon(self, *args, **kwargs):
        pass
    def call_exception_handler(self, context):
        pass
'''


# --- interpreter shutdown ---

SHUTDOWN_SCRIPT = SCRIPT_PRELUDE + r'''
def exercise():
    f = cls(loop=Loop())
    repr(f)
    f.add_done_callback(print)
    f.set_result(1)
    repr(f)
    g = cls(loop=Loop())
    g.set_exception(ValueError())     # reported by its finaliser, later
    try:
        cls()                         # no loop to be found: must just raise
    except BaseException:
        pass
    it = iter(cls(loop=Loop()))
    next(it)

class Late:
    def __del__(self):
        exercise()

# Finalisers that run while modules are being torn down.
late = Late()
cycle = Late()
cycle.self = cycle
keep = cls(loop=Loop())
keep.set_exception(RuntimeError())
keep.late = Late()
atexit.register(exercise)
exercise()
'''


class ShutdownTests(unittest.TestCase):
    def check(self, name):
        rc, out, err = script_helper.assert_python_ok('-c', SHUTDOWN_SCRIPT,
                                                      name)
        self.assertNotIn(b'Fatal Python error', err)
        self.assertNotIn(b'Segmentation', err)

    def test_py_future_at_shutdown(self):
        self.check('_PyFuture')

    @unittest.skipUnless(hasattr(futures, '_CFuture'), 'requires _asyncio')
    def test_c_future_at_shutdown(self):
        self.check('_CFuture')


# --- crash scenarios, each in a child interpreter ---

# A future with 64 callbacks: str, then id 63 times.
MANY_CALLBACKS = r'''
f = cls(loop=loop)
f.add_done_callback(str)
for _ in range(63):
    f.add_done_callback(id)
'''

CHILD_SCENARIOS = {
    'remove_eq_mutates': MANY_CALLBACKS + r'''
class evil:
    def __eq__(self, other):
        f.remove_done_callback(id)
        f.remove_done_callback(str)
        return False
for _ in range(3):
    f.remove_done_callback(evil())
''',
    'remove_eq_clears': MANY_CALLBACKS + r'''
class evil:
    def __eq__(self, other):
        f.remove_done_callback(other)
        if not f.done():
            f.set_result(None)  # (a pending future may not be made afresh)
        f.__init__(loop=loop)
f.remove_done_callback(evil())
''',
    'getattribute_frees_callback': r'''
holder = []
class L(Loop):
    def __getattribute__(self, name):
        if name == 'call_soon' and holder:
            f.remove_done_callback(holder.pop())
            f.__init__(loop=Loop())
        return object.__getattribute__(self, name)
f = cls(loop=L())
holder.append(lambda fut: None)
f.add_done_callback(holder[0])
f.add_done_callback(lambda fut: None)
f.set_result(1)
''',
    'send_after_throw_and_close': r'''
f = cls(loop=loop)
it = iter(f)
next(it)
try:
    it.throw(ValueError)
except ValueError:
    pass
for op in (lambda: it.send(None), lambda: next(it), it.close,
           lambda: it.throw(KeyError)):
    try:
        op()
    except (StopIteration, KeyError):
        pass
f.set_result(1)
it = iter(f)
it.close()
try:
    it.send(None)
except StopIteration:
    pass
''',
}

CHILD_PRELUDE = SCRIPT_PRELUDE + r'''
loop = Loop()
'''


class ChildScenarioTests(cfork_helpers.ChildScenarioCases,
                         unittest.TestCase):
    prelude = CHILD_PRELUDE
    scenarios = CHILD_SCENARIOS
    classes = ['_PyFuture'] + (['_CFuture'] if hasattr(futures, '_CFuture')
                               else [])


@unittest.skipUnless(futures._set_result_unless_cancelled
                     is not futures._py_set_result_unless_cancelled,
                     'requires the C _set_result_unless_cancelled')
class SetResultUnlessCancelledTests(unittest.TestCase):
    """futures._set_result_unless_cancelled() in C against the pure one."""

    def setUp(self):
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)

    def outcome(self, func, make_fut, *args, **kwargs):
        fut = make_fut()
        try:
            res = func(fut, *args, **kwargs)
        except Exception as exc:
            return ('raised', type(exc).__name__, describe_state(fut))
        return ('returned', res, describe_state(fut))

    def both(self, make_fut, *args, **kwargs):
        c = self.outcome(futures._set_result_unless_cancelled, make_fut,
                         *args, **kwargs)
        pure = self.outcome(futures._py_set_result_unless_cancelled,
                            make_fut, *args, **kwargs)
        self.assertEqual(c, pure)
        return c

    def test_futures(self):
        def cancelled():
            fut = self.loop.create_future()
            fut.cancel()
            return fut

        def done():
            fut = self.loop.create_future()
            fut.set_result('before')
            return fut

        def task():
            async def coro():
                pass
            task = self.loop.create_task(coro())
            self.addCleanup(self.loop.run_until_complete, task)
            return task

        self.assertEqual(self.both(self.loop.create_future, 42),
                         ('returned', None, ('result', 42)))
        self.assertEqual(self.both(self.loop.create_future, fut=None,
                                   result=7)[0], 'raised')
        self.assertEqual(self.both(cancelled, 1),
                         ('returned', None, ('cancelled',)))
        self.assertEqual(self.both(done, 1)[1], 'InvalidStateError')
        self.assertEqual(self.both(task, 1)[1], 'RuntimeError')
        self.assertEqual(self.both(lambda: futures._PyFuture(loop=self.loop),
                                   3), ('returned', None, ('result', 3)))
        uninitialized = lambda: futures._CFuture.__new__(futures._CFuture)
        self.assertEqual(self.both(uninitialized, 1)[:2],
                         ('raised', 'RuntimeError'))

    def test_keywords_and_arity(self):
        fut = self.loop.create_future()
        futures._set_result_unless_cancelled(result=5, fut=fut)
        self.assertEqual(fut.result(), 5)
        for args in ((), (1,), (1, 2, 3)):
            with self.subTest(args=args):
                with self.assertRaises(TypeError):
                    futures._set_result_unless_cancelled(*args)
        with self.assertRaises(TypeError):
            futures._set_result_unless_cancelled(1, 2, other=3)

    def test_overrides_are_called(self):
        calls = []

        class Sub(futures._CFuture):
            def cancelled(self):
                calls.append('cancelled')
                return super().cancelled()

            def set_result(self, result):
                calls.append(('set_result', result))
                super().set_result(result)

        class Duck:
            def __init__(self, cancelled):
                self._cancelled = cancelled

            def cancelled(self):
                calls.append('duck cancelled')
                return self._cancelled

            def set_result(self, result):
                calls.append(('duck set_result', result))
                return 'dropped'

        for func in (futures._set_result_unless_cancelled,
                     futures._py_set_result_unless_cancelled):
            calls.clear()
            self.assertIsNone(func(Sub(loop=self.loop), 1))
            self.assertIsNone(func(Duck(True), 2))
            self.assertIsNone(func(Duck([]), 3))
            self.assertEqual(calls, ['cancelled', ('set_result', 1),
                                     'duck cancelled', 'duck cancelled',
                                     ('duck set_result', 3)])

        class Bad:
            def cancelled(self):
                raise ZeroDivisionError

        with self.assertRaises(ZeroDivisionError):
            futures._set_result_unless_cancelled(Bad(), 1)
        with self.assertRaises(AttributeError):
            futures._set_result_unless_cancelled(object(), 1)

    def test_scheduled_by_transports_and_sleep(self):
        async def main():
            await asyncio.sleep(0.001, 'slept')
            return await asyncio.sleep(0.001, 'again')
        self.assertEqual(self.loop.run_until_complete(main()), 'again')


def describe_state(fut):
    if not isinstance(fut, (asyncio.Future, futures._PyFuture)):
        return None
    try:
        if fut.cancelled():
            return ('cancelled',)
        if fut.done():
            return ('result', fut.result())
    except Exception as exc:
        return ('error', type(exc).__name__)
    return ('pending',)


if __name__ == '__main__':
    unittest.main()
