"""`make bench`: run every benchmark and write bench/README.md (one table, then the details).

Each benchmark measures CLM Lens and its peer (DuckDB's bare read_csv, lifetimes, pandas) in
fresh subprocesses in the same run, prints its own markdown table and one ``RESULT`` line per
size (bench/common.py); this runner sequences them, keeps each output under bench/out/ and
writes the README. ``--quick`` runs the smallest sizes only and writes bench/out/README-quick.md
instead (the README keeps the full run).
"""

from __future__ import annotations

import datetime as dt
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
    ("pages", ["bench.bench_pages", "--customers", "20000"]),
]
QUICK = [
    ("load", ["bench.bench_load", "--rows", "100000", "--repeat", "1"]),
    ("summary", ["bench.bench_summary", "--sizes", "100k"]),
    ("cohorts_funnels", ["bench.bench_cohorts_funnels", "--sizes", "100k"]),
    ("clv", ["bench.bench_clv", "--sizes", "10k"]),
    ("churn", ["bench.bench_churn", "--sizes", "10K"]),
    ("pages", ["bench.bench_pages", "--customers", "2000"]),
]

HEADER = """# Benchmarks

Reproduce with `make bench` (all sizes, about an hour on 2 cores) or
`.venv/bin/python -m bench.run_all --quick` (smallest sizes). Every row compares CLM Lens with
its peer measured in the same run on the same machine, each in a fresh process; peak memory is
the process's peak RSS. Sizes are transactions for the data benchmarks and customers (about
nine transactions each in the demo data) for CLV, churn and pages. The detailed tables below
say exactly what each side does and give CPU seconds, ratios and checks that both sides return
the same answer.

Run: {when}, {machine}.

"""


def main() -> int:
    quick = "--quick" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    plan = [p for p in (QUICK if quick else FULL) if not only or p[0] in only]
    OUT.mkdir(exist_ok=True)
    failed, rows, details = [], [], []
    for name, args in plan:
        t0 = time.perf_counter()
        print(f"== {name}: python -m {' '.join(args)}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True
        )
        (OUT / f"{name}.md").write_text(proc.stdout + proc.stderr[-4000:], encoding="utf-8")
        print(proc.stdout, flush=True)
        took = time.perf_counter() - t0
        print(f"-- {name}: exit {proc.returncode} in {took:.0f} s", flush=True)
        if proc.returncode:
            failed.append(name)
            print(proc.stderr[-3000:], file=sys.stderr)
        rows += parse(proc.stdout)
        text = "\n".join(ln for ln in proc.stdout.splitlines() if not ln.startswith(PREFIX))
        details.append(f"## {name}\n\n`python -m {' '.join(args)}` ({took:.0f} s)\n\n{text}\n")
    machine = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    report = HEADER.format(when=when, machine=machine) + table(rows) + "\n\n" + "\n".join(details)
    target = OUT / "README-quick.md" if quick or only else HERE / "README.md"
    target.write_text(report, encoding="utf-8")
    print(f"wrote {target}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
