"""`make bench`: run every benchmark and write bench/README.md (one table, then the details).

Each benchmark measures CLM Lens and its peer (DuckDB's bare read_csv, lifetimes, pandas) in
fresh subprocesses in the same run, prints its own markdown table and one ``RESULT`` line per
size (bench/common.py); this runner sequences them, keeps each output under bench/out/ and
writes the README. ``--only NAME[,NAME]`` reruns those benchmarks and takes the others from
their last full run (bench/out/NAME.out and NAME.json). ``--quick`` runs the smallest sizes
only and writes bench/out/README-quick.md instead (the README keeps the full run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import PREFIX, parse, table  # noqa: E402

OUT = HERE / "out"

FULL = [
    ("load", ["bench.bench_load", "--rows", "100000", "1000000", "10000000"]),
    ("summary", ["bench.bench_summary", "--sizes", "100k,1M,10M"]),
    ("cohorts_funnels", ["bench.bench_cohorts_funnels", "--sizes", "100k,1M,10M"]),
    ("clv", ["bench.bench_clv", "--sizes", "10k,100k,1M"]),
    ("churn", ["bench.bench_churn", "--sizes", "10K,100K,1M"]),
    ("pages", ["bench.bench_pages", "--customers", "20000,100000,1000000"]),
    ("stages", ["bench.bench_stages", "--customers", "100000,1000000"]),
    ("funnels", ["bench.bench_funnels", "--customers", "100000,1000000"]),
]
QUICK = [
    ("load", ["bench.bench_load", "--rows", "100000", "--repeat", "1"]),
    ("summary", ["bench.bench_summary", "--sizes", "100k"]),
    ("cohorts_funnels", ["bench.bench_cohorts_funnels", "--sizes", "100k"]),
    ("clv", ["bench.bench_clv", "--sizes", "10k"]),
    ("churn", ["bench.bench_churn", "--sizes", "10K"]),
    ("pages", ["bench.bench_pages", "--customers", "2000"]),
    ("stages", ["bench.bench_stages", "--customers", "20000"]),
    ("funnels", ["bench.bench_funnels", "--customers", "20000"]),
]

HEADER = """# Benchmarks

Reproduce with `make bench` (all sizes, about 70 minutes on 2 cores) or
`.venv/bin/python -m bench.run_all --quick` (smallest sizes). Every row compares CLM Lens with
its peer measured in the same run on the same machine, each in a fresh process; peak memory is
the process's peak RSS. Sizes are transactions for the data benchmarks and customers (about
nine transactions each in the demo data) for CLV, churn and pages. The detailed tables below
say exactly what each side does and give CPU seconds, ratios and checks that both sides return
the same answer.

Run: {when}, {machine}.

"""


def _run(name: str, args: list[str]) -> dict:
    t0 = time.perf_counter()
    print(f"== {name}: python -m {' '.join(args)}", flush=True)
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t0
    print(proc.stdout, flush=True)
    print(f"-- {name}: exit {proc.returncode} in {took:.0f} s", flush=True)
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
    return {"args": args, "took": took, "exit": proc.returncode, "stdout": proc.stdout,
            "stderr_tail": proc.stderr[-4000:]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smallest sizes only")
    ap.add_argument("--only", default="", help="rerun these (comma-separated), reuse the rest")
    args = ap.parse_args(argv)
    only = [x for x in args.only.split(",") if x]
    OUT.mkdir(exist_ok=True)
    suffix = "-quick" if args.quick else ""
    runs, reused = {}, []
    for name, bench_args in QUICK if args.quick else FULL:
        saved = OUT / f"{name}{suffix}.json"
        if only and name not in only:
            if not saved.exists():
                print(f"no saved run of {name}: run it first", file=sys.stderr)
                return 2
            runs[name] = json.loads(saved.read_text(encoding="utf-8"))
            stamp = dt.datetime.fromtimestamp(saved.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
            reused.append(f"{name} ({stamp})")
            continue
        runs[name] = _run(name, bench_args)
        saved.write_text(json.dumps(runs[name]), encoding="utf-8")
    rows, details = [], []
    for name, r in runs.items():
        rows += parse(r["stdout"])
        text = "\n".join(ln for ln in r["stdout"].splitlines() if not ln.startswith(PREFIX))
        cmd = " ".join(r["args"])
        details.append(f"## {name}\n\n`python -m {cmd}` ({r['took']:.0f} s)\n\n{text}\n")
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    report = HEADER.format(when=when, machine=machine)
    if reused:  # --only: say which rows come from an earlier run
        report += f"Taken from earlier runs (`--only`): {', '.join(reused)}.\n\n"
    report += table(rows) + "\n\n" + "\n".join(details)
    target = OUT / "README-quick.md" if args.quick else HERE / "README.md"
    target.write_text(report, encoding="utf-8")
    print(f"wrote {target}")
    failed = [name for name, r in runs.items() if r["exit"]]
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
