r"""Load time and peak memory of ``clm_core.ingest.load_file`` next to DuckDB's bare ``read_csv``.

    .venv/bin/python -m bench.bench_load                 # 1M and 10M rows, 3 and 1 repeats
    .venv/bin/python -m bench.bench_load --rows 1000000 --repeat 5
    .venv/bin/python -m bench.bench_load --real          # the shared real files, vs pandas

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

``--real`` loads the shared real files as a user drops them in (UCI Online Retail .csv.gz,
CDNOW_master.txt) next to what a notebook does with pandas to get the same transactions:
``read_csv``, guests dropped, ids cleaned, amount = Quantity x UnitPrice (Online Retail), or the
space-separated text with ``sep=r"\s+"`` and YYYYMMDD dates (CDNOW). Pandas stops at a
DataFrame in memory; ours also parses, checks, counts and writes the dataset file.
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
    if kind.startswith("pandas-"):
        import pandas as pd

        imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start, cpu = time.perf_counter(), cpu_seconds()
        if kind == "pandas-retail":
            raw = pd.read_csv(csv_path, dtype={"InvoiceNo": str, "StockCode": str})
            raw = raw[raw["CustomerID"].notna()]
            tx = pd.DataFrame({"customer_id": raw["CustomerID"].astype("int64").astype(str),
                               "order_id": raw["InvoiceNo"],
                               "order_ts": pd.to_datetime(raw["InvoiceDate"]),
                               "amount": raw["Quantity"] * raw["UnitPrice"]})  # fmt: skip
        else:
            raw = pd.read_csv(csv_path, sep=r"\s+", dtype={"customer_id": str, "date": str})
            tx = pd.DataFrame({"customer_id": raw["customer_id"],
                               "order_ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
                               "amount": raw["dollar_value"]})  # fmt: skip
        assert len(tx) > 0
    elif kind == "bare":
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


REAL = {
    "UCI Online Retail (.csv.gz, 541,909 lines)": ("online_retail/online-retail.csv.gz", "retail"),
    "CDNOW_master.txt (69,659 rows)": ("cdnow/CDNOW_master.txt", "cdnow"),
}
DATASETS = ROOT.parent / "shared" / "datasets"


def run_real(repeat: int) -> list[dict]:
    """Ours and the pandas notebook on each shared real file, alternating, medians."""
    results = []
    for label, (rel, name) in REAL.items():
        path = DATASETS / rel
        if not path.is_file():
            print(f"skipped {label}: {path} is missing")
            continue
        runs: dict[str, list[dict]] = {"pandas": [], "ours": []}
        for _ in range(repeat):
            runs["pandas"].append(measure(f"pandas-{name}", path))
            runs["ours"].append(measure("ours", path))
        med = {k: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for k, rs in runs.items()}
        results.append({"label": label, "repeat": repeat, **med})
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
    parser.add_argument("--real", action="store_true",
                        help="the shared real files (../shared/datasets) against pandas")  # fmt: skip
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CSV", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    if args.real:
        for r in run_real((args.repeat or [3])[0]):
            ours, ref = r["ours"], r["pandas"]
            print(f"{r['label']}: ours {ours['seconds']:.2f} s / {ours['peak_mb']:.0f} MB, "
                  f"pandas {ref['seconds']:.2f} s / {ref['peak_mb']:.0f} MB")  # fmt: skip
            emit("load a real file", r["label"], ours["seconds"], ours["peak_mb"],
                 "pandas read + transform", ref["seconds"], ref["peak_mb"],
                 f"median of {r['repeat']}; ours also parses, checks and writes the dataset")  # fmt: skip
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
