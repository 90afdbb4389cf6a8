"""Edge cases of asyncio.Task and the task bookkeeping functions.

Each case runs against tasks._CTask (our Modules/_asynciomodule.c), a
Python subclass of it and tasks._PyTask; where they are documented to
differ the assertion says which class it is about.  The crash classes seen
upstream are also run in a child interpreter, so that a crash fails one
test rather than the whole run.  The last tests run real code (an aiohttp
server, a uvloop loop) on the C Task when those packages are installed.
"""

import asyncio
import contextvars
import gc
import subprocess
import sys
import types
import unittest
import weakref
from asyncio import tasks
from test.support import script_helper
from test.test_asyncio import cfork_helpers
from test.test_asyncio import utils as test_utils
from test.test_asyncio.cfork_helpers import OUR_BUILD


def tearDownModule():
    asyncio.set_event_loop_policy(None)


HAVE_C_TASK = hasattr(tasks, '_CTask')
# __init__ refuses to start a pending task afresh (gh-142615) on our
# build, C and Python classes alike; stock 3.11 lets it.
INIT_ONCE = OUR_BUILD


def is_registered(task):
    """Whether task is registered (in tasks._all_tasks)."""
    return task in tasks._all_tasks


HANG_SCRIPT = """
import asyncio, sys
from asyncio import tasks
Task = getattr(tasks, sys.argv[1])
if sys.argv[2] == 'sub':
    Task = type('Task', (Task,), {})
async def other():
    return 'other'
async def inner():
    coro = other()
    try:
        asyncio.current_task().__init__(coro)
    finally:
        coro.close()
    return 'inner'
async def main():
    try:
        return await Task(inner())
    except RuntimeError as exc:
        return f'RuntimeError: {exc}'
print(asyncio.run(main()))
"""


class TaskEdgeCases(cfork_helpers.LoopCases):
    Task = None

    @property
    def is_c(self):
        return HAVE_C_TASK and issubclass(self.Task, tasks._CTask)

    def run_loop(self, coro_or_task):
        return self.loop.run_until_complete(coro_or_task)

    # --- wrong input ---

    def test_not_a_coroutine(self):
        for bad in (1, None, lambda: None, iter([])):
            with self.subTest(bad=bad):
                with self.assertRaises(TypeError) as cm:
                    self.Task(bad, loop=self.loop)
                self.assertEqual(str(cm.exception),
                                 f'a coroutine was expected, got {bad!r}')
        gc.collect()
        # a task refused this way is not reported as pending when destroyed
        self.assertEqual(self.errors, [])

    def test_not_a_coroutine_function(self):
        async def coro():
            pass
        with self.assertRaises(TypeError):
            self.Task(coro, loop=self.loop)

    def test_name(self):
        async def coro():
            pass
        t1 = self.Task(coro(), loop=self.loop)
        t2 = self.Task(coro(), loop=self.loop, name=42)
        self.assertRegex(t1.get_name(), r'^Task-\d+$')
        self.assertEqual(t2.get_name(), '42')
        t1.set_name(('a', 1))
        self.assertEqual(t1.get_name(), "('a', 1)")
        t3 = self.Task(coro(), loop=self.loop)
        n1 = int(self.Task(coro(), loop=self.loop).get_name()[5:])
        n3 = int(t3.get_name()[5:])
        self.assertEqual(n1, n3 + 1)    # one counter, even when read late
        self.run_loop(asyncio.sleep(0))

    def test_future_of_other_loop(self):
        other = asyncio.new_event_loop()
        self.addCleanup(other.close)

        async def coro():
            await other.create_future()
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaisesRegex(RuntimeError,
                                    'attached to a different loop'):
            self.run_loop(t)

    def test_await_itself(self):
        async def coro():
            await t
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaisesRegex(RuntimeError,
                                    '^Task cannot await on itself: '):
            self.run_loop(t)

    def test_bare_yield_of_junk(self):
        @types.coroutine
        def junk():
            yield 42

        async def coro():
            await junk()
        with self.assertRaisesRegex(RuntimeError,
                                    '^Task got bad yield: 42$'):
            self.run_loop(self.Task(coro(), loop=self.loop))

    def test_yield_of_generator(self):
        def gen():
            yield

        @types.coroutine
        def yields_gen():
            yield gen()

        async def coro():
            await yields_gen()
        with self.assertRaisesRegex(RuntimeError,
                                    'yield was used instead of yield from '
                                    'for generator in task'):
            self.run_loop(self.Task(coro(), loop=self.loop))

    # --- futures that lie about _asyncio_future_blocking ---

    def make_liar(self, blocking, loop=None):
        test = self

        class Liar:
            _asyncio_future_blocking = blocking
            callbacks = []

            def get_loop(self):
                return test.loop if loop is None else loop

            def add_done_callback(self, fn, *, context=None):
                self.callbacks.append((fn, context))

            def cancel(self, msg=None):
                return False

            def result(self):
                return 'liar'

            def __await__(self):
                return (yield self)
        return Liar()

    def test_liar_not_blocking(self):
        liar = self.make_liar(False)

        @types.coroutine
        def yields_liar():
            yield liar

        async def coro():
            await yields_liar()
        with self.assertRaisesRegex(RuntimeError,
                                    'yield was used instead of yield from '
                                    'in task'):
            self.run_loop(self.Task(coro(), loop=self.loop))

    def test_liar_blocking_is_woken(self):
        liar = self.make_liar(True)

        async def coro():
            return await liar
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        self.assertIs(t._fut_waiter, liar)
        self.assertFalse(liar._asyncio_future_blocking)
        ((fn, ctx),) = liar.callbacks
        self.assertIsInstance(ctx, contextvars.Context)
        fn(liar)                  # the liar says it is done
        self.assertTrue(t.done())
        self.assertEqual(t.result(), None)   # `yield self` got None back

    def test_liar_flag_raises(self):
        class Liar:
            @property
            def _asyncio_future_blocking(self):
                raise ZeroDivisionError

        @types.coroutine
        def yields_liar():
            yield Liar()

        async def coro():
            await yields_liar()
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        # the error escapes the step and reaches the loop's handler
        self.assertEqual(len(self.errors), 1)
        self.assertIsInstance(self.errors[0]['exception'], ZeroDivisionError)
        self.assertFalse(t.done())
        t.get_coro().close()

    def test_liar_of_other_loop(self):
        other = asyncio.new_event_loop()
        self.addCleanup(other.close)
        liar = self.make_liar(True, loop=other)

        async def coro():
            await liar
        with self.assertRaisesRegex(RuntimeError,
                                    'attached to a different loop'):
            self.run_loop(self.Task(coro(), loop=self.loop))

    # --- coroutines that raise BaseException subclasses ---

    def test_base_exception_subclass(self):
        class MyBase(BaseException):
            pass

        async def coro():
            raise MyBase('b')
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaises(MyBase):
            self.run_loop(t)
        self.assertIsInstance(t.exception(), MyBase)

    def test_keyboard_interrupt_propagates(self):
        async def coro():
            raise KeyboardInterrupt
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaises(KeyboardInterrupt):
            self.run_loop(t)
        self.assertTrue(t.done())
        self.assertIsInstance(t.exception(), KeyboardInterrupt)

    def test_system_exit_propagates(self):
        async def coro():
            raise SystemExit(3)
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaises(SystemExit):
            self.run_loop(t)
        self.assertEqual(t.exception().code, 3)

    def test_cancelled_error_subclass_cancels(self):
        class MyCancel(asyncio.CancelledError):
            pass

        async def coro():
            raise MyCancel('m')
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaises(asyncio.CancelledError):
            self.run_loop(t)
        self.assertTrue(t.cancelled())

    def test_cancel_message_and_count(self):
        async def coro():
            await asyncio.sleep(10)
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        self.assertTrue(t.cancel('first'))
        self.assertTrue(t.cancel('second'))
        self.assertEqual(t.cancelling(), 2)
        self.assertEqual(t.uncancel(), 1)
        with self.assertRaises(asyncio.CancelledError) as cm:
            self.run_loop(t)
        self.assertEqual(cm.exception.args, ('first',))
        self.assertFalse(t.cancel())

    # --- bookkeeping ---

    def test_current_and_all_tasks(self):
        async def coro():
            self.assertIs(asyncio.current_task(), t)
            self.assertIn(t, asyncio.all_tasks())
            return 1
        t = self.Task(coro(), loop=self.loop)
        self.assertIn(t, asyncio.all_tasks(self.loop))
        self.assertEqual(self.run_loop(t), 1)
        self.assertIsNone(asyncio.current_task(self.loop))
        self.assertNotIn(t, asyncio.all_tasks(self.loop))

    # --- the crash classes seen upstream ---

    def test_context_freed_while_step_scheduled(self):
        task = None
        calls = []
        refused = []

        class Loop(asyncio.SelectorEventLoop):
            def call_soon(self, callback, *args, context=None):
                if task is not None and not calls:
                    calls.append(context)
                    # replaces (and frees) the context being passed to us,
                    # where a pending task may be made afresh
                    coro = fresh()
                    try:
                        task.__init__(coro, loop=self,
                                      context=contextvars.Context())
                    except RuntimeError as exc:
                        refused.append(str(exc))
                        coro.close()
                    gc.collect()
                    self.assertIsInstance(context, contextvars.Context)
                return super().call_soon(callback, *args, context=context)

        async def fresh():
            return 'fresh'

        async def first():
            await asyncio.sleep(0)
            return 'first'

        loop = Loop()
        self.addCleanup(loop.close)
        loop.set_exception_handler(
            lambda loop, context: self.errors.append(context))
        loop.assertIsInstance = self.assertIsInstance
        first_coro = first()
        self.addCleanup(first_coro.close)
        task = self.Task(first_coro, loop=loop, context=contextvars.Context())
        for _ in range(5):
            test_utils.run_briefly(loop)
        self.assertEqual(len(calls), 1)
        if INIT_ONCE:
            self.assertEqual(refused, [
                '__init__() called again on a pending '
                + type(task).__name__])
            self.assertEqual(task.result(), 'first')
            self.assertEqual(self.errors, [])
            return
        self.assertEqual(task.result(), 'fresh')
        # the step scheduled for the replaced coroutine finds the task done
        self.assertEqual(len(self.errors), 1)
        self.assertRegex(str(self.errors[0]['exception']), 'already done')

    def test_new_without_init(self):
        t = self.Task.__new__(self.Task)
        self.assertFalse(t.done())
        if self.is_c:
            self.assertIsNone(t.get_coro())
            self.assertIsNone(t.get_context())
            self.assertIsNone(t.get_name())
            with self.assertRaisesRegex(RuntimeError, 'not initialized'):
                t.get_loop()
            repr(t)
        else:
            # (the Python Task's __del__ would fail on the missing _loop)
            t._log_destroy_pending = False
        del t
        gc.collect()
        self.assertEqual(self.errors, [])

    def test_init_again_while_running(self):
        results = []

        async def second():
            results.append('second')
            return 2

        async def first():
            # re-initialise the task from inside its own step
            coro = second()
            try:
                t.__init__(coro, loop=self.loop)
            except RuntimeError:
                coro.close()
                raise
            await asyncio.sleep(0)
            results.append('first')
            return 1

        t = self.Task(first(), loop=self.loop)
        for _ in range(6):
            test_utils.run_briefly(self.loop)
        self.assertTrue(t.done())
        if INIT_ONCE:
            self.assertEqual(results, [])
            with self.assertRaisesRegex(RuntimeError,
                                        'called again on a pending'):
                t.result()
        else:
            self.assertIn('second', results)

    def test_init_again_while_awaited_does_not_hang(self):
        # The task re-initialised from its own coroutine used to drop the
        # callback of the task awaiting it, and asyncio.run() waited
        # forever (stock 3.11 does).  Run in a child with a time limit, so
        # that a hang fails the test instead of stopping the run.
        if not INIT_ONCE:
            self.skipTest('3.11 lets __init__ restart a pending task')
        base = '_CTask' if self.is_c else '_PyTask'
        kind = 'base' if self.Task is getattr(tasks, base) else 'sub'
        try:
            proc = subprocess.run(
                [sys.executable, '-X', 'faulthandler', '-c', HANG_SCRIPT,
                 base, kind], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            self.fail('asyncio.run() hangs')
        self.assertEqual((proc.returncode, proc.stderr), (0, ''))
        self.assertEqual(proc.stdout.strip(), 'RuntimeError: __init__() '
                         'called again on a pending Task')

    def test_init_again_when_done(self):
        async def coro(x):
            return x
        t = self.Task(coro(1), loop=self.loop)
        self.assertEqual(self.run_loop(t), 1)
        t.__init__(coro(2), loop=self.loop)
        if self.is_c:
            # the C task starts afresh
            self.assertEqual(self.run_loop(t), 2)
        else:
            test_utils.run_briefly(self.loop)
            t.get_coro().close()

    def test_finaliser_handler_reregisters_task(self):
        kept = []

        def handler(loop, context):
            self.errors.append(context)
            task = context.get('task')
            if task is not None:
                tasks._register_task(task)
                kept.append(task)
        self.loop.set_exception_handler(handler)

        async def coro():
            await asyncio.sleep(10)
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        r = weakref.ref(t)
        # drop every reference: the loop's timer handle holds the sleep
        # future, which holds the task's wakeup; cancel the timer's future
        t._fut_waiter.remove_done_callback(t._fut_waiter._callbacks[0][0])
        del t
        gc.collect()
        self.assertEqual([c['message'] for c in self.errors],
                         ['Task was destroyed but it is pending!'])
        self.assertIs(kept[0], r())
        self.assertTrue(is_registered(kept[0]))
        kept[0].get_coro().close()
        kept.clear()
        self.errors.clear()
        gc.collect()
        self.assertIsNone(r())

    def test_unretrieved_exception_reported(self):
        async def coro():
            raise ValueError('lost')
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        self.assertTrue(t.done())
        del t
        gc.collect()
        self.assertEqual(len(self.errors), 1)
        self.assertEqual(self.errors[0]['message'],
                         'Task exception was never retrieved')
        self.assertEqual(str(self.errors[0]['exception']), 'lost')

    def test_pending_and_cycle_collected(self):
        holder = [self.loop.create_future()]

        async def coro():
            await holder[0]
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        r = weakref.ref(t)
        del t
        holder.clear()
        gc.collect()
        self.assertIsNone(r())
        self.assertEqual([c['message'] for c in self.errors],
                         ['Task was destroyed but it is pending!'])

    def test_subclass_overrides(self):
        calls = []

        class Sub(self.Task):
            def cancel(self, msg=None):
                calls.append('cancel')
                return super().cancel(msg)

            def _repr_info(self):
                return ['sub']

        async def inner():
            await asyncio.sleep(10)

        async def outer():
            await inner_task

        inner_task = Sub(inner(), loop=self.loop)
        outer_task = self.Task(outer(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        outer_task.cancel()
        # the waiter is cancelled through its (overridden) method
        self.assertEqual(calls, ['cancel'])
        if self.is_c:
            self.assertEqual(repr(inner_task), '<Sub sub>')
        with self.assertRaises(asyncio.CancelledError):
            self.run_loop(outer_task)


@unittest.skipUnless(HAVE_C_TASK, 'requires the C _asyncio module')
class CTaskEdgeTests(TaskEdgeCases, test_utils.TestCase):
    Task = getattr(tasks, '_CTask', None)

    def test_is_the_c_class(self):
        import _asyncio
        self.assertIs(asyncio.Task, _asyncio.Task)
        self.assertTrue(issubclass(asyncio.Task, asyncio.Future))

    def test_callbacks_look_like_bound_methods(self):
        async def coro():
            await fut
        fut = self.loop.create_future()
        t = self.Task(coro(), loop=self.loop)
        test_utils.run_briefly(self.loop)
        ((wakeup, ctx),) = fut._callbacks
        self.assertEqual(wakeup.__qualname__, 'Task.__wakeup')
        self.assertIs(wakeup.__self__, t)
        with self.assertRaises(TypeError):
            wakeup()
        fut.set_result(None)
        self.run_loop(t)

    def test_waiting_task_is_kept_by_the_future(self):
        # A C future awaited by a C task keeps the task itself as its first
        # callback, and makes the task's __wakeup only when the loop is to
        # call it or Python code reads the callbacks: no object per waiting
        # task.  Whichever way, the task wakes up in its own context.
        var = contextvars.ContextVar('var')

        async def coro(fut):
            var.set('mine')
            await fut
            return var.get()

        def wakeups(fut):
            return [r for r in gc.get_referents(fut)
                    if type(r).__name__ == 'TaskCallback']

        for how in ('callbacks read', 'removed and added', 'untouched',
                    'cancelled'):
            with self.subTest(how=how):
                fut = self.loop.create_future()
                t = self.Task(coro(fut), loop=self.loop)
                test_utils.run_briefly(self.loop)
                self.assertEqual(wakeups(fut), [])
                self.assertIn(t, gc.get_referents(fut))
                if how == 'callbacks read':
                    ((wakeup, ctx),) = fut._callbacks
                    self.assertIs(wakeup.__self__, t)
                    self.assertIs(ctx, t.get_context())
                    self.assertEqual(wakeups(fut), [wakeup])
                    self.assertEqual(fut._callbacks, [(wakeup, ctx)])
                elif how == 'removed and added':
                    ((wakeup, ctx),) = fut._callbacks
                    self.assertEqual(fut.remove_done_callback(wakeup), 1)
                    self.assertEqual(fut._callbacks, [])
                    fut.add_done_callback(wakeup, context=ctx)
                if how == 'cancelled':
                    t.cancel()
                    self.assertTrue(fut.cancelled())
                    with self.assertRaises(asyncio.CancelledError):
                        self.loop.run_until_complete(t)
                else:
                    fut.set_result(None)
                    self.assertEqual(self.loop.run_until_complete(t), 'mine')
        # a task awaiting a future that has a callback already
        fut = self.loop.create_future()
        fut.add_done_callback(str)
        t = self.Task(coro(fut), loop=self.loop)
        test_utils.run_briefly(self.loop)
        self.assertIs(fut._callbacks[1][0].__self__, t)
        fut.set_result(None)
        self.assertEqual(self.loop.run_until_complete(t), 'mine')
        self.assertEqual(self.errors, [])

    def test_attributes_cannot_be_deleted(self):
        async def coro():
            pass
        t = self.Task(coro(), loop=self.loop)
        with self.assertRaises(AttributeError):
            del t._log_destroy_pending
        self.run_loop(t)


@unittest.skipUnless(HAVE_C_TASK, 'requires the C _asyncio module')
class CSubTaskEdgeTests(TaskEdgeCases, test_utils.TestCase):
    if HAVE_C_TASK:
        class Task(tasks._CTask):
            pass


class PyTaskEdgeTests(TaskEdgeCases, test_utils.TestCase):
    Task = tasks._PyTask


class BookkeepingCases:
    register = unregister = enter = leave = None

    def test_enter_reentrant(self):
        loop, t1, t2 = object(), object(), object()
        self.enter(loop, t1)
        try:
            with self.assertRaisesRegex(
                    RuntimeError, f'^Cannot enter into task {t2!r} while '
                    f'another task {t1!r} is being executed.$'):
                self.enter(loop, t2)
            with self.assertRaisesRegex(RuntimeError, 'Cannot enter'):
                self.enter(loop, t1)
            self.assertIs(tasks._current_tasks[loop], t1)
        finally:
            self.leave(loop, t1)

    def test_leave_wrong_task(self):
        loop, t1, t2 = object(), object(), object()
        with self.assertRaisesRegex(
                RuntimeError, f'^Leaving task {t1!r} does not match the '
                f'current task None.$'):
            self.leave(loop, t1)
        self.enter(loop, t1)
        try:
            with self.assertRaisesRegex(
                    RuntimeError, f'^Leaving task {t2!r} does not match the '
                    f'current task {t1!r}.$'):
                self.leave(loop, t2)
        finally:
            self.leave(loop, t1)
        self.assertNotIn(loop, tasks._current_tasks)

    def test_unhashable_loop(self):
        with self.assertRaises(TypeError):
            self.enter([], object())
        with self.assertRaises(TypeError):
            self.leave([], object())

    def test_enter_and_leave_on_a_real_loop(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        t1, t2 = object(), object()
        self.assertIsNone(asyncio.current_task(loop))
        self.enter(loop, t1)
        try:
            self.assertIs(asyncio.current_task(loop), t1)
            self.assertIs(asyncio.current_task(loop=loop), t1)
            with self.assertRaisesRegex(RuntimeError, '^Cannot enter'):
                self.enter(loop, t2)
            with self.assertRaisesRegex(RuntimeError, 'does not match'):
                self.leave(loop, t2)
        finally:
            self.leave(loop, t1)
        self.assertIsNone(asyncio.current_task(loop))
        with self.assertRaisesRegex(RuntimeError, '^Leaving task'):
            self.leave(loop, t1)

    def test_loop_key_that_edits_current_tasks(self):
        # A loop whose __eq__ empties _current_tasks while enter() or
        # leave() looks the loop up: the lookups see what is left, and the
        # table ends as the pure functions leave it.
        class Key:
            edit = None

            def __hash__(self):
                return 7

            def __eq__(self, other):
                if self.edit is not None:
                    edit, self.edit = self.edit, None
                    edit()
                return self is other
        k1, k2, t1, t2 = Key(), Key(), object(), object()
        self.enter(k2, t2)
        try:
            k2.edit = lambda: tasks._current_tasks.pop(k2)
            self.enter(k1, t1)         # compares k2 with k1, which drops k2
            self.assertEqual(list(tasks._current_tasks.items()), [(k1, t1)])
            self.enter(k2, t2)
            k1.edit = lambda: tasks._current_tasks.pop(k2)
            self.leave(k2, t2)         # the lookup drops k2: not found
        except RuntimeError as exc:
            self.assertEqual(str(exc), f'Leaving task {t2!r} does not match '
                                       f'the current task None.')
        else:
            self.fail('leave() found a task its lookup removed')
        finally:
            tasks._current_tasks.pop(k1, None)
            tasks._current_tasks.pop(k2, None)
        self.assertNotIn(k1, tasks._current_tasks)

    def test_register_weakly(self):
        class T:
            def get_loop(self):
                return None

            def done(self):
                return False
        t = T()
        self.register(t)
        self.assertIn(t, tasks._all_tasks)
        r = weakref.ref(t)
        del t
        gc.collect()
        self.assertIsNone(r())
        self.unregister(T())           # not registered: no error
        with self.assertRaises(TypeError):
            self.register(1)           # cannot be weakly referenced


class PyBookkeepingTests(BookkeepingCases, unittest.TestCase):
    register = staticmethod(tasks._py_register_task)
    unregister = staticmethod(tasks._py_unregister_task)
    enter = staticmethod(tasks._py_enter_task)
    leave = staticmethod(tasks._py_leave_task)


@unittest.skipUnless(hasattr(tasks, '_c_register_task'), 'requires _asyncio')
class CBookkeepingTests(BookkeepingCases, unittest.TestCase):
    register = staticmethod(getattr(tasks, '_c_register_task', None))
    unregister = staticmethod(getattr(tasks, '_c_unregister_task', None))
    enter = staticmethod(getattr(tasks, '_c_enter_task', None))
    leave = staticmethod(getattr(tasks, '_c_leave_task', None))

    def count(self, task):
        return sum(t is task for t in tasks._all_tasks)

    def test_c_tasks_are_listed_natively(self):
        # Tasks of the C class, subclasses included, are registered in
        # _asyncio's own list instead of the WeakSet of other tasks:
        # without a weak reference.
        class Sub(tasks._CTask):
            pass

        async def coro():
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        before = len(tasks._all_tasks)
        for cls in (tasks._CTask, Sub):
            with self.subTest(cls=cls.__name__):
                t = cls(coro(), loop=loop)
                self.assertIn(t, tasks._all_tasks)
                self.assertEqual(weakref.getweakrefcount(t), 0)
                self.assertEqual(self.count(t), 1)
                self.assertIn(t, asyncio.all_tasks(loop))
                self.unregister(t)
                self.assertEqual(self.count(t), 0)
                self.assertNotIn(t, tasks._all_tasks)
                self.assertNotIn(t, asyncio.all_tasks(loop))
                self.unregister(t)     # not registered: no error
                self.register(t)
                self.register(t)       # twice: listed once
                self.assertEqual(self.count(t), 1)
                loop.run_until_complete(t)
                # done tasks stay registered, all_tasks() leaves them out
                self.assertEqual(self.count(t), 1)
                self.assertNotIn(t, asyncio.all_tasks(loop))
                del t
                gc.collect()
                self.assertEqual(len(tasks._all_tasks), before)

    def test_collected_cycle_leaves_the_list(self):
        async def coro():
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        before = len(tasks._all_tasks)
        t = tasks._CTask(coro(), loop=loop)
        loop.run_until_complete(t)
        t.itself = t                   # a cycle only the GC can free
        r = weakref.ref(t)
        del t
        self.assertEqual(len(tasks._all_tasks), before + 1)
        gc.collect()
        self.assertIsNone(r())
        self.assertEqual(len(tasks._all_tasks), before)

    def test_all_tasks_reads_both_registries(self):
        class TaskLike:
            def __init__(self, loop):
                self.loop = loop

            def get_loop(self):
                return self.loop

            def done(self):
                return False

        async def coro():
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        c_task = tasks._CTask(coro(), loop=loop)
        other = TaskLike(loop)
        self.register(other)
        self.addCleanup(self.unregister, other)
        self.assertIn(other, tasks._all_tasks)
        self.assertEqual(asyncio.all_tasks(loop), {c_task, other})
        loop.run_until_complete(c_task)
        self.assertEqual(asyncio.all_tasks(loop), {other})

    def test_loop_core_keeps_its_current_task(self):
        # A loop built on the C core holds the task it runs; what the pure
        # functions put in _current_tasks still counts.
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        t = object()
        self.enter(loop, t)
        self.assertNotIn(loop, tasks._current_tasks)
        self.assertIs(asyncio.current_task(loop), t)
        self.leave(loop, t)
        tasks._py_enter_task(loop, t)
        try:
            self.assertIs(tasks._current_tasks[loop], t)
            self.assertIs(asyncio.current_task(loop), t)
            with self.assertRaisesRegex(RuntimeError, '^Cannot enter'):
                self.enter(loop, object())
            self.leave(loop, t)
        finally:
            tasks._current_tasks.pop(loop, None)
        self.assertNotIn(loop, tasks._current_tasks)
        self.assertIsNone(asyncio.current_task(loop))

    def test_current_task_function(self):
        import _asyncio
        self.assertIs(asyncio.current_task, _asyncio.current_task)
        self.assertIsNot(tasks._py_current_task, _asyncio.current_task)
        for current_task in (asyncio.current_task, tasks._py_current_task):
            with self.subTest(current_task=current_task):
                with self.assertRaisesRegex(RuntimeError,
                                            '^no running event loop$'):
                    current_task()
                with self.assertRaisesRegex(RuntimeError,
                                            '^no running event loop$'):
                    current_task(None)
                with self.assertRaises(TypeError):
                    current_task([])     # unhashable, as a dict key
                with self.assertRaises(TypeError):
                    current_task(None, None)
                self.assertIsNone(current_task(object()))

        async def main():
            return asyncio.current_task(), asyncio.current_task(loop=None)
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        task = loop.create_task(main())
        self.assertEqual(loop.run_until_complete(task), (task, task))

    def test_loop_and_its_current_task_collected(self):
        loop = asyncio.new_event_loop()
        loop.close()

        class TaskLike:
            pass
        t = TaskLike()
        t.loop = loop
        self.enter(loop, t)
        ref = weakref.ref(loop)
        del loop, t
        gc.collect()
        self.assertIsNone(ref())

    def test_loop_of_another_kind(self):
        # A C task on a loop that is no loop core keeps its current task in
        # _current_tasks, while it runs only; loops of both kinds in turn
        # each see their own task (the core remembers the last type of
        # each kind it met).
        class ForeignLoop:
            def __init__(self):
                self.ready = []

            def call_soon(self, callback, *args, context=None):
                self.ready.append((callback, args, context))

            def get_debug(self):
                return False

            def create_future(self):
                return asyncio.Future(loop=self)

            def run(self):
                while self.ready:
                    callback, args, context = self.ready.pop(0)
                    context.run(callback, *args)

        seen = []

        async def work(loop, core):
            for _ in range(3):
                seen.append((asyncio.current_task(loop),
                             tasks._current_tasks.get(loop),
                             asyncio.current_task(core)))
                await asyncio.sleep(0)
            return loop

        core = asyncio.new_event_loop()
        self.addCleanup(core.close)
        for _ in range(2):
            foreign = ForeignLoop()
            task = tasks._CTask(work(foreign, core), loop=foreign)
            foreign.run()
            self.assertIs(task.result(), foreign)
            self.assertEqual(seen, [(task, task, None)] * 3)
            self.assertNotIn(foreign, tasks._current_tasks)
            self.assertIsNone(asyncio.current_task(foreign))
            seen.clear()
            task = core.create_task(work(core, foreign))
            self.assertIs(core.run_until_complete(task), core)
            self.assertEqual(seen, [(task, None, None)] * 3)
            self.assertIsNone(asyncio.current_task(core))
            seen.clear()

    def test_objects_are_shared(self):
        import _asyncio
        self.assertIs(tasks._all_tasks, _asyncio._all_tasks)
        self.assertIs(tasks._current_tasks, _asyncio._current_tasks)
        self.assertIsInstance(_asyncio._current_tasks, dict)

    def test_all_tasks_set(self):
        # _all_tasks offers what asyncio.tasks uses of a WeakSet: add,
        # discard, iteration, len and membership, over both kinds of task.
        class TaskLike:
            pass

        async def coro():
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        registry = tasks._all_tasks
        before = len(registry)
        c_task = tasks._CTask(coro(), loop=loop)
        other = TaskLike()
        registry.add(other)
        self.assertEqual(len(registry), before + 2)
        self.assertIn(c_task, registry)
        self.assertIn(other, registry)
        listed = list(registry)
        self.assertEqual(len(listed), before + 2)
        self.assertTrue(any(t is c_task for t in listed))
        self.assertTrue(any(t is other for t in listed))
        registry.discard(other)
        registry.discard(c_task)
        registry.discard(other)        # not a member: no error
        self.assertNotIn(other, registry)
        self.assertNotIn(c_task, registry)
        self.assertEqual(len(registry), before)
        with self.assertRaises(TypeError):
            registry.add(1)            # cannot be weakly referenced
        with self.assertRaises(TypeError):
            type(registry)()           # made by _asyncio only
        loop.run_until_complete(c_task)


# --- crash classes, each in a child interpreter ---

CHILD_PRELUDE = r'''
import asyncio, contextvars, gc, sys
from asyncio import tasks
Task = getattr(tasks, sys.argv[1])
loop = asyncio.new_event_loop()
loop.set_exception_handler(lambda loop, context: None)
def run_briefly(n=5):
    for _ in range(n):
        loop.call_soon(loop.stop)
        loop.run_forever()
'''

CHILD_SCENARIOS = {
    'context_freed_while_scheduling': r'''
class Loop(asyncio.SelectorEventLoop):
    armed = True
    def call_soon(self, callback, *args, context=None):
        if self.armed and task is not None:
            self.armed = False
            fresh = coro()
            try:
                task.__init__(fresh, loop=self, context=contextvars.Context())
            except RuntimeError:    # (refused while the task is pending)
                fresh.close()
            gc.collect()
        return super().call_soon(callback, *args, context=context)
async def coro():
    await asyncio.sleep(0)
task = None
loop = Loop()
task = Task(coro(), loop=loop, context=contextvars.Context())
run_briefly()
''',
    'new_without_init': r'''
t = Task.__new__(Task)
for name in ('get_coro', 'get_context', 'get_name', 'done', 'cancelled',
             'cancelling', 'uncancel', 'cancel', '__repr__', 'get_stack'):
    try:
        getattr(t, name)()
    except Exception:
        pass
del t
gc.collect()
''',
    'init_again_while_running': r'''
async def second():
    await asyncio.sleep(0)
async def first():
    t.__init__(second(), loop=loop)
    await asyncio.sleep(0)
    t.__init__(second(), loop=loop)
    await asyncio.sleep(0)
t = Task(first(), loop=loop)
run_briefly(10)
''',
    'finaliser_reregisters': r'''
kept = []
def handler(loop, context):
    if 'task' in context:
        tasks._register_task(context['task'])
        kept.append(context['task'])
loop.set_exception_handler(handler)
fut = loop.create_future()
async def coro():
    await fut
t = Task(coro(), loop=loop)
run_briefly()
del t, fut
gc.collect()
assert len(kept) == 1, kept
kept.clear()
gc.collect()
''',
}


class ChildScenarioTests(cfork_helpers.ChildScenarioCases,
                         unittest.TestCase):
    prelude = CHILD_PRELUDE
    scenarios = CHILD_SCENARIOS
    classes = ['_PyTask'] + (['_CTask'] if HAVE_C_TASK else [])


# --- real code on the C Task ---
#
# Each runs in a child interpreter: importing aiohttp installs logging
# handlers, which the test runner would report as a changed environment.

AIOHTTP_SCRIPT = r'''
import asyncio
from asyncio import tasks
import aiohttp
from aiohttp import web

async def hello(request):
    assert type(asyncio.current_task()) is tasks._CTask
    return web.Response(text='hello ' + request.match_info['name'])

async def main():
    assert type(asyncio.current_task()) is tasks._CTask
    app = web.Application()
    app.router.add_get('/{name}', hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, '127.0.0.1', 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            bodies = []
            for name in ('a', 'b', 'c'):
                url = f'http://127.0.0.1:{port}/{name}'
                async with session.get(url) as resp:
                    assert resp.status == 200, resp.status
                    bodies.append(await resp.text())
            return bodies
    finally:
        await runner.cleanup()

print(asyncio.run(main()))
'''

UVLOOP_SCRIPT = r'''
import asyncio
from asyncio import tasks
import uvloop

async def child(i):
    await asyncio.sleep(0)
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.set_result, i * 2)
    return await fut

async def main():
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    assert type(asyncio.current_task()) is tasks._CTask
    results = await asyncio.gather(*(child(i) for i in range(20)))
    t = asyncio.create_task(asyncio.sleep(10))
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError('not cancelled')
    assert t.cancelled()
    return results

loop = uvloop.new_event_loop()
try:
    print(loop.run_until_complete(main()))
finally:
    loop.close()
'''


def have_module(name):
    res, cmd = script_helper.run_python_until_end('-c', f'import {name}')
    return res.rc == 0


@unittest.skipUnless(HAVE_C_TASK, 'requires the C _asyncio module')
class RealCodeTests(unittest.TestCase):

    def test_aiohttp_server_on_loopback(self):
        if not have_module('aiohttp'):
            self.skipTest('aiohttp is not installed')
        rc, out, err = script_helper.assert_python_ok('-c', AIOHTTP_SCRIPT)
        self.assertEqual(out.strip(), b"['hello a', 'hello b', 'hello c']")

    def test_uvloop_drives_c_task(self):
        if not have_module('uvloop'):
            self.skipTest('uvloop is not installed')
        rc, out, err = script_helper.assert_python_ok('-c', UVLOOP_SCRIPT)
        self.assertEqual(out.strip(),
                         str([i * 2 for i in range(20)]).encode())


if __name__ == '__main__':
    unittest.main()
