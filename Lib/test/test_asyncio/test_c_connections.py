"""The selector loop's side of connections in C (_asyncio._SelectorLoopCore):
_ensure_fd_no_transport(), add_reader(), remove_reader(), add_writer(),
remove_writer(), _make_socket_transport(), _sock_connect(),
_sock_connect_cb() and _sock_write_done(), against the pure-Python methods
(selector_events._py_selector_methods) in the same scenarios; and the
loop's map of transports, which the C code reads and writes on the
WeakValueDictionary's own dict while that is what weakref would do."""

import asyncio
import errno
import functools
import gc
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
         '_sock_connect', '_sock_connect_cb', '_sock_write_done')
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
        self.assertEqual(trace[-3:], [('settled', ('future', ('result', None))),
                                      ('peer', True), ('watched', False)])

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


if __name__ == '__main__':
    unittest.main()
