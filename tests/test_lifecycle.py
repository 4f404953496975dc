"""Lifecycle stages, stage counts, lifecycle activity, transitions and touchpoints, by hand."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from clm_core import lifecycle as lc
from clm_core import store
from clm_core.errors import MissingTableError, UsageError
from clm_core.i18n import ZH

AS_OF = dt.date(2024, 6, 30)
TH = {
    "activation_days": 30,
    "churn_days": 90,
    "at_risk_factor": 2.0,
    "spend_window_days": 120,
    "spend_drop": 0.5,
    "loyal_purchases": 4,
    "loyal_tenure_days": 180,
}


def _tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"]).assign(
        order_ts=lambda d: pd.to_datetime(d["order_ts"])
    )


def _monthly(cid, start, n, amount=10.0):
    return [
        (cid, str(d.date()), amount)
        for d in pd.date_range(start, periods=n, freq=pd.DateOffset(months=1))
    ]


# One customer per rule and per edge; the expected stage at 2024-06-30 with TH is on each line.
ROWS = [
    ("return_only", "2024-06-01", -20.0),  # Prospect: a return alone is not a purchase
    ("new_today", "2024-06-30", 15.0),  # New: first purchase on the as-of date
    ("new_boundary", "2024-05-31", 15.0),  # New: exactly 30 days ago is still "within 30"
    ("one_time_past", "2024-05-30", 15.0),  # At risk: 31 days, no second purchase
    ("same_day", "2024-06-20", 5.0),  # New, and two orders on one day are one purchase
    ("same_day", "2024-06-20", 7.0),
    ("zero_amount", "2024-06-25", 0.0),  # New: a free order is a purchase
    ("churn_edge", "2023-12-01", 10.0),  # Active: silent exactly 90 days is not churned;
    ("churn_edge", "2024-01-01", 10.0),  # recent spend 10 is exactly half of 20 (no drop)
    ("churn_edge", "2024-04-01", 10.0),
    ("churned", "2024-02-01", 10.0),  # Churned: silent 91 days
    ("churned", "2024-03-31", 10.0),
    ("won_back", "2023-06-01", 10.0),  # Won back: 375 silent days, came back 20 days ago
    ("won_back", "2024-06-10", 10.0),
    ("gap_risk", "2024-05-01", 10.0),  # At risk: usual gap 10 days, silent 40 > 2 x 10
    ("gap_risk", "2024-05-11", 10.0),
    ("gap_risk", "2024-05-21", 10.0),
    ("gap_edge", "2024-05-21", 10.0),  # Active: silent 20 = exactly 2 x 10
    ("gap_edge", "2024-05-31", 10.0),
    ("gap_edge", "2024-06-10", 10.0),
    ("spend_drop", "2024-01-10", 100.0),  # At risk: 20 in the last 120 days vs 200 before
    ("spend_drop", "2024-02-10", 100.0),
    ("spend_drop", "2024-04-15", 10.0),
    ("spend_drop", "2024-06-01", 10.0),
    ("spend_edge", "2024-01-10", 20.0),  # Active: 20 vs 40 is exactly half (not below);
    ("spend_edge", "2024-02-10", 20.0),  # 4 purchases but 172 days of tenure < 180
    ("spend_edge", "2024-04-15", 10.0),
    ("spend_edge", "2024-06-01", 10.0),
    ("return_drop", "2024-02-01", 60.0),  # At risk: the return nets recent spend to 40 < 50
    ("return_drop", "2024-02-20", 40.0),
    ("return_drop", "2024-05-01", 80.0),
    ("return_drop", "2024-06-01", -40.0),
    *_monthly("loyal", "2023-10-05", 9),  # Loyal: 9 purchases over 269 days
    *_monthly("short_tenure", "2024-02-05", 5),  # Active: 5 purchases but only 146 days
    ("won_back_then_loyal", "2023-01-01", 10.0),  # Loyal: comeback on 2023-08-01 is old news
    ("won_back_then_loyal", "2023-08-01", 10.0),
    ("won_back_then_loyal", "2023-09-01", 10.0),
    ("won_back_then_loyal", "2023-10-15", 10.0),
    ("won_back_then_loyal", "2023-12-01", 10.0),
    ("won_back_then_loyal", "2024-02-01", 10.0),
    ("won_back_then_loyal", "2024-04-01", 10.0),
    ("won_back_then_loyal", "2024-06-01", 10.0),
    ("later_buyer", "2024-07-05", 10.0),  # not known yet on 2024-06-30
    ("signed_then_bought_later", "2024-07-05", 10.0),  # Prospect: signed up in March
]
EXPECTED = {
    "event_only": "Prospect",
    "signup_only": "Prospect",
    "signup_no_date": "Prospect",
    "signed_then_bought_later": "Prospect",
    "return_only": "Prospect",
    "new_today": "New",
    "new_boundary": "New",
    "one_time_past": "At risk",
    "same_day": "New",
    "zero_amount": "New",
    "churn_edge": "Active",
    "churned": "Churned",
    "won_back": "Won back",
    "gap_risk": "At risk",
    "gap_edge": "Active",
    "spend_drop": "At risk",
    "spend_edge": "Active",
    "return_drop": "At risk",
    "loyal": "Loyal",
    "short_tenure": "Active",
    "won_back_then_loyal": "Loyal",
}


@pytest.fixture()
def con():
    customers = pd.DataFrame(
        {
            "customer_id": [
                "signup_only",
                "signup_no_date",
                "future_signup",
                "signed_then_bought_later",
            ],
            "signup_ts": pd.to_datetime(["2024-01-01", None, "2024-07-15", "2024-03-01"]),
            "acquisition_channel": ["ads", "seo", "ads", "seo"],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["event_only", "event_only"],
            "event_name": ["visit", "visit"],
            "event_ts": pd.to_datetime(["2024-05-01 10:00", "2024-08-01 10:00"]),
        }
    )
    return store.from_frames(transactions=_tx(ROWS), customers=customers, events=events)


def test_every_rule_and_edge_by_hand(con):
    got = lc.customer_stages(con, as_of=AS_OF, **TH)
    expected = pd.DataFrame(sorted(EXPECTED.items()), columns=["customer_id", "stage"])
    assert_frame_equal(got.reset_index(drop=True), expected)


def test_exactly_one_stage_per_known_customer(con):
    got = lc.customer_stages(con, as_of=AS_OF, **TH)
    assert got["customer_id"].is_unique
    assert set(got["stage"]) <= set(lc.STAGES)
    assert {"later_buyer", "future_signup"}.isdisjoint(got["customer_id"])


def test_details_carry_the_facts_the_rules_used(con):
    d = lc.stage_details(con, as_of=AS_OF, **TH).set_index("customer_id")
    assert d.loc["same_day", "purchases"] == 1
    assert d.loc["churn_edge", "days_since_last"] == 90
    assert d.loc["churned", "days_since_last"] == 91
    assert d.loc["gap_risk", "avg_gap_days"] == 10
    assert d.loc["return_drop", "recent_spend"] == 40
    assert d.loc["return_drop", "previous_spend"] == 100
    assert d.loc["return_only", "purchases"] == 0
    assert pd.isna(d.loc["return_only", "first_purchase"])


@pytest.mark.parametrize(
    ("change", "customer", "stage"),
    [
        ({"churn_days": 89}, "churn_edge", "Churned"),
        ({"activation_days": 29}, "new_boundary", "At risk"),
        ({"at_risk_factor": 4.5}, "gap_risk", "Active"),
        ({"spend_drop": 0.95}, "spend_drop", "Active"),
        ({"loyal_purchases": 10}, "loyal", "Active"),
        ({"loyal_tenure_days": 140}, "short_tenure", "Loyal"),
        ({"activation_days": 19}, "won_back", "Active"),
    ],
    ids=["churn", "activation", "factor", "spend", "loyal-n", "loyal-tenure", "won-back-window"],
)
def test_each_threshold_moves_its_boundary(con, change, customer, stage):
    got = lc.customer_stages(con, as_of=AS_OF, **{**TH, **change}).set_index("customer_id")
    assert got.loc[customer, "stage"] == stage


def test_default_thresholds_from_the_data_by_hand():
    # a: purchase days 0, 10, 30 (usual gap 15); b: days 20, 60 (gap 40); c: one purchase.
    base = dt.date(2024, 1, 1)
    rows = [("a", 0), ("a", 10), ("a", 30), ("b", 20), ("b", 60), ("c", 5)]
    con = store.from_frames(
        transactions=_tx([(c, str(base + dt.timedelta(days=d)), 10.0) for c, d in rows])
    )
    th = lc.derive_thresholds(con, as_of=base + dt.timedelta(days=100))
    # activation: median first gap of (10, 40) = 25; churn: p90 of usual gaps (15, 40) = 37.5
    # rounded up; loyal: p75 of purchase counts (3, 2) = 2.75 -> at least 3; tenure: median of
    # (100, 80) days.
    assert th == lc.StageThresholds(25, 38, 2.0, 38, 0.5, 3, 90)
    stats = lc.gap_statistics(con, as_of=base + dt.timedelta(days=100))
    assert stats["median_gap"] == 20 and stats["repeat_customers"] == 2


def test_without_repeat_purchases_fallback_thresholds_apply():
    con = store.from_frames(transactions=_tx([("a", "2024-01-01", 5.0), ("b", "2024-02-01", 5.0)]))
    assert lc.derive_thresholds(con) == lc.FALLBACK_THRESHOLDS
    assert lc.customer_stages(con)["stage"].tolist() == ["At risk", "New"]


def test_missing_thresholds_are_derived_and_unknown_ones_refused(con):
    partial = lc.customer_stages(con, as_of=AS_OF, churn_days=90)
    assert len(partial) == len(EXPECTED)
    with pytest.raises(UsageError, match="Unknown stage threshold"):
        lc.customer_stages(con, as_of=AS_OF, churn=90)
    with pytest.raises(UsageError, match="churn_days"):
        lc.customer_stages(con, as_of=AS_OF, **{**TH, "churn_days": 0})
    with pytest.raises(UsageError, match="spend_drop"):
        lc.StageThresholds(**{**TH, "spend_drop": 1.5})


def test_missing_transactions_table_names_the_file():
    con = store.from_frames(customers=pd.DataFrame({"customer_id": ["a"]}))
    with pytest.raises(MissingTableError, match="transactions"):
        lc.customer_stages(con)


def test_stage_counts_match_stages_at_each_month_end(con):
    counts = lc.stage_counts(con, as_of=AS_OF, **TH)
    dates = sorted(counts["as_of"].unique())
    assert pd.Timestamp(dates[-1]).date() == AS_OF
    assert pd.Timestamp(dates[-2]).date() == dt.date(2024, 5, 31)
    assert pd.Timestamp(dates[0]).date() == dt.date(2023, 1, 31)
    for d in (dates[0], dates[5], dates[-2], dates[-1]):
        at = pd.Timestamp(d).date()
        expected = (
            lc.customer_stages(con, as_of=at, **TH)["stage"]
            .value_counts()
            .reindex(list(lc.STAGES), fill_value=0)
        )
        got = counts[counts["as_of"] == d].set_index("stage")["customers"]
        assert got.to_dict() == expected.to_dict(), at
    # the timeline counts its stages as it is built; counting its codes gives the same frame
    tl = lc.stage_timeline(con, as_of=AS_OF, **TH)
    assert tl.counts is not None and tl.keep(tl.customer_ids[:3]).counts is None
    assert_frame_equal(lc.counts_of(tl), lc.counts_of(dataclasses.replace(tl, counts=None)))


def test_lifecycle_activity_by_hand():
    # a buys in Jan, Feb, Apr; b in Feb and Mar (2024).
    con = store.from_frames(
        transactions=_tx(
            [
                ("a", "2024-01-05", 1.0),
                ("a", "2024-02-05", 1.0),
                ("a", "2024-02-06", 1.0),
                ("a", "2024-04-05", 1.0),
                ("b", "2024-02-10", 1.0),
                ("b", "2024-03-10", 1.0),
                ("c", "2024-05-20", -3.0),  # a return is not activity
            ]
        )
    )
    got = lc.lifecycle_activity(con, as_of="2024-05-31")
    expected = pd.DataFrame(
        {
            "period": pd.to_datetime(
                ["2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]
            ),
            "new": [1, 1, 0, 0, 0],
            "returning": [0, 1, 1, 0, 0],
            "resurrecting": [0, 0, 0, 1, 0],
            "dormant": [0, 0, -1, -1, -1],
        }
    )
    assert_frame_equal(got, expected, check_dtype=False)
    # mid-May the month is not complete: it is left out
    assert lc.lifecycle_activity(con, as_of="2024-05-15")["period"].max() == pd.Timestamp(
        "2024-04-01"
    )
    weekly = lc.lifecycle_activity(con, as_of="2024-05-31", freq="W")
    assert weekly["new"].sum() == 2 and weekly["resurrecting"].sum() >= 1
    with pytest.raises(UsageError):
        lc.lifecycle_activity(con, freq="Q")


def test_transitions_between_two_dates(con):
    tr = lc.stage_transitions(con, start="2024-03-31", end=AS_OF, **TH)
    ends = lc.customer_stages(con, as_of=AS_OF, **TH)
    assert tr["customers"].sum() == len(ends)
    flows = {(a, b): n for a, b, n in tr.itertuples(index=False)}
    # won_back was churned on 2024-03-31 (last purchase 2023-06-01) and is won back now
    starts = lc.customer_stages(con, as_of="2024-03-31", **TH).set_index("customer_id")["stage"]
    assert starts["won_back"] == "Churned"
    assert flows[("Churned", "Won back")] >= 1
    # new_today first appears after the first date
    assert flows[(lc.NOT_YET_KNOWN, "New")] >= 1
    # the flows agree with the two stage lists customer by customer
    both = (
        ends.set_index("customer_id")["stage"].rename("to").to_frame().join(starts.rename("from"))
    )
    both["from"] = both["from"].fillna(lc.NOT_YET_KNOWN)
    expected = both.groupby(["from", "to"]).size().to_dict()
    assert flows == expected
    share = lc.transition_matrix(tr, share=True)
    assert share.sum(axis=1).round(9).eq(1.0).all()
    assert list(share.columns) == list(lc.STAGES)
    with pytest.raises(UsageError, match="after"):
        lc.stage_transitions(con, start=AS_OF, end="2024-01-01")


def test_touchpoints_due_this_week_by_hand():
    rows = [
        ("activation", "2024-06-25", 10.0),  # follow-up due 07-02
        ("nudge", "2024-06-02", 10.0),  # 30-day nudge due 07-02 (still one purchase)
        ("nudge_bought", "2024-06-02", 10.0),  # bought again: no nudge
        ("nudge_bought", "2024-06-20", 10.0),
        ("check3", "2024-04-01", 10.0),  # 91 days after: 07-01
        ("check3", "2024-06-15", 10.0),
        ("check6", "2024-01-01", 10.0),  # 182 days after: 07-01
        ("check6", "2024-06-01", 10.0),
        ("winback", "2024-03-01", 10.0),  # last purchase + 90 = 07-04, last day before churn
        ("winback", "2024-04-05", 10.0),
        ("edge_in", "2024-06-29", 10.0),  # activation due 07-06 = as_of + 6: in
        ("edge_out", "2024-06-30", 10.0),  # activation due 07-07: next week
        ("churned6", "2023-12-31", 10.0),  # 6-month check-in would be 06-30 but churned
    ]
    con = store.from_frames(transactions=_tx(rows))
    due = lc.touchpoints_due(con, as_of=AS_OF, **TH)
    got = sorted(zip(due["touchpoint"], due["customer_id"], due["due_date"].dt.date, strict=True))
    expected = sorted(
        [
            ("Activation follow-up", "activation", dt.date(2024, 7, 2)),
            ("Activation follow-up", "edge_in", dt.date(2024, 7, 6)),
            ("Second-purchase nudge", "nudge", dt.date(2024, 7, 2)),
            ("3-month check-in", "check3", dt.date(2024, 7, 1)),
            ("6-month check-in", "check6", dt.date(2024, 7, 1)),
            ("Win-back before churn", "winback", dt.date(2024, 7, 4)),
        ]
    )
    assert got == expected
    assert due["touchpoint"].iloc[0] == "Activation follow-up"  # rule order is kept
    custom = (lc.Touchpoint("Day-after thanks", "last_purchase", 1),)
    thanks = lc.touchpoints_due(con, as_of=AS_OF, days=1, touchpoints=custom, **TH)
    assert thanks["customer_id"].tolist() == ["edge_in"]  # 06-29 + 1 = as_of
    with pytest.raises(UsageError):
        lc.touchpoints_due(con, touchpoints=(lc.Touchpoint("x", "signup", 1),), **TH)


def test_definitions_takeaways_and_labels_are_translated(con):
    th = lc.StageThresholds(**TH)
    en = dict(lc.stage_definitions(th))
    assert "90 days" in en["Churned"] and "30 days" in en["New"]
    assert "50%" in en["At risk"]
    zh = lc.stage_definitions(th, "zh")
    assert all(s in ZH.values() for s, _ in zh)
    details = lc.stage_details(con, as_of=AS_OF, **TH)
    summary = lc.stage_summary(details)
    assert summary["customers"].sum() == len(EXPECTED)
    text = lc.takeaway_stages(summary)
    assert "16 buyers" in text and "4 are at risk" in text and "1 churned" in text
    for text in lc.THRESHOLD_LABELS.values():
        assert text in ZH
    for text in lc._DEFINITIONS.values():
        assert text in ZH
    for tp in lc.DEFAULT_TOUCHPOINTS:
        assert tp.name in ZH and tp.purpose in ZH
    for name in (*lc.STAGES, lc.NOT_YET_KNOWN, *lc.LIFECYCLE_STATUSES):
        assert name in ZH


def test_stage_timeline_holds_each_customers_stage_at_each_date(con):
    tl = lc.stage_timeline(con, as_of=AS_OF, **TH)
    assert tl.dates[-1] == AS_OF and tl.dates[-2] == dt.date(2024, 5, 31)
    assert tl.customer_ids.tolist() == sorted(tl.customer_ids)
    assert not tl.codes.flags.writeable  # shared between callers
    for j in (0, 6, len(tl.dates) - 1):
        stages = lc.customer_stages(con, as_of=tl.dates[j], **TH).set_index("customer_id")
        row = dict(zip(tl.customer_ids, tl.codes[:, j], strict=True))
        for cid, code in row.items():
            expected = stages["stage"].get(cid)
            assert (lc.STAGES[code] if code >= 0 else None) == expected, (cid, tl.dates[j])
    kept = tl.keep(pd.Series(["zz-unknown", tl.customer_ids[1]]))
    assert kept.customer_ids.tolist() == [tl.customer_ids[1]]
    assert (kept.codes[0] == tl.codes[1]).all()
    assert tl.keep(None) is tl


def test_region_filter_equals_the_unfiltered_result_restricted(demo_template):
    """Stages are per customer: under a customer-only filter the unfiltered timeline, details
    and transitions restricted to the kept customers equal those computed on filtered data."""
    from clm_core.filters import (
        Filters,
        apply_filters,
        customer_filter_ids,
        filter_options,
        keep_customers,
    )

    base = store.connect(demo_template)
    rules = lc.derive_thresholds(base).as_dict()
    last = lc.purchase_date_range(base)[1]
    start = last - dt.timedelta(days=120)
    for region in filter_options(base)["regions"][:2]:
        f = Filters(regions=(region,))
        ids = customer_filter_ids(base, f)
        cur = store.cursor(base)
        apply_filters(cur, f)
        assert_frame_equal(
            lc.counts_of(lc.stage_timeline(base, as_of=last, **rules).keep(ids)),
            lc.stage_counts(cur, as_of=last, **rules),
        )
        filtered = lc.stage_details(cur, as_of=last, **rules)
        assert_frame_equal(
            keep_customers(lc.stage_details(base, as_of=last, **rules), ids), filtered
        )
        moves = lc.transitions_of(
            keep_customers(lc.stage_details(base, as_of=start, **rules), ids), filtered
        )
        assert_frame_equal(moves, lc.stage_transitions(cur, start=start, end=last, **rules))
        assert moves["customers"].sum() == len(filtered)


def _sql_details(con, as_of, rules) -> pd.DataFrame:
    """The stage SQL (the reference the array rules must agree with) at one date."""
    sql, params = lc._stage_query(con, [as_of], lc.StageThresholds(**rules))
    df = con.execute(f"select * exclude (as_of) from ({sql}) order by customer_id", params).df()
    for col in ("first_purchase", "last_purchase"):
        df[col] = pd.to_datetime(df[col])
    return df


def test_purchase_history_agrees_with_the_stage_sql_on_the_hand_cases(con):
    history = lc.purchase_history(con)
    for as_of in (AS_OF, dt.date(2024, 3, 31), dt.date(2023, 12, 1), dt.date(2023, 1, 1)):
        assert_frame_equal(history.details(as_of, **TH), _sql_details(con, as_of, TH))
    tl = history.timeline(AS_OF, **TH)
    for j, d in enumerate(tl.dates):
        sql = _sql_details(con, d, TH)
        got = pd.Series(tl.codes[:, j], index=tl.customer_ids)
        known = got[got >= 0]
        assert known.index.tolist() == sql["customer_id"].tolist(), d
        assert [lc.STAGES[k] for k in known] == sql["stage"].tolist(), d


def test_spend_sums_are_rounded_so_summation_order_cannot_decide_a_stage():
    """56.11 - 56.11 + 54.24 is 54.239999999999995 in one order of summation and 54.24 in
    another; 54.24 is exactly half of the previous window's 108.48, which is no drop."""
    tx = _tx(
        [
            ("c", "2024-03-29", 91.91),
            ("c", "2024-06-17", 108.48),
            ("c", "2024-10-19", 56.11),
            ("c", "2024-10-25", -56.11),
            ("c", "2024-11-27", 54.24),
        ]
    )
    con = store.from_frames(transactions=tx)
    rules = {**TH, "spend_window_days": 89, "churn_days": 89, "loyal_purchases": 16}
    for details in (
        lc.stage_details(con, as_of="2024-11-30", **rules),
        _sql_details(con, dt.date(2024, 11, 30), rules),
    ):
        row = details.iloc[0]
        assert (row["recent_spend"], row["previous_spend"]) == (54.24, 108.48)
        assert row["stage"] == "Active"


@pytest.mark.parametrize(
    "filters",
    [
        {"channels": ("app",)},
        {"date_from": dt.date(2024, 3, 1)},
        {"channels": ("web", "store"), "date_to": dt.date(2025, 6, 30)},
    ],
)
def test_purchase_history_agrees_with_the_stage_sql_on_filtered_demo_data(demo_template, filters):
    from clm_core.filters import Filters, apply_filters

    base = store.connect(demo_template)
    rules = lc.derive_thresholds(base).as_dict()
    cur = store.cursor(base)
    apply_filters(cur, Filters(**filters))
    last = lc.purchase_date_range(cur)[1]
    ledger = lc.transaction_ledger(base)  # unfiltered: the filters are applied to its arrays
    dated = "date_from" in filters or "date_to" in filters
    derived = ledger.history(
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        channels=filters.get("channels"),
        first_event=lc.first_event_days(
            base, ledger, date_from=filters.get("date_from"), date_to=filters.get("date_to")
        )
        if dated
        else None,
    )
    for history in (lc.purchase_history(cur), derived):
        for as_of in (last, last - dt.timedelta(days=90), last - dt.timedelta(days=400)):
            assert_frame_equal(history.details(as_of, **rules), _sql_details(cur, as_of, rules))
        tl = history.timeline(last, **rules)
        for j in (0, len(tl.dates) // 2, len(tl.dates) - 1):
            sql = _sql_details(cur, tl.dates[j], rules)
            got = pd.Series(tl.codes[:, j], index=tl.customer_ids)
            assert [lc.STAGES[k] for k in got[got >= 0]] == sql["stage"].tolist()


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"channels": ("app",)},
        {"date_from": dt.date(2024, 3, 1)},
        {"channels": ("web", "store", "nowhere"), "date_to": dt.date(2025, 6, 30)},
    ],
)
def test_ledger_buyers_are_the_filtered_transactions_customers(demo_template, filters):
    from clm_core.filters import Filters, apply_filters, filtered_customer_ids

    base = store.connect(demo_template)
    cur = store.cursor(base)
    apply_filters(cur, Filters(**filters))
    ledger = lc.transaction_ledger(base)
    got = ledger.customer_ids[ledger.buyers(**filters)].reset_index(drop=True)
    want = filtered_customer_ids(cur)
    assert got.tolist() == want.tolist() and len(want) > 100
    kept = ledger.kept(**filters)
    assert kept.sum() == cur.execute("select count(*) from transactions").fetchone()[0]


def test_a_ledger_derives_the_filtered_history_by_hand():
    """The ledger keeps everyone; a filter drops the transactions it does not keep, and with
    them the customers known only through those transactions."""
    from clm_core.filters import Filters, apply_filters

    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b", "c", "c", "d"],
            "order_ts": pd.to_datetime(
                [
                    "2024-01-05",
                    "2024-02-01",
                    "2024-02-01",
                    "2024-03-01",
                    "2024-01-10",
                    "2024-04-01",
                    "2024-02-15",
                ]  # fmt: skip
            ),
            "amount": [10.0, -4.0, 6.0, 8.0, None, 5.0, 7.0],
            "channel": ["web", "app", "web", "app", "web", None, "app"],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ["b", "e"], "signup_ts": pd.to_datetime(["2024-02-20", None])}
    )
    events = pd.DataFrame(
        {
            "customer_id": ["d", "d"],
            "event_name": ["visit", "visit"],
            "event_ts": pd.to_datetime(["2023-12-01", "2024-03-05"]),
        }
    )
    con = store.from_frames(transactions=tx, customers=customers, events=events)
    ledger = lc.transaction_ledger(con)
    assert ledger.customer_ids.tolist() == ["a", "b", "c", "d", "e"]
    assert set(ledger.channels) == {"web", "app"}

    def day(s):
        return (dt.date.fromisoformat(s) - dt.date(1970, 1, 1)).days

    web = ledger.history(channels=("web",))
    # a: two web purchases; c: known by a web order without an amount (no purchase); b and d
    # have no web order but a signup or an event; e signed up with no date (known always).
    assert web.customer_ids.tolist() == ["a", "b", "c", "d", "e"]
    assert web.known.tolist() == [day("2024-01-05"), day("2024-02-20"), day("2024-01-10"),
                                  day("2023-12-01"), day("0001-01-01")]  # fmt: skip
    assert web.buy_c.tolist() == [0, 0] and web.buy_gap.tolist() == [-1, 27]
    assert web.tx_amount.tolist() == [10.0, 6.0]  # c's order has no amount

    cur = store.cursor(con)
    apply_filters(cur, Filters(date_from=dt.date(2024, 2, 1)))
    events = lc.first_event_days(con, ledger, date_from=dt.date(2024, 2, 1))
    assert events.tolist() == [lc._NEVER] * 3 + [day("2024-03-05"), lc._NEVER]
    spring = ledger.history(date_from=dt.date(2024, 2, 1), first_event=events)
    # c is known by its April order now; d by its order on 2024-02-15, before its event.
    assert spring.customer_ids.tolist() == ["a", "b", "c", "d", "e"]
    assert spring.known[2:4].tolist() == [day("2024-04-01"), day("2024-02-15")]
    a = spring.buy_c == 0  # a's return and purchase on 2024-02-01 are one purchase day
    assert spring.buy_d[a].tolist() == [day("2024-02-01")]
    assert ledger.history(channels=()).customer_ids.equals(ledger.history().customer_ids)
    with pytest.raises(UsageError, match="first event"):  # the ledger's events are unfiltered
        ledger.history(date_from=dt.date(2024, 2, 1))
    none = ledger.history(channels=("store",))
    assert none.customer_ids.tolist() == ["b", "d", "e"]  # known without a transaction
    assert len(none.buy_c) == 0 and len(none.tx_c) == 0
    for as_of in ("2024-02-29", "2024-04-30"):
        assert_frame_equal(
            ledger.history().details(as_of, **TH), lc.purchase_history(con).details(as_of, **TH)
        )
        assert_frame_equal(
            spring.details(as_of, **TH), lc.purchase_history(cur).details(as_of, **TH)
        )


def test_stages_at_any_dates_summarise_like_stage_details(con):
    history = lc.purchase_history(con)
    dates = (dt.date(2023, 12, 15), dt.date(2024, 3, 1), AS_OF)
    both = history.at_dates(dates, **TH)
    assert both.dates == dates
    for d in dates:
        assert_frame_equal(
            lc.timeline_summary(both, d), lc.stage_summary(lc.stage_details(con, as_of=d, **TH))
        )
    with pytest.raises(UsageError, match="ascending"):
        history.at_dates((AS_OF, dt.date(2024, 1, 1)), **TH)


@pytest.mark.parametrize(
    "date_from, date_to",
    [("2024-03-01", None), (None, "2024-06-30"), ("2024-09-15", "2025-02-28"), (None, None)],
)
def test_first_event_days_make_customers_known_as_a_scan_of_every_event(
    demo_template, date_from, date_to
):
    """Looked up for a few customers only, the events' first days within a range make everyone
    known on the same day as the first event in range of every customer (scanned in SQL)."""
    base = store.connect(demo_template)
    ledger = lc.transaction_ledger(base)
    lo = dt.date.fromisoformat(date_from) if date_from else dt.date(1, 1, 1)
    hi = dt.date.fromisoformat(date_to) if date_to else dt.date(9999, 12, 31)
    scan = base.execute(
        """select cast(customer_id as varchar) as customer_id,
                  cast(date_diff('day', date '1970-01-01', min(cast(event_ts as date))) as int) d
        from events where cast(event_ts as date) between $lo and $hi group by 1""",
        {"lo": lo, "hi": hi},
    ).df()
    expected = np.full(len(ledger.customer_ids), lc._NEVER, dtype=np.int64)
    at = ledger.customer_ids.reset_index().set_index("customer_id").loc[scan["customer_id"]]
    expected[at["index"].to_numpy()] = scan["d"].to_numpy()
    got = lc.first_event_days(
        base,
        ledger,
        date_from=lo if date_from else None,
        date_to=hi if date_to else None,
    )
    # the day each customer is first known by a signup or an event in range
    assert (np.minimum(ledger.signup, got) == np.minimum(ledger.signup, expected)).all()
    assert ((got == expected) | (ledger.signup <= got.clip(max=expected))).all()
    assert (got != lc._NEVER).sum() > 100  # events in range made customers known


def test_stage_trend_of_one_month_end_is_drawn_as_bars():
    """A short date range has one month end: a stacked area of one point draws nothing, so
    that chart stacks bars instead; two or more month ends keep the areas."""
    from clm_core.charts.lifecycle import stage_trend_figure

    one = pd.DataFrame(
        {
            "as_of": [pd.Timestamp("2025-01-31")] * 3,
            "stage": ["new", "active", "lapsed"],
            "customers": [10, 20, 5],
        }
    )
    fig = stage_trend_figure(one)
    assert [tr.type for tr in fig.data] == ["bar"] * 3
    assert fig.layout.barmode == "stack"
    assert sum(tr.y[0] for tr in fig.data) == 35
    two = pd.concat([one, one.assign(as_of=pd.Timestamp("2025-02-28"))])
    assert [tr.type for tr in stage_trend_figure(two).data] == ["scatter"] * 3
