"""Shared plumbing for the workload scripts in Tools/bench/.

A workload script imports this module *before* asyncio, builds a batch
function and hands it to run().  Environment variables chosen by run.py:

  BENCH_ASYNCIO=pure   block the C accelerator (sys.modules['_asyncio'] = None)
                       so asyncio falls back to its pure-Python classes.
  BENCH_LOOP=uvloop    run on uvloop's event loop instead of asyncio's.

Command line of every workload script:
  [VARIANT] [--quick] [--min-time SECONDS] [--warmup N] [--batches N]

run() discards warm-up batches, then times batches until --min-time has
passed (or exactly --batches of them: callgrind.py counts instructions over
two such runs) and prints one JSON line on stdout:

  {"workload": ..., "ns_per_op": <median over timed batches>, "batches": [...],
   "ops": <operations in all timed batches>, "clock": "cpu" | "wall",
   "impl": {...}, "metrics": {...}}

"metrics" is there only for workloads that measure something besides time
(tcp_bulk's peak memory): {name: number}, shown by run.py under the table.
A workload that cannot run on this interpreter (an eager tree without
asyncio.eager_task_factory) prints {"workload": ..., "unsupported": reason}
and exits with status 0: run.py shows it as unsupported, not as FAILED.

The clock is the process's CPU time (user + system, all threads) for
workloads that never wait for anything but themselves: on a shared two-core
machine it leaves out the time other processes hold the CPU, which would
otherwise dominate the spread; it also leaves out idle waits such as the
async_tree sleeps.  Workloads that wait for other threads or processes by
design (executor, HTTP) use wall-clock time.

Every batch checks its own result with check(); a failed check prints
{"workload": ..., "error": ...} and exits with status 1, so a broken
interpreter cannot post a time.
"""

import os
import sys

if os.environ.get("BENCH_ASYNCIO") == "pure":
    if "asyncio" in sys.modules:
        raise RuntimeError("benchlib must be imported before asyncio")
    sys.modules["_asyncio"] = None

import argparse
import json
import statistics
import time

# Where uvloop and aiohttp live, should an interpreter not have it on its path.
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"

CLOCKS = {"cpu": time.process_time_ns, "wall": time.perf_counter_ns}
clock_ns = CLOCKS["cpu"]  # the clock run() uses; set by run()


class CheckFailed(Exception):
    pass


class Unsupported(Exception):
    """The interpreter lacks what the workload needs; raised by make_batch."""


class Batch:
    """What make_batch may return instead of a bare batch function.

    run      the batch function itself
    close    called once after the last batch (connections kept between
             batches are closed there, before the loop is)
    metrics  called after the last batch; returns {name: number} for the
             JSON line's "metrics"
    impl     a dict merged into the JSON line's "impl" after the last batch,
             for facts the batches establish (how tasks started)
    """

    def __init__(self, run, close=None, metrics=None, impl=None):
        self.run, self.close, self.metrics = run, close, metrics
        self.impl = impl if impl is not None else {}


def check(condition, what):
    """Raise CheckFailed unless condition holds (survives python -O)."""
    if not condition:
        raise CheckFailed(what)


def import_optional(name):
    """Import a distro package, falling back to Debian's dist-packages."""
    try:
        return __import__(name)
    except ImportError:
        if DEBIAN_DIST_PACKAGES in sys.path:
            raise
        sys.path.append(DEBIAN_DIST_PACKAGES)
        return __import__(name)


def qualname(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def new_loop():
    """A fresh event loop of the kind BENCH_LOOP asks for."""
    import asyncio
    if os.environ.get("BENCH_LOOP") == "uvloop":
        return import_optional("uvloop").new_event_loop()
    return asyncio.new_event_loop()


def implementation(loop):
    """What actually ran: lets run.py verify the mode it asked for."""
    import asyncio
    import asyncio.events
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "future": qualname(asyncio.Future),
        "task": qualname(asyncio.Task),
        "handle": qualname(asyncio.events.Handle),
        "loop": qualname(type(loop)),
    }


def parse_args(warmup):
    parser = argparse.ArgumentParser()
    parser.add_argument("variant", nargs="?",
                        help="for scripts that hold several workloads")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes, for the quick mode")
    parser.add_argument("--min-time", type=float, default=0.3,
                        help="seconds of timed batches after the warm-up")
    parser.add_argument("--warmup", type=int, default=warmup,
                        help="batches run and discarded before timing")
    parser.add_argument("--batches", type=int,
                        help="time exactly this many batches (ignores --min-time)")
    return parser.parse_args()


def run(name, make_batch, clock="cpu", warmup=1):
    """Time make_batch(loop, args)() and print the JSON line.

    args has .quick and .variant; the variant is appended to the name.
    make_batch returns a batch function or a Batch.  The batch function
    returns the number of operations it did, or a pair (ops, ns) when it
    times its own critical section (with clock_ns()).  warmup is the default
    number of discarded batches (--warmup).  make_batch may raise
    Unsupported.
    """
    global clock_ns
    clock_ns = CLOCKS[clock]
    args = parse_args(warmup)
    if args.variant:
        name = f"{name}_{args.variant}"
    loop = new_loop()
    record = {"workload": name, "clock": clock, "impl": implementation(loop)}
    try:
        batch = make_batch(loop, args)
        if not isinstance(batch, Batch):
            batch = Batch(batch)
        try:
            samples, total_ops = time_batches(batch.run, args)
        finally:
            if batch.close is not None:
                batch.close()
        record["impl"].update(batch.impl)
        if batch.metrics is not None:
            record["metrics"] = batch.metrics()
    except Unsupported as exc:
        record["unsupported"] = str(exc)
        print(json.dumps(record), flush=True)
        sys.exit(0)
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(record), flush=True)
        sys.exit(1)
    finally:
        loop.close()
    record.update(ns_per_op=statistics.median(samples), batches=samples,
                  ops=total_ops)
    print(json.dumps(record), flush=True)


def time_batches(batch, args):
    """Warm up, then time batches; return (ns per op of each, total ops)."""
    for _ in range(args.warmup):
        batch()
    samples, total_ops = [], 0
    deadline = time.perf_counter() + args.min_time
    while (len(samples) < args.batches if args.batches is not None
           else not samples or time.perf_counter() < deadline):
        t0 = clock_ns()
        result = batch()
        elapsed = clock_ns() - t0
        ops, ns = result if isinstance(result, tuple) else (result, elapsed)
        check(ops > 0, "batch reported no operations")
        samples.append(ns / ops)
        total_ops += ops
    check(samples, "no batch timed (--batches 0?)")
    return samples, total_ops


def run_async(name, make_coro, clock="cpu", warmup=1):
    """run() for the common case: each batch is one coroutine on the loop.

    make_coro(args) returns an async function of no arguments that does one
    batch, checks it and returns its number of operations; or a Batch whose
    run (and close, if any) are async functions.
    """
    def make_batch(loop, args):
        body = make_coro(args)
        if not isinstance(body, Batch):
            body = Batch(body)
        close = body.close and (lambda: loop.run_until_complete(body.close()))
        return Batch(lambda: loop.run_until_complete(body.run()), close,
                     body.metrics, body.impl)
    run(name, make_batch, clock, warmup)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak_rss():
    """Start a new peak-RSS window; return the RSS now, in KiB.

    Linux resets the process's high-water mark (VmHWM, ru_maxrss) when "5"
    is written to /proc/self/clear_refs, so the peak read afterwards
    belongs to what ran since, not to start-up.  Returns None where that is
    not possible.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kib("VmRSS")
    except (OSError, LookupError):
        return None


def peak_rss():
    """The process's peak RSS in KiB since start or reset_peak_rss()."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
