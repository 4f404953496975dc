"""`make bench`: run every benchmark at the sizes of bench/README.md and keep their output.

Each benchmark measures itself and its peer (lifetimes, DuckDB's bare read_csv, pandas) in
fresh subprocesses in the same run and prints a markdown table; this runner only sequences them
and saves each output under bench/out/. Pass `--quick` for the smallest sizes only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"

FULL = [
    ("load", ["bench.bench_load", "--rows", "1000000", "10000000"]),
    ("summary", ["bench.bench_summary", "--sizes", "1M,10M"]),
    ("cohorts_funnels", ["bench.bench_cohorts_funnels", "--sizes", "1M,10M"]),
    ("clv", ["bench.bench_clv", "--sizes", "100k,1M"]),
    ("churn", ["bench.bench_churn", "--customers", "1M"]),
    ("pages", ["bench.bench_pages", "--customers", "20000"]),
]
QUICK = [
    ("load", ["bench.bench_load", "--rows", "100000"]),
    ("summary", ["bench.bench_summary", "--sizes", "1M"]),
    ("cohorts_funnels", ["bench.bench_cohorts_funnels", "--sizes", "1M"]),
    ("clv", ["bench.bench_clv", "--sizes", "100k"]),
    ("churn", ["bench.bench_churn", "--customers", "100k"]),
    ("pages", ["bench.bench_pages", "--customers", "20000"]),
]


def main() -> int:
    plan = QUICK if "--quick" in sys.argv else FULL
    OUT.mkdir(exist_ok=True)
    failed = []
    for name, args in plan:
        t0 = time.perf_counter()
        print(f"== {name}: python -m {' '.join(args)}", flush=True)
        proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
        (OUT / f"{name}.md").write_text(proc.stdout + proc.stderr[-4000:], encoding="utf-8")
        print(proc.stdout, flush=True)
        print(f"-- {name}: exit {proc.returncode} in {time.perf_counter() - t0:.0f} s", flush=True)
        if proc.returncode:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
