"""The bare copy asyncio.futures._copy_future_state(source, dest).

As gh-134173 measured it: source is a finished concurrent.futures.Future
holding a result, dest a fresh pending asyncio Future.  The batch makes N
destination futures first and times only the N copies; then checks every
destination holds the source's result.  One operation = one copy.
The loop only owns the destinations; it never runs.
"""
import benchlib
import asyncio
import asyncio.futures
import concurrent.futures

N = 20000


def make_batch(loop, args):
    copy = asyncio.futures._copy_future_state
    source = concurrent.futures.Future()
    source.set_result(42)

    def batch():
        dests = [loop.create_future() for _ in range(N)]
        t0 = benchlib.clock_ns()
        for dest in dests:
            copy(source, dest)
        elapsed = benchlib.clock_ns() - t0
        benchlib.check(all(d.result() == 42 for d in dests), "copied result")
        return N, elapsed
    return batch


if __name__ == "__main__":
    benchlib.run("copy_future_state", make_batch)
