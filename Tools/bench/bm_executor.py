"""Many tiny run_in_executor jobs, end to end.

A batch submits N jobs with loop.run_in_executor to a ThreadPoolExecutor of
WORKERS threads, CONCURRENT at a time (gathered), each job a trivial
function.  Every result comes back through concurrent.futures.Future ->
asyncio.futures._copy_future_state (gh-134173's case).  One operation = one
job.  Checks every result.
"""
import benchlib
import asyncio
import concurrent.futures

N = 1000
CONCURRENT = 50
WORKERS = 4


def job(i):
    return i + 1


def make_coro(args):
    executor = concurrent.futures.ThreadPoolExecutor(WORKERS)

    async def batch():
        loop = asyncio.get_running_loop()
        total = 0
        for start in range(0, N, CONCURRENT):
            chunk = range(start, start + CONCURRENT)
            results = await asyncio.gather(
                *[loop.run_in_executor(executor, job, i) for i in chunk])
            benchlib.check(results == [i + 1 for i in chunk], "job results")
            total += len(results)
        benchlib.check(total == N, "job count")
        return N
    return batch


if __name__ == "__main__":
    benchlib.run_async("executor", make_coro, clock="wall")
