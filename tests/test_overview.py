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
