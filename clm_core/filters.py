"""Global filters (date range, channel, region, segment, tier) applied to every analysis.

Filters are applied once, at the connection: :func:`apply_filters` creates TEMP views named
like the canonical tables on one cursor. Temp views shadow the dataset's tables for that cursor
only, so every function in clm_core sees the filtered data without knowing about filters, and
other sessions' cursors are unaffected.

- date range: transactions by ``order_ts``, events by ``event_ts``, campaigns by ``sent_ts``,
  feedback by ``created_ts`` (inclusive dates);
- channel: transactions whose ``channel`` is one of the chosen ones;
- region, segment, tier: customers in those groups (region from ``customers``; segment and tier
  from a customer list the caller computes on the unfiltered data and passes in).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from clm_core.store import quote_ident, table_names

__all__ = ["Filters", "apply_filters", "filter_options"]

_TS_COLUMN = {
    "transactions": "order_ts",
    "events": "event_ts",
    "campaigns": "sent_ts",
    "feedback": "created_ts",
    "customers": None,
}


@dataclass(frozen=True)
class Filters:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    channels: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    # customer ids allowed by segment/tier filters, computed by the caller (empty = no limit)
    customer_ids: tuple[str, ...] = field(default=(), compare=True, repr=False)

    @property
    def active(self) -> bool:
        return bool(
            self.date_from
            or self.date_to
            or self.channels
            or self.regions
            or self.segments
            or self.tiers
        )


def apply_filters(cur: duckdb.DuckDBPyConnection, filters: Filters | None) -> None:
    """Shadow the canonical tables on ``cur`` with filtered TEMP views (no-op without filters)."""
    if filters is None or not filters.active:
        return
    present = table_names(cur)
    base = quote_ident(cur.execute("select current_database()").fetchone()[0]) + ".main."
    if filters.segments or filters.tiers:
        cur.execute("create or replace temp table _filter_ids (customer_id varchar)")
        if filters.customer_ids:
            cur.executemany(
                "insert into _filter_ids values (?)", [(c,) for c in filters.customer_ids]
            )
    params = {
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "channels": list(filters.channels),
        "regions": list(filters.regions),
    }
    for table, ts in _TS_COLUMN.items():
        if table not in present:
            continue
        conds = []
        if ts and filters.date_from:
            conds.append(f"cast({quote_ident(ts)} as date) >= $date_from")
        if ts and filters.date_to:
            conds.append(f"cast({quote_ident(ts)} as date) <= $date_to")
        if table == "transactions" and filters.channels:
            conds.append("channel in (select unnest($channels))")
        if filters.regions and "customers" in present:
            conds.append(
                f"customer_id in (select customer_id from {base}customers "
                "where region in (select unnest($regions)))"
            )
        if filters.segments or filters.tiers:
            conds.append("customer_id in (select customer_id from _filter_ids)")
        if not conds:
            continue
        where = " and ".join(conds)
        used = {k: v for k, v in params.items() if f"${k}" in where}
        # Views cannot take bound parameters, so filtered rows are materialised in a temp table
        # (per cursor, dropped with it); values stay bound, never formatted into SQL.
        kind = "table" if used else "view"
        cur.execute(
            f"create or replace temp {kind} {quote_ident(table)} as "
            f"select * from {base}{quote_ident(table)} where {where}",
            used,
        )


def filter_options(cur: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Choices for the sidebar: date bounds, channels, regions."""
    present = table_names(cur)
    out: dict[str, list] = {"channels": [], "regions": [], "dates": []}
    if "transactions" in present:
        lo, hi = cur.execute(
            "select min(cast(order_ts as date)), max(cast(order_ts as date)) from transactions"
        ).fetchone()
        out["dates"] = [lo, hi]
        out["channels"] = [
            r[0]
            for r in cur.execute(
                "select distinct channel from transactions where channel is not null order by 1"
            ).fetchall()
        ]
    if "customers" in present:
        out["regions"] = [
            r[0]
            for r in cur.execute(
                "select distinct region from customers where region is not null order by 1"
            ).fetchall()
        ]
    return out
