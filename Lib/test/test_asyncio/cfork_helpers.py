"""Helpers shared by the fork's tests of the C module (test_c_future,
test_c_task, test_c_differential, test_c_gather, test_c_handle,
test_c_loop_core, test_c_eager, test_c_selector_loop, test_c_connections).
Not a test module itself."""

import asyncio
import socket
import sys
import time

from test.support import script_helper

try:
    import _asyncio
except ImportError:
    _asyncio = None

# Our build links _asyncio into the interpreter; the stock one loads it from
# lib-dynload.  On our build the C parts must exist: their absence fails.
OUR_BUILD = '_asyncio' in sys.builtin_module_names


def check_numbered_programs(numbered_program, disagreement,
                            smaller_programs, examples, seed, shrink_seconds):
    """Programs numbered from `seed` on: on the first for which
    disagreement(program) is not empty, shrink it (see shrink()) and raise
    AssertionError with the shrunk program's disagreement (or, should the
    difference not come back when run again, with the first one: a
    difference that depends on timing is still one)."""
    for number in range(seed, seed + examples):
        program = numbered_program(number)
        found = disagreement(program)
        if found:
            shrunk = shrink(program, smaller_programs, disagreement,
                            shrink_seconds)
            again = disagreement(shrunk)
            if not again:
                raise AssertionError(
                    f'program {number} (not repeated when run again): '
                    + found)
            raise AssertionError(
                f'program {number}, shrunk for up to {shrink_seconds} s: '
                + again)


def shrink(program, smaller_programs, still_fails, seconds):
    """The smallest variant of a failing random program found in `seconds`:
    take the first of smaller_programs(program) for which still_fails() is
    true, again and again, until none is or time is up."""
    deadline = time.monotonic() + seconds
    shrunk = True
    while shrunk and time.monotonic() < deadline:
        shrunk = False
        for smaller in smaller_programs(program):
            if still_fails(smaller):
                program, shrunk = smaller, True
                break
    return program


def socketpair(testcase):
    """A connected pair of non-blocking sockets, closed when testcase
    ends."""
    a, b = socket.socketpair()
    for sock in (a, b):
        testcase.addCleanup(sock.close)
        sock.setblocking(False)
    return a, b


class LoopCases:
    """A mixin for test_utils.TestCase: setUp() makes self.loop, a new
    event loop set as the current one, whose exception handler appends
    the contexts it gets to self.errors."""

    def setUp(self):
        super().setUp()
        self.loop = asyncio.new_event_loop()
        self.set_event_loop(self.loop)
        self.errors = []
        self.loop.set_exception_handler(
            lambda loop, context: self.errors.append(context))


class ChildScenarioCases:
    """Runs each scenario in a child interpreter, so that a crash fails one
    test instead of the whole run.

    `scenarios` maps a name to code run after `prelude`, once for each class
    name in `classes` (the child's sys.argv[1]), then a gc.collect()."""

    prelude = ''
    scenarios = {}
    classes = []

    def test_scenarios(self):
        for name, code in self.scenarios.items():
            for cls in self.classes:
                with self.subTest(scenario=name, cls=cls):
                    script_helper.assert_python_ok(
                        '-c', self.prelude + code + '\ngc.collect()\n', cls)
