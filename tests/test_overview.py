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


def test_alert_valuable_customers_going_quiet():
    # Ten customers; the two biggest (V1, V2) buy every 10 days, then V1 stops (last 2024-03-01).
    rows = []
    for v in ("V1", "V2"):
        last = "2024-03-06" if v == "V1" else "2024-03-30"
        for d in pd.date_range("2024-01-01", last, freq="10D"):
            rows.append((v, d, 500.0))
    rows += [(f"S{i}", pd.Timestamp("2024-03-20"), 10.0) for i in range(8)]
    rows.append(("V2", pd.Timestamp("2024-03-31"), 1.0))
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
