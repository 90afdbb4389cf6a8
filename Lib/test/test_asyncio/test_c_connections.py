"""The selector loop's side of connections in C (_asyncio._SelectorLoopCore,
Modules/_asyncio/connections.c): _ensure_fd_no_transport(), add_reader(),
remove_reader(), add_writer(), remove_writer(), _make_socket_transport(),
_sock_connect(), _sock_connect_cb() and _sock_write_done(), against the
pure-Python methods (selector_events._py_selector_methods) in the same
scenarios; _accept_connection() against the pure one, with the loop
methods it calls recorded; and the loop's map of transports, which the C
code reads and writes on the WeakValueDictionary's own dict while that is
what weakref would do."""

import asyncio
import errno
import functools
import gc
import logging
import re
import selectors
import socket
import types
import unittest
import weakref
from asyncio import selector_events
from test.test_asyncio import cfork_helpers
from unittest import mock

HAVE_C = getattr(selector_events, '_CSelectorLoopCore', None) is not None
NAMES = ('_ensure_fd_no_transport', 'add_reader', 'remove_reader',
         'add_writer', 'remove_writer', '_make_socket_transport',
         '_sock_connect', '_sock_connect_cb', '_sock_write_done',
         '_accept_connection')
requires_c = unittest.skipUnless(HAVE_C, 'requires the C selector loop')


def tearDownModule():
    asyncio.set_event_loop_policy(None)


def use_pure(loop):
    """Make loop run the pure-Python methods (set on the instance)."""
    for name in selector_events._py_selector_methods:
        setattr(loop, name, types.MethodType(
            selector_events._py_selector_methods[name], loop))


def plain(text):
    """text without what differs from one run to the next: addresses and
    numbers (descriptors, ports)."""
    return re.sub(r'\d+', 'N', re.sub(r'0x[0-9a-f]+', 'ADDR', text))


def label(value):
    if isinstance(value, BaseException):
        return (type(value).__name__, plain(str(value)))
    if isinstance(value, asyncio.Handle):
        return ('handle', value._callback.__name__, value.cancelled())
    if isinstance(value, asyncio.Future):
        if not value.done():
            return ('future', 'pending')
        if value.cancelled():
            return ('future', 'cancelled')
        return ('future', label(value.exception()) if value.exception()
                else ('result', value.result()))
    if isinstance(value, functools.partial):
        return ('partial', value.func.__name__, len(value.args),
                sorted((k, label(v)) for k, v in value.keywords.items()))
    if isinstance(value, (type(None), bool, int, str, tuple)):
        return value
    return type(value).__name__


class Recorder:
    def __init__(self):
        self.trace = []

    def step(self, what, func, *args, **kwargs):
        try:
            res = func(*args, **kwargs)
        except (Exception, KeyboardInterrupt) as exc:
            context = exc.__context__
            self.trace.append((what, 'raised', label(exc),
                               exc.__suppress_context__,
                               context and type(context).__name__))
            return None
        self.trace.append((what, label(res)))
        return res

    def note(self, *what):
        self.trace.append(what)


class Fileno:
    """A file object whose fileno() returns or raises what it is given."""

    def __init__(self, result):
        self.result = result

    def fileno(self):
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result

    def __repr__(self):
        return f'<Fileno {self.result!r}>'


class Thing:
    """Something a weak reference can point at."""


class BadRepr:
    """No fileno(), and a repr() that raises."""

    def __repr__(self):
        raise ZeroDivisionError('repr')


class SpoofedInt:
    """isinstance(x, int) is true for it, PyLong_Check() is not."""

    @property
    def __class__(self):
        return int

    def fileno(self):
        raise AssertionError('fileno() of an int asked')

    def __hash__(self):
        return 12345

    def __eq__(self, other):
        return False

    def __repr__(self):
        return '<SpoofedInt>'


class NoFileno:
    def __repr__(self):
        return '<NoFileno>'


class Base(unittest.TestCase):

    def run_both(self, scenario):
        """scenario(loop, rec) on a loop with the C methods and on one
        with the pure ones: the same trace."""
        traces = []
        for pure in (False, True):
            loop = asyncio.SelectorEventLoop(selectors.EpollSelector())
            if pure:
                use_pure(loop)
            rec = Recorder()
            self.transports = []
            try:
                scenario(loop, rec)
            finally:
                self.close_loop(loop)
            traces.append(rec.trace)
        self.assertEqual(traces[0], traces[1])
        return traces[0]

    def close_loop(self, loop):
        """Abort what transport() made, let them go, close the loop."""
        for transport in self.transports:
            transport.abort()
        self.transports = []
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()

    def new_loop(self):
        loop = asyncio.new_event_loop()
        self.transports = []
        self.addCleanup(self.close_loop, loop)
        return loop

    def socketpair(self):
        return cfork_helpers.socketpair(self)

    def listener(self):
        server = socket.create_server(('127.0.0.1', 0))
        self.addCleanup(server.close)
        return server.getsockname()

    def refusing_address(self):
        sock = socket.socket()
        sock.bind(('127.0.0.1', 0))
        address = sock.getsockname()
        sock.close()
        return address

    def transport(self, loop, sock):
        transport = loop._make_socket_transport(sock, asyncio.Protocol())
        self.transports.append(transport)
        return transport


@requires_c
class MethodsTests(Base):

    def test_type(self):
        for name in NAMES:
            with self.subTest(name):
                self.assertIsInstance(
                    getattr(selector_events._CSelectorLoopCore, name),
                    types.MethodDescriptorType)
                self.assertNotIn(name,
                                 vars(selector_events.BaseSelectorEventLoop))
                self.assertIn(name, selector_events._py_selector_methods)

    def test_ensure_fd_no_transport(self):
        def scenario(loop, rec):
            a, b = self.socketpair()
            transport = self.transport(loop, a)
            ensure = loop._ensure_fd_no_transport
            rec.step('free', ensure, b.fileno())
            rec.step('owned', ensure, a.fileno())
            rec.step('owned, as a socket', ensure, a)
            rec.step('owned, as a bool', ensure, Fileno(a.fileno()))
            rec.step('no fileno', ensure, NoFileno())
            for result in (ValueError('v'), TypeError('t'), 'x', None,
                           3.5, OSError(9, 'closed'), RuntimeError('r')):
                rec.step(f'fileno gives {result!r}', ensure, Fileno(result))
            rec.step('an int by its __class__', ensure, SpoofedInt())
            rec.step('repr raises', ensure, BadRepr())
            rec.step('keyword', ensure, fd=b.fileno())
            rec.step('no argument', ensure)
            rec.step('two arguments', ensure, 1, 2)
            transport.close()
            rec.step('closing', ensure, a.fileno())
        trace = self.run_both(scenario)
        self.assertEqual(trace[1][:2], ('owned', 'raised'))
        self.assertEqual(trace[4][2][0], 'ValueError')
        self.assertTrue(trace[4][3])          # from None

    def test_maps_of_transports(self):
        class Raising(dict):
            def __getitem__(self, key):
                raise self.error

        def with_map(make):
            def scenario(loop, rec):
                a, b = self.socketpair()
                transport = self.transport(loop, a)
                loop._transports = make(a.fileno(), transport)
                rec.step('owned', loop._ensure_fd_no_transport, a.fileno())
                rec.step('free', loop._ensure_fd_no_transport, b.fileno())
            return scenario

        def raising(error):
            def make(fd, transport):
                m = Raising()
                m.error = error
                return m
            return make

        def pending(fd, transport):
            m = weakref.WeakValueDictionary({fd: transport})
            m._pending_removals.append(fd)
            return m

        def dead(fd, transport):
            m = weakref.WeakValueDictionary()
            m.data[fd] = weakref.KeyedRef(Thing(), None, fd)
            gc.collect()
            return m

        def odd_pending(fd, transport):
            m = weakref.WeakValueDictionary({fd: transport})
            m._pending_removals = ()
            return m

        class Sub(weakref.WeakValueDictionary):
            pass

        cases = {
            'dict': lambda fd, t: {fd: t},
            'KeyError': raising(KeyError('k')),
            'LookupError': raising(LookupError('l')),
            'pending removal': pending,
            'odd pending': odd_pending,
            'dead reference': dead,
            'subclass': lambda fd, t: Sub({fd: t}),
            'not a mapping': lambda fd, t: 42,
        }
        for name, make in cases.items():
            with self.subTest(name):
                self.run_both(with_map(make))

        def deleted(loop, rec):
            del loop._transports
            rec.step('deleted', loop._ensure_fd_no_transport, 0)
        self.assertEqual(self.run_both(deleted)[0][2][0], 'AttributeError')

    def test_weakref_replaced(self):
        # A WeakValueDictionary or KeyedRef whose methods are not weakref's
        # own is used through them.
        a, b = self.socketpair()
        loop = self.new_loop()
        wvd = weakref.WeakValueDictionary
        for name in ('__getitem__', '__setitem__'):
            with self.subTest(name), mock.patch.object(
                    wvd, name, autospec=True,
                    side_effect=getattr(wvd, name)) as patched:
                transport = self.transport(loop, a)
                loop._ensure_fd_no_transport(b.fileno())
                self.assertEqual(patched.call_count, 1)
                transport.abort()
        made = []

        class Ref(weakref.KeyedRef):
            __slots__ = ()

            def __new__(cls, ob, callback, key):
                made.append(key)
                return super().__new__(cls, ob, callback, key)

        with mock.patch.object(weakref, 'KeyedRef', Ref):
            transport = self.transport(loop, a)
            self.assertEqual(made, [a.fileno()])
            self.assertIs(type(loop._transports.data[a.fileno()]), Ref)
            transport.abort()
        with mock.patch.object(weakref.KeyedRef, '__init__', autospec=True,
                               side_effect=weakref.KeyedRef.__init__) as init:
            transport = self.transport(loop, a)
            self.assertEqual(init.call_count, 1)

    def test_map_entries(self):
        # The entry a transport makes is the one WeakValueDictionary makes,
        # and goes with the transport.
        def scenario(loop, rec):
            a, b = self.socketpair()
            m = loop._transports
            m._pending_removals.append(12345)   # committed by the next set
            m.data[12345] = weakref.KeyedRef(Thing(), None, 12345)
            transport = loop._make_socket_transport(a, asyncio.Protocol())
            ref = m.data[a.fileno()]
            rec.note('entry', type(ref), ref.key == a.fileno(),
                     ref.__callback__ is m._remove, ref() is transport,
                     12345 in m.data)
            transport.abort()
            loop.run_until_complete(asyncio.sleep(0))
            del transport, ref
            gc.collect()
            rec.note('after', dict(m.data))
        trace = self.run_both(scenario)
        self.assertEqual(trace, [('entry', weakref.KeyedRef, True, True, True,
                                  False), ('after', {})])

    def test_readers_and_writers(self):
        def cb(*args):
            pass

        def scenario(loop, rec):
            a, b = self.socketpair()
            self.transport(loop, a)
            fd = b.fileno()
            for kind in ('reader', 'writer'):
                add = getattr(loop, f'add_{kind}')
                remove = getattr(loop, f'remove_{kind}')
                rec.step('add', add, fd, cb, 1, 2)
                rec.step('add by keyword', add, fd=fd, callback=cb)
                rec.step('add, a socket', add, b, cb)
                rec.step('remove', remove, fd)
                rec.step('remove again', remove, fd)
                rec.step('remove by keyword', remove, fd=fd)
                rec.step('add owned', add, a.fileno(), cb)
                rec.step('remove owned', remove, a)
                rec.step('add bad', add, NoFileno(), cb)
                rec.step('add without callback', add, fd)
                rec.step('add, keyword twice', add, fd, cb, fd=fd)
                rec.step('remove without fd', remove)
                rec.step('remove, unknown keyword', remove, fd, x=1)
        trace = self.run_both(scenario)
        self.assertEqual(trace[0], ('add', None))
        self.assertEqual(trace[3], ('remove', True))
        self.assertEqual(trace[6][:2], ('add owned', 'raised'))

    def test_overrides_are_called(self):
        calls = []

        class Loop(asyncio.SelectorEventLoop):
            def _ensure_fd_no_transport(self, fd):
                calls.append(('ensure', fd))

            def _add_writer(self, fd, callback, *args):
                calls.append(('_add_writer', fd, args))

            def _remove_reader(self, fd):
                calls.append(('_remove_reader', fd))
                return 'removed'

        loop = Loop(selectors.EpollSelector())
        self.transports = []
        self.addCleanup(self.close_loop, loop)
        self.assertIsNone(loop.add_writer(5, print, 'x'))
        self.assertEqual(loop.remove_reader(6), 'removed')
        self.assertEqual(calls, [('ensure', 5), ('_add_writer', 5, ('x',)),
                                 ('ensure', 6), ('_remove_reader', 6)])

    def test_make_socket_transport(self):
        def scenario(loop, rec):
            a, b = self.socketpair()
            make = loop._make_socket_transport
            waiter = loop.create_future()
            transport = rec.step('all', make, a, asyncio.Protocol(), waiter,
                                 extra={'x': 1}, server=None)
            rec.note('transport', type(transport).__name__,
                     transport.get_extra_info('x'),
                     transport is loop._transports[a.fileno()])
            transport.abort()
            loop.run_until_complete(asyncio.sleep(0))
            for args, kwargs in (((), {}), ((a,), {}),
                                 ((a, None, None, None), {}),
                                 ((a, None), {'extra': None, 'other': 1}),
                                 ((a, None), {'sock': a})):
                rec.step(f'bad {len(args)} {sorted(kwargs)}', make, *args,
                         **kwargs)
        trace = self.run_both(scenario)
        self.assertEqual(trace[1], ('transport', '_SelectorSocketTransport',
                                    1, True))

        class Other(selector_events._SelectorSocketTransport):
            pass

        loop = self.new_loop()
        a, b = self.socketpair()
        with mock.patch.object(selector_events, '_SelectorSocketTransport',
                               Other):
            transport = self.transport(loop, a)
        self.assertIs(type(transport), Other)


@requires_c
class ConnectTests(Base):

    def connect(self, loop, rec, sock, address):
        fut = loop.create_future()
        rec.step('connect', loop._sock_connect, fut, sock, address)
        fd = sock.fileno()
        try:
            key = loop._selector.get_key(fd)
        except (KeyError, ValueError):
            rec.note('writer', None)
        else:
            rec.note('writer', label(key.data[1]))
        rec.note('callbacks', [label(cb) for cb, ctx in fut._callbacks or ()])
        rec.note('now', label(fut))
        return fut

    def settle(self, loop, rec, fut):
        try:
            loop.run_until_complete(asyncio.wait_for(asyncio.shield(fut), 5))
        except (Exception, asyncio.CancelledError):
            pass
        rec.note('settled', label(fut))

    def test_connects(self):
        address = self.listener()

        def scenario(loop, rec):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                fut = self.connect(loop, rec, sock, address)
                self.settle(loop, rec, fut)
                rec.note('peer', sock.getpeername() == address)
                rec.note('watched', sock.fileno() in loop._selector.get_map())
            finally:
                sock.close()
        trace = self.run_both(scenario)
        self.assertEqual(trace[-3:], [
            ('settled', ('future', ('result', None))), ('peer', True),
            ('watched', False)])

    def test_refused(self):
        address = self.refusing_address()

        def scenario(loop, rec):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                self.settle(loop, rec,
                            self.connect(loop, rec, sock, address))
            finally:
                sock.close()
        trace = self.run_both(scenario)
        self.assertEqual(trace[-1][1][1][0], 'ConnectionRefusedError')

    def test_sockets_of_other_kinds(self):
        address = self.listener()
        connects = []

        class Sub(socket.socket):
            def connect(self, address):
                connects.append(address)
                return super().connect(address)

        def make_sub():
            sock = Sub()
            sock.setblocking(False)
            return sock

        def make_timeout():
            sock = socket.socket()
            sock.settimeout(5)
            return sock

        for make in (make_sub, make_timeout):
            def scenario(loop, rec, make=make):
                sock = make()
                try:
                    self.settle(loop, rec,
                                self.connect(loop, rec, sock, address))
                finally:
                    sock.close()
            with self.subTest(make.__name__):
                trace = self.run_both(scenario)
                self.assertEqual(trace[-1],
                                 ('settled', ('future', ('result', None))))
        self.assertEqual(connects, [address, address])

    def test_connect_replaced(self):
        address = self.listener()
        loop = self.new_loop()
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setblocking(False)
        fut = loop.create_future()
        calls = []

        def connect(self, address):
            calls.append((self, address))
            raise BlockingIOError

        with mock.patch.object(socket.socket, 'connect', connect):
            loop._sock_connect(fut, sock, address)
        self.assertEqual(calls, [(sock, address)])
        self.assertIn(sock.fileno(), loop._selector.get_map())
        fut.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        self.assertNotIn(sock.fileno(), loop._selector.get_map())

    def test_socket_methods_not_asked(self):
        # The pure _sock_connect() calls connect() and fileno() of the
        # socket, nothing else: a replaced gettimeout() is not called.
        address = self.listener()

        def gettimeout(self):
            raise AssertionError('gettimeout() called')

        def scenario(loop, rec):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                with mock.patch.object(socket.socket, 'gettimeout',
                                       gettimeout):
                    fut = self.connect(loop, rec, sock, address)
                self.settle(loop, rec, fut)
            finally:
                sock.close()
        trace = self.run_both(scenario)
        self.assertEqual(trace[-1], ('settled', ('future', ('result', None))))

    @unittest.skipUnless(hasattr(socket, 'AF_PACKET'), 'needs AF_PACKET')
    def test_other_families(self):
        # Errors of the addresses of other families name the method:
        # connect(), as the pure method calls it.
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()
        except OSError:
            self.skipTest('AF_PACKET sockets need privileges')

        def scenario(loop, rec):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.setblocking(False)
            try:
                self.connect(loop, rec, sock, ('lo', 1, 0, 2 ** 32 - 1))
            finally:
                sock.close()
        trace = self.run_both(scenario)
        self.assertIn('connect()', trace[-1][1][1][1])

    def test_connect_outcomes(self):
        # what a socket's connect() does, and what the future gets
        def scenario_for(effect):
            def scenario(loop, rec):
                a, b = self.socketpair()
                sock = mock.Mock(socket.socket)
                sock.fileno.return_value = b.fileno()
                sock.connect.side_effect = effect
                fut = self.connect(loop, rec, sock, ('h', 1))
                fut.cancel()
                loop.run_until_complete(asyncio.sleep(0))
                rec.note('watched', b.fileno() in loop._selector.get_map())
            return scenario

        for effect in (None, BlockingIOError(errno.EINPROGRESS, 'x'),
                       InterruptedError(), ValueError('v'),
                       ConnectionRefusedError(111, 'refused'),
                       KeyboardInterrupt()):
            with self.subTest(effect=effect):
                self.run_both(scenario_for(effect))

    def test_bad_addresses(self):
        def scenario(loop, rec):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                for address in ('x', ('127.0.0.1',), ('127.0.0.1', 'p'),
                                None):
                    self.connect(loop, rec, sock, address)
            finally:
                sock.close()
        self.run_both(scenario)

    def test_connect_cb(self):
        def scenario_for(result, done=False):
            def scenario(loop, rec):
                sock = mock.Mock(socket.socket)
                if isinstance(result, BaseException):
                    sock.getsockopt.side_effect = result
                else:
                    sock.getsockopt.return_value = result
                fut = loop.create_future()
                if done:
                    fut.cancel()
                rec.step('cb', loop._sock_connect_cb, fut, sock,
                         ('127.0.0.1', 80))
                rec.note('future', label(fut))
                rec.note('asked', sock.getsockopt.call_args_list)
            return scenario

        cases = [0, errno.ECONNREFUSED, errno.EAGAIN, errno.EINPROGRESS,
                 ValueError('v'), InterruptedError(), BlockingIOError(),
                 KeyboardInterrupt(), 'not an int']
        for result in cases:
            with self.subTest(result=result):
                trace = self.run_both(scenario_for(result))
                if result == errno.ECONNREFUSED:
                    self.assertEqual(trace[1][1], ('future', (
                        'ConnectionRefusedError',
                        "[Errno N] Connect call failed ('N.N.N.N', N)")))
        trace = self.run_both(scenario_for(0, done=True))
        self.assertEqual(trace[-1], ('asked', []))
        for args, kwargs in (((1, 2), {}), ((1, 2, 3), {'x': 1})):
            def scenario(loop, rec):
                rec.step('bad', loop._sock_connect_cb, *args, **kwargs)
            self.run_both(scenario)

    def test_write_done(self):
        def scenario(loop, rec):
            removed = []
            loop.remove_writer = lambda fd: removed.append(fd)
            handle = asyncio.Handle(print, (), loop)
            cancelled = asyncio.Handle(print, (), loop)
            cancelled.cancel()
            done = loop._sock_write_done
            rec.step('no handle', done, 1, None)
            rec.step('handle', done, 2, None, handle=handle)
            rec.step('handle by position', done, 3, None, handle)
            rec.step('cancelled handle', done, 4, None, handle=cancelled)
            rec.step('handle None', done, 5, None, handle=None)
            rec.step('all keywords', done, fd=6, fut=None)
            rec.step('too few', done, 7)
            rec.step('unknown keyword', done, 8, None, other=1)
            rec.note('removed', removed)
        trace = self.run_both(scenario)
        self.assertEqual(trace[-1], ('removed', [1, 2, 3, 5, 6]))


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


@requires_c
class SockConnectTests(Base):
    """sock_connect(): the C core starts it when the address needs no
    resolving; the result and the calls it makes are the pure method's."""

    def outcome(self, loop, sock, address, calls):
        try:
            loop.run_until_complete(asyncio.wait_for(
                loop.sock_connect(sock, address), 5))
        except Exception as exc:
            return ('raised', label(exc), list(calls))
        return ('connected', sock.getpeername()[:2] == tuple(address[:2])
                if isinstance(address, tuple) else True, list(calls))

    def compare(self, make_sock, address, *, debug=False, patch=None,
                loop_class=asyncio.SelectorEventLoop):
        """The outcome with the C start and with the pure method."""
        results = []
        for pure in (False, True):
            calls = []
            loop = loop_class(selectors.EpollSelector())
            self.transports = []
            self.addCleanup(self.close_loop, loop)
            loop.set_debug(debug)
            if pure:
                loop.sock_connect = types.MethodType(
                    selector_events._py_selector_methods['sock_connect'],
                    loop)
            real_connect = loop._sock_connect

            def _sock_connect(fut, sock, address, real=real_connect):
                calls.append(('_sock_connect', address))
                return real(fut, sock, address)
            loop._sock_connect = _sock_connect
            sock = make_sock()
            self.addCleanup(sock.close)
            if patch is not None:
                with patch(calls):
                    results.append(self.outcome(loop, sock, address, calls))
            else:
                results.append(self.outcome(loop, sock, address, calls))
        self.assertEqual(results[0], results[1])
        return results[0]

    def plain(self, family=socket.AF_INET, blocking=False):
        def make():
            sock = socket.socket(family)
            sock.setblocking(blocking)
            return sock
        return make

    def test_addresses(self):
        host, port = self.listener()
        cases = [
            ((host, port), 'connected'),
            ((host, port, 0, 0), 'connected'),
            (('localhost', port), 'connected'),        # resolved: pure
            ((host, str(port)), 'connected'),          # int(port): pure
            ((host,), 'raised'),
            ((host, port, 0, 0, 0), 'raised'),
            ([host, port], 'connected'),               # a list: pure
            (f'{host}:{port}', 'raised'),
            ((host, 70000), 'raised'),
            ((host.encode(), port), 'connected'),
            (('127.0.0.1\0', port), 'raised'),
            (('not an address', port), 'raised'),
            ((None, port), 'connected'),               # resolved: pure
        ]
        for address, expected in cases:
            with self.subTest(address=address):
                result = self.compare(self.plain(), address)
                self.assertEqual(result[0], expected, result)

    @unittest.skipUnless(socket.has_ipv6, 'needs IPv6')
    def test_ipv6(self):
        try:
            server = socket.create_server(('::1', 0),
                                          family=socket.AF_INET6)
        except OSError:
            self.skipTest('no IPv6 loopback')
        self.addCleanup(server.close)
        port = server.getsockname()[1]
        for address in (('::1', port), ('::1', port, 0),
                        ('::1', port, 0, 0), ('::1%lo', port),
                        ('127.0.0.1', port)):
            with self.subTest(address=address):
                self.compare(self.plain(socket.AF_INET6), address)
        with mock.patch.object(asyncio.base_events, '_HAS_IPv6', False):
            self.compare(self.plain(socket.AF_INET6), ('::1', port))

    def test_other_sockets(self):
        host, port = self.listener()

        class Sub(socket.socket):
            pass

        def sub():
            sock = Sub()
            sock.setblocking(False)
            return sock

        self.assertEqual(self.compare(sub, (host, port))[0], 'connected')
        self.assertEqual(self.compare(self.plain(blocking=True),
                                      (host, port))[0], 'connected')
        self.assertEqual(self.compare(self.plain(blocking=True),
                                      (host, port), debug=True)[1],
                         ('ValueError', 'the socket must be non-blocking'))
        if hasattr(socket, 'AF_UNIX'):
            self.assertEqual(self.compare(self.plain(socket.AF_UNIX),
                                          '/nonexistent/path')[0], 'raised')

    def test_replaced_resolution_is_called(self):
        host, port = self.listener()

        resolved = []

        class Loop(asyncio.SelectorEventLoop):
            async def _ensure_resolved(self, address, **kwargs):
                resolved.append(address)
                return await super()._ensure_resolved(address, **kwargs)

        result = self.compare(self.plain(), (host, port), loop_class=Loop)
        self.assertEqual(result[0], 'connected')
        self.assertEqual(resolved, [(host, port)] * 2)     # C and pure

        def patched_ipaddr_info(calls):
            real = asyncio.base_events._ipaddr_info

            def info(*args):
                calls.append(('_ipaddr_info', args[:2]))
                return real(*args)
            return mock.patch.object(asyncio.base_events, '_ipaddr_info',
                                     info)

        result = self.compare(self.plain(), (host, port),
                              patch=patched_ipaddr_info)
        self.assertEqual(result[2][0], ('_ipaddr_info', (host, port)))

    def test_is_a_coroutine(self):
        host, port = self.listener()
        loop = self.new_loop()
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.setblocking(False)
        coro = loop.sock_connect(sock, (host, port))
        self.assertTrue(asyncio.iscoroutine(coro))
        self.assertEqual(coro.__qualname__,
                         'BaseSelectorEventLoop.sock_connect')
        task = loop.create_task(coro)
        self.assertIsNone(loop.run_until_complete(task))
        self.assertEqual(sock.getpeername(), (host, port))


@requires_c
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
