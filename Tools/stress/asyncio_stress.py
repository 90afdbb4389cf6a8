"""Stress asyncio's Future, Task and sockets; check that memory does not grow.

Usage (from the repository root):

    ./python Tools/stress/asyncio_stress.py              # the full run
    ./python Tools/stress/asyncio_stress.py --quick      # 1/20 of the work
    ./python Tools/stress/asyncio_stress.py --only storm --rounds 5
    ./python Tools/stress/asyncio_stress.py --python     # pure-Python classes

Workloads (each in --rounds rounds, each round under a fresh event loop):

  tasks    a million (--tasks) short tasks in all: created in batches, most
           return a value, some raise (retrieved), some sleep(0) first, some
           await a future that a callback resolves;
  storm    cancellation storms: batches of tasks waiting on futures, on each
           other and on sleeps, cancelled with messages, some swallowing the
           cancellation and uncancelling, some cancelled again while they
           handle it, with done callbacks added and removed throughout;
  threads  --threads threads each post callbacks with call_soon_threadsafe()
           that resolve futures the loop's tasks await, and submit
           coroutines with run_coroutine_threadsafe();
  connect  a tenth of --tasks TCP connections over loopback, 50 at a time,
           each one request and its answer through streams, after which
           the server closes (the side closing first keeps TIME_WAIT, and
           the client ports stay free);
  echo     half of --tasks round trips of 100 to 4000 bytes over one TCP
           connection with streams (readexactly, write, drain), the sizes
           cycling so that buffers grow and shrink.

Each workload runs two rounds first to warm caches, free lists, tables and
allocator arenas up, then the measured rounds.  Before and after those,
after a full collection, the script takes the process's resident set size
(/proc/self/statm), the memory tracemalloc traces (tracing from before the
warm-up; --no-tracemalloc to skip it, which is 2-4x faster), the number of
objects the collector tracks and, on a debug build, sys.gettotalrefcount().
A workload fails when a figure grows by more than its bound:

  RSS            --rss-bound-mb      (default 16 MiB)
  tracemalloc    --traced-bound-kb   (default 512 KiB)
  gc objects     --objects-bound     (default 2000)
  total refcount --refs-bound        (default 20000, debug builds only)
  open files     --fds-bound         (default 0: /proc/self/fd)

A leak of a single small block per task (16 bytes x 1,000,000 tasks) is
about 15 MiB of traced memory; the bounds leave room for the allocator's
and the interpreter's own caches.  The exit status is 0 when every workload
stays within its bounds, 1 otherwise; the table printed says which figure
grew.  A full run takes a few minutes.

To see the script fail as it should, give it a leak:

    ./python Tools/stress/asyncio_stress.py --quick --only tasks --inject-leak 16
"""

import argparse
import asyncio
import concurrent.futures
import gc
import os
import sys
import time
import tracemalloc
from asyncio import futures, tasks


# ---------------------------------------------------------------------------
# Workloads: coroutine functions taking the number of tasks to run

LEAKED = []     # what --inject-leak keeps alive


async def short_task(i, fut, leak=0):
    if leak:
        LEAKED.append(bytes(leak))
    kind = i % 8
    if kind == 0:
        raise ValueError(i)
    if kind == 1:
        await asyncio.sleep(0)
    elif kind == 2:
        return await fut
    return i


async def run_tasks(count, batch=2000, leak=0):
    loop = asyncio.get_running_loop()
    done = 0
    while done < count:
        size = min(batch, count - done)
        futs = [loop.create_future() for _ in range(size // 8 + 1)]
        started = [loop.create_task(short_task(i, futs[i // 8], leak))
                   for i in range(size)]
        for i, fut in enumerate(futs):
            loop.call_soon(fut.set_result, i)
        for task in started:
            try:
                await task
            except ValueError:
                pass
        done += size


async def victim(i, fut, other):
    try:
        if i % 3 == 0:
            await fut
        elif i % 3 == 1 and other is not None:
            await other
        else:
            await asyncio.sleep(3600)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if i % 4 == 0:
            # swallow it, but be cancelled again while cleaning up
            task.uncancel()
            await asyncio.sleep(0)
            return 'survived'
        raise


def note_done(fut):
    pass


async def run_storm(count, batch=1000):
    loop = asyncio.get_running_loop()
    done = 0
    while done < count:
        size = min(batch, count - done)
        fut = loop.create_future()
        fut.add_done_callback(note_done)
        started = []
        for i in range(size):
            other = started[-1] if started else None
            task = loop.create_task(victim(i, fut, other))
            task.add_done_callback(note_done)
            if i % 5 == 0:
                task.remove_done_callback(note_done)
            started.append(task)
        await asyncio.sleep(0)
        for i, task in enumerate(started):
            task.cancel(msg=f'storm {i}' if i % 2 else None)
        await asyncio.sleep(0)
        for task in started[::7]:
            task.cancel()       # again, while it handles the first one
        fut.cancel('storm over')
        await asyncio.gather(*started, return_exceptions=True)
        done += size


async def echo(value):
    await asyncio.sleep(0)
    return value


def poster(loop, futs, results):
    for i, fut in enumerate(futs):
        loop.call_soon_threadsafe(fut.set_result, i)
    for i in range(len(futs) // 10):
        results.append(asyncio.run_coroutine_threadsafe(echo(i), loop))


POSTERS = {}    # thread pools kept across rounds, so that per-thread
                # allocator arenas settle instead of being made anew


async def run_threads(count, threads=4, batch=2000):
    loop = asyncio.get_running_loop()
    if threads not in POSTERS:
        POSTERS[threads] = concurrent.futures.ThreadPoolExecutor(threads)
    pool = POSTERS[threads]
    done = 0
    while done < count:
        size = min(batch, count - done)
        futs = [loop.create_future() for _ in range(size)]
        results = []
        await asyncio.gather(*[
            loop.run_in_executor(pool, poster, loop, futs[t::threads], results)
            for t in range(threads)])
        for fut in futs:
            await fut
        for result in results:
            await asyncio.wrap_future(result)
        done += size


async def answer(reader, writer):
    size = int.from_bytes(await reader.readexactly(2), 'big')
    writer.write(await reader.readexactly(size))
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def one_connection(port, i):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    payload = bytes([i % 256]) * (1 + i % 300)
    writer.write(len(payload).to_bytes(2, 'big') + payload)
    await writer.drain()
    assert await reader.readexactly(len(payload)) == payload
    assert await reader.read() == b''
    writer.close()
    await writer.wait_closed()


async def run_connect(count, batch=50):
    server = await asyncio.start_server(answer, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    done = 0
    async with server:
        while done < count:
            size = min(batch, count - done)
            await asyncio.gather(*[one_connection(port, done + j)
                                   for j in range(size)])
            done += size


async def echo_back(reader, writer):
    try:
        while True:
            size = int.from_bytes(await reader.readexactly(4), 'big')
            writer.write(await reader.readexactly(size))
            await writer.drain()
    except asyncio.IncompleteReadError:
        writer.close()


async def run_echo(count):
    server = await asyncio.start_server(echo_back, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection('127.0.0.1', port)
        for i in range(count):
            payload = bytes([i % 251]) * (100 + (i * 97) % 3900)
            writer.write(len(payload).to_bytes(4, 'big') + payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
        writer.close()
        await writer.wait_closed()


WORKLOADS = {'tasks': run_tasks, 'storm': run_storm, 'threads': run_threads,
             'connect': run_connect, 'echo': run_echo}
# The share of --tasks each workload runs in all.
SHARE = {'tasks': 1.0, 'storm': 0.25, 'threads': 0.25, 'connect': 0.1,
         'echo': 0.5}


# ---------------------------------------------------------------------------
# Measuring

def rss_bytes():
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
    except OSError:
        return 0


def open_files():
    try:
        return len(os.listdir('/proc/self/fd'))
    except OSError:
        return 0


def snapshot():
    gc.collect()
    gc.collect()
    return {
        'fds': open_files(),
        'rss': rss_bytes(),
        'traced': tracemalloc.get_traced_memory()[0]
        if tracemalloc.is_tracing() else 0,
        'objects': len(gc.get_objects()),
        'refs': getattr(sys, 'gettotalrefcount', lambda: 0)(),
    }


WARM_UP_ROUNDS = 2


def workload_options(name, args):
    if name == 'tasks':
        return {'leak': args.inject_leak}
    if name == 'threads':
        return {'threads': args.threads}
    return {}


def measure(name, total, args):
    """Run workload *name*; return the tasks run, the seconds the measured
    rounds took and how much each figure grew over them."""
    per_round = max(int(total * SHARE[name]) // args.rounds, 1)
    options = workload_options(name, args)

    def run_round():
        asyncio.run(WORKLOADS[name](per_round, **options))
    # Trace the warm-up too: a table it grows and a later round regrows
    # would otherwise count as new memory.
    if args.tracemalloc:
        tracemalloc.start()
    for _ in range(WARM_UP_ROUNDS):
        run_round()
    before = snapshot()
    start = time.perf_counter()
    for _ in range(args.rounds):
        run_round()
    elapsed = time.perf_counter() - start
    after = snapshot()
    if args.tracemalloc:
        tracemalloc.stop()
    growth = {key: after[key] - before[key] for key in before}
    return per_round * args.rounds, elapsed, growth


def over_bounds(growth, args):
    bounds = {'fds': args.fds_bound,
              'rss': args.rss_bound_mb * 2**20,
              'traced': args.traced_bound_kb * 2**10,
              'objects': args.objects_bound,
              'refs': args.refs_bound}
    return [key for key, bound in bounds.items() if growth[key] > bound]


def use_python_classes():
    """Make asyncio create the pure-Python Future and Task."""
    futures.Future = asyncio.Future = futures._PyFuture
    tasks.Task = asyncio.Task = tasks._PyTask
    asyncio.BaseEventLoop.create_future = (
        lambda self: futures._PyFuture(loop=self))

    def create_task(self, coro, *, name=None, context=None):
        return tasks._PyTask(coro, loop=self, name=name, context=context)
    asyncio.BaseEventLoop.create_task = create_task


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--tasks', type=int, default=1_000_000)
    parser.add_argument('--rounds', type=int, default=4)
    parser.add_argument('--quick', action='store_true',
                        help='run 1/20 of the tasks')
    parser.add_argument('--only', choices=sorted(WORKLOADS), action='append')
    parser.add_argument('--python', action='store_true',
                        help='stress the pure-Python classes instead')
    parser.add_argument('--threads', type=int, default=4,
                        help='threads posting to the loop (default 4)')
    parser.add_argument('--no-tracemalloc', dest='tracemalloc',
                        action='store_false')
    parser.add_argument('--inject-leak', type=int, default=0, metavar='BYTES',
                        help='keep BYTES alive per short task, to check '
                        'that the script notices a leak')
    parser.add_argument('--rss-bound-mb', type=float, default=16)
    parser.add_argument('--traced-bound-kb', type=float, default=512)
    parser.add_argument('--objects-bound', type=int, default=2000)
    parser.add_argument('--refs-bound', type=int, default=20000)
    parser.add_argument('--fds-bound', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.python:
        use_python_classes()
    total = args.tasks // 20 if args.quick else args.tasks
    print(f'{sys.executable}: Future={asyncio.Future.__module__}.'
          f'{asyncio.Future.__qualname__}, Task={asyncio.Task.__module__}.'
          f'{asyncio.Task.__qualname__}')
    print(f'{"workload":8} {"tasks":>9} {"seconds":>8} {"RSS KiB":>9} '
          f'{"traced KiB":>10} {"objects":>8} {"refs":>8} {"fds":>4}  '
          f'verdict')
    failed = False
    for name in args.only or WORKLOADS:
        count, elapsed, growth = measure(name, total, args)
        bad = over_bounds(growth, args)
        failed = failed or bool(bad)
        verdict = 'grew: ' + ', '.join(bad) if bad else 'ok'
        print(f'{name:8} {count:9} {elapsed:8.1f} {growth["rss"] // 1024:9} '
              f'{growth["traced"] // 1024:10} {growth["objects"]:8} '
              f'{growth["refs"]:8} {growth["fds"]:4}  {verdict}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
