"""create_task and await chains.

Each link creates a Task for the next link and awaits it, DEPTH links deep;
a batch runs CHAINS chains one after another.  One operation = one task.
Checks the value each chain returns.
"""
import benchlib
import asyncio

DEPTH = 100
CHAINS = 20


async def link(n):
    if n == 0:
        return 0
    return await asyncio.create_task(link(n - 1)) + 1


def make_coro(args):
    async def batch():
        for _ in range(CHAINS):
            benchlib.check(await link(DEPTH) == DEPTH, "chain result")
        return DEPTH * CHAINS
    return batch


if __name__ == "__main__":
    benchlib.run_async("task_chain", make_coro)
