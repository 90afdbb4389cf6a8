"""Instructions per operation of the benchmark workloads, under callgrind.

Usage (run with /usr/bin/python3.11; needs valgrind):

    /usr/bin/python3.11 Tools/bench/callgrind.py [--python ./python]
        [--only NAME,...] [--alts NAME,...] [--batches A,B] [--full] [--out DIR]

`make callgrind` runs it with `--python ./python` (CALLGRINDOPTS= adds
options).  Wall and CPU times move by +-20 % or more from one run to the
next on a shared machine; the number of instructions a workload executes
does not depend on what else runs, so it is the steadier way to compare two
builds or the fork with stock.

Method: each workload (a bm_*.py script of run.py's list) is run twice on
each alternative under `valgrind --tool=callgrind`, with its usual warm-up
and then exactly A and B timed batches (benchlib's --batches).  Start-up,
imports and the warm-up are the same in both runs, so

    instructions per operation = (Ir(B run) - Ir(A run)) / (ops(B) - ops(A))

where Ir is callgrind's count of executed instructions (user space, every
thread of the process; the kernel's work in system calls is not counted)
and ops the operations the JSON line reports.  Per-batch costs (an echo
batch's server start and connects) are included, spread over the batch's
operations, as in the timed figures.  Before the two runs each workload
runs once without valgrind, which checks it works there and writes the
.pyc files and the TLS certificate, so that neither run pays for them.
PYTHONHASHSEED is fixed so both runs take the same hash-dependent paths.

Alternatives are run.py's (stock, pure, fork, uvloop, fork+uvloop; default
stock and fork); eager trees run as run.py runs them (stock: the lazy tree
of the same shape).  Workloads default to the socket ones issue 15 asks
instruction counts for.  Sizes are --quick's unless --full is given.

Output: a table on stdout (instructions per operation, and stock's count
over each alternative's: higher is fewer instructions), callgrind.json and
callgrind.md in --out (default build/bench/).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import run as runner

DEFAULT_ONLY = ("tcp_echo_protocols,tcp_echo_streams,tcp_echo_buffered,tls_echo,"
                "tcp_churn,tcp_bulk")
TIMEOUT = 3600  # seconds for one run under valgrind
TOTALS = re.compile(rb"^(?:totals|summary):\s*(\d+)", re.MULTILINE)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=os.path.join(runner.ROOT, "python"),
                        help="the fork's interpreter (default: ./python at the repo root)")
    parser.add_argument("--only", default=DEFAULT_ONLY,
                        help="workloads, comma-separated, shell patterns allowed")
    parser.add_argument("--alts", default="fork",
                        help="alternatives besides stock, comma-separated")
    parser.add_argument("--batches", default="1,3",
                        help="the two numbers of timed batches, A,B with A < B")
    parser.add_argument("--full", action="store_true",
                        help="full-mode sizes (default: --quick's)")
    parser.add_argument("--out", default=os.path.join(runner.ROOT, "build", "bench"),
                        help="output directory (default: build/bench/)")
    args = parser.parse_args()
    try:
        args.batches = [int(n) for n in args.batches.split(",")]
    except ValueError:
        parser.error("--batches takes two integers, A,B")
    if len(args.batches) != 2 or not 0 <= args.batches[0] < args.batches[1]:
        parser.error("--batches takes two integers A,B with 0 <= A < B")
    return args


def last_json(text):
    for line in reversed(text.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return None


def checked_record(alt, workload, proc):
    """The workload's JSON line, or raise RuntimeError saying what went wrong."""
    record = last_json(proc.stdout)
    if record is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"exit {proc.returncode}: {tail}")
    for key in ("error", "unsupported"):
        if key in record:
            raise RuntimeError(f"{key}: {record[key]}")
    wrong = runner.wrong_impl(alt, record["impl"], workload)
    if wrong:
        raise RuntimeError(wrong)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}")
    return record


def run_once(alt, workload, quick, batches, valgrind=None, out_file=None):
    """Run the workload for `batches` timed batches; return (record, Ir or None)."""
    argv = [alt.python] + runner.workload_argv(alt, workload, quick,
                                               "--batches", str(batches))
    if valgrind:
        argv = [valgrind, "--tool=callgrind", f"--callgrind-out-file={out_file}",
                "--dump-line=no", "--dump-instr=no", "--trace-children=no"] + argv
    env = runner.child_env(alt)
    env["PYTHONHASHSEED"] = "0"
    proc = subprocess.run(argv, cwd=runner.ROOT, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)
    record = checked_record(alt, workload, proc)
    if not valgrind:
        return record, None
    with open(out_file, "rb") as f:
        found = TOTALS.search(f.read())
    if not found:
        raise RuntimeError(f"no instruction total in {out_file}")
    return record, int(found.group(1))


def count(alt, workload, args, valgrind, tmp):
    """{per_op, ir, ops} or {error} for one workload on one alternative."""
    if not os.path.exists(alt.python):
        return {"error": f"no interpreter at {alt.python}"}
    quick = not args.full
    try:
        run_once(alt, workload, quick, 1)  # works natively; .pyc files, cert
        irs, ops = [], []
        for n in args.batches:
            out_file = os.path.join(tmp, f"{workload.name}.{alt.name}.{n}.out")
            record, ir = run_once(alt, workload, quick, n, valgrind, out_file)
            irs.append(ir)
            ops.append(record["ops"] if n else 0)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    if ops[1] <= ops[0] or irs[1] <= irs[0]:
        return {"error": f"no difference between the runs: ops {ops}, Ir {irs}"}
    result = {"per_op": (irs[1] - irs[0]) / (ops[1] - ops[0]), "ir": irs, "ops": ops}
    if workload.lazy and not alt.eager:
        result["ran"] = workload.lazy
    return result


def cell(results, alt_name):
    r = results.get(alt_name)
    if r is None:
        return "-"
    return "FAILED" if "error" in r else f"{r['per_op']:.0f}"


def ratio_cell(results, alt_name):
    stock, mine = results.get("stock", {}), results.get(alt_name, {})
    if "per_op" in stock and "per_op" in mine:
        return f"{stock['per_op'] / mine['per_op']:.2f}x"
    return "-"


def tables(results, alts):
    others = [a.name for a in alts if a.name != "stock"]
    header = (["workload"] + [f"{a.name} instr/op" for a in alts]
              + [f"stock/{name}" for name in others])
    lines = [[name] + [cell(r, a.name) for a in alts] + [ratio_cell(r, n) for n in others]
             for name, r in results.items()]
    md = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    md += ["| " + " | ".join(line) + " |" for line in lines]
    return runner.plain_table(header, lines), "\n".join(md)


def main():
    args = parse_args()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("callgrind.py: no valgrind (Debian package valgrind)")
    workloads = runner.select(args.only, runner.WORKLOADS, "workload")
    alts = runner.alternatives(os.path.abspath(args.python))
    alts = [alts[0]] + runner.select(args.alts, alts[1:], "alternative")
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {}
    with tempfile.TemporaryDirectory(prefix="callgrind.") as tmp:
        for w in workloads:
            results[w.name] = {}
            for alt in alts:
                if "BENCH_LOOP" in alt.env and not w.uvloop:
                    continue
                print(f"  {w.name:<28} {alt.name:<12}", end=" ", file=sys.stderr,
                      flush=True)
                r = results[w.name][alt.name] = count(alt, w, args, valgrind, tmp)
                print(r.get("error") or f"{r['per_op']:.0f} instructions/op",
                      file=sys.stderr)
    text, markdown = tables(results, alts)
    title = (f"instructions per operation under callgrind ({'full' if args.full else 'quick'} "
             f"sizes, batches {args.batches[0]} and {args.batches[1]}, "
             f"{started:%Y-%m-%d %H:%M} UTC)")
    note = ("stock/ALT = stock's instructions per operation over ALT's (higher: fewer "
            "instructions); user-space instructions of all threads, system calls' "
            "kernel work not counted")
    print(f"\n{title}\n\n{text}\n\n{note}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "callgrind.md"), "w") as f:
        f.write(f"{title}\n\n{markdown}\n\n{note}\n")
    with open(os.path.join(args.out, "callgrind.json"), "w") as f:
        json.dump({"started": started.isoformat(), "batches": args.batches,
                   "mode": "full" if args.full else "quick",
                   "alternatives": [{"name": a.name, "python": a.python, "env": a.env}
                                    for a in alts],
                   "results": results}, f, indent=1)
    print(f"\nwrote {args.out}/callgrind.json, callgrind.md", file=sys.stderr)
    if any("error" in r for rs in results.values() for r in rs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
