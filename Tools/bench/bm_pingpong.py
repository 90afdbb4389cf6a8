"""sleep(0) ping-pong between two tasks.

Two tasks take turns: each bumps a shared counter, checks the other task
moved it since its own last turn, and yields with asyncio.sleep(0).
One operation = one sleep(0).  Checks that the turns strictly alternated.
"""
import benchlib
import asyncio

ROUNDS = 5000


async def player(first, state):
    for i in range(ROUNDS):
        if state[0] != 2 * i + first:
            state[1] += 1
        state[0] += 1
        await asyncio.sleep(0)


def make_coro(args):
    async def batch():
        state = [0, 0]  # turns taken, turns out of order
        await asyncio.gather(player(0, state), player(1, state))
        benchlib.check(state == [2 * ROUNDS, 0], f"turns {state}")
        return 2 * ROUNDS
    return batch


if __name__ == "__main__":
    benchlib.run_async("sleep0_pingpong", make_coro)
