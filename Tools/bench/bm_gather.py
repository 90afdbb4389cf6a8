"""gather over many small coroutines.

One batch gathers N coroutines that each return without suspending (gather
still wraps each in a Task); one operation = one coroutine.  Checks the sum
of the results.
"""
import benchlib
import asyncio

N = 2000


async def small(i):
    return i * 2


def make_coro(args):
    async def batch():
        results = await asyncio.gather(*[small(i) for i in range(N)])
        benchlib.check(sum(results) == N * (N - 1), "sum of results")
        return N
    return batch


if __name__ == "__main__":
    benchlib.run_async("gather", make_coro)
