"""Load time and peak memory of ``clm_core.ingest.load_file`` next to DuckDB's bare ``read_csv``.

    .venv/bin/python -m bench.bench_load                 # 1M and 10M rows, 3 and 1 repeats
    .venv/bin/python -m bench.bench_load --rows 1000000 --repeat 5

For every size a transactions CSV is generated once (bench/out/, DuckDB ``COPY``; ISO dates,
2-decimal amounts with ~4% returns, 6 columns). Each measurement runs in a fresh Python
process, one at a time, alternating bare and ours so both see the same machine load:

- **bare**: ``create table t as select * from read_csv(FILE)`` into a new DuckDB file (DuckDB
  sniffs the types itself), then close (checkpoint);
- **ours**: ``load_file(FILE, new.duckdb)``: encoding/delimiter/header sniffing, column
  mapping, per-cell parsing and validation in SQL, error collection, duplicate count, the
  atomic write through ``store.write_dataset`` (copy, checkpoint, fsync, rename) and the load
  history.

Time is the child's wall clock around that work (interpreter start and imports excluded), and
its CPU seconds (all threads), which are steadier than wall time on a busy machine. Peak memory
is the child's ``ru_maxrss`` from ``os.wait4`` (tracemalloc cannot see DuckDB's C++
allocations); the last column subtracts what the imports alone used (pandas and pyarrow come
with ``clm_core``). The table reports medians and the ratio ours / bare (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, emit  # noqa: E402

OUT = ROOT / "bench" / "out"

_GENERATE = """
copy (
    select 'C' || lpad(cast(hash(i) % 200000 as varchar), 6, '0') as customer_id,
           'O' || cast(i as varchar) as order_id,
           strftime(timestamp '2022-01-01' + to_seconds(cast(hash(i * 7) % 94608000 as bigint)),
                    '%Y-%m-%d %H:%M:%S') as order_ts,
           round(case when hash(i * 13) % 25 = 0 then -1 else 1 end
                 * (5 + (hash(i * 11) % 50000) / 100.0), 2) as amount,
           (['web', 'app', 'store', 'mini-program'])[1 + cast(hash(i * 17) % 4 as int)] as channel,
           1 + cast(hash(i * 19) % 5 as int) as quantity
    from range($n) t(i)
) to '{path}' (header, delimiter ',')
"""


def generate(rows: int) -> Path:
    """bench/out/tx_<rows>.csv, created once."""
    import duckdb

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"tx_{rows}.csv"
    if not path.exists():
        con = duckdb.connect()
        # The path is ours (bench/out); COPY cannot take it as a parameter.
        con.execute(_GENERATE.format(path=str(path).replace("'", "''")), {"n": rows})
        con.close()
    return path


def _child(kind: str, csv_path: str, db_path: str) -> None:
    """Runs in the measured process; prints {"seconds": ..., "cpu": ..., "import_mb": ...}."""
    for p in (db_path, db_path + ".wal"):
        if os.path.exists(p):
            os.remove(p)
    if kind == "bare":
        import duckdb

        imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, cpu = time.perf_counter(), cpu_seconds()
        con = duckdb.connect(db_path)
        con.execute("create table t as select * from read_csv($p)", {"p": csv_path})
        con.close()
    else:
        from clm_core.ingest import load_file

        imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, cpu = time.perf_counter(), cpu_seconds()
        res = load_file(csv_path, db_path)
        assert res.rows_rejected == 0
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu,
                      "import_mb": imported}))  # fmt: skip


def measure(kind: str, csv_path: Path) -> dict:
    """One fresh process: (seconds, peak RSS in MB)."""
    db = OUT / f"bench-{kind}.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_load", "--child", kind, str(csv_path), str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} measurement failed ({proc.returncode})")
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    return {**json.loads(out), "peak_mb": usage.ru_maxrss / 1024}


def run(sizes: list[int], repeats: list[int]) -> list[dict]:
    results = []
    for rows, repeat in zip(sizes, repeats, strict=True):
        path = generate(rows)
        runs: dict[str, list[dict]] = {"bare": [], "ours": []}
        for _ in range(repeat):
            for kind in ("bare", "ours"):
                runs[kind].append(measure(kind, path))
        med = {
            kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            for kind, rs in runs.items()
        }
        results.append({"rows": rows, "file_mb": path.stat().st_size / 2**20, "repeat": repeat,
                        **{f"{k}_{m}": v[m] for k, v in med.items() for m in v}})  # fmt: skip
    return results


def markdown(results: list[dict]) -> str:
    lines = [
        "| rows | CSV MB | runs | bare s | ours s | time ratio | bare CPU s | ours CPU s | "
        "CPU ratio | bare peak MB | ours peak MB | memory ratio | peak above imports (bare / ours) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['file_mb']:.0f} | {r['repeat']} | {r['bare_seconds']:.2f} | "
            f"{r['ours_seconds']:.2f} | {r['ours_seconds'] / r['bare_seconds']:.2f}x | "
            f"{r['bare_cpu']:.2f} | {r['ours_cpu']:.2f} | {r['ours_cpu'] / r['bare_cpu']:.2f}x | "
            f"{r['bare_peak_mb']:.0f} | {r['ours_peak_mb']:.0f} | "
            f"{r['ours_peak_mb'] / r['bare_peak_mb']:.2f}x | "
            f"{r['bare_peak_mb'] - r['bare_import_mb']:.0f} / "
            f"{r['ours_peak_mb'] - r['ours_import_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, nargs="+", default=None,
                        help="runs per size (default 3 below 5M rows, else 1)")  # fmt: skip
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CSV", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    repeats = args.repeat or [3 if n < 5_000_000 else 1 for n in args.rows]
    if len(repeats) == 1:
        repeats = repeats * len(args.rows)
    results = run(args.rows, repeats)
    print(markdown(results))
    for r in results:
        emit("load CSV (transactions)", f"{r['rows']:,} rows", r["ours_seconds"],
             r["ours_peak_mb"], "DuckDB read_csv", r["bare_seconds"], r["bare_peak_mb"],
             f"median of {r['repeat']}; target ours <= 1.5x bare")  # fmt: skip
    print(f"\nmachine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
