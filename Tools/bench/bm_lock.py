"""asyncio.Lock contention.

TASKS tasks each take the lock ROUNDS times and yield with sleep(0) while
holding it, so the others queue up as waiters.  One operation = one
acquire/release.  Checks nobody held the lock at the same time and every
acquisition happened.
"""
import benchlib
import asyncio

TASKS = 10
ROUNDS = 200


async def worker(lock, state):
    for _ in range(ROUNDS):
        async with lock:
            if state["inside"]:
                state["overlaps"] += 1
            state["inside"] = True
            await asyncio.sleep(0)
            state["inside"] = False
            state["acquired"] += 1


def make_coro(args):
    async def batch():
        lock = asyncio.Lock()
        state = {"inside": False, "overlaps": 0, "acquired": 0}
        await asyncio.gather(*[worker(lock, state) for _ in range(TASKS)])
        benchlib.check(state["overlaps"] == 0, "two holders at once")
        benchlib.check(state["acquired"] == TASKS * ROUNDS, "acquisitions")
        return TASKS * ROUNDS
    return batch


if __name__ == "__main__":
    benchlib.run_async("lock", make_coro)
