"""asyncio.gather() and loop.create_task(): the C versions and the pure-Python
ones.

The fork moves gather()'s bookkeeping into C.  asyncio.gather() first offers
its arguments to _asyncio._gather() (tasks._c_gather), which does what the
pure-Python body does and returns the outer future, an
_asyncio._GatheringFuture (tasks._CGatheringFuture); outside a running loop,
or with no arguments, it returns None having done nothing, and the pure body
runs.  BaseEventLoop.create_task is done by _asyncio._EventLoopCore, its pure
version kept as base_events._py_hot_path['create_task'].

A scenario is a function of a fresh loop returning a trace: results and
their order, the order in which done callbacks run, exceptions (type, args,
__context__), the children's states, _cancel_requested, the calls a
duck-typed future receives.  The harness adds what the loop's exception
handler is given, including the reports of futures destroyed with an
exception nobody retrieved, and the warnings issued (a coroutine never
awaited).  A scenario runs in one or two modes:

  pure  tasks._c_gather patched to None, tasks._GatheringFuture to
        tasks._PyGatheringFuture, and the loop's class given the pure
        create_task just above BaseEventLoop in its MRO (so that a
        subclass's own create_task still wins, as it does over the C core);
  C     the modules as they are.

CGatherTests runs every case in both modes and requires equal traces;
PyGatherTests runs the same cases in the pure mode alone.  The cases also
make absolute assertions on the trace, so that an implementation that is
wrong in the same way as its reference still fails.  CCreateTaskTests
compares the loop's C create_task with the pure one (the pure mode's loop
class, gather() as it is) the same way, and CGatheringFutureTests the two
_GatheringFuture classes constructed directly.

RandomGatherTests builds random trees of gathers from fixed seeds (children
of every kind, random numbers of sleep(0)s, exceptions, cancellations, task
factories, duplicates) and requires equal traces in both modes: 200
programs, or ASYNCIO_DIFF_EXAMPLES (as in test_c_differential); a failing
program is shrunk before it is reported.  HarnessTests show that the
comparison catches deliberately wrong gathers.

Ignored as implementation details:
  - object addresses and the numbers in default task names;
  - where gather's done callback comes from, in reprs: the pure one is a
    function, shown as "gather.<locals>._done_callback() at
    .../asyncio/tasks.py:NNN", the C one a callable object without code,
    shown without the " at ...";
  - when a future is destroyed: the pure gather makes reference cycles (its
    callback is a closure) where the C one does not, so the destruction
    reports are compared as a sorted list;
  - how many times in a row a duck-typed child's _cancel_message is read
    (the pure gather reads it twice when it is set);
  - the frames within asyncio at the end of the _source_traceback of the
    futures gather() makes in debug mode (the pure gather ends with
    _ensure_future() or _GatheringFuture.__init__(), the C one in gather());
  - the messages of the TypeErrors for calls with wrong arguments (of
    _GatheringFuture(), its cancel(), gather's callback, create_task()):
    only their types are compared.

On the stock interpreter the pure versions are the only ones and the C
cases are skipped; on the fork's ./python (_asyncio built in) a missing C
part fails instead of skipping.
"""

import asyncio
import collections.abc
import contextlib
import contextvars
import gc
import inspect
import os
import pprint
import random
import re
import sys
import threading
import types
import unittest
import warnings
import weakref
from asyncio import base_events, futures, tasks
from unittest import mock
from test.test_asyncio import cfork_helpers
from test.test_asyncio import utils as test_utils

from test.test_asyncio.cfork_helpers import _asyncio, OUR_BUILD


def tearDownModule():
    asyncio.set_event_loop_policy(None)
EXAMPLES = int(os.environ.get('ASYNCIO_DIFF_EXAMPLES', '200'))
SEED = 20261123

PY_GATHERING = getattr(tasks, '_PyGatheringFuture', None)
if PY_GATHERING is None and not OUR_BUILD:
    # the stock interpreter: tasks._GatheringFuture is the pure-Python class
    PY_GATHERING = tasks._GatheringFuture
C_GATHER = getattr(tasks, '_c_gather', None)
C_GATHERING = getattr(tasks, '_CGatheringFuture', None)
RUN_C = C_GATHER is not None or OUR_BUILD

PY_CREATE_TASK = (getattr(base_events, '_py_hot_path', None)
                  or {}).get('create_task')
if PY_CREATE_TASK is None and not OUR_BUILD:
    PY_CREATE_TASK = base_events.BaseEventLoop.create_task
C_CORE = getattr(_asyncio, '_EventLoopCore', None)
C_CREATE_TASK = getattr(C_CORE, 'create_task', None)

# Whether gather() asks each new child whether it is done and counts the
# done ones at once, without adding its done callback to them (3.12's
# behaviour, which came with eager tasks); 3.11 adds the callback to every
# child.
COUNTS_DONE_CHILDREN = hasattr(asyncio, 'eager_task_factory')


def done_queries(*tags):
    """The done() calls gather() makes on the duck-typed children `tags`
    (as log entries), where it makes them."""
    return [(tag, 'done') for tag in tags] if COUNTS_DONE_CHILDREN else []

if PY_CREATE_TASK is not None:
    class PyCreateTaskBase(base_events.BaseEventLoop):
        create_task = PY_CREATE_TASK
else:
    PyCreateTaskBase = None


# ---------------------------------------------------------------------------
# The two modes

def loop_class(base, c_create_task):
    """`base` with the C create_task, or with the pure one placed just above
    BaseEventLoop.  The same name either way, for equal reprs."""
    bases = (base,) if c_create_task else (base, PyCreateTaskBase)
    return type(base.__name__, bases, {'__module__': base.__module__})


class Mode:
    def __init__(self, name, c_gather, c_create_task, gathering=None):
        self.name = name
        self.c_gather = c_gather
        self.c_create_task = c_create_task
        self.gathering = gathering      # the pure class, or a wrong one

    def __repr__(self):
        return f'<{self.name} mode>'

    @contextlib.contextmanager
    def active(self):
        with contextlib.ExitStack() as stack:
            if not self.c_gather:
                if hasattr(tasks, '_c_gather'):
                    stack.enter_context(
                        mock.patch.object(tasks, '_c_gather', None))
                stack.enter_context(mock.patch.object(
                    tasks, '_GatheringFuture',
                    self.gathering or PY_GATHERING))
            yield

    def new_loop(self, base=asyncio.SelectorEventLoop):
        return loop_class(base, self.c_create_task)()


C = Mode('C', c_gather=True, c_create_task=True)
PURE = Mode('pure', c_gather=False, c_create_task=False)
# for create_task alone: gather as it is, the loop's create_task pure
PURE_CREATE_TASK = Mode('pure create_task', c_gather=True,
                        c_create_task=False)


# ---------------------------------------------------------------------------
# Traces: comparable descriptions of what happened

_ADDR = re.compile(r' at 0x[0-9a-fA-F]+')
_TASK_NAME = re.compile(r'\bTask-\d+')
# gather's done callback in a repr: " at <file>:<line>" for the pure
# function only (see the module docstring); its arguments' reprs may hold
# two levels of parentheses
_CB_SOURCE = re.compile(r'(_done_callback\('
                        r'(?:[^()]|\((?:[^()]|\([^()]*\))*\))*'
                        r'\)) at [^\s\]>]+:\d+')


def norm(text):
    """A repr or message with addresses, task numbers and the source of
    gather's callback taken out."""
    text = _ADDR.sub(' at 0x?', str(text))
    text = _TASK_NAME.sub('Task-N', text)
    return _CB_SOURCE.sub(r'\1', text)


def exc_desc(exc, depth=2):
    """Type, args and (down to `depth`) __context__ of an exception."""
    if exc is None:
        return None
    return (type(exc).__name__,
            tuple(norm(a) if isinstance(a, str) else value_desc(a)
                  for a in exc.args),
            exc_desc(exc.__context__, depth - 1) if depth else '...')


def value_desc(value):
    if isinstance(value, BaseException):
        return ('exc',) + exc_desc(value)
    if isinstance(value, (list, tuple)):
        return type(value)(value_desc(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return norm(repr(value))


def outcome(func, *args, **kwargs):
    """What a call does, as a comparable value."""
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        return ('raises', exc_desc(exc))
    return ('returns', value_desc(result))


async def awaited(awaitable):
    """What awaiting does, as a comparable value."""
    try:
        return ('result', value_desc(await awaitable))
    except BaseException as exc:
        return ('raises', exc_desc(exc))


def state(fut):
    """A future's state, read without calling its methods (which would mark
    an exception retrieved or show in a FutureLike's log)."""
    if fut._state == 'PENDING':
        return ('pending',)
    if fut._state == 'CANCELLED':
        msg = fut._msg if isinstance(fut, FutureLike) else fut._cancel_message
        return ('cancelled', msg)
    if fut._exception is not None:
        # _log_traceback: True while nobody has retrieved the exception
        return ('exception', exc_desc(fut._exception), fut._log_traceback)
    return ('result', value_desc(fut._result))


def note_done(trace, tag, fut):
    """Record in trace when fut is done, and how."""
    fut.add_done_callback(lambda f: trace.append(('done', tag, state(f))))


def first_indexes(items):
    """For each item, the index of its first occurrence (by identity)."""
    return [next(i for i, other in enumerate(items) if other is item)
            for item in items]


def describe_context(context):
    """What the loop's exception handler was given, comparable."""
    subject = next((context[k] for k in ('future', 'task', 'handle')
                    if k in context), None)
    return (norm(context.get('message')), exc_desc(context.get('exception')),
            sorted(context),
            None if subject is None else norm(repr(subject)))


# What futures and tasks report when they are destroyed.  The pure gather
# makes reference cycles (its callback is a closure) where the C one does
# not, so these come at other times: they are compared sorted.
DESTRUCTION_REPORTS = re.compile(
    r'exception was never retrieved$|^Task was destroyed but it is pending!$')


def run_scenario(mode, scenario, base=asyncio.SelectorEventLoop, debug=False):
    """scenario(loop) on a fresh loop in `mode`: the trace it returns, what
    the loop's exception handler was given (the destruction reports apart,
    collected after the scenario returned and sorted) and the warnings
    issued."""
    errors = []
    with mode.active(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        loop = mode.new_loop(base)
        try:
            loop.set_debug(debug)
            loop.set_exception_handler(
                lambda _, context: errors.append(describe_context(context)))
            trace = scenario(loop)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        del loop
        gc.collect()        # the handler still reports on a closed loop
        warned = [(w.category.__name__, norm(w.message)) for w in caught]
    return {'trace': trace,
            'errors': [e for e in errors
                       if not DESTRUCTION_REPORTS.search(e[0])],
            'destruction reports': sorted(
                (e for e in errors if DESTRUCTION_REPORTS.search(e[0])),
                key=repr),
            'warnings': warned}


# ---------------------------------------------------------------------------
# Children of every kind

def deep(n, func):
    """func() called n frames further down the stack."""
    return deep(n - 1, func) if n else func()


async def ret(value, steps=0):
    for _ in range(steps):
        await asyncio.sleep(0)
    return value


async def fail(exc, steps=0):
    for _ in range(steps):
        await asyncio.sleep(0)
    raise exc


async def block(log=None, tag=None):
    """Wait until cancelled, noting the cancellation in log."""
    try:
        await asyncio.get_running_loop().create_future()
    except asyncio.CancelledError as exc:
        if log is not None:
            log.append(('cancelled inside', tag, exc.args))
        raise


@types.coroutine
def gen_ret(value):
    """A generator-based coroutine: a plain generator to gather()."""
    yield
    return value


class Awaitable:
    """Not a coroutine, not a future: gather() wraps it in _wrap_awaitable."""

    def __init__(self, value, steps=0):
        self.value = value
        self.steps = steps

    def __await__(self):
        for _ in range(self.steps):
            yield from asyncio.sleep(0).__await__()
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value

    def __repr__(self):
        return f'<Awaitable {self.value!r}>'


class CoroutineABC(collections.abc.Coroutine):
    """A coroutine that is not a native one: the Python _ensure_future path."""

    def __init__(self, coro):
        self.coro = coro

    def send(self, value):
        return self.coro.send(value)

    def throw(self, *args):
        return self.coro.throw(*args)

    def close(self):
        return self.coro.close()

    def __await__(self):
        return self.coro.__await__()


class FutureLike:
    """A future by duck typing: the protocol gather() and a Task use, with
    every call noted in `log` as (tag, method, arguments...).  With
    sync_callbacks its callbacks run at once when it is done, and at once
    when added to a done one (as no asyncio future does)."""

    _asyncio_future_blocking = False

    def __init__(self, loop, tag, log, *, sync_callbacks=False):
        self._loop = loop
        self.tag = tag
        self.log = log
        self.sync_callbacks = sync_callbacks
        self._state = 'PENDING'
        self._result = self._exception = self._msg = None
        self._log_traceback = False
        self._callbacks = []

    def _note(self, *what):
        self.log.append((self.tag,) + what)

    def __repr__(self):
        return f'<FutureLike {self.tag} {self._state}>'

    @property
    def _cancel_message(self):
        # noted once however many times it is read in a row: the pure
        # gather() reads it twice when it is set
        if self.log[-1:] != [(self.tag, '_cancel_message')]:
            self._note('_cancel_message')
        return self._msg

    def get_loop(self):
        self._note('get_loop')
        return self._loop

    def done(self):
        self._note('done')
        return self._state != 'PENDING'

    def cancelled(self):
        self._note('cancelled')
        return self._state == 'CANCELLED'

    def add_done_callback(self, fn, *, context=None):
        self._note('add_done_callback', context)
        if self._state == 'PENDING':
            self._callbacks.append(fn)
        elif self.sync_callbacks:
            fn(self)
        else:
            self._loop.call_soon(fn, self)

    def remove_done_callback(self, fn):
        self._note('remove_done_callback')
        n = len(self._callbacks)
        self._callbacks = [cb for cb in self._callbacks if cb != fn]
        return n - len(self._callbacks)

    def _make_cancelled_error(self):
        self._note('_make_cancelled_error')
        if self._msg is None:
            return asyncio.CancelledError()
        return asyncio.CancelledError(self._msg)

    def cancel(self, msg=None):
        self._note('cancel', msg)
        if self._state != 'PENDING':
            return False
        self._state = 'CANCELLED'
        self._msg = msg
        self._schedule()
        return True

    def exception(self):
        self._note('exception')
        if self._state == 'CANCELLED':
            raise self._make_cancelled_error()
        if self._state == 'PENDING':
            raise asyncio.InvalidStateError('not done')
        self._log_traceback = False
        return self._exception

    def result(self):
        self._note('result')
        exc = self.exception()
        if exc is not None:
            raise exc
        return self._result

    def set_result(self, value):
        self._result = value
        self._state = 'FINISHED'
        self._schedule()

    def set_exception(self, exc):
        self._exception = exc
        self._log_traceback = True
        self._state = 'FINISHED'
        self._schedule()

    def _schedule(self):
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            if self.sync_callbacks:
                fn(self)
            else:
                self._loop.call_soon(fn, self)


def recording_future_class(base):
    """A subclass of the future class `base` noting its method calls in
    self.log, as FutureLike does: gather() must go through its methods."""
    def make(name):
        method = getattr(base, name)

        def recorded(self, *args, **kwargs):
            self.log.append((self.tag, name) + value_desc(args) +
                            value_desc(tuple(sorted(kwargs.items()))))
            return method(self, *args, **kwargs)
        recorded.__name__ = name
        return recorded

    def __init__(self, *, loop, tag, log):
        self.tag = tag
        self.log = log
        base.__init__(self, loop=loop)

    names = ('get_loop', 'done', 'cancelled', 'add_done_callback', 'cancel',
             'exception', 'result', '_make_cancelled_error')
    namespace = {name: make(name) for name in names}
    namespace['__init__'] = __init__
    return type('Recording' + base.__name__, (base,), namespace)


RecordingFuture = recording_future_class(asyncio.Future)
RecordingPyFuture = recording_future_class(futures._PyFuture)


# ---------------------------------------------------------------------------
# gather(): the cases

class GatherCases:
    modes = ()          # the first is the one under test

    def setUp(self):
        super().setUp()
        if PY_GATHERING is None:
            self.fail('asyncio.tasks has no _PyGatheringFuture')
        if PY_CREATE_TASK is None:
            self.fail("asyncio.base_events._py_hot_path has no 'create_task'")
        if C in self.modes:
            if C_GATHER is None or C_GATHERING is None:
                self.fail('asyncio.tasks has no _c_gather/_CGatheringFuture '
                          '(the built-in _asyncio has no _gather or '
                          '_GatheringFuture)')
            if C_CREATE_TASK is None:
                self.fail('_asyncio._EventLoopCore has no create_task')

    def both(self, scenario, **kwargs):
        """scenario(loop) in every mode of the class: equal outcomes."""
        outs = [run_scenario(mode, scenario, **kwargs) for mode in self.modes]
        for mode, out in zip(self.modes[1:], outs[1:]):
            self.assertEqual(outs[0], out,
                             f'{self.modes[0]} (first) != {mode} (second)')
        return outs[0]

    def assertQuiet(self, out):
        self.assertEqual((out['errors'], out['destruction reports'],
                          out['warnings']), ([], [], []))

    # --- the callback and the class, as seen from Python ---

    def test_callback_takes_fut_by_keyword(self):
        # the pure callback is a function of one parameter named fut
        def scenario(loop):
            trace = []

            async def main():
                f = loop.create_future()
                outer = asyncio.gather(f)
                (callback, _), = f._callbacks
                f.remove_done_callback(callback)
                f.set_result('f')
                callback(fut=f)
                trace.append(state(outer))
                trace.append(outcome(callback, f, fut=f)[0])
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [('result', ['f']), 'raises'])

    def test_patched_gathering_future_class_is_used(self):
        # gather() makes whatever tasks._GatheringFuture is at the call
        made = []

        class Recording(tasks._PyGatheringFuture):
            def __init__(self, children, *, loop):
                made.append(len(children))
                super().__init__(children, loop=loop)

        def scenario(loop):
            async def main():
                with mock.patch.object(tasks, '_GatheringFuture', Recording):
                    outer = asyncio.gather(ret(1), ret(2))
                return type(outer) is Recording, await outer
            return loop.run_until_complete(main())
        out = self.both(scenario)
        self.assertEqual(out['trace'], (True, [1, 2]))
        self.assertEqual(made, [2] * len(self.modes))

    def test_cancel_signature(self):
        cls = tasks._GatheringFuture if self.modes[0] == C else PY_GATHERING
        params = inspect.signature(cls.cancel).parameters
        self.assertEqual(list(params), ['self', 'msg'])
        self.assertIsNone(params['msg'].default)

    # --- results ---

    def test_results_in_argument_order(self):
        def scenario(loop):
            trace = []

            async def main():
                f = loop.create_future()
                loop.call_soon(f.set_result, 'f')
                outer = asyncio.gather(ret('a', 3), ret('b'), f, ret('c', 1))
                trace.append((type(outer).__name__, isinstance(
                    outer, asyncio.Future), outer.get_loop() is loop,
                    [type(c).__name__ for c in outer._children]))
                for i, child in enumerate(outer._children):
                    note_done(trace, i, child)
                note_done(trace, 'outer', outer)
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('_GatheringFuture', True, True, ['Task', 'Task', 'Future',
                                              'Task']),
            ('done', 2, ('result', 'f')), ('done', 1, ('result', 'b')),
            ('done', 3, ('result', 'c')), ('done', 0, ('result', 'a')),
            ('done', 'outer', ('result', ['a', 'b', 'f', 'c'])),
            ('result', ['a', 'b', 'f', 'c'])])
        self.assertQuiet(out)

    def test_duplicates(self):
        def scenario(loop):
            trace = []

            async def main():
                coro = ret('x', 1)
                f = loop.create_future()
                t = loop.create_task(ret('t'))
                before = len(asyncio.all_tasks())
                outer = asyncio.gather(coro, f, coro, t, f, t, coro)
                children = outer._children
                trace.append((first_indexes(children),
                              len(asyncio.all_tasks()) - before,
                              len(f._callbacks), len(t._callbacks),
                              children[0]._log_destroy_pending,
                              t._log_destroy_pending))
                f.set_result('f')
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        # one task for the coroutine, one callback on each child
        self.assertEqual(out['trace'], [
            ([0, 1, 0, 3, 1, 3, 0], 1, 1, 1, False, True),
            ('result', ['x', 'f', 'x', 't', 'f', 't', 'x'])])
        self.assertQuiet(out)

    def test_duplicates_many(self):
        # more arguments than the C gather compares by identity, and
        # arguments that hash and compare as they like after identity-keyed
        # ones: the same children either way
        def scenario(loop):
            trace = []

            async def main():
                coros = [ret(i) for i in range(20)]
                f = loop.create_future()
                f.set_result('f')
                outer = asyncio.gather(*coros, coros[3], f, coros[19], f,
                                       coros[0])
                trace.append(first_indexes(outer._children))
                trace.append(await awaited(outer))
                coro, aw = ret(0), Awaitable('aw')
                outer = asyncio.gather(coro, f, coro, aw, f, aw, coro)
                trace.append(first_indexes(outer._children))
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            list(range(20)) + [3, 21, 19, 21, 0],
            ('result', list(range(20)) + [3, 'f', 19, 'f', 0]),
            [0, 1, 0, 3, 1, 3, 0],
            ('result', [0, 'f', 0, 'aw', 'f', 'aw', 0])])
        self.assertQuiet(out)

    def test_mixed_kinds(self):
        def scenario(loop):
            trace = []
            log = []

            async def main():
                c_fut = loop.create_future()
                py_fut = futures._PyFuture(loop=loop)
                like = FutureLike(loop, 'like', log)
                rec = RecordingFuture(loop=loop, tag='rec', log=log)
                rec_py = RecordingPyFuture(loop=loop, tag='rec_py', log=log)
                args = (ret('coro'), c_fut, loop.create_task(ret('c task')),
                        py_fut, tasks._PyTask(ret('py task', 2), loop=loop),
                        like, rec, rec_py, Awaitable('awaitable', 1),
                        gen_ret('generator'), asyncio.gather(ret('inner')),
                        CoroutineABC(ret('abc coroutine')))
                outer = asyncio.gather(*args)
                children = outer._children
                # (the nested gather's class is the mode's own)
                trace.append([(type(c).__module__, type(c).__name__,
                               c is a) for c, a in zip(children, args)
                              if not isinstance(c, tasks._GatheringFuture)])
                trace.append(isinstance(children[10], tasks._GatheringFuture))
                trace.append([c._log_destroy_pending for c, a
                              in zip(children, args) if c is not a])
                trace.append(list(log))
                del log[:]
                for i, child in enumerate(children):
                    note_done(trace, i, child)
                for fut in (c_fut, py_fut, like, rec, rec_py):
                    loop.call_soon(fut.set_result, fut.__class__.__name__)
                trace.append(await awaited(outer))
                trace.append(list(log))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        trace = out['trace']
        c_module = asyncio.Task.__module__      # '_asyncio'
        task = (c_module, 'Task', False)
        self.assertEqual(trace[0], [
            task, (c_module, 'Future', True), (c_module, 'Task', True),
            ('asyncio.futures', 'Future', True),
            ('asyncio.tasks', 'Task', True),
            (__name__, 'FutureLike', True),
            (__name__, 'RecordingFuture', True),
            (__name__, 'RecordingFuture', True), task, task, task])
        self.assertEqual(trace[1:3], [True, [False] * 4])
        # the loop of a later child is checked through get_loop()
        callback = "<function gather.<locals>._done_callback at 0x?>"
        self.assertEqual(trace[3], [
            ('like', 'get_loop'), *done_queries('like'),
            ('like', 'add_done_callback', None),
            ('rec', 'get_loop'), *done_queries('rec'),
            ('rec', 'add_done_callback', callback),
            ('rec_py', 'get_loop'), *done_queries('rec_py'),
            ('rec_py', 'add_done_callback', callback)])
        self.assertEqual(trace[-2], ('result', [
            'coro', 'Future', 'c task', 'Future', 'py task', 'FutureLike',
            'RecordingFuture', 'RecordingFuture', 'awaitable', 'generator',
            ['inner'], 'abc coroutine']))
        # each finished duck: cancelled() and exception() when it is done,
        # then cancelled(), exception() and result() for the results (after
        # the add_done_callback() of note_done())
        for tag, extra in (('like', ['exception']), ('rec', []),
                           ('rec_py', [])):
            self.assertEqual([e[1] for e in trace[-1] if e[0] == tag],
                             ['add_done_callback', 'cancelled', 'exception',
                              'cancelled', 'exception', 'result'] + extra,
                             tag)
        self.assertQuiet(out)

    def test_first_exception_propagates(self):
        def scenario(loop):
            trace = []

            async def main():
                e1 = ValueError('first')
                later = loop.create_future()
                outer = asyncio.gather(fail(e1, 1),
                                       fail(KeyError('second'), 2),
                                       ret('ok', 3), later)
                children = list(outer._children)
                for i, child in enumerate(children):
                    note_done(trace, i, child)
                note_done(trace, 'outer', outer)
                trace.append(await awaited(outer))
                trace.append((outer.exception() is e1, outer.cancelled(),
                              outer._cancel_requested))
                later.set_exception(OSError('late'))
                for _ in range(4):
                    await asyncio.sleep(0)
                trace.append([state(c) for c in children])
                # a control: an exception that nobody retrieves is reported
                lone = loop.create_future()
                lone.set_exception(RuntimeError('control'))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        first = ('ValueError', ('first',), None)
        self.assertEqual(out['trace'], [
            # gather's callback, which runs first, took the exception
            ('done', 0, ('exception', first, False)),
            ('done', 'outer', ('exception', first, True)),
            ('raises', first),
            (True, False, False),
            ('done', 1, ('exception', ('KeyError', ('second',), None), False)),
            ('done', 3, ('exception', ('OSError', ('late',), None), False)),
            ('done', 2, ('result', 'ok')),
            # the later exceptions were marked retrieved by gather
            [('exception', first, False),
             ('exception', ('KeyError', ('second',), None), False),
             ('result', 'ok'),
             ('exception', ('OSError', ('late',), None), False)]])
        self.assertEqual(out['destruction reports'], [
            ('Future exception was never retrieved',
             ('RuntimeError', ('control',), None),
             ['exception', 'future', 'message'],
             "<Future finished exception=RuntimeError('control')>")])
        self.assertEqual(out['errors'] + out['warnings'], [])

    def test_cancelled_child_fails_the_outer(self):
        def scenario(loop):
            trace = []

            async def main():
                t = loop.create_task(block())
                f = loop.create_future()
                outer = asyncio.gather(t, f, ret('x', 5))
                children = list(outer._children)
                loop.call_soon(t.cancel, 'bye')
                trace.append(await awaited(outer))
                trace.append((outer.cancelled(), outer._state,
                              outer._cancel_requested,
                              asyncio.current_task().cancelling()))
                f.cancel()
                for _ in range(6):
                    await asyncio.sleep(0)
                trace.append([state(c) for c in children])
                # a future cancelled without a message
                g = loop.create_future()
                outer = asyncio.gather(g, ret('y'))
                g.cancel()
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            # the CancelledError raised in the task, which (on 3.11) keeps
            # no _cancel_message once cancelled
            ('raises', ('CancelledError', ('bye',), None)),
            (False, 'FINISHED', False, 0),
            [('cancelled', None), ('cancelled', None), ('result', 'x')],
            ('raises', ('CancelledError', (), None))])
        self.assertQuiet(out)

    def test_return_exceptions(self):
        def scenario(loop):
            trace = []
            log = []

            async def main():
                exc = ValueError('v')
                t_msg = loop.create_task(block())
                t_none = loop.create_task(block())
                f = loop.create_future()
                like = FutureLike(loop, 'like', log)
                failing_like = FutureLike(loop, 'failing', log)
                outer = asyncio.gather(fail(exc), t_msg, t_none, f, ret('r'),
                                       like, failing_like,
                                       return_exceptions=True)
                loop.call_soon(t_msg.cancel, 'msg')
                loop.call_soon(t_none.cancel)
                f.cancel('f msg')
                like.cancel('like msg')
                failing_like.set_exception(KeyError('k'))
                results = await outer
                trace.append(value_desc(results))
                trace.append((results[0] is exc, outer._cancel_requested,
                              [r.__context__ for r in results
                               if isinstance(r, BaseException)]))
                trace.append(log[:])
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'][:2], [
            # a finished task has no _cancel_message on 3.11: ''
            [('exc', 'ValueError', ('v',), None),
             ('exc', 'CancelledError', ('',), None),
             ('exc', 'CancelledError', ('',), None),
             ('exc', 'CancelledError', ('f msg',), None), 'r',
             ('exc', 'CancelledError', ('like msg',), None),
             ('exc', 'KeyError', ('k',), None)],
            (True, False, [None] * 6)])
        # the duck's message is read for the results
        self.assertIn(('like', '_cancel_message'), out['trace'][2])
        self.assertQuiet(out)

    # --- cancelling gather ---

    def test_outer_cancel(self):
        def scenario(loop):
            trace = []

            async def main():
                for return_exceptions in (False, True):
                    log = []
                    user_task = loop.create_task(block(log, 'user task'))
                    done = loop.create_future()
                    done.set_result('done')
                    pending = loop.create_future()
                    outer = asyncio.gather(
                        block(log, 'coro'), user_task, done, pending,
                        return_exceptions=return_exceptions)
                    children = list(outer._children)
                    await asyncio.sleep(0)
                    trace.append((outer.cancel('stop'),
                                  outer._cancel_requested, outer.done(),
                                  [state(c) for c in children]))
                    trace.append(await awaited(outer))
                    trace.append((outer.cancel(), outer.cancelled(),
                                  [state(c) for c in children], log))
                # the last child is not cancelled: its CancelledError
                # (without the message) is the one given
                done = loop.create_future()
                done.set_result('done')
                outer = asyncio.gather(block(), done, return_exceptions=True)
                await asyncio.sleep(0)
                trace.append(outer.cancel('m'))
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        stop = ('CancelledError', ('stop',), None)
        before = [('pending',), ('pending',), ('result', 'done'),
                  ('cancelled', 'stop')]
        after = [('cancelled', None), ('cancelled', None),
                 ('result', 'done'), ('cancelled', 'stop')]
        log = [('cancelled inside', 'coro', ('stop',)),
               ('cancelled inside', 'user task', ('stop',))]
        self.assertEqual(out['trace'], [
            (True, True, False, before),
            ('raises', stop),       # from `pending`, done first
            (False, False, after, log),
            # issue 32684: cancelled, despite return_exceptions
            (True, True, False, before),
            ('raises', stop),       # the last child's: `pending`
            (False, False, after, log),
            True,
            ('raises', ('CancelledError', (), None))])
        self.assertQuiet(out)

    def test_cancel_when_children_are_done(self):
        def scenario(loop):
            trace = []

            async def main():
                f1, f2, f3 = (loop.create_future() for _ in range(3))
                outer = asyncio.gather(f1, f2)
                f1.set_result(1)
                f2.set_result(2)
                # done, but their callbacks have not run yet
                trace.append((outer.cancel(), outer._cancel_requested,
                              outer.done()))
                trace.append(await awaited(outer))
                trace.append((outer.cancel(), outer.cancel('again')))
                # one done, one not: cancelled
                outer = asyncio.gather(f1, f3)
                trace.append((outer.cancel(), outer._cancel_requested))
                trace.append(await awaited(outer))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            (False, False, False), ('result', [1, 2]), (False, False),
            (True, True), ('raises', ('CancelledError', (), None))])
        self.assertQuiet(out)

    def test_cancel_with_synchronous_callbacks(self):
        # children whose cancel() runs gather's callback at once, within
        # the outer's cancel()
        def scenario(loop):
            trace = []
            for return_exceptions in (False, True):
                log = []
                a = FutureLike(loop, 'a', log, sync_callbacks=True)
                b = FutureLike(loop, 'b', log, sync_callbacks=True)

                async def main():
                    return asyncio.gather(a, b,
                                          return_exceptions=return_exceptions)
                outer = loop.run_until_complete(main())
                note_done(trace, 'outer', outer)
                trace.append((outer.cancel('now'), outer._cancel_requested,
                              state(outer), log))
                loop.run_until_complete(asyncio.sleep(0))
            return trace
        out = self.both(scenario)
        now = ('CancelledError', ('now',), None)
        self.assertEqual([t[:3] for t in out['trace']], [
            # a's callback finishes the outer; b is still cancelled, and
            # _cancel_requested is set on the finished outer
            (True, True, ('exception', now, True)),
            ('done', 'outer', ('exception', now, True)),
            # both done before the outer learnt it was cancelled: a result
            (True, True, ('result', [('exc',) + now, ('exc',) + now])),
            ('done', 'outer', ('result', [('exc',) + now, ('exc',) + now]))])
        gathered = [('a', 'get_loop'), *done_queries('a'),
                    ('a', 'add_done_callback'), ('b', 'get_loop'),
                    *done_queries('b'), ('b', 'add_done_callback')]
        self.assertEqual([e[:2] for e in out['trace'][0][3]], gathered + [
            ('a', 'cancel'), ('a', 'cancelled'),
            ('a', '_make_cancelled_error'), ('b', 'cancel'),
            ('b', 'cancelled')])
        self.assertEqual([e[:2] for e in
                          out['trace'][2][3][len(gathered):]], [
            ('a', 'cancel'), ('b', 'cancel'), ('a', 'cancelled'),
            ('a', '_cancel_message'), ('b', 'cancelled'),
            ('b', '_cancel_message')])
        self.assertEqual(out['destruction reports'], [
            ('_GatheringFuture exception was never retrieved', now,
             ['exception', 'future', 'message'],
             "<_GatheringFuture finished exception=CancelledError('now')>")])

    def test_callback_when_added(self):
        # a child that would run the callback as it is added, before the
        # outer exists (bpo-46672): in 3.11 the outer is never done; where
        # gather() counts done children itself, it is never given the
        # callback, and the outer gets its exception once made
        def scenario(loop):
            trace = []
            log = []

            async def main():
                like = FutureLike(loop, 'like', log, sync_callbacks=True)
                like.set_exception(ValueError('early'))
                outer = asyncio.gather(like)
                for _ in range(3):
                    await asyncio.sleep(0)
                trace.append((state(outer), state(like), outer.cancel()))
                trace.append(log[:])
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        early = ('ValueError', ('early',), None)
        if COUNTS_DONE_CHILDREN:
            self.assertEqual(out['trace'], [
                (('exception', early, True), ('exception', early, False),
                 False),
                [('like', 'get_loop'), ('like', 'done'),
                 ('like', 'cancelled'), ('like', 'exception')]])
            self.assertEqual([r[:2] for r in out['destruction reports']], [
                ('_GatheringFuture exception was never retrieved', early)])
            self.assertEqual(out['errors'] + out['warnings'], [])
            return
        self.assertEqual(out['trace'], [
            (('pending',), ('exception', early, False), False),
            [('like', 'get_loop'), ('like', 'add_done_callback', None),
             ('like', 'cancelled'), ('like', 'exception'),
             ('like', 'cancel', None)]])
        self.assertQuiet(out)

    def test_awaiting_task_cancelled(self):
        def scenario(loop):
            trace = []

            async def main():
                for return_exceptions in (False, True):
                    log = []

                    async def waiter():
                        try:
                            return await asyncio.gather(
                                block(log, 'x'), block(log, 'y'), ret('z'),
                                return_exceptions=return_exceptions)
                        except asyncio.CancelledError as exc:
                            log.append(('waiter got', exc_desc(exc)))
                            raise

                    w = loop.create_task(waiter())
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                    outer = w._fut_waiter
                    trace.append((type(outer).__name__, w.cancel('from out'),
                                  outer._cancel_requested))
                    trace.append(await awaited(w))
                    trace.append((w.cancelled(), state(outer), log))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        # the CancelledError from x, the first child done, reaches the
        # waiter; with return_exceptions the one made for the outer
        # (_make_cancelled_error() of the last child, `z`: no message)
        expected = []
        for error in (('CancelledError', ('from out',), None),
                      ('CancelledError', (), None)):
            expected += [
                ('_GatheringFuture', True, True),
                ('raises', error),
                (True, ('exception', error, False),
                 [('cancelled inside', 'x', ('from out',)),
                  ('cancelled inside', 'y', ('from out',)),
                  ('waiter got', error)])]
        self.assertEqual(out['trace'], expected)
        self.assertQuiet(out)

    # --- reentrancy ---

    def test_child_callbacks_cancel_and_hijack(self):
        def scenario(loop):
            trace = []

            async def main():
                # a callback that runs before gather's cancels the outer
                box = []
                a = loop.create_future()
                a.add_done_callback(lambda f: trace.append(
                    ('a cancels outer', box[0].cancel('from a'))))
                b = loop.create_task(block())
                box.append(asyncio.gather(a, b))
                a.set_result(1)
                trace.append(await awaited(box[0]))
                trace.append((box[0]._cancel_requested, state(b)))

                # a callback after gather's cancels the other child
                c = loop.create_future()
                d = loop.create_future()
                outer = asyncio.gather(c, d, return_exceptions=True)
                c.add_done_callback(lambda f: d.cancel('by c'))
                c.set_result(2)
                trace.append(await awaited(outer))

                # a callback that finishes the outer itself
                e = loop.create_future()
                g = loop.create_future()
                outer = asyncio.gather(e, g)
                e.add_done_callback(lambda f: outer.set_result('hijacked'))
                e.set_result(3)
                await asyncio.sleep(0)
                g.set_exception(ValueError('nobody asks'))
                trace.append(await awaited(outer))
                await asyncio.sleep(0)
                trace.append(state(g))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('a cancels outer', True),
            ('raises', ('CancelledError', ('from a',), None)),
            (True, ('cancelled', None)),
            ('result', [2, ('exc', 'CancelledError', ('by c',), None)]),
            ('result', 'hijacked'),
            ('exception', ('ValueError', ('nobody asks',), None), False)])
        self.assertQuiet(out)

    def test_children_list_mutated(self):
        # the outer's _children is the list gather() goes over at the end
        def scenario(loop):
            trace = []

            async def main():
                for change in ('append', 'clear', 'replace'):
                    a = loop.create_future()
                    b = loop.create_future()
                    outer = asyncio.gather(a, b, return_exceptions=True)
                    extra = loop.create_future()
                    extra.set_result('extra')
                    if change == 'append':
                        outer._children.append(extra)
                    elif change == 'clear':
                        outer._children.clear()
                    else:
                        outer._children = [extra]
                    a.set_result('a')
                    b.set_exception(KeyError('b'))
                    trace.append((change, await awaited(outer)))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        b = ('exc', 'KeyError', ('b',), None)
        self.assertEqual(out['trace'], [
            ('append', ('result', ['a', b, 'extra'])),
            ('clear', ('result', [])),
            ('replace', ('result', ['a', b]))])
        # cleared: nobody looked at b's exception
        self.assertEqual(out['destruction reports'], [
            ('Future exception was never retrieved', b[1:],
             ['exception', 'future', 'message'],
             "<Future finished exception=KeyError('b')>")])

    def test_callback_removed(self):
        def scenario(loop):
            trace = []

            async def main():
                a = loop.create_future()
                b = loop.create_future()
                outer = asyncio.gather(a, b)
                (callback, _), = a._callbacks
                trace.append((callback.__name__, callback.__qualname__,
                              b._callbacks[0][0] is callback,
                              a.remove_done_callback(callback),
                              b.remove_done_callback(callback)))
                a.set_result(1)
                b.set_result(2)
                for _ in range(3):
                    await asyncio.sleep(0)
                trace.append(state(outer))
                # the callback called by hand
                c = loop.create_future()
                outer = asyncio.gather(c)
                (callback, _), = c._callbacks
                c.set_result('c')
                callback(c)
                trace.append(state(outer))
                await asyncio.sleep(0)
                trace.append(state(outer))
                # called wrongly: a TypeError (whose message differs)
                trace.append([outcome(callback)[1][0],
                              outcome(callback, c, c)[1][0]])
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('_done_callback', 'gather.<locals>._done_callback', True, 1, 1),
            ('pending',), ('result', ['c']), ('result', ['c']),
            ['TypeError'] * 2])
        self.assertQuiet(out)

    def test_return_exceptions_truthiness(self):
        class Flag:
            def __init__(self, log, values):
                self.log = log
                self.values = iter(values)

            def __bool__(self):
                value = next(self.values)
                self.log.append(('bool', value_desc(value)))
                if isinstance(value, BaseException):
                    raise value
                return value

        def scenario(loop):
            trace = []

            async def main():
                log = []
                outer = asyncio.gather(
                    fail(ValueError('v')), ret(1),
                    return_exceptions=Flag(log, [True, False]))
                trace.append(await awaited(outer))
                trace.append(log)
                log = []
                f = loop.create_future()
                outer = asyncio.gather(
                    ret(1), f, return_exceptions=Flag(log, [ZeroDivisionError(
                        'bool'), True]))
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                f.set_result(2)
                await asyncio.sleep(0)
                trace.append((state(outer), log))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('result', [('exc', 'ValueError', ('v',), None), 1]),
            [('bool', True), ('bool', False)],
            # the callback that failed still counted its child
            (('result', [1, 2]), [('bool', ('exc', 'ZeroDivisionError',
                                            ('bool',), None)),
                                  ('bool', True)])])
        # the callback's error goes to the loop's handler
        self.assertEqual(len(out['errors']), 1)
        self.assertRegex(out['errors'][0][0], r'^Exception in callback '
                         r'gather\.<locals>\._done_callback\(<Task finishe')
        self.assertEqual(out['errors'][0][1], ('ZeroDivisionError', ('bool',),
                                               None))

    def test_broken_child_methods(self):
        # a duck whose exception() raises: gather's callback fails
        class Broken(FutureLike):
            def exception(self):
                self._note('exception')
                raise RuntimeError('broken ' + self.tag)

        def scenario(loop):
            trace = []
            log = []

            async def main():
                a = Broken(loop, 'a', log)
                b = Broken(loop, 'b', log)
                outer = asyncio.gather(a, b)
                a.set_result(1)
                await asyncio.sleep(0)
                outer.cancel()      # b cancelled: cancelled() is enough
                await asyncio.sleep(0)
                trace.append((state(outer), log))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        cancelled = ('CancelledError', (), None)
        self.assertEqual(out['trace'], [(
            ('exception', cancelled, True),
            [('a', 'get_loop'), *done_queries('a'),
             ('a', 'add_done_callback', None),
             ('b', 'get_loop'), *done_queries('b'),
             ('b', 'add_done_callback', None),
             ('a', 'cancelled'), ('a', 'exception'),
             ('a', 'cancel', None), ('b', 'cancel', None),
             ('b', 'cancelled'), ('b', '_make_cancelled_error')])])
        self.assertEqual(out['errors'], [
            ('Exception in callback gather.<locals>._done_callback('
             '<FutureLike a FINISHED>)',
             ('RuntimeError', ('broken a',), None),
             ['exception', 'handle', 'message'],
             '<Handle gather.<locals>._done_callback(<FutureLike a '
             'FINISHED>)>')])
        self.assertEqual(out['destruction reports'], [
            ('_GatheringFuture exception was never retrieved', cancelled,
             ['exception', 'future', 'message'],
             '<_GatheringFuture finished exception=CancelledError()>')])

    # --- bad input ---

    def test_not_awaitable(self):
        def scenario(loop):
            trace = []

            async def main():
                f = loop.create_future()
                for make in (lambda: (42,),
                             lambda: (ret('left running', 1), 42,
                                      ret('never')),
                             lambda: (fail(ValueError('left failing')), None),
                             lambda: (f, 'text'),
                             lambda: (f, asyncio.sleep)):
                    before = asyncio.all_tasks()
                    trace.append(outcome(asyncio.gather, *make()))
                    left = asyncio.all_tasks() - before
                    for _ in range(3):
                        await asyncio.sleep(0)
                    trace.append(sorted(state(t) for t in left))
                trace.append(len(f._callbacks or ()))
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        raised = ('raises', ('TypeError', (
            'An asyncio.Future, a coroutine or an awaitable is required',),
            None))
        # the tasks already made are left running, their exceptions marked
        # retrieved by gather's callback
        self.assertEqual(out['trace'], [
            raised, [],
            raised, [('result', 'left running')],
            raised, [('exception', ('ValueError', ('left failing',), None),
                      False)],
            raised, [], raised, [], 2])
        self.assertEqual(out['errors'] + out['destruction reports'], [])
        self.assertEqual(out['warnings'], [
            ('RuntimeWarning', "coroutine 'ret' was never awaited")])

    def test_future_of_another_loop(self):
        def scenario(loop):
            trace = []
            other = asyncio.new_event_loop()
            other.set_exception_handler(
                lambda _, context: trace.append(describe_context(context)))

            async def main():
                f_other = other.create_future()
                before = asyncio.all_tasks()
                trace.append(outcome(asyncio.gather, ret('left running'),
                                     f_other))
                left = asyncio.all_tasks() - before
                await asyncio.sleep(0)
                trace.append([state(t) for t in left])
                # the other loop's future first: the gather is the other's
                outer = asyncio.gather(f_other, ret('on the other loop'))
                trace.append((outer.get_loop() is other,
                              [c.get_loop() is other
                               for c in outer._children]))
                return f_other, outer
            try:
                f_other, outer = loop.run_until_complete(main())
                f_other.set_result('f')
                trace.append(other.run_until_complete(outer))
            finally:
                other.close()
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('raises', ('ValueError', ('The future belongs to a different '
                                       'loop than the one specified as the '
                                       'loop argument',), None)),
            [('result', 'left running')],
            (True, [True, True]),
            ['f', 'on the other loop']])
        self.assertQuiet(out)

    def test_create_task_fails(self):
        def scenario(loop):
            trace = []
            closed = asyncio.new_event_loop()
            closed.close()

            async def main():
                f_closed = closed.create_future()
                coro = ret('never')
                gen = gen_ret('never')
                for arg in (coro, gen, Awaitable('never'),
                            CoroutineABC(ret('never abc'))):
                    trace.append(outcome(asyncio.gather, f_closed, arg))
                trace.append((inspect.getcoroutinestate(coro),
                              inspect.getgeneratorstate(gen)))

                # create_task replaced on the running loop
                def raising(exc):
                    def create_task(coro, **kwargs):
                        raise exc
                    return create_task
                for exc in (RuntimeError('no tasks'), ValueError('no')):
                    loop.create_task = raising(exc)
                    coro = ret('refused')
                    trace.append(outcome(asyncio.gather, coro))
                    trace.append(inspect.getcoroutinestate(coro))
                    del loop.create_task
                    coro = None
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        closed = ('raises', ('RuntimeError', ('Event loop is closed',), None))
        self.assertEqual(out['trace'], [
            closed, closed, closed, closed, ('CORO_CLOSED', 'GEN_CLOSED'),
            # a RuntimeError closes the coroutine, nothing else does
            ('raises', ('RuntimeError', ('no tasks',), None)), 'CORO_CLOSED',
            ('raises', ('ValueError', ('no',), None)), 'CORO_CREATED'])
        self.assertEqual(out['errors'] + out['destruction reports'], [])
        self.assertEqual(out['warnings'], [
            ('RuntimeWarning', "coroutine 'ret' was never awaited")])

    def test_no_running_loop(self):
        # the pure body runs in both modes; the C part must do nothing
        def scenario(loop):
            trace = []
            asyncio.set_event_loop(loop)
            f = loop.create_future()
            f.set_result('f')
            outer = asyncio.gather(ret('a'), f, Awaitable('aw'),
                                   return_exceptions=True)
            trace.append((type(outer).__name__, outer.get_loop() is loop,
                          outer.done()))
            trace.append(loop.run_until_complete(outer))
            empty = asyncio.gather()
            trace.append((type(empty).__name__, empty.result(),
                          empty.get_loop() is loop))

            async def main():
                empty = asyncio.gather(return_exceptions=True)
                return type(empty).__name__, empty.result(), empty.cancel()
            trace.append(loop.run_until_complete(main()))
            asyncio.set_event_loop(None)
            trace.append(outcome(asyncio.gather, f))
            trace.append(outcome(asyncio.gather))
            return trace
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            ('_GatheringFuture', True, False), ['a', 'f', 'aw'],
            ('Future', [], True), ('Future', [], False),
            # (a done child is counted at once where gather() does that)
            ('returns', "<_GatheringFuture finished result=['f']>"
                        if COUNTS_DONE_CHILDREN
                        else "<_GatheringFuture pending>"),
            ('raises', ('RuntimeError', ("There is no current event loop in "
                                         "thread 'MainThread'.",), None))])
        # 3.11.2 gives no DeprecationWarning here (3.11.0 did)
        self.assertQuiet(out)

    # --- hostile input ---

    def test_evil_eq_and_hash(self):
        # gather() keeps a dict of its arguments to find duplicates: their
        # __hash__ and __eq__ are called, in an order to keep
        class Evil(Awaitable):
            def __init__(self, value, log, eq):
                super().__init__(value)
                self.log = log
                self.eq = eq

            def __hash__(self):
                self.log.append(('hash', self.value))
                return 7

            def __eq__(self, other):
                self.log.append(('eq', self.value,
                                 getattr(other, 'value', None)))
                return self.eq(self, other)

        class Unhashable(Awaitable):
            __hash__ = None

        def cancel_others(self, other):
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.cancel('by eq')
            return False

        def raising(self, other):
            raise ZeroDivisionError('eq')

        eqs = {'never': lambda self, other: False,
               'always': lambda self, other: True,
               'not implemented': lambda self, other: NotImplemented,
               'raises': raising, 'cancels the others': cancel_others}

        def scenario(loop):
            trace = []

            async def main():
                for name, eq in eqs.items():
                    log = []
                    args = [Evil(v, log, eq) for v in 'abc']
                    before = asyncio.all_tasks()
                    try:
                        outer = asyncio.gather(*args)
                    except ZeroDivisionError as exc:
                        made = asyncio.all_tasks() - before
                        result = ('raises', exc_desc(exc))
                    else:
                        made = asyncio.all_tasks() - before
                        result = await awaited(outer)
                    await asyncio.sleep(0)
                    trace.append((name, result,
                                  sorted(state(t) for t in made), log))
                before = asyncio.all_tasks()
                trace.append(outcome(asyncio.gather, ret('left running'),
                                     Unhashable(1)))
                left = asyncio.all_tasks() - before
                await asyncio.sleep(0)
                trace.append([state(t) for t in left])
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        trace = out['trace']
        self.assertEqual([t[:3] for t in trace[:5]], [
            ('never', ('result', ['a', 'b', 'c']),
             [('result', 'a'), ('result', 'b'), ('result', 'c')]),
            # all equal to the first: one task
            ('always', ('result', ['a', 'a', 'a']), [('result', 'a')]),
            ('not implemented', ('result', ['a', 'b', 'c']),
             [('result', 'a'), ('result', 'b'), ('result', 'c')]),
            # the task made before is left running
            ('raises', ('raises', ('ZeroDivisionError', ('eq',), None)),
             [('result', 'a')]),
            # c's task, made after its first comparisons, is cancelled by
            # the comparisons of the dict's insertion
            ('cancels the others', ('raises', ('CancelledError', ('by eq',),
                                               None)),
             [('cancelled', None)] * 3)])
        # one lookup, then one insertion, per distinct argument
        self.assertEqual(trace[0][3], [
            ('hash', 'a'), ('hash', 'a'),
            ('hash', 'b'), ('eq', 'a', 'b'), ('hash', 'b'), ('eq', 'a', 'b'),
            ('hash', 'c'), ('eq', 'a', 'c'), ('eq', 'b', 'c'),
            ('hash', 'c'), ('eq', 'a', 'c'), ('eq', 'b', 'c')])
        self.assertEqual(trace[5:], [
            ('raises', ('TypeError', ("unhashable type: 'Unhashable'",),
                        None)),
            [('result', 'left running')]])
        self.assertQuiet(out)

    def test_create_task_overridden(self):
        class OverridingLoop(asyncio.SelectorEventLoop):
            def create_task(self, coro, **kwargs):
                self.created.append(('class', coro.__name__, sorted(kwargs)))
                return super().create_task(coro, **kwargs)

        def scenario(loop):
            loop.created = []

            async def main():
                outer = asyncio.gather(ret('a'), Awaitable('b'), gen_ret('c'))
                results = [await outer]

                def on_instance(coro, **kwargs):
                    loop.created.append(('instance', coro.__name__,
                                         sorted(kwargs)))
                    return type(loop).create_task(loop, coro, **kwargs)
                loop.create_task = on_instance
                try:
                    results.append(await asyncio.gather(ret('d')))
                finally:
                    del loop.create_task
                results.append(await asyncio.gather(ret('e')))
                return results
            return loop.run_until_complete(main()), loop.created
        out = self.both(scenario, base=OverridingLoop)
        self.assertEqual(out['trace'], (
            [['a', 'b', 'c'], ['d'], ['e']],
            [('class', 'main', []),
             ('class', 'ret', []), ('class', '_wrap_awaitable', []),
             ('class', 'gen_ret', []),
             ('instance', 'ret', []), ('class', 'ret', []),
             ('class', 'ret', [])]))
        self.assertQuiet(out)

    def test_task_factories(self):
        def scenario(loop):
            trace = []
            log = []
            calls = []

            def plain(loop, coro, **kwargs):
                calls.append(('plain', coro.__name__, sorted(kwargs)))
                return tasks.Task(coro, loop=loop, **kwargs)

            def pure_task(loop, coro):
                calls.append(('pure task', coro.__name__))
                return tasks._PyTask(coro, loop=loop)

            def pure_future(loop, coro):
                calls.append(('pure future', coro.__name__))
                coro.close()
                fut = futures._PyFuture(loop=loop)
                loop.call_soon(fut.set_result, 'instead of ' + coro.__name__)
                return fut

            def duck(loop, coro):
                calls.append(('duck', coro.__name__))
                coro.close()
                fut = FutureLike(loop, 'duck', log)
                loop.call_soon(fut.set_result, 'duck for ' + coro.__name__)
                return fut

            async def main():
                for factory in (plain, pure_task, pure_future, duck):
                    loop.set_task_factory(factory)
                    outer = asyncio.gather(ret('a'), Awaitable('b', 1))
                    children = outer._children
                    trace.append((factory.__name__,
                                  [type(c).__module__ for c in children],
                                  [c._log_destroy_pending for c in children]))
                    trace.append(await awaited(outer))
                loop.set_task_factory(None)
            loop.run_until_complete(main())
            return trace, calls
        out = self.both(scenario)
        trace, calls = out['trace']
        self.assertEqual(trace[1::2], [
            ('result', ['a', 'b']), ('result', ['a', 'b']),
            ('result', ['instead of ret', 'instead of _wrap_awaitable']),
            ('result', ['duck for ret', 'duck for _wrap_awaitable'])])
        self.assertEqual([t[1:] for t in trace[::2]], [
            ([asyncio.Task.__module__] * 2, [False] * 2),
            (['asyncio.tasks'] * 2, [False] * 2),
            (['asyncio.futures'] * 2, [False] * 2),
            ([__name__] * 2, [False] * 2)])
        self.assertEqual(calls, [
            ('plain', 'ret', []),
            ('plain', '_wrap_awaitable', []),
            ('pure task', 'ret'), ('pure task', '_wrap_awaitable'),
            ('pure future', 'ret'), ('pure future', '_wrap_awaitable'),
            ('duck', 'ret'), ('duck', '_wrap_awaitable')])
        self.assertQuiet(out)

    def test_odd_task_factories(self):
        # factories making what gather() cannot use, or one task for all
        class Slotted:
            """A future-like object refusing new attributes."""
            __slots__ = ('task',)
            _asyncio_future_blocking = False

            def __init__(self, task):
                self.task = task

            def get_loop(self):
                return self.task.get_loop()

            def add_done_callback(self, fn, *, context=None):
                self.task.add_done_callback(lambda _: fn(self))

        def scenario(loop):
            trace = []
            one = []

            def one_task(loop, coro):
                if one:
                    coro.close()
                else:
                    one.append(tasks.Task(coro, loop=loop))
                return one[0]

            async def main():
                f = loop.create_future()
                for factory in (lambda loop, coro: coro.close(),
                                lambda loop, coro: coro.close() or 42,
                                lambda loop, coro: Slotted(
                                    tasks.Task(coro, loop=loop))):
                    loop.set_task_factory(factory)
                    trace.append(outcome(asyncio.gather, ret(1)))
                    trace.append(outcome(asyncio.gather, f, ret(2)))
                loop.set_task_factory(one_task)
                outer = asyncio.gather(ret(3), ret(4), ret(5),
                                       return_exceptions=True)
                loop.set_task_factory(None)
                trace.append((first_indexes(outer._children),
                              len(one[0]._callbacks)))
                trace.append(await awaited(outer))
                f.cancel()
            loop.run_until_complete(main())
            return trace
        out = self.both(scenario)
        def no(obj, name):
            return ('raises', ('AttributeError', (
                f"'{obj}' object has no attribute '{name}'",), None))
        self.assertEqual(out['trace'], [
            no('NoneType', '_loop'), no('NoneType', '_log_destroy_pending'),
            no('int', '_loop'), no('int', '_log_destroy_pending'),
            no('Slotted', '_log_destroy_pending'),
            no('Slotted', '_log_destroy_pending'),
            ([0, 0, 0], 3), ('result', [3, 3, 3])])
        self.assertQuiet(out)

    def test_base_exceptions_in_children(self):
        # SystemExit and KeyboardInterrupt leave the loop, and are the
        # children's exceptions too
        def scenario(loop):
            trace = []
            for return_exceptions in (False, True):
                for exc in (SystemExit('x'), KeyboardInterrupt('k')):
                    box = []

                    async def start():
                        box.append(asyncio.gather(
                            fail(exc), ret(1),
                            return_exceptions=return_exceptions))
                        await asyncio.sleep(0)
                    trace.append(outcome(loop.run_until_complete, start()))
                    loop.run_until_complete(asyncio.sleep(0))
                    outer, = box
                    trace.append((state(outer), outer.exception() is exc
                                  if not return_exceptions else
                                  outer.result()[0] is exc))
            return trace
        out = self.both(scenario)
        system_exit = ('SystemExit', ('x',), None)
        interrupt = ('KeyboardInterrupt', ('k',), None)
        self.assertEqual(out['trace'], [
            ('raises', system_exit),
            (('exception', system_exit, True), True),
            ('raises', interrupt),
            (('exception', interrupt, True), True),
            ('raises', system_exit),
            (('result', [('exc',) + system_exit, 1]), True),
            ('raises', interrupt),
            (('result', [('exc',) + interrupt, 1]), True)])
        self.assertQuiet(out)

    def test_source_traceback_in_debug_mode(self):
        # The tasks gather() makes, and the gather future, remember where
        # they were made.  Compared: the frames up to the caller of
        # gather().  Not compared: the frames within asyncio after it (the
        # pure version has gather(), then _ensure_future() or
        # _GatheringFuture.__init__(); the C one gather() alone), and so
        # how many frames from the bottom of the stack fit in
        # DEBUG_STACK_DEPTH.
        def scenario(loop):
            async def main():
                outer = asyncio.gather(ret('a'), Awaitable('b'))
                line = sys._getframe().f_lineno - 1
                out = []
                for fut in outer._children + [outer]:
                    frames = [(f.filename, f.lineno, f.name)
                              for f in fut._source_traceback]
                    while frames[-1][0] != __file__:
                        frames.pop()
                    out.append((frames[-3:], line))
                await outer
                return out
            return loop.run_until_complete(main())
        out = self.both(scenario, debug=True)
        for frames, line in out['trace']:
            self.assertEqual(frames[-1], (__file__, line, 'main'))
            self.assertEqual(len(frames), 3)
        self.assertQuiet(out)


class PyGatherTests(GatherCases, test_utils.TestCase):
    modes = (PURE,)


@unittest.skipUnless(RUN_C, 'no C gather expected on this interpreter')
class CGatherTests(GatherCases, test_utils.TestCase):
    modes = (C, PURE)


# ---------------------------------------------------------------------------
# _GatheringFuture constructed directly

class GatheringFutureCases:
    """The class on its own, without gather(): scenario(cls, loop) for the
    classes under test, the traces equal to the pure class's."""
    classes = ()        # staticmethods returning the class; the first tested

    def setUp(self):
        super().setUp()
        for get in self.classes:
            if get() is None:
                self.fail('asyncio.tasks has no _PyGatheringFuture or '
                          '_CGatheringFuture')

    def both(self, scenario):
        outs = []
        for get in self.classes:
            loop = asyncio.new_event_loop()
            try:
                outs.append(scenario(get(), loop))
            finally:
                loop.close()
        for out in outs[1:]:
            self.assertEqual(outs[0], out, 'C class (first) != pure (second)')
        return outs[0]

    def test_attributes(self):
        def scenario(cls, loop):
            children = [loop.create_future()]
            gf = cls(children, loop=loop)
            out = [gf._children is children, gf._cancel_requested,
                   gf.get_loop() is loop, repr(gf),
                   isinstance(gf, asyncio.Future),
                   futures.isfuture(gf), gf.done(), type(gf).__name__]
            gf._cancel_requested = True
            out.append(gf._cancel_requested)
            gf._cancel_requested = False
            other = [loop.create_future()]
            gf._children = other
            out += [gf._cancel_requested, gf._children is other]
            gf = cls(children=(), loop=loop)
            out.append(gf._children)
            gf.set_result(['r'])
            out += [repr(gf), gf.result()]
            return out
        self.assertEqual(self.both(scenario), [
            True, False, True, '<_GatheringFuture pending>', True, True,
            False, '_GatheringFuture', True, False, True, (),
            "<_GatheringFuture finished result=['r']>", ['r']])

    def test_cancel(self):
        def scenario(cls, loop):
            done = loop.create_future()
            done.set_result(1)
            pending = loop.create_future()
            log = []
            like = FutureLike(loop, 'like', log)
            gf = cls([done, pending, like, pending], loop=loop)
            out = [gf.cancel('why'), gf._cancel_requested, gf.done(),
                   state(done), state(pending), state(like), log[:]]
            # everything cancelled already: False, the flag stays
            out += [gf.cancel(msg='again'), gf._cancel_requested]
            # nothing to cancel
            gf = cls([done], loop=loop)
            out += [gf.cancel(), gf._cancel_requested]
            gf = cls([], loop=loop)
            out += [gf.cancel(), gf._cancel_requested]
            # done: the children are not asked
            pending = loop.create_future()
            gf = cls([pending], loop=loop)
            gf.set_exception(ValueError('done'))
            out += [gf.cancel(), state(pending), gf.exception().args]
            # any iterable, read on every call
            pending = loop.create_future()
            gf = cls((f for f in [pending]), loop=loop)
            out += [gf.cancel(), gf.cancel(), state(pending)]
            pending.cancel()
            return out
        self.assertEqual(self.both(scenario), [
            True, True, False, ('result', 1), ('cancelled', 'why'),
            ('cancelled', 'why'),
            [('like', 'cancel', 'why')],
            False, True, False, False, False, False,
            False, ('pending',), ('done',), True, False, ('cancelled', None)])

    def test_cancel_reentrant(self):
        # a child whose cancel() cancels the gather future again, or
        # changes its children, while it goes over them
        def scenario(cls, loop):
            log = []
            gf = None

            class Child(FutureLike):
                def cancel(self, msg=None):
                    result = super().cancel(msg)
                    if self.tag == 'first' and msg == 'outer':
                        log.append(('inner cancel', gf.cancel('inner')))
                        gf._children.append(FutureLike(loop, 'added', log))
                    return result

            gf = cls([Child(loop, 'first', log), Child(loop, 'second', log)],
                     loop=loop)
            out = [gf.cancel('outer'), gf._cancel_requested,
                   [state(c) for c in gf._children], log]
            gf._children.clear()
            return out
        self.assertEqual(self.both(scenario), [
            True, True,
            # the child added during the first cancel() is cancelled by
            # the outer call, which goes on over the same list
            [('cancelled', 'outer'), ('cancelled', 'inner'),
             ('cancelled', 'outer')],
            [('first', 'cancel', 'outer'), ('first', 'cancel', 'inner'),
             ('second', 'cancel', 'inner'), ('inner cancel', True),
             ('second', 'cancel', 'outer'), ('added', 'cancel', 'outer')]])

    def test_bad_construction(self):
        def scenario(cls, loop):
            out = [outcome(cls, [], loop=loop, bogus=1)[1][0],
                   outcome(cls, [], loop)[1][0],
                   outcome(cls)[1][0],
                   # a message to keep: it is the pure signature's
                   outcome(cls, []),
                   outcome(cls, [], loop=None)]
            gf = cls([5], loop=loop)
            out.append(outcome(gf.cancel))
            gf = cls(5, loop=loop)
            out.append(outcome(gf.cancel))
            del gf._children
            out.append(outcome(gf.cancel)[1][0])
            gf = cls.__new__(cls)
            out += [outcome(repr, gf), outcome(gf.cancel)[1][0]]
            gf = cls([], loop=loop)
            out.append(outcome(gf.cancel, 'a', 'b')[1][0])
            return out
        out = self.both(scenario)
        # not initialized: (the stock C Future refuses to give a repr)
        self.assertIn(out.pop(-3), [
            ('returns', '<_GatheringFuture PENDING>'),
            ('raises', ('RuntimeError', ('Future object is not initialized.',),
                        None))])
        self.assertEqual(out, [
            'TypeError', 'TypeError', 'TypeError',
            ('raises', ('TypeError', (
                "_GatheringFuture.__init__() missing 1 required keyword-only "
                "argument: 'loop'",), None)),
            ('raises', ('AssertionError', (), None)),
            ('raises', ('AttributeError', (
                "'int' object has no attribute 'cancel'",), None)),
            ('raises', ('TypeError', ("'int' object is not iterable",), None)),
            'AttributeError', 'AttributeError', 'TypeError'])

    def test_subclass(self):
        def scenario(cls, loop):
            log = []

            class Sub(cls):
                def __init__(self, children, *, loop, extra):
                    super().__init__(children, loop=loop)
                    self.extra = extra

                def cancel(self, msg=None):
                    log.append(('cancel', msg))
                    return super().cancel(msg)

                def done(self):
                    log.append('done')
                    return super().done()

            child = loop.create_future()
            sub = Sub([child], loop=loop, extra='x')
            out = [sub.extra, repr(sub), weakref.ref(sub)() is sub,
                   sub.cancel('m'), sub._cancel_requested, state(child), log]

            class AlwaysDone(cls):
                def done(self):
                    return True
            child = loop.create_future()
            out += [AlwaysDone([child], loop=loop).cancel(), state(child)]
            return out
        self.assertEqual(self.both(scenario), [
            'x', '<Sub pending>', True, True, True, ('cancelled', 'm'),
            [('cancel', 'm'), 'done'],
            False, ('pending',)])

    def test_collected(self):
        def scenario(cls, loop):
            gf = cls([], loop=loop)
            gf._children.append(gf)         # cycles
            gf.add_done_callback(gf.cancel)
            ref = weakref.ref(gf)
            del gf
            gc.collect()
            return ref()
        self.assertIsNone(self.both(scenario))


class PyGatheringFutureTests(GatheringFutureCases, unittest.TestCase):
    classes = (staticmethod(lambda: PY_GATHERING),)


@unittest.skipUnless(RUN_C, 'no C gather expected on this interpreter')
class CGatheringFutureTests(GatheringFutureCases, unittest.TestCase):
    classes = (staticmethod(lambda: C_GATHERING),
               staticmethod(lambda: PY_GATHERING))


# ---------------------------------------------------------------------------
# loop.create_task()

var = contextvars.ContextVar('var', default='default')


async def var_reader():
    value = var.get()
    var.set('changed')
    return value


def task_desc(task):
    return (type(task).__module__, type(task).__name__, norm(task.get_name()),
            task.get_loop() is not None)


class CreateTaskCases:
    modes = ()

    def setUp(self):
        super().setUp()
        if PY_CREATE_TASK is None:
            self.fail("asyncio.base_events._py_hot_path has no 'create_task'")
        if C in self.modes and C_CREATE_TASK is None:
            self.fail('_asyncio._EventLoopCore has no create_task')
        if C in self.modes:
            self.assertIs(asyncio.SelectorEventLoop.create_task, C_CREATE_TASK)

    both = GatherCases.both
    assertQuiet = GatherCases.assertQuiet

    def test_name(self):
        def scenario(loop):
            ts = [loop.create_task(ret(1)), loop.create_task(ret(2), name='x'),
                  loop.create_task(ret(3), name=7),
                  loop.create_task(ret(4), name=None, context=None),
                  loop.create_task(coro=ret(5))]
            out = [task_desc(t) for t in ts]
            out.append(loop.run_until_complete(asyncio.gather(*ts)))
            return out
        out = self.both(scenario)
        task = asyncio.Task.__module__, 'Task'
        self.assertEqual(out['trace'], [
            task + ('Task-N', True), task + ('x', True), task + ('7', True),
            task + ('Task-N', True), task + ('Task-N', True),
            [1, 2, 3, 4, 5]])
        self.assertQuiet(out)

    def test_context(self):
        def scenario(loop):
            ctx = contextvars.copy_context()
            ctx.run(var.set, 'in ctx')
            token = var.set('outside')
            try:
                ts = [loop.create_task(var_reader(), context=ctx),
                      loop.create_task(var_reader()),
                      loop.create_task(var_reader(), name='n', context=None)]
            finally:
                var.reset(token)
            results = loop.run_until_complete(asyncio.gather(*ts))
            return results, ctx[var], var.get()
        out = self.both(scenario)
        self.assertEqual(out['trace'], (['in ctx', 'outside', 'outside'],
                                        'changed', 'default'))
        self.assertQuiet(out)

    def test_source_traceback(self):
        # The frames up to the caller of create_task(), within the
        # DEBUG_STACK_DEPTH limit counted with create_task()'s own frame,
        # which the pure version then removes.  Made from deep enough in
        # the stack for the limit to matter.
        def scenario(loop):
            out = []
            for factory in (None, lambda loop, coro: tasks.Task(coro,
                                                                  loop=loop)):
                loop.set_task_factory(factory)

                def make():
                    task = loop.create_task(ret(1))
                    line = sys._getframe().f_lineno - 1
                    return task, line, loop.create_future()
                task, line, fut = deep(20, make)
                out.append((line, [(f.filename, f.lineno, f.name)
                                   for f in task._source_traceback],
                            len(fut._source_traceback)))
                loop.run_until_complete(task)
            loop.set_debug(False)
            out.append(loop.create_task(ret(1))._source_traceback)
            loop.run_until_complete(asyncio.sleep(0))
            return out
        out = self.both(scenario, debug=True)
        (line, frames, future_frames), (line2, frames2, _), none = \
            out['trace']
        depth = asyncio.constants.DEBUG_STACK_DEPTH
        self.assertEqual(frames[-1], (__file__, line, 'make'))
        # (the stock interpreter's C Future does not limit the depth)
        limited = future_frames == depth
        if limited:
            self.assertEqual([f[2] for f in frames],
                             ['deep'] * (depth - 2) + ['make'])
        # with a factory, the task is made in the factory, called by
        # create_task(): nothing is removed
        self.assertEqual(frames2[-3], (__file__, line2, 'make'))
        self.assertEqual(frames2[-1][::2], (__file__, '<lambda>'))
        if limited:
            self.assertEqual(len(frames2), depth)
        self.assertIsNone(none)
        self.assertQuiet(out)

    def test_source_traceback_near_the_limit(self):
        # from a thread's short stack, at depths on both sides of
        # DEBUG_STACK_DEPTH: how many frames are kept
        def scenario(loop):
            lengths = []

            def make():
                task = loop.create_task(ret(1))
                tb = task._source_traceback
                fut = asyncio.Future(loop=loop)     # made here, no frame cut
                lengths.append((len(tb), tb[-1][2],
                                len(fut._source_traceback)))
                task.cancel()

            for n in range(asyncio.constants.DEBUG_STACK_DEPTH + 2):
                thread = threading.Thread(target=deep, args=(n, make))
                thread.start()
                thread.join()
            loop.run_until_complete(asyncio.sleep(0))
            return lengths
        out = self.both(scenario, debug=True)
        depth = asyncio.constants.DEBUG_STACK_DEPTH
        # (the stock interpreter's C Future does not limit the depth)
        limited = max(t[2] for t in out['trace']) == depth
        for task_frames, last, future_frames in out['trace']:
            self.assertEqual(last, 'make')
            if limited and future_frames == depth:
                # create_task()'s frame took the place of the outermost
                self.assertEqual(task_frames, depth - 1)
            else:
                # the same frames as a future made there
                self.assertEqual(task_frames, future_frames)
        self.assertQuiet(out)

    def test_task_factory(self):
        def scenario(loop):
            calls = []

            def factory(loop, coro, **kwargs):
                calls.append((coro.__name__, sorted(kwargs)))
                return tasks.Task(coro, loop=loop, **kwargs)

            loop.set_task_factory(factory)
            ctx = contextvars.copy_context()
            ctx.run(var.set, 'in ctx')
            with mock.patch.object(tasks, '_set_task_name',
                                   wraps=tasks._set_task_name) as set_name:
                ts = [loop.create_task(var_reader()),
                      loop.create_task(var_reader(), name='n'),
                      loop.create_task(var_reader(), context=ctx),
                      loop.create_task(var_reader(), name='m', context=ctx)]
                names = [(c.args[0] is t, c.args[1]) for c, t in
                         zip(set_name.call_args_list, ts)]
            out = [calls, names, [task_desc(t) for t in ts],
                   loop.run_until_complete(asyncio.gather(*ts))]

            # a factory that makes something without set_name()
            def no_set_name(loop, coro):
                coro.close()
                fut = loop.create_future()
                fut.set_result(None)
                return fut
            loop.set_task_factory(no_set_name)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                fut = loop.create_task(ret(1), name='lost')
                line = sys._getframe().f_lineno - 1
            out.append((type(fut).__name__, line,
                        [(w.category.__name__, w.filename, w.lineno)
                         for w in caught]))
            loop.set_task_factory(None)
            return out
        out = self.both(scenario)
        calls, names, descs, results, no_set_name = out['trace']
        self.assertEqual(calls, [('var_reader', []), ('var_reader', []),
                                 ('var_reader', ['context']),
                                 ('var_reader', ['context'])])
        self.assertEqual(names, [(True, None), (True, 'n'), (True, None),
                                 (True, 'm')])
        self.assertEqual([d[2] for d in descs], ['Task-N', 'n', 'Task-N', 'm'])
        self.assertEqual(results, ['default', 'default', 'in ctx',
                                   'changed'])
        self.assertEqual(no_set_name, (
            'Future', no_set_name[1],
            [('DeprecationWarning', __file__, no_set_name[1])]))
        self.assertQuiet(out)

    def test_overrides(self):
        class Loop(asyncio.SelectorEventLoop):
            calls = []      # set by the scenario

            def create_task(self, coro, *, name=None, context=None):
                self.calls.append(('create_task', name))
                return super().create_task(coro, name=name, context=context)

            def _check_closed(self):
                self.calls.append('_check_closed')
                return super()._check_closed()

        class MyTask(asyncio.Task):
            pass

        class MyPyTask(tasks._PyTask):
            pass

        def scenario(loop):
            loop.calls = []
            ts = [loop.create_task(ret(1), name='a')]
            for cls in (MyTask, MyPyTask):
                with mock.patch.object(tasks, 'Task', cls):
                    ts.append(loop.create_task(ret(2)))
            out = [loop.calls, [task_desc(t) for t in ts]]
            loop.calls = []
            out.append(loop.run_until_complete(asyncio.gather(*ts)))
            return out
        out = self.both(scenario, base=Loop)
        # the second _check_closed(): call_soon() of the task's first step
        self.assertEqual(out['trace'], [
            [('create_task', 'a'), '_check_closed', '_check_closed',
             ('create_task', None), '_check_closed', '_check_closed',
             ('create_task', None), '_check_closed', '_check_closed'],
            [(asyncio.Task.__module__, 'Task', 'a', True),
             (__name__, 'MyTask', 'Task-N', True),
             (__name__, 'MyPyTask', 'Task-N', True)],
            [1, 2, 2]])
        self.assertQuiet(out)

    def test_closed_loop(self):
        def scenario(loop):
            calls = []
            loop.close()
            coro = ret(1)
            out = [outcome(loop.create_task, coro),
                   inspect.getcoroutinestate(coro)]
            loop.set_task_factory(lambda loop, coro: calls.append(coro))
            out += [outcome(loop.create_task, coro, name='n'),
                    inspect.getcoroutinestate(coro), calls]
            coro.close()
            return out
        out = self.both(scenario)
        closed = ('raises', ('RuntimeError', ('Event loop is closed',), None))
        self.assertEqual(out['trace'], [closed, 'CORO_CREATED', closed,
                                        'CORO_CREATED', []])
        self.assertQuiet(out)

    def test_closed_is_checked_first(self):
        # _check_closed() comes before the task factory is looked at
        class Loop(asyncio.SelectorEventLoop):
            calls = []      # set by the scenario

            @property
            def _task_factory(self):
                self.calls.append('_task_factory')
                if self.raise_from_factory:
                    raise ValueError('from _task_factory')

            @_task_factory.setter
            def _task_factory(self, value):
                pass

            def _check_closed(self):
                self.calls.append('_check_closed')
                return super()._check_closed()

        def scenario(loop):
            out = []
            loop.raise_from_factory = False
            loop.calls = []
            task = loop.create_task(ret(1))
            out.append(loop.calls[:2])    # then call_soon()'s own check
            loop.run_until_complete(task)
            loop.raise_from_factory = True
            loop.close()
            loop.calls = []
            coro = ret(2)
            out += [outcome(loop.create_task, coro), loop.calls]
            coro.close()
            return out
        out = self.both(scenario, base=Loop)
        self.assertEqual(out['trace'], [
            ['_check_closed', '_task_factory'],
            ('raises', ('RuntimeError', ('Event loop is closed',), None)),
            ['_check_closed']])
        self.assertQuiet(out)

    def test_bad_calls(self):
        def scenario(loop):
            coro = ret(1)
            out = [outcome(loop.create_task)[1][0],
                   outcome(loop.create_task, coro, 'name')[1][0],
                   outcome(loop.create_task, coro, bogus=1)[1][0],
                   outcome(loop.create_task, 42),
                   outcome(loop.create_task, ret)]
            coro.close()
            return out
        out = self.both(scenario)
        self.assertEqual(out['trace'], [
            'TypeError', 'TypeError', 'TypeError',
            ('raises', ('TypeError', ('a coroutine was expected, got 42',),
                        None)),
            ('raises', ('TypeError', (norm(
                f'a coroutine was expected, got {ret!r}'),), None))])
        self.assertQuiet(out)


class PyCreateTaskTests(CreateTaskCases, test_utils.TestCase):
    modes = (PURE_CREATE_TASK,)


@unittest.skipUnless(RUN_C, 'no C create_task expected on this interpreter')
class CCreateTaskTests(CreateTaskCases, test_utils.TestCase):
    modes = (C, PURE_CREATE_TASK)


# ---------------------------------------------------------------------------
# Random trees of gathers
#
# A program is plain data, so that it can be printed, compared and shrunk:
#
#   gather   ('gather', children, return_exceptions, duplicates, eager)
#            eager: the gather future itself is the argument; otherwise a
#            coroutine that makes the gather when it runs and awaits it.
#            duplicates: (position, child index) pairs, an argument
#            repeated.
#   coro     ('coro', sleeps, end)            a coroutine
#   task     ('task', 'c' or 'py', sleeps, end)   a task made beforehand
#   await    ('await', sleeps, end)           an object with __await__
#   future   ('future', 'c', 'py' or 'like', steps, how)   resolved by the
#            program `steps` loop iterations after it is made, how:
#            'result', 'exception', 'cancel', 'cancel-msg' or 'never'
#   end      'return', 'raise', 'cancelled' (raises CancelledError) or
#            'block' (until cancelled)
#
# and a program is a dict: the root gather, cancellations (after so many
# iterations, of the n-th object made so far, with a message), the task
# factory, and when the task awaiting the root is cancelled.

MAX_STEPS = 40
ENDS = ('return', 'return', 'raise', 'cancelled', 'block')
HOWS = ('result', 'result', 'exception', 'cancel', 'cancel-msg', 'never')
MESSAGES = (None, 'm1', 'm2')


def random_node(rnd, depth):
    kinds = ['coro', 'coro', 'task', 'await', 'future', 'future']
    if depth < 3:
        kinds += ['gather', 'gather']
    kind = rnd.choice(kinds)
    if kind == 'gather':
        return random_gather(rnd, depth + 1, eager=rnd.random() < 0.5)
    if kind == 'future':
        return ('future', rnd.choice(('c', 'py', 'like')), rnd.randint(0, 6),
                rnd.choice(HOWS))
    if kind == 'task':
        return ('task', rnd.choice(('c', 'py')), rnd.randint(0, 4),
                rnd.choice(ENDS))
    return (kind, rnd.randint(0, 4), rnd.choice(ENDS))


def random_gather(rnd, depth, eager=True):
    children = tuple(random_node(rnd, depth)
                     for _ in range(rnd.randint(1, 4)))
    duplicates = tuple((rnd.randint(0, 4), rnd.randrange(len(children)))
                       for _ in range(rnd.choice((0, 0, 0, 1, 2))))
    return ('gather', children, rnd.random() < 0.5, duplicates, eager)


def numbered_program(number):
    rnd = random.Random(number)
    return {
        'root': random_gather(rnd, 0),
        'cancellations': tuple(
            (rnd.randint(0, 12), rnd.randint(0, 30), rnd.choice(MESSAGES))
            for _ in range(rnd.choice((0, 0, 1, 1, 2, 3)))),
        'factory': rnd.choice((None, None, None, 'pure task', 'recording')),
        'cancel main': rnd.choice((None,) * 4 + ((rnd.randint(0, 12),
                                                  rnd.choice(MESSAGES)),)),
    }


class LeafAwaitable:
    def __init__(self, run, tag, sleeps, end):
        self.run, self.tag, self.sleeps, self.end = run, tag, sleeps, end

    def __await__(self):
        return (yield from self.run.leaf(self.tag, self.sleeps,
                                         self.end).__await__())


class RandomRun:
    """One program on one loop: run() returns the trace."""

    def __init__(self, loop, program):
        self.loop = loop
        self.program = program
        self.trace = []
        self.objects = {}       # tag -> every future-like made, in order

    def note(self, *event):
        self.trace.append(event)

    def register(self, tag, fut):
        self.objects[tag] = fut
        fut.add_done_callback(lambda f: self.note('done', tag, state(f)))

    def after(self, steps, func, *args):
        if steps > 0:
            self.loop.call_soon(self.after, steps - 1, func, *args)
        else:
            self.loop.call_soon(func, *args)

    async def leaf(self, tag, sleeps, end):
        self.note('start', tag)
        try:
            for _ in range(sleeps):
                await asyncio.sleep(0)
            if end == 'return':
                return tag
            if end == 'raise':
                raise ValueError(tag)
            if end == 'cancelled':
                raise asyncio.CancelledError(tag)
            await self.loop.create_future()
        except asyncio.CancelledError as exc:
            self.note('cancelled inside', tag, exc.args)
            raise

    async def lazy_gather(self, node, tag):
        self.note('start', tag)
        return await self.gather(node, tag)

    def build(self, node, tag):
        """The argument for a node."""
        kind = node[0]
        if kind == 'gather':
            if node[4]:
                return self.gather(node, tag)
            return self.lazy_gather(node, tag)
        if kind == 'coro':
            return self.leaf(tag, *node[1:])
        if kind == 'await':
            return LeafAwaitable(self, tag, *node[1:])
        if kind == 'task':
            coro = self.leaf(tag, *node[2:])
            if node[1] == 'c':
                task = self.loop.create_task(coro, name=tag)
            else:
                task = tasks._PyTask(coro, loop=self.loop, name=tag)
            self.register(tag, task)
            return task
        impl, steps, how = node[1:]
        if impl == 'c':
            fut = self.loop.create_future()
        elif impl == 'py':
            fut = futures._PyFuture(loop=self.loop)
        else:
            fut = FutureLike(self.loop, tag, self.trace)
        self.register(tag, fut)
        if how != 'never':
            self.after(steps, self.resolve, tag, how)
        return fut

    def gather(self, node, tag):
        _, children, return_exceptions, duplicates, _ = node
        args = [self.build(child, f'{tag}.{i}')
                for i, child in enumerate(children)]
        for position, index in duplicates:
            args.insert(position % (len(args) + 1), args[index % len(args)])
        outer = asyncio.gather(*args, return_exceptions=return_exceptions)
        self.register(tag, outer)
        made = outer._children
        for i, child in enumerate(made):
            if not any(child is fut for fut in self.objects.values()):
                self.register(f'{tag}:{i}', child)
        self.note('gathered', tag, [type(c).__name__ for c in made],
                  first_indexes(made))
        return outer

    def resolve(self, tag, how):
        fut = self.objects[tag]
        if fut._state != 'PENDING':
            self.note('resolve', tag, how, 'already done')
        elif how == 'result':
            fut.set_result(tag)
        elif how == 'exception':
            fut.set_exception(KeyError(tag))
        else:
            msg = tag if how == 'cancel-msg' else None
            self.note('resolve', tag, how, fut.cancel(msg))

    def cancel(self, index, msg):
        tags = list(self.objects)
        tag = tags[index % len(tags)]
        self.note('cancel', tag, msg, self.objects[tag].cancel(msg))

    async def main(self):
        try:
            result = await self.gather(self.program['root'], 'r')
        except BaseException as exc:
            self.note('main raises', exc_desc(exc))
            raise
        self.note('main returns', value_desc(result))

    def factory(self, loop, coro, **kwargs):
        if self.program['factory'] == 'pure task':
            return tasks._PyTask(coro, loop=loop, **kwargs)
        self.note('factory', coro.__qualname__, sorted(kwargs))
        return tasks.Task(coro, loop=loop, **kwargs)

    def step(self, n):
        """Up to n iterations of the loop, while it has callbacks to run
        (the programs use no timers)."""
        for _ in range(n):
            if not self.loop._ready:
                break
            self.loop.call_soon(self.loop.stop)
            self.loop.run_forever()

    def run(self):
        if self.program['factory']:
            self.loop.set_task_factory(self.factory)
        main = self.loop.create_task(self.main())
        self.register('main', main)
        for steps, index, msg in self.program['cancellations']:
            self.after(steps, self.cancel, index, msg)
        if self.program['cancel main']:
            self.after(self.program['cancel main'][0], main.cancel,
                       self.program['cancel main'][1])
        self.step(MAX_STEPS)
        # what is left is cancelled, so that nothing is destroyed pending
        for tag, fut in list(self.objects.items()):
            if fut._state == 'PENDING':
                self.note('left pending', tag, fut.cancel())
        self.step(10)
        self.note('end', [(tag, state(fut))
                          for tag, fut in self.objects.items()])
        self.loop.set_task_factory(None)
        return self.trace


def run_program(mode, program):
    return run_scenario(mode, lambda loop: RandomRun(loop, program).run())


def first_difference(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
                min(len(a), len(b)))


def disagreement(program, reference, candidate):
    """Where `candidate` disagrees with `reference` on the program, or None."""
    expected = run_program(reference, program)
    actual = run_program(candidate, program)
    if expected == actual:
        return None
    for key in expected:
        if expected[key] != actual[key]:
            break
    i = first_difference(expected[key], actual[key])
    context = ''.join(f'    {e!r}\n' for e in expected[key][max(0, i - 4):i])
    return (f'{candidate} disagrees with {reference} on {key!r}, '
            f'event {i}\nprogram:\n{pprint.pformat(program)}\n'
            f'events before:\n{context}'
            f'  {reference}: {expected[key][i:i + 1]!r}\n'
            f'  {candidate}: {actual[key][i:i + 1]!r}')


def smaller_nodes(node):
    """The node a little simpler: each variant once."""
    kind = node[0]
    if kind != 'gather':
        if node[-2]:        # sleeps or steps
            yield node[:-2] + (0,) + node[-1:]
        if node[:1] != ('coro',):
            yield ('coro', 0, 'return')
        return
    _, children, return_exceptions, duplicates, eager = node
    if duplicates:
        yield ('gather', children, return_exceptions, (), eager)
    if not eager:
        yield ('gather', children, return_exceptions, duplicates, True)
    if return_exceptions:
        yield ('gather', children, False, duplicates, eager)
    for i in range(len(children)):
        if len(children) > 1:
            yield ('gather', children[:i] + children[i + 1:],
                   return_exceptions, duplicates, eager)
        for smaller in smaller_nodes(children[i]):
            yield ('gather', children[:i] + (smaller,) + children[i + 1:],
                   return_exceptions, duplicates, eager)


def smaller_programs(program):
    for i in range(len(program['cancellations'])):
        cancellations = program['cancellations']
        yield dict(program, cancellations=cancellations[:i] +
                   cancellations[i + 1:])
    if program['factory']:
        yield dict(program, factory=None)
    if program['cancel main']:
        yield dict(program, **{'cancel main': None})
    for root in smaller_nodes(program['root']):
        yield dict(program, root=root)


def shrink(program, reference, candidate, seconds):
    """Drop, one at a time, what the disagreement does not need."""
    return cfork_helpers.shrink(
        program, smaller_programs,
        lambda smaller: disagreement(smaller, reference, candidate), seconds)


def check_programs(reference, candidate, examples, seed=SEED,
                   shrink_seconds=20):
    """Programs from fixed seeds: on the first that `candidate` runs
    differently from `reference`, shrink it and raise AssertionError."""
    cfork_helpers.check_numbered_programs(
        numbered_program,
        lambda program: disagreement(program, reference, candidate),
        smaller_programs, examples, seed, shrink_seconds)


@unittest.skipUnless(RUN_C, 'no C gather expected on this interpreter')
class RandomGatherTests(unittest.TestCase):

    def setUp(self):
        if C_GATHER is None or C_CREATE_TASK is None:
            self.fail('no C gather or create_task')

    def test_random_programs(self):
        check_programs(PURE, C, EXAMPLES)


class HarnessTests(unittest.TestCase):
    """The random programs themselves: they must be deterministic, cover
    what they are meant to, and catch wrong gathers."""

    def wrong_mode(self, name, **methods):
        return Mode(name, c_gather=False, c_create_task=False,
                    gathering=type('_GatheringFuture', (PY_GATHERING,),
                                   methods))

    def assert_caught(self, wrong):
        with self.assertRaises(AssertionError) as cm:
            check_programs(PURE, wrong, examples=200, shrink_seconds=0)
        self.assertIn(f'{wrong} disagrees with {PURE}', str(cm.exception))

    def test_catches_a_dropped_cancel_message(self):
        def cancel(self, msg=None):
            return PY_GATHERING.cancel(self)
        self.assert_caught(self.wrong_mode('no message', cancel=cancel))

    def test_catches_a_forgotten_cancel_request(self):
        # issue 32684 undone: a cancelled gather with return_exceptions
        # gives its results
        def cancel(self, msg=None):
            result = PY_GATHERING.cancel(self, msg)
            self._cancel_requested = False
            return result
        self.assert_caught(self.wrong_mode('forgetful', cancel=cancel))

    def test_shrinks(self):
        def cancel(self, msg=None):
            return PY_GATHERING.cancel(self)
        wrong = self.wrong_mode('no message', cancel=cancel)
        number = next(n for n in range(SEED, SEED + 200)
                      if disagreement(numbered_program(n), PURE, wrong))
        program = shrink(numbered_program(number), PURE, wrong, seconds=60)
        self.assertIsNotNone(disagreement(program, PURE, wrong))
        # a gather cancelled with a message, or its waiter cancelled
        self.assertLessEqual(len(program['cancellations']), 1, program)

    def test_pure_agrees_with_itself(self):
        check_programs(PURE, PURE, examples=20)

    def test_programs_are_reproducible(self):
        self.assertEqual([numbered_program(n) for n in range(10)],
                         [numbered_program(n) for n in range(10)])

    def test_coverage(self):
        # what the programs are for happens in them, often
        seen = collections.Counter()
        for number in range(SEED, SEED + 100):
            for event in run_program(PURE, numbered_program(number))['trace']:
                if event[0] == 'done':
                    what, *rest = event[2]
                    seen[what] += 1
                    if what == 'exception' and rest[0][0] == 'CancelledError':
                        seen['finished with CancelledError'] += 1
                elif event[0] in ('gathered', 'cancel', 'left pending',
                                  'cancelled inside'):
                    seen[event[0]] += 1
                    if event[0] == 'gathered' and len(set(event[3])) < len(
                            event[3]):
                        seen['duplicates'] += 1
                elif event[0] == 'factory':
                    seen['factory'] += 1
        for what in ('result', 'exception', 'cancelled',
                     'finished with CancelledError', 'gathered', 'cancel',
                     'cancelled inside', 'duplicates', 'factory'):
            self.assertGreater(seen[what], 10, (what, seen))


# ---------------------------------------------------------------------------
# Which versions run

class WhichGatherTests(unittest.TestCase):
    """gather() and create_task() use the C versions whenever _asyncio
    provides them, and on our build it must: the C cases above cannot be
    skipped silently."""

    def test_our_build_provides_them(self):
        if not OUR_BUILD:
            self.skipTest("not the fork's interpreter")
        for name in ('_gather', '_GatheringFuture', '_EventLoopCore'):
            self.assertTrue(hasattr(_asyncio, name),
                            f'the built-in _asyncio has no {name}')
        self.assertIs(tasks._c_gather, _asyncio._gather)
        self.assertIs(tasks._CGatheringFuture, _asyncio._GatheringFuture)
        self.assertIs(tasks._GatheringFuture, _asyncio._GatheringFuture)
        self.assertTrue(issubclass(_asyncio._GatheringFuture,
                                   _asyncio.Future))
        self.assertEqual(tasks._PyGatheringFuture.__module__, 'asyncio.tasks')
        self.assertIn('_c_gather', tasks.gather.__code__.co_names)
        self.assertIn('create_task', _asyncio._EventLoopCore.__dict__)
        self.assertNotIn('create_task', base_events.BaseEventLoop.__dict__)
        self.assertIs(asyncio.SelectorEventLoop.create_task,
                      _asyncio._EventLoopCore.create_task)
        self.assertEqual((PY_CREATE_TASK.__module__, PY_CREATE_TASK.__name__),
                         ('asyncio.base_events', 'create_task'))

    def test_gather_goes_through_c(self):
        if C_GATHER is None:
            self.assertFalse(OUR_BUILD)
            self.skipTest('no C gather')
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)

        async def main():
            outer = asyncio.gather(ret(1), ret(2), return_exceptions=True)
            return type(outer), await outer
        with mock.patch.object(tasks, '_c_gather', wraps=C_GATHER) as spy:
            cls, result = loop.run_until_complete(main())
        self.assertEqual((cls, result), (C_GATHERING, [1, 2]))
        (items, return_exceptions), kwargs = spy.call_args
        self.assertEqual((spy.call_count, type(items), len(items),
                          return_exceptions, kwargs), (1, tuple, 2, True, {}))

    def test_callback_type_not_leaked(self):
        # each gather() makes one callback object; its type must get back
        # the reference the object took (seen without a debug build)
        if C_GATHER is None:
            self.skipTest('no C gather')
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)

        async def main():
            fut = loop.create_future()
            asyncio.gather(fut)
            callback_type = type(fut._callbacks[0][0])
            fut.set_result(None)
            counts = []
            for _ in range(3):
                outer = asyncio.gather(ret(1), loop.create_future(),
                                       return_exceptions=True)
                outer.cancel()
                await awaited(outer)
                del outer
                counts.append(sys.getrefcount(callback_type))
            return callback_type.__name__, counts
        name, counts = loop.run_until_complete(main())
        self.assertEqual(name, 'GatherCallback')
        self.assertEqual(counts, [counts[0]] * 3)

    def test_c_gather_declines(self):
        # outside a running loop, or with no arguments, _gather() does
        # nothing and returns None: the pure body handles the call
        if C_GATHER is None:
            self.skipTest('no C gather')
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        asyncio.set_event_loop(loop)
        self.addCleanup(asyncio.set_event_loop, None)
        coro = ret(1)
        fut = loop.create_future()
        self.assertIsNone(C_GATHER((coro, fut, 42), False))
        self.assertEqual(inspect.getcoroutinestate(coro), 'CORO_CREATED')
        self.assertEqual((fut._callbacks or [], asyncio.all_tasks(loop)),
                         ([], set()))
        coro.close()

        async def main():
            return C_GATHER((), False), C_GATHER((), True)
        self.assertEqual(loop.run_until_complete(main()), (None, None))

    def test_c_gather_arguments(self):
        if C_GATHER is None:
            self.skipTest('no C gather')
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)

        async def main():
            coro = ret(1)
            out = [outcome(C_GATHER)[1][0],
                   outcome(C_GATHER, (coro,))[1][0],
                   outcome(C_GATHER, [coro], False)[1][0],
                   outcome(C_GATHER, (coro,), False, None)[1][0],
                   outcome(C_GATHER, items=(coro,),
                           return_exceptions=False)[1][0],
                   inspect.getcoroutinestate(coro)]
            coro.close()
            return out
        self.assertEqual(loop.run_until_complete(main()),
                         ['TypeError'] * 5 + ['CORO_CREATED'])


if __name__ == '__main__':
    unittest.main()
