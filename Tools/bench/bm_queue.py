"""asyncio.Queue producer and consumer.

One producer puts N items into a Queue(maxsize=MAXSIZE), one consumer gets
them; the bound makes the two tasks hand over control.  One operation = one
item through the queue.  Checks the consumer saw every item, in order.
"""
import benchlib
import asyncio

N = 5000
MAXSIZE = 16


async def produce(queue):
    for i in range(N):
        await queue.put(i)
    await queue.put(None)


async def consume(queue):
    expected = 0
    while (item := await queue.get()) is not None:
        benchlib.check(item == expected, f"got {item}, expected {expected}")
        expected += 1
    return expected


def make_coro(args):
    async def batch():
        queue = asyncio.Queue(MAXSIZE)
        _, received = await asyncio.gather(produce(queue), consume(queue))
        benchlib.check(received == N, f"received {received} of {N}")
        return N
    return batch


if __name__ == "__main__":
    benchlib.run_async("queue", make_coro)
