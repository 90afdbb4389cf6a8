"""Differential tests for asyncio's streams: StreamReader on its own and
over real connections.

A program is a limit and a list of steps over one StreamReader: data fed in
chunks of random sizes and types (bytes, bytearray, memoryview), EOF,
read(n), readexactly(n), readline(), readuntil(separator), the next line of
`async for`, at_eof(), set_exception(), cancelling the read in progress,
and turns of the event loop.  Reads run as tasks, so a read that waits for
data stays pending while later steps feed it, and a second read started
meanwhile meets the "already waiting" RuntimeError.  The reader is used:

- directly (feed_data() and feed_eof()), with no transport, with a fake
  transport that notes pause_reading() and resume_reading(), or one whose
  pause_reading() raises NotImplementedError;
- over a socketpair, both ends opened with open_connection(sock=...);
- over TCP loopback, through start_server() and open_connection().
  Over a connection, data is written by the other end's StreamWriter, EOF
  is its write_eof(), and a program may also reset the connection and make
  the reader's side write replies and await drain().

Everything observable is recorded in a trace: what each read returned or
raised (type, message, and IncompleteReadError's .partial and .expected,
LimitOverrunError's .consumed), when it finished, at_eof(), exception(),
the reader's repr (on the direct runs), the transport's pause and resume
calls or is_reading(), what drain() did and what the other end received.
The same program runs on the pure-Python classes and on the C classes,
which must give equal traces (but for test_c_transport's PY_BUGS).  The
classes are streams._PyStreamReader and streams._CStreamReader (likewise
StreamReaderProtocol and StreamWriter when a C version exists), and the
socket transport of test_c_transport; until the C classes exist, the
current pure classes stand in for them, so the harness compares pure
against pure; HarnessTests show that it catches deliberately wrong
readers.  stream_classes() is the one place that makes
open_connection() and start_server() use a given set of classes.

ASYNCIO_STREAMS_EXAMPLES (default 300) sets the number of random programs;
a failing one is shrunk for up to ASYNCIO_DIFF_SHRINK_SECONDS (default 20).

Not compared: feed_data() after feed_eof(), which 3.11 refuses only with an
assert statement.
"""

import asyncio
import contextlib
import copy
import fractions
import gc
import inspect
import os
import pickle
import random
import re
import socket
import struct
import sys
import unittest
import warnings
from asyncio import streams
from test import support
from test.test_asyncio import cfork_helpers
from test.test_asyncio import test_c_transport as transport_tests
from unittest import mock


def tearDownModule():
    asyncio.set_event_loop_policy(None)


EXAMPLES = int(os.environ.get('ASYNCIO_STREAMS_EXAMPLES', '300'))
SHRINK_SECONDS = float(os.environ.get('ASYNCIO_DIFF_SHRINK_SECONDS', '20'))
SEED = 20261129
# Programs the deliberately wrong readers get to show themselves in,
# whatever ASYNCIO_STREAMS_EXAMPLES says.
HARNESS_EXAMPLES = 300

# The stream classes that may get a C version, by their name in streams.
STREAM_CLASSES = ('StreamReader', 'StreamReaderProtocol', 'StreamWriter')


def stream_class_pair(name):
    """(pure class, C class) for streams.<name>: the current class for
    both until the module has _Py<name> and _C<name>; the C one is None if
    the module says it is absent."""
    current = getattr(streams, name)
    pure = getattr(streams, '_Py' + name, current)
    return pure, getattr(streams, '_C' + name, pure)


PAIRS = {name: stream_class_pair(name) for name in STREAM_CLASSES}
C_MISSING = [name for name, (_, c) in PAIRS.items() if c is None]
C_IS_FALLBACK = all(py is c for py, c in PAIRS.values())

requires_c = unittest.skipIf(
    (C_MISSING or transport_tests.C_TRANSPORT is None)
    and not cfork_helpers.OUR_BUILD,
    'the C streams or socket transport are not available')


class Impl:
    """The stream classes and the socket transport class under test."""

    def __init__(self, name, classes, transport):
        self.name = name
        self.classes = classes
        self.transport = transport

    @property
    def reader(self):
        return self.classes['StreamReader']

    def __repr__(self):
        return f'<Impl {self.name}>'


PY = Impl('py', {name: py for name, (py, _) in PAIRS.items()},
          transport_tests.PY_TRANSPORT)
C = Impl('c', {name: c for name, (_, c) in PAIRS.items()},
         transport_tests.C_TRANSPORT)


def candidate(testcase):
    """The C classes' Impl; on our build a C class that is None fails."""
    if C_MISSING or C.transport is None:
        testcase.fail(f'C classes missing on our build: {C_MISSING}, '
                      f'transport {C.transport!r}')
    return C


@contextlib.contextmanager
def stream_classes(impl):
    """Make open_connection() and start_server() use the classes of
    *impl*, and the selector loop its socket transport.

    The one place that knows how the classes are chosen: adapt it here if
    the streams functions stop reading the module globals."""
    with contextlib.ExitStack() as stack:
        for name, cls in impl.classes.items():
            stack.enter_context(mock.patch.object(streams, name, cls))
        stack.enter_context(
            transport_tests.socket_transport_class(impl.transport))
        yield


ADDRESS = re.compile(r' at 0x[0-9a-f]+')


def describe(exc):
    """Type, message and the attributes of asyncio's stream errors."""
    if exc is None:
        return None
    return (type(exc).__name__, str(exc),
            getattr(exc, 'partial', None), getattr(exc, 'expected', None),
            getattr(exc, 'consumed', None))


# ---------------------------------------------------------------------------
# Program generation

MODES = ('direct',) * 6 + ('pair',) * 3 + ('tcp',)
LIMITS = (1, 2, 3, 5, 8, 16, 100)
TRANSPORTS = (None, 'fake', 'fake', 'no-pause')
SEPARATORS = (b'\n', b'ab', b'aba', b'x\n', b'xyz', b'')
FEED_KINDS = ('bytes',) * 4 + ('bytearray', 'memoryview')
ALPHABET = b'ab\nx'
STEPS = (('feed',) * 8 + ('read',) * 2 + ('readexactly',) * 2
         + ('readline',) * 2 + ('readuntil',) * 2
         + ('anext', 'at_eof', 'cancel', 'spin', 'spin'))
CONNECTION_STEPS = ('reply', 'reply', 'reset')


def gen_chunk(draw, limit):
    size = draw.pick((0, 1, 2, draw.int(1, 3 * limit + 3),
                      draw.int(1, 3 * limit + 3)))
    return bytes(draw.pick(ALPHABET) for _ in range(size))


def gen_step(draw, limit, connected, at_eof):
    name = draw.pick(STEPS + (CONNECTION_STEPS if connected else ()))
    if name == 'feed':
        if at_eof:
            return ('spin',)
        return ('feed', gen_chunk(draw, limit), draw.pick(FEED_KINDS))
    if name == 'read':
        return ('read', draw.pick((-1, 0, 1, 2, 5, limit, 2 * limit + 1)))
    if name == 'readexactly':
        return ('readexactly', draw.pick((-1, 0, 1, 3, limit,
                                          2 * limit + 3)))
    if name == 'readuntil':
        return ('readuntil', draw.pick(SEPARATORS))
    if name == 'reply':
        return ('reply', draw.pick((10, 1000, 100000)))
    return (name,)


def gen_program(draw):
    mode = draw.pick(MODES)
    limit = draw.pick(LIMITS)
    connected = mode != 'direct'
    steps = []
    at_eof = False
    for _ in range(draw.int(3, 30)):
        if draw.chance(0.04):
            # The end of the data: set_exception() or EOF, then reads.
            if draw.chance(0.3):
                steps.append(('set_exception',))
            elif not at_eof:
                steps.append(('eof',))
                at_eof = True
        steps.append(gen_step(draw, limit, connected, at_eof))
    return {'mode': mode, 'limit': limit,
            'transport': draw.pick(TRANSPORTS) if not connected else None,
            'steps': tuple(steps)}


def numbered_program(number):
    return gen_program(transport_tests.Draw(random.Random(number)))


def program(steps, mode='direct', limit=5, transport='fake'):
    """A scripted program."""
    return {'mode': mode, 'limit': limit, 'transport': transport,
            'steps': tuple(steps)}


def format_program(prog):
    lines = [f'  {key}: {prog[key]!r}' for key in prog if key != 'steps']
    lines.extend(f'  {step!r}' for step in prog['steps'])
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Running a program

class FakeTransport:
    """What a StreamReader calls on its transport, noted."""

    def __init__(self, run, can_pause):
        self.run = run
        self.can_pause = can_pause

    def pause_reading(self):
        self.run.note('transport', 'pause_reading')
        if not self.can_pause:
            raise NotImplementedError

    def resume_reading(self):
        self.run.note('transport', 'resume_reading')

    def __repr__(self):
        return '<FakeTransport>'


class WrongClasses(AssertionError):
    pass


class Run:
    """One program on one Impl, under a fresh loop."""

    def __init__(self, impl, prog):
        self.impl = impl
        self.program = prog
        self.trace = []
        self.loop = None
        self.reader = None
        self.writer = None
        self.other_reader = None
        self.other_writer = None
        self.server = None
        self.pending = []
        self.count = 0
        self.set_exc = None

    def note(self, *event):
        self.trace.append(event)

    def execute(self):
        with contextlib.ExitStack() as stack:
            stack.enter_context(stream_classes(self.impl))
            stack.enter_context(transport_tests.asyncio_log_to(
                transport_tests.TraceHandler(self)))
            self.loop = asyncio.new_event_loop()
            stack.callback(self.tear_down)
            self.loop.set_exception_handler(self.on_error)
            self.connect()
            for step in self.program['steps']:
                getattr(self, 'do_' + step[0])(*step[1:])
                self.settle()
                self.note_state()
            self.finish()
        return self.trace

    def on_error(self, loop, context):
        self.note('error', context.get('message'),
                  describe(context.get('exception')))

    def settle(self):
        """Run the loop until nothing is ready."""
        if not transport_tests.settle(self.loop):
            self.note('unsettled')

    def connect(self):
        mode = self.program['mode']
        limit = self.program['limit']
        loop = self.loop
        if mode == 'direct':
            self.reader = self.impl.reader(limit=limit, loop=loop)
            kind = self.program['transport']
            if kind is not None:
                self.reader.set_transport(
                    FakeTransport(self, can_pause=kind == 'fake'))
            return
        if mode == 'pair':
            here, there = socket.socketpair()
            self.reader, self.writer = loop.run_until_complete(
                streams.open_connection(sock=here, limit=limit))
            # The other end only writes and, at the end, reads everything:
            # a small limit would make that byte by byte.
            self.other_reader, self.other_writer = loop.run_until_complete(
                streams.open_connection(sock=there))
        else:
            accepted = []

            def client_connected(reader, writer):
                accepted.append((reader, writer))

            self.server = loop.run_until_complete(streams.start_server(
                client_connected, '127.0.0.1', 0, limit=limit))
            port = self.server.sockets[0].getsockname()[1]
            self.other_reader, self.other_writer = loop.run_until_complete(
                streams.open_connection('127.0.0.1', port))
            self.settle()
            ((self.reader, self.writer),) = accepted
        self.check_classes()

    def check_classes(self):
        """The connection must be made of the classes under test: if it
        were not, the comparison would be of one set of classes with
        itself."""
        transport = self.writer.transport
        made = {'StreamReader': type(self.reader),
                'StreamWriter': type(self.writer),
                'StreamReaderProtocol': type(transport.get_protocol()),
                'transport': type(transport)}
        wanted = dict(self.impl.classes, transport=self.impl.transport)
        if made != wanted:
            raise WrongClasses(f'{self.impl.name}: made of {made}, not of '
                               f'{wanted}: see stream_classes()')

    def note_state(self):
        reader = self.reader
        state = [reader.at_eof(), describe(reader.exception())]
        if self.program['mode'] == 'direct':
            state.append(ADDRESS.sub('', repr(reader)))
        else:
            state.append(self.writer.transport.is_reading())
        self.note('state', *state)

    # -- reads --------------------------------------------------------------

    def start(self, label, make_coro):
        """Run a read as a task, noting what it returns or raises when it
        finishes."""
        self.count += 1
        label = f'{label} #{self.count}'

        async def read():
            try:
                result = await make_coro()
            except asyncio.CancelledError:
                self.note('done', label, 'cancelled')
                raise
            except Exception as exc:
                self.note('done', label, 'raised', describe(exc),
                          exc is self.set_exc)
            else:
                self.note('done', label, 'returned', result)

        task = self.loop.create_task(read())
        self.pending.append(task)
        task.add_done_callback(self.pending.remove)

    def do_read(self, n):
        self.start(f'read({n})', lambda: self.reader.read(n))

    def do_readexactly(self, n):
        self.start(f'readexactly({n})', lambda: self.reader.readexactly(n))

    def do_readline(self):
        self.start('readline()', self.reader.readline)

    def do_readuntil(self, separator):
        self.start(f'readuntil({separator!r})',
                   lambda: self.reader.readuntil(separator))

    def do_anext(self):
        self.start('anext', lambda: self.reader.__anext__())

    def do_cancel(self):
        if self.pending:
            self.pending[-1].cancel()

    def do_spin(self):
        transport_tests.spin(self.loop)

    def do_at_eof(self):
        self.note('at_eof', self.reader.at_eof())

    # -- data ---------------------------------------------------------------

    def do_feed(self, chunk, kind):
        data = {'bytes': bytes, 'bytearray': bytearray,
                'memoryview': memoryview}[kind](chunk)
        if self.program['mode'] == 'direct':
            self.reader.feed_data(data)
        else:
            self.other_writer.write(data)

    def do_eof(self):
        if self.program['mode'] == 'direct':
            self.reader.feed_eof()
        else:
            self.other_writer.write_eof()

    def do_set_exception(self):
        self.set_exc = ValueError('stream failed')
        self.reader.set_exception(self.set_exc)

    def do_reset(self):
        """The other end goes away with a reset (on TCP; a socketpair's
        peer just closes)."""
        transport = self.other_writer.transport
        if transport.is_closing():
            self.note('reset', 'already closing')
            return
        transport.get_extra_info('socket').setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        transport.abort()

    def do_reply(self, size):
        """The reader's side writes *size* bytes and awaits drain()."""
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        self.count += 1
        label = f'reply({size}) #{self.count}'

        async def reply():
            try:
                self.writer.write(data)
                await self.writer.drain()
            except Exception as exc:
                self.note('drained', label, describe(exc))
            else:
                self.note('drained', label, None)

        self.loop.create_task(reply())

    # -- the end -----------------------------------------------------------

    def finish(self):
        """Cancel reads still waiting; over a connection, close this end
        and note what the other end received."""
        for task in list(self.pending):
            task.cancel()
        self.settle()
        if self.program['mode'] == 'direct':
            return
        self.writer.close()
        self.settle()

        async def rest():
            try:
                return len(await self.other_reader.read())
            except Exception as exc:
                return describe(exc)
        # A generous bound, only so that a broken class fails instead of
        # hanging the test run.
        self.note('other end read', self.loop.run_until_complete(
            asyncio.wait_for(rest(), 60)))
        self.other_writer.close()
        self.settle()

    def tear_down(self):
        try:
            for writer in (self.writer, self.other_writer):
                if writer is not None:
                    # 3.11's abort() may raise AttributeError after a
                    # close() that flushed its buffer (see PY_BUGS in
                    # test_c_transport); nothing is left to abort then.
                    with contextlib.suppress(AttributeError):
                        writer.transport.abort()
            if self.server is not None:
                self.server.close()
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.settle()
        finally:
            self.loop.close()


def run_program(impl, prog):
    return Run(impl, prog).execute()


# ---------------------------------------------------------------------------
# Driving the comparison

def disagreement(prog, reference, candidate):
    expected = run_program(reference, prog)
    actual = run_program(candidate, prog)
    index = transport_tests.first_difference(expected, actual)
    if index is None:
        return None
    before = expected[max(0, index - 4):index]
    return (
        f'{candidate.name} disagrees with {reference.name} at trace event '
        f'{index}\nprogram:\n{format_program(prog)}\nevents before:\n'
        + ''.join(f'  {e!r}\n' for e in before)
        + f'{reference.name}: {expected[index:index + 1]!r}\n'
        + f'{candidate.name}: {actual[index:index + 1]!r}')


def smaller_programs(prog):
    steps = prog['steps']
    for i in range(len(steps)):
        yield dict(prog, steps=steps[:i] + steps[i + 1:])
    for i, step in enumerate(steps):
        if step[0] == 'feed' and len(step[1]) > 1:
            for shorter in (step[1][1:], step[1][:-1]):
                smaller = ('feed', shorter) + step[2:]
                yield dict(prog, steps=steps[:i] + (smaller,) + steps[i + 1:])
    # A connection without its own steps is not needed.
    if prog['mode'] != 'direct' and not any(
            step[0] in CONNECTION_STEPS for step in steps):
        yield dict(prog, mode='direct', transport=None)
    if prog['mode'] == 'tcp':
        yield dict(prog, mode='pair')


def shrink(prog, reference, candidate, seconds):
    return cfork_helpers.shrink(
        prog, smaller_programs,
        lambda smaller: disagreement(smaller, reference, candidate), seconds)


def check_seeded(reference, candidate, examples, seed=SEED,
                 shrink_seconds=SHRINK_SECONDS):
    cfork_helpers.check_numbered_programs(
        numbered_program,
        lambda prog: disagreement(prog, reference, candidate),
        smaller_programs, examples, seed, shrink_seconds)


# ---------------------------------------------------------------------------
# Deliberately wrong readers

PY_READER = PY.reader


class ByteDroppingReader(PY_READER):
    """Loses the last byte of every chunk of more than one byte."""

    def feed_data(self, data):
        super().feed_data(data[:-1] if len(data) > 1 else data)


class NoResumeReader(PY_READER):
    """Never resumes its transport once it has paused it."""

    def _maybe_resume_transport(self):
        pass


class WrongPartialReader(PY_READER):
    """Drops a byte of IncompleteReadError.partial."""

    async def readexactly(self, n):
        try:
            return await super().readexactly(n)
        except asyncio.IncompleteReadError as exc:
            raise asyncio.IncompleteReadError(exc.partial[1:], exc.expected)


class WrongConsumedReader(PY_READER):
    """Reports one byte too many in LimitOverrunError.consumed."""

    async def readuntil(self, separator=b'\n'):
        try:
            return await super().readuntil(separator)
        except asyncio.LimitOverrunError as exc:
            raise asyncio.LimitOverrunError(exc.args[0], exc.consumed + 1)


class EagerEofReader(PY_READER):
    """at_eof() as soon as EOF is fed, data or not."""

    def at_eof(self):
        return self._eof


def wrong(cls):
    return Impl(cls.__name__, dict(PY.classes, StreamReader=cls),
                PY.transport)


@requires_c
class CAgreesWithPythonTests(unittest.TestCase):

    def test_random_programs(self):
        check_seeded(PY, candidate(self), EXAMPLES)

    @unittest.skipIf(C_IS_FALLBACK, 'no C streams yet')
    def test_open_connection_uses_c_classes(self):
        async def main():
            here, there = socket.socketpair()
            try:
                reader, writer = await asyncio.open_connection(sock=here)
                self.assertIs(type(reader), C.reader)
                self.assertIs(type(writer), C.classes['StreamWriter'])
                self.assertIs(type(writer._protocol),
                              C.classes['StreamReaderProtocol'])
                writer.close()
                await writer.wait_closed()
            finally:
                there.close()
        asyncio.run(main())


class HarnessTests(unittest.TestCase):

    def assert_caught(self, cls):
        with self.assertRaises(AssertionError) as cm:
            check_seeded(PY, wrong(cls), HARNESS_EXAMPLES, shrink_seconds=0)
        self.assertIn('disagrees with py', str(cm.exception))

    def test_python_agrees_with_itself(self):
        check_seeded(PY, Impl('py-again', PY.classes, PY.transport),
                     examples=60)

    def test_catches_a_dropped_byte(self):
        self.assert_caught(ByteDroppingReader)

    def test_catches_a_missing_resume(self):
        self.assert_caught(NoResumeReader)

    def test_catches_a_wrong_partial(self):
        self.assert_caught(WrongPartialReader)

    def test_catches_a_wrong_consumed(self):
        self.assert_caught(WrongConsumedReader)

    def test_catches_an_eager_eof(self):
        self.assert_caught(EagerEofReader)

    def test_shrinks_a_failing_program(self):
        bad = wrong(ByteDroppingReader)
        number = next(n for n in range(SEED, SEED + HARNESS_EXAMPLES)
                      if disagreement(numbered_program(n), PY, bad))
        shrunk = shrink(numbered_program(number), PY, bad, seconds=60)
        self.assertIsNotNone(disagreement(shrunk, PY, bad))
        # a chunk fed, then read
        self.assertLessEqual(len(shrunk['steps']), 2, format_program(shrunk))

    def test_notices_the_wrong_class(self):
        sub = wrong(type('Sub', (PY_READER,), {}))
        prog = program([('feed', b'a\n', 'bytes'), ('readline',)],
                       mode='pair')
        with mock.patch(f'{__name__}.stream_classes',
                        lambda impl: contextlib.nullcontext()):
            with self.assertRaises(WrongClasses):
                run_program(sub, prog)

    def test_programs_cover_the_steps(self):
        programs = [numbered_program(n)
                    for n in range(SEED, SEED + HARNESS_EXAMPLES)]
        self.assertEqual({p['mode'] for p in programs}, set(MODES))
        steps = {s[0] for p in programs for s in p['steps']}
        self.assertEqual(steps, set(STEPS + CONNECTION_STEPS)
                         | {'eof', 'set_exception'})


# ---------------------------------------------------------------------------
# Scripted cases, compared and checked against 3.11's documented behaviour

def done_events(trace):
    return [event[2:] for event in trace if event[0] == 'done']


@requires_c
class StreamReaderTests(unittest.TestCase):

    def compare(self, prog):
        expected = run_program(PY, prog)
        actual = run_program(candidate(self), prog)
        if transport_tests.first_difference(expected, actual) is not None:
            self.assertEqual(actual, expected)
        return expected

    def test_incomplete_read(self):
        for mode in ('direct', 'pair', 'tcp'):
            with self.subTest(mode=mode):
                trace = self.compare(program(
                    [('feed', b'abc', 'bytes'), ('readexactly', 5),
                     ('eof',)], mode=mode))
                self.assertEqual(done_events(trace), [(
                    'raised', ('IncompleteReadError',
                               '3 bytes read on a total of 5 expected bytes',
                               b'abc', 5, None), False)])

    def test_readuntil_at_eof_without_separator(self):
        trace = self.compare(program(
            [('feed', b'xy', 'bytes'), ('eof',), ('readuntil', b'ab'),
             ('at_eof',)]))
        self.assertEqual(done_events(trace), [(
            'raised', ('IncompleteReadError',
                       '2 bytes read on a total of undefined expected bytes',
                       b'xy', None, None), False)])

    def test_limit_overrun(self):
        trace = self.compare(program(
            [('feed', b'aaaaaaa', 'bytes'), ('readuntil', b'\n'),
             ('feed', b'a\nb\n', 'bytes'), ('readuntil', b'\n'),
             ('readline',), ('readline',)], limit=3))
        self.assertEqual(done_events(trace), [
            ('raised', ('LimitOverrunError',
                        'Separator is not found, and chunk exceed the limit',
                        None, None, 7), False),
            ('raised', ('LimitOverrunError',
                        'Separator is found, but chunk is longer than limit',
                        None, None, 8), False),
            ('raised', ('ValueError',
                        'Separator is found, but chunk is longer than limit',
                        None, None, None), False),
            ('returned', b'b\n')])

    def test_pause_and_resume(self):
        trace = self.compare(program(
            [('feed', b'abcdefghijk', 'bytes'), ('read', 2), ('read', 5),
             ('read', 1)], limit=5))
        self.assertEqual([e for e in trace if e[0] == 'transport'],
                         [('transport', 'pause_reading'),
                          ('transport', 'resume_reading')])

    def test_transport_that_cannot_pause(self):
        # The reader forgets such a transport and buffers everything.
        trace = self.compare(program(
            [('feed', b'abcdefghijk', 'bytes'), ('read', 11),
             ('feed', b'abcdefghijk', 'bytes')], limit=5,
            transport='no-pause'))
        self.assertEqual([e for e in trace if e[0] == 'transport'],
                         [('transport', 'pause_reading')])

    def test_concurrent_reads(self):
        trace = self.compare(program([('readline',), ('read', 3),
                                      ('feed', b'x\n', 'bytes')]))
        self.assertEqual(done_events(trace), [
            ('raised', ('RuntimeError',
                        'read() called while another coroutine is already '
                        'waiting for incoming data', None, None, None),
             False),
            ('returned', b'x\n')])

    def test_set_exception(self):
        trace = self.compare(program([('readline',), ('set_exception',),
                                      ('read', 1)]))
        self.assertEqual(done_events(trace), [
            ('raised', ('ValueError', 'stream failed', None, None, None),
             True)] * 2)

    def test_cancelled_read_leaves_the_data(self):
        trace = self.compare(program([('readexactly', 4),
                                      ('feed', b'ab', 'bytes'), ('cancel',),
                                      ('feed', b'cd', 'bytes'),
                                      ('readexactly', 4)]))
        self.assertEqual(done_events(trace), [('cancelled',),
                                              ('returned', b'abcd')])

    def test_reset_sets_the_exception(self):
        trace = self.compare(program([('readline',), ('reset',)],
                                     mode='tcp'))
        self.assertEqual(done_events(trace)[0][:2], (
            'raised', ('ConnectionResetError',
                       '[Errno 104] Connection reset by peer',
                       None, None, None)))

    def test_bad_arguments(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        readers = [PY.reader, candidate(self).reader]
        for cls in readers:
            with self.subTest(cls=cls):
                for limit in (0, -1):
                    with self.assertRaisesRegex(ValueError,
                                                '^Limit cannot be <= 0$'):
                        cls(limit=limit, loop=loop)
                with self.assertRaises(TypeError):
                    cls(limit='1', loop=loop)
                reader = cls(loop=loop)
                reader.feed_data(b'abc')
                with self.assertRaisesRegex(
                        ValueError,
                        '^readexactly size can not be less than zero$'):
                    loop.run_until_complete(reader.readexactly(-1))
                with self.assertRaisesRegex(
                        ValueError,
                        '^Separator should be at least one-byte string$'):
                    loop.run_until_complete(reader.readuntil(b''))
                with self.assertRaises(TypeError):
                    loop.run_until_complete(reader.readuntil('b'))
                with self.assertRaises(TypeError):
                    loop.run_until_complete(reader.read('1'))
                with self.assertRaises(TypeError):
                    reader.feed_data('text')
                # Nothing was consumed by the failures.
                self.assertEqual(loop.run_until_complete(reader.read(10)),
                                 b'abc')


@requires_c
class ConnectionTests(unittest.TestCase):
    """Bulk transfers through open_connection() and start_server()."""

    def transfer(self, impl, limit, size, piece):
        """Send *size* bytes in writes of *piece* with drain() to a
        server reading them with readexactly(); return what it read and
        whether its transport was ever paused."""
        data = random.Random(size).randbytes(size)
        received = []
        paused = []

        async def handle(reader, writer):
            while True:
                try:
                    received.append(await reader.readexactly(limit))
                except asyncio.IncompleteReadError as exc:
                    received.append(exc.partial)
                    break
                paused.append(not writer.transport.is_reading())
                await asyncio.sleep(0)
            writer.write(b'done')
            await writer.drain()
            writer.close()

        async def main():
            server = await streams.start_server(handle, '127.0.0.1', 0,
                                                limit=limit)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await streams.open_connection(
                '127.0.0.1', port, limit=limit)
            for start in range(0, size, piece):
                writer.write(data[start:start + piece])
                await writer.drain()
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            server.close()
            await server.wait_closed()
            return reply

        with stream_classes(impl):
            reply = asyncio.run(main())
        self.assertEqual(reply, b'done')
        self.assertEqual(b''.join(received), data)
        return any(paused)

    def test_bulk_transfer(self):
        for impl in (PY, candidate(self)):
            with self.subTest(impl=impl):
                paused = self.transfer(impl, 4096, 1 << 20, 65536)
                # The reader fell behind and paused its transport.
                self.assertTrue(paused)

    def test_small_pieces(self):
        for impl in (PY, candidate(self)):
            with self.subTest(impl=impl):
                self.transfer(impl, 100, 50000, 7)


# The methods that are `async def` functions of the pure classes.
COROUTINE_METHODS = [
    ('StreamReader', 'read'), ('StreamReader', 'readexactly'),
    ('StreamReader', 'readuntil'), ('StreamReader', 'readline'),
    ('StreamReader', '_wait_for_data'), ('StreamWriter', 'drain')]

# What code that inspects a function reads of it.
FUNCTION_ATTRIBUTES = ('__name__', '__qualname__', '__module__', '__doc__',
                       '__code__', '__defaults__', '__kwdefaults__',
                       '__annotations__')


class CoroutineMethodTests(unittest.TestCase):
    """The C classes' coroutine methods are what the pure classes' `async
    def` functions are to code that inspects them: asyncio and inspect,
    unittest.mock's specs (which make AsyncMocks of coroutine functions),
    pickle and copy."""

    def setUp(self):
        self.c = candidate(self)
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)

    def instances(self, impl):
        """A StreamReader and a StreamWriter of impl's classes."""
        reader = impl.reader(loop=self.loop)
        writer = impl.classes['StreamWriter'](
            mock.Mock(), mock.Mock(), None, self.loop)
        return {'StreamReader': reader, 'StreamWriter': writer}

    def test_look_like_the_pure_functions(self):
        py_objs, c_objs = self.instances(PY), self.instances(self.c)
        for cls_name, name in COROUTINE_METHODS:
            pure = getattr(PY.classes[cls_name], name)
            c = getattr(self.c.classes[cls_name], name)
            bound_pure = getattr(py_objs[cls_name], name)
            bound_c = getattr(c_objs[cls_name], name)
            with self.subTest(method=f'{cls_name}.{name}'):
                self.assertIsNot(c, pure)
                for obj in (c, bound_c):
                    self.assertTrue(asyncio.iscoroutinefunction(obj))
                    self.assertTrue(inspect.iscoroutinefunction(obj))
                self.assertEqual(inspect.signature(c),
                                 inspect.signature(pure))
                self.assertEqual(inspect.signature(bound_c),
                                 inspect.signature(bound_pure))
                for attr in FUNCTION_ATTRIBUTES:
                    self.assertEqual(getattr(c, attr), getattr(pure, attr))
                # inspect.unwrap() finds the pure function, and
                # inspect.getsource() its source
                self.assertIs(c.__wrapped__, inspect.unwrap(pure))
                self.assertIs(inspect.unwrap(bound_c), inspect.unwrap(pure))
                self.assertEqual(inspect.getsource(c),
                                 inspect.getsource(pure))
                self.assertEqual(inspect.getsource(bound_c),
                                 inspect.getsource(bound_pure))
                self.assertIs(bound_c.__func__, c)
                self.assertIs(bound_c.__self__, c_objs[cls_name])
                self.assertEqual(bound_c, getattr(c_objs[cls_name], name))
        # the other methods stay what they were
        self.assertFalse(asyncio.iscoroutinefunction(
            self.c.classes['StreamWriter'].write))
        self.assertFalse(asyncio.iscoroutinefunction(
            self.c.reader.feed_data))

    def test_mock_specs_make_async_mocks(self):
        async def main(impl):
            reader = mock.create_autospec(impl.reader, instance=True)
            reader.readexactly.return_value = b'abc'
            writer = mock.Mock(spec=impl.classes['StreamWriter'])
            self.assertIsInstance(reader.read, mock.AsyncMock)
            self.assertIsInstance(writer.drain, mock.AsyncMock)
            self.assertNotIsInstance(writer.write, mock.AsyncMock)
            self.assertNotIsInstance(reader.feed_data, mock.AsyncMock)
            await writer.drain()
            writer.drain.assert_awaited_once_with()
            return await reader.readexactly(3)

        for impl in (PY, self.c):
            with self.subTest(impl=impl):
                self.assertEqual(self.loop.run_until_complete(main(impl)),
                                 b'abc')

    def test_calls_run_the_c_methods(self):
        cls = self.c.reader
        reader = self.instances(self.c)['StreamReader']
        reader.feed_data(b'abcdef\nxyz')
        reader.feed_eof()
        probe = reader.read(0)
        probe.close()
        op_type = type(probe)
        self.assertNotEqual(op_type.__name__, 'coroutine')

        class Sub(cls):
            async def read(self, n=-1):
                return b'<' + await super().read(n) + b'>'

        sub = Sub(loop=self.loop)
        sub.feed_data(b'12')

        async def main():
            return [await cls.read(reader, 2),
                    await cls.__dict__['readline'].__get__(reader)(),
                    await reader.readexactly(n=1),
                    await sub.read(2)]

        self.assertEqual(self.loop.run_until_complete(main()),
                         [b'ab', b'cdef\n', b'x', b'<12>'])
        probe = cls.readline(reader)
        probe.close()
        self.assertIs(type(probe), op_type)
        self.assertIs(cls.__dict__['read'].__get__(None, cls),
                      cls.__dict__['read'])

    def test_bad_calls(self):
        read = self.c.reader.read
        with self.assertRaisesRegex(TypeError, r'needs an argument'):
            read()
        with self.assertRaisesRegex(TypeError,
                                    r"doesn't apply to a 'int' object"):
            read(5)
        reader = self.instances(self.c)['StreamReader']
        with self.assertRaises(TypeError):
            reader.read(1, 2)
        with self.assertRaises(TypeError):
            reader.read(nbytes=1)

    def test_pickle_and_copy_find_the_same_method(self):
        # the classes first: pickle finds a method through its class
        for cls in self.c.classes.values():
            with self.subTest(cls=cls):
                self.assertIs(pickle.loads(pickle.dumps(cls)), cls)
        for cls_name, name in COROUTINE_METHODS:
            method = getattr(streams, cls_name).__dict__[name]
            with self.subTest(method=f'{cls_name}.{name}'):
                for proto in range(pickle.HIGHEST_PROTOCOL + 1):
                    self.assertIs(
                        pickle.loads(pickle.dumps(method, proto)), method)
                self.assertIs(copy.copy(method), method)
                self.assertIs(copy.deepcopy(method), method)


class FlowTransport:
    """A transport that notes pause_reading() and resume_reading() in a
    list."""

    def __init__(self, log):
        self.log = log

    def pause_reading(self):
        self.log.append('pause_reading')

    def resume_reading(self):
        self.log.append('resume_reading')


@requires_c
class OperationTests(unittest.TestCase):
    """The awaitables of the coroutine methods against hostile callers and
    fields: each case runs on the pure classes and on the C ones, which
    must do the same."""

    def setUp(self):
        self.impls = (PY, candidate(self))
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)

    def test_collected_while_suspended(self):
        # A read collected while it waits for data is closed, as a
        # coroutine's frame is: _wait_for_data()'s `finally` lets go of
        # the reader's waiter, and a later read can wait again.
        for impl in self.impls:
            with self.subTest(impl=impl):
                reader = impl.reader(loop=self.loop)
                read = reader.readexactly(3)
                waiter = read.send(None)
                self.assertIs(reader._waiter, waiter)
                with warnings.catch_warnings():
                    warnings.simplefilter('error')
                    del read
                    gc.collect()
                self.assertIsNone(reader._waiter)
                self.assertFalse(waiter.done())

                async def later():
                    task = asyncio.ensure_future(reader.readexactly(3))
                    await asyncio.sleep(0)
                    reader.feed_data(b'abc')
                    return await task
                self.assertEqual(self.loop.run_until_complete(later()),
                                 b'abc')

    def test_close_throw_or_send_while_running(self):
        # _wait_for_data() reaches back to the read awaiting it: like a
        # running coroutine, the read refuses, and goes on undisturbed.
        async def await_it(outer):
            await outer

        async def call_it(method, *args):
            method(*args)

        calls = {
            'close': lambda outer: call_it(outer.close),
            'throw': lambda outer: call_it(outer.throw, ValueError('x')),
            'send': lambda outer: call_it(outer.send, None),
            'await': await_it,
        }
        for impl in self.impls:
            for how, call in calls.items():
                with self.subTest(impl=impl, how=how):
                    inner = []

                    class Reader(impl.reader):
                        async def _wait_for_data(self, name):
                            try:
                                await call(outer)
                            except ValueError as exc:
                                inner.append(str(exc))
                            await asyncio.sleep(0)
                            return await super()._wait_for_data(name)

                    reader = Reader(loop=self.loop)
                    outer = reader.readexactly(5)
                    self.loop.call_later(0.01, reader.feed_data, b'12345')
                    self.assertEqual(self.loop.run_until_complete(outer),
                                     b'12345')
                    self.assertEqual(inner, ['coroutine already executing'])

    def test_at_eof_with_eof_deleted_by_its_truth(self):
        # bool(_eof) deletes the field: at_eof() returns the value it had.
        for impl in self.impls:
            with self.subTest(impl=impl):
                reader = impl.reader(loop=self.loop)

                class Eof:
                    def __bool__(self):
                        del reader._eof
                        return False

                eof = reader._eof = Eof()
                self.assertIs(reader.at_eof(), eof)
                self.assertFalse(hasattr(reader, '_eof'))

    def test_readuntil_with_buffer_deleted_by_its_len(self):
        # len(_buffer) deletes the field: readuntil() reads it again to
        # search it, and fails.
        for impl in self.impls:
            with self.subTest(impl=impl):
                reader = impl.reader(loop=self.loop)

                class Buffer(bytearray):
                    def __len__(self):
                        del reader._buffer
                        return 3

                reader._buffer = Buffer(b'abc')
                with self.assertRaisesRegex(
                        AttributeError, "object has no attribute '_buffer'"):
                    self.loop.run_until_complete(reader.readuntil(b'\n'))

    def never_awaited(self, impl, make):
        """The messages of the RuntimeWarnings collecting what make()
        returns gives."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            ops = make()
            del ops
            support.gc_collect()
        self.assertTrue(all(w.category is RuntimeWarning for w in caught))
        return [str(w.message) for w in caught]

    def test_never_awaited_warns(self):
        def make(impl):
            reader = impl.reader(loop=self.loop)
            writer = impl.classes['StreamWriter'](None, None, None,
                                                  self.loop)
            return [reader.read(3), writer.drain(), reader.readline()]

        for impl in self.impls:
            with self.subTest(impl=impl):
                messages = self.never_awaited(impl, lambda: make(impl))
                self.assertEqual(sorted(messages), [
                    "coroutine 'StreamReader.read' was never awaited",
                    "coroutine 'StreamReader.readline' was never awaited",
                    "coroutine 'StreamWriter.drain' was never awaited"])

    def test_never_awaited_names_its_origin(self):
        # With origin tracking on (asyncio's debug mode), the warning says
        # where the operation was made, as a coroutine's does.
        messages = {}
        for impl in self.impls:
            def make():
                return impl.reader(loop=self.loop).read(3)

            depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(2)
            try:
                op = make()
                op.close()
                self.assertEqual(len(op.cr_origin), 2)
                self.assertEqual(op.cr_origin[0][2], 'make')
                messages[impl] = self.never_awaited(impl, make)
            finally:
                sys.set_coroutine_origin_tracking_depth(depth)
            op = make()
            op.close()
            self.assertIsNone(op.cr_origin)
        py, c = messages.values()
        self.assertEqual(c, py)
        self.assertEqual(len(c), 1)
        self.assertIn('Coroutine created at (most recent call last)', c[0])
        self.assertIn('in make\n', c[0])

    def test_started_or_closed_operations_do_not_warn(self):
        for impl in self.impls:
            def make():
                reader = impl.reader(loop=self.loop)
                reader.feed_data(b'abc\n')
                closed = reader.read(1)
                closed.close()
                thrown = reader.read(1)
                with self.assertRaises(ZeroDivisionError):
                    thrown.throw(ZeroDivisionError)
                pending = reader.readexactly(10)
                pending.send(None)
                ops = [closed, thrown, pending,
                       self.loop.run_until_complete(reader.readline())]
                pending.close()
                return ops

            with self.subTest(impl=impl):
                self.assertEqual(self.never_awaited(impl, make), [])

    def test_awaited_by_two_tasks(self):
        # The second await fails as it does on a coroutine, and leaves the
        # first one waiting for the data.
        for impl in self.impls:
            with self.subTest(impl=impl):
                async def waiter(aw):
                    return await aw

                async def main():
                    reader = impl.reader()
                    aw = reader.readexactly(3)
                    first = asyncio.create_task(waiter(aw))
                    await asyncio.sleep(0)
                    second = asyncio.create_task(waiter(aw))
                    await asyncio.sleep(0)
                    reader.feed_data(b'abcdef')
                    done, pending = await asyncio.wait({first, second},
                                                       timeout=5)
                    for task in pending:
                        task.cancel()
                    self.assertFalse(pending)
                    with self.assertRaisesRegex(
                            RuntimeError,
                            '^coroutine is being awaited already$'):
                        second.result()
                    self.assertEqual(bytes(reader._buffer), b'def')
                    return first.result()

                self.assertEqual(self.loop.run_until_complete(main()),
                                 b'abc')

    def test_limit_of_any_number(self):
        # The limit is compared as the pure class compares it: any number
        # will do, and twice a huge negative one is no overflow.
        def run(impl, limit):
            log = []
            reader = impl.reader(loop=self.loop)
            reader.set_transport(FlowTransport(log))
            reader._limit = limit
            for step in ('feed', 'read', 'feed', 'readuntil', 'readline',
                         'readexactly'):
                try:
                    if step == 'feed':
                        reader.feed_data(b'abc\ndef')
                        log.append(('fed', len(reader._buffer)))
                        continue
                    coro = {'read': lambda: reader.read(2),
                            'readuntil': lambda: reader.readuntil(b'\n'),
                            'readline': reader.readline,
                            'readexactly': lambda: reader.readexactly(3),
                            }[step]()
                    log.append((step, self.loop.run_until_complete(coro)))
                except Exception as exc:
                    log.append((step, 'raised', describe(exc)))
            return log

        for limit in (1.5, -(2 ** 62) - 5, -(2 ** 70), 2 ** 70, True,
                      fractions.Fraction(7, 2)):
            with self.subTest(limit=limit):
                expected = run(PY, limit)
                self.assertEqual(run(candidate(self), limit), expected)
                self.assertNotIn('TypeError', str(expected))


@requires_c
class ProtocolFieldTests(unittest.TestCase):
    """drain() and feeding the reader read the protocol's _paused,
    _connection_lost and _stream_reader_wr and ask the transport's
    is_closing() wherever the pure code would find them: the C protocol
    class keeps those fields in the object, and the C transport answers
    is_closing() and write() without a call while they are the class's
    own.  A read that takes the whole buffer empties it without del."""

    def run_case(self, impl, case):
        """Connect over a socketpair, let case(protocol) change the
        protocol (its class included), then write, drain, and read what
        the peer sends: what happened, in order."""
        log = []

        def on_error(loop, context):
            log.append(('error', context['message'],
                        describe(context.get('exception'))))

        async def main():
            asyncio.get_running_loop().set_exception_handler(on_error)
            local, peer = socket.socketpair()
            peer.setblocking(False)
            with peer:
                reader, writer = await streams.open_connection(sock=local)
                protocol = writer._protocol
                self.writer = writer
                case(protocol, log)
                try:
                    writer.write(b'ping')
                    await writer.drain()
                    log.append('drained')
                except Exception as exc:
                    log.append(('write or drain raised', describe(exc)))
                peer.send(b'pong')
                try:
                    # (a reader that is never fed waits for nothing)
                    log.append(('read', await asyncio.wait_for(
                        reader.read(4), 1)))
                except Exception as exc:
                    log.append(('read raised', describe(exc)))
                writer.transport.abort()
                await asyncio.sleep(0)

        with stream_classes(impl):
            asyncio.run(main())
        return log

    def compare(self, case):
        expected = self.run_case(PY, case)
        # A C class's name has its module in the messages Python code
        # gets from a member (the pure code's own reads of a deleted
        # field, in connection_lost()): as for any class of a C module.
        actual = self.without_module(self.run_case(candidate(self), case))
        self.assertEqual(actual, expected)
        return expected

    def without_module(self, value):
        if isinstance(value, str):
            return value.replace("'_asyncio.StreamReaderProtocol'",
                                 "'StreamReaderProtocol'")
        if isinstance(value, (list, tuple)):
            return type(value)(map(self.without_module, value))
        return value

    def subclass(self, protocol, **namespace):
        protocol.__class__ = type('Sub', (type(protocol),), namespace)

    def test_fields_as_assigned(self):
        def lost(protocol, log):
            protocol._connection_lost = 1
        log = self.compare(lost)
        self.assertEqual(log[0][0], 'write or drain raised')
        self.assertEqual(log[0][1][:2],
                         ('ConnectionResetError', 'Connection lost'))

        def reader_gone(protocol, log):
            protocol._stream_reader_wr = None
        self.assertEqual(self.compare(reader_gone)[0], 'drained')

    def test_fields_deleted(self):
        for name in ('_paused', '_connection_lost', '_stream_reader_wr'):
            with self.subTest(name=name):
                def delete(protocol, log):
                    delattr(protocol, name)
                log = self.compare(delete)
                self.assertIn('AttributeError', str(log))

    def test_subclass_properties(self):
        # The subclass hides the fields the instance keeps.
        def lost(protocol, log):
            def get(self):
                log.append('_connection_lost read')
                return True
            self.subclass(protocol, _connection_lost=property(get))
        log = self.compare(lost)
        self.assertEqual(log[0], '_connection_lost read')
        self.assertEqual(log[1][0], 'write or drain raised')

        def reader_ref(protocol, log):
            wr = protocol._stream_reader_wr

            def get(self):
                log.append('_stream_reader_wr read')
                return wr
            self.subclass(protocol, _stream_reader_wr=property(get))
        self.assertIn('_stream_reader_wr read', self.compare(reader_ref))

    def test_subclass_getattr(self):
        # __getattr__ answers for a deleted field.
        def lost(protocol, log):
            del protocol._paused

            def getattr_(self, name):
                log.append(('__getattr__', name))
                return False
            self.subclass(protocol, __getattr__=getattr_)
        log = self.compare(lost)
        self.assertEqual(log[:2], [('__getattr__', '_paused'), 'drained'])

    def test_is_closing_overridden(self):
        # A transport class whose is_closing() says True makes drain()
        # yield once first; the override is called either way.
        def closing(protocol, log):
            transport = protocol._transport
            cls = type(transport)

            def is_closing(self):
                log.append('is_closing')
                return True
            transport.__class__ = type('Sub', (cls,), {
                'is_closing': is_closing})
        log = self.compare(closing)
        self.assertEqual(log[:2], ['is_closing', 'drained'])
    def test_write_overridden(self):
        # StreamWriter.write() runs the C transport's own write() without
        # the call; a subclass's write() is called.
        def override(protocol, log):
            transport = protocol._transport
            cls = type(transport)

            def write(self, data):
                log.append(('write', bytes(data)))
                return cls.write(self, data)
            transport.__class__ = type('Sub', (cls,), {'write': write})
        log = self.compare(override)
        self.assertEqual(log[:2], [('write', b'ping'), 'drained'])

    def test_write_refused(self):
        # What the transport's write() raises, StreamWriter.write() does.
        for data in ('text', 3, None):
            with self.subTest(data=data):
                def bad(protocol, log):
                    try:
                        self.writer.write(data)
                    except Exception as exc:
                        log.append(('write raised', describe(exc)))
                log = self.compare(bad)
                self.assertEqual(log[0][1][0], 'TypeError')

        def after_eof(protocol, log):
            protocol._transport.write_eof()
            try:
                self.writer.write(b'late')
            except Exception as exc:
                log.append(('write raised', describe(exc)))
        log = self.compare(after_eof)
        self.assertEqual(log[0][1][:2], ('RuntimeError',
                                         'Cannot call write() after '
                                         'write_eof()'))

    def test_take_from_an_exported_buffer(self):
        # A read that takes all of the buffer, or part of it, while a
        # memoryview of it is alive: del refuses, the bytes stay.
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)

        def run(impl, n):
            reader = impl.reader(loop=loop)
            reader.feed_data(b'abcdef')
            view = memoryview(reader._buffer)
            try:
                result = loop.run_until_complete(reader.readexactly(n))
            except Exception as exc:
                result = describe(exc)
            view.release()
            return result, bytes(reader._buffer)

        for n in (6, 2):
            with self.subTest(n=n):
                expected = run(PY, n)
                self.assertEqual(expected[0][0], 'BufferError')
                self.assertEqual(run(candidate(self), n), expected)

if __name__ == '__main__':
    unittest.main()
