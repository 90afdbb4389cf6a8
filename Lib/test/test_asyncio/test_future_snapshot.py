"""Tests for copying a concurrent.futures.Future into an asyncio future
through one snapshot of its state (gh-134173).

Covers concurrent.futures.Future._get_snapshot(), both implementations of
asyncio.futures._copy_concurrent_future_state() (Python, and C from
_asyncio when the module has it), _copy_future_state() dispatching to it,
and wrap_future() / run_in_executor() end to end with either one.
"""

import asyncio
import concurrent.futures
import sys
import threading
import time
import unittest
from asyncio import futures
from test import support
from unittest import mock


def tearDownModule():
    asyncio.set_event_loop_policy(None)


# The C copy, when _asyncio provides it.
_c_copy = getattr(futures, '_c_copy_concurrent_future_state', None)
_py_copy = futures._py_copy_concurrent_future_state
requires_c_copy = unittest.skipIf(
    _c_copy is None, 'requires _asyncio._copy_concurrent_future_state')
requires_c_future = unittest.skipUnless(
    hasattr(futures, '_CFuture'), 'requires the C _asyncio module')
requires_asserts = unittest.skipUnless(__debug__, 'requires assertions')
support_timeout = support.SHORT_TIMEOUT


class CountingCondition:
    """Stands in for a future's _condition and counts the `with` entries."""

    def __init__(self, condition):
        self._condition = condition
        self.entered = 0

    def __enter__(self):
        self.entered += 1
        return self._condition.__enter__()

    def __exit__(self, *exc_info):
        return self._condition.__exit__(*exc_info)

    def __getattr__(self, name):
        return getattr(self._condition, name)


def counted(fut):
    fut._condition = CountingCondition(fut._condition)
    return fut


def set_result_in_thread(fut, result):
    """Start a thread that sets fut's result, and return it once both this
    thread and that one are ready to go (so that the two race)."""
    start = threading.Barrier(2)

    def finish():
        start.wait()
        fut.set_result(result)

    thread = threading.Thread(target=finish)
    thread.start()
    start.wait()
    return thread


# Sources in every state a concurrent.futures.Future can be in.

def pending():
    return concurrent.futures.Future()


def running():
    fut = concurrent.futures.Future()
    if not fut.set_running_or_notify_cancel():
        raise RuntimeError('not running')
    return fut


def with_result(result):
    fut = concurrent.futures.Future()
    fut.set_result(result)
    return fut


def with_exception(exc):
    fut = concurrent.futures.Future()
    fut.set_exception(exc)
    return fut


def cancelled():
    fut = concurrent.futures.Future()
    if not fut.cancel():
        raise RuntimeError('not cancelled')
    return fut


def cancelled_and_notified():
    fut = cancelled()
    if fut.set_running_or_notify_cancel():
        raise RuntimeError('not cancelled')
    return fut


class Result:
    """A result that only identity can compare."""


class GetSnapshotTests(unittest.TestCase):

    def check(self, fut, expected, entered):
        fut = counted(fut)
        snapshot = fut._get_snapshot()
        self.assertIsInstance(snapshot, tuple)
        self.assertEqual(len(snapshot), 4)
        for got, want in zip(snapshot, expected):
            self.assertIs(got, want)
        self.assertEqual(fut._condition.entered, entered)
        # Reading the state changes nothing.
        self.assertIs(fut._get_snapshot()[0], expected[0])
        return snapshot

    def test_pending(self):
        # Not finished: read under exactly one acquisition of the lock.
        self.check(pending(), (False, False, None, None), entered=1)

    def test_running(self):
        self.check(running(), (False, False, None, None), entered=1)

    def test_result(self):
        result = Result()
        # Finished: no lock at all.
        self.check(with_result(result), (True, False, result, None),
                   entered=0)

    def test_result_none(self):
        self.check(with_result(None), (True, False, None, None), entered=0)

    def test_falsy_result(self):
        self.check(with_result(0), (True, False, 0, None), entered=0)

    def test_exception(self):
        exc = ValueError('boom')
        self.check(with_exception(exc), (True, False, None, exc), entered=0)

    def test_concurrent_exception_not_converted(self):
        # _get_snapshot() reports what the future holds; converting to
        # asyncio's types is the copy's business.
        exc = concurrent.futures.CancelledError('x')
        self.check(with_exception(exc), (True, False, None, exc), entered=0)

    def test_cancelled(self):
        self.check(cancelled(), (True, True, None, None), entered=1)

    def test_cancelled_and_notified(self):
        self.check(cancelled_and_notified(), (True, True, None, None),
                   entered=1)

    def test_finished_future_lock_not_taken(self):
        # A finished future is read without its lock even while another
        # thread holds that lock.
        fut = with_result(42)
        holding = threading.Event()
        release = threading.Event()
        released = []

        def hold():
            with fut._condition:
                holding.set()
                release.wait(support_timeout)
                released.append(True)

        thread = threading.Thread(target=hold)
        thread.start()
        try:
            self.assertTrue(holding.wait(support_timeout))
            self.assertEqual(fut._get_snapshot(), (True, False, 42, None))
            # Had it waited for the lock, the holder would have given up.
            self.assertEqual(released, [])
        finally:
            release.set()
            thread.join()

    def test_waits_for_lock_and_sees_final_state(self):
        # While a writer holds the lock, the snapshot of an unfinished
        # future waits for it and then reads the state the writer left.
        fut = pending()
        out = []
        result = Result()
        with fut._condition:
            thread = threading.Thread(
                target=lambda: out.append(fut._get_snapshot()))
            thread.start()
            thread.join(0.1)
            self.assertTrue(thread.is_alive(),
                            '_get_snapshot() did not wait for the lock')
            fut.set_result(result)  # The condition's lock is an RLock.
        thread.join()
        self.assertEqual(len(out), 1)
        done, was_cancelled, got, exc = out[0]
        self.assertIs(done, True)
        self.assertIs(was_cancelled, False)
        self.assertIs(got, result)
        self.assertIsNone(exc)

    def test_racing_writer_never_torn(self):
        # A result set from another thread while snapshots are taken: each
        # snapshot is either "pending" or the complete result.
        for _ in range(200):
            fut = pending()
            result = Result()
            thread = set_result_in_thread(fut, result)
            deadline = time.monotonic() + support_timeout
            while True:
                snapshot = fut._get_snapshot()
                if snapshot[0]:
                    break
                self.assertEqual(snapshot, (False, False, None, None))
                self.assertLess(time.monotonic(), deadline)
            thread.join()
            self.assertIs(snapshot[2], result)
            self.assertEqual(snapshot[1:2] + snapshot[3:], (False, None))

    def test_subclass_inherits(self):
        class SubFuture(concurrent.futures.Future):
            pass

        fut = SubFuture()
        fut.set_result(7)
        self.assertEqual(fut._get_snapshot(), (True, False, 7, None))


class BaseCopyTests:
    """Tests one implementation of _copy_concurrent_future_state() (copy)
    into one kind of asyncio future (future_class)."""

    copy = None
    future_class = None

    def setUp(self):
        super().setUp()
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self.loop.close)

    def dest(self):
        return self.future_class(loop=self.loop)

    def assert_pending(self, fut):
        self.assertFalse(fut.done())
        self.assertFalse(fut.cancelled())

    def test_result(self):
        result = Result()
        source = counted(with_result(result))
        dest = self.dest()
        self.assertIs(self.copy(source, dest), True)
        self.assertIs(dest.result(), result)
        # The finished source was copied without taking its lock.
        self.assertEqual(source._condition.entered, 0)

    def test_result_none(self):
        dest = self.dest()
        self.assertIs(self.copy(with_result(None), dest), True)
        self.assertTrue(dest.done())
        self.assertIsNone(dest.result())

    def test_exception(self):
        exc = ValueError('boom')
        source = counted(with_exception(exc))
        dest = self.dest()
        self.assertIs(self.copy(source, dest), True)
        self.assertIs(dest.exception(), exc)
        self.assertEqual(source._condition.entered, 0)

    def check_converted(self, exc, expected_type):
        dest = self.dest()
        self.assertIs(self.copy(with_exception(exc), dest), True)
        self.assertFalse(dest.cancelled())
        got = dest.exception()
        self.assertIs(type(got), expected_type)
        self.assertIsNot(got, exc)  # A new exception, as before.
        self.assertEqual(got.args, exc.args)

    def test_converts_cancelled_error(self):
        self.check_converted(concurrent.futures.CancelledError('c', 1),
                             asyncio.CancelledError)

    def test_converts_timeout_error(self):
        self.check_converted(concurrent.futures.TimeoutError('t', 2),
                             asyncio.TimeoutError)

    def test_converts_invalid_state_error(self):
        self.check_converted(concurrent.futures.InvalidStateError('i', 3),
                             asyncio.InvalidStateError)

    def test_converts_without_args(self):
        self.check_converted(concurrent.futures.CancelledError(),
                             asyncio.CancelledError)

    def test_subclasses_of_concurrent_errors_not_converted(self):
        # Only the exact types convert, as in _convert_future_exc().
        class MyCancelled(concurrent.futures.CancelledError):
            pass

        class MyTimeout(TimeoutError):
            pass

        for exc in MyCancelled('m'), MyTimeout('t'):
            dest = self.dest()
            self.assertIs(self.copy(with_exception(exc), dest), True)
            self.assertIs(dest.exception(), exc)

    def test_cancelled(self):
        for make in cancelled, cancelled_and_notified:
            with self.subTest(make.__name__):
                source = counted(make())
                dest = self.dest()
                self.assertIs(self.copy(source, dest), True)
                self.assertTrue(dest.cancelled())
                self.assertLessEqual(source._condition.entered, 1)

    def test_pending_refused(self):
        for make in pending, running:
            with self.subTest(make.__name__):
                source = counted(make())
                dest = self.dest()
                self.assertIs(self.copy(source, dest), False)
                # One acquisition of the source's lock to read its state.
                self.assertEqual(source._condition.entered, 1)
                self.assert_pending(dest)
                self.assertFalse(source.done())

    def test_dest_cancelled_stays_cancelled(self):
        for source in (with_result(1), with_exception(ValueError()),
                       with_exception(concurrent.futures.CancelledError()),
                       cancelled()):
            with self.subTest(source=source):
                dest = self.dest()
                dest.cancel()
                self.assertIs(self.copy(source, dest), True)
                self.assertTrue(dest.cancelled())

    def test_dest_cancelled_pending_source_refused(self):
        # The source is checked first, as _copy_future_state() always did.
        dest = self.dest()
        dest.cancel()
        self.assertIs(self.copy(pending(), dest), False)
        self.assertTrue(dest.cancelled())

    def test_dest_done_refused(self):
        dest = self.dest()
        dest.set_result('first')
        self.assertIs(self.copy(with_result('second'), dest), False)
        self.assertEqual(dest.result(), 'first')

    def test_source_subclass(self):
        class SubFuture(concurrent.futures.Future):
            pass

        source = SubFuture()
        source.set_exception(concurrent.futures.TimeoutError('s'))
        dest = self.dest()
        self.assertIs(self.copy(source, dest), True)
        self.assertIs(type(dest.exception()), TimeoutError)
        self.assertEqual(dest.exception().args, ('s',))

    def test_source_subclass_snapshot_override_honoured(self):
        class SubFuture(concurrent.futures.Future):
            def _get_snapshot(self):
                return (True, False, 'from override', None)

        dest = self.dest()
        self.assertIs(self.copy(SubFuture(), dest), True)
        self.assertEqual(dest.result(), 'from override')

    def test_bad_snapshot(self):
        class SubFuture(concurrent.futures.Future):
            def _get_snapshot(self):
                return (True, False)

        dest = self.dest()
        with self.assertRaises((TypeError, ValueError)):
            self.copy(SubFuture(), dest)
        self.assert_pending(dest)

    def test_result_from_another_thread_racing_the_copy(self):
        for _ in range(100):
            source = pending()
            dest = self.dest()
            result = Result()
            thread = set_result_in_thread(source, result)
            deadline = time.monotonic() + support_timeout
            while not self.copy(source, dest):
                self.assert_pending(dest)
                self.assertLess(time.monotonic(), deadline)
            thread.join()
            self.assertIs(dest.result(), result)

    def test_copy_waits_for_writer_holding_the_lock(self):
        # The copy of an unfinished source reads its state under the lock,
        # so a writer holding the lock is waited for, and its result is
        # what gets copied.
        source = pending()
        dest = self.dest()
        result = Result()
        out = []
        with source._condition:
            thread = threading.Thread(
                target=lambda: out.append(self.copy(source, dest)))
            thread.start()
            thread.join(0.1)
            self.assertTrue(thread.is_alive(),
                            'the copy did not wait for the lock')
            source.set_result(result)
        thread.join()
        self.assertEqual(out, [True])
        self.assertIs(dest.result(), result)

    # _copy_future_state(), the caller, with this implementation in place.

    def patch_impl(self):
        patcher = mock.patch.object(
            futures, '_copy_concurrent_future_state', self.copy)
        patcher.start()
        self.addCleanup(patcher.stop)

    def test_copy_future_state_uses_it(self):
        self.patch_impl()
        calls = []
        impl = self.copy

        def spy(source, dest):
            calls.append((source, dest))
            return impl(source, dest)

        with mock.patch.object(futures, '_copy_concurrent_future_state',
                               spy):
            source = with_result(5)
            dest = self.dest()
            futures._copy_future_state(source, dest)
        self.assertEqual(calls, [(source, dest)])
        self.assertEqual(dest.result(), 5)

    def test_copy_future_state_all_states(self):
        self.patch_impl()
        cases = [
            (with_result('r'), lambda d: d.result() == 'r'),
            (with_exception(KeyError('k')),
             lambda d: type(d.exception()) is KeyError),
            (with_exception(concurrent.futures.CancelledError()),
             lambda d: type(d.exception()) is asyncio.CancelledError),
            (with_exception(concurrent.futures.TimeoutError()),
             lambda d: type(d.exception()) is TimeoutError),
            (with_exception(concurrent.futures.InvalidStateError()),
             lambda d: type(d.exception()) is asyncio.InvalidStateError),
            (cancelled(), lambda d: d.cancelled()),
            (cancelled_and_notified(), lambda d: d.cancelled()),
        ]
        for source, check in cases:
            with self.subTest(source=source):
                dest = self.dest()
                futures._copy_future_state(source, dest)
                self.assertTrue(dest.done())
                self.assertTrue(check(dest))

    @requires_asserts
    def test_copy_future_state_pending_source_is_an_error(self):
        # As before the change: the assertion on source.done().
        self.patch_impl()
        for make in pending, running:
            with self.subTest(make.__name__):
                dest = self.dest()
                with self.assertRaises(AssertionError):
                    futures._copy_future_state(make(), dest)
                self.assert_pending(dest)

    @requires_asserts
    def test_copy_future_state_dest_done_is_an_error(self):
        self.patch_impl()
        dest = self.dest()
        dest.set_result(1)
        with self.assertRaises(AssertionError):
            futures._copy_future_state(with_result(2), dest)
        self.assertEqual(dest.result(), 1)

    def test_copy_future_state_dest_cancelled(self):
        self.patch_impl()
        dest = self.dest()
        dest.cancel()
        futures._copy_future_state(with_result(3), dest)
        self.assertTrue(dest.cancelled())

    def test_copy_future_state_asyncio_source_unchanged(self):
        # An asyncio future as the source takes the existing path.
        self.patch_impl()
        source = self.dest()
        source.set_result(9)
        dest = self.dest()
        futures._copy_future_state(source, dest)
        self.assertEqual(dest.result(), 9)

    # End to end through the event loop.

    def run_loop(self, coro):
        return self.loop.run_until_complete(coro)

    def test_wrap_future(self):
        self.patch_impl()
        cases = [
            (lambda f: f.set_result('ok'), lambda d: d.result() == 'ok'),
            (lambda f: f.set_exception(ZeroDivisionError()),
             lambda d: type(d.exception()) is ZeroDivisionError),
            (lambda f: f.set_exception(concurrent.futures.CancelledError()),
             lambda d: type(d.exception()) is asyncio.CancelledError),
            (lambda f: f.set_exception(concurrent.futures.TimeoutError()),
             lambda d: type(d.exception()) is TimeoutError),
            (lambda f: f.set_exception(
                concurrent.futures.InvalidStateError()),
             lambda d: type(d.exception()) is asyncio.InvalidStateError),
            (lambda f: f.cancel(), lambda d: d.cancelled()),
        ]
        for finish, check in cases:
            with self.subTest(finish=finish):
                source = concurrent.futures.Future()
                dest = asyncio.wrap_future(source, loop=self.loop)
                thread = threading.Thread(target=finish, args=(source,))
                thread.start()

                async def wait():
                    await asyncio.wait([dest])

                self.run_loop(asyncio.wait_for(wait(), support_timeout))
                thread.join()
                self.assertTrue(check(dest))

    def test_wrap_future_cancel_propagates(self):
        self.patch_impl()
        source = concurrent.futures.Future()
        dest = asyncio.wrap_future(source, loop=self.loop)
        dest.cancel()
        self.run_loop(asyncio.sleep(0))
        self.assertTrue(source.cancelled())
        self.assertTrue(dest.cancelled())

    def test_run_in_executor_many_jobs(self):
        self.patch_impl()
        calls = []
        impl = self.copy

        def spy(source, dest):
            calls.append(1)
            return impl(source, dest)

        async def main():
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                return await asyncio.gather(*[
                    self.loop.run_in_executor(pool, pow, i, 2)
                    for i in range(500)])

        with mock.patch.object(futures, '_copy_concurrent_future_state',
                               spy):
            results = self.run_loop(asyncio.wait_for(main(),
                                                     support_timeout))
        self.assertEqual(results, [i * i for i in range(500)])
        self.assertEqual(len(calls), 500)

    def test_run_in_executor_exceptions(self):
        self.patch_impl()

        def raise_(exc):
            raise exc

        async def main():
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                with self.assertRaises(KeyError):
                    await self.loop.run_in_executor(pool, raise_, KeyError())
                # A job raising concurrent.futures' CancelledError comes
                # out as asyncio's.
                with self.assertRaises(asyncio.CancelledError):
                    await self.loop.run_in_executor(
                        pool, raise_, concurrent.futures.CancelledError())
                with self.assertRaises(asyncio.InvalidStateError):
                    await self.loop.run_in_executor(
                        pool, raise_, concurrent.futures.InvalidStateError())
                with self.assertRaises(TimeoutError):
                    await self.loop.run_in_executor(
                        pool, raise_, concurrent.futures.TimeoutError())
                return await self.loop.run_in_executor(pool, len, 'abc')

        self.assertEqual(self.run_loop(main()), 3)


class PyCopyPyFutureTests(BaseCopyTests, unittest.TestCase):
    copy = staticmethod(_py_copy)
    future_class = futures._PyFuture


@requires_c_future
class PyCopyCFutureTests(BaseCopyTests, unittest.TestCase):
    copy = staticmethod(_py_copy)
    future_class = getattr(futures, '_CFuture', None)


@requires_c_copy
class CCopyPyFutureTests(BaseCopyTests, unittest.TestCase):
    copy = staticmethod(_c_copy) if _c_copy else None
    future_class = futures._PyFuture


@requires_c_copy
class CCopyCFutureTests(BaseCopyTests, unittest.TestCase):
    copy = staticmethod(_c_copy) if _c_copy else None
    future_class = getattr(futures, '_CFuture', None)

    def test_no_python_calls_on_the_hot_path(self):
        # A finished concurrent future copied into a C Future: no Python
        # function runs (no done(), result(), _get_snapshot(), ...).
        for source in (with_result(1), with_exception(ValueError()),
                       with_exception(concurrent.futures.TimeoutError())):
            dest = self.dest()
            events = []

            def profile(frame, event, arg):
                if event == 'call':
                    events.append(frame.f_code.co_qualname)

            sys.setprofile(profile)
            try:
                self.copy(source, dest)
            finally:
                sys.setprofile(None)
            self.assertEqual(events, [])
            self.assertTrue(dest.done())
            dest.exception()  # Retrieved: no "never retrieved" log.

    def test_rejects_non_concurrent_source(self):
        source = self.dest()
        source.set_result(1)
        with self.assertRaises(TypeError):
            self.copy(source, self.dest())
        with self.assertRaises(TypeError):
            self.copy(object(), self.dest())


@requires_c_copy
class CCopyCSubFutureTests(BaseCopyTests, unittest.TestCase):
    # A subclass of the C Future goes through its methods.
    copy = staticmethod(_c_copy) if _c_copy else None

    if hasattr(futures, '_CFuture'):
        class future_class(futures._CFuture):
            pass


class DefaultImplementationTests(unittest.TestCase):

    def test_default(self):
        if _c_copy is not None:
            self.assertIs(futures._copy_concurrent_future_state, _c_copy)
        else:
            self.assertIs(futures._copy_concurrent_future_state, _py_copy)

    @requires_c_copy
    def test_c_copy_signature(self):
        with self.assertRaises(TypeError):
            _c_copy(with_result(1))
        with self.assertRaises(TypeError):
            _c_copy()


if __name__ == '__main__':
    unittest.main()
