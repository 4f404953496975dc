"""Overview KPIs on a hand-checked dataset (March 2024 vs the 31 days before)."""

from __future__ import annotations

import pandas as pd
import pytest

from clm_core import overview, store


@pytest.fixture()
def con():
    rows = [
        ("A", "2024-01-05", 100.0),
        ("A", "2024-03-10", 50.0),
        ("A", "2024-03-20", -10.0),  # a return: counts in revenue, not as a purchase
        ("B", "2024-03-15", 20.0),
        ("C", "2024-02-10", 40.0),
        ("D", "2024-02-20", 25.0),
        ("D", "2024-03-05", 30.0),
        ("F", "2023-12-01", 70.0),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    return store.from_frames(transactions=df)


def test_kpis_hand_checked(con):
    k = {x.name: x for x in overview.kpis(con, as_of="2024-03-31", days=31, churn_days=30)}
    assert k["Active customers"].current == 3  # A, B, D
    assert k["New customers"].current == 1  # B
    assert k["Churned customers"].current == 1  # C crossed 30 silent days on 2024-03-11
    assert k["Revenue"].current == pytest.approx(90.0)
    assert k["ARPU"].current == pytest.approx(30.0)
    assert k["Repeat rate"].current == pytest.approx(2 / 3)
    assert k["Churn rate"].current == pytest.approx(1 / 2)  # C and D alive at start, C churned
    # previous period 2024-01-30 .. 2024-02-29
    assert k["Active customers"].previous == 2  # C, D
    assert k["New customers"].previous == 2
    assert k["Churned customers"].previous == 1  # A: 2024-01-05 + 30 days = 2024-02-04
    assert k["Revenue"].previous == pytest.approx(65.0)
    assert k["Active customers"].change == pytest.approx(0.5)


def test_customer_who_buys_before_threshold_is_not_churned(con):
    k = {x.name: x for x in overview.kpis(con, as_of="2024-03-31", days=31, churn_days=60)}
    # with 60 days C (2024-02-10) churns only on 2024-04-10, D bought again in time;
    # A (2024-01-05) crossed 60 silent days on 2024-03-05, before coming back on 03-10
    assert k["Churned customers"].current == 1


def test_transactions_without_a_customer_count_in_revenue_only():
    df = pd.DataFrame(
        {
            "customer_id": pd.Series([None, None, "a"], dtype=object),
            "order_ts": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-05"]),
            "amount": [5.0, 5.0, 5.0],
        }
    )
    con = store.from_frames(transactions=df)
    k = {x.name: x for x in overview.kpis(con, as_of="2024-01-25", days=10, churn_days=12)}
    assert k["Revenue"].current == 5.0  # the order on 2024-01-20
    assert k["Active customers"].current == 0 and k["Repeat rate"].current == 0.0
    # a: 2024-01-05 + 12 days falls in the period (from 2024-01-16); the orders without a
    # customer on 2024-01-01 and 2024-01-20 are nobody's churn or comeback
    assert k["Churned customers"].current == 1 and k["Churn rate"].current == 1.0


def test_monthly_trend(con):
    t = overview.monthly_trend(con, as_of="2024-03-31")
    assert list(t["month"].dt.month) == [12, 1, 2, 3]
    assert t.set_index(t["month"].dt.month).loc[3, "revenue"] == pytest.approx(90.0)
    assert t.set_index(t["month"].dt.month).loc[3, "active_customers"] == 3


def test_default_churn_days_is_p90_gap(con):
    # gaps: A 65 days, D 14 days -> p90 = 14 + 0.9 * (65 - 14) = 59.9 -> 60
    assert overview.default_churn_days(con) == 60


def test_value_kpis_hand_checked():
    customers = pd.DataFrame(
        {"customer_id": ["A", "B", "C"], "clv": [10.0, 20.0, 30.0], "revenue": [90.0, 0.0, 70.0]}
    )
    attrs = pd.DataFrame(
        {"customer_id": ["A", "B", "C"], "acquisition_cost": [25.0, float("nan"), 15.0]}
    )
    v = overview.value_kpis(customers, attrs)
    assert v["avg_clv"] == pytest.approx(20.0)
    # LTV over A and C only (B has no cost): mean(100, 100) / mean(25, 15) = 5
    assert v["ltv_cac"] == pytest.approx(5.0)
    assert v["cac_customers"] == 2
    none = overview.value_kpis(customers, attrs.assign(acquisition_cost=float("nan")))
    assert none["ltv_cac"] is None
    # customers without attributes, or listed in another order, are matched by id
    other = overview.value_kpis(customers, attrs.iloc[[2, 1]].assign(acquisition_cost=[15.0, 5.0]))
    # B and C: mean LTV (20 + 100) / 2 = 60 over mean cost (5 + 15) / 2 = 10
    assert other["ltv_cac"] == pytest.approx(6.0)
    assert other["cac_customers"] == 2
    assert overview.value_kpis(customers.iloc[:0], attrs)["avg_clv"] is None
    # a customer without a CLV is left out of the averages, as pandas' mean leaves it
    gap = overview.value_kpis(customers.assign(clv=[10.0, float("nan"), 30.0]), attrs)
    assert gap["avg_clv"] == pytest.approx(20.0) and gap["ltv_cac"] == pytest.approx(5.0)


def _kinds(con, **kw):
    return [a.kind for a in overview.top_alerts(con, **kw)]


def test_alerts_revenue_drop_and_churn(con):
    # March revenue 90 vs 65 before: no revenue alert; churn rate 1/2 vs previous period.
    alerts = overview.top_alerts(con, as_of="2024-03-31", days=31, churn_days=30)
    assert "revenue_drop" not in [a.kind for a in alerts]
    assert [a.severity for a in alerts] == sorted((a.severity for a in alerts), reverse=True)
    # February (65) vs the 31 days before (100 + 70 on 2023-12-01 is outside): A's 100 only
    feb = {a.kind: a for a in overview.top_alerts(con, as_of="2024-02-29", days=31, churn_days=30)}
    assert "revenue_drop" in feb and "35.0%" in feb["revenue_drop"].text
    assert feb["revenue_drop"].page == "segments" and feb["revenue_drop"].severity == 3


def test_kpi_alerts_from_kpis_the_caller_has(con):
    # The page passes its KPIs in instead of top_alerts computing them a second time.
    kw = dict(as_of="2024-02-29", days=31, churn_days=30)
    k = overview.kpis(con, **kw)
    split = overview.rank_alerts(
        [*overview.kpi_alerts(k, 31), *overview.top_alerts(con, with_kpis=False, **kw)]
    )
    assert split == overview.top_alerts(con, **kw)
    assert "revenue_drop" not in _kinds(con, with_kpis=False, **kw)


def _quiet_rows() -> list[tuple]:
    """Ten customers; the two biggest (V1, V2) buy every 10 days, then V1 stops (last
    2024-03-01); V2 buys once more on 2024-03-31."""
    rows = []
    for v in ("V1", "V2"):
        last = "2024-03-06" if v == "V1" else "2024-03-30"
        for d in pd.date_range("2024-01-01", last, freq="10D"):
            rows.append((v, d, 500.0))
    rows += [(f"S{i}", pd.Timestamp("2024-03-20"), 10.0) for i in range(8)]
    rows.append(("V2", pd.Timestamp("2024-03-31"), 1.0))
    return rows


def test_alert_valuable_customers_going_quiet():
    rows = _quiet_rows()
    df = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    con = store.from_frames(transactions=df)
    alerts = {a.kind: a for a in overview.top_alerts(con, as_of="2024-03-31", churn_days=50)}
    quiet = alerts["valuable_silent"]
    # V1: silent 30 days, above 2 x its 10-day gap and half the churn window, below the window
    assert quiet.text.startswith("1 high-value customers")
    assert quiet.page == "churn"
    zh = overview.top_alerts(con, as_of="2024-03-31", churn_days=50, lang="zh")
    assert any("高价值客户" in a.text for a in zh)
    # past the churn window V1 is churned, no longer "going quiet"
    assert "valuable_silent" not in _kinds(con, as_of="2024-03-31", churn_days=70)  # 30 < 35
    later = _kinds(con, as_of="2024-03-31", churn_days=30)
    assert "valuable_silent" not in later


def test_alert_from_last_upload_quality():
    df = pd.DataFrame({"customer_id": ["A"], "order_ts": ["2024-01-01"], "amount": [1.0]})
    con = store.from_frames(transactions=df)
    con.execute("create table _clm_meta (key varchar primary key, value varchar)")
    con.execute(
        """insert into _clm_meta values ('load_history',
        '[{"file": "orders.csv", "rows_rejected": 3, "duplicates": 0}]')"""
    )
    alert = next(a for a in overview.top_alerts(con) if a.kind == "data_quality")
    assert "orders.csv" in alert.text and "3 rejected" in alert.text and alert.page == "data"


def test_stage_alert_when_at_risk_grows():
    def snap(at_risk):
        return pd.DataFrame({"stage": ["Active", "At risk"], "customers": [100, at_risk]})

    alert = overview.stage_alert(snap(60), snap(50), 30, "en")
    assert alert.text == "At-risk customers rose from 50 to 60 in 30 days."
    assert alert.page == "lifecycle" and alert.size == pytest.approx(0.2)
    assert overview.stage_alert(snap(54), snap(50), 30, "en") is None  # +8% is noise
    assert overview.stage_alert(snap(5), snap(0), 30, "en") is None
    ranked = overview.rank_alerts([None, alert, overview.Alert("x", 3, "t", "data")])
    assert [a.kind for a in ranked] == ["x", "at_risk_up"]


# The KPI queries as first written (one query per period, one CTE per KPI): the reference the
# single pass over both periods must agree with.
_REFERENCE_PERIOD_SQL = """
with purchases as (
    select customer_id, cast(order_ts as date) as d, amount
    from transactions where amount > 0 and cast(order_ts as date) <= $end
),
firsts as (select customer_id, min(d) as first_d from purchases group by customer_id),
last_before as (
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


@pytest.mark.parametrize("channel", [None, "app"])
def test_kpis_agree_with_one_query_per_kpi_on_demo_data(demo_template, channel):
    import datetime as dt

    from clm_core.filters import Filters, apply_filters
    from clm_core.summary import as_of_default

    cur = store.cursor(store.connect(demo_template))
    apply_filters(cur, Filters(channels=(channel,) if channel else ()))
    last = as_of_default(cur)
    checked = 0
    for as_of, days, churn_days in [
        (last, 30, 60),
        (last - dt.timedelta(days=200), 7, 30),
        (last - dt.timedelta(days=400), 90, 120),
        (last, 365, 45),
    ]:
        k = overview.kpis(cur, as_of=as_of, days=days, churn_days=churn_days)
        start = as_of - dt.timedelta(days=days - 1)
        prev_end = start - dt.timedelta(days=1)
        for attr, (s, e) in (
            ("current", (start, as_of)),
            ("previous", (prev_end - dt.timedelta(days=days - 1), prev_end)),
        ):
            params = {"start": s, "end": e, "churn_days": churn_days}
            ref = cur.execute(_REFERENCE_PERIOD_SQL, params).df().iloc[0]
            got = {x.name: getattr(x, attr) for x in k}
            assert got["Active customers"] == ref["active"]
            assert got["New customers"] == ref["new"]
            assert got["Churned customers"] == ref["churned"]
            assert got["Revenue"] == pytest.approx(ref["revenue"])
            assert got["Churn rate"] * ref["alive_at_start"] == pytest.approx(ref["churned"])
            assert got["Repeat rate"] * ref["active"] == pytest.approx(ref["returning"])
            checked += ref["churned"] > 0
    assert checked >= 4  # churn happened in most of these periods: the comparison has teeth


def _silent_by_query(con, as_of, churn_days):
    row = con.execute(overview._SILENT_SQL, {"as_of": as_of, "churn_days": churn_days}).df()
    return row.iloc[0]


def test_silent_valuable_from_a_ledger_by_hand():
    from clm_core.lifecycle import transaction_ledger

    # As test_alert_valuable_customers_going_quiet, with a return, a missing amount and a
    # zero-amount order: V1 is quiet (30 days, its gap 10); revenue counts returns, and only
    # amounts above zero make purchase days.
    rows = _quiet_rows() + [
        ("V1", pd.Timestamp("2024-03-20"), -40.0),  # a return: revenue, not a purchase day
        ("V1", pd.Timestamp("2024-03-21"), None),
        ("S0", pd.Timestamp("2024-03-25"), 0.0),
        ("Z", pd.Timestamp("2024-03-25"), None),  # no amount above zero: not a buyer
    ]
    con = store.from_frames(
        transactions=pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    )
    ledger = transaction_ledger(con)
    as_of = pd.Timestamp("2024-03-31").date()
    n, revenue, total = overview.silent_valuable(ledger, as_of=as_of, churn_days=50)
    assert (n, revenue, total) == (1, 7 * 500.0 - 40.0, 3460.0 + 9 * 500.0 + 1.0 + 8 * 10.0)
    ref = _silent_by_query(con, as_of, 50)
    assert (n, revenue, total) == (ref["customers"], ref["revenue"], ref["all_revenue"])
    assert overview.silent_valuable(ledger, as_of=as_of, churn_days=70)[0] == 0  # 30 < 35
    # only V1 and S0..S7 kept: V1 is still the top fifth
    kept = ledger.customer_ids.isin(["V1", *(f"S{i}" for i in range(8))]).to_numpy()
    assert overview.silent_valuable(ledger, as_of=as_of, churn_days=50, customers=kept)[0] == 1
    alert = overview.silent_alert((n, revenue, total), "USD", "en")
    assert alert.kind == "valuable_silent" and alert.text.startswith("1 high-value customers")
    assert overview.silent_alert((0, 0.0, total), "USD", "en") is None


@pytest.mark.parametrize(
    "filters",
    [{}, {"channels": ("app",)}, {"date_from": -400, "date_to": -30}, {"regions": 1}],
    ids=["none", "channel", "dates", "region"],
)
def test_silent_valuable_from_a_ledger_equals_the_query_on_demo_data(demo_template, filters):
    import datetime as dt

    from clm_core.filters import Filters, apply_filters, customer_filter_ids, is_kept
    from clm_core.lifecycle import transaction_ledger
    from clm_core.summary import as_of_default

    con = store.connect(demo_template)
    ledger = transaction_ledger(store.cursor(con))
    last = as_of_default(con)
    f = dict(filters)
    for key in ("date_from", "date_to"):
        if key in f:
            f[key] = last + dt.timedelta(days=f[key])
    if "regions" in f:
        biggest = "select region from customers group by 1 order by count(*) desc, 1 limit 1"
        f["regions"] = (con.execute(biggest).fetchone()[0],)
    f = Filters(**f)
    cur = store.cursor(con)
    apply_filters(cur, f)
    customers = None
    if f.regions:
        customers = is_kept(ledger.customer_ids, customer_filter_ids(con, f))
    quiet = 0
    for as_of, churn_days in [(last, 60), (last, 120), (last - dt.timedelta(days=90), 45)]:
        got = overview.silent_valuable(
            ledger, as_of=as_of, churn_days=churn_days, date_from=f.date_from,
            date_to=f.date_to, channels=f.channels, customers=customers,
        )  # fmt: skip
        ref = _silent_by_query(cur, as_of, churn_days)
        assert got[0] == ref["customers"]
        assert got[1:] == pytest.approx((ref["revenue"], ref["all_revenue"]), rel=1e-12)
        quiet += got[0]
    assert quiet > 0


def test_trend_axes_show_months_and_whole_customers():
    """One month (a short date range) gets a month tick, not fractions of a second; a few
    active customers get whole-number ticks on the customer axis."""
    import pandas as pd

    from clm_core.charts.overview import trend_figure

    fig = trend_figure(
        pd.DataFrame({"month": [pd.Timestamp("2023-01-01")], "revenue": [274.0],
                      "active_customers": [2]})
    )  # fmt: skip
    assert (fig.layout.xaxis.tickformat, fig.layout.xaxis.dtick) == ("%Y-%m", "M1")
    assert (fig.layout.yaxis2.tickmode, fig.layout.yaxis2.dtick) == ("linear", 1)
    many = trend_figure(
        pd.DataFrame({"month": pd.date_range("2023-01-01", periods=3, freq="MS"),
                      "revenue": [1.0, 2.0, 3.0], "active_customers": [900, 1000, 1100]})
    )  # fmt: skip
    assert many.layout.yaxis2.tickmode == "auto" and many.layout.yaxis2.tickformat == ",d"
