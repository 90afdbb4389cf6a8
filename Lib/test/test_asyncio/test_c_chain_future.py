"""asyncio.futures._chain_future() with the C version (_asyncio._chain_future)
and without it.

wrap_future() and loop.run_in_executor() chain a concurrent.futures.Future
into an asyncio Future.  The C version takes that case (a concurrent future
of the exact class into a Future of the C class) and declines anything else.
Each scenario runs with the C version in place and with it patched out
(futures._c_chain_future = None, the pure-Python body), and the two traces
must be equal; the cases also make absolute assertions.

On an interpreter without the fork's patches the C cases are skipped; on the
fork's ./python a missing _chain_future fails.
"""

import asyncio
import concurrent.futures
import gc
import threading
import unittest
import weakref
from asyncio import futures
from unittest import mock
from test.test_asyncio.cfork_helpers import _asyncio, OUR_BUILD


def tearDownModule():
    asyncio.set_event_loop_policy(None)


C_CHAIN = getattr(futures, '_c_chain_future', None)
RUN_C = C_CHAIN is not None or OUR_BUILD


def in_thread(func, *args):
    thread = threading.Thread(target=func, args=args)
    thread.start()
    thread.join()


def outcome(fut):
    if fut.cancelled():
        return ('cancelled',)
    exc = fut.exception()
    if exc is not None:
        return ('raised', type(exc), str(exc))
    return ('result', fut.result())


@unittest.skipUnless(RUN_C, 'no C _chain_future expected on this interpreter')
class ChainFutureTests(unittest.TestCase):

    def setUp(self):
        if C_CHAIN is None:
            self.fail('asyncio.futures has no _c_chain_future')

    def both(self, scenario, loop_class=asyncio.SelectorEventLoop):
        """scenario(loop) with the C version and with the pure body: equal
        traces; returns the C one."""
        results = []
        for c_version in (C_CHAIN, None):
            loop = loop_class()
            try:
                with mock.patch.object(futures, '_c_chain_future', c_version):
                    results.append(scenario(loop))
            finally:
                loop.close()
        self.assertEqual(results[0], results[1],
                         'C version (first) != pure body (second)')
        return results[0]

    def run_briefly(self, loop, turns=3):
        for _ in range(turns):
            loop.call_soon(loop.stop)
            loop.run_forever()

    def test_results_exceptions_and_cancellation(self):
        def scenario(loop):
            trace = []
            sources = [concurrent.futures.Future() for _ in range(5)]
            dests = [asyncio.wrap_future(s, loop=loop) for s in sources]
            in_thread(sources[0].set_result, 42)
            in_thread(sources[1].set_exception, ValueError('boom'))
            in_thread(sources[2].cancel)
            in_thread(sources[3].set_exception,
                      concurrent.futures.TimeoutError('late'))
            self.run_briefly(loop)
            trace.append([outcome(d) for d in dests[:4]])
            # the destination cancelled: the source follows at once
            dests[4].cancel()
            self.run_briefly(loop)
            trace.append((sources[4].cancelled(), outcome(dests[4])))
            return trace
        trace = self.both(scenario)
        self.assertEqual(trace, [
            [('result', 42), ('raised', ValueError, 'boom'), ('cancelled',),
             ('raised', asyncio.TimeoutError, 'late')],
            (True, ('cancelled',))])

    def test_source_done_before_the_chain(self):
        def scenario(loop):
            source = concurrent.futures.Future()
            source.set_result('early')
            dest = asyncio.wrap_future(source, loop=loop)
            self.run_briefly(loop)
            return outcome(dest)
        self.assertEqual(self.both(scenario), ('result', 'early'))

    def test_run_in_executor(self):
        def scenario(loop):
            with concurrent.futures.ThreadPoolExecutor(3) as executor:
                async def main():
                    return await asyncio.gather(*[
                        loop.run_in_executor(executor, pow, i, 2)
                        for i in range(200)])
                return loop.run_until_complete(main())
        self.assertEqual(self.both(scenario), [i * i for i in range(200)])

    def test_closed_loop(self):
        # The source finishing after its loop was closed: nothing is
        # scheduled and nothing is logged, cancelled destination or not.
        def scenario(loop):
            sources = [concurrent.futures.Future() for _ in range(2)]
            dests = [asyncio.wrap_future(s, loop=loop) for s in sources]
            dests[1].cancel()
            self.run_briefly(loop)
            loop.close()
            with self.assertNoLogs('concurrent.futures', 'ERROR'):
                in_thread(sources[0].set_result, 1)
            return [d.done() for d in dests], sources[1].cancelled()
        self.assertEqual(self.both(scenario), ([False, True], True))

    def test_calls_the_loop_and_futures_make(self):
        # call_soon_threadsafe() and is_closed() of a loop subclass, and a
        # patched futures._copy_future_state, see the same calls.
        class Recording(asyncio.SelectorEventLoop):
            def is_closed(self):
                self.calls.append('is_closed')
                return super().is_closed()

            def call_soon_threadsafe(self, callback, *args, context=None):
                self.calls.append(('call_soon_threadsafe',
                                   callback.__qualname__,
                                   [type(a).__name__ for a in args]))
                return super().call_soon_threadsafe(callback, *args,
                                                    context=context)

        def scenario(loop):
            loop.calls = []
            copies = []
            real = futures._copy_future_state

            def copy(source, dest):
                copies.append((type(source).__name__, type(dest).__name__))
                real(source, dest)
            sources = [concurrent.futures.Future() for _ in range(2)]
            dests = [asyncio.wrap_future(s, loop=loop) for s in sources]
            dests[1].cancel()
            self.run_briefly(loop)
            with mock.patch.object(futures, '_copy_future_state', copy):
                in_thread(sources[0].set_result, 'x')
                self.run_briefly(loop)
            return list(loop.calls), copies, outcome(dests[0])
        calls, copies, result = self.both(scenario, Recording)
        # the cancelled destination's source asks twice, the other once
        set_state = ('call_soon_threadsafe',
                     '_chain_future.<locals>._set_state', ['Future', 'Future'])
        self.assertEqual(calls, ['is_closed', 'is_closed', set_state,
                                 'is_closed', set_state])
        self.assertEqual(copies, [('Future', 'Future')])
        self.assertEqual(result, ('result', 'x'))

    def test_callbacks_look_like_the_closures(self):
        def scenario(loop):
            source = concurrent.futures.Future()
            dest = asyncio.wrap_future(source, loop=loop)
            out = [[cb.__qualname__ for cb in source._done_callbacks],
                   [cb.__name__ for cb, ctx in dest._callbacks],
                   'cb=[_chain_future.<locals>._call_check_cancel()'
                   in repr(dest)]
            source.cancel()
            self.run_briefly(loop)
            return out
        self.assertEqual(self.both(scenario), [
            ['_chain_future.<locals>._call_set_state'],
            ['_call_check_cancel'], True])

    def test_other_futures_declined(self):
        class CFSub(concurrent.futures.Future):
            pass

        class Sub(asyncio.Future):
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        cf = concurrent.futures.Future()
        for source, dest in [(CFSub(), loop.create_future()),
                             (cf, futures._PyFuture(loop=loop)),
                             (cf, Sub(loop=loop)),
                             (loop.create_future(), loop.create_future()),
                             (1, 2)]:
            with self.subTest(source=type(source), dest=type(dest)):
                self.assertIs(C_CHAIN(source, dest), False)
                if hasattr(dest, '_callbacks'):
                    self.assertEqual(dest._callbacks, [])
        self.assertEqual(cf._done_callbacks, [])
        self.assertIs(C_CHAIN(cf, loop.create_future()), True)
        self.assertEqual(len(cf._done_callbacks), 1)
        with self.assertRaises(TypeError):
            C_CHAIN(cf)
        with self.assertRaises(TypeError):
            C_CHAIN(cf, cf, cf)
        # the pure body still checks what it is given
        with self.assertRaisesRegex(TypeError, 'A future is required'):
            futures._chain_future(1, loop.create_future())

    def test_wrapped_through_the_pure_body_too(self):
        # a concurrent future subclass and a pure destination work as before
        class CFSub(concurrent.futures.Future):
            pass
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        source = CFSub()
        dest = futures._PyFuture(loop=loop)
        futures._chain_future(source, dest)
        in_thread(source.set_result, 'pure')
        self.run_briefly(loop)
        self.assertEqual(dest.result(), 'pure')

    def test_cycles_collected(self):
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        source = concurrent.futures.Future()
        dest = asyncio.wrap_future(source, loop=loop)
        source.keep = dest
        refs = [weakref.ref(dest)]
        del source, dest
        gc.collect()
        self.assertEqual([r() for r in refs], [None])


class WhichChainTests(unittest.TestCase):

    @unittest.skipUnless(OUR_BUILD, 'the fork only')
    def test_our_build_provides_it(self):
        self.assertIs(futures._c_chain_future, _asyncio._chain_future)


if __name__ == '__main__':
    unittest.main()
