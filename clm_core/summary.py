"""The per-customer summary every other analysis starts from (one SQL pass in DuckDB).

``frequency``, ``recency``, ``T`` and ``monetary_value`` follow exactly
``lifetimes.utils.summary_data_from_transaction_data(..., freq="D", freq_multiplier=k)`` with
k = 1, 7 or 365.25/12 days for period D, W or M:

- purchases on the same day are combined into one purchase period;
- ``frequency`` = number of purchase days - 1 (repeat purchases);
- ``recency`` = days between first and last purchase day / k; ``T`` = days from first purchase
  day to the as-of date / k (no rounding: CDNow customer 4 gives 30.43 and 38.86 weeks);
- ``monetary_value`` = mean value of the repeat purchase days (the first day excluded), 0 when
  there is no repeat purchase.

Rows with a non-negative amount are purchases (a zero-amount order, e.g. a free sample, is still
a purchase: lifetimes counts it, and so does the published CDNow summary, whose 2,357 customers
include eight whose only order was worth 0). Negative amounts are returns: they are netted into
``revenue`` and counted in ``returns`` but never create a purchase period.

Two ways to the same answer: :data:`_SUMMARY_SQL` over ``transactions`` (any view of them, e.g. a
filtered cursor), and, on an unfiltered dataset file, one ordered scan of the purchase lines
that :func:`refresh_rollup` keeps sorted by customer and day with the file (numpy finds the day
and customer boundaries; no hash aggregation at query time).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from clm_core.config import period_days
from clm_core.errors import QueryError
from clm_core.store import column_names, cursor, get_setting, query_df, require_table, set_setting

__all__ = ["SUMMARY_COLUMNS", "as_of_default", "customer_summary", "refresh_rollup", "summary_sql"]

SUMMARY_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "orders",
    "revenue",
    "first_purchase",
    "last_purchase",
    "days_since_last",
    "avg_order_value",
    "avg_interpurchase_days",
    "tenure_days",
    "returns",
]

# $as_of is a DATE: transactions on that day are included, later ones are not. {since} is
# empty, or _SINCE for a date range that starts at $date_from (a DATE, included).
# Two hash aggregations over the transactions: per (customer, day) for the purchase periods,
# revenue and returns, and per customer for the number of distinct orders. Both are needed;
# a per-day count(distinct order_id), per-customer lists (list_distinct) or a shared CTE were
# each slower in DuckDB 2.0 (measured with bench/bench_summary.py at 1M transactions).
_SUMMARY_SQL = """
with days as (
    select customer_id, cast(order_ts as date) as d,
           sum(amount) filter (where amount >= 0) as day_value,
           sum(amount) as day_net,
           count(*) filter (where amount < 0) as day_returns
    from transactions
    where cast(order_ts as date) <= $as_of{since} and customer_id is not null
      and amount is not null
    group by customer_id, d
),
per_customer as (
    select customer_id,
           min(d) filter (where day_value is not null) as first_d,
           max(d) filter (where day_value is not null) as last_d,
           count(day_value) as n_days,
           sum(day_value) as total_value,
           arg_min(day_value, d) filter (where day_value is not null) as first_value,
           sum(day_net) as revenue,
           sum(day_returns) as returns
    from days group by customer_id
    having count(day_value) > 0
),
order_counts as (
    select customer_id,
           count(distinct order_id) + count(*) filter (where order_id is null) as orders
    from transactions
    where cast(order_ts as date) <= $as_of{since} and customer_id is not null and amount >= 0
    group by customer_id
)
select p.customer_id,
       cast(p.n_days - 1 as double) as frequency,
       date_diff('day', p.first_d, p.last_d) / $k as recency,
       date_diff('day', p.first_d, $as_of) / $k as "T",
       case when p.n_days > 1 then (p.total_value - p.first_value) / (p.n_days - 1) else 0.0 end
           as monetary_value,
       o.orders,
       p.revenue,
       p.first_d as first_purchase,
       p.last_d as last_purchase,
       date_diff('day', p.last_d, $as_of) as days_since_last,
       p.revenue / nullif(o.orders, 0) as avg_order_value,
       case when p.n_days > 1 then date_diff('day', p.first_d, p.last_d) / (p.n_days - 1) end
           as avg_interpurchase_days,
       date_diff('day', p.first_d, $as_of) as tenure_days,
       p.returns
from per_customer p join order_counts o using (customer_id)
"""


# The sorted rollup, written with the dataset by refresh_rollup (store.write_dataset calls it
# before every commit). It lives in its own schema: the canonical tables' listings show schema
# ``main`` only, and no temp view can shadow a qualified name. Days are integers (days since
# 1970-01-01); customers are numbered 0.. in customer_id order (``p``), the summary's order.
# - customer_keys: (p, customer_id), usually in p order (the window's), else sorted when read;
# - lines: every transaction line with a customer, a date and an amount (p, d, v): first the
#   purchases in (p, d) order, then the returns (v < 0) in (p, d) order, physically: a plain
#   scan returns them in that order (DuckDB preserves insertion order), checked when read;
# - extra: per (customer, day), the purchase lines past the first of orders whose lines are all
#   on that day, so such orders in a date range = their purchase lines - extra in the range;
# - spans: the orders whose lines fall on several days (rare: an order past midnight), per
#   order number ``o`` and day the purchase lines ``n``, in (o, d) order: each such order counts
#   once if it has a line in the range, wherever the range starts.
ROLLUP_SCHEMA = "_clm_rollup"
ROLLUP_KEY = "summary_rollup"  # dataset setting: format version and source signature
_ROLLUP_VERSION = 5
_ROLLUP_TABLES = ("customer_keys", "lines", "extra", "spans")
_DAY = "cast(cast(order_ts as date) - date '1970-01-01' as integer)"
# One scan for a rebuild: per customer id (NULL too) the sum of its rows' hashes (see
# _SIGNATURE_SQL), so the signature and the customer numbering share the pass.
_ROLLUP_GROUPS_SQL = """
create temp table _clm_rollup_groups as
select customer_id, sum(hash(customer_id, order_id, order_ts, amount)) as h
from transactions group by customer_id
"""
_GROUPS_SIGNATURE_SQL = "select cast(sum(h) as varchar) from _clm_rollup_groups"
_ROLLUP_CUSTOMERS_SQL = """
create or replace table _clm_rollup.customer_keys as
select cast(row_number() over (order by customer_id) - 1 as integer) as p, customer_id
from _clm_rollup_groups where customer_id is not null
"""
_ROLLUP_LINES_SQL = f"""
create or replace table _clm_rollup.lines as
select c.p, {_DAY} as d, t.amount as v
from transactions t join _clm_rollup.customer_keys c using (customer_id)
where t.order_ts is not null and t.amount is not null
order by t.amount < 0, c.p, d
"""
# The (customer, order) keys of purchase lines, to find orders with several lines in numpy.
_ORDER_KEYS_SQL = """
select hash(customer_id, order_id) as k from transactions
where customer_id is not null and order_ts is not null and amount >= 0 and order_id is not null
"""
# Per (customer, order, day) the purchase lines of orders with several lines, and whether the
# order keeps to one day. Grouped by the real ids, so a hash collision costs time, never
# accuracy.
_ROLLUP_ORDER_DAYS_SQL = f"""
create temp table _clm_order_days as
select customer_id, order_id, d, n, min(d) over w = max(d) over w as one_day
from (
    select customer_id, order_id, {_DAY} as d, count(*) as n
    from transactions
    where customer_id is not null and order_ts is not null and amount >= 0
      and order_id is not null and hash(customer_id, order_id) in (select k from _clm_multi)
    group by customer_id, order_id, d
)
window w as (partition by customer_id, order_id)
"""
_ROLLUP_EXTRA_SQL = """
create or replace table _clm_rollup.extra as
select c.p, e.d, cast(sum(e.n - 1) as integer) as n
from _clm_order_days e join _clm_rollup.customer_keys c using (customer_id)
where e.one_day and e.n > 1
group by c.p, e.d
"""
_ROLLUP_SPANS_SQL = """
create or replace table _clm_rollup.spans as
select c.p, cast(dense_rank() over (order by c.p, e.order_id) as integer) as o, e.d,
       cast(e.n as integer) as n
from _clm_order_days e join _clm_rollup.customer_keys c using (customer_id)
where not e.one_day
order by o, e.d
"""
# Any change to the columns the summary reads changes the signature (the sum of 64-bit row
# hashes: a change that keeps it needs a hash collision). _ROLLUP_GROUPS_SQL sums the same
# hashes per customer, so its total is the same number.
_SIGNATURE_SQL = (
    "select cast(sum(hash(customer_id, order_id, order_ts, amount)) as varchar) from transactions"
)
_ROLLUP_COLUMNS = {"customer_id", "order_id", "order_ts", "amount"}


_SINCE = " and cast(order_ts as date) >= $date_from"


def summary_sql(*, since: bool = False) -> str:
    """The summary query (parameters ``$as_of`` DATE and ``$k`` days per period) for reuse;
    with ``since``, also ``$date_from`` DATE: only transactions from that day on count.

    It reads ``transactions`` only (never the rollup), so a CTE or a filter's temp view named
    ``transactions`` changes what it summarises.
    """
    return _SUMMARY_SQL.format(since=_SINCE if since else "")


def refresh_rollup(con: duckdb.DuckDBPyConnection) -> None:
    """Make the sorted rollup match ``transactions`` in a dataset being written.

    :func:`clm_core.store.write_dataset` calls this before every commit, so no file is written
    with a stale rollup. It is rebuilt only when the transactions changed (row count and a sum
    of row hashes, kept in the ``summary_rollup`` setting) and dropped when there is no usable
    transactions table.
    """
    # The connection is closed right after; no progress bars on the caller's stdout.
    con.execute("set enable_progress_bar_print = false")
    if _ROLLUP_COLUMNS <= column_names(con, "transactions"):
        rows = con.execute("select count(*) from transactions").fetchone()[0]
        old = get_setting(con, ROLLUP_KEY)
        current = {"version": _ROLLUP_VERSION, "rows": rows}
        # The signature scan is needed only when the cheap checks pass (same format and row
        # count: e.g. a write that changed no transactions); else a rebuild is certain and the
        # rebuild's own scan computes the signature.
        if (
            isinstance(old, dict)
            and {k: old.get(k) for k in current} == current
            and _rollup_tables(con) == len(_ROLLUP_TABLES)
            and old == {**current, "signature": con.execute(_SIGNATURE_SQL).fetchone()[0]}
        ):
            return
        con.execute(f"drop schema if exists {ROLLUP_SCHEMA} cascade")  # older formats too
        con.execute(f"create schema {ROLLUP_SCHEMA}")
        con.execute(_ROLLUP_GROUPS_SQL)
        try:
            stamp = {**current, "signature": con.execute(_GROUPS_SIGNATURE_SQL).fetchone()[0]}
            con.execute(_ROLLUP_CUSTOMERS_SQL)
        finally:
            con.execute("drop table _clm_rollup_groups")
        con.execute(_ROLLUP_LINES_SQL)
        k = np.sort(con.sql(_ORDER_KEYS_SQL).to_arrow_table().column(0).to_numpy())
        multi = np.unique(k[1:][k[1:] == k[:-1]])
        if len(multi):
            con.register("_clm_multi", pd.DataFrame({"k": multi}))
            try:
                con.execute(_ROLLUP_ORDER_DAYS_SQL)
                con.execute(_ROLLUP_EXTRA_SQL)
                con.execute(_ROLLUP_SPANS_SQL)
            finally:
                con.unregister("_clm_multi")
                con.execute("drop table if exists _clm_order_days")
        else:  # every order has one purchase line (or no id): no line is extra
            con.execute("create table _clm_rollup.extra (p integer, d integer, n integer)")
            con.execute(
                "create table _clm_rollup.spans (p integer, o integer, d integer, n integer)"
            )
        set_setting(con, ROLLUP_KEY, stamp)
        return
    if _rollup_tables(con) or get_setting(con, ROLLUP_KEY) is not None:
        con.execute(f"drop schema if exists {ROLLUP_SCHEMA} cascade")
        set_setting(con, ROLLUP_KEY, None)


def _rollup_tables(con: duckdb.DuckDBPyConnection) -> int:
    """How many of the rollup tables the current database has. (The reads here fetch all rows:
    a result left unfinished makes DuckDB refuse the caller's next ``register``.)"""
    return con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = $schema and list_contains($tables, table_name)",
        {"schema": ROLLUP_SCHEMA, "tables": list(_ROLLUP_TABLES)},
    ).fetchall()[0][0]


def _rollup_usable(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the dataset has a current rollup and ``transactions`` is its own table.

    A filtered cursor (:func:`clm_core.filters.apply_filters`) shadows ``transactions`` with a
    temp view or table: the rollup describes the unfiltered data, so it is not used there.
    Files written before the rollup existed, in-memory datasets and another format version fall
    back to the query over the transactions. The row count is a last guard against a file
    changed without :func:`clm_core.store.write_dataset`.
    """
    stamp = get_setting(con, ROLLUP_KEY)
    if not isinstance(stamp, dict) or stamp.get("version") != _ROLLUP_VERSION:
        return False
    shadowed = con.execute(
        "select (select count(*) from duckdb_tables() where temporary and table_name = "
        "'transactions') + (select count(*) from duckdb_views() where temporary and "
        "view_name = 'transactions')"
    ).fetchall()[0][0]
    if shadowed or _rollup_tables(con) != len(_ROLLUP_TABLES):
        return False
    return con.execute("select count(*) from transactions").fetchall()[0][0] == stamp.get("rows")


def _fetch(con, table: str, columns: str) -> list[np.ndarray]:
    """Columns of a rollup table in stored order, through Arrow (several times faster than
    ``fetchnumpy`` for millions of rows)."""
    got = con.sql(f"select {columns} from _clm_rollup.{table}").to_arrow_table()
    return [got.column(i).to_numpy() for i in range(got.num_columns)]


def _summary_from_rollup(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, k: float, date_from: dt.date | None = None
) -> pd.DataFrame | None:
    """The summary from the sorted rollup; None when no customer has a purchase by ``as_of``
    (from ``date_from`` on, when given)."""
    epoch = dt.date(1970, 1, 1)
    since = None if date_from is None else (date_from - epoch).days
    # A cursor of its own: the relation API refuses a connection with an unfinished result.
    cur = cursor(con)
    try:
        return _rollup_frame(cur, (as_of - epoch).days, k, since)
    finally:
        cur.close()


def _in_range(d: np.ndarray, day: int, since: int | None) -> np.ndarray | None:
    """Mask of the days ``since``..``day`` (both included), or None when every day is in."""
    if not len(d):
        return None
    late = d.max() > day
    early = since is not None and d.min() < since
    if not (late or early):
        return None
    if not early:
        return d <= day
    if not late:
        return d >= since
    return (d >= since) & (d <= day)


def _orders_in_range(
    con: duckdb.DuckDBPyConnection, day: int, since: int | None, n_customers: int
) -> np.ndarray:
    """Per customer number, what to subtract from the purchase lines in the range to count its
    orders: the lines past the first of each order (see the rollup's ``extra`` and ``spans``)."""
    from clm_core.lifecycle import run_starts  # lifecycle builds on this module

    less = np.zeros(n_customers)
    ep, ed, en = _fetch(con, "extra", "p, d, n")
    keep = _in_range(ed, day, since)
    if keep is not None:
        ep, en = ep[keep], en[keep]
    less += np.bincount(ep, weights=en, minlength=n_customers)
    sp, so, sd, sn = _fetch(con, "spans", "p, o, d, n")
    if (so[1:] < so[:-1]).any():  # an order's rows together (stored so; never seen otherwise)
        order = np.argsort(so, kind="stable")
        sp, so, sd, sn = sp[order], so[order], sd[order], sn[order]
    keep = _in_range(sd, day, since)
    if keep is not None:
        sp, so, sn = sp[keep], so[keep], sn[keep]
    # An order over several days: all its lines in the range, less one.
    less += np.bincount(sp, weights=sn, minlength=n_customers)
    less -= np.bincount(sp[run_starts(so)], minlength=n_customers)
    return less.astype("int64")


def _rollup_frame(
    con: duckdb.DuckDBPyConnection, day: int, k: float, since: int | None = None
) -> pd.DataFrame | None:
    p, d, v = _fetch(con, "lines", "p, d, v")
    returned = v < 0
    split = int(np.searchsorted(returned, True))  # purchases, then returns, as stored
    if returned[:split].any() or not returned[split:].all():  # never seen: order not kept
        order = np.lexsort((d, p, v < 0))
        p, d, v = p[order], d[order], v[order]
        split = int(np.searchsorted(v < 0, True))
    n_customers = int(p.max()) + 1 if len(p) else 0
    rp, rd, rv = p[split:], d[split:], v[split:]
    p, d, v = p[:split], d[:split], v[:split]  # views, no copies
    keep = _in_range(rd, day, since)  # an earlier as-of date or a range: drop the rest
    if keep is not None:
        rp, rv = rp[keep], rv[keep]
    keep = _in_range(d, day, since)
    if keep is not None:
        p, d, v = p[keep], d[keep], v[keep]
    # Returns are netted into revenue and counted, whatever the day, per customer number.
    return_sum = np.bincount(rp, weights=rv, minlength=n_customers)
    return_count = np.bincount(rp, minlength=n_customers)
    if not len(p):
        return None
    if not ((p[1:] > p[:-1]) | ((p[1:] == p[:-1]) & (d[1:] >= d[:-1]))).all():
        order = np.lexsort((d, p))  # never seen, as above
        p, d, v = p[order], d[order], v[order]
    new_customer = p[1:] != p[:-1]
    day_start = np.flatnonzero(np.r_[True, new_customer | (d[1:] != d[:-1])])
    day_value = np.add.reduceat(v, day_start)
    day_d = d[day_start]
    first = np.flatnonzero(np.r_[True, new_customer][day_start])  # each customer's first day
    n_days = np.diff(np.r_[first, len(day_start)])
    keys = p[day_start[first]]
    first_d = day_d[first].astype("int64")
    last_d = day_d[first + n_days - 1].astype("int64")
    total = np.add.reduceat(day_value, first)
    first_value = day_value[first]
    lines = np.diff(np.r_[day_start[first], len(p)]).astype("int64")
    orders = lines - _orders_in_range(con, day, since, n_customers)[keys]
    revenue = total + return_sum[keys]
    ids = con.sql("select p, customer_id from _clm_rollup.customer_keys").to_arrow_table()
    if not np.array_equal(ids.column("p").to_numpy(), np.arange(ids.num_rows)):
        ids = ids.sort_by("p")
    if ids.num_rows < n_customers:
        raise QueryError("The summary rollup is inconsistent; reload the dataset.")
    repeat = n_days - 1
    span = last_d - first_d
    tenure = day - first_d
    with np.errstate(divide="ignore", invalid="ignore"):
        df = pd.DataFrame(
            {
                "frequency": repeat.astype("float64"),
                "recency": span / k,
                "T": tenure / k,
                "monetary_value": np.where(repeat > 0, (total - first_value) / repeat, 0.0),
                "orders": orders,
                "revenue": revenue,
                "first_purchase": first_d.astype("datetime64[D]").astype("datetime64[us]"),
                "last_purchase": last_d.astype("datetime64[D]").astype("datetime64[us]"),
                "days_since_last": day - last_d,
                "avg_order_value": np.where(orders > 0, revenue / orders, np.nan),
                "avg_interpurchase_days": np.where(repeat > 0, span / repeat, np.nan),
                "tenure_days": tenure,
                "returns": return_count[keys].astype("int64"),
            }
        )
    customer_id = ids.column("customer_id").take(pa.array(keys))
    df.insert(0, "customer_id", pd.Series(customer_id.to_pandas(), dtype="str"))
    return df


def as_of_default(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The last transaction date: the natural 'today' of a historical dataset."""
    require_table(con, "transactions", "the customer summary")
    row = con.execute("select max(cast(order_ts as date)) from transactions").fetchall()[0]
    if row is None or row[0] is None:
        from clm_core.errors import NotEnoughData

        raise NotEnoughData("The transactions table is empty.")
    return row[0]


def customer_summary(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "D",
    date_from: dt.date | str | None = None,
) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``as_of`` (default: last date), and on
    or after ``date_from`` when given: the summary of a date range's transactions, the same as
    on a cursor whose date filter is ``date_from``..``as_of``.

    Units: ``recency`` and ``T`` in ``period`` units (D days, W weeks, M months of 365.25/12
    days); the ``*_days`` columns in days; money in the dataset's currency. Reads the dataset's
    sorted rollup when it is current and the data unfiltered, else the transactions.
    """
    require_table(con, "transactions", "the customer summary")
    as_of = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    if date_from is not None:
        date_from = pd.Timestamp(date_from).date()
    if _rollup_usable(con):
        try:
            df = _summary_from_rollup(con, as_of, period_days(period), date_from)
        except duckdb.Error as e:
            raise QueryError(f"Query failed: {e}") from e
        if df is not None:
            return df[SUMMARY_COLUMNS]
    params = {"as_of": as_of, "k": period_days(period)}
    if date_from is not None:
        params["date_from"] = date_from
    df = query_df(con, summary_sql(since=date_from is not None) + " order by p.customer_id", params)
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col])
    df["orders"] = df["orders"].astype("int64")
    df["returns"] = df["returns"].astype("int64")
    return df[SUMMARY_COLUMNS]
