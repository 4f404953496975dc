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
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from clm_core.config import period_days
from clm_core.store import query_df, require_table

__all__ = ["SUMMARY_COLUMNS", "as_of_default", "customer_summary", "summary_sql"]

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


def summary_sql() -> str:
    """The summary query (parameters ``$as_of`` DATE and ``$k`` days per period) for reuse."""
    return _SUMMARY_SQL


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
    days); the ``*_days`` columns in days; money in the dataset's currency.
    """
    require_table(con, "transactions", "the customer summary")
    as_of = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
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
