"""Task trees in the shape of pyperformance's async_tree family.

Usage: bm_async_tree.py VARIANT [--quick] [--min-time S]
VARIANT is one of none, io, memoization, cpu_io_mixed.

Every inner node gathers FAN_OUT child coroutines (gather wraps each in a
Task) down to DEPTH levels; the leaves run the variant's work:
  none          nothing,
  io            await asyncio.sleep(IO_SLEEP),
  memoization   draw 1..100; values <= MEMO_PERCENT are cached after their
                first use, so only misses do the io sleep,
  cpu_io_mixed  with probability CPU_PROBABILITY compute factorial(FACTORIAL_N),
                otherwise the memoization leaf.
Shape as in pyperformance: DEPTH 6, FAN_OUT 6 (46656 leaves, 55986 tasks);
--quick uses DEPTH 5 (7776 leaves, 9330 tasks).  One operation = one task.
Each batch counts its leaves, io sleeps and factorials and compares them with
a replay of the same random draws.
"""
import benchlib
import asyncio
import math
import random

FAN_OUT = 6
DEPTH, QUICK_DEPTH = 6, 5
IO_SLEEP = 0.05
MEMO_PERCENT = 90
CPU_PROBABILITY = 0.5
FACTORIAL_N = 500
SEED = 1234
FACTORIAL = math.factorial(FACTORIAL_N)


class Tree:
    def __init__(self, variant):
        self.leaf = getattr(self, "leaf_" + variant)
        self.rng = random.Random(SEED)
        self.cache = {}
        self.counts = {"leaves": 0, "io": 0, "cpu": 0}

    async def node(self, depth):
        if depth == 0:
            self.counts["leaves"] += 1
            await self.leaf()
            return
        await asyncio.gather(*[self.node(depth - 1) for _ in range(FAN_OUT)])

    async def io(self):
        self.counts["io"] += 1
        await asyncio.sleep(IO_SLEEP)

    async def leaf_none(self):
        pass

    async def leaf_io(self):
        await self.io()

    async def leaf_memoization(self):
        value = self.rng.randint(1, 100)
        if value <= MEMO_PERCENT:
            if value in self.cache:
                return
            self.cache[value] = True
        await self.io()

    async def leaf_cpu_io_mixed(self):
        if self.rng.random() < CPU_PROBABILITY:
            self.counts["cpu"] += 1
            benchlib.check(math.factorial(FACTORIAL_N) == FACTORIAL, "factorial")
        else:
            await self.leaf_memoization()


def expected_counts(variant, leaves):
    """Replay the leaves' random draws without asyncio."""
    rng, seen, io, cpu = random.Random(SEED), set(), 0, 0
    for _ in range(leaves):
        if variant == "none":
            continue
        if variant == "cpu_io_mixed" and rng.random() < CPU_PROBABILITY:
            cpu += 1
            continue
        if variant != "io":
            value = rng.randint(1, 100)
            if value <= MEMO_PERCENT:
                if value in seen:
                    continue
                seen.add(value)
        io += 1
    return {"leaves": leaves, "io": io, "cpu": cpu}


def make_coro(args):
    variant = args.variant
    benchlib.check(hasattr(Tree, "leaf_" + str(variant)), "unknown variant")
    depth = QUICK_DEPTH if args.quick else DEPTH
    expected = expected_counts(variant, FAN_OUT ** depth)
    tasks = sum(FAN_OUT ** level for level in range(1, depth + 1))

    async def batch():
        tree = Tree(variant)
        await tree.node(depth)
        benchlib.check(tree.counts == expected,
                       f"counts {tree.counts} != {expected}")
        return tasks
    return batch


if __name__ == "__main__":
    benchlib.run_async("async_tree", make_coro)
