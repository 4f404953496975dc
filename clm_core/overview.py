"""Monday-morning KPIs: this period against the one before, and the monthly trend.

Definitions (period = the ``days`` days ending on ``as_of``, previous = the ``days`` before it):

- active customers: customers with a purchase (amount > 0) in the period;
- new customers: active customers whose first purchase ever falls in the period;
- churned customers: customers whose silence crossed ``churn_days`` (default: the 90th
  percentile of gaps between purchases) during the period,
  i.e. last purchase + churn_days falls in the period and they did not buy again since;
- revenue: net amount in the period (returns deducted); ARPU = revenue / active customers;
- repeat rate: share of active customers who had bought before the period;
- churn rate: churned / customers still alive (last purchase within churn_days) at period start.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import pandas as pd

from clm_core.store import query_df, require_table
from clm_core.summary import as_of_default

__all__ = ["KPI_ORDER", "Kpi", "default_churn_days", "kpis", "lifecycle_snapshot", "monthly_trend"]

KPI_ORDER = (
    "Active customers",
    "New customers",
    "Churned customers",
    "Revenue",
    "ARPU",
    "Repeat rate",
    "Churn rate",
)


@dataclass(frozen=True)
class Kpi:
    name: str
    current: float
    previous: float
    unit: str  # "count", "money" or "share"

    @property
    def change(self) -> float | None:
        """Relative change vs the previous period (None when the previous value is 0)."""
        if not self.previous:
            return None
        return (self.current - self.previous) / abs(self.previous)


_PERIOD_SQL = """
with purchases as (
    select customer_id, cast(order_ts as date) as d, amount
    from transactions where amount > 0 and cast(order_ts as date) <= $end
),
firsts as (select customer_id, min(d) as first_d from purchases group by customer_id),
last_before as (  -- last purchase strictly before the period start
    select customer_id, max(d) as last_d from purchases where d < $start group by customer_id
),
in_period as (select distinct customer_id from purchases where d between $start and $end),
revenue as (
    select coalesce(sum(amount), 0) as revenue from transactions
    where cast(order_ts as date) between $start and $end
)
select
    (select count(*) from in_period) as active,
    (select count(*) from firsts where first_d between $start and $end) as new,
    (select count(*) from last_before lb
       where lb.last_d + cast($churn_days as integer) between $start and $end
         and lb.customer_id not in (
            select customer_id from purchases
            where d >= $start and d < lb.last_d + cast($churn_days as integer)
         )) as churned,
    (select revenue from revenue) as revenue,
    (select count(*) from in_period p join firsts f using (customer_id) where f.first_d < $start)
        as returning,
    (select count(*) from last_before where last_d > $start - cast($churn_days as integer))
        as alive_at_start
"""


def default_churn_days(con: duckdb.DuckDBPyConnection) -> int:
    """The gap within which 90% of repeat purchases happen, kept between 30 and 365 days.

    A customer silent for longer than that is unlikely to be just between two orders.
    """
    row = con.execute(
        """
        with days as (select distinct customer_id, cast(order_ts as date) as d
                      from transactions where amount > 0),
        gaps as (select date_diff('day', lag(d) over (partition by customer_id order by d), d) as g
                 from days)
        select quantile_cont(g, 0.9) from gaps where g is not null
        """
    ).fetchone()
    p90 = row[0] if row and row[0] is not None else 90
    return int(min(365, max(30, round(float(p90)))))


def _period(con, start: dt.date, end: dt.date, churn_days: int) -> dict:
    df = query_df(con, _PERIOD_SQL, {"start": start, "end": end, "churn_days": churn_days})
    r = df.iloc[0].to_dict()
    active = float(r["active"])
    return {
        "Active customers": active,
        "New customers": float(r["new"]),
        "Churned customers": float(r["churned"]),
        "Revenue": float(r["revenue"]),
        "ARPU": float(r["revenue"]) / active if active else 0.0,
        "Repeat rate": float(r["returning"]) / active if active else 0.0,
        "Churn rate": float(r["churned"]) / float(r["alive_at_start"])
        if r["alive_at_start"]
        else 0.0,
    }


_UNITS = {
    "Revenue": "money",
    "ARPU": "money",
    "Repeat rate": "share",
    "Churn rate": "share",
}


def kpis(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    days: int = 30,
    churn_days: int | None = None,
) -> list[Kpi]:
    """KPIs for the ``days`` days ending on ``as_of`` (default last transaction date)."""
    require_table(con, "transactions", "the overview")
    end = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    churn_days = churn_days or default_churn_days(con)
    start = end - dt.timedelta(days=days - 1)
    prev_end = start - dt.timedelta(days=1)
    prev_start = prev_end - dt.timedelta(days=days - 1)
    cur = _period(con, start, end, churn_days)
    prev = _period(con, prev_start, prev_end, churn_days)
    return [Kpi(k, cur[k], prev[k], _UNITS.get(k, "count")) for k in KPI_ORDER]


_TREND_SQL = """
select date_trunc('month', order_ts) as month,
       count(distinct customer_id) filter (where amount > 0) as active_customers,
       sum(amount) as revenue,
       count(*) filter (where amount > 0) as orders
from transactions
where cast(order_ts as date) <= $end
group by 1 order by 1
"""


def monthly_trend(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Revenue, orders and active customers per calendar month up to ``as_of``."""
    require_table(con, "transactions", "the overview")
    end = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    df = query_df(con, _TREND_SQL, {"end": end})
    df["month"] = pd.to_datetime(df["month"])
    return df


def lifecycle_snapshot(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Customers per lifecycle stage at ``as_of`` (the Lifecycle page's definitions)."""
    from clm_core import lifecycle

    return lifecycle.stage_summary(lifecycle.stage_details(con, as_of=as_of))
