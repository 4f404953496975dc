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

Data without amounts (:func:`clm_core.store.has_amounts` false: a purchase log stored with amount
0 on every line) has every line as a purchase (:data:`clm_core.amounts.PURCHASE_SQL`), no revenue
or ARPU card, no revenue in the trend, and no alert about revenue or valuable customers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from clm_core.amounts import PURCHASE_SQL
from clm_core.filters import id_positions
from clm_core.formatting import fmt_count, fmt_money, fmt_share
from clm_core.i18n import translate
from clm_core.store import get_setting, has_amounts, has_table, query_df, require_table
from clm_core.summary import as_of_default

__all__ = [
    "KPI_ORDER",
    "Alert",
    "Kpi",
    "default_churn_days",
    "kpi_alerts",
    "kpis",
    "lifecycle_snapshot",
    "monthly_trend",
    "period_sentence",
    "rank_alerts",
    "stage_alert",
    "silent_alert",
    "silent_valuable",
    "top_alerts",
    "trend_takeaway",
    "value_arrays",
    "value_kpis",
    "value_kpis_of",
]

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


# Per customer, one pass over the transactions up to the end of the current period, for both
# periods ($start{p}, $end{p} with p = 0 current, 1 previous): whether they bought in the
# period, their last purchase before it, their first purchase from its start on (churned = the
# churn window after the last purchase ended in the period before they came back), and revenue
# (of every transaction; the counts leave out transactions without a customer id). A purchase
# (paid) is a line with an amount above 0, or any line of a log without amounts ($amounts).
_PERIOD_COLUMNS = """
    bool_or(paid and d between $start{p} and $end{p}) as active{p},
    max(d) filter (where paid and d < $start{p}) as last_before{p},
    min(d) filter (where paid and d >= $start{p}) as next{p},
    sum(amount) filter (where d between $start{p} and $end{p}) as revenue{p}"""
_PERIOD_COUNTS = """
    count(customer_id) filter (where active{p}) as active{p},
    count(customer_id) filter (where first_d between $start{p} and $end{p}) as new{p},
    count(customer_id) filter (
        where last_before{p} + $churn between $start{p} and $end{p}
          and (next{p} is null or next{p} >= last_before{p} + $churn)) as churned{p},
    coalesce(sum(revenue{p}), 0) as revenue{p},
    count(customer_id) filter (where active{p} and first_d < $start{p}) as returning{p},
    count(customer_id) filter (where last_before{p} > $start{p} - $churn) as alive_at_start{p}"""
_PERIOD_SQL = f"""
with per as (
    select customer_id, min(d) filter (where paid) as first_d,
           {",".join(_PERIOD_COLUMNS.format(p=p) for p in (0, 1))}
    from (select customer_id, cast(order_ts as date) as d, amount, {PURCHASE_SQL} as paid
          from transactions where cast(order_ts as date) <= $end0)
    group by customer_id
)
select {",".join(_PERIOD_COUNTS.format(p=p) for p in (0, 1))} from per
"""


def default_churn_days(con: duckdb.DuckDBPyConnection) -> int:
    """The gap within which 90% of repeat purchases happen, kept between 30 and 365 days.

    A customer silent for longer than that is unlikely to be just between two orders.
    """
    row = con.execute(
        f"""
        with days as (select distinct customer_id, cast(order_ts as date) as d
                      from transactions where {PURCHASE_SQL}),
        gaps as (select date_diff('day', lag(d) over (partition by customer_id order by d), d) as g
                 from days)
        select quantile_cont(g, 0.9) from gaps where g is not null
        """,
        {"amounts": has_amounts(con)},
    ).fetchone()
    p90 = row[0] if row and row[0] is not None else 90
    return int(min(365, max(30, round(float(p90)))))


def _periods(
    con, periods: tuple[tuple[dt.date, dt.date], ...], churn_days: int, amounts: bool = True
) -> list[dict]:
    """The KPIs of the current and the previous period ((start, end) each), in one query."""
    params = {"churn": int(churn_days), "amounts": amounts}
    for p, (start, end) in enumerate(periods):
        params |= {f"start{p}": start, f"end{p}": end}
    r = query_df(con, _PERIOD_SQL, params).iloc[0]
    out = []
    for p in range(len(periods)):
        active, churned = float(r[f"active{p}"]), float(r[f"churned{p}"])
        revenue, alive = float(r[f"revenue{p}"]), float(r[f"alive_at_start{p}"])
        out.append(
            {
                "Active customers": active,
                "New customers": float(r[f"new{p}"]),
                "Churned customers": churned,
                "Revenue": revenue,
                "ARPU": revenue / active if active else 0.0,
                "Repeat rate": float(r[f"returning{p}"]) / active if active else 0.0,
                "Churn rate": churned / alive if alive else 0.0,
            }
        )
    return out


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
    """KPIs for the ``days`` days ending on ``as_of`` (default last transaction date), in
    :data:`KPI_ORDER`; without the money KPIs (revenue, ARPU) when the data has no amounts."""
    require_table(con, "transactions", "the overview")
    end = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    churn_days = churn_days or default_churn_days(con)
    start = end - dt.timedelta(days=days - 1)
    prev_end = start - dt.timedelta(days=1)
    prev_start = prev_end - dt.timedelta(days=days - 1)
    amounts = has_amounts(con)
    cur, prev = _periods(con, ((start, end), (prev_start, prev_end)), churn_days, amounts)
    names = [k for k in KPI_ORDER if amounts or _UNITS.get(k) != "money"]
    return [Kpi(k, cur[k], prev[k], _UNITS.get(k, "count")) for k in names]


_TREND_SQL = f"""
select date_trunc('month', order_ts) as month,
       count(distinct customer_id) filter (where {PURCHASE_SQL}) as active_customers,
       case when $amounts then sum(amount) end as revenue,
       count(*) filter (where {PURCHASE_SQL}) as orders
from transactions
where cast(order_ts as date) <= $end
group by 1 order by 1
"""


def monthly_trend(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """Revenue, orders and active customers per calendar month up to ``as_of``; revenue is
    empty (NaN) when the data has no amounts."""
    require_table(con, "transactions", "the overview")
    end = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    df = query_df(con, _TREND_SQL, {"end": end, "amounts": has_amounts(con)})
    df["revenue"] = df["revenue"].astype("float64")
    df["month"] = pd.to_datetime(df["month"])
    return df


def period_sentence(kpi_list: list[Kpi], days: int, currency: str = "USD", lang: str = "en") -> str:
    """The period's revenue against the previous period's, in one sentence; the customers who
    bought when the KPIs have no revenue (data without amounts)."""
    k = {x.name: x for x in kpi_list}
    main = k.get("Revenue") or k["Active customers"]
    change = (
        f"{main.change * 100:+.1f}%" if main.change is not None else translate("no change", lang)
    )
    if main.name == "Revenue":
        return translate(
            "Revenue in the last {days} days was {revenue}, {change} vs the previous {days} days.",
            lang,
        ).format(days=days, revenue=fmt_money(main.current, currency, lang), change=change)
    return translate(
        "{n} customers bought in the last {days} days, {change} vs the previous {days} days.", lang
    ).format(days=days, n=fmt_count(main.current, lang), change=change)


def trend_takeaway(trend: pd.DataFrame, currency: str = "USD", lang: str = "en") -> str | None:
    """The best month of :func:`monthly_trend`: by revenue, or by active customers when the
    trend has no revenue (data without amounts); None for an empty trend."""
    if trend["revenue"].notna().any():
        best = trend.loc[trend["revenue"].idxmax()]
        return translate("Best month: {month} with {revenue}.", lang).format(
            month=best["month"].strftime("%Y-%m"),
            revenue=fmt_money(best["revenue"], currency, lang),
        )
    if not len(trend):
        return None
    best = trend.loc[trend["active_customers"].idxmax()]
    return translate("Best month: {month} with {n} active customers.", lang).format(
        month=best["month"].strftime("%Y-%m"), n=fmt_count(best["active_customers"], lang)
    )


def lifecycle_snapshot(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None, **thresholds
) -> pd.DataFrame:
    """Customers per lifecycle stage at ``as_of`` (the Lifecycle page's definitions).

    Thresholds not given are derived at the last transaction date, as the Lifecycle page's
    defaults, so snapshots at two dates apply the same rules.
    """
    from clm_core import lifecycle

    th = lifecycle.stage_rules(con, **thresholds).as_dict()
    return lifecycle.stage_summary(lifecycle.stage_details(con, as_of=as_of, **th))


# ------------------------------------------------------------------------------ value KPIs


def value_kpis(customers: pd.DataFrame, attributes: pd.DataFrame) -> dict[str, float | None]:
    """``avg_clv`` (mean predicted CLV) and ``ltv_cac`` over customers with an acquisition cost.

    ``customers`` is :func:`clm_core.clv.fit_clv`'s frame (``clv``, ``revenue``), ``attributes``
    :func:`clm_core.clv.customer_attributes`. LTV = revenue so far + predicted CLV (the CLV
    page's definition at margin 1); LTV/CAC = mean LTV / mean CAC of the customers whose
    acquisition cost is known and positive (None when no customer has one).
    """
    return value_kpis_of(*value_arrays(customers, attributes))


def value_arrays(
    customers: pd.DataFrame, attributes: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each of ``customers``' (:func:`value_kpis`) predicted CLV, revenue so far and acquisition
    cost (NaN when unknown), aligned with its rows: what :func:`value_kpis_of` averages."""
    # Each customer's cost by position (pyarrow): a merge on a million string ids takes 0.3 s.
    at = id_positions(customers["customer_id"], attributes["customer_id"])
    costs = attributes["acquisition_cost"].to_numpy(dtype=float, na_value=np.nan)
    cost = np.where(at >= 0, costs[np.maximum(at, 0)], np.nan) if len(costs) else at * np.nan
    clv = customers["clv"].to_numpy(dtype=float, na_value=np.nan)
    return clv, customers["revenue"].to_numpy(dtype=float, na_value=np.nan), cost


def value_kpis_of(clv: np.ndarray, revenue: np.ndarray, cost: np.ndarray) -> dict:
    """:func:`value_kpis` of aligned arrays: each customer's predicted CLV, revenue so far and
    acquisition cost (NaN when unknown), e.g. rows of a cached alignment under a filter."""
    avg_clv = float(pd.Series(clv).mean()) if len(clv) else None  # a missing CLV skipped
    has = cost > 0
    if not has.any():
        return {"avg_clv": avg_clv, "ltv_cac": None, "cac_customers": 0}
    ltv = revenue[has] + clv[has]
    return {
        "avg_clv": avg_clv,
        "ltv_cac": float(pd.Series(ltv).mean() / cost[has].mean()),  # a missing LTV skipped
        "cac_customers": int(has.sum()),
    }


# ---------------------------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    """One thing a manager should look at, most severe first, linking to the page that explains.

    ``severity``: 3 act now, 2 watch, 1 good news / information. ``page``: the page's file stem.
    """

    kind: str
    severity: int
    text: str
    page: str
    size: float = 0.0  # for ordering alerts of equal severity (bigger first)


# Valuable customers (top 20% by revenue) going quiet: silent longer than twice their usual gap
# (or, for one-off buyers, longer than half the churn window) but not yet past the churn window.
_SILENT_SQL = """
with c as (
    select customer_id, sum(amount) as revenue,
           count(distinct cast(order_ts as date)) filter (where amount > 0) as days,
           min(cast(order_ts as date)) filter (where amount > 0) as first_d,
           max(cast(order_ts as date)) filter (where amount > 0) as last_d
    from transactions where cast(order_ts as date) <= $as_of
    group by customer_id having count(*) filter (where amount > 0) > 0
),
valuable as (
    select *, date_diff('day', last_d, $as_of) as silent,
           case when days > 1 then date_diff('day', first_d, last_d) / (days - 1) end as gap
    from c where revenue >= (select quantile_cont(revenue, 0.8) from c)
)
select count(*) as customers, coalesce(sum(revenue), 0) as revenue,
       (select sum(revenue) from c) as all_revenue
from valuable
where silent < $churn_days
  and silent > coalesce(greatest(2 * gap, $churn_days / 2), $churn_days / 2)
"""


def kpi_alerts(kpi_list: list[Kpi], days: int, lang: str = "en") -> list[Alert]:
    """Revenue down 10%+, churn rate up 10%+ (relative) and new customers down 15%+ vs the
    previous period, from :func:`kpis` (a caller that shows the KPIs passes them in; without
    amounts they have no revenue, and there is no revenue alert)."""
    k = {x.name: x for x in kpi_list}
    out = []
    rev, churn, new = k.get("Revenue"), k["Churn rate"], k["New customers"]
    if rev is not None and rev.change is not None and rev.change <= -0.10:
        out.append(
            Alert(
                "revenue_drop",
                3 if rev.change <= -0.25 else 2,
                translate("Revenue fell {pct} vs the previous {days} days.", lang).format(
                    pct=fmt_share(-rev.change, lang), days=days
                ),
                "segments",
                -rev.change,
            )
        )
    if churn.change is not None and churn.change >= 0.10 and churn.current > 0:
        out.append(
            Alert(
                "churn_up",
                3 if churn.change >= 0.5 else 2,
                translate("Churn rate rose from {prev} to {cur}.", lang).format(
                    prev=fmt_share(churn.previous, lang), cur=fmt_share(churn.current, lang)
                ),
                "churn",
                churn.change,
            )
        )
    if new.change is not None and new.change <= -0.15:
        out.append(
            Alert(
                "new_down",
                2,
                translate(
                    "New customers down {pct} vs the previous {days} days ({cur} vs {prev}).", lang
                ).format(
                    pct=fmt_share(-new.change, lang),
                    days=days,
                    cur=fmt_count(new.current, lang),
                    prev=fmt_count(new.previous, lang),
                ),
                "funnels",
                -new.change,
            )
        )
    return out


def silent_valuable(
    ledger,
    *,
    as_of: dt.date,
    churn_days: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    channels: tuple[str, ...] | None = None,
    customers: np.ndarray | None = None,
) -> tuple[int, float, float]:
    """:data:`_SILENT_SQL` from a :class:`clm_core.lifecycle.TransactionLedger`, with no
    query: (valuable customers going quiet, their revenue, the revenue of every customer with
    a purchase), all to ``as_of``, of the transactions the global filters keep (dates,
    channels) and of the ``customers`` (a mask over ``ledger.customer_ids``; None: everyone).
    Sums may differ from the query's in the last bits, as the query's own do between runs.
    Transactions without a customer id (ingest refuses them) are not in the ledger, where the
    query would count them as one more customer."""
    from clm_core.lifecycle import _day, run_starts

    keep = ledger.kept(date_from=date_from, date_to=date_to, channels=channels)
    keep &= ledger.d <= _day(pd.Timestamp(as_of).date())
    if customers is not None:
        keep &= customers[ledger.c]
    c, d, amount = ledger.c[keep], ledger.d[keep], ledger.amount[keep]
    size = len(ledger.customer_ids)
    revenue = np.bincount(c, weights=np.nan_to_num(amount), minlength=size)
    paid = amount > 0  # NaN: no amount, not paid
    who, day = c[paid], d[paid]  # in customer then day order
    first = run_starts(who)
    last = np.append(first[1:], True) if len(who) else first
    days = np.bincount(who[first | run_starts(day)], minlength=size)  # distinct (customer, day)
    buyers = days > 0  # the SQL's customers: some amount > 0
    first_d = np.zeros(size, dtype=np.int64)
    last_d = np.zeros(size, dtype=np.int64)
    first_d[who[first]] = day[first]
    last_d[who[last]] = day[last]
    revenue, days, first_d, last_d = (x[buyers] for x in (revenue, days, first_d, last_d))
    if not len(revenue):
        return 0, 0.0, 0.0
    valuable = revenue >= _quantile_cont(revenue, 0.8)
    silent = _day(pd.Timestamp(as_of).date()) - last_d
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(days > 1, (last_d - first_d) / (days - 1), np.nan)
    bar = np.fmax(2 * gap, churn_days / 2)  # NaN gap: half the churn window
    quiet = valuable & (silent < churn_days) & (silent > bar)
    return int(quiet.sum()), float(revenue[quiet].sum()), float(revenue.sum())


def _quantile_cont(values: np.ndarray, q: float) -> float:
    """DuckDB's quantile_cont: linear between the order statistics at (n - 1) * q."""
    rank = (len(values) - 1) * q
    lo = int(np.floor(rank))
    hi = min(lo + 1, len(values) - 1)
    low, high = np.partition(values, [lo, hi])[[lo, hi]]
    return float(low + (rank - lo) * (high - low))


def _silent_alert(con, end: dt.date, churn_days: int, currency: str, lang: str) -> Alert | None:
    row = query_df(con, _SILENT_SQL, {"as_of": end, "churn_days": churn_days}).iloc[0]
    total = row["all_revenue"]
    counts = (int(row["customers"]), float(row["revenue"]), float(total) if total else 0.0)
    return silent_alert(counts, currency, lang)


def silent_alert(counts: tuple[int, float, float], currency: str, lang: str) -> Alert | None:
    """The alert on valuable customers going quiet, from :data:`_SILENT_SQL`'s (customers,
    revenue, all revenue) or :func:`silent_valuable`'s; None when there are none."""
    n, revenue, total = counts
    if n == 0:
        return None
    share = revenue / total if total else 0.0
    text = translate(
        "{n} high-value customers are going quiet: they hold {revenue} ({share}) of revenue.",
        lang,
    ).format(n=fmt_count(n, lang), revenue=fmt_money(revenue, currency, lang),
             share=fmt_share(share, lang))  # fmt: skip
    return Alert("valuable_silent", 3 if share >= 0.05 else 2, text, "churn", share)


def stage_alert(now: pd.DataFrame, before: pd.DataFrame, days: int, lang: str) -> Alert | None:
    """At-risk customers up 10%+ between two :func:`lifecycle_snapshot` frames ``days`` apart."""
    prev = int(before.set_index("stage")["customers"].get("At risk", 0))
    cur = int(now.set_index("stage")["customers"].get("At risk", 0))
    if prev == 0 or cur < prev * 1.10:
        return None
    text = translate("At-risk customers rose from {prev} to {cur} in {days} days.", lang).format(
        prev=fmt_count(prev, lang), cur=fmt_count(cur, lang), days=days
    )
    return Alert("at_risk_up", 2, text, "lifecycle", cur / prev - 1)


def _campaign_alert(con, end: dt.date, lang: str) -> Alert | None:
    from clm_core import experiments
    from clm_core.errors import ClmError

    if not has_table(con, "campaigns"):
        return None
    names = experiments.campaign_names(con)
    if not names:
        return None
    try:
        res = experiments.analyze_campaign(con, campaign=names[0])
    except ClmError:
        return None
    if res.srm_mismatch:
        text = translate(
            "Campaign {campaign}: the groups are not the intended sizes "
            "(sample ratio mismatch), so its result cannot be trusted.",
            lang,
        ).format(campaign=res.campaign)
        return Alert("campaign_srm", 2, text, "campaigns")
    best = res.best_comparison
    if best is None or not best["p_value"] < res.alpha:
        return None
    text = f"{res.campaign}: {experiments.verdict(res, lang)}"
    return Alert("campaign_result", 1, text, "campaigns")


def _quality_alert(con, lang: str) -> Alert | None:
    history = get_setting(con, "load_history", []) or []
    last = history[-1] if history else None
    if not last or not (last.get("rows_rejected") or last.get("duplicates")):
        return None
    text = translate(
        "The last upload ({file}) had {rejected} rejected rows and {duplicates} duplicates.", lang
    ).format(file=last.get("file", "?"), rejected=fmt_count(last.get("rows_rejected") or 0, lang),
             duplicates=fmt_count(last.get("duplicates") or 0, lang))  # fmt: skip
    return Alert("data_quality", 2, text, "data")


def rank_alerts(alerts, limit: int = 5) -> list[Alert]:
    """Most severe first, then the biggest; ``None`` entries (nothing to say) dropped."""
    found = sorted((a for a in alerts if a is not None), key=lambda a: (-a.severity, -a.size))
    return found[:limit]


def top_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    days: int = 30,
    churn_days: int | None = None,
    currency: str = "USD",
    lang: str = "en",
    limit: int = 5,
    with_stages: bool = True,
    with_kpis: bool = True,
    with_silent: bool = True,
) -> list[Alert]:
    """The most important changes and risks at ``as_of``, most severe first (at most ``limit``).

    Checked: revenue down 10%+ and churn rate up 10%+ (relative) vs the previous period, new
    customers down 15%+, valuable customers going quiet (:data:`_SILENT_SQL`), at-risk stage up
    10%+ over the period (:func:`stage_alert`; ``with_stages=False`` leaves it to a caller that
    has the snapshots already), the latest campaign's significant result or sample ratio
    mismatch, and rejected rows or duplicates in the last upload. ``with_kpis=False`` leaves the
    KPI alerts to a caller that has the KPIs already (:func:`kpi_alerts`); ``with_silent=False``
    leaves the quiet valuable customers to a caller that derives them from a transaction ledger
    (:func:`silent_valuable`, :func:`silent_alert`). Data without amounts has no valuable
    customers (value is money): no such alert.
    """
    require_table(con, "transactions", "the overview")
    end = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    churn_days = churn_days or default_churn_days(con)
    found = []
    if with_kpis:
        found += kpi_alerts(kpis(con, as_of=end, days=days, churn_days=churn_days), days, lang)
    silent = with_silent and has_amounts(con)
    found += [
        _silent_alert(con, end, churn_days, currency, lang) if silent else None,
        _campaign_alert(con, end, lang),
        _quality_alert(con, lang),
    ]
    if with_stages:
        from clm_core.lifecycle import derive_thresholds

        th = derive_thresholds(con).as_dict()  # one set of rules for both dates
        before = lifecycle_snapshot(con, as_of=end - dt.timedelta(days=days), **th)
        found.append(stage_alert(lifecycle_snapshot(con, as_of=end, **th), before, days, lang))
    return rank_alerts(found, limit)
