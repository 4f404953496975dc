"""Benchmark: the purchase history behind the stage pages under a filter, two ways.

    .venv/bin/python -m bench.bench_stages                    # 100k and 1M customers
    .venv/bin/python -m bench.bench_stages --customers 20000  # a quick run

For each size the demo dataset is built once. Every filter case (none, one channel, the last
year, a channel and a date range) is then measured in fresh Python subprocesses, so time and
peak RSS belong to one contender alone:

- ``query`` (the reference): apply the global filters to a cursor (``filters.apply_filters``)
  and run ``lifecycle.purchase_history`` on it, one query over the filtered views per filter,
  which is what the pages did before the ledger;
- ``ledger``: build ``lifecycle.transaction_ledger`` on the unfiltered data (timed apart: the
  app builds it once per dataset version and keeps it), then derive the filter's history with
  ``TransactionLedger.history`` (and ``first_event_days`` under a date range). The time is the
  derivation, which is what a new filter costs once the ledger exists.

Peak RSS is the process's peak during the measured step (VmHWM reset just before it, Linux), so
it includes what the process already held (the DuckDB connection, the thresholds' query cache).

Both write the stage details at the filtered data's last purchase date to parquet and the parent
checks the two frames are equal, so the speed-up compares two programs with the same answer.
Target (issue 8): every page answers a filter change within 5 s at a million customers; the
history is the first step of the Overview and Lifecycle pages under a date or channel filter.
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

CASES = ["none", "channel", "last year", "channel and dates"]


def _filters(db: str, case: str):
    """The case's global filters on the dataset ``db`` (its first channel, its last 365 days)."""
    from clm_core import store
    from clm_core.filters import Filters, filter_options

    con = store.connect(db)
    try:
        opts = filter_options(store.cursor(con))
    finally:
        con.close()
    last = opts["dates"][1]
    year = {"date_from": last - dt.timedelta(days=364), "date_to": last}
    channel = {"channels": (opts["channels"][0],)}
    return Filters(
        **{"none": {}, "channel": channel, "last year": year,
           "channel and dates": {**channel, "date_from": last - dt.timedelta(days=180)}}[case]
    )  # fmt: skip


def _child(kind: str, db: str, case: str, out: str) -> None:
    """Run one contender and print a JSON line with seconds and peak RSS in MiB."""
    from clm_core import lifecycle as lc
    from clm_core import store
    from clm_core.filters import apply_filters

    filters = _filters(db, case)
    con = store.connect(db)
    base = store.cursor(con)
    rules = lc.derive_thresholds(base).as_dict()  # the pages' rules: the unfiltered data's
    cur = store.cursor(con)
    apply_filters(cur, filters)
    as_of = lc.purchase_date_range(cur)[1]
    build = 0.0
    reset_peak()  # the peak of the step alone, not of the rules derived above
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    if kind == "query":
        history = lc.purchase_history(cur)
    else:
        ledger = lc.transaction_ledger(base)
        build = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        events = None
        if filters.date_from or filters.date_to:
            events = lc.first_event_days(
                base, ledger, date_from=filters.date_from, date_to=filters.date_to
            )
        history = ledger.history(
            date_from=filters.date_from,
            date_to=filters.date_to,
            channels=filters.channels,
            first_event=events,
        )
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    rss_mib = peak_mib()
    history.details(as_of, **rules).to_parquet(out)
    print(json.dumps({"seconds": seconds, "cpu": cpu, "build": build, "rss_mib": rss_mib}))


def markdown(results: list[dict]) -> str:
    lines = [
        "| customers (transactions) | filter | query s | query peak MiB | ledger: derive s "
        "| ledger: build once s | ledger peak MiB | speed-up | same details |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        q, g = r["query"], r["ledger"]
        lines.append(
            f"| {r['customers']:,} ({r['transactions']:,}) | {r['case']} | {q['seconds']:.2f} "
            f"| {q['rss_mib']:.0f} | {g['seconds']:.2f} | {g['build']:.2f} | {g['rss_mib']:.0f} "
            f"| {q['seconds'] / max(g['seconds'], 1e-9):.1f}x | {'yes' if r['same'] else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    args = ledger_args(argv, CASES)
    if args.child:
        _child(args.child, args.db, args.case, args.out)
        return
    results = query_against_ledger(
        "bench.bench_stages", args, CASES, rows="transactions", what="details"
    )
    print(markdown(results))
    for r in results:
        q, g = r["query"], r["ledger"]
        size = f"{r['customers']:,} customers ({r['transactions']:,} transactions)"
        emit(f"stage history: {r['case']} filter", size, g["seconds"], g["rss_mib"],
             "purchase_history query on the filtered views", q["seconds"], q["rss_mib"],
             f"ledger built once per dataset version in {g['build']:.2f} s; "
             f"same details: {'yes' if r['same'] else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
