"""The event loop's hot path: the C core (_asyncio._EventLoopCore) and the
pure-Python methods it replaces (base_events._py_hot_path).

A scenario is a function of a fresh loop returning a trace.  In
PyLoopCoreTests it runs on loops whose hot path is the pure-Python one; in
CLoopCoreTests it runs on the C-core loop and on the pure-Python one, and the
two traces must be equal.  Most cases also make absolute assertions on the
trace, so that a wrong-but-consistent implementation still fails.

The pure-Python reference for a loop class `cls` is a subclass of it with
the pure methods placed just above BaseEventLoop in its MRO (so that a
subclass's own time(), call_at() or _run_once() still wins, as they do over
the C core).

On the stock interpreter the hot path is BaseEventLoop's own methods and the
C cases are skipped; on the fork's ./python (_asyncio built in) a missing C
core or a missing _py_hot_path fails instead of skipping.
"""

import asyncio
import collections
import contextvars
import functools
import gc
import heapq
import math
import random
import re
import select
import selectors
import socket
import sys
import threading
import time
import unittest
import weakref
from asyncio import base_events, events, futures
from unittest import mock
from test.test_asyncio import utils as test_utils

from test.test_asyncio.cfork_helpers import _asyncio, OUR_BUILD


def tearDownModule():
    asyncio.set_event_loop_policy(None)
HOT_PATH_NAMES = frozenset({'call_soon', '_call_soon', 'call_soon_threadsafe',
                            'call_later', 'call_at', '_run_once', 'time',
                            'get_debug', 'create_future'})

C_CORE = getattr(base_events, '_CEventLoopCore', None)
PY_HOT_PATH = getattr(base_events, '_py_hot_path', None)
if PY_HOT_PATH is None and not OUR_BUILD:
    # the stock interpreter: BaseEventLoop's own methods are the pure ones
    PY_HOT_PATH = {name: base_events.BaseEventLoop.__dict__[name]
                   for name in HOT_PATH_NAMES}
RUN_C = C_CORE is not None or OUR_BUILD

if PY_HOT_PATH is not None:
    class PyHotPathBase(base_events.BaseEventLoop):
        locals().update(PY_HOT_PATH)
else:
    PyHotPathBase = None


def py_variant(cls):
    """cls with the pure-Python hot path just above BaseEventLoop."""
    if issubclass(PyHotPathBase, cls):
        bases = (PyHotPathBase,)
    else:
        bases = (cls, PyHotPathBase)
    return type(cls.__name__, bases, {'__module__': cls.__module__})


def c_variant(cls):
    return cls


_ADDR = re.compile(r' at 0x[0-9a-fA-F]+')


def norm(text):
    return _ADDR.sub(' at 0x?', str(text))


def outcome(func, *args, **kwargs):
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        return ('raises', type(exc), norm(exc))
    return ('returns', result)


def noop(*args):
    pass


def heap_ok(heap):
    return all(not heap[i] < heap[(i - 1) // 2] for i in range(1, len(heap)))


def self_pipe_bytes(loop):
    """Read and return what waits on a selector loop's self-pipe."""
    data = b''
    while True:
        try:
            chunk = loop._ssock.recv(4096)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


class ManualClockLoop(base_events.BaseEventLoop):
    """A loop whose clock only moves when told, with a mocked selector, as in
    test_base_events."""

    def __init__(self):
        super().__init__()
        self.now = 1000.0
        self._selector = mock.Mock()
        self._selector.select.return_value = []
        self._process_events = mock.Mock()
        self._write_to_self = mock.Mock()

    def time(self):
        return self.now

    def timeouts(self):
        return [c.args[0] for c in self._selector.select.call_args_list]


def mocked_base_loop(cls):
    loop = cls()
    loop._selector = mock.Mock()
    loop._selector.select.return_value = []
    loop._process_events = mock.Mock()
    loop._write_to_self = mock.Mock()
    return loop


class LoopCoreCases:
    variant = None      # staticmethod: loop class -> the class to test

    def setUp(self):
        super().setUp()
        if PY_HOT_PATH is None:
            self.fail('asyncio.base_events has no _py_hot_path')
        if self.variant is c_variant and C_CORE is None:
            self.fail('asyncio.base_events has no _CEventLoopCore '
                      '(the built-in _asyncio has no _EventLoopCore)')

    def test_io_while_busy(self):
        # With callbacks ready the loop polls without waiting (the C core
        # does that poll itself for an EpollSelector): file descriptors
        # that become ready are served in the same turn as by the pure
        # loop, with the same (key, events) pairs.
        def scenario(loop):
            trace = []
            a, b = socket.socketpair()
            c, d = socket.socketpair()
            self.addCleanup(a.close)
            self.addCleanup(b.close)
            self.addCleanup(c.close)
            self.addCleanup(d.close)
            for sock in (a, c):
                sock.setblocking(False)

            def on_read(sock, name):
                trace.append((step[0], name, sock.recv(100)))
            loop.add_reader(a.fileno(), on_read, a, 'a')
            loop.add_reader(c.fileno(), on_read, c, 'c')
            loop.add_writer(c.fileno(), lambda: trace.append(
                (step[0], 'c writable')) or loop.remove_writer(c.fileno()))
            step = [0]
            real = loop._process_events

            def process(events):
                trace.append((step[0], sorted(
                    (key.fd == a.fileno(), mask) for key, mask in events)))
                real(events)
            loop._process_events = process

            def tick():
                step[0] += 1
                if step[0] == 3:
                    b.send(b'x')
                if step[0] == 5:
                    b.send(b'y')
                    d.send(b'z')
                if step[0] == 7:
                    loop.remove_reader(a.fileno())
                    b.send(b'unread')
                if step[0] < 10:
                    loop.call_soon(tick)
                else:
                    loop.stop()
            loop.call_soon(tick)
            loop.run_forever()
            return trace

        trace = self.both(scenario, asyncio.SelectorEventLoop)
        # data sent during the callbacks of one turn is seen by the poll
        # that ends it and read in the next turn
        self.assertIn((3, [(True, 1)]), trace)
        self.assertIn((4, 'a', b'x'), trace)
        self.assertIn((5, [(False, 1), (True, 1)]), trace)
        self.assertIn((6, 'a', b'y'), trace)
        self.assertIn((6, 'c', b'z'), trace)
        self.assertIn((1, 'c writable'), trace)
        self.assertNotIn(b'unread', [t[-1] for t in trace])

    def test_poll_of_a_stand_in_or_closed_epoll(self):
        # Something else in place of the EpollSelector's epoll object is
        # asked through selector.select(); a closed one raises as poll().
        def scenario(loop):
            trace = []
            selector = loop._selector
            if not isinstance(selector, selectors.EpollSelector):
                return 'no epoll'
            real = selector._selector
            stand_in = mock.Mock(wraps=real)
            stand_in.poll.return_value = []
            selector._selector = stand_in
            loop.call_soon(loop.call_soon, loop.stop)
            loop.run_forever()
            trace.append([c.args for c in stand_in.poll.call_args_list][:1])
            selector._selector = real
            closed = select.epoll()
            closed.close()
            selector._selector = closed
            loop.call_soon(loop.stop)
            trace.append(outcome(loop._run_once))
            selector._selector = real
            loop._ready.clear()
            loop._stopping = False
            return trace

        trace = self.both(scenario, asyncio.SelectorEventLoop)
        if trace != 'no epoll':
            # select(0) with room for the one registered fd (self-pipe)
            self.assertEqual(trace[0], [(0, 1)])
            self.assertEqual(trace[1][0], 'raises')

    def test_selector_replaced_between_turns(self):
        # The core keeps loop._selector and the EpollSelector's _selector
        # and _fd_to_key from one turn to the next; replacing any of them
        # must take effect on the next turn, as in pure Python.
        def turn(loop):
            loop.call_soon(loop.stop)
            loop.run_forever()

        def scenario(loop):
            trace = []
            real = loop._selector
            turn(loop)
            turn(loop)
            stand_in = mock.Mock(wraps=real)
            loop._selector = stand_in
            turn(loop)
            turn(loop)
            trace.append(stand_in.select.call_args_list)
            loop._selector = real
            turn(loop)
            trace.append(stand_in.select.call_count)
            if isinstance(real, selectors.EpollSelector):
                inner = real._selector
                real._selector = mock.Mock(wraps=inner)
                turn(loop)
                trace.append(real._selector.poll.call_count)
                real._selector = inner
                keys = real._fd_to_key
                real._fd_to_key = {}
                turn(loop)
                trace.append(len(keys) > 0)
                real._fd_to_key = keys
            turn(loop)
            return trace
        trace = self.both(scenario, asyncio.SelectorEventLoop)
        self.assertEqual(trace[:2], [[mock.call(0)] * 2, 2])

        reads = []

        class PropertyLoop(asyncio.SelectorEventLoop):
            @property
            def _selector(self):
                reads.append(1)
                return self.__dict__['_real_selector']

            @_selector.setter
            def _selector(self, value):
                self.__dict__['_real_selector'] = value

        def counting(loop):
            del reads[:]
            for i in range(3):
                turn(loop)
            return len(reads)
        self.assertGreaterEqual(self.both(counting, PropertyLoop), 3)

    def test_futures_and_tasks_schedule_through_call_soon(self):
        # C futures and tasks schedule their callbacks and steps with
        # loop.call_soon(); the core's own one is called directly, an
        # override in the class or on the instance must still be called.
        def scenario(loop):
            trace = []
            ctx = contextvars.copy_context()
            fut = loop.create_future()

            def done(f):
                trace.append(('done', f is fut))
            fut.add_done_callback(done, context=ctx)
            fut.set_result(1)
            handle = loop._ready[-1]
            trace.append((len(loop._ready), handle._callback is done,
                          handle._args == (fut,), handle._context is ctx))

            async def coro():
                trace.append('step')
            task = loop.create_task(coro())
            loop.run_until_complete(task)
            return trace

        def recording(cls, where):
            calls = []

            class Recording(cls):
                if where == 'class':
                    def call_soon(self, callback, *args, context=None):
                        calls.append(type(callback).__name__)
                        return super().call_soon(callback, *args,
                                                 context=context)

            def scenario_with(loop):
                if where == 'instance':
                    real = loop.call_soon

                    def call_soon(callback, *args, context=None):
                        calls.append(type(callback).__name__)
                        return real(callback, *args, context=context)
                    loop.call_soon = call_soon
                return scenario(loop), calls
            return Recording, scenario_with

        base_trace = self.both(scenario, asyncio.SelectorEventLoop)
        self.assertEqual(base_trace, [(1, True, True, True), ('done', True),
                                      'step'])
        for where in ('class', 'instance'):
            with self.subTest(where=where):
                cls, scenario_with = recording(asyncio.SelectorEventLoop,
                                               where)
                trace, calls = self.both(scenario_with, cls)
                self.assertEqual(trace, base_trace)
                # the future's callback, then at least the task's first step
                self.assertEqual(calls[0], 'function')
                self.assertGreaterEqual(len(calls), 2)

    @property
    def is_pure(self):
        return self.variant is py_variant

    def make(self, variant, kind, *args):
        if kind is base_events.BaseEventLoop:
            loop = mocked_base_loop(variant(kind))
        else:
            loop = variant(kind)(*args)
        return loop

    def new_loop(self, kind=asyncio.SelectorEventLoop, *args):
        loop = self.make(self.variant, kind, *args)
        self.addCleanup(loop.close)
        return loop

    def both(self, scenario, kind=ManualClockLoop, *args, debug=False):
        """scenario(loop) on a loop of `kind` with the hot path under test
        and, for the C core, on the pure-Python one: equal traces."""
        variants = [self.variant]
        if not self.is_pure:
            variants.append(py_variant)
        results = []
        for variant in variants:
            loop = self.make(variant, kind, *args)
            try:
                loop.set_debug(debug)
                results.append(scenario(loop))
            finally:
                if loop.is_running():
                    loop.stop()
                loop.close()
                asyncio.set_event_loop(None)
            del loop
        if len(results) == 2:
            self.assertEqual(results[0], results[1],
                             'C core (first) != pure hot path (second)')
        return results[0]

    @staticmethod
    def record_errors(loop, trace):
        def handler(loop, context):
            exc = context.get('exception')
            trace.append(('error', norm(context.get('message')), type(exc),
                          norm(exc), sorted(context)))
        loop.set_exception_handler(handler)

    # --- call_soon ---

    def test_call_soon_basics(self):
        def scenario(loop):
            trace = []
            h1 = loop.call_soon(trace.append, 1)
            h2 = loop.call_soon(lambda *a: trace.append(a), 2, 3)
            h3 = loop.call_soon(trace.append, 'cancelled')
            h4 = loop.call_soon(loop.stop)
            out = [[type(h) for h in (h1, h2, h3, h4)], h2._args,
                   type(h2._args), list(loop._ready) == [h1, h2, h3, h4],
                   h1._loop is loop, h1._callback == trace.append,
                   h1._source_traceback, loop._scheduled]
            h3.cancel()
            loop.run_forever()
            return out, trace, len(loop._ready), h1.cancelled()
        out, trace, ready, cancelled = self.both(scenario,
                                                 asyncio.SelectorEventLoop)
        self.assertEqual(out, [[events.Handle] * 4, (2, 3), tuple, True,
                               True, True, None, []])
        self.assertEqual(trace, [1, (2, 3)])
        self.assertEqual((ready, cancelled), (0, False))

    def test_context_kwarg(self):
        var = contextvars.ContextVar('var', default='default')

        def scenario(loop):
            trace = []
            ctx = contextvars.Context()
            ctx.run(var.set, 'in ctx')

            def cb(tag):
                trace.append((tag, var.get()))
                var.set('changed by ' + tag)

            token = var.set('at schedule time')
            try:
                hs = [loop.call_soon(cb, 'soon ctx', context=ctx),
                      loop.call_soon(cb, 'soon default'),
                      loop.call_soon(cb, 'soon None', context=None),
                      loop.call_later(0, cb, 'later ctx', context=ctx),
                      loop.call_at(loop.time() - 1, cb, 'at ctx', context=ctx),
                      loop.call_later(-1, cb, 'later default')]
            finally:
                var.reset(token)
            out = [h._context is ctx for h in hs]
            loop._run_once()
            loop._run_once()
            return out, trace, var.get(), ctx[var]
        out, trace, after, in_ctx = self.both(scenario)
        self.assertEqual(out, [True, False, False, True, True, False])
        self.assertEqual(trace, [
            ('soon ctx', 'in ctx'), ('soon default', 'at schedule time'),
            ('soon None', 'at schedule time'),
            ('at ctx', 'changed by soon ctx'),
            ('later default', 'at schedule time'),
            ('later ctx', 'changed by at ctx')])
        self.assertEqual((after, in_ctx), ('default', 'changed by later ctx'))

    def test_args_of_handles(self):
        # The core keeps a single argument outside a tuple until _args is
        # read; what Python sees must not tell.
        def scenario(loop):
            trace = []

            def cb(*args):
                trace.append(args)
            hs = [loop.call_soon(cb), loop.call_soon(cb, 1),
                  loop.call_soon(cb, 1, 2), loop.call_later(-1, cb, 'x'),
                  loop.call_at(0, cb, ('t',))]
            out = [(h._args, type(h._args)) for h in hs]
            out.append(all(h._args is h._args for h in hs))
            one = loop.call_soon(cb, 'replaced')
            one._args = ['a', 'b']
            gone = loop.call_soon(cb, 'cancelled')
            gone.cancel()
            out.append((one._args, gone._args, gone._callback))
            unread = loop.call_soon(cb, 'run before _args is read')
            later = loop.time() + 100
            eq = [loop.call_at(later, cb, 1) == loop.call_at(later, cb, 1),
                  loop.call_at(later, cb, 1) == loop.call_at(later, cb, 2),
                  loop.call_at(later, cb, 1)
                  == loop.call_at(later, cb, 1, 2),
                  loop.call_at(later, cb, (1,))
                  == loop.call_at(later, cb, 1)]
            loop._run_once()
            return out, eq, trace, unread._args
        out, eq, trace, unread = self.both(scenario)
        self.assertEqual(out, [((), tuple), ((1,), tuple),
                               ((1, 2), tuple), (('x',), tuple),
                               (((('t',),)), tuple), True,
                               (['a', 'b'], None, None)])
        self.assertEqual(eq, [True, False, False, False])
        self.assertEqual(trace, [(), (1,), (1, 2), ('a', 'b'),
                                 ('run before _args is read',),
                                 (('t',),), ('x',)])
        self.assertEqual(unread, ('run before _args is read',))

    def test_default_context_is_the_one_at_schedule_time(self):
        # The core makes the copy of the current context when the callback
        # runs or the context is asked for, from the variables the current
        # context had when the handle was made; a copy made at once must
        # not be told from it.
        var = contextvars.ContextVar('var', default='default')

        def scenario(loop):
            trace = []

            def cb(tag):
                trace.append((tag, var.get()))
                var.set('set by ' + tag)
            token = var.set('at schedule time')
            plain = loop.call_soon(cb, 'plain')
            read = loop.call_soon(cb, 'read')
            replaced = loop.call_soon(cb, 'replaced')
            timer = loop.call_later(-1, cb, 'timer')
            entered = contextvars.Context()
            inner = entered.run(
                lambda: (var.set('inside'), loop.call_soon(cb, 'inner'))[1])
            var.set('changed after scheduling')
            ctx = read.get_context()
            out = [ctx is read._context, ctx is read.get_context(),
                   ctx.get(var), isinstance(ctx, contextvars.Context)]
            ctx.run(var.set, 'set in the handle context')
            other = contextvars.Context()
            replaced._context = other
            out.append(replaced.get_context() is other)
            from_thread = []
            thread = threading.Thread(target=lambda: from_thread.append(
                loop.call_soon_threadsafe(cb, 'thread')))
            thread.start()
            thread.join()
            loop._run_once()
            var.reset(token)
            out += [plain.get_context().get(var), read._context is ctx,
                    ctx.get(var), other.get(var), var.get(),
                    entered.get(var), timer.get_context().get(var),
                    inner.get_context().get(var),
                    from_thread[0].get_context().get(var),
                    plain.get_context() is not timer.get_context()]
            return out, sorted(trace)
        out, trace = self.both(scenario)
        self.assertEqual(out, [
            True, True, 'at schedule time', True, True,
            'set by plain', True, 'set by read', 'set by replaced',
            'default', 'inside', 'set by timer', 'set by inner',
            'set by thread', True])
        self.assertEqual(trace, [
            ('inner', 'inside'), ('plain', 'at schedule time'),
            ('read', 'set in the handle context'), ('replaced', 'default'),
            ('thread', 'default'), ('timer', 'at schedule time')])

    def test_cancelled_handles_skipped(self):
        def scenario(loop):
            trace = []
            self.record_errors(loop, trace)
            hs = [loop.call_soon(trace.append, i) for i in range(6)]
            ts = [loop.call_later(-i, trace.append, 't%d' % i)
                  for i in range(4)]
            hs[1].cancel()
            hs[4].cancel()
            hs[5]._cancelled = True     # callback kept: still skipped
            ts[0].cancel()
            ts[3]._cancelled = True
            loop._run_once()
            return trace, len(loop._ready), len(loop._scheduled), \
                loop._timer_cancelled_count, [t._scheduled for t in ts]
        # _timer_cancelled_count is only a hint: ts[3], marked cancelled
        # directly, is dropped as the head and decrements it; ts[0], counted
        # by cancel(), is moved to _ready and never uncounted: 1 - 1 = 0.
        self.assertEqual(self.both(scenario),
                         ([0, 2, 3, 't2', 't1'], 0, 0, 0,
                          [False, False, False, False]))

    # --- call_soon_threadsafe ---

    def test_call_soon_threadsafe(self):
        def scenario(loop):
            trace = []
            main = threading.current_thread()

            def cb(*args):
                trace.append((args, threading.current_thread() is main))
            handles = []
            for i in range(3):
                thread = threading.Thread(target=lambda i=i: handles.append(
                    loop.call_soon_threadsafe(cb, i)))
                thread.start()
                thread.join()
            ctx = contextvars.Context()
            handles.append(loop.call_soon_threadsafe(cb, 'a', 'b',
                                                     context=ctx))
            handles.append(loop.call_soon_threadsafe(loop.stop))
            out = [[type(h) for h in handles], [h._args for h in handles],
                   handles[3]._context is ctx, list(loop._ready) == handles]
            loop.run_forever()
            loop.close()
            out.append(outcome(loop.call_soon_threadsafe, cb))
            return out, trace
        out, trace = self.both(scenario, asyncio.SelectorEventLoop)
        self.assertEqual(out, [
            [events.Handle] * 5, [(0,), (1,), (2,), ('a', 'b'), ()],
            True, True,
            ('raises', RuntimeError, 'Event loop is closed')])
        self.assertEqual(trace, [((0,), True), ((1,), True), ((2,), True),
                                 (('a', 'b'), True)])

    def test_call_soon_threadsafe_bad_calls(self):
        def scenario(loop):
            # the pure method takes its callback by keyword too
            return [outcome(loop.call_soon_threadsafe)[:2],
                    outcome(loop.call_soon_threadsafe, noop, contxt=None)[:2],
                    outcome(loop.call_soon_threadsafe, noop, context=None,
                            callback=noop)[:2],
                    len(loop._ready),
                    type(loop.call_soon_threadsafe(callback=noop)),
                    type(loop.call_soon_threadsafe(noop, context=None))]
        self.assertEqual(self.both(scenario, asyncio.SelectorEventLoop),
                         [('raises', TypeError)] * 3 + [0] + [events.Handle] * 2)

    def test_call_soon_threadsafe_writes_to_self_pipe(self):
        # The pure method writes a byte per call; the C core writes one
        # per poll of the loop, which is enough to wake it.
        loop = self.new_loop(asyncio.SelectorEventLoop)
        self_pipe_bytes(loop)
        for i in range(5):
            loop.call_soon_threadsafe(noop)
        first = self_pipe_bytes(loop)
        loop._run_once()
        loop.call_soon_threadsafe(noop)
        loop.call_soon_threadsafe(noop)
        second = self_pipe_bytes(loop)
        if self.is_pure:
            self.assertEqual((first, second), (b'\0' * 5, b'\0' * 2))
        else:
            self.assertEqual((first, second), (b'\0', b'\0'))

    def test_call_soon_threadsafe_wakes_a_waiting_loop(self):
        # Threads hand callbacks to a loop that blocks in its poll between
        # bursts; every burst must wake it.  The guard timer only fires if
        # a wake-up was lost.
        loop = self.new_loop(asyncio.SelectorEventLoop)
        results, stopped_by = [], []
        nthreads, per_thread = 4, 300

        def producer(n):
            for i in range(per_thread):
                loop.call_soon_threadsafe(results.append, (n, i))
                if i % 100 == 0:
                    time.sleep(0.01)

        def check_done():
            if len(results) == nthreads * per_thread:
                stopped_by.append('producers')
                loop.stop()
            else:
                loop.call_later(0.005, check_done)
        threads = [threading.Thread(target=producer, args=(n,))
                   for n in range(nthreads)]
        for thread in threads:
            loop.call_soon(thread.start)
        loop.call_soon(check_done)
        guard = loop.call_later(60, lambda: (stopped_by.append('guard'),
                                             loop.stop()))
        loop.run_forever()
        for thread in threads:
            thread.join()
        guard.cancel()
        self.assertEqual(stopped_by, ['producers'])
        for n in range(nthreads):
            self.assertEqual([i for m, i in results if m == n],
                             list(range(per_thread)))

    def test_call_soon_threadsafe_wakes_a_blocked_poll(self):
        # nothing scheduled: the loop waits in its poll with no timeout
        loop = self.new_loop(asyncio.SelectorEventLoop)
        seen = []

        def later():
            time.sleep(0.05)
            loop.call_soon_threadsafe(seen.append, 'woken')
            loop.call_soon_threadsafe(loop.stop)
        thread = threading.Thread(target=later)
        loop.call_soon(thread.start)
        guard = loop.call_later(60, lambda: (seen.append('guard'),
                                             loop.stop()))
        loop.run_forever()
        thread.join()
        guard.cancel()
        self.assertEqual(seen, ['woken'])

    def test_write_to_self_overrides(self):
        # _write_to_self on the instance or in a subclass, a _run_once of
        # a subclass (which would never reset the core's flag), a stand-in
        # socket: every call goes through the method, as in pure Python.
        class OwnRunOnce(asyncio.SelectorEventLoop):
            def _run_once(self):
                super()._run_once()

        def instance(loop):
            loop._write_to_self = mock.Mock()
            for i in range(3):
                loop.call_soon_threadsafe(noop)
            loop._run_once()
            loop.call_soon_threadsafe(noop)
            return loop._write_to_self.call_count

        def run_once_overridden(loop):
            self_pipe_bytes(loop)
            for i in range(3):
                loop.call_soon_threadsafe(noop)
            return self_pipe_bytes(loop)

        def stand_in_socket(loop):
            real = loop._csock
            loop._csock = mock.Mock()
            try:
                for i in range(3):
                    loop.call_soon_threadsafe(noop)
                return loop._csock.send.call_args_list
            finally:
                loop._csock = real

        def no_socket(loop):
            real = loop._csock
            loop._csock = None
            try:
                return type(loop.call_soon_threadsafe(noop))
            finally:
                loop._csock = real
        self.assertEqual(self.both(instance, asyncio.SelectorEventLoop), 4)
        self.assertEqual(self.both(run_once_overridden, OwnRunOnce),
                         b'\0' * 3)
        self.assertEqual(self.both(stand_in_socket, asyncio.SelectorEventLoop),
                         [mock.call(b'\0')] * 3)
        self.assertEqual(self.both(no_socket, asyncio.SelectorEventLoop),
                         events.Handle)

    def test_write_to_self_on_a_closed_socket(self):
        # the failed write is swallowed, and logged in debug mode
        def scenario(loop):
            real = loop._csock
            loop._csock = socket.socket()
            loop._csock.close()
            try:
                with self.assertLogs('asyncio', 'DEBUG') as logs:
                    loop.call_soon_threadsafe(noop)
                    base_events.logger.debug('end')
                return [(r.levelname, r.getMessage(), r.exc_info[0])
                        if r.exc_info else r.getMessage()
                        for r in logs.records]
            finally:
                loop._csock = real
        self.assertEqual(
            self.both(scenario, asyncio.SelectorEventLoop, debug=True),
            [('DEBUG', 'Fail to write a null byte into the self-pipe socket',
              OSError), 'end'])

    # --- timers ---

    def test_timer_order_and_select_timeouts(self):
        def scenario(loop):
            trace = []
            ap = trace.append
            hs = [loop.call_later(3, ap, 'c'), loop.call_at(1001, ap, 'a1'),
                  loop.call_later(1, ap, 'a2'), loop.call_at(1001, ap, 'a3'),
                  loop.call_later(-5, ap, 'neg'), loop.call_later(0, ap, 'zero'),
                  loop.call_at(999.5, ap, 'past'), loop.call_later(2, ap, 'b'),
                  loop.call_later(10 ** 7, ap, 'far')]
            tags = {id(h): h._args[0] for h in hs}
            hs[7].cancel()
            out = [[type(h) for h in hs], [h._when for h in hs],
                   [h._scheduled for h in hs], heap_ok(loop._scheduled),
                   [tags[id(h)] for h in loop._scheduled],
                   loop._timer_cancelled_count]
            for now in (1000, 1000.5, 1001, 1002, 1003):
                loop.now = now
                loop._run_once()
                trace.append(('now', now))
            out.append([h._scheduled for h in hs])
            return out, trace, loop.timeouts()
        out, trace, timeouts = self.both(scenario)
        self.assertEqual(out[0], [events.TimerHandle] * 9)
        self.assertEqual(out[1], [1003, 1001, 1001, 1001, 995, 1000, 999.5,
                                  1002, 1000 + 10 ** 7])
        self.assertEqual(out[2], [True] * 9)
        self.assertTrue(out[3])
        self.assertEqual(out[5], 1)
        # equal times: heapq's order (upstream documents it as undefined)
        self.assertEqual(trace, ['neg', 'past', 'zero', ('now', 1000),
                                 ('now', 1000.5),
                                 'a2', 'a1', 'a3', ('now', 1001),
                                 ('now', 1002), 'c', ('now', 1003)])
        self.assertEqual(out[6], [False] * 8 + [True])
        self.assertEqual(timeouts, [0, 0.5, 0, 1, 0])

    def test_nan_times(self):
        # A timer at NaN is due at once (the pure loop breaks on `when >=
        # end`, which a NaN never is), and so is every timer when time()
        # is NaN; the timers behind it still run.
        def scenario(loop):
            trace = []
            loop.call_at(math.nan, trace.append, 'nan')
            loop.call_at(999, trace.append, 'past')
            loop.call_at(1005, trace.append, 'later')
            loop._run_once()
            trace.append('turn')
            loop.now = math.nan
            loop._run_once()
            return trace, len(loop._scheduled), loop.timeouts()
        trace, left, timeouts = self.both(scenario)
        self.assertEqual(trace, ['nan', 'past', 'turn', 'later'])
        self.assertEqual(left, 0)

    def test_select_timeout_capped(self):
        def scenario(loop):
            loop.call_later(10 ** 7, noop)
            loop._run_once()
            loop._stopping = True
            loop._run_once()
            loop._stopping = False
            loop._scheduled[0].cancel()
            loop._run_once()
            return loop.timeouts(), len(loop._scheduled)
        self.assertEqual(self.both(scenario),
                         ([base_events.MAXIMUM_SELECT_TIMEOUT, 0, None], 0))

    def test_clock_resolution(self):
        def scenario(loop):
            trace = []
            loop._clock_resolution = 1.0
            loop.call_later(0.5, trace.append, 'within resolution')
            loop.call_later(1.0, trace.append, 'at resolution')
            loop._run_once()
            trace.append(len(loop._scheduled))
            return trace
        self.assertEqual(self.both(scenario), ['within resolution', 1])

    def test_equal_times_order(self):
        def scenario(loop):
            trace = []
            for i in range(40):
                loop.call_at(1000 + (i % 3), trace.append, i)
            layout = [h._args[0] for h in loop._scheduled]
            loop.now = 1010
            loop._run_once()
            return layout, trace
        layout, trace = self.both(scenario)
        self.assertEqual(sorted(trace[:14]), list(range(0, 40, 3)))

    def test_none_and_bad_times(self):
        def scenario(loop):
            out = [outcome(loop.call_at, None, noop),
                   outcome(loop.call_later, None, noop),
                   outcome(loop.call_later, '1', noop)[:2],
                   len(loop._scheduled)]
            loop.close()
            out += [outcome(loop.call_at, None, noop),
                    outcome(loop.call_later, None, noop),
                    outcome(loop.call_soon, noop),
                    outcome(loop.call_later, 1, noop),
                    outcome(loop.call_at, 1, noop),
                    outcome(loop.call_soon_threadsafe, noop)]
            return out
        out = self.both(scenario)
        none_at = ('raises', TypeError, 'when cannot be None')
        none_later = ('raises', TypeError, 'delay must not be None')
        closed = ('raises', RuntimeError, 'Event loop is closed')
        self.assertEqual(out, [none_at, none_later, ('raises', TypeError), 0,
                               none_at, none_later, closed, closed, closed,
                               closed])

    def test_bad_calls(self):
        def scenario(loop):
            out = [outcome(loop.call_soon)[:2],
                   outcome(loop.call_soon, noop, bogus=1)[:2],
                   outcome(loop.call_later, 1)[:2],
                   outcome(loop.call_at)[:2],
                   outcome(loop._call_soon, noop)[:2],
                   outcome(loop.call_soon, noop, context=None,
                           callback=noop)[:2],
                   len(loop._ready), len(loop._scheduled)]
            # the pure methods take their parameters by keyword too
            h = loop.call_soon(callback=noop)
            t = loop.call_later(delay=1, callback=noop)
            u = loop.call_at(when=5, callback=noop, context=None)
            out.append((type(h), type(t), t._when, u._when))
            h = loop._call_soon(noop, [1], None)
            out.append((h._args, list(loop._ready)[-1] is h))
            return out
        self.assertEqual(self.both(scenario), [
            ('raises', TypeError), ('raises', TypeError),
            ('raises', TypeError), ('raises', TypeError),
            ('raises', TypeError), ('raises', TypeError), 0, 0,
            (events.Handle, events.TimerHandle, 1001.0, 5), ([1], True)])

    # --- debug-mode checks ---

    def test_check_callback_debug(self):
        async def coro_func():
            pass

        def scenario(loop):
            coro = coro_func()
            out = [outcome(loop.call_soon, 1),
                   outcome(loop.call_later, 1, 'x'),
                   outcome(loop.call_at, 1, None),
                   outcome(loop.call_soon, coro_func),
                   outcome(loop.call_soon, coro),
                   outcome(loop.call_later, 1, coro_func),
                   outcome(loop.call_soon_threadsafe, 1),
                   len(loop._ready), len(loop._scheduled)]
            coro.close()
            return out
        out = self.both(scenario, debug=True)
        self.assertEqual(out, [
            ('raises', TypeError,
             'a callable object was expected by call_soon(), got 1'),
            ('raises', TypeError,
             "a callable object was expected by call_at(), got 'x'"),
            ('raises', TypeError,
             'a callable object was expected by call_at(), got None'),
            ('raises', TypeError, 'coroutines cannot be used with call_soon()'),
            ('raises', TypeError, 'coroutines cannot be used with call_soon()'),
            ('raises', TypeError, 'coroutines cannot be used with call_at()'),
            ('raises', TypeError,
             'a callable object was expected by call_soon_threadsafe(), '
             'got 1'),
            0, 0])

    def test_non_callable_accepted_without_debug(self):
        def scenario(loop):
            trace = []
            self.record_errors(loop, trace)
            h = loop.call_soon(1)
            t = loop.call_later(-1, 'x', 2)
            trace.append((type(h), h._callback, type(t)))
            loop._run_once()
            return trace
        self.assertEqual(self.both(scenario), [
            (events.Handle, 1, events.TimerHandle),
            ('error', 'Exception in callback 1()', TypeError,
             "'int' object is not callable",
             ['exception', 'handle', 'message']),
            ('error', "Exception in callback 'x'(2)", TypeError,
             "'str' object is not callable",
             ['exception', 'handle', 'message'])])

    def test_check_thread(self):
        def scenario(loop):
            results = []

            def in_thread():
                for name, call in (('soon', lambda: loop.call_soon(noop)),
                                   ('later', lambda: loop.call_later(60, noop)),
                                   ('at', lambda: loop.call_at(1e9, noop))):
                    res = outcome(call)
                    results.append((name, res[0],
                                    res[2] if res[0] == 'raises' else None))

            def cb():
                for debug in (True, False):
                    loop.set_debug(debug)
                    th = threading.Thread(target=in_thread)
                    th.start()
                    th.join()
                loop.set_debug(False)
                loop.stop()

            loop.call_soon(cb)
            loop.run_forever()
            # not running: no thread check even in debug mode
            loop.set_debug(True)
            th = threading.Thread(target=in_thread)
            th.start()
            th.join()
            loop.set_debug(False)
            return results
        msg = ('Non-thread-safe operation invoked on an event loop other '
               'than the current one')
        out = self.both(scenario, asyncio.SelectorEventLoop)
        self.assertEqual(out, [('soon', 'raises', msg),
                               ('later', 'raises', msg),
                               ('at', 'raises', msg)] +
                         [(name, 'returns', None)
                          for name in ('soon', 'later', 'at')] * 2)

    # --- debug mode: slow callbacks, current handle, tracebacks ---

    def test_slow_callback_warning(self):
        def scenario(loop):
            def slow(n):
                loop.now += n

            async def slow_coro():
                loop.now += 2

            out = []
            with mock.patch('asyncio.base_events.logger') as m_logger:
                loop.slow_callback_duration = 0.5
                loop.call_soon(slow, 1)
                loop.call_soon(slow, 0.25)
                loop._run_once()
                task = loop.create_task(slow_coro())
                loop._run_once()
                loop._run_once()
                loop.slow_callback_duration = 0
                loop.call_soon(noop)
                loop._run_once()
                for c in m_logger.method_calls:
                    name, args, kwargs = c
                    out.append((name, re.sub(r'Task-\d+', 'Task-N',
                                             norm(args[0] % args[1:]))))
                loop.set_debug(False)
                loop.call_soon(slow, 5)
                loop._run_once()
                out.append(len(m_logger.method_calls))
            out.append(task.done())
            return out
        out = self.both(scenario, debug=True)
        src = f'{__file__}:'
        self.assertEqual(len(out), 5, out)
        self.assertRegex(out[0][1], r'^Executing <Handle .*scenario\.<locals>'
                         r'\.slow\(1\) at .*:\d+ created at .*:\d+> took '
                         r'1\.000 seconds$')
        self.assertEqual(out[0][0], 'warning')
        self.assertRegex(out[1][1], r'^Executing <Task .*slow_coro.*> took '
                         r'2\.000 seconds$')
        self.assertRegex(out[2][1], r'^Executing <Handle noop\(\) at .* '
                         r'took 0\.000 seconds$')
        self.assertEqual(out[3:], [3, True])
        self.assertIn(src, out[0][1])

    def test_slow_callback_real_clock(self):
        @mock.patch('asyncio.base_events.logger')
        def scenario(loop, m_logger):
            loop.slow_callback_duration = 0.0
            loop.call_soon(loop.stop)
            loop.run_forever()
            fmt, *args = m_logger.warning.call_args[0]
            return norm(re.sub(r'took \S+ seconds', 'took T seconds',
                               fmt % tuple(args)))
        out = self.both(scenario, asyncio.SelectorEventLoop, debug=True)
        self.assertRegex(out, r'^Executing <Handle .*stop.* created at .*> '
                         r'took T seconds$')

    def test_current_handle(self):
        def scenario(loop):
            trace = []
            box = []

            def cb(tag):
                trace.append((tag, loop._current_handle is box[0]
                              if loop._current_handle is not None else None))

            def raiser():
                trace.append(('raiser', loop._current_handle is box[1]))
                raise ValueError

            self.record_errors(loop, trace)
            box.append(loop.call_soon(cb, 'debug'))
            box.append(loop.call_soon(raiser))
            loop._run_once()
            trace.append(loop._current_handle)
            loop.set_debug(False)
            box[0] = loop.call_soon(cb, 'nodebug')
            loop._run_once()
            loop.set_debug(True)
            loop.call_soon(functools.partial(sys.exit, 2))
            trace.append(outcome(loop._run_once)[:2])
            trace.append(loop._current_handle)
            return trace
        out = self.both(scenario, debug=True)
        self.assertEqual(out[:2], [('debug', True), ('raiser', True)])
        self.assertEqual(out[3:], [None, ('nodebug', None),
                                   ('raises', SystemExit), None])

    def test_source_traceback(self):
        def scenario(loop):
            hs = [loop.call_soon(noop),
                  loop.call_later(1, noop),
                  loop.call_at(2, noop),
                  loop.call_soon_threadsafe(noop),
                  loop._call_soon(noop, (), None)]
            line = sys._getframe().f_lineno - 5
            out = [line]
            for h in hs:
                tb = h._source_traceback
                out.append((type(tb).__name__, len(tb),
                            [(f.filename, f.lineno, f.name) for f in tb]))
            return out
        out = self.both(scenario, debug=True)
        line = out[0]
        for i, entry in enumerate(out[1:5]):
            self.assertEqual(entry[2][-1], (__file__, line + i, 'scenario'))
        self.assertEqual(out[5][2][-1], (__file__, line + 4, 'scenario'))
        # the removed frames are counted within DEBUG_STACK_DEPTH
        depth = asyncio.constants.DEBUG_STACK_DEPTH
        self.assertEqual([e[1] for e in out[1:]],
                         [depth - 2, depth - 3, depth - 2, depth - 2,
                          depth - 1])

    def test_no_source_traceback_without_debug(self):
        def scenario(loop):
            return [h._source_traceback for h in
                    (loop.call_soon(noop), loop.call_later(1, noop))]
        self.assertEqual(self.both(scenario), [None, None])

    def test_debug_attribute(self):
        def scenario(loop):
            out = [loop.get_debug()]
            loop._debug = 1
            out.append(loop.get_debug())
            h = loop.call_soon(noop)
            out.append(h._source_traceback is not None)
            loop.set_debug(False)
            out.append((loop.get_debug(), loop._debug))
            return out
        self.assertEqual(self.both(scenario), [False, 1, True, (False, False)])

    # --- create_future ---

    def test_create_future(self):
        def scenario(loop):
            fut = loop.create_future()
            out = [type(fut) is futures.Future, fut.get_loop() is loop,
                   fut.done(), fut._source_traceback]
            loop.close()    # a closed loop still makes futures
            out.append(loop.create_future().get_loop() is loop)
            try:
                loop.create_future(1)
            except TypeError:
                out.append('TypeError')
            return out
        self.assertEqual(self.both(scenario),
                         [True, True, False, None, True, 'TypeError'])

    def test_create_future_reads_futures_future(self):
        # the class is looked up in asyncio.futures on every call
        class MyFuture(futures.Future):
            pass
        made = []

        def factory(*args, **kwargs):
            made.append((args, sorted(kwargs)))
            return 'made'

        def scenario(loop):
            out = []
            with mock.patch.object(futures, 'Future', MyFuture):
                fut = loop.create_future()
                out.append((type(fut) is MyFuture, fut.get_loop() is loop))
            with mock.patch.object(futures, 'Future', factory):
                out.append(loop.create_future())
            out.append(type(loop.create_future()) is futures.Future)
            return out
        self.assertEqual(self.both(scenario),
                         [(True, True), 'made', True])
        self.assertEqual(made, [((), ['loop'])] * (1 if self.is_pure else 2))

    def test_create_future_source_traceback(self):
        # in debug mode the future's traceback shows create_future's frame,
        # as the pure method's does
        def scenario(loop):
            fut = loop.create_future()
            line = sys._getframe().f_lineno - 1
            tb = [(f.filename, f.lineno, f.name)
                  for f in fut._source_traceback]
            return line, tb[-2], tb[-1][2], len(tb)
        line, caller, last, _ = self.both(scenario, debug=True)
        self.assertEqual(caller, (__file__, line, 'scenario'))
        self.assertEqual(last, 'create_future')

    def test_create_future_overridden_get_debug(self):
        # an overridden get_debug() is called once per future, as
        # Future.__init__ calls it
        class DebugByMethod(ManualClockLoop):
            calls = 0

            def get_debug(self):
                self.calls += 1
                return True

        def scenario(loop):
            fut = loop.create_future()
            return loop.calls, fut._source_traceback[-1].name
        self.assertEqual(self.both(scenario, DebugByMethod),
                         (1, 'create_future'))

    def test_create_future_overridden(self):
        class OwnFutures(ManualClockLoop):
            def create_future(self):
                return ('own', self)

        def scenario(loop):
            fut = loop.create_future()
            return fut[0], fut[1] is loop
        self.assertEqual(self.both(scenario, OwnFutures), ('own', True))

    # --- cancelled timers ---

    def test_cancelled_timer_cleanup(self):
        def scenario(loop):
            out = []
            loop.call_later(3000, noop)
            far = [loop.call_later(3600, noop) for _ in range(2)]
            near = [loop.call_later(100, noop) for _ in range(2)]
            for h in far + near:
                h.cancel()
            out.append((loop._timer_cancelled_count, len(loop._scheduled)))
            loop._run_once()
            out.append((loop._timer_cancelled_count, len(loop._scheduled),
                        [h._scheduled for h in far + near]))
            more = [loop.call_later(3600, noop) for _ in range(48)]
            more_cancelled = [loop.call_later(3600, noop) for _ in range(51)]
            for h in more_cancelled:
                h.cancel()
            # 103 scheduled, 53 cancelled: over the fraction: rebuilt
            out.append((loop._timer_cancelled_count, len(loop._scheduled)))
            old = loop._scheduled
            loop._run_once()
            out.append((loop._timer_cancelled_count, len(loop._scheduled),
                        loop._scheduled is old, heap_ok(loop._scheduled),
                        all(not h._cancelled for h in loop._scheduled),
                        [h._scheduled for h in far + more_cancelled[:3]],
                        more[0]._scheduled))
            # cancelling a handle no longer scheduled does not count
            more_cancelled[0]._cancelled = False
            more_cancelled[0].cancel()
            out.append(loop._timer_cancelled_count)
            return out
        out = self.both(scenario)
        self.assertEqual(out[0], (4, 5))
        self.assertEqual(out[1], (2, 3, [True, True, False, False]))
        self.assertEqual(out[2], (53, 102))
        self.assertEqual(out[3], (0, 49, False, True, True,
                                  [False] * 5, True))
        self.assertEqual(out[4], 0)

    def test_cleanup_thresholds(self):
        def scenario(loop):
            out = []
            for total, cancelled in ((100, 51), (101, 51), (102, 51),
                                     (101, 50), (150, 76)):
                hs = [loop.call_later(10 + i, noop)
                      for i in range(total - 1)]
                hs.append(loop.call_later(1, noop))      # not cancelled head
                for h in hs[:cancelled]:
                    h.cancel()
                loop._run_once()
                out.append((total, cancelled, len(loop._scheduled),
                            loop._timer_cancelled_count))
                for h in hs:
                    h.cancel()
                loop._scheduled.clear()
                loop._timer_cancelled_count = 0
            return out
        self.assertEqual(self.both(scenario), [
            (100, 51, 100, 51), (101, 51, 50, 0), (102, 51, 102, 51),
            (101, 50, 101, 50), (150, 76, 74, 0)])

    def test_heap_random_operations(self):
        def scenario(loop):
            rnd = random.Random(7)
            trace = []
            live = []
            tags = {}
            for step in range(400):
                op = rnd.random()
                if op < 0.5:
                    live.append(loop.call_at(
                        loop.now + rnd.choice([0, 1, 2, 2.5, 5, 50]),
                        trace.append, step))
                    tags[id(live[-1])] = (step, live[-1])
                elif op < 0.8 and live:
                    live.pop(rnd.randrange(len(live))).cancel()
                elif op < 0.9:
                    loop.call_soon(trace.append, ('soon', step))
                else:
                    loop.now += rnd.choice([0, 0.5, 1, 3])
                    loop._run_once()
                    trace.append(('layout', [tags[id(h)][0] for h in
                                             loop._scheduled],
                                  loop._timer_cancelled_count,
                                  heap_ok(loop._scheduled)))
            return trace
        trace = self.both(scenario)
        self.assertTrue(all(t[3] for t in trace
                            if isinstance(t, tuple) and t[0] == 'layout'))

    # --- callbacks misbehaving ---

    def test_callbacks_raise(self):
        def scenario(loop):
            trace = []
            self.record_errors(loop, trace)

            def raiser(n):
                raise ValueError(n)

            loop.call_soon(raiser, 1)
            loop.call_soon(trace.append, 'after')
            loop.call_later(-1, raiser, 2)
            loop.call_soon(asyncio.CancelledError)   # returns, no raise
            loop._run_once()
            return trace, raiser.__code__.co_firstlineno
        trace, line = self.both(scenario)
        name = ('LoopCoreCases.test_callbacks_raise.<locals>.scenario.'
                '<locals>.raiser')
        self.assertEqual(trace, [
            ('error', f'Exception in callback {name}(1) at {__file__}:{line}',
             ValueError, '1', ['exception', 'handle', 'message']),
            'after',
            ('error', f'Exception in callback {name}(2) at {__file__}:{line}',
             ValueError, '2', ['exception', 'handle', 'message'])])

    def test_base_exceptions_mid_drain(self):
        def scenario(loop):
            trace = []
            for exc in (KeyboardInterrupt, SystemExit):
                def raiser():
                    raise exc('x')
                loop.call_soon(trace.append, 'a')
                loop.call_soon(raiser)
                loop.call_soon(trace.append, 'b')
                loop.call_later(-1, trace.append, 'timer')
                trace.append(outcome(loop._run_once)[:2])
                trace.append(len(loop._ready))
                loop._run_once()
            return trace
        self.assertEqual(self.both(scenario), [
            'a', ('raises', KeyboardInterrupt), 2, 'b', 'timer',
            'a', ('raises', SystemExit), 2, 'b', 'timer'])

    def test_exception_handler_raises_mid_drain(self):
        class RaisingHandlerLoop(ManualClockLoop):
            def call_exception_handler(self, context):
                raise RuntimeError('handler: ' + context['message'][:21])

        def scenario(loop):
            trace = []
            loop.call_soon(trace.append, 'a')
            loop.call_soon(1)
            loop.call_soon(trace.append, 'b')
            trace.append(outcome(loop._run_once))
            trace.append(len(loop._ready))
            loop._run_once()
            return trace
        self.assertEqual(self.both(scenario, RaisingHandlerLoop), [
            'a', ('raises', RuntimeError, 'handler: Exception in callback'),
            1, 'b'])

    def test_callback_cancels_others(self):
        def scenario(loop):
            trace = []
            box = {}

            def canceller():
                trace.append('canceller')
                box['ready'].cancel()
                box['due'].cancel()
                box['future'].cancel()
                trace.append(loop._timer_cancelled_count)

            loop.call_soon(canceller)
            box['ready'] = loop.call_soon(trace.append, 'ready')
            box['due'] = loop.call_later(-1, trace.append, 'due timer')
            box['future'] = loop.call_later(50, trace.append, 'future')
            loop.call_soon(trace.append, 'other')
            loop._run_once()
            trace.append((loop._timer_cancelled_count, len(loop._scheduled)))
            loop.now += 100
            loop._run_once()
            trace.append((loop._timer_cancelled_count, len(loop._scheduled)))
            return trace
        # the due timer, already moved to _ready, is skipped and was not
        # counted; the future one is counted, then dropped from the head
        self.assertEqual(self.both(scenario), [
            'canceller', 1, 'other', (1, 1), (0, 0)])

    def test_callback_cancels_itself_and_later_handles(self):
        def scenario(loop):
            trace = []
            hs = []

            def cb(i):
                trace.append(i)
                hs[i].cancel()
                if i + 1 < len(hs):
                    hs[i + 1].cancel()

            for i in range(6):
                hs.append(loop.call_soon(cb, i))
            loop._run_once()
            return trace, [h.cancelled() for h in hs]
        self.assertEqual(self.both(scenario), ([0, 2, 4], [True] * 6))

    def test_stop_mid_drain(self):
        def scenario(loop):
            trace = []

            def b():
                trace.append('b')
                loop.call_soon(trace.append, 'c')

            loop.call_soon(trace.append, 'a')
            loop.call_soon(loop.stop)
            loop.call_soon(b)
            loop.run_forever()
            trace.append(('ready', len(loop._ready)))
            loop.call_soon(loop.stop)
            loop.run_forever()
            return trace
        self.assertEqual(self.both(scenario, asyncio.SelectorEventLoop),
                         ['a', 'b', ('ready', 1), 'c'])

    def test_close_mid_drain(self):
        def scenario(loop):
            trace = []
            self.record_errors(loop, trace)
            loop.call_soon(loop.close)
            loop.call_soon(trace.append, 'after')
            loop.call_soon(loop.stop)
            loop.run_forever()
            trace.append(loop.is_closed())
            return trace
        self.assertEqual(self.both(scenario, asyncio.SelectorEventLoop), [
            ('error', test_utils.MockPattern(
                r'^Exception in callback .*close\(\)'), RuntimeError,
             'Cannot close a running event loop',
             ['exception', 'handle', 'message']),
            'after', False])

    def test_added_during_drain_runs_next_iteration(self):
        def scenario(loop):
            trace = []

            def cb1():
                trace.append('cb1')
                loop.call_soon(trace.append, 'cb3')
                loop.call_later(-1, trace.append, 'timer from cb1')

            loop.call_soon(cb1)
            loop.call_soon(trace.append, 'cb2')
            loop._run_once()
            trace.append(('ready', len(loop._ready), len(loop._scheduled)))
            loop._run_once()
            return trace, loop.timeouts()
        self.assertEqual(self.both(scenario),
                         (['cb1', 'cb2', ('ready', 1, 1), 'cb3',
                           'timer from cb1'], [0, 0]))

    # --- subclasses, overrides, mocks ---

    def test_test_loop_overrides(self):
        # test_utils.TestLoop overrides time(), call_at() and _run_once()
        def scenario_factory():
            got = []

            def gen():
                w1 = yield
                w2 = yield 0
                got.append((w1, w2))
                yield 5
            return gen, got

        def scenario(loop):
            trace = []
            loop.call_later(5, trace.append, 'a')
            loop.call_later(1, trace.append, 'b')
            loop.call_soon(trace.append, 'soon')
            trace.append(list(loop._timers))
            loop._run_once()
            trace.append(loop.time())
            loop._run_once()
            return trace
        gen, got = scenario_factory()
        out = self.both(scenario, test_utils.TestLoop, gen)
        self.assertEqual(out, [[5, 1], 'soon', 5, 'b', 'a'])

    def test_new_test_loop(self):
        # the loop test_utils.TestCase gives every asyncio test
        def gen():
            when = yield
            self.assertAlmostEqual(0.1, when)
            yield 0.1

        loop = self.make(self.variant, test_utils.TestLoop, gen)
        self.addCleanup(loop.close)

        async def main():
            await asyncio.sleep(0.1)
            return loop.time()

        self.assertAlmostEqual(loop.run_until_complete(main()), 0.1)

    def test_time_is_monotonic(self):
        loop = self.new_loop()
        t0 = time.monotonic()
        t = loop.time()
        t1 = time.monotonic()
        self.assertIsInstance(t, float)
        self.assertTrue(t0 <= t <= t1, (t0, t, t1))

    def test_process_events_and_selector(self):
        def scenario(loop):
            trace = []
            h = events.Handle(trace.append, ('from events',), loop)

            def process(event_list):
                trace.append(('process', event_list))
                loop._add_callback(h)

            loop._selector.select.return_value = ['ev']
            loop._process_events = process
            loop._run_once()
            loop._run_once()
            loop._selector.select.side_effect = OSError('select')
            loop.call_soon(trace.append, 'not run')
            trace.append(outcome(loop._run_once))
            loop._selector.select.side_effect = None
            loop._process_events = mock.Mock(side_effect=ValueError('pe'))
            trace.append(outcome(loop._run_once))
            trace.append(len(loop._ready))
            return trace, loop.timeouts()
        self.assertEqual(self.both(scenario), (
            [('process', ['ev']), 'from events', ('process', ['ev']),
             'from events', ('raises', OSError, 'select'),
             ('raises', ValueError, 'pe'), 1],
            [None, None, 0, 0]))

    def test_handle_subclass_run_honoured(self):
        def scenario(loop):
            trace = []

            class MyHandle(events.Handle):
                def _run(self):
                    trace.append('my _run')
                    super()._run()

            class MyTimer(events.TimerHandle):
                def _run(self):
                    trace.append('my timer _run')
                    super()._run()

            loop._add_callback(MyHandle(trace.append, ('cb',), loop))
            t = MyTimer(loop.time() - 1, trace.append, ('timer',), loop)
            heapq.heappush(loop._scheduled, t)
            t._scheduled = True
            loop._run_once()
            return trace, t._scheduled
        self.assertEqual(self.both(scenario),
                         (['my _run', 'cb', 'my timer _run', 'timer'], False))

    def test_foreign_objects_in_queues(self):
        # _ready and _scheduled are plain containers anyone may append to
        def scenario(loop):
            trace = []

            class Fake:
                _cancelled = False
                _when = 0

                def __init__(self, tag):
                    self.tag = tag

                def _run(self):
                    trace.append(self.tag)

                def __lt__(self, other):
                    return self._when < other._when

            loop._ready.append(Fake('ready'))
            f = Fake('timer')
            f._scheduled = True
            loop._scheduled.append(f)
            loop._run_once()
            return trace, f._scheduled
        self.assertEqual(self.both(scenario), (['ready', 'timer'], False))

    def test_queues_replaced(self):
        def scenario(loop):
            trace = []
            loop._ready = collections.deque()
            loop._scheduled = []
            h = loop.call_soon(trace.append, 1)
            t = loop.call_later(-1, trace.append, 2)
            out = [list(loop._ready) == [h], loop._scheduled == [t]]
            loop._run_once()
            return out, trace
        self.assertEqual(self.both(scenario), ([True, True], [1, 2]))

    def test_call_soon_override_used_by_task(self):
        class RecordingLoop(asyncio.SelectorEventLoop):
            def call_soon(self, callback, *args, context=None):
                self.recorded.append(getattr(callback, '__name__',
                                             type(callback).__name__))
                return super().call_soon(callback, *args, context=context)

        def scenario(loop):
            loop.recorded = []

            async def inner():
                await asyncio.sleep(0)
                return 5

            async def main():
                fut = loop.create_future()
                loop.call_later(0, fut.set_result, 1)
                await fut
                return await inner()

            result = loop.run_until_complete(main())
            return result, loop.recorded
        result, recorded = self.both(scenario, RecordingLoop)
        self.assertEqual(result, 5)
        # the task's steps, the future's wakeup, the sleep(0) step...
        self.assertGreaterEqual(len(recorded), 4)

    def test_internal_overrides_honoured(self):
        # The pure hot path goes through self.call_at(), self._call_soon(),
        # self.time() and self._check_closed(): overrides of them are used.
        class Overrides(ManualClockLoop):
            def __init__(self):
                self.calls = []
                super().__init__()

            def call_at(self, when, callback, *args, context=None):
                self.calls.append(('call_at', when))
                return super().call_at(when, callback, *args, context=context)

            def _call_soon(self, callback, args, context):
                self.calls.append(('_call_soon', args))
                return super()._call_soon(callback, args, context)

            def time(self):
                self.calls.append('time')
                return super().time()

            def _check_closed(self):
                self.calls.append('_check_closed')
                return super()._check_closed()

        def scenario(loop):
            loop.calls.clear()
            loop.call_soon(noop, 1)
            loop.call_later(2, noop)
            loop.call_soon_threadsafe(noop, 3)
            loop._run_once()
            return loop.calls
        self.assertEqual(self.both(scenario, Overrides), [
            '_check_closed', ('_call_soon', (1,)),
            'time', ('call_at', 1002.0), '_check_closed',
            '_check_closed', ('_call_soon', (3,)),
            'time'])

    def test_debug_checks_overridable(self):
        class Overrides(ManualClockLoop):
            def _check_thread(self):
                self.calls.append('_check_thread')

            def _check_callback(self, callback, method):
                self.calls.append(('_check_callback', method))

        def scenario(loop):
            loop.calls = []
            loop.call_soon(1)
            loop.call_later(1, 2)
            loop.call_at(1, 3)
            loop.call_soon_threadsafe(4)
            return loop.calls
        self.assertEqual(self.both(scenario, Overrides, debug=True), [
            '_check_thread', ('_check_callback', 'call_soon'),
            '_check_thread', ('_check_callback', 'call_at'),
            '_check_thread', ('_check_callback', 'call_at'),
            ('_check_callback', 'call_soon_threadsafe')])

    def test_instance_mocks(self):
        def scenario(loop):
            out = []
            loop.call_soon = mock.Mock()
            fut = loop.create_future()
            fut.add_done_callback(noop)
            fut.set_result(1)
            args, kwargs = loop.call_soon.call_args
            out.append((args[0] is noop, args[1] is fut, sorted(kwargs)))
            del loop.call_soon
            out.append(type(loop.call_soon(noop)))
            loop.time = mock.Mock(return_value=50.0)
            out.append(loop.call_later(1, noop)._when)
            del loop.time
            loop.get_debug = mock.Mock(return_value=True)
            h = loop.call_soon(noop)
            out.append(h._source_traceback is not None)
            del loop.get_debug
            timer = mock.Mock(_source_traceback=None)
            loop.call_at = mock.Mock(return_value=timer)
            out.append(loop.call_later(1, noop) is timer)
            del loop.call_at
            with mock.patch.object(loop, '_run_once') as m:
                m.side_effect = loop.stop
                loop.run_forever()
                out.append(m.call_count)
            return out
        self.assertEqual(self.both(scenario), [
            (True, True, ['context']), events.Handle, 51.0, True,
            True, 1])

    def test_class_level_patch(self):
        loop = self.new_loop(base_events.BaseEventLoop)
        cls = type(loop)
        seen = []
        with mock.patch.object(cls, 'call_soon',
                               lambda self, cb, *a, context=None:
                               seen.append(cb)):
            fut = loop.create_future()
            fut.add_done_callback(noop)
            fut.set_result(None)
        self.assertEqual(seen, [noop])
        self.assertIsInstance(loop.call_soon(noop), events.Handle)

    # --- object lifetime ---

    def test_loop_collected(self):
        for kind in (asyncio.SelectorEventLoop, ManualClockLoop):
            loop = self.make(self.variant, kind)
            loop.set_debug(True)
            loop.call_soon(loop.call_soon, noop, loop)
            loop.call_later(10, noop, loop)
            h = loop.call_soon(lambda: loop)
            loop._run_once() if kind is ManualClockLoop else None
            loop.close()
            ref = weakref.ref(loop)
            del loop, h
            gc.collect()
            self.assertIsNone(ref())

    def test_handle_cycles_collected(self):
        # through the single argument the core keeps as it is, and through
        # the context variables it keeps in place of a context
        var = contextvars.ContextVar('var')
        loop = self.new_loop(ManualClockLoop)

        class Holder:
            pass
        refs = []
        for how in ('arg', 'context', 'both'):
            holder = Holder()
            token = var.set(holder) if how != 'arg' else None
            args = (holder,) if how != 'context' else ()
            holder.handle = loop.call_soon(noop, *args)
            if token is not None:
                var.reset(token)
            refs.append(weakref.ref(holder))
            del holder, args
        loop._run_once()    # the handles leave _ready
        gc.collect()
        self.assertEqual([ref() for ref in refs], [None, None, None])

    def test_close_clears_queues(self):
        def scenario(loop):
            loop.call_soon(noop)
            loop.call_later(1, noop)
            loop.close()
            return len(loop._ready), len(loop._scheduled)
        self.assertEqual(self.both(scenario), (0, 0))


class PyLoopCoreTests(LoopCoreCases, test_utils.TestCase):
    variant = staticmethod(py_variant)


@unittest.skipUnless(RUN_C, 'no C loop core expected on this interpreter')
class CLoopCoreTests(LoopCoreCases, test_utils.TestCase):
    variant = staticmethod(c_variant)


class WhichCoreTests(unittest.TestCase):
    """Loops use the C core whenever _asyncio provides it, and on our build
    it must: the C cases cannot be skipped silently."""

    def test_our_build_provides_the_core(self):
        if not OUR_BUILD:
            self.skipTest("not the fork's interpreter")
        self.assertTrue(hasattr(_asyncio, '_EventLoopCore'),
                        'the built-in _asyncio has no _EventLoopCore')
        self.assertIs(C_CORE, _asyncio._EventLoopCore)
        self.assertIsNotNone(getattr(base_events, '_py_hot_path', None))

    def test_loops_use_the_core(self):
        if C_CORE is None:
            self.assertFalse(OUR_BUILD)
            self.assertIn('call_soon', base_events.BaseEventLoop.__dict__)
            return
        self.assertIn(C_CORE, base_events.BaseEventLoop.__mro__)
        for name in PY_HOT_PATH:
            with self.subTest(name=name):
                self.assertNotIn(name, base_events.BaseEventLoop.__dict__)
                self.assertIn(name, C_CORE.__dict__)
                self.assertIs(getattr(asyncio.SelectorEventLoop, name),
                              getattr(C_CORE, name))
        loop = asyncio.new_event_loop()
        try:
            self.assertIsInstance(loop, C_CORE)
        finally:
            loop.close()

    def test_py_hot_path(self):
        self.assertIsNotNone(PY_HOT_PATH)
        self.assertLessEqual(HOT_PATH_NAMES, set(PY_HOT_PATH))
        for name, func in PY_HOT_PATH.items():
            with self.subTest(name=name):
                self.assertEqual(func.__module__, 'asyncio.base_events')
                self.assertEqual(func.__name__, name)
        cls = py_variant(asyncio.SelectorEventLoop)
        for name in PY_HOT_PATH:
            self.assertIs(getattr(cls, name), PY_HOT_PATH[name])
        cls = py_variant(test_utils.TestLoop)
        self.assertIs(cls.time, test_utils.TestLoop.time)
        self.assertIs(cls._run_once, test_utils.TestLoop._run_once)
        self.assertIs(cls.call_soon, PY_HOT_PATH['call_soon'])
        self.assertLess(cls.__mro__.index(PyHotPathBase),
                        cls.__mro__.index(base_events.BaseEventLoop))


if __name__ == '__main__':
    unittest.main()
