"""Differential and fault tests for the selector loop's socket transport.

The same traffic goes through two transport classes, the reference
(selector_events._PySelectorSocketTransport, the pure-Python class) and the
candidate (selector_events._CSelectorSocketTransport), each time under a
fresh event loop, and everything a protocol and the peer can observe is
recorded in a trace:

- every protocol call with its arguments (the bytes of data_received() and
  buffer_updated(), get_buffer()'s size hint, eof_received(), pause_writing(),
  resume_writing(), connection_lost()'s exception) and, at each call, the
  transport's is_closing(), is_reading() and get_write_buffer_size();
- what every transport method called by the test or by a protocol returned
  or raised (type and message);
- what the peer socket could send and what it received;
- the errors the loop reports to its exception handler and the records the
  asyncio logger emits (the "socket.send() raised exception." warning, and
  in debug mode the debug records), by format string.

The two traces must be equal, except where PY_BUGS lists a fault of
3.11's pure-Python transport that the candidate need not copy
(ASYNCIO_TRANSPORT_TOLERATE, names separated by commas, empty for none,
overrides which; all by default).  The peer is a plain non-blocking socket
driven by the test, one step at a time, and the loop is run until it has
nothing left to do between steps, so the traffic is the same on both runs:
over socket.socketpair() (with small send buffers, so that writes of a few
kilobytes already fill them and write buffering, pause_writing() and
resume_writing() engage) and, in a few programs, over TCP loopback, both as
a client (loop.create_connection()) and as a server (loop.create_server()).
On TCP the kernel decides how the received bytes are split into reads and,
on a loaded machine, when they arrive: there the protocol does not react to
its n-th read, each step waits until both sockets have seen what they sent
acknowledged (wait_for_delivery()), and the bytes the protocol receives are
compared as one stream up to each end of the stream, not read by read
(tcp_comparable()).

A random generator with fixed seeds makes ASYNCIO_TRANSPORT_EXAMPLES
(default 300) programs: peer sends in random chunks, peer reads, half
closes and resets (a close with SO_LINGER 0 and, on a socketpair, unread
data), writes and writelines() of random sizes and types (bytes, bytearray
changed right after the call, memoryview, and non-bytes), write_eof(),
pause_reading() and resume_reading(), set_write_buffer_limits() (valid or
not), close() and abort(), for a Protocol or a BufferedProtocol (whose
get_buffer() returns buffers of random sizes, slices, and sometimes an
empty or read-only one), whose eof_received() returns true, false or
raises, and which reacts to its n-th call by pausing or resuming reading,
writing, echoing, closing, aborting or raising.  The first program on
which the classes disagree is shrunk for up to ASYNCIO_DIFF_SHRINK_SECONDS
(default 20) and reported with the events before the difference:

    ASYNCIO_TRANSPORT_EXAMPLES=20000 \
        ./python -m test test_asyncio.test_c_transport

The candidate is chosen by socket_transport_class() alone, which makes
BaseSelectorEventLoop._make_socket_transport() build the given class; every
run checks that the transport it got is of that class.  Until the C class
exists (the module has no _CSelectorSocketTransport), the candidate is the
pure-Python class itself, so the harness runs and compares pure against
pure; HarnessTests show that deliberately wrong classes are caught.

FaultTests run scripted faults on both classes, compare them and check the
reference against 3.11's documented behaviour; SystemCallFaultTests run
the random programs again in a child interpreter whose recv(), send() and
epoll_wait() fail now and then (EINTR with a signal, EAGAIN, partial
sends; a small library compiled at test time and preloaded), at the same
calls for both classes; ConstructionTests and ClosingTests compare what
the C constructor, close(), _call_connection_lost() and _add_reader()
leave, call and raise with the pure methods'; CrashTests run the
scenarios that could crash a C transport (a transport dropped while the
loop still holds its reader, a loop closed under it) in a child process
first.
"""

import array
import ast
import asyncio
import collections
import contextlib
import gc
import itertools
import logging
import os
import pickle
import random
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import unittest
import warnings
import zlib
from asyncio import selector_events
from test.support import script_helper
from test.test_asyncio import cfork_helpers
from unittest import mock


def tearDownModule():
    asyncio.set_event_loop_policy(None)


EXAMPLES = int(os.environ.get('ASYNCIO_TRANSPORT_EXAMPLES', '300'))
SHRINK_SECONDS = float(os.environ.get('ASYNCIO_DIFF_SHRINK_SECONDS', '20'))
SEED = 20261128
# Programs the deliberately wrong classes get to show themselves in,
# whatever ASYNCIO_TRANSPORT_EXAMPLES says.
HARNESS_EXAMPLES = 300

# The classes under comparison.  A missing attribute means that the C
# transport has not been written yet: compare the pure class with itself.
# None means that the module exists but the C class is absent.
PY_TRANSPORT = getattr(selector_events, '_PySelectorSocketTransport',
                       selector_events._SelectorSocketTransport)
C_TRANSPORT = getattr(selector_events, '_CSelectorSocketTransport',
                      PY_TRANSPORT)
C_IS_FALLBACK = C_TRANSPORT is PY_TRANSPORT

requires_c = unittest.skipIf(
    C_TRANSPORT is None and not cfork_helpers.OUR_BUILD,
    'the C socket transport is not available')


@contextlib.contextmanager
def socket_transport_class(cls):
    """Make BaseSelectorEventLoop._make_socket_transport() build transports
    of class *cls*, for create_connection(), create_server() and the rest.

    The one place that knows how the class is chosen: adapt it here if the
    loop stops reading the module global."""
    with mock.patch.object(selector_events, '_SelectorSocketTransport', cls):
        yield


class Impl:
    """A transport class under test, with a name for the reports."""

    def __init__(self, name, cls):
        self.name = name
        self.cls = cls

    def __repr__(self):
        return f'<Impl {self.name}>'


PY = Impl('py', PY_TRANSPORT)
C = Impl('c', C_TRANSPORT) if C_TRANSPORT is not None else None


def candidate(testcase):
    """The C transport's Impl, or a failure on our build if it is None."""
    if C is None:
        testcase.fail('_CSelectorSocketTransport is None on our build')
    return C


# Send buffer of a socketpair's sockets: the kernel doubles it, and a few
# kilobytes written then fill it.
SMALL_SNDBUF = 4096
# Loop iterations after which a step that has not settled is reported.
SETTLE_LIMIT = 200
# Rounds of reading by the peer in a "pump" step.
PUMP_LIMIT = 100
# Bytes written and sent come from this block, so that both runs of a
# program move the same bytes without storing them in the program.
PAYLOAD = random.Random(SEED).randbytes(1 << 18)
# Records of the asyncio logger that depend on timing, not on the transport.
TIMING_RECORDS = ('poll ', 'Executing ', 'Get address info ')
# Where Linux's struct tcp_info (linux/tcp.h) keeps tcpi_unacked, the
# __u32 count of segments a TCP socket has sent and not seen acknowledged.
TCP_INFO_UNACKED = 24
# How long a TCP program waits for loopback to deliver what one side sent
# before it goes on anyway.
DELIVERY_SECONDS = 10


def describe(exc):
    """What a trace records of an exception: its type and message.  The C
    class's C name (tp_name) is '_asyncio._SelectorSocketTransport', which
    is what an AttributeError on one of its instances says, from Python
    code as from C; the pure class's is '_SelectorSocketTransport'."""
    if exc is None:
        return None
    return (type(exc).__name__,
            str(exc).replace("'_asyncio._SelectorSocketTransport'",
                             "'_SelectorSocketTransport'"))


def record_call(trace, obj, method, *args):
    """Call obj.<method>(*args); append (method, 'ok') to trace, or
    (method, what describe() says of the exception)."""
    try:
        getattr(obj, method)(*args)
    except Exception as exc:
        trace.append((method, describe(exc)))
    else:
        trace.append((method, 'ok'))


def tcp_unacked(sock):
    """The segments a TCP socket has sent that the other end has not
    acknowledged yet, after asking it to acknowledge what it got at once;
    None where the kernel cannot tell (a closed socket, not Linux)."""
    try:
        # Asks for an acknowledgement held back for later (by some 40 ms)
        # to go now; the kernel may hold back one all the same.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                               TCP_INFO_UNACKED + 4)
    except (AttributeError, OSError):
        return None
    return struct.unpack_from('I', info, TCP_INFO_UNACKED)[0]


def wait_for_delivery(one, other, seconds=DELIVERY_SECONDS):
    """Wait until each of two connected TCP sockets has seen all that it
    sent acknowledged: received by the other.

    A send() on loopback returns once the bytes are on their way; on a
    loaded machine the kernel may hand them to the other socket only
    later (its network softirq then runs in a thread that waits for a CPU
    like any other).  Bytes still on their way would be read by one run
    of a program and not by the other; bytes sent and not acknowledged
    count against the send buffer and could make the next send() short in
    one run and not in the other."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        unacked = {tcp_unacked(one), tcp_unacked(other)}
        if None in unacked or unacked == {0}:
            return
        time.sleep(0.0001)


def spin(loop):
    """Run one iteration of *loop*: whatever is ready, without waiting."""
    loop.call_soon(loop.stop)
    loop.run_forever()


def has_work(loop):
    # _ready and _selector are what the loop's own _run_once() looks at.
    return bool(loop._ready) or bool(loop._selector.select(0))


def settle(loop):
    """Run *loop* until nothing is ready; false if it still had work after
    SETTLE_LIMIT iterations."""
    for _ in range(SETTLE_LIMIT):
        spin(loop)
        if not has_work(loop):
            return True
    return False


# ---------------------------------------------------------------------------
# Program generation

class Draw:
    """Draws numbers from a random.Random and picks from sequences."""

    def __init__(self, rng):
        self.rng = rng
        self.int = rng.randint

    def pick(self, options):
        return options[self.int(0, len(options) - 1)]

    def chance(self, probability):
        return self.rng.random() < probability


MODES = ('pair',) * 8 + ('tcp-client', 'tcp-server')
KINDS = ('stream', 'buffered')
EOF_RESULTS = (True, False, None, 'raise')
SELECTORS = ('epoll', 'epoll', 'poll', 'select')
# What get_buffer() returns, in turn: a bytearray of that size, 'view' a
# 100-byte slice in the middle of a larger bytearray, 'empty' and
# 'readonly' what the transport must refuse.
BUFFER_SIZES = (1, 3, 64, 1000, 4096, 65536, 'view')
BAD_BUFFERS = ('empty', 'readonly')
# What a protocol may do when called: on which callback, on its n-th call.
REACTION_CALLBACKS = ('data', 'data', 'eof', 'pause_writing',
                      'resume_writing')
REACTIONS = ('pause', 'resume', 'close', 'abort', 'echo', 'write',
             'write_eof', 'raise', 'limits')
WRITE_KINDS = ('bytes',) * 3 + ('bytearray', 'mutated', 'mutated',
                                'memoryview', 'str', 'int', 'array')
LIMITS = ((None, None), (0, 0), (100, 10), (4096, 1024), (20000, 0),
          (None, 3000), (64, None), (10, 20), (-1, None))
# Steps, as often as they appear here.  Those that end a connection are
# rare in the body of a program; half the programs end with one of them.
ACTIONS = (('send',) * 8 + ('recv',) * 3 + ('drain',) * 4 + ('write',) * 8
           + ('writelines',) * 2 + ('pause_reading',) * 2
           + ('resume_reading',) * 3 + ('limits',) * 3 + ('settle',) * 10
           + ('pump',) * 3 + ('spin',) * 2 + ('query', 'repr'))
ENDINGS = ('write_eof', 'shut_wr', 'close', 'abort', 'reset')


def gen_size(draw, tcp):
    """Sizes from one byte to more than a socketpair's buffer holds; on TCP
    small enough that the kernel always takes them whole."""
    scale = draw.pick(('small', 'medium', 'large'))
    if scale == 'small':
        return draw.int(1, 64)
    if scale == 'medium' or tcp:
        return draw.int(1000, 2000 if tcp else 6000)
    return draw.int(10000, 50000)


def gen_action(draw, tcp):
    name = draw.pick(ENDINGS if draw.chance(0.03) else ACTIONS)
    if name == 'send':
        return ('send', tuple(gen_size(draw, tcp)
                              for _ in range(draw.int(1, 3))))
    if name == 'recv':
        return ('recv', draw.pick((1, 100, 4096, 65536)))
    if name == 'write':
        size = draw.pick((0, gen_size(draw, tcp), gen_size(draw, tcp)))
        return ('write', size, draw.pick(WRITE_KINDS))
    if name == 'writelines':
        sizes = tuple(draw.pick((0, gen_size(draw, tcp)))
                      for _ in range(draw.int(0, 3)))
        return ('writelines', sizes, draw.pick(('list', 'tuple', 'iter',
                                                'list', 'bad-item')))
    if name == 'limits':
        return ('limits',) + draw.pick(LIMITS)
    return (name,)


def gen_program(draw):
    mode = draw.pick(MODES)
    tcp = mode != 'pair'
    kind = draw.pick(KINDS)
    buffers = [draw.pick(BUFFER_SIZES) for _ in range(draw.int(1, 4))]
    if draw.chance(0.05):
        buffers.append(draw.pick(BAD_BUFFERS))
    reactions = tuple(
        (draw.pick(REACTION_CALLBACKS), draw.int(1, 4), draw.pick(REACTIONS))
        for _ in range(draw.pick((0, 0, 1, 1, 2, 3))))
    if tcp:
        # How TCP splits the stream into reads is up to the kernel, so on
        # TCP the protocol must not behave differently from one read to
        # the next: no reaction to the n-th read and no bad buffer to run
        # into at the n-th get_buffer().  Drawn all the same, so that the
        # socketpair programs stay what they were.
        buffers = [size for size in buffers if size not in BAD_BUFFERS]
        reactions = tuple(reaction for reaction in reactions
                          if reaction[0] != 'data')
    actions = [gen_action(draw, tcp) for _ in range(draw.int(3, 40))]
    if draw.chance(0.5):
        actions += [(draw.pick(ENDINGS),), ('settle',), ('drain',),
                    ('settle',)]
        # Writes to a closed or lost connection, counted by the transport.
        actions += [('write', draw.int(0, 3), 'bytes')] * draw.pick((0, 7))
    return {
        'mode': mode,
        'kind': kind,
        'eof': draw.pick(EOF_RESULTS),
        'debug': draw.chance(0.15),
        'selector': draw.pick(SELECTORS),
        'buffers': tuple(buffers),
        'reactions': reactions,
        'actions': tuple(actions),
    }


def numbered_program(number):
    """The program the generator makes from seed *number*."""
    return gen_program(Draw(random.Random(number)))


def program(actions, **config):
    """A scripted program: a socketpair, a Protocol, and *config* over it."""
    base = {'mode': 'pair', 'kind': 'stream', 'eof': None, 'debug': False,
            'selector': 'epoll', 'buffers': (4096,), 'reactions': ()}
    base.update(config)
    base['actions'] = tuple(actions)
    return base


def format_program(prog):
    lines = [f'  {key}: {prog[key]!r}' for key in prog if key != 'actions']
    lines.extend(f'  {action!r}' for action in prog['actions'])
    return '\n'.join(lines)


def format_event(event):
    """An event of a trace, with long bytes abbreviated."""
    def short(value):
        if isinstance(value, bytes) and len(value) > 24:
            return f'<{len(value)} bytes {value[:8]!r}...{value[-8:]!r}>'
        if isinstance(value, tuple):
            return '(' + ', '.join(map(short, value)) + ')'
        return repr(value)
    return short(event)


# ---------------------------------------------------------------------------
# Running a program

class TraceProtocol(asyncio.Protocol):
    """A Protocol that notes every call it gets and reacts as told."""

    def __init__(self, run):
        self.run = run
        self.calls = collections.Counter()
        self.transport = None

    def state(self):
        transport = self.transport
        return (transport.is_closing(), transport.is_reading(),
                transport.get_write_buffer_size())

    def called(self, name, *args):
        """Note a call; return its number among calls on the same callback
        ('data' for data_received() and buffer_updated())."""
        self.run.note(name, *args, self.state())
        key = 'data' if name in ('data_received', 'buffer_updated') else name
        self.calls[key] += 1
        return self.calls[key]

    def connection_made(self, transport):
        self.transport = transport
        self.run.connected(transport)
        self.called('connection_made')

    def data_received(self, data):
        number = self.called('data_received', bytes(data))
        self.run.react('data', number, bytes(data))

    def eof_received(self):
        number = self.called('eof_received')
        self.run.react('eof', number, b'')
        result = self.run.program['eof']
        if result == 'raise':
            raise ValueError('eof_received failed')
        return result

    def pause_writing(self):
        self.run.react('pause_writing', self.called('pause_writing'), b'')

    def resume_writing(self):
        self.run.react('resume_writing', self.called('resume_writing'), b'')

    def connection_lost(self, exc):
        self.run.note('connection_lost', describe(exc), self.state())


class TraceBufferedProtocol(TraceProtocol, asyncio.BufferedProtocol):
    """The same for a BufferedProtocol: get_buffer() hands out the buffers
    the program names, in turn."""

    buffer = None

    def get_buffer(self, sizehint):
        number = self.called('get_buffer', sizehint)
        sizes = self.run.program['buffers']
        size = sizes[(number - 1) % len(sizes)]
        if size == 'empty':
            self.buffer = bytearray()
        elif size == 'readonly':
            self.buffer = bytes(64)
        elif size == 'view':
            # A slice with an offset: the transport must fill it, not the
            # start of the bytearray behind it.
            self.buffer = memoryview(bytearray(300))[100:200]
        else:
            self.buffer = bytearray(size)
        return self.buffer

    def buffer_updated(self, nbytes):
        data = bytes(self.buffer[:nbytes])
        number = self.called('buffer_updated', nbytes, data)
        self.run.react('data', number, data)

    def data_received(self, data):
        raise AssertionError('data_received() called on a BufferedProtocol')


class TraceHandler(logging.Handler):
    """Notes the asyncio logger's records, by format string."""

    def __init__(self, run):
        super().__init__(logging.DEBUG)
        self.run = run

    def emit(self, record):
        message = str(record.msg)
        if message.startswith(TIMING_RECORDS):
            return
        exc = record.exc_info[1] if record.exc_info else None
        self.run.note('log', record.levelname, message, describe(exc))


@contextlib.contextmanager
def asyncio_log_to(handler):
    """Send asyncio's log records, debug ones included, to *handler* only."""
    logger = logging.getLogger('asyncio')
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class WrongTransportClass(AssertionError):
    pass


class Run:
    """One program on one transport class, under a fresh loop."""

    def __init__(self, impl, prog):
        self.impl = impl
        self.program = prog
        self.trace = []
        self.loop = None
        self.transport = None
        self.peer = None
        self.listener = None
        self.server = None
        self.wrong_class = None
        self.peer_offset = 0
        self.local_offset = len(PAYLOAD) // 2
        kind = prog['kind']
        self.protocol = (TraceBufferedProtocol(self) if kind == 'buffered'
                         else TraceProtocol(self))

    def note(self, *event):
        self.trace.append(event)

    def payload(self, size, local):
        """The next *size* bytes to write (local) or send (peer)."""
        offset = self.local_offset if local else self.peer_offset
        start = offset % (len(PAYLOAD) - size)
        if local:
            self.local_offset += size + 1
        else:
            self.peer_offset += size + 1
        return PAYLOAD[start:start + size]

    def on_error(self, loop, context):
        def which(key, obj):
            if key not in context:
                return None
            return key if context[key] is obj else type(context[key]).__name__
        self.note('error', context.get('message'),
                  describe(context.get('exception')),
                  which('transport', self.transport),
                  which('protocol', self.protocol))

    def connected(self, transport):
        self.transport = transport
        if type(transport) is not self.impl.cls:
            self.wrong_class = type(transport)
        if INJECTOR is not None:
            INJECTOR.arm(self, transport.get_extra_info('socket').fileno())

    # -- the run -----------------------------------------------------------

    def execute(self):
        with contextlib.ExitStack() as stack:
            stack.enter_context(socket_transport_class(self.impl.cls))
            stack.enter_context(asyncio_log_to(TraceHandler(self)))
            stack.callback(self.tear_down)
            if INJECTOR is not None:
                stack.callback(INJECTOR.disarm)
            self.loop = self.make_loop()
            self.connect()
            self.delivered()
            for action in self.program['actions']:
                getattr(self, 'do_' + action[0])(*action[1:])
                self.delivered()
            self.settle()
        if self.wrong_class is not None:
            raise WrongTransportClass(
                f'{self.impl.name}: the loop made a {self.wrong_class!r}, '
                f'not a {self.impl.cls!r}: see socket_transport_class()')
        if self.program['mode'] != 'pair':
            return tcp_comparable(self.trace)
        return self.trace

    def make_loop(self):
        selector = {'epoll': selectors.EpollSelector,
                    'poll': selectors.PollSelector,
                    'select': selectors.SelectSelector}[
                        self.program['selector']]()
        loop = asyncio.SelectorEventLoop(selector)
        loop.set_exception_handler(self.on_error)
        if self.program['debug']:
            loop.set_debug(True)
            # A loaded machine must not add "Executing ... took" records.
            loop.slow_callback_duration = 3600
        return loop

    def connect(self):
        loop = self.loop
        mode = self.program['mode']
        if mode == 'pair':
            local, self.peer = socket.socketpair()
            for sock in (local, self.peer):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                SMALL_SNDBUF)
            loop.run_until_complete(loop.create_connection(
                lambda: self.protocol, sock=local))
        elif mode == 'tcp-client':
            self.listener = socket.create_server(('127.0.0.1', 0))
            host, port = self.listener.getsockname()
            loop.run_until_complete(loop.create_connection(
                lambda: self.protocol, host, port))
            self.peer, _ = self.listener.accept()
        else:
            self.listener = socket.create_server(('127.0.0.1', 0))
            self.server = loop.run_until_complete(loop.create_server(
                lambda: self.protocol, sock=self.listener))
            self.peer = socket.create_connection(
                self.listener.getsockname())
            self.settle()
        if mode != 'pair':
            # Without it, the peer's kernel would hold back a small send
            # until the transport's socket acknowledged the one before,
            # which it may delay by some 40 ms: a timer that a loaded
            # machine lets fire at a different step in each run.  (The
            # transport sets TCP_NODELAY on its own socket.)
            self.peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer.setblocking(False)
        transport = self.transport
        if transport is None:
            raise AssertionError(f'{self.impl.name}: no connection made')
        self.note('extra',
                  transport.get_extra_info('sockname')
                  == self.peer.getpeername(),
                  transport.get_extra_info('peername')
                  == self.peer.getsockname(),
                  type(transport.get_extra_info('socket')).__name__,
                  transport.get_extra_info('no such key', 'default'),
                  transport.get_protocol() is self.protocol)

    def tear_down(self):
        """Abort what is left and close everything, noting what the
        protocol sees on the way."""
        try:
            if self.loop is not None and not self.loop.is_closed():
                if self.transport is not None:
                    self.call('final abort', self.transport.abort)
                if self.server is not None:
                    self.server.close()
                self.settle()
        finally:
            for sock in (self.peer, self.listener):
                if sock is not None:
                    sock.close()
            if self.loop is not None:
                self.loop.close()

    def settle(self):
        """Run the loop until nothing is ready, the way the program's steps
        are separated."""
        if not settle(self.loop):
            self.note('unsettled')

    def delivered(self):
        """On TCP, wait until what each side sent has reached the other,
        so that the next step finds the same bytes there in both runs."""
        if self.program['mode'] != 'pair' and self.peer is not None:
            wait_for_delivery(self.peer,
                              self.transport.get_extra_info('socket'))

    def settle_and_deliver(self):
        self.settle()
        self.delivered()

    def call(self, label, method, *args):
        """Call a transport method and note what it returned or raised."""
        try:
            result = method(*args)
        except Exception as exc:
            self.note(label, 'raised', describe(exc))
        else:
            self.note(label, 'returned', result)

    def data_of_kind(self, size, kind):
        data = self.payload(size, local=True)
        if kind == 'bytearray' or kind == 'mutated':
            return bytearray(data)
        if kind == 'memoryview':
            return memoryview(data)
        if kind == 'str':
            return 'x' * size
        if kind == 'int':
            return size
        if kind == 'array':
            return array.array('B', data)
        return data

    def write(self, label, size, kind):
        data = self.data_of_kind(size, kind)
        self.call(label, self.transport.write, data)
        if kind == 'mutated':
            # The caller owns its buffer again once write() returns: what
            # it does with it must not change what is sent.
            data[:] = bytes(len(data))

    # -- what a protocol does when called ----------------------------------

    def react(self, callback, number, data):
        for on, nth, reaction in self.program['reactions']:
            if on == callback and nth == number:
                self.reaction(f'{callback} {number}: {reaction}', reaction,
                              data)

    def reaction(self, label, reaction, data):
        transport = self.transport
        if reaction == 'raise':
            raise ValueError(label)
        if reaction == 'echo':
            self.call(label, transport.write, data)
        elif reaction == 'write':
            self.write(label, 3000, 'bytes')
        elif reaction == 'limits':
            self.call(label, transport.set_write_buffer_limits, 2000, 500)
        else:
            method = {'pause': transport.pause_reading,
                      'resume': transport.resume_reading,
                      'close': transport.close,
                      'abort': transport.abort,
                      'write_eof': transport.write_eof}[reaction]
            self.call(label, method)

    # -- the program's steps -----------------------------------------------

    def do_send(self, sizes):
        if self.peer is None:
            self.note('send', 'no peer')
            return
        for size in sizes:
            try:
                sent = self.peer.send(self.payload(size, local=False))
            except OSError as exc:
                self.note('peer send', describe(exc))
            else:
                self.note('peer send', sent)

    def do_recv(self, size):
        if self.peer is None:
            self.note('recv', 'no peer')
            return
        try:
            data = self.peer.recv(size)
        except OSError as exc:
            self.note('peer recv', describe(exc))
        else:
            self.note('peer recv', data)

    def peer_reads(self, size, limit=None, between=None):
        """The peer reads chunks of up to *size* bytes until EOF, an error
        or *limit* reads, calling *between* before each: the bytes and how
        the reading ended."""
        chunks = []
        reads = itertools.count() if limit is None else range(limit)
        for _ in reads:
            if between is not None:
                between()
            try:
                chunk = self.peer.recv(size)
            except OSError as exc:
                return b''.join(chunks), describe(exc)
            if not chunk:
                return b''.join(chunks), 'EOF'
            chunks.append(chunk)
        return b''.join(chunks), 'limit'

    def do_drain(self):
        """The peer reads all there is, up to EOF or an error."""
        if self.peer is None:
            self.note('drain', 'no peer')
            return
        self.note('peer drain', *self.peer_reads(65536))

    def do_pump(self):
        """The peer reads as the transport writes, until it stops."""
        if self.peer is None:
            self.note('pump', 'no peer')
            return
        self.note('peer pump',
                  *self.peer_reads(1 << 20, PUMP_LIMIT,
                                   between=self.settle_and_deliver))

    def do_shut_wr(self):
        if self.peer is None:
            self.note('shut_wr', 'no peer')
            return
        try:
            self.peer.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self.note('peer shutdown', describe(exc))

    def do_reset(self):
        """The peer closes at once: a TCP peer sends RST (SO_LINGER 0); a
        socketpair's peer with unread data makes the next recv() fail with
        ECONNRESET."""
        if self.peer is None:
            self.note('reset', 'no peer')
            return
        self.peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack('ii', 1, 0))
        self.peer.close()
        self.peer = None

    def do_write(self, size, kind):
        self.write('write', size, kind)

    def do_writelines(self, sizes, container):
        items = [self.payload(size, local=True) for size in sizes]
        if container == 'bad-item':
            items.append('not bytes')
        elif container == 'tuple':
            items = tuple(items)
        elif container == 'iter':
            items = iter(items)
        self.call('writelines', self.transport.writelines, items)

    def do_write_eof(self):
        self.call('write_eof', self.transport.write_eof)

    def do_pause_reading(self):
        self.call('pause_reading', self.transport.pause_reading)

    def do_resume_reading(self):
        self.call('resume_reading', self.transport.resume_reading)

    def do_limits(self, high, low):
        self.call('set_write_buffer_limits',
                  self.transport.set_write_buffer_limits, high, low)
        self.note('limits now', self.transport.get_write_buffer_limits())

    def do_close(self):
        self.call('close', self.transport.close)

    def do_abort(self):
        self.call('abort', self.transport.abort)

    def do_spin(self):
        spin(self.loop)

    def do_settle(self):
        self.settle()
        self.note('settled', self.protocol.state())

    def do_repr(self):
        # File descriptors differ from run to run; the class's name may
        # differ between the classes.
        text = repr(self.transport).replace(type(self.transport).__name__,
                                            'Transport', 1)
        self.note('repr', re.sub(r'fd=\d+', 'fd=N', text))

    def do_query(self):
        transport = self.transport
        self.note('query', transport.is_closing(), transport.is_reading(),
                  transport.get_write_buffer_size(),
                  transport.get_write_buffer_limits(),
                  transport.can_write_eof(),
                  transport.get_protocol() is self.protocol)


# What a protocol is called with as bytes come in.
RECEIVE_EVENTS = ('data_received', 'get_buffer', 'buffer_updated')
# The events after which no more bytes may come in.
END_OF_STREAM_EVENTS = ('eof_received', 'connection_lost')


def received_bytes(event):
    """The bytes a receive event delivers to the protocol."""
    if event[0] == 'data_received':
        return event[1]
    if event[0] == 'buffer_updated':
        return event[2]
    return b''


def tcp_comparable(trace):
    """What of a TCP program's trace does not depend on timing.

    On TCP loopback the kernel splits the peer's bytes into reads as it
    pleases, and on a loaded machine it may deliver them a step later
    than the peer sent them: after a "settle" step instead of before it.
    So the receive events (data_received(), buffer_updated() and the
    get_buffer() before each) are taken out of the trace: the bytes
    received between two events that end the stream (eof_received(),
    connection_lost()) are compared as one ('received', bytes) event in
    front of the event that ends them, or at the end of the trace.  That
    keeps the bytes, their order, and that none comes after the end of
    the stream; how many reads it took and where they fell does not count.
    The 'unsettled' notes are dropped too: whether a settle step ran out
    of loop iterations depends on how many reads the bytes came in.
    """
    comparable = []
    received = []

    def flush():
        if received:
            comparable.append(('received', b''.join(received)))
            received.clear()

    for event in trace:
        if event[0] in RECEIVE_EVENTS:
            received.append(received_bytes(event))
        elif event[0] != 'unsettled':
            if event[0] in END_OF_STREAM_EVENTS:
                flush()
            comparable.append(event)
    flush()
    return comparable


def run_program(impl, prog):
    return Run(impl, prog).execute()


# ---------------------------------------------------------------------------
# Driving the comparison

# Where 3.11's pure-Python transport is known to go wrong, so that a
# candidate is allowed to differ: the name, what happens, and how the
# reference's trace event shows it.  ASYNCIO_TRANSPORT_TOLERATE (names,
# comma-separated; empty for none) overrides the default, all of them.
PY_BUGS = {
    'call-after-flushed-close': (
        'When close() had to wait for the write buffer to drain, the '
        'transport calls connection_lost() from _write_ready() without '
        'counting the connection as lost (_conn_lost stays 0) and drops '
        'its _loop and _sock; a later abort() or write() then raises '
        'AttributeError on None (and a StreamWriter.write() with it).  A '
        'candidate may do anything else there but crash: its event is not '
        'compared, the events after it are.',
        re.compile(r"'NoneType' object has no attribute '\w+'")),
}
TOLERATED = set(os.environ.get('ASYNCIO_TRANSPORT_TOLERATE',
                               ','.join(PY_BUGS)).split(','))


def shows_py_bug(event):
    """Whether a reference trace event is one of the tolerated PY_BUGS:
    somewhere in it an AttributeError description that matches."""
    if (isinstance(event, tuple) and len(event) >= 2
            and event[0] == 'AttributeError' and isinstance(event[1], str)):
        return any(PY_BUGS[name][1].fullmatch(event[1])
                   for name in TOLERATED if name in PY_BUGS)
    return isinstance(event, tuple) and any(map(shows_py_bug, event))


def first_difference(expected, actual):
    """The index of the first event where the traces differ, except for
    tolerated PY_BUGS; None if they agree."""
    for index, (a, b) in enumerate(zip(expected, actual)):
        if a != b and not (a[0] == b[0] and shows_py_bug(a)):
            return index
    if len(expected) != len(actual):
        return min(len(expected), len(actual))
    return None


def disagreement(prog, reference, candidate):
    """Where *candidate* disagrees with *reference* on *prog*, or None."""
    expected = run_program(reference, prog)
    actual = run_program(candidate, prog)
    index = first_difference(expected, actual)
    if index is None:
        return None
    before = expected[max(0, index - 4):index]
    return (
        f'{candidate.name} disagrees with {reference.name} at trace event '
        f'{index}\nprogram:\n{format_program(prog)}\nevents before:\n'
        + ''.join(f'  {format_event(e)}\n' for e in before)
        + f'{reference.name}: '
        + ', '.join(map(format_event, expected[index:index + 1]))
        + f'\n{candidate.name}: '
        + ', '.join(map(format_event, actual[index:index + 1])))


def smaller_programs(prog):
    """The program with one step, one reaction or one buffer size less, or
    on a socketpair instead of TCP."""
    actions = prog['actions']
    for i in range(len(actions)):
        yield dict(prog, actions=actions[:i] + actions[i + 1:])
    reactions = prog['reactions']
    for i in range(len(reactions)):
        yield dict(prog, reactions=reactions[:i] + reactions[i + 1:])
    buffers = prog['buffers']
    for i in range(len(buffers) if len(buffers) > 1 else 0):
        yield dict(prog, buffers=buffers[:i] + buffers[i + 1:])
    for key, plain in (('mode', 'pair'), ('kind', 'stream'),
                       ('debug', False), ('selector', 'epoll'),
                       ('eof', None)):
        if prog[key] != plain:
            yield dict(prog, **{key: plain})


def shrink(prog, reference, candidate, seconds):
    return cfork_helpers.shrink(
        prog, smaller_programs,
        lambda smaller: disagreement(smaller, reference, candidate), seconds)


def check_seeded(reference, candidate, examples, seed=SEED,
                 shrink_seconds=SHRINK_SECONDS):
    """Check programs from a seeded random generator; on the first
    difference, shrink the program and raise AssertionError."""
    cfork_helpers.check_numbered_programs(
        numbered_program,
        lambda prog: disagreement(prog, reference, candidate),
        smaller_programs, examples, seed, shrink_seconds)


# ---------------------------------------------------------------------------
# Deliberately wrong transports, to show that the comparison catches them

class ByteDroppingTransport(PY_TRANSPORT):
    """Loses the last byte of every write of more than one byte."""

    def write(self, data):
        if isinstance(data, (bytes, bytearray, memoryview)) and len(data) > 1:
            data = bytes(data)[:-1]
        super().write(data)


class LatePauseTransport(PY_TRANSPORT):
    """Stops reading one loop iteration after pause_reading()."""

    def pause_reading(self):
        if self._closing or self._paused:
            return
        self._loop.call_soon(super().pause_reading)


class EofClosesTransport(PY_TRANSPORT):
    """Closes on EOF even when eof_received() returns true."""

    def _read_ready__on_eof(self):
        super()._read_ready__on_eof()
        self.close()


class QuietLostWritesTransport(PY_TRANSPORT):
    """Never warns about writes to a lost connection."""

    def write(self, data):
        if self._conn_lost and isinstance(data, bytes) and data:
            return
        super().write(data)


class BorrowingTransport(PY_TRANSPORT):
    """Keeps the caller's bytearray instead of copying it when it has to
    buffer it, and reads it again when it sends: what the caller does to
    the bytearray after write() returns is what the peer gets."""

    def write(self, data):
        self._copy_borrowed()
        if (isinstance(data, bytearray) and data and self._buffer
                and not self._conn_lost and not self._eof):
            self._buffer.extend(data)
            self._maybe_pause_protocol()
            self._borrowed = data
            return
        super().write(data)

    def _write_ready(self):
        self._copy_borrowed()
        super()._write_ready()

    def _copy_borrowed(self):
        # The borrowed bytes are always the tail of the buffer: any other
        # write copies them first.
        data = self.__dict__.pop('_borrowed', None)
        if data is not None and len(data) <= len(self._buffer):
            self._buffer[len(self._buffer) - len(data):] = data


class DeferredResumeTransport(PY_TRANSPORT):
    """Calls resume_writing() one loop iteration late."""

    def _maybe_resume_protocol(self):
        self._loop.call_soon(super()._maybe_resume_protocol)


@requires_c
class CAgreesWithPythonTests(unittest.TestCase):

    def test_random_programs(self):
        check_seeded(PY, candidate(self), EXAMPLES)

    @unittest.skipIf(C_IS_FALLBACK, 'no C socket transport yet')
    def test_ordinary_connection_uses_c_class(self):
        # Without socket_transport_class(): what users get.
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        local, peer = socket.socketpair()
        self.addCleanup(peer.close)
        transport, _ = loop.run_until_complete(loop.create_connection(
            asyncio.Protocol, sock=local))
        try:
            self.assertIs(type(transport), C_TRANSPORT)
        finally:
            transport.close()
            loop.run_until_complete(asyncio.sleep(0))


class HarnessTests(unittest.TestCase):
    """The harness itself: it must be deterministic and must catch bugs."""

    def assert_caught(self, cls):
        wrong = Impl(cls.__name__, cls)
        with self.assertRaises(AssertionError) as cm:
            check_seeded(PY, wrong, HARNESS_EXAMPLES, shrink_seconds=0)
        self.assertIn('disagrees with py', str(cm.exception))

    def test_python_agrees_with_itself(self):
        # Twice the same class, so that what differs between runs (file
        # descriptors, addresses, timing) is known to be left out.
        check_seeded(PY, Impl('py-again', PY_TRANSPORT), examples=60)

    def test_catches_a_dropped_byte(self):
        self.assert_caught(ByteDroppingTransport)

    def test_catches_a_reordered_call(self):
        self.assert_caught(DeferredResumeTransport)

    def test_catches_a_late_pause(self):
        self.assert_caught(LatePauseTransport)

    def test_catches_an_ignored_eof_result(self):
        self.assert_caught(EofClosesTransport)

    def test_catches_a_missing_warning(self):
        self.assert_caught(QuietLostWritesTransport)

    def test_catches_a_borrowed_buffer(self):
        self.assert_caught(BorrowingTransport)

    def test_shrinks_a_failing_program(self):
        wrong = Impl('drops', ByteDroppingTransport)
        number = next(n for n in range(SEED, SEED + HARNESS_EXAMPLES)
                      if disagreement(numbered_program(n), PY, wrong))
        shrunk = shrink(numbered_program(number), PY, wrong, seconds=60)
        self.assertIsNotNone(disagreement(shrunk, PY, wrong))
        # a write, then the peer reading it
        self.assertLessEqual(len(shrunk['actions']), 3,
                             format_program(shrunk))

    def test_notices_the_wrong_class(self):
        # If the loop did not build the class asked for, the comparison
        # would be of pure against pure: it must fail instead.
        sub = Impl('sub', type('Sub', (PY_TRANSPORT,), {}))
        with mock.patch(f'{__name__}.socket_transport_class',
                        lambda cls: contextlib.nullcontext()):
            with self.assertRaises(WrongTransportClass):
                run_program(sub, numbered_program(SEED))

    def test_programs_are_reproducible(self):
        self.assertEqual([numbered_program(n) for n in range(5)],
                         [numbered_program(n) for n in range(5)])

    def test_programs_cover_the_modes(self):
        programs = [numbered_program(n)
                    for n in range(SEED, SEED + HARNESS_EXAMPLES)]
        for key, values in (('mode', MODES), ('kind', KINDS),
                            ('eof', EOF_RESULTS), ('selector', SELECTORS)):
            with self.subTest(key=key):
                self.assertEqual({p[key] for p in programs}, set(values))
        actions = {a[0] for p in programs for a in p['actions']}
        self.assertEqual(actions, set(ACTIONS + ENDINGS))

    def test_tcp_programs_do_not_count_reads(self):
        # On a socketpair a protocol may react to its n-th read and meet a
        # bad buffer; on TCP, where the kernel decides the reads, never.
        programs = [numbered_program(n)
                    for n in range(SEED, SEED + HARNESS_EXAMPLES)]
        for tcp in (False, True):
            chosen = [p for p in programs if (p['mode'] != 'pair') == tcp]
            read_counting = [
                p for p in chosen
                if any(r[0] == 'data' for r in p['reactions'])
                or set(p['buffers']) & set(BAD_BUFFERS)]
            with self.subTest(tcp=tcp):
                if tcp:
                    self.assertEqual(read_counting, [])
                else:
                    self.assertNotEqual(read_counting, [])

    def test_tcp_traces_compare_the_received_stream(self):
        state = (False, True, 0)

        def trace(*events):
            return [('connection_made', state), *events,
                    ('connection_lost', None, state)]

        def buffered(*chunks):
            events = []
            for chunk in chunks:
                events += [('get_buffer', -1, state),
                           ('buffer_updated', len(chunk), chunk, state)]
            return events

        one_read = trace(('peer send', 6), ('data_received', b'abcdef', state),
                         ('settled', state), ('eof_received', state))
        # The same bytes in three reads, partly after the settle step.
        three_reads = trace(('peer send', 6), ('data_received', b'a', state),
                            ('data_received', b'bcd', state),
                            ('unsettled',), ('settled', state),
                            ('data_received', b'ef', state),
                            ('eof_received', state))
        self.assertEqual(tcp_comparable(three_reads), tcp_comparable(one_read))
        # A BufferedProtocol gets them in buffers of any size.
        self.assertEqual(
            tcp_comparable(trace(('peer send', 6), *buffered(b'ab', b'cde'),
                                 ('settled', state), *buffered(b'f'),
                                 ('eof_received', state))),
            tcp_comparable(trace(('peer send', 6), *buffered(b'abcdef'),
                                 ('settled', state), ('eof_received', state))))
        # A different byte, one byte less, or a byte after the end of the
        # stream: all seen.
        for wrong in (
                [('data_received', b'abcdeF', state), ('settled', state),
                 ('eof_received', state)],
                [('data_received', b'abcde', state), ('settled', state),
                 ('eof_received', state)],
                [('data_received', b'abcde', state), ('settled', state),
                 ('eof_received', state), ('data_received', b'f', state)]):
            with self.subTest(wrong=wrong):
                self.assertNotEqual(
                    tcp_comparable(trace(('peer send', 6), *wrong)),
                    tcp_comparable(one_read))
        # Everything else keeps its place.
        self.assertNotEqual(
            tcp_comparable(trace(('settled', state), ('peer send', 6))),
            tcp_comparable(trace(('peer send', 6), ('settled', state))))


# ---------------------------------------------------------------------------
# Scripted faults

def events(trace, name):
    return [event for event in trace if event[0] == name]


@requires_c
class FaultTests(unittest.TestCase):
    """Each program runs on both classes, which must agree; what 3.11's
    transport does is then checked on the trace."""

    def compare(self, prog):
        expected = run_program(PY, prog)
        actual = run_program(candidate(self), prog)
        index = first_difference(expected, actual)
        if index is not None:
            self.assertEqual(actual, expected,
                             f'the traces differ at event {index}')
        return expected

    def lost(self, trace):
        (lost,) = events(trace, 'connection_lost')
        return lost[1]

    def errors(self, trace):
        return [event[1:] for event in events(trace, 'error')]

    def test_peer_reset_mid_read(self):
        # The transport has written what the peer never reads; the peer
        # closes at once; the transport is told on its next read.
        trace = self.compare(program([
            ('write', 3000, 'bytes'), ('settle',), ('send', (10,)),
            ('reset',), ('settle',), ('write', 5, 'bytes')]))
        self.assertEqual(self.lost(trace)[0], 'ConnectionResetError')
        self.assertEqual(self.errors(trace), [])

    def test_peer_reset_mid_read_tcp(self):
        for mode in ('tcp-client', 'tcp-server'):
            with self.subTest(mode=mode):
                trace = self.compare(program([
                    ('pause_reading',), ('send', (100,)), ('reset',),
                    ('settle',), ('resume_reading',), ('settle',)],
                    mode=mode))
                self.assertEqual(self.lost(trace)[0], 'ConnectionResetError')

    def test_peer_reset_mid_write(self):
        # A write larger than the socket buffer is half sent; the peer goes.
        trace = self.compare(program([
            ('limits', 20000, 0), ('write', 60000, 'bytes'), ('settle',),
            ('recv', 100), ('reset',), ('settle',), ('query',)]))
        (pause,) = events(trace, 'pause_writing')
        self.assertGreater(pause[1][2], 20000)
        self.assertIn(self.lost(trace)[0],
                      ('BrokenPipeError', 'ConnectionResetError'))
        # The buffer is dropped with the connection.
        self.assertEqual(events(trace, 'query')[0][3], 0)

    def test_data_received_raises(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',), ('send', (10,)), ('settle',)],
            reactions=(('data', 1, 'raise'),)))
        self.assertEqual(self.errors(trace), [(
            'Fatal error: protocol.data_received() call failed.',
            ('ValueError', 'data 1: raise'), 'transport', 'protocol')])
        self.assertEqual(self.lost(trace), ('ValueError', 'data 1: raise'))
        self.assertEqual(len(events(trace, 'data_received')), 1)

    def test_buffer_updated_raises(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',)], kind='buffered',
            reactions=(('data', 1, 'raise'),)))
        self.assertEqual(self.errors(trace), [(
            'Fatal error: protocol.buffer_updated() call failed.',
            ('ValueError', 'data 1: raise'), 'transport', 'protocol')])

    def test_get_buffer_empty(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',)], kind='buffered',
            buffers=('empty',)))
        self.assertEqual(self.errors(trace), [(
            'Fatal error: protocol.get_buffer() call failed.',
            ('RuntimeError', 'get_buffer() returned an empty buffer'),
            'transport', 'protocol')])
        self.assertEqual(events(trace, 'buffer_updated'), [])

    def test_get_buffer_read_only(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',)], kind='buffered',
            buffers=('readonly',)))
        ((message, (exc_type, _), *_),) = self.errors(trace)
        self.assertEqual(message, 'Fatal read error on socket transport')
        self.assertEqual(exc_type, 'TypeError')
        self.assertEqual(events(trace, 'buffer_updated'), [])

    def test_get_buffer_slice(self):
        # 150 bytes into a 100-byte slice of a larger buffer: two reads.
        trace = self.compare(program(
            [('send', (150,)), ('settle',)], kind='buffered',
            buffers=('view',)))
        updates = events(trace, 'buffer_updated')
        self.assertEqual([event[1] for event in updates], [100, 50])
        self.assertEqual(updates[0][2] + updates[1][2], PAYLOAD[:150])

    def test_writes_of_non_bytes(self):
        trace = self.compare(program(
            [('write', 3, kind) for kind in ('str', 'int', 'array')]
            + [('writelines', (3, 4), 'bad-item')]))
        self.assertEqual(events(trace, 'write'), [
            ('write', 'raised', ('TypeError', "data argument must be a "
                                 f"bytes-like object, not {name!r}"))
            for name in ('str', 'int', 'array')])
        self.assertEqual(events(trace, 'writelines')[0][2][0], 'TypeError')

    def test_write_after_write_eof(self):
        trace = self.compare(program([
            ('write_eof',), ('write', 3, 'bytes'), ('write', 0, 'bytes'),
            ('settle',), ('drain',)]))
        self.assertEqual(events(trace, 'write'), [
            ('write', 'raised',
             ('RuntimeError', 'Cannot call write() after write_eof()'))] * 2)
        self.assertEqual(events(trace, 'peer drain'), [
            ('peer drain', b'', 'EOF')])

    def test_writes_to_a_lost_connection_warn(self):
        # From the fifth write on, each one logs the warning.
        trace = self.compare(program(
            [('abort',), ('settle',)] + [('write', 10, 'bytes')] * 7))
        warnings = [event for event in events(trace, 'log')
                    if event[2] == 'socket.send() raised exception.']
        self.assertEqual(warnings, [
            ('log', 'WARNING', 'socket.send() raised exception.', None)] * 3)
        self.assertIsNone(self.lost(trace))

    def test_writes_after_close_with_buffered_data(self):
        # close() waits for the buffer to drain, and writes in between are
        # still buffered and sent.
        trace = self.compare(program([
            ('write', 30000, 'bytes'), ('close',), ('write', 10, 'bytes'),
            ('settle',)] + [('drain',), ('settle',)] * 12))
        received = b''.join(event[1] for event in events(trace, 'peer drain'))
        self.assertEqual(received,
                         PAYLOAD[len(PAYLOAD) // 2:][:30000]
                         + PAYLOAD[len(PAYLOAD) // 2 + 30001:][:10])
        self.assertEqual(self.lost(trace), None)

    def test_calls_after_a_flushed_close(self):
        # PY_BUGS['call-after-flushed-close']: what 3.11 does, and that the
        # candidate, whatever it does instead, tells the protocol once.
        prog = program([('write', 30000, 'bytes'), ('close',), ('pump',),
                        ('write', 10, 'bytes'), ('abort',), ('settle',)])
        trace = self.compare(prog)
        self.assertEqual(events(trace, 'write')[1:] + events(trace, 'abort'), [
            ('write', 'raised', ('AttributeError',
                                 "'NoneType' object has no attribute "
                                 "'call_exception_handler'")),
            ('abort', 'raised', ('AttributeError',
                                 "'NoneType' object has no attribute "
                                 "'call_soon'"))])
        actual = run_program(candidate(self), prog)
        self.assertEqual(len(events(actual, 'connection_lost')), 1)

    def test_repr(self):
        trace = self.compare(program([
            ('repr',), ('pause_reading',), ('repr',), ('write', 30000,
                                                       'bytes'),
            ('repr',), ('close',), ('repr',), ('pump',), ('repr',)]))
        # How much the kernel took at once is its business: [1-9]\d*.
        reprs = [event[1] for event in events(trace, 'repr')]
        patterns = [
            r'<Transport fd=N read=polling write=<idle, bufsize=0>>',
            r'<Transport fd=N read=idle write=<idle, bufsize=0>>',
            r'<Transport fd=N read=idle write=<polling, bufsize=[1-9]\d*>>',
            r'<Transport closing fd=N read=idle '
            r'write=<polling, bufsize=[1-9]\d*>>',
            r'<Transport closed fd=N>']
        self.assertEqual(len(reprs), len(patterns))
        for text, pattern in zip(reprs, patterns):
            self.assertRegex(text, f'^{pattern}$')

    def test_close_inside_data_received(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',), ('send', (10,)), ('settle',),
             ('drain',)],
            reactions=(('data', 1, 'close'),)))
        self.assertEqual(len(events(trace, 'data_received')), 1)
        self.assertEqual(self.lost(trace), None)
        self.assertEqual(events(trace, 'peer drain'), [
            ('peer drain', b'', 'EOF')])

    def test_pause_reading_inside_data_received(self):
        trace = self.compare(program(
            [('send', (10,)), ('settle',), ('send', (20,)), ('settle',),
             ('query',), ('resume_reading',), ('settle',)],
            reactions=(('data', 1, 'pause'),)))
        received = events(trace, 'data_received')
        self.assertEqual([len(event[1]) for event in received], [10, 20])
        self.assertEqual(events(trace, 'query')[0][1:3], (False, False))

    def test_eof_received_results(self):
        for result, closes in ((True, False), (False, True), (None, True)):
            with self.subTest(result=result):
                trace = self.compare(program(
                    [('shut_wr',), ('settle',), ('query',),
                     ('write', 10, 'bytes'), ('settle',), ('drain',)],
                    eof=result))
                self.assertEqual(events(trace, 'query')[0][1], closes)
                drained = events(trace, 'peer drain')[0][1]
                self.assertEqual(drained, b'' if closes else
                                 PAYLOAD[len(PAYLOAD) // 2:][:10])

    def test_eof_received_raises(self):
        trace = self.compare(program([('shut_wr',), ('settle',)],
                                     eof='raise'))
        self.assertEqual(self.errors(trace), [(
            'Fatal error: protocol.eof_received() call failed.',
            ('ValueError', 'eof_received failed'), 'transport', 'protocol')])

    def test_flow_control(self):
        trace = self.compare(program([
            ('limits', 10000, 2000), ('write', 30000, 'bytes'), ('settle',)]
            + [('drain',), ('settle',)] * 12 + [('query',)]))
        self.assertEqual(len(events(trace, 'pause_writing')), 1)
        self.assertEqual(len(events(trace, 'resume_writing')), 1)
        self.assertEqual(events(trace, 'query')[0][3], 0)

    def test_pause_writing_raises(self):
        trace = self.compare(program(
            [('limits', 10, 0), ('write', 30000, 'bytes'), ('settle',)],
            reactions=(('pause_writing', 1, 'raise'),)))
        self.assertEqual([error[0] for error in self.errors(trace)],
                         ['protocol.pause_writing() failed'])

    def test_bad_write_buffer_limits(self):
        trace = self.compare(program([('limits', 10, 20),
                                      ('limits', -1, None)]))
        self.assertEqual(
            [event[2] for event in events(trace, 'set_write_buffer_limits')],
            [('ValueError', 'high (10) must be >= low (20) must be >= 0'),
             ('ValueError', 'high (-1) must be >= low (-1) must be >= 0')])

    def test_debug_logging(self):
        trace = self.compare(program(
            [('pause_reading',), ('resume_reading',), ('shut_wr',),
             ('settle',), ('write', 10, 'bytes'), ('reset',), ('settle',),
             ('write', 20000, 'bytes'), ('settle',)],
            debug=True, eof=True))
        messages = [event[2] for event in events(trace, 'log')]
        for message in ('%r pauses reading', '%r resumes reading',
                        '%r received EOF'):
            self.assertIn(message, messages)


# ---------------------------------------------------------------------------
# Crash-prone scenarios, run in a child process first

def scenario_socketpair(cls, protocol, debug=False):
    """A loop and a transport of *cls* over a socketpair, connected."""
    loop = asyncio.new_event_loop()
    loop.set_debug(debug)
    local, peer = socket.socketpair()
    for sock in (local, peer):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_SNDBUF)
    with socket_transport_class(cls):
        transport, _ = loop.run_until_complete(
            loop.create_connection(lambda: protocol, sock=local))
    return loop, transport, peer


class Collecting(asyncio.Protocol):
    def __init__(self, trace):
        self.trace = trace

    def data_received(self, data):
        self.trace.append(('data', data))

    def eof_received(self):
        self.trace.append('eof')

    def connection_lost(self, exc):
        self.trace.append(('lost', describe(exc)))


def crash_dropped_with_reader(cls, trace):
    """Nothing but the loop refers to the transport while it reads."""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))
    del transport
    gc.collect()
    peer.send(b'first')
    settle(loop)
    peer.close()
    settle(loop)
    gc.collect()
    loop.close()


def crash_extra_info_and_closing(cls, trace):
    """get_extra_info() and is_closing() with odd arguments, a key whose
    __eq__ empties _extra during the lookup, and _extra or _closing
    replaced or deleted."""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))

    def ask(*args, **kwargs):
        try:
            trace.append(('extra', transport.get_extra_info(*args, **kwargs)))
        except Exception as exc:
            # the messages for bad arguments are the C or Python ones
            trace.append(('extra raises', type(exc).__name__))

    class Evil(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            transport._extra.clear()
            return str.__eq__(self, other)

    ask('no such', 'default')
    ask(name='no such', default=3)
    trace.append(('socket', type(transport.get_extra_info(
        'socket', default=None)).__name__))
    ask()
    ask('a', 'b', 'c')
    ask('a', nonsense=1)
    ask([])
    ask(Evil('peername'))
    ask('sockname')
    transport._extra = collections.OrderedDict(peername='mapping')
    ask('peername')
    transport._extra = None
    ask('peername')
    del transport._extra
    ask('peername')
    trace.append(('closing', transport.is_closing()))
    try:
        transport.is_closing(1)
    except TypeError:
        trace.append(('closing raises', 'TypeError'))
    transport._closing = 'yes'
    trace.append(('closing', transport.is_closing()))
    del transport._closing
    try:
        transport.is_closing()
    except AttributeError as exc:
        trace.append(('closing raises', describe(exc)))
    transport._closing = False
    transport.close()
    trace.append(('closing', transport.is_closing()))
    peer.close()
    settle(loop)
    loop.close()


def crash_field_deleted_by_its_test(cls, trace):
    """_conn_lost and _buffer whose truth test deletes them, before write()
    and _write_ready() use them: AttributeError, as from the pure code."""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))

    class Lost:
        def __bool__(self):
            del transport._conn_lost
            return True

    class Buffer(bytearray):
        def __bool__(self):
            del transport._buffer
            return True

    for field, value, method, args in (
            ('_conn_lost', Lost(), 'write', (b'abc',)),
            ('_buffer', Buffer(b'xyz'), '_write_ready', ())):
        saved = getattr(transport, field)
        setattr(transport, field, value)
        record_call(trace, transport, method, *args)
        setattr(transport, field, saved)
    transport.close()
    peer.close()
    settle(loop)
    loop.close()


def crash_pause_writing_reuses_the_data(cls, trace):
    """pause_writing(), called inside write(), empties and refills the
    bytearray just written, which the transport has buffered a copy of."""
    data = bytearray(b'x' * 200000)

    class Reusing(Collecting):
        def pause_writing(self):
            self.trace.append('pause_writing')
            data.clear()
            data.extend(b'y' * 10)

    loop, transport, peer = scenario_socketpair(cls, Reusing(trace))
    loop.set_exception_handler(
        lambda loop, context: trace.append(
            ('logged', context['message'],
             describe(context.get('exception')))))
    transport.write(data)
    trace.append(('data', bytes(data)))
    received = bytearray()
    peer.setblocking(False)
    for _ in range(100):
        settle(loop)
        try:
            chunk = peer.recv(1 << 16)
        except BlockingIOError:
            continue
        received += chunk
        if len(received) >= 200000:
            break
    trace.append(('peer', len(received), set(received)))
    transport.close()
    peer.close()
    settle(loop)
    loop.close()


def crash_dropped_after_close(cls, trace):
    """Closed and dropped before connection_lost() runs."""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))
    transport.write(b'x' * 100000)
    transport.close()
    del transport
    gc.collect()
    trace.append(('peer', len(peer.recv(100))))
    peer.close()
    settle(loop)
    loop.close()


def crash_loop_closed_under_transport(cls, trace):
    """The loop is closed while the transport still reads; then the
    transport is used and dropped."""
    # What the dropped transport warns of depends on whether the collector
    # finds it in a cycle, and then on the order it finalizes the cycle's
    # objects in: only this scenario's own collection may decide that,
    # whatever the process ran before.
    gc.collect()
    gc.disable()
    try:
        loop, transport, peer = scenario_socketpair(cls, Collecting(trace))
        loop.close()
        for method, args in (('write', (b'data',)), ('pause_reading', ()),
                             ('resume_reading', ()), ('close', ()),
                             ('abort', ())):
            record_call(trace, transport, method, *args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            del transport
            gc.collect()
    finally:
        gc.enable()
    trace.append(('warnings', [w.category.__name__ for w in caught]))
    peer.close()


def crash_cycle_through_protocol(cls, trace):
    """Transport and protocol refer to each other and to nothing else
    once the connection is lost."""

    class Cyclic(Collecting):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            super().data_received(data)
            self.transport.abort()

    loop, transport, peer = scenario_socketpair(cls, Cyclic(trace))
    del transport
    peer.send(b'go')
    settle(loop)
    gc.collect()
    trace.append(('garbage', len(gc.garbage)))
    peer.close()
    loop.close()


def crash_collect_inside_callbacks(cls, trace):
    """Every protocol callback drops its transport and runs the cyclic
    GC, in the middle of the transport's read and write paths."""

    class Collector(Collecting):
        def connection_made(self, transport):
            self.transport = transport
            transport.set_write_buffer_limits(100, 0)

        def data_received(self, data):
            super().data_received(data)
            self.transport.write(data * 10000)
            gc.collect()

        def pause_writing(self):
            self.trace.append('pause_writing')
            self.transport.abort()
            self.transport = None
            gc.collect()

        def connection_lost(self, exc):
            super().connection_lost(exc)
            gc.collect()

    loop, transport, peer = scenario_socketpair(cls, Collector(trace))
    del transport
    peer.send(b'abc')
    settle(loop)
    peer.close()
    settle(loop)
    loop.close()


def crash_loop_dropped_unclosed(cls, trace):
    """The loop is dropped without being closed, its transport open."""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))
    transport.write(b'x' * 100000)
    trace.append(('buffered', transport.get_write_buffer_size() > 0))
    del loop, transport
    gc.collect()
    peer.close()


def crash_max_size_changes(cls, trace):
    """max_size, the size of a read, changed between reads wherever the
    generic getattr finds it: on the instance, its class, a base class, a
    class swapped in with a property, a replaced instance dict.  (The C
    transport keeps what it found while nothing changed.)"""
    loop, transport, peer = scenario_socketpair(cls, Collecting(trace))
    base = selector_events._SelectorTransport
    default = base.max_size

    def read(label):
        # (a look-up in a changed class gives it a new version tag)
        trace.append((label, transport.is_closing()))
        peer.send(b'0123456789')
        settle(loop)

    class Counted(cls):
        @property
        def max_size(self):
            trace.append('max_size read')
            return 2

    try:
        read('default')
        transport.max_size = 3
        read('instance')
        del transport.max_size
        read('deleted')
        type(transport).max_size = 4
        read('class')
        del type(transport).max_size
        base.max_size = 5
        read('base')
        base.max_size = default
        read('restored')
        transport.__class__ = Counted
        read('property')
        transport.__class__ = cls
        transport.__dict__ = dict(transport.__dict__, max_size=6)
        read('dict replaced')
        transport.__dict__ = {key: value
                              for key, value in transport.__dict__.items()
                              if key != 'max_size'}
        read('dict replaced again')
    finally:
        base.max_size = default
        if 'max_size' in vars(type(transport)):
            del type(transport).max_size
        transport.close()
        settle(loop)
        peer.close()
        loop.close()


CRASH_SCENARIOS = {name[len('crash_'):]: func
                   for name, func in list(globals().items())
                   if name.startswith('crash_')}


def run_crash_scenario(name, impl_name):
    """The trace of a crash-prone scenario on the named class."""
    cls = {'py': PY_TRANSPORT, 'c': C_TRANSPORT}[impl_name]
    trace = []
    with warnings.catch_warnings():
        # Unclosed transports and sockets are what some scenarios are
        # about; their warnings are not part of the trace.
        warnings.simplefilter('ignore', ResourceWarning)
        CRASH_SCENARIOS[name](cls, trace)
        gc.collect()
    return trace


CHILD = '''
from test.test_asyncio import test_c_transport
print(repr(test_c_transport.run_crash_scenario({name!r}, {impl!r})))
'''


def run_in_child(name, impl_name):
    rc, out, err = script_helper.assert_python_ok(
        '-c', CHILD.format(name=name, impl=impl_name))
    return ast.literal_eval(out.decode().strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Construction

class StubServer:
    """What a transport's constructor calls of its server: _attach()."""

    def __init__(self, log, fail=False):
        self.log, self.fail = log, fail

    def _attach(self):
        self.log.append('attach')
        if self.fail:
            raise RuntimeError('attach failed')


class FailingMapping(dict):
    """An extra mapping that refuses one key."""

    def __setitem__(self, key, value):
        if key == 'sockname':
            raise KeyError('no sockname here')
        super().__setitem__(key, value)


# The attributes a socket transport's constructor sets, in the instance
# dict, in the pure class's slots and in the C class's fields.
CONSTRUCTED = ('_extra', '_loop', '_protocol_paused', '_high_water',
               '_low_water', '_sock', '_sock_fd', '_protocol', '_buffer',
               '_conn_lost', '_closing', '_eof', '_paused', '_empty_waiter',
               '_read_ready_cb', '_protocol_connected', '_server')


class Labels:
    """Describes values so that two runs with different objects compare:
    the objects a test made are named, methods by their object and name."""

    def __init__(self, **named):
        self.named = {id(obj): name for name, obj in named.items()
                      if obj is not None}

    def __call__(self, value):
        if id(value) in self.named:
            return self.named[id(value)]
        if isinstance(value, BaseException):
            return describe(value)
        if isinstance(value, (types.MethodType, types.BuiltinMethodType)):
            # bound methods, of Python or C functions
            return ('method', self(value.__self__), value.__name__)
        if type(value).__name__ == 'TransportSocket':
            return ('TransportSocket', self(value._sock))
        if isinstance(value, dict):
            return (type(value).__name__,
                    sorted((k, self(v)) for k, v in value.items()))
        if isinstance(value, (bool, int, str, bytes, bytearray, tuple,
                              type(None))):
            return (type(value).__name__, value)
        return (getattr(value, '__qualname__', type(value).__name__),)


def construction_state(transport, loop, labels):
    """What a constructor left behind: the attributes, the loop's map of
    transports and what it scheduled."""
    attrs = {}
    for name in CONSTRUCTED:
        try:
            attrs[name] = labels(getattr(transport, name))
        except AttributeError:
            attrs[name] = '<unset>'
    registered = {fd: labels(t) for fd, t in
                  getattr(loop, '_transports', {}).items()}
    scheduled = [(labels(h._callback), [labels(a) for a in h._args])
                 for h in loop._ready]
    return attrs, registered, scheduled


@requires_c
class ConstructionTests(unittest.TestCase):
    """The C class builds its transports in C (the pure constructor's
    steps, in their order): what that leaves, what it calls and how it
    fails must be the pure constructor's."""

    def setUp(self):
        candidate(self)

    def new_loop(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        return loop

    def test_class_is_found_where_its_name_says(self):
        # pickle looks a class up by __module__ and __qualname__
        cls = C_TRANSPORT
        module = sys.modules[cls.__module__]
        self.assertIs(getattr(module, cls.__qualname__), cls)
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            self.assertIs(pickle.loads(pickle.dumps(cls, proto)), cls)

    def tcp_socket(self):
        server = socket.create_server(('127.0.0.1', 0))
        self.addCleanup(server.close)
        sock = socket.create_connection(server.getsockname())
        self.addCleanup(sock.close)
        peer, _ = server.accept()
        self.addCleanup(peer.close)
        sock.setblocking(False)
        return sock

    def unix_socket(self):
        sock, peer = socket.socketpair()
        self.addCleanup(sock.close)
        self.addCleanup(peer.close)
        sock.setblocking(False)
        return sock

    def mock_socket(self, **config):
        sock = mock.Mock(socket.socket)
        sock.fileno.return_value = 7
        sock.configure_mock(**config)
        return sock

    def construct(self, cls, sock, make_args, init=None):
        """Build a transport of cls on sock with a fresh loop: what the
        constructor raised, and what it left.  The socket is not closed:
        the other class gets it next."""
        loop = self.new_loop()
        log = []
        protocol_cls, waiter, extra, server = make_args(loop, log)
        protocol = protocol_cls()
        args = (loop, sock, protocol, waiter, extra, server)
        while args and args[-1] is None and len(args) > 3:
            args = args[:-1]
        labels = Labels(loop=loop, sock=sock, protocol=protocol,
                        waiter=waiter, extra=extra, server=server)
        transport = cls.__new__(cls)
        labels.named[id(transport)] = 'transport'
        error = None
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)
            try:
                (init or cls.__init__)(transport, *args)
            except Exception as exc:
                error = describe(exc)
            state = construction_state(transport, loop, labels)
            # Neither __del__ nor the loop's close may close the socket.
            transport._sock = None
            loop._ready.clear()
        return error, state, log

    def assert_same(self, sock, make_args, py_cls=None, c_cls=None):
        expected = self.construct(py_cls or PY_TRANSPORT, sock, make_args)
        actual = self.construct(c_cls or C_TRANSPORT, sock, make_args)
        self.assertEqual(actual, expected)
        return actual

    CASES = {
        'protocol': lambda loop, log: (asyncio.Protocol, None, None, None),
        'buffered, all arguments': lambda loop, log: (
            asyncio.BufferedProtocol, loop.create_future(),
            {'peername': ('10.0.0.1', 80), 'spare': 1}, StubServer(log)),
        'waiter, extra': lambda loop, log: (
            asyncio.Protocol, loop.create_future(), {}, None),
    }

    def test_same_state_as_pure(self):
        for kind in ('tcp', 'unix', 'mock'):
            sock = getattr(self, f'{kind}_socket')()
            for name, make_args in self.CASES.items():
                with self.subTest(socket=kind, case=name):
                    error, state, log = self.assert_same(sock, make_args)
                    self.assertIsNone(error)
                    attrs, registered, scheduled = state
                    self.assertEqual(registered,
                                     {attrs['_sock_fd'][1]: 'transport'})
                    self.assertEqual(
                        [cb[0][2] if cb[0][0] == 'method' else cb[0][0]
                         for cb in scheduled][:2],
                        ['connection_made', '_add_reader'])
                    self.assertEqual(log, ['attach'] if 'all' in name
                                     else [])

    def test_c_constructor_runs(self):
        # The cases above must go through the C constructor, not through
        # the pure one the C class falls back to: the pure
        # _SelectorTransport.__init__ is not called.
        sock = self.unix_socket()
        base = selector_events._SelectorTransport
        with mock.patch.object(base, '__init__', autospec=True,
                               side_effect=base.__init__) as init:
            self.construct(C_TRANSPORT, sock, self.CASES['protocol'])
            self.assertEqual(init.call_count, 0)
            self.construct(PY_TRANSPORT, sock, self.CASES['protocol'])
            self.assertEqual(init.call_count, 1)

    def test_failures(self):
        def with_extra(extra):
            return lambda loop, log: (asyncio.Protocol, None, extra, None)

        def failing_server(loop, log):
            return asyncio.Protocol, None, None, StubServer(log, fail=True)

        def closed_loop(loop, log):
            loop.close()
            return asyncio.Protocol, loop.create_future(), None, None

        def no_transports(loop, log):
            del loop._transports
            return asyncio.Protocol, None, None, None

        cases = [
            ('getsockname OSError', dict(
                **{'getsockname.side_effect': OSError(9, 'bad')}),
             self.CASES['protocol']),
            ('getpeername OSError', dict(
                **{'getpeername.side_effect': OSError(107, 'no peer')}),
             self.CASES['protocol']),
            ('getsockname ValueError', dict(
                **{'getsockname.side_effect': ValueError('odd')}),
             self.CASES['protocol']),
            ('fileno raises', dict(
                **{'fileno.side_effect': OSError(9, 'closed')}),
             self.CASES['protocol']),
            ('extra refuses', {}, with_extra(FailingMapping())),
            ('extra not a mapping', {}, with_extra(42)),
            ('attach raises', {}, failing_server),
            ('loop closed', {}, closed_loop),
            ('loop without _transports', {}, no_transports),
        ]
        for name, config, make_args in cases:
            with self.subTest(name):
                error, state, log = self.assert_same(
                    self.mock_socket(**config), make_args)
                if name.endswith('OSError'):
                    self.assertIsNone(error)
                else:
                    self.assertIsNotNone(error)

    def test_reentrant_transports_map(self):
        # The loop's map of transports gets the transport half-built: a
        # map that changes what the rest of the constructor reads.
        class Evil(dict):
            def __init__(self, change):
                self.change = change

            def __setitem__(self, fd, transport):
                super().__setitem__(fd, transport)
                self.change(transport)

        changes = {
            'protocol dropped': lambda t: setattr(t, '_protocol', None),
            'socket dropped': lambda t: setattr(t, '_sock', None),
            'loop dropped': lambda t: setattr(t, '_loop', None),
            'loop deleted': lambda t: delattr(t, '_loop'),
            'descriptor deleted': lambda t: delattr(t, '_sock_fd'),
            'closing': lambda t: setattr(t, '_closing', True),
        }
        for name, change in changes.items():
            def make_args(loop, log, change=change):
                loop._transports = Evil(change)
                return asyncio.Protocol, loop.create_future(), None, None
            with self.subTest(name):
                self.assert_same(self.mock_socket(), make_args)

    def test_nodelay(self):
        sock = self.tcp_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        self.construct(C_TRANSPORT, sock, self.CASES['protocol'])
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY))
        # not a TCP socket: nothing to set, nothing raised
        error, _, _ = self.construct(C_TRANSPORT, self.unix_socket(),
                                     self.CASES['protocol'])
        self.assertIsNone(error)

    def test_replaced_functions_are_called(self):
        # What the pure constructor reads from its module at the time of
        # the call is read so by the C one too.
        for target in ('base_events._set_nodelay', 'trsock.TransportSocket',
                       'futures._set_result_unless_cancelled'):
            module, name = target.split('.')
            with self.subTest(target):
                sock = self.tcp_socket()
                orig = getattr(getattr(selector_events, module), name)
                with mock.patch.object(getattr(selector_events, module),
                                       name, side_effect=orig) as fake:
                    _, state, _ = self.construct(
                        C_TRANSPORT, sock,
                        self.CASES['buffered, all arguments'])
                if name == '_set_result_unless_cancelled':
                    # scheduled, not called, during construction
                    self.assertEqual(fake.call_count, 0)
                    self.assertEqual(state[2][2], (
                        ('MagicMock',), ['waiter', ('NoneType', None)]))
                else:
                    fake.assert_called_once()
                    self.assertIs(fake.call_args.args[0], sock)

    def test_replaced_methods_are_called(self):
        log = []

        def set_protocol(self, protocol):
            log.append(type(self).__name__)
            orig(self, protocol)

        orig = PY_TRANSPORT.set_protocol
        sock = self.unix_socket()
        with mock.patch.object(PY_TRANSPORT, 'set_protocol', set_protocol):
            self.assert_same(sock, self.CASES['protocol'])
        self.assertEqual(log, [PY_TRANSPORT.__name__, C_TRANSPORT.__name__])

    def test_subclasses(self):
        def subclass(base):
            class Sub(base):
                def __init__(self, *args, **kwargs):
                    self.log = ['init']
                    super().__init__(*args, **kwargs)

                def set_protocol(self, protocol):
                    self.log.append('set_protocol')
                    super().set_protocol(protocol)

            return Sub

        sock = self.unix_socket()
        py_sub, c_sub = subclass(PY_TRANSPORT), subclass(C_TRANSPORT)
        self.assert_same(sock, self.CASES['buffered, all arguments'],
                         py_sub, c_sub)
        loop = self.new_loop()
        transport = c_sub(loop, sock, asyncio.Protocol())
        self.assertEqual(transport.log, ['init', 'set_protocol'])
        transport._sock = None

    def test_arguments(self):
        sock = self.unix_socket()
        keywords = lambda cls: lambda self, loop, sock, protocol, *rest: (
            cls.__init__(self, loop, sock=sock, protocol=protocol,
                         **dict(zip(('waiter', 'extra', 'server'), rest))))
        expected = self.construct(PY_TRANSPORT, sock,
                                  self.CASES['buffered, all arguments'],
                                  init=keywords(PY_TRANSPORT))
        actual = self.construct(C_TRANSPORT, sock,
                                self.CASES['buffered, all arguments'],
                                init=keywords(C_TRANSPORT))
        self.assertEqual(actual, expected)
        self.assertIsNone(actual[0])
        loop = self.new_loop()
        for args, kwargs in [((), {}), ((loop,), {}),
                             ((loop, sock, None, None, None, None, None), {}),
                             ((loop, sock, asyncio.Protocol()), {'x': 1})]:
            with self.subTest(args=len(args), kwargs=kwargs):
                errors = []
                for cls in (PY_TRANSPORT, C_TRANSPORT):
                    with self.assertRaises(TypeError) as cm:
                        cls(*args, **kwargs)
                    errors.append(str(cm.exception))
                self.assertEqual(errors[0], errors[1])


@requires_c
class ClosingTests(unittest.TestCase):
    """close(), _call_connection_lost() and _add_reader() of the C class
    (the random programs run them on real connections): their failures and
    what they leave, against the pure class's."""

    def setUp(self):
        candidate(self)

    def run_both(self, scenario, server=False, waiter=False):
        """scenario(transport, sock, protocol) on a transport of each class
        over a mock socket: what it returned or raised (with the
        exception's context), the state left and the calls made."""
        results = []
        for cls in (PY_TRANSPORT, C_TRANSPORT):
            loop = asyncio.new_event_loop()
            self.addCleanup(loop.close)
            log = []
            sock = mock.Mock(socket.socket)
            sock.fileno.return_value = 7
            sock.close.side_effect = lambda: log.append('sock.close')
            protocol = mock.Mock(asyncio.Protocol)
            stub = StubServer(log) if server else None
            if stub is not None:
                stub._detach = lambda: log.append('detach')
            transport = cls(loop, sock, protocol, None, None, stub)
            loop._ready.clear()
            if waiter:
                transport._empty_waiter = loop.create_future()
            labels = Labels(loop=loop, sock=sock, protocol=protocol,
                            server=stub, transport=transport)
            try:
                outcome = ('returned', labels(scenario(transport, sock,
                                                       protocol)))
            except Exception as exc:
                outcome = ('raised', describe(exc),
                           describe(exc.__context__))
            state = construction_state(transport, loop, labels)
            if waiter:
                w = transport._empty_waiter
                state += (w.done() and describe(w.exception()),)
            calls = [(name, [labels(a) for a in args])
                     for name, args, _ in protocol.mock_calls]
            results.append((outcome, state, log, calls))
            transport._sock = None
        self.assertEqual(results[0], results[1])
        return results[0]

    def test_close(self):
        def close_twice(transport, sock, protocol):
            transport.close()
            transport.close()
        outcome, (attrs, _, scheduled), _, _ = self.run_both(close_twice)
        self.assertEqual(attrs['_closing'], ('bool', True))
        self.assertEqual(attrs['_conn_lost'], ('int', 1))
        self.assertEqual(scheduled, [(('method', 'transport',
                                       '_call_connection_lost'),
                                      [('NoneType', None)])])

    def test_close_with_buffered_data(self):
        def close(transport, sock, protocol):
            transport._buffer.extend(b'unsent')
            transport.close()
        _, (attrs, _, scheduled), _, _ = self.run_both(close)
        self.assertEqual(attrs['_conn_lost'], ('int', 0))
        self.assertEqual(scheduled, [])

    def test_connection_lost(self):
        def lose(transport, sock, protocol):
            transport._call_connection_lost(ConnectionResetError('reset'))
        outcome, (attrs, _, _), log, calls = self.run_both(lose, server=True)
        self.assertEqual(log, ['attach', 'sock.close', 'detach'])
        self.assertEqual(len(calls), 1)
        for name in ('_sock', '_protocol', '_loop', '_server'):
            self.assertEqual(attrs[name], ('NoneType', None), name)

    def test_connection_lost_with_waiter(self):
        def lose(transport, sock, protocol):
            transport._call_connection_lost(None)
        result = self.run_both(lose, waiter=True)
        self.assertEqual(result[1][-1], ('ConnectionError',
                                         'Connection is closed by peer'))

    def test_connection_lost_failures(self):
        def protocol_raises(transport, sock, protocol):
            protocol.connection_lost.side_effect = ValueError('protocol')
            transport._call_connection_lost(None)

        def both_raise(transport, sock, protocol):
            protocol.connection_lost.side_effect = ValueError('protocol')
            sock.close.side_effect = OSError('close')
            transport._call_connection_lost(None)

        def detach_raises(transport, sock, protocol):
            transport._server._detach = mock.Mock(
                side_effect=RuntimeError('detach'))
            transport._call_connection_lost(None)

        def not_connected(transport, sock, protocol):
            transport._protocol_connected = False
            transport._call_connection_lost(None)

        outcome = self.run_both(protocol_raises, waiter=True)[0]
        self.assertEqual(outcome, ('raised', ('ValueError', 'protocol'),
                                   None))
        outcome = self.run_both(both_raise)[0]
        self.assertEqual(outcome, ('raised', ('OSError', 'close'),
                                   ('ValueError', 'protocol')))
        outcome = self.run_both(detach_raises, server=True)[0]
        self.assertEqual(outcome[:2], ('raised', ('RuntimeError', 'detach')))
        calls = self.run_both(not_connected)[3]
        self.assertEqual(calls, [])

    def test_add_reader(self):
        def add(transport, sock, protocol):
            seen = []
            transport._loop._add_reader = (
                lambda *args: seen.append(args) or 'handle')
            results = [transport._add_reader(7, print, 'a', 'b'),
                       transport._add_reader(fd=7, callback=print)]
            transport._closing = True
            results.append(transport._add_reader(7, print))
            return results, seen

        def bad_calls(transport, sock, protocol):
            errors = []
            for args, kwargs in [((), {}), ((7,), {}),
                                 ((7, print, 1), {'fd': 7}),
                                 ((7, print, 1), {'x': 1}),
                                 ((7,), {'x': 1})]:
                try:
                    transport._add_reader(*args, **kwargs)
                except TypeError as exc:
                    errors.append(type(exc).__name__)
            return errors

        outcome = self.run_both(add)[0]
        self.assertEqual(outcome, ('returned', ('tuple', (
            [None, None, None], [(7, print, 'a', 'b'), (7, print)]))))
        outcome = self.run_both(bad_calls)[0]
        self.assertEqual(outcome, ('returned', ('list',)))


@requires_c
@requires_c
class SocketMethodResultTests(unittest.TestCase):
    """A socket of another type is written and read through its methods.
    A negative count from its send() or recv_into() is the socket's error,
    reported as fatal with a ValueError.  (The pure class slices with it,
    which sends or reads bytes that are not there; the C one once raised
    SystemError.)"""

    def run_case(self, method):
        class OddSocket(socket.socket):
            def send(self, data, *args):
                return -1 if method == 'send' else super().send(data, *args)

            def recv_into(self, buf, *args):
                if method == 'recv_into':
                    return -1
                return super().recv_into(buf, *args)

        class Recording(asyncio.BufferedProtocol):
            def __init__(self):
                self.events = []

            def get_buffer(self, sizehint):
                return bytearray(10)

            def buffer_updated(self, nbytes):
                self.events.append(('updated', nbytes))

            def connection_lost(self, exc):
                self.events.append(('lost', describe(exc)))

        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        logged = []
        loop.set_exception_handler(
            lambda loop, context: logged.append(
                (context['message'], describe(context.get('exception')))))
        a, peer = socket.socketpair()
        self.addCleanup(peer.close)
        sock = OddSocket(fileno=a.detach())
        sock.setblocking(False)
        protocol = Recording()
        with socket_transport_class(C_TRANSPORT):
            transport, _ = loop.run_until_complete(
                loop.create_connection(lambda: protocol, sock=sock))
        self.assertIs(type(transport), C_TRANSPORT)
        if method == 'send':
            transport.write(b'hello')
        else:
            peer.send(b'hello')
        settle(loop)
        error = ('ValueError',
                 f'socket.{method}() returned -1, not a number of bytes')
        which = 'write' if method == 'send' else 'read'
        self.assertEqual(logged, [
            (f'Fatal {which} error on socket transport', error)])
        self.assertEqual(protocol.events, [('lost', error)])

    def test_send_returns_a_negative_count(self):
        self.run_case('send')

    def test_recv_into_returns_a_negative_count(self):
        self.run_case('recv_into')


class CrashTests(unittest.TestCase):

    def test_scenarios_are_deterministic(self):
        for name in CRASH_SCENARIOS:
            with self.subTest(name):
                self.assertEqual(run_crash_scenario(name, 'py'),
                                 run_crash_scenario(name, 'py'))


def add_crash_tests():
    for name in CRASH_SCENARIOS:
        def test(self, name=name):
            candidate(self)
            expected = run_crash_scenario(name, 'py')
            self.assertEqual(run_in_child(name, 'c'), expected,
                             'C transport in a child process')
            self.assertEqual(run_crash_scenario(name, 'c'), expected,
                             'C transport in this process')
        setattr(CrashTests, f'test_{name}', test)


add_crash_tests()


@requires_c
class ThreadTests(unittest.TestCase):
    """Loops in several threads, each with its own connection."""

    ROUNDS = 2000
    MESSAGE = 200

    def receive_in_a_loop(self, mark, results):
        async def main():
            loop = asyncio.get_running_loop()
            local, peer = socket.socketpair()
            peer.setblocking(False)
            got = bytearray()

            class Receiver(asyncio.Protocol):
                def data_received(self, data):
                    got.extend(data)

            transport, _ = await loop.create_connection(Receiver, sock=local)
            try:
                for _ in range(self.ROUNDS):
                    peer.send(mark * self.MESSAGE)
                    # one turn to read it, one for the other threads
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                for _ in range(SETTLE_LIMIT):
                    if len(got) >= self.ROUNDS * self.MESSAGE:
                        break
                    await asyncio.sleep(0)
            finally:
                transport.close()
                peer.close()
            return type(transport), bytes(got)
        results[mark] = asyncio.run(main())

    def test_reads_keep_their_bytes(self):
        # Every transport's small reads go through one scratch buffer; a
        # loop in another thread must not get, or overwrite, its bytes.
        candidate(self)
        results = {}
        threads = [threading.Thread(target=self.receive_in_a_loop,
                                    args=(mark, results))
                   for mark in (b'A', b'B', b'C', b'D')]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len(results), len(threads))
        for mark, (cls, got) in results.items():
            self.assertIs(cls, C_TRANSPORT)
            self.assertEqual(got.count(mark), len(got), mark)
            self.assertEqual(got, mark * (self.ROUNDS * self.MESSAGE))


# ---------------------------------------------------------------------------
# System call faults: the random programs again, in a child interpreter
# whose recv(), send() and epoll_wait() fail now and then

# Preloaded into the child (LD_PRELOAD), this library makes the system calls
# of both transports fail from a generator seeded by the program: each
# class meets the same faults at the same calls, so the traces must still
# be equal.  recv() and send() fail only on the transport's socket (the
# peer is the test's), with EINTR after a signal whose handler notes it in
# the trace (SIGUSR1) or raises (SIGUSR2), or with EAGAIN; send() also
# sends a single byte or part of what it was given; epoll_wait() fails with
# EINTR after a signal.
FAULTS_SOURCE = r'''
/* Injected system call faults for test_c_transport: recv() and send() on
   one descriptor, and epoll_wait(), fail with EINTR or EAGAIN or (send)
   write less than asked, from a seeded generator. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>

enum { F_EINTR, F_EAGAIN, F_SHORT, F_RAISE, F_EPOLL, F_KINDS };

static int target = -1;
static unsigned long long state;
static int per_mille[F_KINDS];
static unsigned long counts[F_KINDS];

void
faults_arm(int fd, unsigned long long seed, int eintr, int eagain,
           int short_send, int raise_exc, int epoll_eintr)
{
    target = fd;
    state = seed * 2654435761ULL + 1;
    per_mille[F_EINTR] = eintr;
    per_mille[F_EAGAIN] = eagain;
    per_mille[F_SHORT] = short_send;
    per_mille[F_RAISE] = raise_exc;
    per_mille[F_EPOLL] = epoll_eintr;
}

unsigned long
faults_count(int kind)
{
    return kind >= 0 && kind < F_KINDS ? counts[kind] : 0;
}

static unsigned int
draw(void)
{
    /* xorshift64 */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (unsigned int)(state >> 32);
}

static int
happens(int kind)
{
    if (per_mille[kind] > 0 && (int)(draw() % 1000) < per_mille[kind]) {
        counts[kind]++;
        return 1;
    }
    return 0;
}

/* A fault of the socket calls, or 0 for none.  EINTR comes with a signal
   for the interpreter's handler, as a real one would. */
static int
socket_fault(int fd, int sending)
{
    if (fd != target || target < 0) {
        return 0;
    }
    if (happens(F_RAISE)) {
        raise(SIGUSR2);
        errno = EINTR;
        return -1;
    }
    if (happens(F_EINTR)) {
        raise(SIGUSR1);
        errno = EINTR;
        return -1;
    }
    if (happens(F_EAGAIN)) {
        errno = EAGAIN;
        return -1;
    }
    if (sending && happens(F_SHORT)) {
        return 1;
    }
    return 0;
}

typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef ssize_t (*send_fn)(int, const void *, size_t, int);
typedef int (*epoll_wait_fn)(int, struct epoll_event *, int, int);

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
    static recv_fn real;
    if (real == NULL) {
        real = (recv_fn)dlsym(RTLD_NEXT, "recv");
    }
    if (socket_fault(fd, 0) < 0) {
        return -1;
    }
    return real(fd, buf, len, flags);
}

ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    (void)buflen;
    return recv(fd, buf, len, flags);
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
    static send_fn real;
    int fault;
    if (real == NULL) {
        real = (send_fn)dlsym(RTLD_NEXT, "send");
    }
    fault = socket_fault(fd, 1);
    if (fault < 0) {
        return -1;
    }
    if (fault > 0 && len > 1) {
        len = 1 + draw() % (len - 1);
    }
    return real(fd, buf, len, flags);
}

int
epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    static epoll_wait_fn real;
    if (real == NULL) {
        real = (epoll_wait_fn)dlsym(RTLD_NEXT, "epoll_wait");
    }
    if (target >= 0 && happens(F_EPOLL)) {
        raise(SIGUSR1);
        errno = EINTR;
        return -1;
    }
    return real(epfd, events, maxevents, timeout);
}
'''

# Faults per thousand calls, in the order of faults_arm()'s arguments.
FAULT_KINDS = ('eintr', 'eagain', 'short', 'raise', 'epoll')
FAULT_RATES = (100, 100, 150, 8, 50)
FAULT_EXAMPLES = EXAMPLES

# The injector of a child run (run_under_faults()), or None.
INJECTOR = None


class SignalRaised(Exception):
    pass


class Injector:
    """Arms the preloaded fault library for each run, notes the signals its
    faults come with, and counts the faults each class met."""

    def __init__(self, library):
        import ctypes
        self.lib = ctypes.CDLL(library)
        self.lib.faults_arm.argtypes = (
            [ctypes.c_int, ctypes.c_ulonglong] + [ctypes.c_int] * 5)
        self.lib.faults_arm.restype = None
        self.lib.faults_count.argtypes = [ctypes.c_int]
        self.lib.faults_count.restype = ctypes.c_ulong
        self.run = None
        self.start = None
        self.met = collections.defaultdict(collections.Counter)
        signal.signal(signal.SIGUSR1, self.interrupted)
        signal.signal(signal.SIGUSR2, self.raising)

    def counts(self):
        return collections.Counter({
            kind: self.lib.faults_count(i)
            for i, kind in enumerate(FAULT_KINDS)})

    def arm(self, run, fd):
        self.run, self.start = run, self.counts()
        seed = zlib.crc32(format_program(run.program).encode())
        self.lib.faults_arm(fd, seed, *FAULT_RATES)

    def disarm(self):
        self.lib.faults_arm(-1, 0, 0, 0, 0, 0, 0)
        if self.run is not None:
            self.met[self.run.impl.name].update(self.counts() - self.start)
        self.run = None

    def interrupted(self, signum, frame):
        if self.run is not None:
            self.run.note('signal')

    def raising(self, signum, frame):
        if self.run is not None:
            self.run.note('signal raising')
        raise SignalRaised('the signal handler raised')


class ShortSendBlindTransport(PY_TRANSPORT):
    """Takes a partial send for a whole one: what a transport that ignored
    send()'s count would lose."""

    def __init__(self, loop, sock, *args, **kwargs):
        super().__init__(loop, sock, *args, **kwargs)
        self._sock = ShortSendBlindSocket(self._sock)


class ShortSendBlindSocket:

    def __init__(self, sock):
        self._wrapped = sock

    def send(self, data):
        self._wrapped.send(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self._wrapped, name)


def run_under_faults(library, examples, candidate_name):
    """The child's part: the seeded programs with faults, then the faults
    each class met, on the last line of the output."""
    global INJECTOR
    INJECTOR = Injector(library)
    cand = {'c': C, 'short-send-blind': Impl('short-send-blind',
                                             ShortSendBlindTransport)}
    try:
        check_seeded(PY, cand[candidate_name], examples, shrink_seconds=5)
    finally:
        print({name: dict(met) for name, met in INJECTOR.met.items()})


FAULT_CHILD = '''
import sys
from test.test_asyncio import test_c_transport
test_c_transport.run_under_faults(sys.argv[1], int(sys.argv[2]), sys.argv[3])
'''


@unittest.skipUnless(sys.platform == 'linux', 'LD_PRELOAD and epoll_wait()')
class SystemCallFaultTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        compiler = shutil.which('cc') or shutil.which('gcc')
        if compiler is None:
            raise unittest.SkipTest('no C compiler for the fault library')
        cls.tmp = tempfile.mkdtemp()
        source = os.path.join(cls.tmp, 'faults.c')
        cls.library = os.path.join(cls.tmp, 'faults.so')
        with open(source, 'w') as f:
            f.write(FAULTS_SOURCE)
        subprocess.run([compiler, '-shared', '-fPIC', '-O1', '-o',
                        cls.library, source, '-ldl'], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def run_child(self, candidate_name, examples=FAULT_EXAMPLES):
        asan = os.environ.get('ASAN_OPTIONS', '')
        # ASan wants its runtime first in the library list; the fault
        # library does not replace anything ASan intercepts.
        return script_helper.run_python_until_end(
            '-c', FAULT_CHILD, self.library, str(examples), candidate_name,
            LD_PRELOAD=self.library,
            ASAN_OPTIONS=(asan + ':' if asan else '')
            + 'verify_asan_link_order=0')

    def test_c_agrees_with_python_under_faults(self):
        candidate(self)
        result, _ = self.run_child('c')
        out, err = result.out.decode(), result.err.decode()
        self.assertEqual(result.rc, 0, err)
        met = ast.literal_eval(out.strip().splitlines()[-1])
        # Every kind of fault reached the C transport's own system calls.
        for kind in FAULT_KINDS:
            self.assertGreater(met['c'].get(kind, 0), 0, (kind, met))
        self.assertEqual(met['c'], met['py'])

    def test_catches_a_transport_blind_to_partial_sends(self):
        result, _ = self.run_child('short-send-blind', examples=60)
        self.assertNotEqual(result.rc, 0, result.out.decode())
        self.assertIn('disagrees with py', result.err.decode())


if __name__ == '__main__':
    unittest.main()
