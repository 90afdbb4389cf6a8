"""The selector loop's readers and writers in C (_asyncio._SelectorLoopCore)
against the pure-Python methods (selector_events._py_selector_methods):
the same scenarios on both, with the selector's keys, the return values,
the errors and the callbacks run compared; and its _accept_connection()
against the pure one, with the loop methods it calls recorded."""

import asyncio
import errno
import functools
import logging
import selectors
import socket
import types
import unittest
from asyncio import selector_events
from test.test_asyncio import cfork_helpers
from unittest import mock

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


class AcceptRecorder:
    """Stands in for a loop's _accept_connection2(), create_task(),
    call_exception_handler(), _remove_reader() and call_later() (set on
    the instance), recording how the accept method calls them; the
    sockets it accepted are closed at the end."""

    def __init__(self, loop, testcase):
        self.calls = []
        self.conns = []
        testcase.addCleanup(self.close)
        loop._accept_connection2 = self.accept_connection2
        loop.create_task = self.create_task
        loop.call_exception_handler = self.call_exception_handler
        loop._remove_reader = self.remove_reader
        loop.call_later = self.call_later

    def close(self):
        for conn in self.conns:
            conn.close()

    @staticmethod
    def describe_conn(conn):
        if type(conn) is socket.socket:
            return (type(conn).__name__, conn.family, conn.type, conn.proto,
                    conn.getblocking(), conn.gettimeout(),
                    conn.get_inheritable())
        if isinstance(conn, tuple):
            return ('address', conn[0])     # the port differs between runs
        if isinstance(conn, mock.Mock):
            return type(conn).__name__
        return conn

    def accept_connection2(self, factory, conn, extra, *rest):
        self.conns.append(conn)
        peer = (conn.getpeername() if type(conn) is socket.socket
                else extra['peername'])
        self.calls.append(('_accept_connection2', factory,
                           self.describe_conn(conn), list(extra),
                           extra['peername'] == peer, rest))
        return f'coroutine {len(self.calls)}'

    def create_task(self, coro):
        self.calls.append(('create_task', coro))

    def call_exception_handler(self, context):
        self.calls.append(('call_exception_handler', context['message'],
                           describe(context['exception']),
                           type(context['socket']).__name__,
                           sorted(context)))

    def remove_reader(self, fd):
        self.calls.append(('_remove_reader', fd))

    def call_later(self, delay, callback, *args):
        self.calls.append(('call_later', delay, callback.__name__,
                           tuple(map(self.describe_conn, args))))


def describe(exc):
    return None if exc is None else (type(exc).__name__, str(exc))


@unittest.skipUnless(HAVE_C, 'requires the C selector loop')
class AcceptTests(unittest.TestCase):
    """_SelectorLoopCore._accept_connection against the pure method."""

    def setUp(self):
        self.pure = selector_events._py_selector_methods['_accept_connection']

    def run_both(self, make_sock, *args, debug=False, **kwargs):
        """Call the C and the pure method with a listening socket from
        make_sock(): each time what it returned or raised and the
        calls it made, and the debug records."""
        results = []
        for method in ('c', 'pure'):
            loop = asyncio.SelectorEventLoop(selectors.EpollSelector())
            self.addCleanup(loop.close)
            loop.set_debug(debug)
            rec = AcceptRecorder(loop, self)
            sock = make_sock()
            call = (loop._accept_connection if method == 'c'
                    else functools.partial(self.pure, loop))
            with self.assertLogs('asyncio', logging.DEBUG) as logs:
                logging.getLogger('asyncio').debug('start')
                try:
                    outcome = ('returned', call('factory', sock, *args,
                                                **kwargs))
                except Exception as exc:
                    outcome = ('raised', describe(exc))
            records = [(r.levelname, r.msg,
                        [AcceptRecorder.describe_conn(a) for a in r.args])
                       for r in logs.records[1:]]
            results.append((outcome, rec.calls, records))
        self.assertEqual(results[0], results[1])
        return results[0]

    def listener(self, pending, timeout=0.0):
        """A listening TCP socket with `pending` connections waiting."""
        def make():
            server = socket.create_server(('127.0.0.1', 0))
            self.addCleanup(server.close)
            server.settimeout(timeout)
            for _ in range(pending):
                client = socket.create_connection(server.getsockname())
                self.addCleanup(client.close)
            return server
        return make

    def mock_listener(self, **config):
        def make():
            sock = mock.Mock(socket.socket)
            sock.fileno.return_value = 9
            sock.configure_mock(**config)
            return sock
        return make

    def test_type(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        self.assertIsInstance(loop._accept_connection,
                              types.BuiltinMethodType)
        self.assertNotIn('_accept_connection',
                         vars(selector_events.BaseSelectorEventLoop))

    def test_accepts_what_waits(self):
        for pending, backlog in [(3, 100), (3, 2), (0, 100), (2, 0),
                                 (2, -1)]:
            with self.subTest(pending=pending, backlog=backlog):
                outcome, calls, _ = self.run_both(
                    self.listener(pending), 'ctx', 'server', backlog,
                    1.5, 2.5)
                self.assertEqual(outcome, ('returned', None))
                accepted = min(pending, max(backlog, 0))
                self.assertEqual(len(calls), 2 * accepted)
                for call in calls[::2]:
                    self.assertEqual(call[0], '_accept_connection2')
                    # a non-blocking socket.socket, its peer in extra
                    self.assertEqual(call[2][0], 'socket')
                    self.assertIs(call[2][4], False)
                    self.assertTrue(call[4])
                    self.assertEqual(call[5], ('ctx', 'server', 1.5, 2.5))

    def test_defaults_and_keywords(self):
        outcome, calls, _ = self.run_both(self.listener(1))
        self.assertEqual(calls[0][5], (None, None, 60.0, 30.0))
        self.run_both(self.listener(2), backlog=1, server='s',
                      ssl_shutdown_timeout=7.0)

    def test_listener_with_timeout(self):
        # socket.accept() makes such a socket's connections blocking when
        # there is no default timeout; then they are made non-blocking.
        for default in (None, 3.0):
            with self.subTest(default=default):
                old = socket.getdefaulttimeout()
                socket.setdefaulttimeout(default)
                try:
                    # backlog 1: a second accept() would wait 5 s
                    _, calls, _ = self.run_both(self.listener(1, 5.0),
                                                backlog=1)
                finally:
                    socket.setdefaulttimeout(old)
                self.assertEqual(calls[0][2][4:6], (False, 0.0))

    def test_debug_log(self):
        _, _, records = self.run_both(self.listener(2), debug=True)
        self.assertEqual([r[1] for r in records],
                         ['%r got a new connection from %r: %r'] * 2)

    def test_errors(self):
        cases = {
            'would block': BlockingIOError(11, 'again'),
            'interrupted': InterruptedError(4, 'intr'),
            'aborted': ConnectionAbortedError(103, 'aborted'),
            'out of descriptors': OSError(errno.EMFILE, 'too many'),
            'out of memory': OSError(errno.ENOMEM, 'no memory'),
            'other OSError': OSError(errno.EBADF, 'bad fd'),
            'not an OSError': ValueError('odd'),
            'a tuple of three': [('a', 'b', 'c')],
            'a tuple of one': [('a',)],
            'not iterable': [42],
            'a generator': lambda: (x for x in 'ab'),
        }
        for name, effect in cases.items():
            with self.subTest(name):
                if isinstance(effect, list):
                    config = {'accept.return_value': effect[0]}
                else:
                    config = {'accept.side_effect': effect}
                outcome, calls, _ = self.run_both(
                    self.mock_listener(**config), None, None, 3)
                if 'out of' in name:
                    # reported and retried later, for each of the backlog
                    self.assertEqual(outcome, ('returned', None))
                    self.assertEqual([c[0] for c in calls],
                                     ['call_exception_handler',
                                      '_remove_reader', 'call_later'] * 3)
                elif name in ('would block', 'interrupted', 'aborted'):
                    self.assertEqual(outcome, ('returned', None))
                    self.assertEqual(calls, [])
                else:
                    self.assertEqual(outcome[0], 'raised')

    def test_setblocking_fails(self):
        conn = mock.Mock(socket.socket)
        conn.setblocking.side_effect = OSError(errno.ENFILE, 'full')
        outcome, calls, _ = self.run_both(self.mock_listener(
            **{'accept.return_value': (conn, ('1.2.3.4', 5))}), backlog=1)
        self.assertEqual(outcome, ('returned', None))
        self.assertEqual(calls[0][0], 'call_exception_handler')

    def test_bad_backlog(self):
        outcome, _, _ = self.run_both(self.listener(1), backlog=1.5)
        self.assertEqual(outcome, (
            'raised', ('TypeError',
                       "'float' object cannot be interpreted as an "
                       "integer")))

    def test_loop_methods_are_looked_up(self):
        # The loop's methods are looked up on each call, as the pure
        # method does (AcceptRecorder sets them on the instance): a
        # server's connections get the loop's _accept_connection2 and
        # create_task, and an ordinary server works end to end.
        async def main():
            served = []

            def connected(reader, writer):
                served.append(writer.get_extra_info('peername'))
                writer.close()

            server = await asyncio.start_server(connected, '127.0.0.1', 0)
            async with server:
                port = server.sockets[0].getsockname()[1]
                _, writer = await asyncio.open_connection('127.0.0.1', port)
                for _ in range(50):
                    if served:
                        break
                    await asyncio.sleep(0)
                self.assertEqual(served, [writer.get_extra_info('sockname')])
                writer.close()
                await writer.wait_closed()
        asyncio.run(main())

    def test_arguments(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        for args, kwargs in [((), {}), (('f',), {}),
                             (('f', 's', 1, 2, 3, 4, 5, 6), {}),
                             (('f', 's'), {'nope': 1})]:
            with self.subTest(args=args, kwargs=kwargs):
                with self.assertRaises(TypeError):
                    loop._accept_connection(*args, **kwargs)
                with self.assertRaises(TypeError):
                    self.pure(loop, *args, **kwargs)


if __name__ == '__main__':
    unittest.main()
