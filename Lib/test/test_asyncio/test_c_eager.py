"""Eager tasks (3.12's eager_start and eager task factories), written from
the documented semantics, on the C Task, a Python subclass of it and the
Python Task.

A task made with eager_start=True while its loop runs takes its first step
in its constructor: in its own context, as the loop's current task and in
all_tasks(); the task that was current is current again afterwards.  A
coroutine that returns or raises in that step leaves a task that is done on
return from create_task() and was never scheduled; one that suspends goes
on as any task.  gather() and TaskGroup count children that are done
already at once, so nested eager gathers and groups finish without a turn
of the loop; the C gather() also lets go of the tasks it made that finished
so, keeping their results (outer._children shows done futures in their
places).  The default stays lazy.

Deep nesting (an eager step that makes an eager task, ten thousand deep)
runs in a child process: it must end in the result or a RecursionError,
never a crash.
"""

import asyncio
import contextvars
import gc
import inspect
import subprocess
import sys
import types
import unittest
import weakref
from asyncio import tasks
from test.test_asyncio import utils as test_utils
from test.test_asyncio import cfork_helpers
from test.test_asyncio.cfork_helpers import OUR_BUILD

HAVE_EAGER = hasattr(asyncio, 'eager_task_factory')
HAVE_C_TASK = hasattr(tasks, '_CTask')


def tearDownModule():
    asyncio.set_event_loop_policy(None)


def setUpModule():
    if not HAVE_EAGER and not OUR_BUILD:
        raise unittest.SkipTest('asyncio has no eager tasks (3.11)')


async def leaf(value, log=None):
    if log is not None:
        log.append(('leaf', value))
    return value


async def fail(exc):
    raise exc


@types.coroutine
def bare_yield():
    yield


class EagerCases(cfork_helpers.LoopCases):
    Task = None

    def setUp(self):
        super().setUp()
        self.loop.set_task_factory(
            asyncio.create_eager_task_factory(self.Task))

    def run_main(self, main):
        """main() in a (lazy) task of the loop, made without the task
        factory; its result."""
        return self.loop.run_until_complete(self.Task(main(), loop=self.loop))

    # --- the API ---

    def test_api(self):
        self.assertIn('eager_task_factory', asyncio.__all__)
        self.assertIn('create_eager_task_factory', asyncio.__all__)
        task = None

        async def main():
            nonlocal task
            task = asyncio.eager_task_factory(self.loop, leaf(1))
            return task.done()
        self.loop.set_task_factory(None)
        self.assertTrue(self.run_main(main))
        self.assertIs(type(task), asyncio.Task)
        self.assertEqual(task.result(), 1)

    def test_signature(self):
        params = inspect.signature(self.Task).parameters
        self.assertEqual(list(params),
                         ['coro', 'loop', 'name', 'context', 'eager_start'])
        self.assertEqual(params['eager_start'].kind,
                         inspect.Parameter.KEYWORD_ONLY)
        self.assertIs(params['eager_start'].default, False)

    def test_default_is_lazy(self):
        self.loop.set_task_factory(None)
        log = []

        async def main():
            t = self.Task(leaf(1, log), loop=self.loop)
            u = self.loop.create_task(leaf(2, log))
            self.assertEqual(log, [])
            self.assertFalse(t.done() or u.done())
            return await t, await u
        self.assertEqual(self.run_main(main), (1, 2))
        self.assertEqual(log, [('leaf', 1), ('leaf', 2)])

    def test_not_running_loop_starts_lazily(self):
        log = []
        t = self.Task(leaf(1, log), loop=self.loop, eager_start=True)
        self.assertEqual(log, [])
        self.assertFalse(t.done())
        self.assertIn(t, asyncio.all_tasks(self.loop))
        self.assertEqual(self.loop.run_until_complete(t), 1)
        self.assertEqual(log, [('leaf', 1)])

    def test_eager_start_truth_value(self):
        class Truth:
            def __init__(self, value):
                self.value = value

            def __bool__(self):
                if self.value is None:
                    raise ZeroDivisionError('bool')
                return self.value

        async def main():
            for flag in (0, '', Truth(False), 1, 'yes', Truth(True)):
                t = self.Task(leaf(flag), loop=self.loop, eager_start=flag)
                self.assertEqual(t.done(), bool(flag), flag)
                self.assertIs(await t, flag)
            coro = leaf('never')
            with self.assertRaisesRegex(ZeroDivisionError, 'bool'):
                self.Task(coro, loop=self.loop, eager_start=Truth(None))
            coro.close()
        self.run_main(main)

    # --- completion without scheduling ---

    def test_completes_without_scheduling(self):
        log = []

        async def main():
            ready = len(self.loop._ready)
            log.append('before')
            t = self.loop.create_task(leaf(1, log))
            log.append('after')
            self.assertTrue(t.done())
            self.assertEqual(t.result(), 1)
            # nothing was put on the loop for it
            self.assertEqual(len(self.loop._ready), ready)
            self.assertNotIn(t, asyncio.all_tasks())
            # the coroutine, which nothing will resume, is dropped
            self.assertIsNone(t.get_coro())
            self.assertIsNone(t._coro)
            self.assertRegex(repr(t), r"^<\w+ finished name='Task-\d+' "
                             r"result=1>$")
            self.assertEqual(await t, 1)
            u = asyncio.create_task(leaf(2, log), name='second')
            self.assertEqual((u.result(), u.get_name()), (2, 'second'))
            return t
        self.run_main(main)
        self.assertEqual(log, ['before', ('leaf', 1), 'after', ('leaf', 2)])
        self.assertEqual(self.errors, [])

    def test_task_class(self):
        async def main():
            return self.loop.create_task(leaf(1))
        self.assertIs(type(self.run_main(main)), self.Task)

    # --- suspension mid-way ---

    def test_suspends_on_a_future(self):
        log = []

        async def child(fut):
            log.append('child starts')
            value = await fut
            log.append(('child resumes', value))
            return value * 2

        async def main():
            fut = self.loop.create_future()
            t = self.loop.create_task(child(fut))
            log.append('create_task returned')
            self.assertFalse(t.done())
            self.assertIs(t._fut_waiter, fut)
            self.assertIn(t, asyncio.all_tasks())
            self.assertIsNotNone(t.get_coro())
            self.assertRegex(repr(t), r'wait_for=<Future pending')
            self.loop.call_soon(fut.set_result, 21)
            return await t
        self.assertEqual(self.run_main(main), 42)
        self.assertEqual(log, ['child starts', 'create_task returned',
                               ('child resumes', 21)])

    def test_suspends_on_a_bare_yield(self):
        log = []

        async def child():
            log.append(1)
            await bare_yield()
            log.append(3)
            await asyncio.sleep(0)
            log.append(4)
            return 'done'

        async def main():
            t = self.loop.create_task(child())
            log.append(2)
            self.assertIsNone(t._fut_waiter)
            return await t
        self.assertEqual(self.run_main(main), 'done')
        self.assertEqual(log, [1, 2, 3, 4])

    def test_bad_yield_in_eager_step(self):
        @types.coroutine
        def yield_value():
            yield 42

        async def child():
            await yield_value()

        async def main():
            t = self.loop.create_task(child())
            self.assertFalse(t.done())
            with self.assertRaisesRegex(RuntimeError,
                                        'Task got bad yield: 42'):
                await t
        self.run_main(main)

    def test_awaits_itself_in_eager_step(self):
        async def child():
            await asyncio.current_task()

        async def main():
            t = self.loop.create_task(child())
            with self.assertRaisesRegex(RuntimeError,
                                        'Task cannot await on itself'):
                await t
        self.run_main(main)

    # --- exceptions ---

    def test_exception_in_eager_step(self):
        async def main():
            t = self.loop.create_task(fail(ValueError('eager')))
            self.assertTrue(t.done())
            self.assertNotIn(t, asyncio.all_tasks())
            self.assertIsNone(t.get_coro())
            with self.assertRaisesRegex(ValueError, 'eager'):
                await t
            # a second one nobody retrieves is reported when destroyed
            self.loop.create_task(fail(KeyError('lost')))
            gc.collect()
        self.run_main(main)
        self.assertEqual(len(self.errors), 1)
        self.assertEqual(self.errors[0]['message'],
                         'Task exception was never retrieved')
        self.assertIsInstance(self.errors[0]['exception'], KeyError)

    def test_base_exceptions_propagate(self):
        for exc_type in (KeyboardInterrupt, SystemExit):
            with self.subTest(exc_type=exc_type):
                def check(parent):
                    self.assertIs(asyncio.current_task(), parent)
                    self.assertEqual(
                        {t for t in asyncio.all_tasks() if t is not parent},
                        set())

                async def main():
                    parent = asyncio.current_task()
                    with self.assertRaises(exc_type):
                        self.loop.create_task(fail(exc_type('out')))
                    check(parent)
                    return 'survived'
                self.assertEqual(self.run_main(main), 'survived')
                gc.collect()
                # the constructor raised it: nobody could retrieve it from
                # the task, which is not reported
                self.assertEqual(self.errors, [])

    # --- cancellation ---

    def test_cancelled_error_in_eager_step(self):
        async def main():
            t = self.loop.create_task(fail(asyncio.CancelledError('why')))
            self.assertTrue(t.cancelled())
            with self.assertRaisesRegex(asyncio.CancelledError, 'why'):
                t.result()
        self.run_main(main)

    def test_cancels_itself_then_returns(self):
        async def child():
            self.assertTrue(asyncio.current_task().cancel('self'))
            return 1

        async def main():
            t = self.loop.create_task(child())
            self.assertTrue(t.cancelled())
            self.assertEqual(t.cancelling(), 1)
            with self.assertRaisesRegex(asyncio.CancelledError, 'self'):
                await t
        self.run_main(main)

    def test_cancels_itself_then_awaits(self):
        log = []

        async def child(fut):
            asyncio.current_task().cancel('self')
            try:
                await fut
            except asyncio.CancelledError as exc:
                log.append(('caught', exc.args))
                return 'swallowed'

        async def main():
            fut = self.loop.create_future()
            t = self.loop.create_task(child(fut))
            # the future it awaited was cancelled at once
            self.assertTrue(fut.cancelled())
            self.assertFalse(t.done())
            return await t
        self.assertEqual(self.run_main(main), 'swallowed')
        self.assertEqual(log, [('caught', ('self',))])

    def test_cancel_after_suspension(self):
        async def child(fut):
            await fut

        async def main():
            fut = self.loop.create_future()
            t = self.loop.create_task(child(fut))
            self.assertTrue(t.cancel('from parent'))
            with self.assertRaisesRegex(asyncio.CancelledError,
                                        'from parent'):
                await t
            self.assertTrue(fut.cancelled())
        self.run_main(main)

    def test_cancel_done_eager_task(self):
        async def main():
            t = self.loop.create_task(leaf(1))
            self.assertFalse(t.cancel())
            self.assertEqual(t.result(), 1)
        self.run_main(main)

    def test_parent_cancelled_during_child_eager_step(self):
        async def child(parent):
            parent.cancel('by child')
            return 'child'

        async def main():
            parent = asyncio.current_task()
            t = self.loop.create_task(child(parent))
            self.assertEqual(t.result(), 'child')
            await asyncio.sleep(0)
            return 'not reached'
        with self.assertRaisesRegex(asyncio.CancelledError, 'by child'):
            self.run_main(main)

    # --- current_task() and all_tasks() ---

    def test_current_task_inside_and_after(self):
        seen = []

        async def grandchild():
            seen.append(('grandchild', asyncio.current_task()))
            return 'g'

        async def child():
            me = asyncio.current_task()
            seen.append(('child', me))
            g = self.loop.create_task(grandchild())
            seen.append(('child again', asyncio.current_task()))
            self.assertIn(me, asyncio.all_tasks())
            return g

        async def main():
            parent = asyncio.current_task()
            t = self.loop.create_task(child())
            self.assertIs(asyncio.current_task(), parent)
            return parent, t
        parent, t = self.run_main(main)
        g = t.result()
        self.assertEqual(seen, [('child', t), ('grandchild', g),
                                ('child again', t)])
        self.assertIsNot(t, parent)
        self.assertIsNone(asyncio.current_task(self.loop))

    def test_created_from_a_callback(self):
        # no task is current around the eager step; none afterwards
        seen = []

        async def child():
            seen.append(asyncio.current_task())
            await asyncio.sleep(0)
            seen.append(asyncio.current_task())

        def callback():
            t = self.loop.create_task(child())
            seen.append(('made', t, asyncio.current_task(self.loop)))
            self.loop.call_soon(self.loop.stop)
        self.loop.call_soon(callback)
        self.loop.run_forever()
        self.loop.run_until_complete(asyncio.sleep(0))
        t = seen[1][1]
        self.assertEqual(seen, [t, ('made', t, None), t])

    def test_all_tasks_inside(self):
        async def child(fut):
            me = asyncio.current_task()
            self.assertIn(me, asyncio.all_tasks())
            self.assertIn(me, asyncio.all_tasks(self.loop))
            self.assertIn(me, tasks._all_tasks)
            if fut is not None:
                await fut

        async def main():
            done = self.loop.create_task(child(None))
            self.assertNotIn(done, asyncio.all_tasks())
            fut = self.loop.create_future()
            pending = self.loop.create_task(child(fut))
            self.assertIn(pending, asyncio.all_tasks())
            fut.set_result(None)
            await pending
            self.assertNotIn(pending, asyncio.all_tasks())
        self.run_main(main)

    def test_swap_current_task(self):
        loop = object()
        t1, t2 = object(), object()
        for swap in {tasks._swap_current_task,
                     getattr(tasks, '_py_swap_current_task',
                             tasks._swap_current_task)}:
            with self.subTest(swap=swap):
                self.assertIsNone(swap(loop, t1))
                self.assertIs(swap(loop, t2), t1)
                self.assertIs(asyncio.current_task(loop), t2)
                self.assertIs(swap(loop, None), t2)
                self.assertIsNone(asyncio.current_task(loop))
                self.assertIsNone(swap(loop, None))
                with self.assertRaises(TypeError):
                    swap(loop)
                with self.assertRaises(TypeError):
                    swap(loop, t1, t2)

    # --- contextvars ---

    def test_context_isolation(self):
        var = contextvars.ContextVar('var', default='unset')

        async def child(fut):
            seen = [var.get()]
            var.set('child')
            if fut is not None:
                await fut
            seen.append(var.get())
            return seen

        async def main():
            var.set('parent')
            t = self.loop.create_task(child(None))
            self.assertEqual(t.result(), ['parent', 'child'])
            self.assertEqual(var.get(), 'parent')
            self.assertEqual(t.get_context().get(var), 'child')
            # with a context of its own
            ctx = contextvars.Context()
            ctx.run(var.set, 'given')
            u = self.loop.create_task(child(None), context=ctx)
            self.assertIs(u.get_context(), ctx)
            self.assertEqual(u.result(), ['given', 'child'])
            self.assertEqual(ctx[var], 'child')
            self.assertEqual(var.get(), 'parent')
            # one that suspends keeps its context
            fut = self.loop.create_future()
            w = self.loop.create_task(child(fut))
            var.set('parent again')
            fut.set_result(None)
            self.assertEqual(await w, ['parent', 'child'])
            self.assertEqual(var.get(), 'parent again')
        contextvars.Context().run(self.run_main, main)

    def test_context_of_a_done_task(self):
        # get_context() of a task done in its eager step: one Context, the
        # same on every call, holding what the coroutine set; a Context the
        # coroutine kept a reference or a weak reference to is still the
        # task's.
        var = contextvars.ContextVar('var', default='unset')
        held = {}

        async def child(hold):
            var.set('child')
            ctx = asyncio.current_task().get_context()
            if hold == 'ref':
                held[hold] = ctx
            elif hold == 'weak':
                held[hold] = weakref.ref(ctx)
            return hold

        async def main():
            var.set('parent')
            done = {hold: self.loop.create_task(child(hold))
                    for hold in ('none', 'ref', 'weak')}
            for hold, t in done.items():
                self.assertEqual(t.result(), hold)
                ctx = t.get_context()
                self.assertIsInstance(ctx, contextvars.Context)
                self.assertIs(t.get_context(), ctx)
                self.assertEqual(ctx[var], 'child')
                self.assertEqual(ctx.run(var.get), 'child')
            self.assertIs(done['ref'].get_context(), held['ref'])
            self.assertIs(done['weak'].get_context(), held['weak']())
            self.assertEqual(var.get(), 'parent')
            # what the context is given by get_context() stays in it
            ctx = done['none'].get_context()
            ctx.run(var.set, 'later')
            self.assertEqual(done['none'].get_context()[var], 'later')
        contextvars.Context().run(self.run_main, main)

    def test_context_of_a_waiting_task(self):
        # What is set in the context get_context() gives while the task
        # waits is what the task sees when it resumes; the same Context
        # before and after.
        var = contextvars.ContextVar('var', default='unset')

        async def child(fut):
            var.set('child')
            await fut
            return var.get(), asyncio.current_task().get_context()

        async def main():
            fut = self.loop.create_future()
            t = self.loop.create_task(child(fut))
            self.assertFalse(t.done())
            ctx = t.get_context()
            self.assertEqual(ctx[var], 'child')
            ctx.run(var.set, 'from outside')
            fut.set_result(None)
            seen, inside = await t
            self.assertEqual(seen, 'from outside')
            self.assertIs(inside, ctx)
            self.assertIs(t.get_context(), ctx)
        contextvars.Context().run(self.run_main, main)

    def test_context_in_use(self):
        # The running task's own context is entered already: the eager
        # step cannot enter it, and the constructor fails before anything
        # has changed.
        async def main():
            parent = asyncio.current_task()
            before = asyncio.all_tasks()
            coro = leaf('never')
            with self.assertRaisesRegex(RuntimeError,
                                        'cannot enter context'):
                self.loop.create_task(coro, context=parent.get_context())
            self.assertEqual(inspect.getcoroutinestate(coro),
                             inspect.CORO_CREATED)
            coro.close()
            self.assertIs(asyncio.current_task(), parent)
            self.assertEqual(asyncio.all_tasks(), before)
            return 'ok'
        self.assertEqual(self.run_main(main), 'ok')
        gc.collect()
        self.assertEqual(self.errors, [])

    # --- task factories ---

    def test_subclass_factory(self):
        class Sub(self.Task):
            pass
        self.loop.set_task_factory(asyncio.create_eager_task_factory(Sub))

        async def main():
            t = self.loop.create_task(leaf(1))
            self.assertIs(type(t), Sub)
            self.assertTrue(t.done())
        self.run_main(main)

    def test_factory_passes_context_and_sets_name(self):
        calls = []

        def constructor(coro, **kwargs):
            calls.append(sorted(kwargs.items()))
            return self.Task(coro, **kwargs)
        self.loop.set_task_factory(
            asyncio.create_eager_task_factory(constructor))
        ctx = contextvars.Context()

        async def main():
            t = self.loop.create_task(leaf(1), name='named', context=ctx)
            self.assertEqual(t.get_name(), 'named')
            return t
        self.run_main(main)
        self.assertEqual(calls, [[('context', ctx), ('eager_start', True),
                                  ('loop', self.loop), ('name', None)]])

    def test_factory_returning_a_non_task(self):
        made = []

        def constructor(coro, *, loop, name, context, eager_start):
            made.append(eager_start)
            coro.close()
            fut = loop.create_future()
            fut.set_result('not a task')
            return fut

        self.loop.set_task_factory(
            asyncio.create_eager_task_factory(constructor))

        async def main():
            fut = self.loop.create_task(leaf(1))
            self.assertIsInstance(fut, asyncio.Future)
            self.assertNotIsInstance(fut, asyncio.Task)
            self.assertEqual(await asyncio.gather(leaf(2), leaf(3)),
                             ['not a task'] * 2)
            async with asyncio.TaskGroup() as tg:
                self.assertEqual(tg.create_task(leaf(4)).result(),
                                 'not a task')
            # a name for a future without set_name()
            with self.assertWarnsRegex(DeprecationWarning, 'set_name'):
                self.loop.create_task(leaf(5), name='x')
        self.run_main(main)
        self.assertEqual(made, [True] * 5)

    def test_factory_returning_garbage(self):
        def constructor(coro, **kwargs):
            coro.close()
            return 42
        self.loop.set_task_factory(
            asyncio.create_eager_task_factory(constructor))

        async def main():
            self.assertEqual(self.loop.create_task(leaf(1)), 42)
            with self.assertRaises(AttributeError):
                asyncio.gather(leaf(2))
            async with asyncio.TaskGroup() as tg:
                with self.assertRaises(AttributeError):
                    tg.create_task(leaf(3))
        self.run_main(main)

    def test_bad_constructors(self):
        def no_eager_start(coro, *, loop, name, context):
            return self.Task(coro, loop=loop, name=name, context=context)

        async def main():
            for constructor, message in ((no_eager_start, 'eager_start'),
                                         (42, 'not callable')):
                self.loop.set_task_factory(
                    asyncio.create_eager_task_factory(constructor))
                coro = leaf(1)
                with self.assertRaisesRegex(TypeError, message):
                    self.loop.create_task(coro)
                coro.close()
        self.run_main(main)

    def test_names(self):
        # create_task() names the task after the factory made it, so after
        # its eager step: the same with asyncio.eager_task_factory (which
        # the C loop recognises) and with a factory of our own
        seen = []

        async def child():
            seen.append(asyncio.current_task().get_name())
            return 1

        async def main():
            for factory in (asyncio.eager_task_factory,
                            asyncio.create_eager_task_factory(self.Task)):
                self.loop.set_task_factory(factory)
                t = self.loop.create_task(child(), name='given')
                self.assertEqual(t.get_name(), 'given')
                t = asyncio.create_task(child(), name=42)
                self.assertEqual(t.get_name(), '42')
        self.run_main(main)
        self.assertEqual(len(seen), 4)
        for name in seen:
            self.assertRegex(name, r'^Task-\d+$')

    def test_closed_loop(self):
        for factory in (asyncio.eager_task_factory,
                        asyncio.create_eager_task_factory(self.Task)):
            loop = asyncio.new_event_loop()
            loop.set_task_factory(factory)
            loop.close()
            coro = leaf(1)
            with self.assertRaisesRegex(RuntimeError, 'Event loop is closed'):
                loop.create_task(coro)
            coro.close()

    def test_eager_task_factory_arguments(self):
        async def main():
            factory = asyncio.eager_task_factory
            t = factory(self.loop, leaf(1))
            u = factory(loop=self.loop, coro=leaf(2), name='n',
                        context=contextvars.Context())
            self.assertEqual((t.result(), u.result(), u.get_name()),
                             (1, 2, 'n'))
            coro = leaf(3)
            for args, kwargs in (((self.loop,), {}),
                                 ((self.loop, coro, 'n'), {}),
                                 ((self.loop, coro), {'eager_start': False}),
                                 ((self.loop, coro), {'coro': coro})):
                with self.assertRaises(TypeError):
                    factory(*args, **kwargs)
            with self.assertRaisesRegex(TypeError,
                                        'a coroutine was expected'):
                factory(self.loop, 42)
            coro.close()
        self.run_main(main)

    # --- loops that say whether they run ---

    def test_loop_is_running_overridden(self):
        # eager_start counts only while loop.is_running() says so
        answers = []

        class Loop(asyncio.SelectorEventLoop):
            def is_running(self):
                answers.append(super().is_running())
                return False

        loop = Loop()
        self.addCleanup(loop.close)
        loop.set_task_factory(asyncio.create_eager_task_factory(self.Task))
        log = []

        async def main():
            t = loop.create_task(leaf(1, log))
            self.assertEqual(log, [])
            return await t
        self.assertEqual(loop.run_until_complete(main()), 1)
        # (the loop asks itself too) asked while it ran, it said no
        self.assertIn(True, answers)

    def test_loop_is_running_shadowed(self):
        log = []

        async def main():
            self.loop.is_running = lambda: False
            t = self.loop.create_task(leaf('shadowed', log))
            self.assertFalse(t.done())
            await t
            del self.loop.is_running
            t = self.loop.create_task(leaf('eager again', log))
            self.assertTrue(t.done())
            self.loop.is_running = lambda: 1 / 0
            coro = leaf('never')
            with self.assertRaises(ZeroDivisionError):
                self.loop.create_task(coro)
            coro.close()
            del self.loop.is_running
        self.run_main(main)
        self.assertEqual(log, [('leaf', 'shadowed'),
                               ('leaf', 'eager again')])

    def test_loop_stopped_and_run_again(self):
        # whether the loop runs is read anew when it changes
        log = []

        async def make(tag):
            t = self.loop.create_task(leaf(tag, log))
            return t.done()
        self.assertTrue(self.loop.run_until_complete(make('first run')))
        t = self.Task(leaf('between runs', log), loop=self.loop,
                      eager_start=True)
        self.assertFalse(t.done())
        self.assertTrue(self.loop.run_until_complete(make('second run')))
        self.loop.run_until_complete(t)
        # (the lazy one was scheduled first)
        self.assertEqual([tag for _, tag in log],
                         ['first run', 'between runs', 'second run'])

    # --- gather() and TaskGroup ---

    def test_gather_of_eager_children(self):
        async def node(depth):
            if depth == 0:
                return 1
            return sum(await asyncio.gather(node(depth - 1),
                                            node(depth - 1)))

        async def main():
            g = asyncio.gather(leaf(1), leaf(2), leaf(1))
            # done on return: no done callback waited for a loop turn
            self.assertTrue(g.done())
            self.assertEqual(g.result(), [1, 2, 1])
            t = self.loop.create_task(node(6))
            self.assertTrue(t.done())
            return t.result()
        self.assertEqual(self.run_main(main), 64)

    def test_gather_mixed_children(self):
        async def main():
            fut = self.loop.create_future()
            g = asyncio.gather(leaf(1), fut, fail(ValueError('x')),
                               return_exceptions=True)
            self.assertFalse(g.done())
            fut.set_result(2)
            res = await g
            self.assertEqual(res[:2], [1, 2])
            self.assertIsInstance(res[2], ValueError)
            # without return_exceptions the eager failure finishes it
            g = asyncio.gather(fail(KeyError('k')), self.loop.create_future())
            self.assertTrue(g.done())
            with self.assertRaises(KeyError):
                g.result()
            g._children[1].cancel()
        self.run_main(main)

    # --- gather() lets go of the eager children it saw finish ---

    def gather_releases(self):
        """Whether gather() lets go of a child it made that finished with a
        result before gather() returned: the C gather does, for children
        of the exact C Task; the pure version keeps every child in
        outer._children until the last one is done."""
        return (getattr(tasks, '_c_gather', None) is not None
                and tasks._GatheringFuture is tasks._CGatheringFuture
                and self.Task is getattr(tasks, '_CTask', None))

    def test_gather_lets_finished_eager_children_go(self):
        refs = []

        async def child(value):
            refs.append(weakref.ref(asyncio.current_task()))
            return value

        async def main():
            fut = self.loop.create_future()
            g = asyncio.gather(child(1), fut, child(2), child(1))
            alive = [ref() is not None for ref in refs]
            fut.set_result('f')
            return alive, await g
        alive, results = self.run_main(main)
        self.assertEqual(results, [1, 'f', 2, 1])
        self.assertEqual(alive, [not self.gather_releases()] * 3)

    def test_gather_keeps_children_with_more_to_say(self):
        # an eager failure, an eager cancellation, a task passed in: the
        # same objects stay in outer._children
        refs = {}

        async def child(tag, exc=None):
            refs[tag] = weakref.ref(asyncio.current_task())
            if exc is not None:
                raise exc
            return tag

        async def main():
            fut = self.loop.create_future()
            mine = self.loop.create_task(child('mine'))
            g = asyncio.gather(child('raises', ValueError('v')), fut, mine,
                               child('cancelled', asyncio.CancelledError()),
                               return_exceptions=True)
            children = g._children
            self.assertIs(children[0], refs['raises']())
            self.assertIs(children[1], fut)
            self.assertIs(children[2], mine)
            self.assertIs(children[3], refs['cancelled']())
            fut.set_result('f')
            return await g
        results = self.run_main(main)
        self.assertIsInstance(results[0], ValueError)
        self.assertEqual(results[1:3], ['f', 'mine'])
        self.assertIsInstance(results[3], asyncio.CancelledError)

    def test_gather_children_read_after_release(self):
        value = object()

        async def main():
            fut = self.loop.create_future()
            g = asyncio.gather(leaf(1), fut, leaf(value), leaf(None))
            children = g._children
            self.assertIsInstance(children, list)
            self.assertIs(g._children, children)
            self.assertEqual(len(children), 4)
            self.assertIs(children[1], fut)
            for i, expected in ((0, 1), (2, value), (3, None)):
                child = children[i]
                self.assertTrue(asyncio.isfuture(child))
                self.assertTrue(child.done())
                self.assertIs(child.result(), expected)
                self.assertIs(child.get_loop(), self.loop)
            fut.set_result('f')
            results = await g
            self.assertIs(g._children, children)
            return results
        self.assertEqual(self.run_main(main), [1, 'f', value, None])

    def test_gather_release_then_children_replaced(self):
        # the done callbacks go over the list gather() made, whatever
        # outer._children is made to be
        async def main():
            outcomes = []
            for how in ('assigned', 'deleted', 'cleared'):
                fut = self.loop.create_future()
                g = asyncio.gather(leaf(1), fut, leaf(3))
                if how == 'assigned':
                    g._children = [fut]
                    self.assertEqual(g._children, [fut])
                elif how == 'deleted':
                    del g._children
                    with self.assertRaises(AttributeError):
                        g._children
                    with self.assertRaises(AttributeError):
                        del g._children
                else:
                    g._children.clear()
                fut.set_result('f')
                outcomes.append(await g)
            return outcomes
        self.assertEqual(self.run_main(main),
                         [[1, 'f', 3]] * 2 + [[]])

    def test_gather_cancelled_after_release(self):
        async def main():
            outcomes = []
            for last_pending in (False, True):
                fut = self.loop.create_future()
                args = (leaf(1), fut) if last_pending else (fut, leaf(1))
                g = asyncio.gather(*args, return_exceptions=True)
                self.assertTrue(g.cancel('stop'))
                self.assertFalse(g.cancel('again'))
                for _ in range(3):
                    await asyncio.sleep(0)
                self.assertTrue(g.done())
                try:
                    await g
                except asyncio.CancelledError as exc:
                    # the last child's _make_cancelled_error()
                    outcomes.append(exc.args)
            return outcomes
        self.assertEqual(self.run_main(main), [(), ('stop',)])

    def test_gather_children_read_while_restored(self):
        # making the futures that stand for released children asks the
        # loop for its debug mode; that code reading _children again gets
        # the list, and the outer read still finds it whole
        seen = []
        g = None

        def get_debug():
            if g is not None and not seen:
                seen.append(g._children)
            return False

        async def main():
            nonlocal g
            fut = self.loop.create_future()
            g = asyncio.gather(leaf(1), leaf(2), fut)
            self.loop.get_debug = get_debug
            try:
                children = g._children
            finally:
                del self.loop.get_debug
            self.assertEqual([c.result() for c in children[:2]], [1, 2])
            self.assertIs(children[2], fut)
            fut.set_result(3)
            return await g
        self.assertEqual(self.run_main(main), [1, 2, 3])
        if self.gather_releases():
            self.assertEqual(len(seen), 1)
            self.assertIs(seen[0], g._children)

    def test_task_group_of_eager_children(self):
        async def main():
            async with asyncio.TaskGroup() as tg:
                ts = [tg.create_task(leaf(i)) for i in range(5)]
                self.assertTrue(all(t.done() for t in ts))
                self.assertEqual(tg._tasks, set())
                fut = self.loop.create_future()
                pending = tg.create_task(leaf_after(fut, 'late'))
                self.assertEqual(tg._tasks, {pending})
                self.loop.call_soon(fut.set_result, None)
            return [t.result() for t in ts] + [pending.result()]

        async def leaf_after(fut, value):
            await fut
            return value
        self.assertEqual(self.run_main(main), [0, 1, 2, 3, 4, 'late'])

    def test_task_group_sibling_fails_eagerly(self):
        log = []

        async def slow(fut):
            try:
                await fut
            except asyncio.CancelledError:
                log.append('slow cancelled')
                raise

        async def main():
            fut = self.loop.create_future()
            try:
                async with asyncio.TaskGroup() as tg:
                    ok = tg.create_task(leaf('ok'))
                    pending = tg.create_task(slow(fut))
                    bad = tg.create_task(fail(ValueError('eager failure')))
                    # the group aborted within that create_task()
                    self.assertTrue(bad.done())
                    self.assertTrue(pending.cancelling())
                    coro = leaf('refused')
                    with self.assertRaisesRegex(RuntimeError,
                                                'shutting down'):
                        tg.create_task(coro)
                    coro.close()
                    log.append('body goes on until it awaits')
                    await asyncio.sleep(0)
                    log.append('not reached')
            except ExceptionGroup as eg:
                log.append([type(e).__name__ for e in eg.exceptions])
            self.assertEqual(ok.result(), 'ok')
            self.assertTrue(pending.cancelled())
            self.assertEqual(asyncio.current_task().cancelling(), 0)
            return 'parent survives'
        self.assertEqual(self.run_main(main), 'parent survives')
        self.assertEqual(log, ['body goes on until it awaits',
                               'slow cancelled', ['ValueError']])

    def test_task_group_base_error_in_eager_child(self):
        async def main():
            with self.assertRaises(KeyboardInterrupt):
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fail(KeyboardInterrupt()))
        self.run_main(main)

    # --- reentrancy ---

    def test_nested_eager_steps(self):
        depth = 50

        async def level(n):
            me = asyncio.current_task()
            if n == 0:
                return [me]
            child = self.loop.create_task(level(n - 1))
            # the child finished in its eager step, and this task is
            # current again
            self.assertIs(asyncio.current_task(), me)
            return [me] + child.result()

        async def main():
            t = self.loop.create_task(level(depth))
            self.assertTrue(t.done())
            return t.result()
        chain = self.run_main(main)
        self.assertEqual(len(set(chain)), depth + 1)
        self.assertTrue(all(t.done() for t in chain))

    def test_eager_step_reinitialises_itself(self):
        async def child():
            coro = leaf('other')
            try:
                asyncio.current_task().__init__(coro, loop=self.loop)
            finally:
                coro.close()

        async def main():
            t = self.loop.create_task(child())
            with self.assertRaisesRegex(RuntimeError, 'pending'):
                t.result()
        self.run_main(main)

    def test_debug_mode(self):
        self.loop.set_debug(True)

        async def main():
            t = self.loop.create_task(leaf(1))
            self.assertTrue(t._source_traceback)
            fut = self.loop.create_future()
            u = self.loop.create_task(fut_waiter(fut))
            fut.set_result(2)
            return t.result(), await u

        async def fut_waiter(fut):
            return await fut
        self.assertEqual(self.run_main(main), (1, 2))


DEEP_SCRIPT = r'''
import asyncio, sys
from asyncio import tasks
Task = getattr(tasks, sys.argv[1])
how = sys.argv[2]
DEPTH = int(sys.argv[3])
if sys.argv[4] != 'default':
    sys.setrecursionlimit(int(sys.argv[4]))

async def via_create_task(n):
    if n == 0:
        return 0
    return await asyncio.get_running_loop().create_task(
        via_create_task(n - 1)) + 1

async def via_gather(n):
    if n == 0:
        return 0
    return (await asyncio.gather(via_gather(n - 1)))[0] + 1

async def main():
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.create_eager_task_factory(Task))
    me = asyncio.current_task()
    node = via_create_task if how == 'create_task' else via_gather
    try:
        outcome = await node(DEPTH)
    except RecursionError as exc:
        outcome = f'RecursionError: {exc}'
    # the registry is as it was, and eager tasks still work
    assert asyncio.current_task() is me
    assert asyncio.all_tasks() == {me}, asyncio.all_tasks()
    assert (await node(10)) == 10
    return outcome

print(asyncio.run(main()))
'''


TOO_DEEP = ('RecursionError: maximum nesting depth of eager task steps '
            '(1000) exceeded')


class EagerDeepNestingCases:
    """Ten thousand nested eager steps, each making the next task eagerly:
    the result or a RecursionError, never a crash of the C stack, even with
    a recursion limit that would let the C stack overflow."""

    def run_deep(self, how, depth, limit):
        proc = subprocess.run(
            [sys.executable, '-X', 'faulthandler', '-c', DEEP_SCRIPT,
             self.task_name, how, str(depth), str(limit)],
            capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        return proc

    def test_deep_default_limit(self):
        for how in ('create_task', 'gather'):
            with self.subTest(how=how):
                out = self.run_deep(how, 10_000, 'default').stdout.strip()
                self.assertRegex(out, '^RecursionError: maximum recursion '
                                 'depth exceeded')

    def test_deep_raised_limit(self):
        # (the C stack of the main thread, 8 MiB, held some 5000 nested
        # eager steps of the C Task, 3000 of the Python one)
        for how in ('create_task', 'gather'):
            with self.subTest(how=how):
                proc = self.run_deep(how, 10_000, 10 ** 6)
                self.assertEqual((proc.stdout.strip(), proc.stderr),
                                 (TOO_DEEP, ''))
                # just under the bound, all of it runs eagerly
                proc = self.run_deep(how, 990, 10 ** 6)
                self.assertEqual((proc.stdout.strip(), proc.stderr),
                                 ('990', ''))


@unittest.skipUnless(HAVE_C_TASK, 'requires the C Task')
class CEagerTests(EagerCases, test_utils.TestCase):
    Task = getattr(tasks, '_CTask', None)


@unittest.skipUnless(HAVE_C_TASK, 'requires the C Task')
class CSubEagerTests(EagerCases, test_utils.TestCase):
    if HAVE_C_TASK:
        class Task(tasks._CTask):
            pass


@unittest.skipUnless(HAVE_C_TASK, 'requires the C Task')
class CEagerTaskContextTests(cfork_helpers.LoopCases, test_utils.TestCase):
    """After its eager step, a C task that finished or waits for a C future
    keeps its context's variables in place of the Context when nothing
    else holds that (it makes the Context again when one is needed): in a
    tree of eager tasks, where a gather() holds its done children until the
    last is done, one object fewer per task for the garbage collector."""

    def contexts(self, obj):
        return [r for r in gc.get_referents(obj)
                if isinstance(r, contextvars.Context)]

    def test_context_object(self):
        class Sub(tasks._CTask):
            pass
        held = []

        async def child(fut=None, hold=False):
            if hold:
                held.append(asyncio.current_task().get_context())
            if fut is not None:
                await fut

        async def main():
            for cls in (tasks._CTask, Sub):
                with self.subTest(cls=cls):
                    done = cls(child(), eager_start=True)
                    self.assertTrue(done.done())
                    self.assertEqual(self.contexts(done), [])
                    ctx = done.get_context()
                    self.assertEqual(self.contexts(done), [ctx])
                    # one that keeps a reference: kept
                    kept = cls(child(hold=True), eager_start=True)
                    self.assertTrue(kept.done())
                    self.assertEqual(self.contexts(kept), [held[-1]])
                    # a context of its own that the caller holds: kept
                    given = contextvars.Context()
                    mine = cls(child(), eager_start=True, context=given)
                    self.assertEqual(self.contexts(mine), [given])
                    # waiting for a future: the future keeps just the
                    # task, and the task just the variables, until the
                    # future wakes it in its context, made again
                    fut = self.loop.create_future()
                    pending = cls(child(fut), eager_start=True)
                    self.assertFalse(pending.done())
                    self.assertEqual(self.contexts(pending), [])
                    self.assertEqual(self.contexts(fut), [])
                    fut.set_result(None)
                    await pending
                    self.assertEqual(len(self.contexts(pending)), 1)
                    # rescheduled by a bare yield: its handle holds the
                    # Context, which stays the task's
                    yielding = cls(child(bare_yield()), eager_start=True)
                    self.assertEqual(len(self.contexts(yielding)), 1)
                    await yielding
        self.loop.run_until_complete(main())
        self.assertEqual(self.errors, [])


class PyEagerTests(EagerCases, test_utils.TestCase):
    Task = tasks._PyTask


@unittest.skipUnless(HAVE_C_TASK, 'requires the C Task')
class CEagerDeepTests(EagerDeepNestingCases, unittest.TestCase):
    task_name = '_CTask'


class PyEagerDeepTests(EagerDeepNestingCases, unittest.TestCase):
    task_name = '_PyTask'


if __name__ == '__main__':
    unittest.main()
