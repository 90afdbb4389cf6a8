"""Task trees in the shape of pyperformance's async_tree family.

Usage: bm_async_tree.py VARIANT [--quick] [--min-time S]
VARIANT is [eager_]LEAF[_tg] with LEAF one of none, io, memoization,
cpu_io_mixed; "eager" alone and "eager_tg" have the none leaf.  The
workload names are pyperformance's: async_tree_none, async_tree_io_tg,
async_tree_eager, async_tree_eager_memoization_tg, ...

Every inner node gathers FAN_OUT child coroutines (gather wraps each in a
Task) down to DEPTH levels, or with _tg creates them as tasks of an
asyncio.TaskGroup and leaves its `async with`; the leaves run LEAF's work:
  none          nothing,
  io            await asyncio.sleep(IO_SLEEP),
  memoization   draw 1..100; values <= MEMO_PERCENT are cached after their
                first use, so only misses do the io sleep,
  cpu_io_mixed  with probability CPU_PROBABILITY compute factorial(FACTORIAL_N),
                otherwise the memoization leaf.
Shape as in pyperformance: DEPTH 6, FAN_OUT 6 (46656 leaves, 55986 tasks);
--quick uses DEPTH 5 (7776 leaves, 9330 tasks).  One operation = one task.
Each batch counts its leaves, io sleeps and factorials and compares them with
a replay of the same random draws (every leaf draws before it first
suspends, so the order the leaves run in does not change the counts).

eager_ sets loop.set_task_factory(asyncio.eager_task_factory) (3.12's API,
which the fork backports): a task whose coroutine finishes without
suspending is done when create_task returns.  On an interpreter without it
the eager variants report themselves unsupported (benchlib.Unsupported);
run.py measures stock, which has no eager tasks, on the lazy variant of the
same tree instead.  Every batch first checks that a task of a coroutine that
does not suspend is done right after create_task when eager, and not done
when lazy, and reports what it saw as impl["task_start"].
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

    async def node_tg(self, depth):
        if depth == 0:
            self.counts["leaves"] += 1
            await self.leaf()
            return
        async with asyncio.TaskGroup() as group:
            for _ in range(FAN_OUT):
                group.create_task(self.node_tg(depth - 1))

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


def parse_variant(variant):
    """'eager_memoization_tg' -> ('memoization', True, True)."""
    rest = str(variant)
    task_group = rest.endswith("_tg")
    if task_group:
        rest = rest[:-len("_tg")]
    eager = rest == "eager" or rest.startswith("eager_")
    if eager:
        rest = rest[len("eager_"):]
    leaf = rest or "none"
    benchlib.check(hasattr(Tree, "leaf_" + leaf), f"unknown variant {variant!r}")
    return leaf, eager, task_group


async def returns_at_once():
    pass


def make_batch(loop, args):
    leaf, eager, task_group = parse_variant(args.variant)
    if eager:
        factory = getattr(asyncio, "eager_task_factory", None)
        if factory is None:
            raise benchlib.Unsupported("asyncio.eager_task_factory is missing")
        loop.set_task_factory(factory)
    depth = QUICK_DEPTH if args.quick else DEPTH
    expected = expected_counts(leaf, FAN_OUT ** depth)
    tasks = sum(FAN_OUT ** level for level in range(1, depth + 1))
    impl = {}

    async def batch():
        probe = loop.create_task(returns_at_once())
        impl["task_start"] = "eager" if probe.done() else "lazy"
        await probe
        benchlib.check(eager == (impl["task_start"] == "eager"),
                       f"tasks start {impl['task_start']}, wanted "
                       + ("eager" if eager else "lazy"))
        tree = Tree(leaf)
        await (tree.node_tg if task_group else tree.node)(depth)
        benchlib.check(tree.counts == expected,
                       f"counts {tree.counts} != {expected}")
        return tasks
    return benchlib.Batch(lambda: loop.run_until_complete(batch()), impl=impl)


if __name__ == "__main__":
    benchlib.run("async_tree", make_batch)
