"""The selector loop's readers and writers in C (_asyncio._SelectorLoopCore)
against the pure-Python methods (selector_events._py_selector_methods):
the same scenarios on both, with the selector's keys, the return values,
the errors and the callbacks run compared.  Accepting connections is
tested in test_c_connections."""

import asyncio
import selectors
import socket
import types
import unittest
from asyncio import selector_events
from test.test_asyncio import cfork_helpers

_asyncio = cfork_helpers._asyncio
HAVE_C = getattr(selector_events, '_CSelectorLoopCore', None) is not None
NAMES = ('_add_reader', '_remove_reader', '_add_writer', '_remove_writer')


def tearDownModule():
    asyncio.set_event_loop_policy(None)


def use_pure(loop):
    """Make loop run the pure-Python methods (set on the instance)."""
    for name in NAMES:
        setattr(loop, name, types.MethodType(
            selector_events._py_selector_methods[name], loop))


def callback_of(handle):
    """A handle's callback as the same scenario gives it on both loops."""
    cb = handle._callback
    return None if cb is None else (getattr(cb, '__name__', repr(cb)),
                                    handle._args)


def keys(loop, fds):
    """What the selector holds for fds: events and the handles' callbacks
    (None for none), by position in fds."""
    out = []
    for i, fd in enumerate(fds):
        try:
            key = loop._selector.get_key(fd)
        except KeyError:
            out.append((i, None))
            continue
        reader, writer = key.data
        out.append((i, key.events, key.fd == fd,
                    reader and (callback_of(reader), reader.cancelled()),
                    writer and (callback_of(writer), writer.cancelled())))
    return out


class Recorder:
    def __init__(self):
        self.trace = []

    def step(self, what, func, *args, message=True):
        """Call func(*args); record its result or its exception (with the
        message, unless message is false: an error of argument parsing,
        whose wording names the function as Python or C does)."""
        try:
            res = func(*args)
        except Exception as exc:
            self.trace.append((what, type(exc).__name__,
                               str(exc) if message else None))
            return None
        if isinstance(res, asyncio.Handle):
            self.trace.append((what, 'handle', callback_of(res),
                               res.cancelled()))
        else:
            self.trace.append((what, res))
        return res


@unittest.skipUnless(HAVE_C, 'requires the C selector loop')
class SelectorLoopTests(unittest.TestCase):

    def run_both(self, scenario):
        traces = []
        for pure in (False, True):
            loop = asyncio.SelectorEventLoop(selectors.EpollSelector())
            if pure:
                use_pure(loop)
            rec = Recorder()
            try:
                scenario(loop, rec)
            finally:
                loop.close()
            traces.append(rec.trace)
        self.assertEqual(traces[0], traces[1])
        return traces[0]

    def socketpair(self):
        return cfork_helpers.socketpair(self)

    def test_type(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        self.assertIsInstance(loop, _asyncio._SelectorLoopCore)
        for name in NAMES:
            self.assertIsInstance(getattr(loop, name),
                                  types.BuiltinMethodType, name)
            self.assertNotIn(name, vars(selector_events.BaseSelectorEventLoop))

    def test_add_and_remove(self):
        def scenario(loop, rec):
            a, b = self.socketpair()
            fds = [a.fileno(), b.fileno()]
            fd = fds[0]
            calls = []
            r1 = rec.step('add r', loop._add_reader, fd, calls.append, 'r1')
            rec.step('keys', keys, loop, fds)
            rec.step('add w', loop._add_writer, fd, calls.append, 'w1')
            rec.step('keys', keys, loop, fds)
            r2 = rec.step('replace r', loop._add_reader, fd, calls.append,
                          'r2')
            rec.step('r1 cancelled', r1.cancelled)
            rec.step('keys', keys, loop, fds)
            b.send(b'x')
            loop.call_soon(loop.stop)
            loop.run_forever()
            rec.step('calls', sorted, calls)
            rec.step('rm w', loop._remove_writer, fd)
            rec.step('rm w again', loop._remove_writer, fd)
            rec.step('keys', keys, loop, fds)
            rec.step('rm r', loop._remove_reader, fd)
            rec.step('r2 cancelled', r2.cancelled)
            rec.step('rm r again', loop._remove_reader, fd)
            rec.step('keys', keys, loop, fds)
            rec.step('rm unknown', loop._remove_reader, fds[1])
        trace = self.run_both(scenario)
        self.assertIn(('calls', ['r2', 'w1']), trace)
        self.assertIn(('r1 cancelled', True), trace)
        self.assertIn(('r2 cancelled', True), trace)

    def test_file_objects_and_bad_fds(self):
        # Non-int file objects and bad descriptors: the selector's errors.
        def scenario(loop, rec):
            a, b = self.socketpair()
            rec.step('sock', loop._add_reader, a, print)
            rec.step('keys', keys, loop, [a.fileno()])
            rec.step('rm sock', loop._remove_reader, a)
            rec.step('negative', loop._add_reader, -1, print)
            rec.step('bad type', loop._add_writer, 'x', print)
            rec.step('float', loop._add_writer, 1.5, print)
            rec.step('rm negative', loop._remove_reader, -1)
            closed = socket.socket()
            fd = closed.fileno()
            closed.close()
            rec.step('closed fd', loop._add_reader, fd, print)
            rec.step('keys', keys, loop, [fd])
        self.run_both(scenario)

    def test_fds_too_large_for_epoll(self):
        # Descriptors past a C int: OverflowError, and nothing registered
        # (the C core once registered the descriptor cut to 32 bits, here
        # the real one, which could then no longer be added).
        def scenario(loop, rec):
            a, b = self.socketpair()
            fd = a.fileno()
            for big in (2**32 + fd, 2**31, 2**64 + fd):
                rec.step('add r', loop._add_reader, big, print)
                rec.step('add w', loop._add_writer, big, print)
                rec.step('rm r', loop._remove_reader, big)
                rec.step('rm w', loop._remove_writer, big)
            rec.step('keys', keys, loop, [fd])
            rec.step('add real', loop._add_reader, fd, print)
            rec.step('keys', keys, loop, [fd])
        trace = self.run_both(scenario)
        self.assertEqual(trace[0][:2], ('add r', 'OverflowError'))
        self.assertEqual(trace[-3], ('keys', [(0, None)]))
        self.assertEqual(trace[-1][1][0][:3], (0, 1, True))

    def test_closed_loop(self):
        def scenario(loop, rec):
            a, b = self.socketpair()
            loop._add_reader(a.fileno(), print)
            loop.close()
            rec.step('add', loop._add_reader, a.fileno(), print)
            rec.step('rm', loop._remove_reader, a.fileno())
            rec.step('rm w', loop._remove_writer, a.fileno())
        self.run_both(scenario)

    def test_arguments(self):
        def scenario(loop, rec):
            a, b = self.socketpair()
            fd = a.fileno()
            rec.step('no args', loop._add_reader, message=False)
            rec.step('fd only', loop._add_writer, fd, message=False)
            rec.step('many args', loop._add_reader, fd, print, 1, 2, 3)
            rec.step('rm no args', loop._remove_writer, message=False)
        trace = self.run_both(scenario)
        self.assertEqual(trace[2][:2], ('many args', 'handle'))

    def test_handle_cancelled_before_the_event(self):
        # A cancelled reader leaves the selector when its fd is ready.
        def scenario(loop, rec):
            a, b = self.socketpair()
            calls = []
            handle = loop._add_reader(a.fileno(), calls.append, 'r')
            handle.cancel()
            b.send(b'x')
            loop.call_soon(loop.stop)
            loop.run_forever()
            rec.step('calls', list, calls)
            rec.step('keys', keys, loop, [a.fileno()])
        self.run_both(scenario)

    def test_selector_methods_replaced(self):
        # A selector whose methods are replaced on the instance gets them
        # called: the C methods leave such a selector to the pure ones.
        loop = asyncio.SelectorEventLoop(selectors.EpollSelector())
        self.addCleanup(loop.close)
        a, b = self.socketpair()
        seen = []
        real = loop._selector.register

        def register(fileobj, events, data=None):
            seen.append((fileobj, events))
            return real(fileobj, events, data)
        loop._selector.register = register
        loop._add_reader(a.fileno(), print)
        self.assertEqual(seen, [(a.fileno(), selectors.EVENT_READ)])


if __name__ == '__main__':
    unittest.main()
