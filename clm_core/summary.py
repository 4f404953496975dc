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
from clm_core.store import cursor, get_setting, query_df, require_table, set_setting

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

# $as_of is a DATE: transactions on that day are included, later ones are not.
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
    where cast(order_ts as date) <= $as_of and customer_id is not null and amount is not null
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
    where cast(order_ts as date) <= $as_of and customer_id is not null and amount >= 0
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
# 1970-01-01); customers are keyed by a 64-bit hash of their id, checked to be collision-free.
# - lines: every purchase line (h, d, v), physically in (h, d) order: a plain scan returns
#   them in that order (DuckDB preserves insertion order), checked again when read;
# - returns: the return lines (h, d, v), in h order;
# - extra: per (customer, day), purchase lines that do not start an order (later lines of
#   an order with several lines), so orders up to a date = lines - extra up to that date;
# - customers: (h, customer_id, pos) in h order, pos = rank of customer_id (output order).
ROLLUP_SCHEMA = "_clm_rollup"
ROLLUP_KEY = "summary_rollup"  # dataset setting: format version and source signature
_ROLLUP_VERSION = 1
_ROLLUP_TABLES = ("lines", "returns", "extra", "customers")
_DAY = "cast(cast(order_ts as date) - date '1970-01-01' as integer)"
_ROLLUP_CUSTOMERS_SQL = """
create or replace table _clm_rollup.customers as
select hash(customer_id) as h, customer_id,
       cast(row_number() over (order by customer_id) - 1 as integer) as pos
from (select distinct customer_id from transactions where customer_id is not null)
order by h
"""
_ROLLUP_LINES_SQL = f"""
create or replace table _clm_rollup.lines as
select hash(customer_id) as h, {_DAY} as d, amount as v
from transactions
where customer_id is not null and order_ts is not null and amount >= 0
order by h, d
"""
_ROLLUP_RETURNS_SQL = f"""
create or replace table _clm_rollup.returns as
select hash(customer_id) as h, {_DAY} as d, amount as v
from transactions
where customer_id is not null and order_ts is not null and amount < 0
order by h
"""
# The (customer, order) keys of purchase lines, to find orders with several lines in numpy.
_ORDER_KEYS_SQL = """
select hash(customer_id, order_id) as k from transactions
where customer_id is not null and order_ts is not null and amount >= 0 and order_id is not null
"""
# Grouped by the real ids, so a hash collision costs time, never accuracy.
_ROLLUP_EXTRA_SQL = f"""
create or replace table _clm_rollup.extra as
with lines as (
    select customer_id, order_id, {_DAY} as d, count(*) as n
    from transactions
    where customer_id is not null and order_ts is not null and amount >= 0
      and order_id is not null and hash(customer_id, order_id) in (select k from _clm_multi)
    group by customer_id, order_id, d
)
select hash(customer_id) as h, d,
       cast(sum(n) - count(*) filter (where d = first_d) as integer) as n
from (select *, min(d) over (partition by customer_id, order_id) as first_d from lines)
group by customer_id, d
having sum(n) - count(*) filter (where d = first_d) > 0
order by h
"""
# Any change to the columns the summary reads changes the signature.
_SIGNATURE_SQL = (
    "select count(*), cast(sum(hash(customer_id, order_id, order_ts, amount)) as varchar) "
    "from transactions"
)
_ROLLUP_COLUMNS = {"customer_id", "order_id", "order_ts", "amount"}


def summary_sql() -> str:
    """The summary query (parameters ``$as_of`` DATE and ``$k`` days per period) for reuse.

    It reads ``transactions`` only (never the rollup), so a CTE or a filter's temp view named
    ``transactions`` changes what it summarises.
    """
    return _SUMMARY_SQL


def _transactions_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_name = 'transactions' "
        "and table_schema = 'main' and table_catalog = current_database()"
    ).fetchall()
    return {r[0] for r in rows}


def refresh_rollup(con: duckdb.DuckDBPyConnection) -> None:
    """Make the sorted rollup match ``transactions`` in a dataset being written.

    :func:`clm_core.store.write_dataset` calls this before every commit, so no file is written
    with a stale rollup. It is rebuilt only when the transactions changed (row count and a sum
    of row hashes, kept in the ``summary_rollup`` setting) and dropped when there is no usable
    transactions table or two customer ids share a hash.
    """
    if _ROLLUP_COLUMNS <= _transactions_columns(con):
        rows, signature = con.execute(_SIGNATURE_SQL).fetchone()
        stamp = {"version": _ROLLUP_VERSION, "rows": rows, "signature": signature}
        if _rollup_tables(con) == len(_ROLLUP_TABLES) and get_setting(con, ROLLUP_KEY) == stamp:
            return
        con.execute(f"create schema if not exists {ROLLUP_SCHEMA}")
        con.execute(_ROLLUP_CUSTOMERS_SQL)
        n, keys = con.execute(
            "select count(*), count(distinct h) from _clm_rollup.customers"
        ).fetchone()
        if n == keys:
            con.execute(_ROLLUP_LINES_SQL)
            con.execute(_ROLLUP_RETURNS_SQL)
            k = np.sort(con.sql(_ORDER_KEYS_SQL).to_arrow_table().column(0).to_numpy())
            multi = np.unique(k[1:][k[1:] == k[:-1]])
            if len(multi):
                con.register("_clm_multi", pd.DataFrame({"k": multi}))
                try:
                    con.execute(_ROLLUP_EXTRA_SQL)
                finally:
                    con.unregister("_clm_multi")
            else:  # every order has one purchase line (or no id): no line is extra
                con.execute(
                    "create or replace table _clm_rollup.extra (h ubigint, d integer, n integer)"
                )
            set_setting(con, ROLLUP_KEY, stamp)
            return
    if _rollup_tables(con) or get_setting(con, ROLLUP_KEY) is not None:
        con.execute(f"drop schema if exists {ROLLUP_SCHEMA} cascade")
        set_setting(con, ROLLUP_KEY, None)


def _rollup_tables(con: duckdb.DuckDBPyConnection) -> int:
    """How many of the rollup tables the current database has."""
    return con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = $schema and list_contains($tables, table_name)",
        {"schema": ROLLUP_SCHEMA, "tables": list(_ROLLUP_TABLES)},
    ).fetchone()[0]


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
    ).fetchone()[0]
    if shadowed or _rollup_tables(con) != len(_ROLLUP_TABLES):
        return False
    return con.execute("select count(*) from transactions").fetchone()[0] == stamp.get("rows")


def _fetch(con, table: str, columns: str, day: int) -> list[np.ndarray]:
    """Columns of a rollup table, rows with ``d <= day``, in stored order.

    Through Arrow (several times faster than ``fetchnumpy`` here); the day filter is applied
    in numpy, since an unfiltered scan is the cheapest and the default as-of keeps every row.
    """
    got = con.sql(f"select {columns}, d from _clm_rollup.{table}").to_arrow_table()
    arrays = [got.column(i).to_numpy() for i in range(got.num_columns)]
    d = arrays[-1]
    if len(d) and d.max() > day:
        keep = d <= day
        arrays = [a[keep] for a in arrays]
    return arrays


def _per_key(con, table: str, value: str, day: int) -> tuple[np.ndarray, ...]:
    """(keys, sums, counts) of ``value`` per h over a rollup table stored in h order."""
    h, x, _ = _fetch(con, table, f"h, {value}", day)
    if len(h) and not (h[1:] >= h[:-1]).all():
        order = np.argsort(h, kind="stable")
        h, x = h[order], x[order]
    if not len(h):
        return h, x.astype("float64"), np.zeros(0, "int64")
    starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]])
    return h[starts], np.add.reduceat(x, starts), np.diff(np.r_[starts, len(h)])


def _add_per_key(target: np.ndarray, keys: np.ndarray, per: tuple[np.ndarray, ...], which: int):
    """Add per-key values (``per[which]``) into ``target`` aligned with the sorted ``keys``."""
    k, values = per[0], per[which]
    if not len(k) or not len(keys):
        return
    at = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
    hit = keys[at] == k
    np.add.at(target, at[hit], values[hit])


def _summary_from_rollup(
    con: duckdb.DuckDBPyConnection, as_of: dt.date, k: float
) -> pd.DataFrame | None:
    """The summary from the sorted rollup; None when no customer has a purchase by ``as_of``."""
    # A cursor of its own: the relation API refuses a connection with an unfinished result.
    cur = cursor(con)
    try:
        return _rollup_frame(cur, (as_of - dt.date(1970, 1, 1)).days, k)
    finally:
        cur.close()


def _rollup_frame(con: duckdb.DuckDBPyConnection, day: int, k: float) -> pd.DataFrame | None:
    h, v, d = _fetch(con, "lines", "h, v", day)
    if not len(h):
        return None
    new_customer = h[1:] != h[:-1]
    in_order = (h[1:] > h[:-1]) | (~new_customer & (d[1:] >= d[:-1]))
    if not in_order.all():  # never seen: the scan kept the stored order
        order = np.lexsort((d, h))
        h, d, v = h[order], d[order], v[order]
        new_customer = h[1:] != h[:-1]
    new_day = new_customer | (d[1:] != d[:-1])
    day_start = np.flatnonzero(np.r_[True, new_day])
    day_value = np.add.reduceat(v, day_start)
    day_d = d[day_start]
    cust_of_day = np.r_[True, new_customer][day_start]
    first = np.flatnonzero(cust_of_day)  # first day of each customer, in day rows
    n_days = np.diff(np.r_[first, len(day_start)])
    last = first + n_days - 1
    keys = h[day_start[first]]
    first_d, last_d = day_d[first].astype("int64"), day_d[last].astype("int64")
    total = np.add.reduceat(day_value, first)
    first_value = day_value[first]
    line_start = day_start[first]
    orders = np.diff(np.r_[line_start, len(h)]).astype("int64")
    revenue = total.copy()
    returns = np.zeros(len(keys), "int64")
    ret = _per_key(con, "returns", "v", day)
    _add_per_key(revenue, keys, ret, 1)
    _add_per_key(returns, keys, ret, 2)
    extra = _per_key(con, "extra", "n", day)
    extra_n = np.zeros(len(keys), "int64")
    _add_per_key(extra_n, keys, extra, 1)
    orders -= extra_n

    # The ids stay in Arrow (no Python strings until pandas needs them).
    cust = con.sql("select h, pos, customer_id from _clm_rollup.customers").to_arrow_table()
    ch = cust.column("h").to_numpy()
    at = np.searchsorted(ch, keys)
    if at.max() >= len(ch) or not (ch[at] == keys).all():
        raise QueryError("The summary rollup is inconsistent; reload the dataset.")
    out_order = np.argsort(cust.column("pos").to_numpy()[at], kind="stable")
    ids = cust.column("customer_id").take(pa.array(at[out_order]))
    repeat = n_days - 1
    span = last_d - first_d
    tenure = day - first_d
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = {
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
            "returns": returns,
        }
    df = pd.DataFrame({c: a[out_order] for c, a in columns.items()})
    df.insert(0, "customer_id", pd.Series(ids.to_pandas(), dtype="str"))
    return df


def as_of_default(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The last transaction date: the natural 'today' of a historical dataset."""
    require_table(con, "transactions", "the customer summary")
    row = con.execute("select max(cast(order_ts as date)) from transactions").fetchone()
    if row is None or row[0] is None:
        from clm_core.errors import NotEnoughData

        raise NotEnoughData("The transactions table is empty.")
    return row[0]


def customer_summary(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "D",
) -> pd.DataFrame:
    """One row per customer with a purchase on or before ``as_of`` (default: last date).

    Units: ``recency`` and ``T`` in ``period`` units (D days, W weeks, M months of 365.25/12
    days); the ``*_days`` columns in days; money in the dataset's currency. Reads the dataset's
    sorted rollup when it is current and the data unfiltered, else the transactions.
    """
    require_table(con, "transactions", "the customer summary")
    as_of = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    if _rollup_usable(con):
        try:
            df = _summary_from_rollup(con, as_of, period_days(period))
        except duckdb.Error as e:
            raise QueryError(f"Query failed: {e}") from e
        if df is not None:
            return df[SUMMARY_COLUMNS]
    df = query_df(
        con,
        _SUMMARY_SQL + " order by p.customer_id",
        {"as_of": as_of, "k": period_days(period)},
    )
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col])
    df["orders"] = df["orders"].astype("int64")
    df["returns"] = df["returns"].astype("int64")
    return df[SUMMARY_COLUMNS]
