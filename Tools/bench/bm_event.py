"""asyncio.Event contention.

TASKS waiters meet ROUNDS events in turn.  The setter sets round r's event,
which wakes all waiters; the last one to wake sets round r's "done" event,
which the setter awaits before the next round.  One operation = one waiter
woken.  Checks every waiter woke once per round and only after the set.
"""
import benchlib
import asyncio

TASKS = 10
ROUNDS = 200


async def waiter(go, done, woken):
    for r in range(ROUNDS):
        await go[r].wait()
        woken[r] += 1
        if woken[r] == TASKS:
            done[r].set()


async def setter(go, done, woken):
    for r in range(ROUNDS):
        benchlib.check(woken[r] == 0, "woke before the set")
        go[r].set()
        await done[r].wait()


def make_coro(args):
    async def batch():
        go = [asyncio.Event() for _ in range(ROUNDS)]
        done = [asyncio.Event() for _ in range(ROUNDS)]
        woken = [0] * ROUNDS
        waiters = [waiter(go, done, woken) for _ in range(TASKS)]
        await asyncio.gather(setter(go, done, woken), *waiters)
        benchlib.check(woken == [TASKS] * ROUNDS, "wake-ups per round")
        return TASKS * ROUNDS
    return batch


if __name__ == "__main__":
    benchlib.run_async("event", make_coro)
