"""Cohort retention: customers grouped by the month or week of their first purchase.

A customer joins the cohort of the period (calendar month, or ISO week starting Monday) of their
first purchase (first day with an order of amount >= 0, on or before ``as_of``). For every
cohort and every period since then, up to the period containing ``as_of`` (which may be
partial):

- ``customers``: cohort members with a purchase (amount >= 0) in that period; ``retention`` =
  customers / cohort size (1.0 in period 0 by construction);
- ``revenue``: net amount (returns included) of the cohort's members in that period;
  ``revenue_retention`` = revenue / revenue in period 0;
- ``cumulative_revenue_per_customer``: revenue of periods 0..p divided by the cohort size, the
  empirical lifetime-value curve.

``period`` counts periods since the first purchase; ``calendar_period`` is the start date of
that period on the calendar. Periods without any activity are present with zeros. With
``by_channel=True`` cohorts are split by ``customers.acquisition_channel`` (customers without a
row or a channel go to "(unknown)"). Computed in one SQL query.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from clm_core.errors import NotEnoughData, UsageError
from clm_core.i18n import translate
from clm_core.store import query_df, require_table
from clm_core.summary import as_of_default

__all__ = [
    "COHORT_COLUMNS",
    "TAKEAWAY_TEXT",
    "UNKNOWN_CHANNEL",
    "cohort_table",
    "retention_curves",
    "takeaway_channels",
    "takeaway_curve",
    "takeaway_heatmap",
    "takeaway_ltv",
]

UNKNOWN_CHANNEL = "(unknown)"
COHORT_COLUMNS = [
    "cohort",
    "period",
    "calendar_period",
    "cohort_size",
    "customers",
    "retention",
    "revenue",
    "revenue_retention",
    "cumulative_revenue_per_customer",
]

# unit: date_trunc unit; step: one period as an interval; diff: periods between two starts.
_FREQ = {
    "M": ("month", "interval 1 month", "date_diff('month', {a}, {b})"),
    "W": ("week", "interval 7 day", "date_diff('day', {a}, {b}) // 7"),
}

_COHORT_SQL = """
with tx as (
    select customer_id, cast(date_trunc('{unit}', order_ts) as date) as p, amount
    from transactions
    where customer_id is not null and amount is not null
      and cast(order_ts as date) <= $as_of
),
members as (
    select customer_id, min(p) as cohort from tx where amount >= 0 group by customer_id
),
grp as (
    select m.customer_id, m.cohort, {channel} as channel
    from members m {join_customers}
),
activity as (
    select customer_id, p, bool_or(amount >= 0) as purchased, sum(amount) as revenue
    from tx group by customer_id, p
),
sizes as (
    select channel, cohort, count(*) as cohort_size from grp group by channel, cohort
),
grid as (
    select channel, cohort, cohort_size,
           unnest(range(0, {diff_last} + 1)) as period
    from sizes
),
cells as (
    select g.channel, g.cohort, {diff_cell} as period,
           count(*) filter (where a.purchased) as customers,
           sum(a.revenue) as revenue
    from activity a join grp g using (customer_id)
    where a.p >= g.cohort
    group by 1, 2, 3
),
filled as (
    select grid.channel, grid.cohort, grid.period,
           cast(grid.cohort + grid.period * {step} as date) as calendar_period,
           grid.cohort_size,
           coalesce(cells.customers, 0) as customers,
           coalesce(cells.revenue, 0.0) as revenue
    from grid left join cells
      on cells.channel is not distinct from grid.channel
     and cells.cohort = grid.cohort and cells.period = grid.period
)
select channel, cohort, period, calendar_period, cohort_size, customers,
       customers / cohort_size as retention,
       revenue,
       revenue / nullif(first_value(revenue) over w, 0) as revenue_retention,
       sum(revenue) over (w rows between unbounded preceding and current row) / cohort_size
           as cumulative_revenue_per_customer
from filled
window w as (partition by channel, cohort order by period)
order by channel, cohort, period
"""


def cohort_table(
    con: duckdb.DuckDBPyConnection,
    *,
    freq: str = "M",
    by_channel: bool = False,
    as_of=None,
) -> pd.DataFrame:
    """Long cohort table, one row per (cohort, period) (and channel when ``by_channel``).

    ``freq``: ``M`` calendar months or ``W`` ISO weeks. Columns: [channel,] cohort (period start
    date), period, calendar_period, cohort_size, customers, retention, revenue,
    revenue_retention, cumulative_revenue_per_customer. Units: retention as fractions, revenue
    in the dataset's currency.
    """
    if freq not in _FREQ:
        raise UsageError(f"freq must be M (months) or W (weeks), not {freq!r}.")
    require_table(con, "transactions", "cohort retention")
    as_of = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    unit, step, diff = _FREQ[freq]
    if by_channel:
        require_table(con, "customers", "cohorts by acquisition channel")
        channel = "coalesce(c.acquisition_channel, $unknown)"
        join_customers = (
            "left join (select customer_id, any_value(acquisition_channel) as "
            "acquisition_channel from customers group by customer_id) c using (customer_id)"
        )
    else:
        channel, join_customers = "cast(null as varchar)", ""
    sql = _COHORT_SQL.format(
        unit=unit,
        step=step,
        channel=channel,
        join_customers=join_customers,
        diff_last=diff.format(a="cohort", b=f"cast(date_trunc('{unit}', $as_of) as date)"),
        diff_cell=diff.format(a="g.cohort", b="a.p"),
    )
    params = {"as_of": as_of}
    if by_channel:
        params["unknown"] = UNKNOWN_CHANNEL
    df = query_df(con, sql, params)
    if df.empty:
        raise NotEnoughData("No purchases on or before the chosen date, so there are no cohorts.")
    for col in ("cohort", "calendar_period"):
        df[col] = pd.to_datetime(df[col])
    for col in ("period", "cohort_size", "customers"):
        df[col] = df[col].astype("int64")
    cols = (["channel"] if by_channel else []) + COHORT_COLUMNS
    return df[cols]


def retention_curves(table: pd.DataFrame, *, by: str | None = None) -> pd.DataFrame:
    """Average curves over cohorts, weighted by cohort size, for every period since first purchase.

    Only cohorts old enough to have reached a period count for it. Columns: [by,] period,
    cohorts, customers_base (members of those cohorts), retention, revenue_retention
    (revenue / the same cohorts' period-0 revenue), cumulative_revenue_per_customer.
    ``table`` is the output of :func:`cohort_table`.
    """
    keys = ([by] if by else []) + ["period"]
    t = table.assign(
        revenue0=table.groupby(([by] if by else []) + ["cohort"])["revenue"].transform("first"),
        cum_revenue=table["cumulative_revenue_per_customer"] * table["cohort_size"],
    )
    g = t.groupby(keys, sort=True).agg(
        cohorts=("cohort", "size"),
        customers_base=("cohort_size", "sum"),
        active=("customers", "sum"),
        revenue=("revenue", "sum"),
        revenue0=("revenue0", "sum"),
        cum_revenue=("cum_revenue", "sum"),
    )
    out = pd.DataFrame(
        {
            "cohorts": g["cohorts"],
            "customers_base": g["customers_base"],
            "retention": g["active"] / g["customers_base"],
            "revenue_retention": g["revenue"] / g["revenue0"].where(g["revenue0"] != 0),
            "cumulative_revenue_per_customer": g["cum_revenue"] / g["customers_base"],
        }
    )
    return out.reset_index()


# --- Takeaways shown on the page ---

# Whole sentences per period unit, so each language can place the unit where it belongs.
TAKEAWAY_TEXT = {
    "M": {
        "heat": "On average {metric} is {v1} in month 1 after the first purchase",
        "later": " and {v} in month {p}",
        "best": "; best cohort in month 1: {c} ({v}).",
        "curve": "The average curve goes from {a} in month 1 to {b} in month {p}, still losing "
        "{d} points per month at the end.",
        "ltv": "After {p} months a customer has brought {v} on average, {x} times their first "
        "month.",
        "channels": "After {p} months, {hi} customers have brought {vhi} each, {lo} customers "
        "{vlo}.",
    },
    "W": {
        "heat": "On average {metric} is {v1} in week 1 after the first purchase",
        "later": " and {v} in week {p}",
        "best": "; best cohort in week 1: {c} ({v}).",
        "curve": "The average curve goes from {a} in week 1 to {b} in week {p}, still losing "
        "{d} points per week at the end.",
        "ltv": "After {p} weeks a customer has brought {v} on average, {x} times their first week.",
        "channels": "After {p} weeks, {hi} customers have brought {vhi} each, {lo} customers "
        "{vlo}.",
    },
}
_METRIC_NAMES = {
    "retention": "customer retention",
    "revenue_retention": "revenue retention",
    "cumulative_revenue_per_customer": "cumulative revenue per customer",
}


def _at(curves: pd.DataFrame, period: int, col: str):
    row = curves[curves["period"] == period]
    return None if row.empty else float(row[col].iloc[0])


def _formatter(metric: str, money):
    return money if metric == "cumulative_revenue_per_customer" else (lambda v: f"{v:.0%}")


def _text(freq: str, key: str, lang: str) -> str:
    return translate(TAKEAWAY_TEXT[freq][key], lang)


def takeaway_heatmap(
    table: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    metric: str = "retention",
    freq: str = "M",
    money=str,
    lang: str = "en",
) -> str:
    """The metric one period and six months (12 weeks) after the first purchase, on average
    over cohorts, and the best cohort one period after."""
    fmt = _formatter(metric, money)
    later = 6 if freq == "M" else 12
    v1 = _at(curves, 1, metric)
    p1 = table[(table["period"] == 1) & table[metric].notna()]
    if v1 is None or p1.empty:
        return translate("Cohorts are too young to compare yet.", lang)
    best = p1.loc[p1[metric].idxmax()]
    v_later = _at(curves, later, metric)
    text = _text(freq, "heat", lang).format(
        metric=translate(_METRIC_NAMES[metric], lang), v1=fmt(v1)
    )
    if v_later is not None:
        text += _text(freq, "later", lang).format(v=fmt(v_later), p=later)
    label = best["cohort"].strftime("%Y-%m" if freq == "M" else "%Y-%m-%d")
    return text + _text(freq, "best", lang).format(c=label, v=fmt(best[metric]))


def takeaway_curve(
    curves: pd.DataFrame, *, metric: str = "retention", freq: str = "M", money=str, lang: str = "en"
) -> str:
    """Where the average curve goes: LTV growth, or how fast retention still falls."""
    if metric == "cumulative_revenue_per_customer":
        return takeaway_ltv(curves, freq=freq, money=money, lang=lang)
    base = curves[(curves["period"] >= 1) & curves[metric].notna()]
    base = base[base["customers_base"] >= curves["customers_base"].iloc[0] / 2]
    if len(base) < 2:
        return translate("Cohorts are too young to show a curve yet.", lang)
    first, last = base.iloc[0], base.iloc[-1]
    tail = base.iloc[-4:]
    slope = (tail[metric].iloc[0] - tail[metric].iloc[-1]) / max(len(tail) - 1, 1)
    return _text(freq, "curve", lang).format(
        a=f"{first[metric]:.0%}",
        b=f"{last[metric]:.0%}",
        p=int(last["period"]),
        d=f"{slope * 100:.1f}",
    )


def takeaway_ltv(curves: pd.DataFrame, *, freq: str = "M", money=str, lang: str = "en") -> str:
    """Cumulative revenue per customer at the latest period at least half the customers'
    cohorts have reached."""
    base = curves[curves["customers_base"] >= curves["customers_base"].iloc[0] / 2]
    p = int(base["period"].max())
    v = _at(curves, p, "cumulative_revenue_per_customer")
    v0 = _at(curves, 0, "cumulative_revenue_per_customer")
    ratio = f"{v / v0:.1f}" if v0 else "n/a"
    return _text(freq, "ltv", lang).format(p=p, v=money(v), x=ratio)


def takeaway_channels(
    curves_by: pd.DataFrame, *, freq: str = "M", money=str, lang: str = "en"
) -> str:
    """Highest and lowest revenue per customer by channel at a period every channel reached."""
    reach = curves_by.groupby("channel")["period"].max()
    if len(reach) < 2:
        return translate("Only one acquisition channel.", lang)
    p = int(min(reach.min(), 12 if freq == "M" else 26))
    at = curves_by[curves_by["period"] == p].set_index("channel")["cumulative_revenue_per_customer"]
    hi, lo = at.idxmax(), at.idxmin()
    return _text(freq, "channels", lang).format(
        p=p, hi=hi, vhi=money(at[hi]), lo=lo, vlo=money(at[lo])
    )
