"""inspect.signature() and the docstrings of the C core (_asyncio).

Every public callable of the module (its functions, its classes and their
methods, the await iterator and the callables a task or gather() hands to
futures and the loop) must have a signature that inspect.signature() can
read, equal to the reference:

- 3.11's own accelerator, where it has the object and inspect can read
  its signature: STOCK_SIGNATURES, which test_stock_signatures checks
  against the distro interpreter the fork is built from
  (/usr/bin/python3.11), run in a child process;
- else the pure-Python version in Lib/asyncio (futures._PyFuture,
  tasks._PyTask, events._PyHandle, base_events._py_hot_path, ...), except
  for the parameters listed in TAKEN_AS_STOCK, which 3.11's accelerator
  takes by position only although inspect cannot show it;
- else, for what neither has, the signature in OWN.

A method's `self` is left out of the comparison (a builtin's is
positional-only).  Every public callable must also have a docstring
that starts with a sentence, says more than its first line where the
reference's docstring does, and is written in its own words: no run of
SHARED_WORDS words in a row may be taken from the reference's docstring
(the pure version's, and stock's when its interpreter is there).
"""

import asyncio
import inspect
import json
import os
import subprocess
import types
import unittest
from asyncio import base_events, events, futures, tasks

from test.test_asyncio.cfork_helpers import _asyncio, OUR_BUILD

if not OUR_BUILD or not hasattr(_asyncio, '_EventLoopCore'):
    raise unittest.SkipTest("the fork's _asyncio is not built in")

STOCK_PYTHON = '/usr/bin/python3.11'


def tearDownModule():
    asyncio.set_event_loop_policy(None)


# What the test and the child process on the stock interpreter share:
# which callables there are, by label, and how a signature is written.
SHARED = r'''
import asyncio, inspect, json, sys, types, warnings
import _asyncio

CLASSES = ['Future', 'Task', 'Handle', 'TimerHandle', '_EventLoopCore',
           '_GatheringFuture']


def future_iter_type():
    loop = asyncio.new_event_loop()
    try:
        return type(_asyncio.Future(loop=loop).__await__())
    finally:
        loop.close()


def method_names(cls):
    """Methods of cls to check: not object's, no dunder but
    __class_getitem__."""
    names = []
    for name in dir(cls):
        if name.startswith('__') and name != '__class_getitem__':
            continue
        attr = getattr(cls, name, None)
        if isinstance(attr, (types.MethodDescriptorType,
                             types.BuiltinMethodType)):
            names.append(name)
    return names


def resolve(label):
    """The object of stock's or our _asyncio a label names, or None."""
    owner, _, name = label.rpartition('.')
    if owner == 'FutureIter':
        return getattr(future_iter_type(), name, None)
    if owner:
        return getattr(getattr(_asyncio, owner, None), name, None)
    if name == 'FutureIter':
        return future_iter_type()
    return getattr(_asyncio, name, None)


def signature_text(obj, is_method=None):
    """str(inspect.signature(obj)) without a method's self; None when
    inspect cannot read it."""
    if is_method is None:
        is_method = isinstance(obj, types.MethodDescriptorType)
    try:
        sig = inspect.signature(obj)
    except (ValueError, TypeError):
        return None
    params = list(sig.parameters.values())
    if is_method:
        if not params or params[0].name != 'self':
            return 'no self: ' + str(sig)
        params = params[1:]
    return str(sig.replace(parameters=params))


def describe(labels):
    out = {}
    for label in labels:
        obj = resolve(label)
        out[label] = {
            'sig': None if obj is None else signature_text(obj),
            'doc': None if obj is None else getattr(obj, '__doc__', None),
        }
    return out
'''

shared = {}
exec(SHARED, shared)

# The signatures inspect reads from 3.11's own accelerator, by label (see
# resolve()); what is missing has none there.
STOCK_SIGNATURES = {
    'Future': '(*, loop=None)',
    'Future._make_cancelled_error': '()',
    'Future.cancel': '(msg=None)',
    'Future.cancelled': '()',
    'Future.done': '()',
    'Future.exception': '()',
    'Future.get_loop': '()',
    'Future.remove_done_callback': '(fn, /)',
    'Future.result': '()',
    'Future.set_exception': '(exception, /)',
    'Future.set_result': '(result, /)',
    'Task': '(coro, *, loop=None, name=None, context=None)',
    'Task.cancel': '(msg=None)',
    'Task.cancelling': '()',
    'Task.get_coro': '()',
    'Task.get_name': '()',
    'Task.get_stack': '(*, limit=None)',
    'Task.print_stack': '(*, limit=None, file=None)',
    'Task.set_exception': '(exception, /)',
    'Task.set_name': '(value, /)',
    'Task.set_result': '(result, /)',
    'Task.uncancel': '()',
    'FutureIter': '()',
    'get_event_loop': '()',
    '_get_event_loop': '(stacklevel=3)',
    'get_running_loop': '()',
    '_get_running_loop': '()',
    '_set_running_loop': '(loop, /)',
    '_register_task': '(task)',
    '_unregister_task': '(task)',
    '_enter_task': '(loop, task)',
    '_leave_task': '(loop, task)',
}

# Parameters 3.11's accelerator takes by position only where the
# pure-Python version takes them by keyword too, and where inspect cannot
# show stock's signature: add_done_callback's `context` default is not
# representable there, and its task callbacks are not builtins.  Ours
# parse the same way (test_parsing_follows_the_signatures).
TAKEN_AS_STOCK = {
    'add_done_callback': {'fn'},
    'Task.__wakeup': {'future'},    # stock's task_wakeup is METH_O
    'Task.__step': {'exc'},         # stock's takes no argument at all
}

# Signatures of what neither stock's accelerator nor the pure-Python code
# has (stock's FutureIter methods and the pure generator's have none).
OWN = {
    '__class_getitem__': '(item, /)',
    'get_context': '()',            # 3.12's, not in 3.11's pure classes
    '_repr_info': '()',
    'FutureIter.send': '(value, /)',
    'FutureIter.throw': '(typ, val=None, tb=None, /)',
    'FutureIter.close': '()',
    '_gather': '(coros_or_futures, return_exceptions, /)',
    '_socket_transport_type': '(base, /)',
    '_stream_types': '(reader, writer, protocol, /)',
    # what tasks.create_eager_task_factory(Task) returns, a closure
    'eager_task_factory': '(loop, coro, *, name=None, context=None)',
}

# What the fork's backports from later Pythons add to a signature stock
# has: the pure-Python version has the same additions, so it is the
# reference there (test_stock_signatures still checks stock's).
EXTENDED_BY_BACKPORTS = {
    'Task': ('eager_start',),
}

SHARED_WORDS = 6

PURE_CLASSES = {
    'Future': futures._PyFuture,
    'Task': tasks._PyTask,
    'Handle': events._PyHandle,
    'TimerHandle': events._PyTimerHandle,
    '_GatheringFuture': tasks._PyGatheringFuture,
    '_EventLoopCore': base_events.BaseEventLoop,
}

PURE_FUNCTIONS = {
    'get_event_loop': events._py_get_event_loop,
    '_get_event_loop': events._py__get_event_loop,
    'get_running_loop': events._py_get_running_loop,
    '_get_running_loop': events._py__get_running_loop,
    '_set_running_loop': events._py__set_running_loop,
    '_register_task': tasks._py_register_task,
    '_unregister_task': tasks._py_unregister_task,
    '_enter_task': tasks._py_enter_task,
    '_leave_task': tasks._py_leave_task,
    '_swap_current_task': tasks._py_swap_current_task,
    'current_task': tasks._py_current_task,
    '_copy_concurrent_future_state':
        futures._py_copy_concurrent_future_state,
    '_set_result_unless_cancelled': futures._py_set_result_unless_cancelled,
}


def pure_method(owner, name):
    """The pure-Python counterpart of our owner.name, or None."""
    if owner == '_EventLoopCore':
        return base_events._py_hot_path.get(name)
    for klass in PURE_CLASSES[owner].__mro__:
        if klass is _asyncio.Future:
            # tasks.py made the pure _GatheringFuture a subclass of
            # whatever Future was then: ours
            klass = futures._PyFuture
        if name in vars(klass):
            return getattr(klass, name)
    return None


def callback_objects():
    """Our task step and wakeup callbacks and gather's done callback, and
    the pure versions' callables for them."""
    loop = asyncio.new_event_loop()
    try:
        waited = loop.create_future()

        async def waiter():
            await waited

        async def main():
            child = loop.create_future()
            gathered = asyncio.gather(child)   # our _gather: loop running
            [(ours_gather, _)] = child._callbacks
            child.set_result(None)
            await gathered
            return ours_gather

        task = loop.create_task(waiter())
        [step_handle] = loop._ready
        step = step_handle._callback
        ours_gather = loop.run_until_complete(main())
        [(wakeup, _)] = waited._callbacks
        # Outside a running loop gather() runs its pure-Python body.
        child = loop.create_future()
        pure_gathered = asyncio.gather(child)
        [(pure_gather, _)] = child._callbacks
        child.set_result(None)
        waited.set_result(None)
        loop.run_until_complete(asyncio.wait([task, pure_gathered]))
    finally:
        loop.close()
    return {
        'Task.__step': (step, tasks._PyTask._Task__step),
        'Task.__wakeup': (wakeup, tasks._PyTask._Task__wakeup),
        'gather._done_callback': (ours_gather, pure_gather),
    }


def catalogue():
    """label -> (our object, the pure counterpart or None, whether the
    pure one is a function taken from a class, with a self)."""
    entries = {}
    for owner in shared['CLASSES']:
        cls = getattr(_asyncio, owner)
        entries[owner] = (cls, PURE_CLASSES[owner], False)
        for name in shared['method_names'](cls):
            if name not in vars(cls):
                continue    # checked where it is defined
            pure = pure_method(owner, name)
            entries[f'{owner}.{name}'] = (getattr(cls, name), pure, True)
    # the socket transport: a class _asyncio makes over the pure one
    from asyncio import selector_events
    transport = selector_events._CSelectorSocketTransport
    if transport is not None:
        pure_transport = selector_events._PySelectorSocketTransport
        entries['_SelectorSocketTransport'] = (transport, pure_transport,
                                               False)
        for name, value in vars(transport).items():
            if callable(value) and not name.startswith('__'):
                entries[f'_SelectorSocketTransport.{name}'] = (
                    getattr(transport, name),
                    getattr(pure_transport, name), True)
    # the stream classes, likewise; but their coroutine methods show the
    # pure functions' own signatures and docstrings (test_c_streams'
    # CoroutineMethodTests checks that)
    from asyncio import streams
    for name in ('StreamReader', 'StreamWriter', 'StreamReaderProtocol'):
        cls = getattr(streams, f'_C{name}')
        if cls is None:
            continue
        pure_cls = getattr(streams, f'_Py{name}')
        entries[name] = (cls, pure_cls, False)
        for meth, value in vars(cls).items():
            if type(value).__name__ == 'coroutine_method':
                continue
            if callable(value) and not meth.startswith('__'):
                entries[f'{name}.{meth}'] = (getattr(cls, meth),
                                             getattr(pure_cls, meth), True)
    iter_type = shared['future_iter_type']()
    entries['FutureIter'] = (iter_type, None, False)
    for name in ('send', 'throw', 'close'):
        entries[f'FutureIter.{name}'] = (getattr(iter_type, name), None,
                                         False)
    for name, obj in vars(_asyncio).items():
        if isinstance(obj, types.BuiltinFunctionType):
            entries[name] = (obj, PURE_FUNCTIONS.get(name), False)
    for label, (ours, pure) in callback_objects().items():
        # pure step and wakeup are functions of the class, with a self
        entries[label] = (ours, pure, label.startswith('Task.'))
    return entries


def taken_as_stock(label):
    return TAKEN_AS_STOCK.get(label) or TAKEN_AS_STOCK.get(
        label.rpartition('.')[2], set())


def as_positional_only(text, names):
    """A signature text with the parameters in `names` (leading ones)
    made positional-only."""
    sig = signature_from_text(text)
    params = [p.replace(kind=p.POSITIONAL_ONLY) if p.name in names else p
              for p in sig.parameters.values()]
    return str(sig.replace(parameters=params))


def signature_from_text(text):
    ns = {}
    exec(f'def f{text}: pass', ns)
    return inspect.signature(ns['f'])


def expected_signature(label, pure, pure_is_method):
    """(signature text, where it comes from) for a label."""
    if label in STOCK_SIGNATURES and label not in EXTENDED_BY_BACKPORTS:
        return STOCK_SIGNATURES[label], 'stock'
    if pure is not None:
        # a classmethod's is bound to its class already
        pure_is_method = pure_is_method and not isinstance(
            pure, (types.MethodType, types.BuiltinMethodType))
        text = shared['signature_text'](pure, pure_is_method)
        if text is not None:
            names = taken_as_stock(label)
            if names:
                text = as_positional_only(text, names)
            return text, 'pure'
    own = OWN.get(label, OWN.get(label.rpartition('.')[2]))
    return own, 'own'


def words(text):
    out = []
    for word in (text or '').lower().split():
        word = word.strip('.,;:()"\'`-')
        if word:
            out.append(word)
    return out


def shared_run(ours, reference, n=SHARED_WORDS):
    """The first run of n words of `ours` found in `reference`, or None."""
    ref = words(reference)
    runs = {tuple(ref[i:i + n]) for i in range(len(ref) - n + 1)}
    mine = words(ours)
    for i in range(len(mine) - n + 1):
        if tuple(mine[i:i + n]) in runs:
            return ' '.join(mine[i:i + n])
    return None


def first_paragraph(doc):
    return ' '.join(doc.strip().split('\n\n')[0].split())


def has_body(doc):
    """Whether a docstring says more than its first line."""
    lines = [line for line in (doc or '').strip().splitlines()
             if line.strip()]
    return len(lines) > 1


def read_stock(labels):
    """{label: {'sig': ..., 'doc': ...}} from 3.11's own accelerator, or
    None without its interpreter."""
    if not os.path.exists(STOCK_PYTHON):
        return None
    code = (SHARED + '\nlabels = json.loads(sys.stdin.read())\n'
            'warnings.simplefilter("ignore")\n'
            'print(json.dumps(describe(labels)))\n')
    proc = subprocess.run([STOCK_PYTHON, '-I', '-c', code],
                          input=json.dumps(sorted(labels)),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode:
        raise AssertionError(f'{STOCK_PYTHON} failed:\n{proc.stderr}')
    return json.loads(proc.stdout)


class SignatureAndDocTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.entries = catalogue()
        cls.stock = read_stock(cls.entries)

    def stock_doc(self, label):
        return self.stock[label]['doc'] if self.stock else None

    def check_signature(self, label, ours, pure, pure_is_method):
        expected, source = expected_signature(label, pure, pure_is_method)
        self.assertIsNotNone(expected,
                             f'{label}: no reference signature (add it to '
                             f'OWN)')
        got = shared['signature_text'](ours)
        self.assertIsNotNone(got,
                             f'{label}: inspect.signature() cannot read it')
        self.assertEqual(got, expected, f'{label}: differs from {source}')

    def check_doc(self, label, ours, pure, stock_doc=None):
        doc = getattr(ours, '__doc__', None)
        self.assertTrue(doc and doc.strip(), f'{label}: no docstring')
        first = first_paragraph(doc)
        self.assertTrue(first.endswith('.'),
                        f'{label}: does not start with a sentence: '
                        f'{first!r}')
        # the pure version's own docstring, not one it inherits from C
        pure_doc = (pure.__doc__
                    if isinstance(pure, (types.FunctionType, type))
                    else None)
        references = [d for d in (stock_doc, pure_doc) if d]
        if any(has_body(d) for d in references):
            self.assertTrue(has_body(doc),
                            f'{label}: the reference says more than one '
                            f'line, ours does not')
        for ref in references:
            run = shared_run(doc, ref)
            self.assertIsNone(run, f'{label}: docstring shares {run!r} '
                                   f'with the reference')

    def test_backport_extensions(self):
        # A backport only adds parameters: without them the signature is
        # stock's.
        for label, added in EXTENDED_BY_BACKPORTS.items():
            with self.subTest(label):
                ours = self.entries[label][0]
                sig = inspect.signature(ours)
                params = [p for p in sig.parameters.values()
                          if p.name not in added]
                self.assertEqual(len(params),
                                 len(sig.parameters) - len(added))
                self.assertEqual(str(sig.replace(parameters=params)),
                                 STOCK_SIGNATURES[label])

    def test_signatures(self):
        for label, (ours, pure, pure_is_method) in self.entries.items():
            with self.subTest(label):
                self.check_signature(label, ours, pure, pure_is_method)

    def test_docstrings(self):
        for label, (ours, pure, _) in self.entries.items():
            if label.startswith(('Task.__', 'gather.')):
                continue    # stand-ins for bound methods and a closure
            with self.subTest(label):
                self.check_doc(label, ours, pure, self.stock_doc(label))

    def test_stock_signatures(self):
        if self.stock is None:
            self.skipTest(f"{STOCK_PYTHON}, with 3.11's own accelerator, "
                          f"is not installed")
        self.assertLessEqual(set(STOCK_SIGNATURES), set(self.entries))
        for label in self.entries:
            with self.subTest(label):
                self.assertEqual(self.stock[label]['sig'],
                                 STOCK_SIGNATURES.get(label))

    def test_catalogue_is_complete(self):
        for label in ('Future', 'Future.add_done_callback', 'Task.cancel',
                      'Task.get_stack', 'Handle.cancel', 'TimerHandle.when',
                      '_EventLoopCore.call_soon', '_EventLoopCore._run_once',
                      '_GatheringFuture.cancel', 'FutureIter.throw',
                      'Task.__step', 'Task.__wakeup', 'gather._done_callback',
                      'get_event_loop', '_register_task', 'current_task',
                      '_gather', '_copy_concurrent_future_state'):
            self.assertIn(label, self.entries)

    def test_checks_can_fail(self):
        # a wrong name, kind or default, a missing signature, a short or
        # copied docstring: each is reported
        pure = futures._PyFuture.cancel

        def fake(*args, **kwargs):
            pass
        fake.__signature__ = signature_from_text('(msg=None)')
        self.check_signature('Future.cancel', fake, pure, True)
        for text in ('(message=None)', '(*, msg=None)', '(msg=1)',
                     '(msg=None, /)', '(msg=None, context=None)'):
            fake.__signature__ = signature_from_text(text)
            with self.subTest(text), self.assertRaises(AssertionError):
                self.check_signature('Future.cancel', fake, pure, True)
        with self.assertRaises(AssertionError):
            self.check_signature('Future.cancel', 42, pure, True)

        def short():
            """Cancel the future."""
        with self.assertRaises(AssertionError):
            self.check_doc('Future.cancel', short, pure)

        def copied():
            pass
        # the pure version's own words, one sentence moved
        first, _, rest = pure.__doc__.partition('\n\n')
        copied.__doc__ = f'Drop the future.\n\n{rest}\n{first}'
        with self.assertRaises(AssertionError):
            self.check_doc('Future.cancel', copied, pure)
        copied.__doc__ = 'Drop the future.\n\nIt is gone then.'
        self.check_doc('Future.cancel', copied, pure)

    def test_parsing_follows_the_signatures(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        fut = _asyncio.Future(loop=loop)
        # fn by position only, context by keyword only, as stock does
        with self.assertRaisesRegex(TypeError, 'exactly 1 positional'):
            fut.add_done_callback(fn=print)
        with self.assertRaisesRegex(TypeError, 'exactly 1 positional'):
            fut.add_done_callback(print, None)
        fut.add_done_callback(print, context=None)
        self.assertEqual(fut.remove_done_callback(print), 1)

        # task by keyword, as stock does
        task = tasks._PyTask(asyncio.sleep(0), loop=loop)
        _asyncio._unregister_task(task=task)
        self.assertNotIn(task, tasks.all_tasks(loop))
        _asyncio._register_task(task=task)
        self.assertIn(task, tasks.all_tasks(loop))
        with self.assertRaisesRegex(TypeError, "multiple values.*'task'"):
            _asyncio._register_task(task, task=task)
        _asyncio._enter_task(loop=loop, task=task)
        _asyncio._leave_task(loop=loop, task=task)
        self.assertIs(_asyncio.current_task(loop=loop), None)
        task.cancel()
        loop.run_until_complete(asyncio.wait([task]))

        # the loop's methods take what the pure ones take by keyword
        handle = loop.call_soon(callback=print)
        self.assertIsInstance(handle, events.Handle)
        handle.cancel()
        loop.call_later(delay=10, callback=print).cancel()
        loop.call_at(when=loop.time() + 10, callback=print).cancel()

        async def coro():
            pass
        loop.run_until_complete(loop.create_task(coro=coro(), name='x'))
        unstarted = coro()
        with self.assertRaisesRegex(TypeError, 'at most 1 positional'):
            loop.create_task(unstarted, 'x')
        unstarted.close()

        # no arguments, unless a subclass's __init__ takes them
        with self.assertRaisesRegex(TypeError, 'takes no arguments'):
            _asyncio._EventLoopCore(1)
        with self.assertRaisesRegex(TypeError, 'takes no arguments'):
            type('Sub', (_asyncio._EventLoopCore,), {})(x=1)
        self.assertIsInstance(_asyncio._EventLoopCore(),
                              _asyncio._EventLoopCore)
        other = asyncio.SelectorEventLoop(selector=None)
        other.close()

        # the task callbacks take their argument by position only
        task = loop.create_task(coro())
        [step_handle] = [h for h in loop._ready
                         if getattr(h._callback, '__self__', None) is task]
        with self.assertRaisesRegex(TypeError, 'no keyword arguments'):
            step_handle._callback(exc=None)
        loop.run_until_complete(task)


if __name__ == '__main__':
    unittest.main()
