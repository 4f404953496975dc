"""Benchmark: the event funnel's per-customer paths under a date range, two ways.

    .venv/bin/python -m bench.bench_funnels                    # 100k and 1M customers
    .venv/bin/python -m bench.bench_funnels --customers 20000  # a quick run

For each size the demo dataset is built once (about 58 events per customer). Every case (the
Funnels page's default steps visit -> signup -> add_to_cart -> purchase, a 7-day window, in
strict or any order, with no filter or the global filter's last year) is measured in fresh
Python subprocesses, so time and peak RSS belong to one contender alone:

- ``query`` (the reference): apply the global filters to a cursor (``filters.apply_filters``)
  and run ``funnels.funnel_paths`` on it: ASOF joins over the filtered events, one query per
  filter, which is what the Funnels page did before the event ledger;
- ``ledger``: build ``funnels.event_ledger`` on the unfiltered data (timed apart: the app builds
  it once per dataset version and keeps it), then derive the paths with
  ``EventLedger.paths(date_from=, date_to=)``. The time is the derivation, which is what a new
  date range costs once the ledger exists.

Peak RSS is the process's peak during the measured step (VmHWM reset just before it, Linux).
Both write their paths to parquet and the parent checks the two are equal row for row (sorted
by customer), so the speed-up compares two programs with the same answer. Target (issue 8):
every page answers a filter change within 5 s at a million customers.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    cpu_seconds,
    emit,
    ledger_args,
    peak_mib,
    query_against_ledger,
    reset_peak,
)

STEPS = ("visit", "signup", "add_to_cart", "purchase")
CASES = ["strict, no filter", "strict, last year", "any order, last year"]


def _args(db: str, case: str) -> tuple[dict, dict]:
    """The case's funnel arguments and global date filter (the dataset's last 365 days)."""
    from clm_core import store
    from clm_core.filters import filter_options

    con = store.connect(db)
    try:
        last = filter_options(store.cursor(con))["dates"][1]
    finally:
        con.close()
    funnel = {"steps": STEPS, "window_days": 7.0, "order": "any" if "any" in case else "strict"}
    dates = {}
    if "last year" in case:
        dates = {"date_from": last - dt.timedelta(days=364), "date_to": last}
    return funnel, dates


def _child(kind: str, db: str, case: str, out: str) -> None:
    """Run one contender and print a JSON line with seconds and peak RSS in MiB."""
    from clm_core import funnels, store
    from clm_core.filters import Filters, apply_filters

    funnel, dates = _args(db, case)
    con = store.connect(db)
    cur = store.cursor(con)
    build = 0.0
    reset_peak()
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    if kind == "query":
        apply_filters(cur, Filters(**dates))
        paths = funnels.funnel_paths(cur, **funnel)
    else:
        ledger = funnels.event_ledger(cur)
        build = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        paths = ledger.paths(**funnel, **dates)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    rss_mib = peak_mib()
    paths.sort_values("customer_id", ignore_index=True).to_parquet(out)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "build": build, "rss_mib": rss_mib,
                      "customers": len(paths)}))  # fmt: skip


def markdown(results: list[dict]) -> str:
    lines = [
        "| customers (events) | case | paths | query s | query peak MiB | ledger: derive s "
        "| ledger: build once s | ledger peak MiB | speed-up | same paths |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        q, g = r["query"], r["ledger"]
        lines.append(
            f"| {r['customers']:,} ({r['events']:,}) | {r['case']} | {q['customers']:,} "
            f"| {q['seconds']:.2f} | {q['rss_mib']:.0f} | {g['seconds']:.2f} | {g['build']:.2f} "
            f"| {g['rss_mib']:.0f} | {q['seconds'] / max(g['seconds'], 1e-9):.1f}x "
            f"| {'yes' if r['same'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = ledger_args(argv, CASES)
    if args.child:
        _child(args.child, args.db, args.case, args.out)
        return
    results = query_against_ledger(
        "bench.bench_funnels", args, CASES, rows="events", what="paths", check_dtype=False
    )
    print(markdown(results))
    for r in results:
        q, g = r["query"], r["ledger"]
        size = f"{r['customers']:,} customers ({r['events']:,} events)"
        emit(f"funnel paths: {r['case']}", size, g["seconds"], g["rss_mib"],
             "funnel_paths query on the filtered views", q["seconds"], q["rss_mib"],
             f"event ledger built once per dataset version in {g['build']:.2f} s; "
             f"same paths: {'yes' if r['same'] else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
