"""Differential tests: random Future/Task programs on the C and Python classes.

A program is a list of operations over a pool of futures and tasks: create
them (plain, subclassed, or subclassed with every public method traced), add
and remove done callbacks (which may raise, cancel, resolve or add callbacks
in turn) with and without contexts, set results and exceptions, cancel with
messages, uncancel, query, and run the event loop one iteration at a time.
Each task runs a small script of its own: await members of the pool
(directly, through shield() or gather(), swallowing CancelledError or not),
sleep, cancel others, read the context, uncancel itself, start an eager
task with a script of its own, return or raise.  Where tasks take
eager_start (3.12's eager tasks), programs also make eager tasks from a
callback of the running loop.

The same program runs once on (futures._PyFuture, tasks._PyTask) and once on
(futures._CFuture, tasks._CTask), each under a fresh event loop, and records
a trace of everything observable: return values, exception types, arguments
and identities, callback order and the context each callback saw, the calls a
subclass receives, reprs, and every error the loop logs (including those
logged when the objects are destroyed).  The two traces must be equal.

A random generator with fixed seeds makes ASYNCIO_DIFF_EXAMPLES (default
1000, a second or two) programs.  The first program on which the classes
disagree is shrunk, an operation or a script action at a time, for up to
ASYNCIO_DIFF_SHRINK_SECONDS (default 20), and reported with the events that
led to the difference.  For a longer hunt:

    ASYNCIO_DIFF_EXAMPLES=50000 ./python -m test test_asyncio.test_c_differential

HarnessTests show that the comparison catches deliberately wrong classes
(callbacks run in reverse, a cancel message dropped, a destroy-time log
missing, a callback context ignored) and that shrinking works.

(Hypothesis is not used: Debian's version makes `hasattr(hypothesis.errors,
name)` true for every name, which breaks regrtest's clear_caches() for every
test that runs after it in the same process, and -R runs altogether.)

Always ignored, as implementation details: the name of the task's wakeup
callback in reprs (Task.__wakeup vs Task.task_wakeup), `_callbacks` being
None instead of [] when empty, the counter behind default task names (each
implementation has its own), which methods an object calls on itself (the
Python Task.cancel calls self.done()), and awaiting a task from itself (the
upstream classes check for it at different points; test_c_hostile covers
it).

Upstream's C classes also differ from its Python ones in the ways listed in
UPSTREAM_DIFFERENCES.  On the stock interpreter they are tolerated; on the
fork (whose _asyncio is a built-in) the C classes must match the Python ones
there too, except where marked.  ASYNCIO_DIFF_TOLERATE (names,
comma-separated; empty for none) overrides the choice.
"""

import asyncio
import contextvars
import gc
import inspect
import os
import random
import re
import sys
import time
import unittest
from asyncio import futures, tasks
from test.test_asyncio import cfork_helpers


def is_registered(task):
    """Whether task is registered (in tasks._all_tasks)."""
    return task in tasks._all_tasks


def tearDownModule():
    asyncio.set_event_loop_policy(None)


EXAMPLES = int(os.environ.get('ASYNCIO_DIFF_EXAMPLES', '1000'))
# How long a failing program may be shrunk before it is reported.
SHRINK_SECONDS = float(os.environ.get('ASYNCIO_DIFF_SHRINK_SECONDS', '20'))
SEED = 20261122

# Where upstream's C Future and Task differ from its Python ones, and
# whether the difference is tolerated in the fork's C classes too.
UPSTREAM_DIFFERENCES = {
    'invalid-state-message': (False,
        "InvalidStateError's message: 'Result is not set.' for 'Result is "
        "not ready.', 'invalid state' for '<STATE>: <repr>'"),
    'explicit-context-none': (False,
        'add_done_callback(fn, context=None) copies the context when the '
        'callback is scheduled, not when it is added'),
    'subclass-result-calls': (False,
        'awaiting a finished Future subclass, or waking a task up from one, '
        'does not call its result() method'),
    # An artefact of the Python Task resuming the coroutine from Python
    # frames that are handling the exception the awaited future raised
    # (Task.__wakeup), which the coroutine's own exceptions then chain to.
    'cancelled-error-context': (True,
        'exceptions raised in a task after it caught one (a CancelledError '
        'from a cancelled await, say) lack the __context__ the Python Task '
        'gives them; __context__ is not compared at all'),
}
FORK = '_asyncio' in sys.builtin_module_names
TOLERATED = set(os.environ.get('ASYNCIO_DIFF_TOLERATE', ','.join(
    name for name, (on_fork, _) in UPSTREAM_DIFFERENCES.items()
    if on_fork or not FORK)).split(','))


# ---------------------------------------------------------------------------
# The implementations under comparison

class Impl:
    """One Future class and one Task class, with the subclasses built on them.

    The subclasses get the same names for every implementation, so that their
    reprs can be compared.
    """

    def __init__(self, name, future, task):
        self.name = name
        self.future = future
        self.task = task
        self.futures = {'base': future,
                        'sub': type('FutureSub', (future,), {}),
                        'traced': traced_subclass('TracedFuture', future)}
        self.tasks = {'base': task,
                      'sub': type('TaskSub', (task,), {}),
                      'traced': traced_subclass('TracedTask', task)}

    def __repr__(self):
        return f'<Impl {self.name}>'


def python_method(name):
    return getattr(tasks._PyTask, name)


TRACED_METHODS = ('add_done_callback', 'remove_done_callback', 'cancel',
                  'set_result', 'set_exception', 'get_loop', 'uncancel',
                  'cancelling')
if 'subclass-result-calls' not in TOLERATED:
    TRACED_METHODS += ('result', 'exception')


def traced_subclass(name, base):
    """A subclass of *base* that notes every call of TRACED_METHODS.

    The arguments are noted as bound to the pure-Python method's signature:
    the C Task passes `msg` to its waiter's cancel() positionally, the Python
    Task by keyword, as upstream does.
    """
    def make(method_name):
        base_method = getattr(base, method_name)
        signature = inspect.signature(python_method(method_name))

        def method(self, *args, **kwargs):
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            self._difftest_run.note_call(self, method_name,
                                         list(bound.arguments.items())[1:])
            return base_method(self, *args, **kwargs)
        method.__name__ = method_name
        return method

    def __init__(self, *args, difftest_run, **kwargs):
        self._difftest_run = difftest_run
        base.__init__(self, *args, **kwargs)

    namespace = {m: make(m) for m in TRACED_METHODS if hasattr(base, m)}
    namespace['__init__'] = __init__
    return type(name, (base,), namespace)


PY = Impl('py', futures._PyFuture, tasks._PyTask)
C_FUTURE = getattr(futures, '_CFuture', None)
C_TASK = getattr(tasks, '_CTask', None)
C = Impl('c', C_FUTURE, C_TASK) if C_FUTURE and C_TASK else None


# ---------------------------------------------------------------------------
# Program generation

# Everything a program can name.
VARIANTS = ('base', 'sub', 'traced')
RESULTS = (None, 1, 'text', (2, 3))
EXCEPTIONS = ('ValueError', 'KeyError-class', 'CancelledError', 'StopIteration',
              'SystemExit')
MESSAGES = (None, 'why', '')
TASK_NAMES = (None, 'job', 7)
# Task(eager_start=True), on our build and wherever asyncio has eager tasks
EAGER = (cfork_helpers.OUR_BUILD
         or hasattr(asyncio, 'eager_task_factory'))
CONTEXTS = (None, 'fresh', 'copy')
VAR_VALUES = ('a', 'b', 'c')


class Draw:
    """Draws numbers from a random.Random and picks from sequences."""

    def __init__(self, rng):
        self.int = rng.randint

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def flag(self):
        return bool(self.int(0, 1))


def gen_await_wrapper(draw):
    """How a script awaits a member of the pool: directly, shielded, or
    gathered with another member."""
    kind = draw.pick((None, None, 'shield', 'gather'))
    if kind == 'gather':
        return ('gather', draw.int(0, 9), draw.flag())
    return kind


def gen_script(draw, spawn=EAGER):
    """A task's script: the actions its coroutine performs in order.  An
    eager task it spawns runs a script that spawns none."""
    kinds = ('await',) * 4 + ('sleep', 'cancel', 'uncancel', 'var',
                              'current', 'return', 'raise')
    if spawn:
        kinds += ('spawn',)
    script = []
    for _ in range(draw.int(0, 5)):
        kind = draw.pick(kinds)
        if kind == 'spawn':
            script.append(('spawn', draw.pick(VARIANTS),
                           gen_script(draw, spawn=False),
                           draw.pick(CONTEXTS)))
        elif kind == 'await':
            script.append(('await', draw.int(0, 9), draw.flag(),
                           gen_await_wrapper(draw)))
        elif kind == 'cancel':
            script.append(('cancel', draw.int(0, 9), draw.pick(MESSAGES)))
        elif kind == 'return':
            script.append(('return', draw.pick(RESULTS)))
            break
        elif kind == 'raise':
            script.append(('raise', draw.pick(EXCEPTIONS)))
            break
        else:
            script.append((kind,))
    return tuple(script)


TARGETED = ('add_cb', 'remove_cb', 'set_result', 'set_exception', 'cancel',
            'uncancel', 'query')


# Repeated entries are drawn more often.
OP_KINDS = (('future', 'task', 'add_cb', 'step') * 3 +
            ('remove_cb', 'set_result', 'set_exception', 'cancel',
             'query') * 2 +
            ('uncancel', 'set_var', 'bad_task'))
if EAGER:
    OP_KINDS += ('eager_task',) * 2


def gen_callback_action(draw):
    """What a new callback does after noting its call."""
    kind = draw.pick((None, None, 'raise', 'cancel', 'set_result', 'add_cb'))
    if kind in (None, 'raise'):
        return kind
    return (kind, draw.int(0, 9))


def gen_op(draw):
    kind = draw.pick(OP_KINDS)
    target = draw.int(0, 9)
    if kind == 'future':
        return ('future', draw.pick(VARIANTS))
    if kind in ('task', 'eager_task'):
        return (kind, draw.pick(VARIANTS), gen_script(draw),
                draw.pick(TASK_NAMES), draw.pick(CONTEXTS))
    if kind == 'add_cb':
        # callback: -1 for a new one, else an index into the known ones
        return ('add_cb', target, draw.int(-1, 5), draw.pick(CONTEXTS),
                gen_callback_action(draw))
    if kind == 'remove_cb':
        return ('remove_cb', target, draw.int(-1, 5))
    if kind == 'set_result':
        return ('set_result', target, draw.pick(RESULTS))
    if kind == 'set_exception':
        return ('set_exception', target, draw.pick(EXCEPTIONS[:-1]))
    if kind == 'cancel':
        return ('cancel', target, draw.pick(MESSAGES))
    if kind == 'step':
        return ('step', draw.int(1, 3))
    if kind == 'set_var':
        return ('set_var', draw.pick(VAR_VALUES))
    if kind == 'bad_task':
        return ('bad_task', draw.pick(VARIANTS))
    return (kind, target)


def gen_program(draw):
    # Start with something to operate on, so that short programs do work.
    program = [('future', draw.pick(VARIANTS))]
    program += [gen_op(draw) for _ in range(draw.int(1, 25))]
    return program


def numbered_program(number):
    """The program the generator makes from seed *number*."""
    return gen_program(Draw(random.Random(number)))


def format_program(program):
    return '\n'.join(f'  {op!r},' for op in program)


# ---------------------------------------------------------------------------
# Running a program and tracing what it does

ADDRESS = re.compile(r' at 0x[0-9a-f]+')
WAKEUP = re.compile(r'\w+\.(__wakeup|task_wakeup)\(\)')
DEFAULT_NAME = re.compile(r'Task-\d+')


def normalize_repr(text):
    text = ADDRESS.sub('', text)
    text = WAKEUP.sub('Task.<wakeup>()', text)
    return DEFAULT_NAME.sub('Task-N', text)


def make_exception(choice):
    if choice == 'KeyError-class':
        return KeyError
    exc_type = {'ValueError': ValueError, 'CancelledError':
                asyncio.CancelledError, 'StopIteration': StopIteration,
                'SystemExit': SystemExit}[choice]
    return exc_type(choice.lower())


class Callback:
    """A done callback that notes what it sees, then may raise, or cancel or
    resolve a member of the pool, or add a callback to one."""

    def __init__(self, run, label, action):
        self.run = run
        self.label = label
        self.action = action

    def __call__(self, fut):
        run = self.run
        run.note('callback', self.label, run.describe(fut),
                 run.var.get('unset'), fut.done(), fut.cancelled())
        if self.action == 'raise':
            raise ValueError(self.label)
        if self.action is not None:
            kind, index = self.action
            other = run.target(index)
            if kind == 'add_cb':
                # Add the callback made after this one, if any, so that
                # chains of callbacks end.
                later = run.callbacks[run.callbacks.index(self) + 1:]
                if not later:
                    return
                call = other.add_done_callback, later[0]
            else:
                call = getattr(other, kind), self.label
            run.note('callback-' + kind, self.label, run.describe(other),
                     run.outcome(*call))

    def __repr__(self):
        return self.label


class Run:
    """One program run on one implementation; its trace is self.trace."""

    def __init__(self, impl):
        self.impl = impl
        self.trace = []
        self.pool = []
        self.callbacks = []
        self.labels = {}        # id(obj) -> label, for objects kept alive
        self.keep = []          # keeps labelled objects (and their ids) alive
        self.teardown_logs = None
        self.in_repr = False
        self.var = contextvars.ContextVar('difftest')
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self.on_error)

    # -- recording

    def note(self, *event):
        self.trace.append(event)

    def note_call(self, obj, name, arguments):
        # Calls made while the objects are torn down or formatted by the
        # (shared, pure-Python) repr helpers say nothing about the classes.
        if self.teardown_logs is None and not self.in_repr:
            self.note('call', self.describe(obj), name,
                      self.describe(arguments))

    def repr(self, obj):
        self.in_repr = True
        try:
            return normalize_repr(repr(obj))
        finally:
            self.in_repr = False

    def on_error(self, loop, context):
        entry = tuple((key, self.describe_log_value(key, value))
                      for key, value in sorted(context.items())
                      if key not in ('source_traceback', 'handle'))
        if self.teardown_logs is not None:
            self.teardown_logs.append(entry)
        else:
            self.note('log', entry)

    def describe_log_value(self, key, value):
        if key == 'message':
            return normalize_repr(value)
        if self.teardown_logs is not None:
            # Objects are being destroyed in no fixed order: describe them
            # by value only.
            if isinstance(value, BaseException):
                return self.describe_exception(value, identify=False)
            return self.repr(value)
        return self.describe(value)

    def label(self, obj, prefix):
        key = id(obj)
        if key not in self.labels:
            self.labels[key] = f'{prefix}{len(self.labels)}'
            self.keep.append(obj)
        return self.labels[key]

    def describe(self, value):
        if id(value) in self.labels:
            return self.labels[id(value)]
        if isinstance(value, BaseException):
            return self.describe_exception(value)
        if isinstance(value, (tuple, list)):
            return tuple(self.describe(v) for v in value)
        if isinstance(value, contextvars.Context):
            return ('context', value.get(self.var, 'unset'))
        if isinstance(value, asyncio.AbstractEventLoop):
            return 'loop' if value is self.loop else 'other loop'
        if callable(value) and 'wakeup' in getattr(value, '__name__', ''):
            return 'wakeup'
        if value is None or isinstance(value, (int, str)):
            return value
        return self.repr(value)

    def describe_exception(self, exc, identify=True, depth=2):
        args = exc.args
        if (isinstance(exc, asyncio.InvalidStateError)
                and 'invalid-state-message' in TOLERATED):
            args = '<message differs upstream>'
        if 'cancelled-error-context' in TOLERATED:
            depth = 0
        description = [type(exc).__qualname__, self.describe(args)]
        if identify:
            description.append(self.label(exc, 'e'))
        if depth and exc.__context__ is not None:
            description.append(self.describe_exception(
                exc.__context__, identify, depth - 1))
        return tuple(description)

    def outcome(self, func, *args, **kwargs):
        try:
            return ('ok', self.describe(func(*args, **kwargs)))
        except BaseException as exc:
            return ('raised', self.describe_exception(exc))

    # -- pool access

    def target(self, index):
        return self.pool[index % len(self.pool)] if self.pool else None

    def callback(self, index, action=None):
        if index < 0 or not self.callbacks:
            callback = Callback(self, f'cb{len(self.callbacks)}', action)
            self.callbacks.append(callback)
            return callback
        return self.callbacks[index % len(self.callbacks)]

    def context(self, choice):
        if choice is None:
            return None
        if choice == 'fresh':
            return contextvars.Context()
        context = contextvars.copy_context()
        context.run(self.var.set, f'ctx{len(self.trace)}')
        return context

    def make(self, classes, variant, *args, **kwargs):
        cls = classes[variant]
        if variant == 'traced':
            kwargs['difftest_run'] = self
        return cls(*args, loop=self.loop, **kwargs)

    def add(self, obj, prefix):
        self.pool.append(obj)
        self.note('new', self.label(obj, prefix))

    # -- the whole run

    def execute(self, program):
        gc_was_enabled = gc.isenabled()
        gc.disable()   # objects die only when the program ends
        try:
            contextvars.Context().run(self.run_program, program)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.tear_down()
        return self.trace

    def run_program(self, program):
        for op in program:
            if op[0] in TARGETED and not self.pool:
                continue    # (a shrunk program may have lost its future)
            getattr(self, 'op_' + op[0])(*op[1:])
        self.finish_tasks()
        for obj in self.pool:
            self.note('final', self.describe(obj), obj.done(),
                      obj.cancelled(), self.repr(obj))

    def step(self):
        self.loop.call_soon(self.loop.stop)
        outcome = self.outcome(self.loop.run_forever)
        if outcome != ('ok', None):
            self.note('step', outcome)

    def finish_tasks(self):
        # Scripts are finite: each round of cancellation uses up at least
        # one action of every pending task.
        for _ in range(3):
            self.step()
        for _ in range(8):
            pending = [t for t in self.pool
                       if isinstance(t, self.impl.task) and not t.done()]
            if not pending:
                break
            for task in pending:
                self.note('finish-cancel', self.describe(task),
                          self.outcome(task.cancel))
            for _ in range(3):
                self.step()

    def tear_down(self):
        self.teardown_logs = []
        self.pool.clear()
        self.callbacks.clear()
        self.keep.clear()
        self.labels.clear()
        self.loop.close()
        # The collector was off while the program ran, so what it made is
        # still in the youngest generation; collecting that one is enough
        # (and much faster than a full collection).
        gc.collect(0)
        gc.collect(0)
        self.note('teardown', sorted(self.teardown_logs, key=repr))

    # -- operations of the program

    def op_future(self, variant):
        self.add(self.make(self.impl.futures, variant), 'f')

    def op_task(self, variant, script, name, context):
        coro = self.script(script)
        task = self.make(self.impl.tasks, variant, coro, name=name,
                         context=self.context(context))
        self.add(task, 't')

    def op_eager_task(self, variant, script, name, context):
        # made by a callback of the running loop, so that it starts eagerly
        def make():
            coro = self.script(script)
            try:
                task = self.make(self.impl.tasks, variant, coro, name=name,
                                 context=self.context(context),
                                 eager_start=True)
            except BaseException as exc:
                self.note('eager_task', self.describe_exception(exc))
                raise
            self.add(task, 't')
            self.note('eager_task', task.done())
        self.loop.call_soon(make)
        self.step()

    def op_bad_task(self, variant):
        self.note('bad_task', self.outcome(
            self.make, self.impl.tasks, variant, 42))

    def op_add_cb(self, target, callback, context, action):
        fut = self.target(target)
        callback = self.callback(callback, action)
        kwargs = {'context': self.context(context)}
        if context is None and 'explicit-context-none' in TOLERATED:
            kwargs = {}
        self.note('add_cb', self.describe(fut), callback.label, self.outcome(
            fut.add_done_callback, callback, **kwargs))

    def op_remove_cb(self, target, callback):
        fut = self.target(target)
        callback = self.callback(callback)
        self.note('remove_cb', self.describe(fut), callback.label,
                  self.outcome(fut.remove_done_callback, callback))

    def op_set_result(self, target, value):
        fut = self.target(target)
        self.note('set_result', self.describe(fut),
                  self.outcome(fut.set_result, value))

    def op_set_exception(self, target, choice):
        fut = self.target(target)
        self.note('set_exception', self.describe(fut),
                  self.outcome(fut.set_exception, make_exception(choice)))

    def op_cancel(self, target, msg):
        fut = self.target(target)
        self.note('cancel', self.describe(fut), self.outcome(fut.cancel, msg))

    def op_uncancel(self, target):
        task = self.target(target)
        if isinstance(task, self.impl.task):
            self.note('uncancel', self.describe(task),
                      self.outcome(task.uncancel))

    def op_query(self, target):
        fut = self.target(target)
        self.note('query', self.describe(fut), fut.done(), fut.cancelled(),
                  self.outcome(fut.result), self.outcome(fut.exception),
                  fut.get_loop() is self.loop, fut._state,
                  len(fut._callbacks or ()), fut._log_traceback,
                  self.repr(fut))
        if isinstance(fut, self.impl.task):
            self.note('task', normalize_repr(fut.get_name()), fut.cancelling(),
                      fut._must_cancel, self.describe(fut._fut_waiter),
                      fut.get_coro() is fut._coro,
                      is_registered(fut))

    def op_step(self, count):
        for _ in range(count):
            self.step()

    def op_set_var(self, value):
        self.var.set(value)

    # -- the coroutine a task runs

    def would_wait_for_itself(self, awaited):
        # Tasks awaiting each other in a cycle, directly or through gather(),
        # would recurse in cancel() to a RecursionError at a depth that
        # differs between the classes.
        me = asyncio.current_task()
        seen = set()
        while awaited:
            obj = awaited.pop()
            if obj is me:
                return True
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            awaited.append(getattr(obj, '_fut_waiter', None))
            awaited.extend(getattr(obj, '_children', ()))
        return False

    def awaitable(self, index, wrapper):
        """What an 'await' action awaits, or None to sleep instead."""
        members = [self.target(index)]
        if wrapper is not None and wrapper != 'shield':
            members.append(self.target(wrapper[1]))
        if self.would_wait_for_itself(list(members)):
            return None
        if wrapper is None:
            return members[0]
        if wrapper == 'shield':
            return asyncio.shield(members[0])
        return asyncio.gather(*members, return_exceptions=wrapper[2])

    async def script(self, actions):
        label = self.describe(asyncio.current_task())
        self.note('start', label, self.var.get('unset'))
        for action in actions:
            kind = action[0]
            if kind == 'await':
                index, swallow, wrapper = action[1:]
                awaitable = self.awaitable(index, wrapper)
                try:
                    if awaitable is None:
                        await asyncio.sleep(0)
                    else:
                        result = await awaitable
                        self.note('awaited', label, self.describe(awaitable),
                                  self.describe(result))
                except asyncio.CancelledError as exc:
                    self.note('await-cancelled', label,
                              self.describe_exception(exc))
                    if not swallow:
                        raise
                except Exception as exc:
                    self.note('await-raised', label,
                              self.describe_exception(exc))
            elif kind == 'sleep':
                await asyncio.sleep(0)
            elif kind == 'cancel':
                other = self.target(action[1])
                self.note('task-cancel', label, self.describe(other),
                          self.outcome(other.cancel, action[2]))
            elif kind == 'uncancel':
                self.note('task-uncancel', label, self.outcome(
                    lambda: asyncio.current_task().uncancel()))
            elif kind == 'spawn':
                variant, sub_script, context = action[1:]
                coro = self.script(sub_script)
                try:
                    task = self.make(self.impl.tasks, variant, coro,
                                     context=self.context(context),
                                     eager_start=True)
                except BaseException as exc:
                    self.note('spawn', label, self.describe_exception(exc))
                    raise
                self.add(task, 't')
                self.note('spawn', label, task.done(),
                          self.describe(asyncio.current_task()))
            elif kind == 'var':
                self.note('var', label, self.var.get('unset'))
            elif kind == 'current':
                self.note('current', label,
                          self.describe(asyncio.current_task()))
            elif kind == 'return':
                return action[1]
            elif kind == 'raise':
                raise make_exception(action[1])
        return label


def run_program(impl, program):
    return Run(impl).execute(program)


# ---------------------------------------------------------------------------
# Driving the comparison

def first_difference(expected, actual):
    for index, (a, b) in enumerate(zip(expected, actual)):
        if a != b:
            return index
    return min(len(expected), len(actual))


def disagreement(program, reference, candidate):
    """Where *candidate* disagrees with *reference* on *program*, or None."""
    expected = run_program(reference, program)
    actual = run_program(candidate, program)
    if expected == actual:
        return None
    index = first_difference(expected, actual)
    context = expected[max(0, index - 3):index]
    return (
        f'{candidate.name} disagrees with {reference.name} at trace event '
        f'{index}\nprogram:\n{format_program(program)}\n'
        f'events before:\n' + ''.join(f'  {e!r}\n' for e in context) +
        f'{reference.name}: {expected[index:index + 1]!r}\n'
        f'{candidate.name}: {actual[index:index + 1]!r}')


def smaller_programs(program):
    """The program with one operation, or one action of a script, less."""
    for i in range(len(program)):
        yield program[:i] + program[i + 1:]
    for i, op in enumerate(program):
        if op[0] in ('task', 'eager_task'):
            script = op[2]
            for j in range(len(script)):
                smaller_op = op[:2] + (script[:j] + script[j + 1:],) + op[3:]
                yield program[:i] + [smaller_op] + program[i + 1:]


def shrink(program, reference, candidate, seconds):
    """Drop, one at a time, what the disagreement does not need."""
    return cfork_helpers.shrink(
        program, smaller_programs,
        lambda smaller: disagreement(smaller, reference, candidate), seconds)


def check_seeded(reference, candidate, examples, seed=SEED,
                 shrink_seconds=SHRINK_SECONDS):
    """Check programs from a seeded random generator; on the first
    difference, shrink the program and raise AssertionError."""
    cfork_helpers.check_numbered_programs(
        numbered_program,
        lambda program: disagreement(program, reference, candidate),
        smaller_programs, examples, seed, shrink_seconds)


# ---------------------------------------------------------------------------
# Deliberately wrong implementations, to show that the harness catches them

class CallbacksReversedFuture(futures._PyFuture):
    def _Future__schedule_callbacks(self):
        self._callbacks.reverse()
        super()._Future__schedule_callbacks()


class MessageDroppingFuture(futures._PyFuture):
    def cancel(self, msg=None):
        return super().cancel()


class SilentFuture(futures._PyFuture):
    def __del__(self):
        pass


class ContextIgnoringFuture(futures._PyFuture):
    def add_done_callback(self, fn, *, context=None):
        super().add_done_callback(fn)


class LazyTask(tasks._PyTask):
    # starts lazily whatever eager_start says
    def __init__(self, *args, eager_start=False, **kwargs):
        super().__init__(*args, **kwargs)


@unittest.skipIf(C is None,
                 'the C Future and Task (_asyncio.Future, _asyncio.Task) '
                 'are not available')
class CAgreesWithPythonTests(unittest.TestCase):

    def test_random_programs(self):
        check_seeded(PY, C, EXAMPLES)


class HarnessTests(unittest.TestCase):
    """The harness itself: it must be deterministic and must catch bugs."""

    def assert_caught(self, wrong):
        with self.assertRaises(AssertionError) as cm:
            check_seeded(PY, wrong, examples=200, shrink_seconds=0)
        self.assertIn('disagrees with py', str(cm.exception))

    def wrong_impl(self, name, future):
        return Impl(name, future, tasks._PyTask)

    def test_python_agrees_with_itself(self):
        check_seeded(PY, Impl('py-again', futures._PyFuture, tasks._PyTask),
                     examples=30)

    def test_shrinks_a_failing_program(self):
        wrong = self.wrong_impl('reversed', CallbacksReversedFuture)
        number = next(n for n in range(SEED, SEED + 200) if disagreement(
            numbered_program(n), PY, wrong))
        program = numbered_program(number)
        shrunk = shrink(program, PY, wrong, seconds=60)
        self.assertIsNotNone(disagreement(shrunk, PY, wrong))
        # two callbacks on a future that is then resolved or cancelled
        self.assertLessEqual(len(shrunk), 5, format_program(shrunk))

    def test_catches_reversed_callback_order(self):
        self.assert_caught(self.wrong_impl('reversed',
                                           CallbacksReversedFuture))

    def test_catches_dropped_cancel_message(self):
        self.assert_caught(self.wrong_impl('no-msg', MessageDroppingFuture))

    def test_catches_missing_log(self):
        self.assert_caught(self.wrong_impl('silent', SilentFuture))

    def test_catches_ignored_context(self):
        self.assert_caught(self.wrong_impl('no-ctx', ContextIgnoringFuture))

    @unittest.skipUnless(EAGER, 'tasks have no eager_start')
    def test_catches_lazy_start(self):
        self.assert_caught(Impl('lazy', futures._PyFuture, LazyTask))

    def test_programs_are_reproducible(self):
        first = [numbered_program(n)
                 for n in range(5)]
        again = [numbered_program(n)
                 for n in range(5)]
        self.assertEqual(first, again)


if __name__ == '__main__':
    unittest.main()
