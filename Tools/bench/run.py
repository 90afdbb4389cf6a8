"""Benchmark asyncio on the fork against the stock interpreter and uvloop.

Usage (run with /usr/bin/python3.11; needs only the stdlib and matplotlib):

    /usr/bin/python3.11 Tools/bench/run.py [--python ./python] [--quick]
        [--out build/bench] [--only NAME,...] [--alts NAME,...] [--reps N]
        [--list] [--fail-on-error]

`make bench` runs it with `--python ./python`; `make bench-quick` adds --quick.

Alternatives compared in one run
--------------------------------
  stock        /usr/bin/python3.11 with its own C `_asyncio` (the baseline)
  pure         stock with `_asyncio` blocked (BENCH_ASYNCIO=pure makes
               benchlib set sys.modules['_asyncio'] = None before asyncio is
               imported), so asyncio runs its pure-Python Future and Task
  fork         the fork's ./python (--python)
  uvloop       stock on uvloop's event loop (BENCH_LOOP=uvloop)
  fork+uvloop  the fork on uvloop's event loop
uvloop is left out where it does not fit (copy_future_state never runs the
loop).  Every run reports the Future, Task, Handle and loop classes it used;
a pure run that still has the C Future or Task, or a uvloop run on another
loop, counts as failed.

Eager rows (async_tree_eager*): fork and fork+uvloop run the tree with
asyncio.eager_task_factory; stock 3.11 has no eager tasks, so the stock
cell, the baseline of the row's ratios, is stock running the lazy tree of
the same shape (the lazy row's own measurement when that row is in the run,
else a run of the lazy tree), as issue 16's targets are put.  pure and
uvloop have no eager tasks either and get no cell there (their lazy figures
are in the lazy rows).  Each tree batch checks how its tasks start and
reports it; an eager run whose tasks start lazily, or a lazy one whose
tasks start eagerly, counts as failed.  An interpreter without
asyncio.eager_task_factory reports the eager rows as "unsupported", which is
neither a failure nor a figure: geometric means leave such cells out.

Method
------
* Each measurement is its own process: one workload script (bm_*.py, see the
  docstring of each for its sizes and its self-check) on one alternative.
* Inside the process the first batch is a warm-up and is discarded; then
  batches are timed until --min-time has passed, and the process reports
  the median ns per operation of its timed batches.
* Clock (column "clock"): process CPU time for workloads that wait for
  nothing but themselves, so that other processes on a shared machine stay
  out of the figures (it also leaves out the idle sleeps of async_tree);
  wall time for executor and HTTP, which wait for threads or for wrk by
  design.  See benchlib.py.
* Before measuring, every alternative is probed once (interpreter starts,
  asyncio imports, the right classes and loop are in use); that also warms
  the OS caches and writes .pyc files.
* Repetitions: for each repetition every workload runs on every
  alternative; the order of alternatives rotates from one repetition to the
  next, so the alternatives are interleaved in time.
* Per workload and alternative the median of the repetitions is reported,
  with its spread: +-half the range of the repetitions, as a percentage of
  the median.
* Every figure is a ratio against stock measured in the same run:
  ratio = stock median / alternative median, so 2.00x means twice as fast
  as stock and 0.50x half as fast.  Geometric means summarise the four lazy
  gather trees ("geomean async_tree", issue 7's), the lazy TaskGroup trees,
  the eager trees, and all workloads.
* Workloads that measure something besides time (tcp_bulk's peak memory)
  report it in their JSON line's "metrics"; a second table gives the median
  of each per alternative.
* Every workload checks its own result; a failed check, a crash, a timeout
  or a missing interpreter marks the cell FAILED (with the reason) instead of
  crashing the runner.  A cell that timed out is not run again, and an
  alternative that hangs on two workloads is skipped for the rest of the
  run; an interpreter that is missing mid-run (being rebuilt) gets one
  relaunch after a few seconds.  No benchmark asserts a speed: the
  "targets" lines only report whether the ratios the issues ask for were
  reached.  Ctrl-C stops the run and reports what was measured.  The exit
  status is 0 unless --fail-on-error is given and a cell FAILED.

Modes: --quick (3 repetitions, 0.1 s of timed batches, smaller trees and a
1 s wrk run; about 3 minutes on 2 cores) and the default full mode (5
repetitions, 0.5 s, pyperformance-sized trees and 3 s wrk runs; about 20
minutes).  --only and --alts take comma-separated names or shell patterns
(`--only 'async_tree*,gather'`); stock is always run, as the baseline.

Output in --out (default build/bench/): results.json (every sample and the
machine), table.txt and table.md (the table), ratios.png (chart, matplotlib
Agg).  The table is also printed; progress goes to stderr while it runs.
"""

import argparse
import collections
import datetime
import fnmatch
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STOCK = "/usr/bin/python3.11"

# lazy: for an eager workload, the lazy workload of the same shape, which
# the alternatives without eager tasks run in its place.
Workload = collections.namedtuple(
    "Workload", "name script variant uvloop socket lazy",
    defaults=(None, True, False, None))

TREE_LEAVES = ["none", "io", "memoization", "cpu_io_mixed"]


def tree_workloads():
    """pyperformance's async_tree family: gather and TaskGroup, lazy and eager.

    Its names: async_tree_LEAF[_tg] lazy, async_tree_eager[_LEAF][_tg]
    eager, the none leaf being left out of the eager names.
    """
    out = []
    for tg in ("", "_tg"):
        for leaf in TREE_LEAVES:
            out.append(Workload(f"async_tree_{leaf}{tg}", "bm_async_tree.py", leaf + tg))
    for tg in ("", "_tg"):
        for leaf in TREE_LEAVES:
            variant = "eager" + ("" if leaf == "none" else "_" + leaf) + tg
            out.append(Workload(f"async_tree_{variant}", "bm_async_tree.py", variant,
                                lazy=f"async_tree_{leaf}{tg}"))
    return out


WORKLOADS = tree_workloads() + [
    Workload("gather", "bm_gather.py"),
    Workload("task_chain", "bm_task_chain.py"),
    Workload("sleep0_pingpong", "bm_pingpong.py"),
    Workload("call_soon_storm", "bm_call_soon.py"),
    Workload("future_roundtrip", "bm_future.py"),
    Workload("queue", "bm_queue.py"),
    Workload("lock", "bm_lock.py"),
    Workload("event", "bm_event.py"),
    Workload("executor", "bm_executor.py"),
    Workload("copy_future_state", "bm_copy_future_state.py", uvloop=False),
    Workload("tcp_echo_streams", "bm_tcp_streams.py", socket=True),
    Workload("tcp_echo_protocols", "bm_tcp_protocols.py", socket=True),
    Workload("tcp_echo_buffered", "bm_tcp_buffered.py", socket=True),
    Workload("tls_echo", "bm_tls_echo.py", socket=True),
    Workload("tcp_churn", "bm_tcp_churn.py", socket=True),
    Workload("tcp_bulk", "bm_tcp_bulk.py", socket=True),
    Workload("http_aiohttp", "bm_http_aiohttp.py", socket=True),
]
BY_NAME = {w.name: w for w in WORKLOADS}

# eager: runs the eager workloads as such (the fork's asyncio may have eager
# tasks; stock 3.11's has none, so stock runs their lazy twins instead).
Alternative = collections.namedtuple("Alternative", "name python env eager",
                                     defaults=(False,))

MODES = {
    "quick": dict(reps=3, min_time=0.1, timeout=30),
    "full": dict(reps=5, min_time=0.5, timeout=180),
}

# An alternative that hangs this often is skipped for the rest of the run.
MAX_HANGS = 2

# Rows of geometric means: (row name, workloads).  "geomean async_tree" is
# the four lazy gather trees, as issue 7's target has it.
FAMILIES = [
    ("geomean async_tree", [f"async_tree_{leaf}" for leaf in TREE_LEAVES]),
    ("geomean async_tree_tg", [f"async_tree_{leaf}_tg" for leaf in TREE_LEAVES]),
    ("geomean async_tree_eager", [w.name for w in WORKLOADS if w.lazy]),
]

# Ratios the issues ask the fork to show (reported, never asserted).
TARGETS = [
    ("copy_future_state", 4.0, "issue 5: bare copy at least 4x"),
    ("call_soon_storm", 2.0, "issue 7: call_soon storm at least 2x"),
    ("sleep0_pingpong", 2.0, "issue 7: sleep(0) ping-pong at least 2x"),
    ("geomean async_tree", 1.5, "issue 7: async_tree geomean at least 1.5x"),
    ("async_tree_eager_memoization", 6.0,
     "issue 16: eager memoization gather tree at least 6x stock's lazy run"),
    ("async_tree_eager", 5.0, "issue 16: eager async_tree_none at least 5x stock's lazy run"),
]
# Issue 15: these at least this much, and at least uvloop on stock's ratio.
SOCKET_TARGETS = [("tcp_echo_protocols", 1.4), ("tcp_echo_streams", 1.5),
                  ("http_aiohttp", 1.5)]
# Issue 16: the fork's eager run against its own lazy run of the same tree.
EAGER_OVER_LAZY = [("async_tree_eager_memoization", 1.4, "eager memoization gather tree")]

CLOCK_NOTE = ("ratio = stock time / alternative time (higher is faster); ±: half the "
              "range of the repetitions; clock cpu = process CPU time, wall = elapsed")

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import benchlib
print(json.dumps(benchlib.implementation(benchlib.new_loop())))
"""


def alternatives(fork):
    return [
        Alternative("stock", STOCK, {}),
        Alternative("pure", STOCK, {"BENCH_ASYNCIO": "pure"}),
        Alternative("fork", fork, {}, eager=True),
        Alternative("uvloop", STOCK, {"BENCH_LOOP": "uvloop"}),
        Alternative("fork+uvloop", fork, {"BENCH_LOOP": "uvloop"}, eager=True),
    ]


def child_env(alt):
    """The environment without PYTHON*/BENCH_* settings, plus alt's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "BENCH_"))}
    env.update(alt.env)
    return env


def runs_eager(alt, workload):
    """Whether alt runs workload with eager tasks."""
    return bool(workload and workload.lazy and alt.eager)


def wrong_impl(alt, impl, workload=None):
    """Why impl is not what alt asked for, or None."""
    # Tree workloads report how their tasks started; an eager run must.
    wanted = "eager" if runs_eager(alt, workload) else "lazy"
    started = impl.get("task_start")
    if started != wanted and (started is not None or wanted == "eager"):
        return f"tasks started {started or 'unreported'}, not {wanted}"
    if alt.env.get("BENCH_ASYNCIO") == "pure":
        if impl["future"].startswith("_asyncio") or impl["task"].startswith("_asyncio"):
            return f"not pure: {impl['future']}, {impl['task']}"
    if alt.env.get("BENCH_LOOP") == "uvloop" and not impl["loop"].startswith("uvloop"):
        return f"not uvloop: {impl['loop']}"
    return None


LAUNCH_ERRORS = ("no interpreter", "cannot run")
RELAUNCH_AFTER = 3  # seconds


def run_child(alt, argv, timeout):
    """Run [alt.python, *argv]; return (last JSON line or None, error or None)."""
    if not os.path.exists(alt.python):
        return None, f"no interpreter at {alt.python}"
    try:
        proc = subprocess.run([alt.python, *argv], cwd=ROOT, env=child_env(alt),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timeout after {timeout}s"
    except OSError as exc:
        return None, f"cannot run {alt.python}: {exc}"
    record = None
    for line in reversed(proc.stdout.splitlines()):
        try:
            record = json.loads(line)
            break
        except ValueError:
            continue
    if record is None or not isinstance(record, dict):
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"exit {proc.returncode}: {tail}"
    if "error" in record:
        return record, record["error"]
    if "unsupported" in record:
        return record, None
    if proc.returncode != 0:
        return record, f"exit {proc.returncode}"
    return record, None


def probe(alt):
    """Check alt starts and uses what it should; return (impl, error)."""
    impl, error = run_child(alt, ["-c", PROBE, HERE], timeout=60)
    if error is None:
        error = wrong_impl(alt, impl)
    return impl, error


def ran_as(alt, workload):
    """The workload alt really runs: an eager one's lazy twin if alt has no eager tasks."""
    if workload.lazy and not alt.eager:
        return BY_NAME[workload.lazy]
    return workload


def workload_argv(alt, workload, quick, *options):
    """The command line (after the interpreter) measuring workload on alt."""
    ran = ran_as(alt, workload)
    argv = [os.path.join(HERE, ran.script)]
    if ran.variant:
        argv.append(ran.variant)
    if quick:
        argv.append("--quick")
    return argv + list(options)


def measure(alt, workload, settings, quick):
    argv = workload_argv(alt, workload, quick, "--min-time", str(settings["min_time"]))
    t0 = time.monotonic()
    record, error = run_child(alt, argv, settings["timeout"])
    if error and error.startswith(LAUNCH_ERRORS):
        time.sleep(RELAUNCH_AFTER)  # the interpreter may be being rebuilt
        record, error = run_child(alt, argv, settings["timeout"])
    sample = {"workload": workload.name, "alt": alt.name,
              "seconds": round(time.monotonic() - t0, 3)}
    ran = ran_as(alt, workload)
    if ran is not workload:
        sample["ran"] = ran.name
    if record:
        sample["impl"] = record.get("impl")
        sample["clock"] = record.get("clock")
        if error is None and "unsupported" in record:
            sample["unsupported"] = record["unsupported"]
            return sample
        if error is None:
            error = wrong_impl(alt, record["impl"], workload)
    if error is None:
        sample.update(ns_per_op=record["ns_per_op"], batches=record["batches"],
                      ops=record["ops"])
        if record.get("metrics"):
            sample["metrics"] = record["metrics"]
    else:
        sample["error"] = error
    return sample


class Progress:
    """One status line per measurement on stderr (rewritten on a tty)."""

    def __init__(self, total):
        self.total, self.done, self.start = total, 0, time.monotonic()
        self.tty = sys.stderr.isatty()

    def step(self, rep, sample):
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        result = (sample.get("error") or
                  ("unsupported: " + sample["unsupported"] if "unsupported" in sample
                   else f"{sample['ns_per_op']:.0f} ns/op"))
        line = (f"[{self.done:3}/{self.total}] rep {rep + 1}  "
                f"{sample['workload']:<32} {sample['alt']:<12} {result[:60]}"
                f"  ({elapsed:.0f}s, ~{eta:.0f}s left)")
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            if self.done == self.total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def samples_of(samples, workload, alt):
    """workload's samples on alt; stock's for an eager workload are its lazy
    twin's when the twin was measured in the run (the same measurement)."""
    mine = [s for s in samples if s["workload"] == workload.name and s["alt"] == alt.name]
    if not mine and workload.lazy and alt.name == "stock":
        mine = [s for s in samples if s["workload"] == workload.lazy and s["alt"] == alt.name]
    return mine


def summarise(samples, alts, workloads):
    """cells[workload][alt] = {median, spread, n, ratio[, metrics]},
    {error, failed, n} or {unsupported}."""
    cells = {}
    for w in workloads:
        row = cells[w.name] = {}
        for alt in alts:
            mine = samples_of(samples, w, alt)
            if not mine:
                continue
            errors = [s["error"] for s in mine if "error" in s]
            if errors:
                row[alt.name] = {"error": errors[0], "failed": len(errors), "n": len(mine)}
                continue
            why = next((s["unsupported"] for s in mine if "unsupported" in s), None)
            if why is not None:
                row[alt.name] = {"unsupported": why}
                continue
            values = [s["ns_per_op"] for s in mine]
            median = statistics.median(values)
            row[alt.name] = {"median": median, "n": len(values),
                             "spread": (max(values) - min(values)) / 2 / median}
            metrics = metric_medians(mine)
            if metrics:
                row[alt.name]["metrics"] = metrics
        stock = row.get("stock", {}).get("median")
        for cell in row.values():
            if stock and "median" in cell:
                cell["ratio"] = stock / cell["median"]
    return cells


def metric_medians(samples):
    """{metric: median over the samples that report it}."""
    names = sorted({k for s in samples for k in s.get("metrics", {})})
    return {k: statistics.median(s["metrics"][k] for s in samples
                                 if k in s.get("metrics", {}))
            for k in names}


def geomean_row(cells, names, alts):
    """Geometric mean of the ratios; workloads where alt does not fit or
    that it does not support are skipped."""
    row = {}
    for alt in alts:
        present = [cells[n][alt.name] for n in names if alt.name in cells[n]]
        mine = [cell for cell in present if "unsupported" not in cell]
        if present and not mine:
            row[alt.name] = {"unsupported": present[0]["unsupported"]}
        elif any("ratio" not in cell for cell in mine):
            row[alt.name] = {"error": "a workload failed"}
        elif mine:
            ratios = [math.log(cell["ratio"]) for cell in mine]
            row[alt.name] = {"ratio": math.exp(statistics.fmean(ratios))}
    return row


def summary_rows(cells, alts):
    rows = list(cells.items())
    for family, names in FAMILIES:
        present = [n for n in names if n in cells]
        if len(present) > 1:
            rows.append((family, geomean_row(cells, present, alts)))
    if len(cells) > 1:
        rows.append(("geomean all", geomean_row(cells, list(cells), alts)))
    return rows


def format_cell(cell, alt_name):
    if cell is None:
        return "-"
    if "error" in cell:
        return "FAILED"
    if "unsupported" in cell:
        return "unsupported"
    if alt_name == "stock":
        text = f"{cell['median']:.0f}" if "median" in cell else ""
    else:
        text = f"{cell['ratio']:.2f}x" if "ratio" in cell else "-"
    if "spread" in cell:
        text += f" ±{cell['spread'] * 100:.0f}%"
    return text


def table(rows, alts, clocks, markdown=False):
    header = ["workload", "clock", "stock ns/op"] + [a.name for a in alts if a.name != "stock"]
    lines = [[name, clocks.get(name, "")] + [format_cell(row.get(a.name), a.name) for a in alts]
             for name, row in rows]
    return (markdown_table if markdown else plain_table)(header, lines)


def markdown_table(header, lines):
    """The first two columns are text, the others right-aligned figures."""
    out = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])


def plain_table(header, lines):
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                              for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines])


def failures(rows):
    """One line per alternative and reason, naming the workloads it hit;
    the same for workloads an alternative does not support."""
    hit = collections.defaultdict(list)
    unsupported = collections.defaultdict(list)
    for name, row in rows:
        for alt, cell in row.items():
            if "failed" in cell:
                hit[alt, cell["error"]].append(f"{name} ({cell['failed']}/{cell['n']} runs)")
            elif "unsupported" in cell and not name.startswith("geomean"):
                unsupported[alt, cell["unsupported"]].append(name)
    return ([f"FAILED on {alt}: {error}: {', '.join(names)}"
             for (alt, error), names in hit.items()] +
            [f"unsupported on {alt}: {why}: {', '.join(names)}"
             for (alt, why), names in unsupported.items()])


def lazy_stand_ins(workloads, alts):
    """Say what the eager rows compare, if any are in the table."""
    if not any(w.lazy for w in workloads):
        return []
    eager = ", ".join(a.name for a in alts if a.eager) or "no alternative"
    return [f"eager rows (async_tree_eager*): {eager} with asyncio.eager_task_factory, "
            "against stock running the lazy tree of the same shape (stock 3.11 has "
            "no eager tasks)"]


def metric_table(rows, alts, markdown=False):
    """Besides time, what some workloads measure (tcp_bulk's memory), as a table."""
    header = ["workload", "metric (median)"] + [a.name for a in alts]
    lines = []
    for name, row in rows:
        metrics = sorted({k for cell in row.values() for k in cell.get("metrics", {})})
        for metric in metrics:
            lines.append([name, metric] + [
                f"{row[a.name]['metrics'][metric]:.0f}"
                if metric in row.get(a.name, {}).get("metrics", {}) else "-"
                for a in alts])
    if not lines:
        return ""
    return (markdown_table if markdown else plain_table)(header, lines)


def verdict(ok):
    return "met" if ok else "not met"


def fork_target_line(by_name, name, wanted, text):
    cell = by_name.get(name, {}).get("fork", {})
    if "ratio" in cell:
        return f"{text}: fork {cell['ratio']:.2f}x -> {verdict(cell['ratio'] >= wanted)}"
    if "unsupported" in cell:
        return f"{text}: unsupported on fork -> not met"
    return None


def socket_target_lines(by_name):
    """Issue 15: a ratio, and at least uvloop on stock's in the same run."""
    out = []
    for name, wanted in SOCKET_TARGETS:
        fork = by_name.get(name, {}).get("fork", {}).get("ratio")
        if fork is None:
            continue
        uv = by_name.get(name, {}).get("uvloop", {}).get("ratio")
        text = (f"issue 15: {name} at least {wanted}x and at least uvloop on stock: "
                f"fork {fork:.2f}x, ")
        if uv is None:
            out.append(text + f"uvloop not measured -> {wanted}x "
                       f"{verdict(fork >= wanted)}, uvloop undecided")
        else:
            out.append(text + f"uvloop {uv:.2f}x -> {verdict(fork >= wanted and fork >= uv)}")
    return out


def uvloop_kept_line(rows):
    """Issue 15: fork+uvloop at least as fast as uvloop on stock."""
    missed, compared = [], 0
    for name, row in rows:
        if name.startswith("geomean"):
            continue
        mine = row.get("fork+uvloop", {}).get("ratio")
        theirs = row.get("uvloop", {}).get("ratio")
        if mine and theirs:
            compared += 1
            if mine < theirs:
                missed.append(f"{name} {mine:.2f}x < {theirs:.2f}x")
    if not compared:
        return []
    return [f"issue 15: fork+uvloop at least as fast as uvloop on stock: "
            f"{compared - len(missed)}/{compared} workloads"
            + ("; behind on " + ", ".join(missed) if missed else "")]


def eager_over_lazy_lines(by_name):
    """Issue 16: the fork's eager tree against its own lazy run of it."""
    out = []
    for name, wanted, text in EAGER_OVER_LAZY:
        eager = by_name.get(name, {}).get("fork", {})
        lazy = by_name.get(BY_NAME[name].lazy, {}).get("fork", {})
        text = f"issue 16: {text} at least {wanted}x the fork's lazy run"
        if "median" in eager and "median" in lazy:
            ratio = lazy["median"] / eager["median"]
            out.append(f"{text}: {ratio:.2f}x -> {verdict(ratio >= wanted)}")
        elif "unsupported" in eager:
            out.append(f"{text}: unsupported on fork -> not met")
    return out


def target_lines(rows, workloads):
    """Report the ratios the issues ask for; informational only."""
    by_name = dict(rows)
    out = [line for name, wanted, text in TARGETS
           if (line := fork_target_line(by_name, name, wanted, text))]
    out += eager_over_lazy_lines(by_name)
    out += socket_target_lines(by_name)
    out += uvloop_kept_line(rows)
    missed, compared = [], 0
    for w in workloads:
        if w.socket or not w.uvloop:
            continue
        fork = by_name.get(w.name, {}).get("fork", {}).get("ratio")
        uv = by_name.get(w.name, {}).get("uvloop", {}).get("ratio")
        if fork and uv:
            compared += 1
            if fork < uv:
                missed.append(f"{w.name} {fork:.2f}x < {uv:.2f}x")
    if compared:
        out.append(f"issue 7: fork at least as fast as uvloop on stock without sockets: "
                   f"{compared - len(missed)}/{compared} workloads"
                   + ("; behind on " + ", ".join(missed) if missed else ""))
    return out


def chart(rows, alts, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [a.name for a in alts if a.name != "stock"]
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.12 * len(rows) * len(others)))
    height = 0.8 / max(1, len(others))
    for i, alt in enumerate(others):
        ys, xs, errs, failed = [], [], [], []
        for j, (name, row) in enumerate(rows):
            y = j + (i - (len(others) - 1) / 2) * height
            cell = row.get(alt, {})
            if "ratio" in cell:
                ys.append(y)
                xs.append(cell["ratio"])
                errs.append(cell["ratio"] * cell.get("spread", 0))
            elif "error" in cell or "unsupported" in cell:
                failed.append((y, "FAILED" if "error" in cell else "unsupported"))
        # bars grow from 1x: right of the line is faster than stock
        ax.barh(ys, [x - 1 for x in xs], height, left=1, xerr=errs, label=alt,
                capsize=2, error_kw={"elinewidth": 0.6}, ecolor="gray")
        for y, why in failed:
            ax.text(1.0, y, " " + why, va="center", fontsize=7,
                    color="red" if why == "FAILED" else "gray")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [name for name, _ in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xscale("log")
    ticks = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")
    ax.xaxis.set_major_formatter(ticks)
    ax.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(0.2, 0.3, 0.5, 0.7)))
    ax.xaxis.set_minor_formatter(ticks)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.grid(axis="x", which="both", linewidth=0.3)
    ax.set_xlabel("speed relative to stock python3.11 (higher is faster, log scale)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "node": platform.node()}


def select(names, items, what):
    if not names:
        return items
    patterns = names.split(",")
    chosen = [i for i in items if any(fnmatch.fnmatch(i.name, p) for p in patterns)]
    if not chosen:
        sys.exit(f"no {what} matches {names!r}; have: {', '.join(i.name for i in items)}")
    return chosen


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=os.path.join(ROOT, "python"),
                        help="the fork's interpreter (default: ./python at the repo root)")
    parser.add_argument("--quick", action="store_true", help="the 3-minute mode")
    parser.add_argument("--out", default=os.path.join(ROOT, "build", "bench"),
                        help="output directory (default: build/bench/)")
    parser.add_argument("--only", help="workloads, comma-separated, shell patterns allowed")
    parser.add_argument("--alts", help="alternatives besides stock, comma-separated")
    parser.add_argument("--reps", type=int, help="repetitions (overrides the mode)")
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    parser.add_argument("--fail-on-error", action="store_true",
                        help="exit with status 1 if any cell FAILED (for CI)")
    return parser.parse_args()


def probe_all(alts):
    """Probe every alternative; return (impls, broken) and print what was found."""
    impls, broken = {}, {}
    for alt in alts:
        impls[alt.name], error = probe(alt)
        if error:
            broken[alt.name] = error
        found = ", ".join(f"{k}={v}" for k, v in (impls[alt.name] or {}).items()
                          if k in ("future", "task", "handle", "loop"))
        print(f"  {alt.name:<12} " + (f"UNAVAILABLE: {error}" if error else found),
              file=sys.stderr)
    return impls, broken


def fits(workload, alt, selected):
    """Whether the run measures workload on alt (selected: the workloads' names)."""
    if "BENCH_LOOP" in alt.env and not workload.uvloop:
        return False
    if workload.lazy and not alt.eager:
        # Only stock, as the baseline, and from the lazy twin's own row
        # when that is in the run: pure and uvloop have no eager tasks
        # either, and their lazy figures are in the lazy rows.
        return alt.name == "stock" and workload.lazy not in selected
    return True


def make_plan(workloads, alts, reps):
    """(rep, workload, alt) in measuring order: alternatives rotate per rep."""
    selected = {w.name for w in workloads}
    return [(rep, w, alt) for rep in range(reps) for w in workloads
            for alt in alts[rep % len(alts):] + alts[:rep % len(alts)]
            if fits(w, alt, selected)]


def run_plan(plan, broken, settings, quick):
    """Measure every (rep, workload, alt) of the plan; Ctrl-C keeps what was done."""
    progress = Progress(len(plan))
    samples = []
    timed_out = collections.defaultdict(set)  # alt -> workloads that hung
    unsupported = {}  # (alt, workload) -> why; not asked again
    try:
        for rep, w, alt in plan:
            skip = (f"unavailable: {broken[alt.name]}" if alt.name in broken else
                    "timed out earlier" if w.name in timed_out[alt.name] else None)
            if skip:
                sample = {"workload": w.name, "alt": alt.name, "error": skip}
            elif (alt.name, w.name) in unsupported:
                sample = {"workload": w.name, "alt": alt.name,
                          "unsupported": unsupported[alt.name, w.name]}
            else:
                sample = measure(alt, w, settings, quick)
                if "unsupported" in sample:
                    unsupported[alt.name, w.name] = sample["unsupported"]
                if sample.get("error", "").startswith("timeout"):
                    timed_out[alt.name].add(w.name)
                    if len(timed_out[alt.name]) >= MAX_HANGS:
                        broken[alt.name] = f"hung on {MAX_HANGS} workloads; rest skipped"
            sample["rep"] = rep
            samples.append(sample)
            progress.step(rep, sample)
    except KeyboardInterrupt:
        print(f"\ninterrupted after {len(samples)} of {len(plan)} measurements; "
              "reporting those", file=sys.stderr)
    return samples


def write_outputs(out, title, report, markdown, rows, alts, results):
    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(f"{title}\n\n{markdown}\n")
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    try:
        chart(rows, alts, os.path.join(out, "ratios.png"), title)
    except Exception as exc:  # a missing matplotlib must not lose the results
        print(f"chart not drawn: {type(exc).__name__}: {exc}", file=sys.stderr)
    print(f"\nwrote {out}/results.json, table.txt, table.md, ratios.png",
          file=sys.stderr)


def main():
    args = parse_args()
    if args.list:
        print("\n".join(w.name for w in WORKLOADS))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # children get killed
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    if args.reps:
        settings["reps"] = args.reps
    fork = os.path.abspath(args.python)
    workloads = select(args.only, WORKLOADS, "workload")
    alts = alternatives(fork)
    if args.alts:
        alts = [alts[0]] + select(args.alts, alts[1:], "alternative")
    os.makedirs(args.out, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    t0, load = time.monotonic(), os.getloadavg()[0]

    print(f"asyncio benchmarks, {mode} mode, {started:%Y-%m-%d %H:%M} UTC, "
          f"fork = {fork}, load average {load:.2f}", file=sys.stderr)
    if load > 0.5:
        print("  warning: the machine is busy; other processes make the figures noisy",
              file=sys.stderr)
    impls, broken = probe_all(alts)
    plan = make_plan(workloads, alts, settings["reps"])
    samples = run_plan(plan, broken, settings, args.quick)

    rows = summary_rows(summarise(samples, alts, workloads), alts)
    title = (f"asyncio, ratio vs stock python3.11 ({mode} run, "
             f"{started:%Y-%m-%d}, {machine()['cpu']}, {os.cpu_count()} cores)")
    notes = (failures(rows) + lazy_stand_ins(workloads, alts)
             + target_lines(rows, workloads))
    clocks = {s["workload"]: s["clock"] for s in samples if s.get("clock")}
    metrics = metric_table(rows, alts)
    report = "\n".join([title, "", table(rows, alts, clocks), "", CLOCK_NOTE]
                       + (["", metrics] if metrics else []) + notes)
    print("\n" + report)
    markdown = table(rows, alts, clocks, markdown=True) + "\n\n" + CLOCK_NOTE
    if metrics:
        markdown += "\n\n" + metric_table(rows, alts, markdown=True)
    write_outputs(args.out, title, report, markdown, rows, alts, {
        "mode": mode, "settings": settings, "started": started.isoformat(),
        "seconds": round(time.monotonic() - t0, 1),
        "machine": machine(), "load_average": [load, os.getloadavg()[0]],
        "alternatives": [{"name": a.name, "python": a.python, "env": a.env,
                          "impl": impls.get(a.name), "unavailable": broken.get(a.name)}
                         for a in alts],
        "summary": dict(rows), "notes": notes, "samples": samples,
    })
    if args.fail_on_error and any(s.get("error") for s in samples):
        sys.exit(1)


if __name__ == "__main__":
    main()
