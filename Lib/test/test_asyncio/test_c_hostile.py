"""Hostile-input tests for the C Future and Task.

Each scenario below drives a Future or Task with something that fights back:
an __eq__ that mutates or resolves the future while remove_done_callback()
compares callbacks, callbacks that re-enter set_result() or cancel(), loops
whose call_soon() raises or returns junk, coroutines and futures that
resurrect themselves in finalisers, awaitables that lie about
_asyncio_future_blocking, and reference cycles through callbacks.

A scenario records what it observes (return values, exceptions, the order
callbacks run, errors the loop logs) into a trace.  It runs on the
pure-Python classes in this process, and on the C classes first in a child
interpreter, where a crash fails only that test, then in this process (so
that a reference-leak or sanitizer run sees the C code paths).  All traces
must be equal: the C classes must raise, or behave, exactly as the Python
ones do.  Scenarios whose upstream C and Python classes are known to differ
compare only what upstream agrees on; each says so.
"""

import ast
import asyncio
import collections.abc
import contextvars
import gc
import re
import sys
import unittest
import weakref
from asyncio import futures, tasks
from test.support import script_helper


def tearDownModule():
    asyncio.set_event_loop_policy(None)


FORK = '_asyncio' in sys.builtin_module_names
C_FUTURE = getattr(futures, '_CFuture', None)
C_TASK = getattr(tasks, '_CTask', None)
IMPLS = {'py': (futures._PyFuture, tasks._PyTask),
         'c': (C_FUTURE, C_TASK)}
requires_c = unittest.skipIf(
    C_FUTURE is None or C_TASK is None,
    'the C Future and Task (_asyncio.Future, _asyncio.Task) are not available')

ADDRESS = re.compile(r' at 0x[0-9a-f]+')
WAKEUP = re.compile(r'\w+\.(__wakeup|task_wakeup)\(\)')
STEP = re.compile(r'<TaskStepMethWrapper object>\(\)')
TASK_NAME = re.compile(r'Task-\d+')


def clean(text):
    text = ADDRESS.sub('', str(text))
    text = STEP.sub('Task.__step()', WAKEUP.sub('Task.<wakeup>()', text))
    return TASK_NAME.sub('Task-N', text)


class Env:
    """What a scenario works with: the classes, a loop and a trace."""

    def __init__(self, future, task):
        self.Future = future
        self.Task = task
        self.trace = []
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self.on_error)

    def note(self, *event):
        self.trace.append(tuple(clean(e) if not isinstance(e, (bool, int))
                                else e for e in event))

    def on_error(self, loop, context):
        exc = context.get('exception')
        self.note('logged', context['message'],
                  type(exc).__name__ if exc else '-')

    def attempt(self, label, func, *args, quiet=False, **kwargs):
        """Call func, note its result or exception, and return the result.

        With *quiet*, note only the type of the result or exception.
        """
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self.note(label, 'raised',
                      *describe(exc)[:1 if quiet else None])
            return None
        self.note(label, 'returned',
                  type(result).__name__ if quiet else repr(result))
        return result

    def steps(self, count=3):
        for _ in range(count):
            self.loop.call_soon(self.loop.stop)
            self.loop.run_forever()

    def future(self):
        return self.Future(loop=self.loop)

    def callback(self, label, action=None):
        """A done callback that notes its label, then runs *action*."""
        def callback(fut):
            self.note('callback', label, fut_state(fut))
            if action is not None:
                action(fut)
        callback.__qualname__ = label
        return callback

    def close(self):
        self.loop.close()
        gc.collect()


def describe(exc):
    if isinstance(exc, asyncio.InvalidStateError) and not FORK:
        # Upstream's C and Python classes word these differently; the fork's
        # C classes must word them as the Python ones do.
        return type(exc).__name__, '<message differs upstream>'
    return type(exc).__name__, str(exc)


def fut_state(fut):
    if not fut.done():
        return 'pending'
    if fut.cancelled():
        return 'cancelled'
    exc = fut.exception()
    return f'exception {exc!r}' if exc else f'result {fut.result()!r}'


SCENARIOS = {}


def scenario(func):
    SCENARIOS[func.__name__] = func
    return func


def run_scenario(name, impl):
    env = Env(*IMPLS[impl])
    try:
        SCENARIOS[name](env)
    finally:
        env.close()
    return env.trace


# ---------------------------------------------------------------------------
# remove_done_callback() with an __eq__ that fights back

class Hostile:
    """A callback whose __eq__ runs *action(future)* once, then compares
    by identity."""

    def __init__(self, env, label, action):
        self.env = env
        self.label = label
        self.action = action
        self.fut = None

    def __call__(self, fut):
        self.env.note('callback', self.label, fut_state(fut))

    def __eq__(self, other):
        action, self.action = self.action, None
        if action is not None and self.fut is not None:
            self.env.note('eq', self.label)
            action(self.fut)
        return self is other

    __hash__ = object.__hash__


def remove_with_hostile_eq(env, action, extra_callbacks=2):
    # When __eq__ resolves the future, upstream's Python Future counts the
    # callbacks removed as (number left) - (number before), e.g. -1, and puts
    # the survivors back into the done future's list; the C one returns 0.
    # So the count is compared only while the future stays pending, and
    # the message of the InvalidStateError that follows (which shows the
    # callbacks) not at all.
    fut = env.future()
    hostile = Hostile(env, 'hostile', action)
    hostile.fut = fut
    fut.add_done_callback(hostile)
    for i in range(extra_callbacks):
        fut.add_done_callback(env.callback(f'cb{i}'))
    removed = env.attempt('remove', fut.remove_done_callback,
                          env.callback('absent'), quiet=True)
    if not fut.done():
        env.note('removed', removed)
    env.attempt('set_result', fut.set_result, 'late', quiet=True)
    env.steps()
    env.note('final', fut_state(fut))
    return fut


# (test_c_future covers an __eq__ that removes other callbacks, clears them
# all, resolves the future, re-initialises it or adds callbacks.)

@scenario
def eq_removes_itself(env):
    def remove_hostile(fut):
        hostile = fut._callbacks[0][0]
        env.attempt('inner remove', fut.remove_done_callback, hostile)
    remove_with_hostile_eq(env, remove_hostile)


@scenario
def eq_raises(env):
    def fail(fut):
        raise ZeroDivisionError('eq')
    remove_with_hostile_eq(env, fail)


@scenario
def eq_on_only_callback_resolves_future(env):
    # The single-callback case, which the C Future keeps out of its list.
    remove_with_hostile_eq(
        env, lambda fut: env.attempt('inner set', fut.set_result, 'eq'),
        extra_callbacks=0)


# ---------------------------------------------------------------------------
# Callbacks that re-enter the future

@scenario
def callback_sets_result_again(env):
    fut = env.future()
    fut.add_done_callback(env.callback(
        'again', lambda f: env.attempt('set again', f.set_result, 2)))
    fut.add_done_callback(env.callback('after'))
    fut.set_result(1)
    env.steps()


@scenario
def callback_cancels_and_adds(env):
    fut = env.future()

    def meddle(f):
        env.attempt('cancel', f.cancel, 'late')
        env.attempt('add', f.add_done_callback, env.callback('added late'))
        env.attempt('remove', f.remove_done_callback, meddle_cb)
    meddle_cb = env.callback('meddle', meddle)
    fut.add_done_callback(meddle_cb)
    fut.add_done_callback(env.callback('second'))
    fut.set_exception(ValueError('boom'))
    env.steps()
    env.attempt('result', fut.result)


@scenario
def callbacks_ping_pong_between_futures(env):
    a, b = env.future(), env.future()

    def forward(target, value):
        return lambda f: env.attempt('forward', target.set_result, value)
    a.add_done_callback(env.callback('a done', forward(b, 'from a')))
    b.add_done_callback(env.callback('b done', forward(a, 'from b')))
    a.add_done_callback(env.callback('a again'))
    a.cancel('start')
    env.steps(4)
    env.note('states', fut_state(a), fut_state(b))


@scenario
def callback_raises(env):
    fut = env.future()

    def fail(f):
        raise ValueError('in callback')
    fut.add_done_callback(env.callback('fails', fail))
    fut.add_done_callback(env.callback('still runs'))
    fut.set_result(None)
    env.steps()


@scenario
def task_callback_cancels_its_task(env):
    async def body():
        await asyncio.sleep(0)
        return 'done'
    task = env.Task(body(), loop=env.loop, name='victim')
    task.add_done_callback(env.callback(
        'done', lambda t: env.attempt('cancel finished', t.cancel)))
    env.steps(1)
    env.attempt('cancel', task.cancel, 'first')
    env.attempt('cancel', task.cancel, 'second')
    env.attempt('cancelling', task.cancelling)
    env.attempt('uncancel', task.uncancel)
    env.steps()
    env.attempt('result', task.result)


# ---------------------------------------------------------------------------
# Loops that misbehave

class FakeLoop:
    """Enough of a loop for a Future.  call_soon() returns what *call_soon*
    returns, and queues the callback for run_ready() unless it raised."""

    def __init__(self, env, call_soon):
        self.env = env
        self._call_soon = call_soon
        self.ready = []

    def get_debug(self):
        return False

    def call_soon(self, callback, *args, context=None):
        result = self._call_soon()
        self.ready.append((callback, args, context))
        return result

    def call_exception_handler(self, context):
        self.env.note('fake loop logged', context['message'])

    def run_ready(self):
        ready, self.ready = self.ready, []
        for callback, args, context in ready:
            (context or contextvars.copy_context()).run(callback, *args)


def raise_runtime_error():
    raise RuntimeError('call_soon refused')


def future_on_fake_loop(env, call_soon):
    loop = FakeLoop(env, call_soon)
    fut = env.Future(loop=loop)
    for i in range(3):
        fut.add_done_callback(env.callback(f'cb{i}'))
    env.attempt('set_result', fut.set_result, 'value')
    env.note('state', fut_state(fut), len(loop.ready))
    loop.run_ready()
    env.attempt('add after', fut.add_done_callback, env.callback('late'))
    loop.run_ready()


@scenario
def call_soon_returns_junk(env):
    for junk in (None, 42, object):
        future_on_fake_loop(env, lambda: junk)


@scenario
def loop_without_methods(env):
    env.attempt('future', env.Future, loop=object())

    class NoisyDebug(FakeLoop):
        def get_debug(self):
            raise KeyError('get_debug')
    env.attempt('future', env.Future, loop=NoisyDebug(env, lambda: None))


@scenario
def task_on_loop_whose_call_soon_raises(env):
    async def body():
        return 1
    loop = FakeLoop(env, raise_runtime_error)
    coro = body()
    env.attempt('task', env.Task, coro, loop=loop)
    coro.close()
    gc.collect()
    env.note('tasks on the fake loop', len(asyncio.all_tasks(loop)))


@scenario
def task_wakeup_when_call_soon_starts_failing(env):
    calls = []

    def first_call_only():
        calls.append(None)
        if len(calls) > 1:
            raise_runtime_error()
    loop = FakeLoop(env, first_call_only)
    fut = env.Future(loop=loop)

    async def body():
        env.note('awaited', await fut)
    task = env.Task(body(), loop=loop, name='stranded')
    loop.run_ready()
    env.attempt('set_result', fut.set_result, 'never delivered')
    env.attempt('cancel', task.cancel, 'stranded')
    loop.run_ready()
    env.note('task', fut_state(task) if task.done() else 'pending',
             task.cancelling())
    task._log_destroy_pending = False


@scenario
def task_on_loop_whose_call_soon_returns_junk(env):
    async def body():
        return 'ran'
    loop = FakeLoop(env, lambda: 'junk')
    task = env.Task(body(), loop=loop)
    loop.run_ready()
    env.note('state', fut_state(task))


# ---------------------------------------------------------------------------
# Objects that resurrect themselves in finalisers

RESURRECTED = []


class ResurrectingCoroutine(collections.abc.Coroutine):
    """A coroutine that waits on a future nobody resolves and, when
    finalised, stores itself (and the task it was given) in RESURRECTED."""

    def __init__(self, env):
        self.env = env
        self.task = None

    def send(self, value):
        fut = self.env.future()
        fut._asyncio_future_blocking = True
        return fut

    def throw(self, typ, val=None, tb=None):
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self):
        pass

    def __await__(self):
        return iter(())

    def __del__(self):
        RESURRECTED.append(self)


@scenario
def coroutine_resurrects_itself_and_task(env):
    coro = ResurrectingCoroutine(env)
    task = env.Task(coro, loop=env.loop, name='phoenix')
    coro.task = task           # cycle: task -> coro -> task
    env.steps(2)
    ref = weakref.ref(task)
    del task, coro
    gc.collect()
    env.note('resurrected', len(RESURRECTED), ref() is not None)
    survivor = RESURRECTED.pop().task
    RESURRECTED.clear()
    env.note('survivor', fut_state(survivor))
    env.attempt('cancel', survivor.cancel, 'after resurrection')
    env.steps(2)
    env.note('survivor', fut_state(survivor))


@scenario
def future_subclass_resurrects_itself(env):
    keep = []

    class Phoenix(env.Future):
        def __del__(self):
            keep.append(self)
            super().__del__()

    fut = Phoenix(loop=env.loop)
    fut.add_done_callback(env.callback('cb'))
    fut.set_exception(ValueError('never retrieved'))
    env.steps()
    del fut
    gc.collect()
    env.note('kept', len(keep))
    fut = keep.pop()
    env.attempt('exception', fut.exception)
    env.attempt('set_result', fut.set_result, 1)
    env.attempt('add', fut.add_done_callback, env.callback('after rebirth'))
    env.steps()
    Phoenix.__del__ = lambda self: None   # let it die for good


class Stubborn(collections.abc.Coroutine):
    """A coroutine that yields *sends* times, then returns; throw() ignores
    the first *ignored* exceptions thrown in (it yields instead)."""

    def __init__(self, env, sends, ignored):
        self.env = env
        self.sends = sends
        self.ignored = ignored

    def send(self, value):
        self.env.note('send', repr(value))
        self.sends -= 1
        if self.sends < 0:
            raise StopIteration('returned')
        return None

    def throw(self, typ, val=None, tb=None):
        exc = val if val is not None else typ
        self.env.note('throw', *describe(exc))
        self.ignored -= 1
        if self.ignored < 0:
            raise exc
        return None

    def __await__(self):
        return iter(())


@scenario
def coroutine_ignores_cancellation(env):
    for sends, ignored in ((5, 1), (5, 3), (1, 0)):
        task = env.Task(Stubborn(env, sends, ignored), loop=env.loop,
                        name='stubborn')
        env.steps(1)
        for i in range(3):
            env.attempt('cancel', task.cancel, f'cancel {i}')
            env.steps(1)
        env.steps(4)
        env.note('task', fut_state(task) if task.done() else 'pending',
                 task.cancelling())


# ---------------------------------------------------------------------------
# Awaitables that lie about _asyncio_future_blocking

class Liar:
    """Yielded from a task as if it were a future; *kwargs* override its
    attributes."""

    def __init__(self, env, **attributes):
        self.env = env
        self.callbacks = []
        self.loop = env.loop
        self.__dict__.update(attributes)

    _asyncio_future_blocking = True

    def get_loop(self):
        return self.loop

    def add_done_callback(self, fn, *, context=None):
        self.env.note('liar add_done_callback', context is not None)
        self.callbacks.append(fn)

    def cancel(self, msg=None):
        self.env.note('liar cancel', repr(msg))
        return True

    def result(self):
        self.env.note('liar result')
        return 'liar result'

    def __await__(self):
        yield self
        return 'liar returned'

    def __repr__(self):
        return '<Liar>'


def task_awaiting(env, awaitable):
    async def body():
        try:
            env.note('await returned', repr(await awaitable))
        except BaseException as exc:
            env.note('await raised', *describe(exc))
            raise
        return 'body done'
    return env.Task(body(), loop=env.loop, name='awaiter')


def drive_liar(env, liar, cancel=False):
    task = task_awaiting(env, liar)
    env.steps(2)
    if cancel:
        env.attempt('cancel', task.cancel, 'cancel the liar')
    for fn in list(getattr(liar, 'callbacks', ())):
        fn(liar)
    env.steps(3)
    env.note('task', fut_state(task) if task.done() else 'pending')
    if not task.done():
        task.cancel()
        env.steps(3)


@scenario
def liar_cancelled(env):
    drive_liar(env, Liar(env), cancel=True)


@scenario
def liar_without_get_loop_or_callbacks(env):
    class Bare:
        _asyncio_future_blocking = True

        def __await__(self):
            yield self

        def __repr__(self):
            return '<Bare>'
    drive_liar(env, Bare())


@scenario
def liar_whose_flag_refuses_reset(env):
    class Stubborn(Liar):
        def __setattr__(self, name, value):
            if name == '_asyncio_future_blocking':
                raise PermissionError('flag write')
            super().__setattr__(name, value)
    drive_liar(env, Stubborn(env))


@scenario
def liar_whose_result_raises(env):
    class Failing(Liar):
        def result(self):
            raise KeyError('liar result')
    drive_liar(env, Failing(env))


@scenario
def liar_whose_add_done_callback_raises(env):
    class Refusing(Liar):
        def add_done_callback(self, fn, *, context=None):
            raise OSError('no callbacks')
    drive_liar(env, Refusing(env))


# ---------------------------------------------------------------------------
# Reference cycles through callbacks

# (test_c_future and test_c_task cover a future whose result is itself, a
# callback that closes over its future and a pending task awaiting a future.)

def check_collected(env, label, make):
    """Call *make*, which builds objects in reference cycles and returns
    them; drop them, collect, and note which ones were freed."""
    refs = [weakref.ref(obj) for obj in make()]
    gc.collect()
    env.note(label, [ref() is None for ref in refs])


class Holder:
    """A callback that keeps the future it is added to."""

    def __init__(self, fut):
        self.fut = fut

    def __call__(self, fut):
        pass


@scenario
def cycle_future_callback_future(env):
    def make():
        fut = env.future()
        fut.add_done_callback(Holder(fut))   # the first callback
        fut.add_done_callback(Holder(fut))   # the list of the others
        fut.add_done_callback(Holder(fut), context=contextvars.Context())
        return [fut]
    check_collected(env, 'pending future in a cycle', make)


@scenario
def cycle_through_result_exception_and_context(env):
    var = contextvars.ContextVar('hostile')

    def make():
        failed = env.future()
        try:
            raise ValueError('keeps the frame')
        except ValueError as exc:
            failed.set_exception(exc)    # exc -> traceback -> frame -> failed
        in_context = env.future()
        context = contextvars.copy_context()
        context.run(var.set, in_context)
        in_context.add_done_callback(Holder(None), context=context)
        return [failed, in_context]
    check_collected(env, 'futures in cycles', make)


@scenario
def cycle_finished_task_result_is_task(env):
    def make():
        async def body():
            return asyncio.current_task()
        task = env.Task(body(), loop=env.loop, name='selfish')
        task.add_done_callback(Holder(task))
        env.steps(3)
        env.note('task done', task.done())
        return [task]
    check_collected(env, 'finished task in a cycle', make)


# ---------------------------------------------------------------------------
# The tests

CHILD = '''
import importlib.util, sys
spec = importlib.util.spec_from_file_location('hostile', {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(repr(module.run_scenario({name!r}, 'c')))
'''


def run_in_child(name):
    # -B: loading this file by path must not leave bytecode beside it.
    rc, out, err = script_helper.assert_python_ok(
        '-B', '-c', CHILD.format(path=__file__, name=name))
    return ast.literal_eval(out.decode().strip().splitlines()[-1])


class ReversedCallbacksFuture(futures._PyFuture):
    """A wrong Future, for the test that the harness notices one."""

    def _Future__schedule_callbacks(self):
        self._callbacks.reverse()
        super()._Future__schedule_callbacks()


IMPLS['wrong'] = (ReversedCallbacksFuture, tasks._PyTask)


class HostileTests(unittest.TestCase):

    def test_harness_notices_a_wrong_future(self):
        self.assertNotEqual(run_scenario('callback_cancels_and_adds', 'wrong'),
                            run_scenario('callback_cancels_and_adds', 'py'))

    def test_python_traces_are_deterministic(self):
        for name in SCENARIOS:
            with self.subTest(name):
                self.assertEqual(run_scenario(name, 'py'),
                                 run_scenario(name, 'py'))


def add_scenario_tests():
    for name in SCENARIOS:
        def test(self, name=name):
            expected = run_scenario(name, 'py')
            self.assertEqual(run_in_child(name), expected,
                             'C classes in a child process')
            self.assertEqual(run_scenario(name, 'c'), expected,
                             'C classes in this process')
        setattr(HostileTests, f'test_{name}', requires_c(test))


add_scenario_tests()


if __name__ == '__main__':
    unittest.main()
