"""Benchmark: ``clm_core.summary.customer_summary`` against lifetimes on the same transactions.

    .venv/bin/python -m bench.bench_summary                  # 1M rows
    .venv/bin/python -m bench.bench_summary --sizes 1M,10M   # both targets (10M: minutes)

For each size one synthetic dataset is generated with vectorised numpy and written to a DuckDB
file. Each contender then runs in a fresh Python subprocess, so time and peak RSS (``ru_maxrss``)
belong to that contender alone:

- ``ours, no rollup``: open the file with ``store.connect`` and run ``customer_summary`` on the
  file as generated, without the sorted rollup (the fallback every filtered query and every file
  written before the rollup existed takes);
- ``rollup build``: part of the work moves to load time. Every dataset write
  (``store.write_dataset``: loads, the demo) brings the summary's sorted rollup up to date
  (``clm_core.summary.refresh_rollup``); this column is that step alone, on the generated file,
  timed around the write (signature of the transactions, rollup build, checkpoint, fsync);
- ``ours``: open the file with ``store.connect`` and run ``customer_summary``, which now reads
  the rollup (the time includes reading it from disk);
- ``lifetimes``: the purchase rows (amount >= 0, the summary's definition of a purchase) are read
  from the same file into pandas (``load``), then
  ``summary_data_from_transaction_data(..., freq="D", monetary_value_col=...)`` runs
  (``compute``). Peak RSS includes the loaded frame, which lifetimes needs in memory anyway.

The speed-ups compare ``ours`` (with the rollup) with lifetimes; the rollup build is not in
them, it is reported beside them and paid once per load. Two speed-ups are printed: against
lifetimes' compute alone (the most favourable case for
lifetimes: data already in pandas) and against load + compute (both start from the dataset
file, as the app does). CPU seconds (user + system, all threads) are shown beside wall time
because the machine may be shared.

Both write their frequency/recency/T/monetary_value to parquet and the parent checks they are
equal, so the speed-up compares two programs that give the same answer. Targets from issue 3:
5x at 1M rows, 20x at 10M rows.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, emit, run_child  # noqa: E402

TARGETS = {1_000_000: 5.0, 10_000_000: 20.0}
COLUMNS = ["frequency", "recency", "T", "monetary_value"]


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def generate(path: Path, rows: int, seed: int = 0) -> dict:
    """Write ``rows`` synthetic transactions (about 8 per customer, 2% returns) to ``path``."""
    import duckdb
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_customers = max(rows // 8, 1)
    # Skewed activity: a few heavy buyers, many one-off customers, as in real retail data.
    weights = rng.pareto(1.5, n_customers) + 0.2
    cust = rng.choice(n_customers, size=rows, p=weights / weights.sum())
    first_day = rng.integers(0, 700, n_customers)
    span = 730 - first_day
    day = first_day[cust] + (rng.random(rows) * span[cust]).astype(np.int64)
    seconds = rng.integers(0, 86_400, rows)
    ts = (
        np.datetime64("2023-01-01")
        + day.astype("timedelta64[D]")
        + seconds.astype("timedelta64[s]")
    )
    amount = np.round(rng.lognormal(3.5, 0.8, rows), 2)
    returns = rng.random(rows) < 0.02
    amount[returns] = -np.round(amount[returns] * rng.random(returns.sum()), 2)
    frame = pd.DataFrame({"c": cust, "ts": ts, "amount": amount, "i": np.arange(rows)})
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.register("frame", frame)
    con.execute(
        """
        create table transactions as
        select cast(c as varchar) as customer_id, cast(i as varchar) as order_id,
               cast(ts as timestamp) as order_ts, amount,
               cast(1 as double) as quantity, cast(null as varchar) as product,
               cast(null as varchar) as category, cast(null as varchar) as channel,
               cast(null as double) as discount
        from frame
        """
    )
    con.close()
    return {"rows": rows, "customers": int(np.unique(cust).size)}


def _child(kind: str, db: str, out: str) -> None:
    """Run one contender and print a JSON line with seconds and peak RSS in MiB."""

    from clm_core import store

    load = 0.0
    if kind == "rollup":
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        with store.write_dataset(db):
            pass  # nothing changes: the write only refreshes the rollup
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        print(json.dumps({"seconds": seconds, "load": load, "cpu": cpu, "rss_mib": 0.0}))
        return
    if kind == "ours":
        from clm_core.summary import customer_summary

        t0, cpu0 = time.perf_counter(), cpu_seconds()
        con = store.connect(db)
        df = customer_summary(con, period="D")
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        df = df.set_index("customer_id")[COLUMNS]
    else:
        from lifetimes.utils import summary_data_from_transaction_data

        t0 = time.perf_counter()
        con = store.connect(db)
        tx = con.execute(
            "select customer_id, order_ts, amount from transactions where amount >= 0"
        ).df()
        load = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        df = summary_data_from_transaction_data(
            tx, "customer_id", "order_ts", monetary_value_col="amount", freq="D"
        )
        seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
        df = df[COLUMNS]
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    df.index = df.index.astype(str)
    df.sort_index().to_parquet(out)
    print(json.dumps({"seconds": seconds, "load": load, "cpu": cpu, "rss_mib": rss_mib}))


def _measure(kind: str, db: Path, out: Path) -> dict:
    args = ["--child", kind, "--db", str(db), "--out", str(out)]
    return run_child("bench.bench_summary", args, kind)


def _max_difference(a: Path, b: Path) -> float:
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    if len(x) != len(y) or not x.index.equals(y.index):
        return float("inf")
    return float(max(np.abs(x[c].to_numpy() - y[c].to_numpy()).max() for c in COLUMNS))


def run(sizes: list[int], workdir: Path, seed: int = 0) -> list[dict]:
    rows_out = []
    for rows in sizes:
        db = workdir / f"bench-{rows}.duckdb"
        t0 = time.perf_counter()
        info = generate(db, rows, seed)
        print(f"generated {rows:,} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        plain = _measure("ours", db, workdir / "plain.parquet")
        print(f"  ours without rollup {plain['seconds']:.2f}s", file=sys.stderr)
        rollup = _measure("rollup", db, workdir / "unused.parquet")
        print(f"  rollup build {rollup['seconds']:.2f}s", file=sys.stderr)
        ours = _measure("ours", db, workdir / "ours.parquet")
        print(f"  ours {ours['seconds']:.2f}s", file=sys.stderr)
        theirs = _measure("lifetimes", db, workdir / "lifetimes.parquet")
        print(f"  lifetimes {theirs['seconds']:.2f}s", file=sys.stderr)
        diff = max(
            _max_difference(workdir / "ours.parquet", workdir / "lifetimes.parquet"),
            _max_difference(workdir / "plain.parquet", workdir / "lifetimes.parquet"),
        )
        rows_out.append({**info, "ours": ours, "plain": plain, "rollup": rollup,
                         "lifetimes": theirs, "max_diff": diff})  # fmt: skip
        db.unlink(missing_ok=True)
    return rows_out


def markdown(results: list[dict]) -> str:
    lines = [
        "| rows | customers | ours s (CPU s) | ours RSS MiB | rollup build at load s (CPU s) "
        "| ours without rollup s (CPU s) | lifetimes compute s (CPU s) "
        "| lifetimes load+compute s | lifetimes RSS MiB | speed-up vs compute "
        "| speed-up vs load+compute | target | max abs diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        o, t, b, p = r["ours"], r["lifetimes"], r["rollup"], r["plain"]
        vs_compute = t["seconds"] / o["seconds"]
        vs_total = (t["seconds"] + t["load"]) / o["seconds"]
        target = TARGETS.get(r["rows"])
        verdict = "-"
        if target:
            verdict = f"{target:.0f}x: {'met' if vs_compute >= target else 'missed'} vs compute, "
            verdict += f"{'met' if vs_total >= target else 'missed'} vs load+compute"
        lines.append(
            f"| {r['rows']:,} | {r['customers']:,} | {o['seconds']:.2f} ({o['cpu']:.2f}) "
            f"| {o['rss_mib']:.0f} | {b['seconds']:.2f} ({b['cpu']:.2f}) "
            f"| {p['seconds']:.2f} ({p['cpu']:.2f}) | {t['seconds']:.2f} ({t['cpu']:.2f}) "
            f"| {t['seconds'] + t['load']:.2f} | {t['rss_mib']:.0f} | {vs_compute:.1f}x "
            f"| {vs_total:.1f}x | {verdict} | {r['max_diff']:.2g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M", help="comma-separated row counts: 1M,10M")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None, help="folder for the temporary dataset")
    parser.add_argument("--child", choices=["ours", "rollup", "lifetimes"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.db, args.out)
        return 0
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = run(sizes, Path(tmp), args.seed)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(markdown(results))
    for r in results:
        o, t = r["ours"], r["lifetimes"]
        target = TARGETS.get(r["rows"])
        emit("customer summary (SQL)", f"{r['rows']:,} rows", o["seconds"], o["rss_mib"],
             "lifetimes summary_data_from_transaction_data", t["seconds"], t["rss_mib"],
             f"max abs diff {r['max_diff']:.1g}" + (f"; target {target:.0f}x" if target else ""))  # fmt: skip
    failed = [r for r in results if r["max_diff"] > 1e-6]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
