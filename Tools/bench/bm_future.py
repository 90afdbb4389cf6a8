"""Future create, set_result from a call_soon callback, await.

Each operation creates a future with loop.create_future(), schedules its
set_result(i) with call_soon and awaits it.  Checks the sum of the results.
"""
import benchlib
import asyncio

N = 5000


def make_coro(args):
    async def batch():
        loop = asyncio.get_running_loop()
        total = 0
        for i in range(N):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, i)
            total += await fut
        benchlib.check(total == N * (N - 1) // 2, "sum of results")
        return N
    return batch


if __name__ == "__main__":
    benchlib.run_async("future_roundtrip", make_coro)
