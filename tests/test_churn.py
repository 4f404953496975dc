"""Churn: point-in-time features (by hand and leakage-free), labels, model vs baselines, reasons,
storage per dataset version, watchlist and rule alerts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from clm_core import churn, store
from clm_core.churn_features import (
    FEATURES,
    REASON_GROUP,
    REASON_TEMPLATES,
    churn_labels,
    point_in_time_features,
    reason_text,
    top_reasons,
)
from clm_core.errors import NotEnoughData, UsageError
from clm_core.filters import Filters, apply_filters
from clm_core.i18n import ZH
from tests.test_churn_synth import synth_frames, write_synth

CUTOFF = dt.date(2024, 7, 1)
T = pd.Timestamp


# ------------------------------------------------------------------ hand-checked features


def _hand_frames() -> dict[str, pd.DataFrame]:
    tx = pd.DataFrame(
        [
            # A: every 21 days, then silent; a return, a discount, two channels, two categories
            ("A", "a1", T("2024-03-01 10:00"), 50.0, "web", "x", 0.0),
            ("A", "a2", T("2024-03-22 10:00"), 50.0, "web", "y", 5.0),
            ("A", "a3", T("2024-04-12 10:00"), 50.0, "store", "x", 0.0),
            ("A", "a3r", T("2024-04-20 10:00"), -50.0, "store", "x", 0.0),
            ("A", "a4", T("2024-07-01 00:00"), 999.0, "web", "x", 0.0),  # at the cutoff: out
            ("A", "a5", T("2024-07-15 00:00"), 999.0, "web", "x", 0.0),
            # B: one purchase a minute before midnight of the day before the cutoff
            ("B", "b1", T("2024-06-30 23:59"), 20.0, "app", "x", 0.0),
            # C: last bought more than a year before the cutoff: not active
            ("C", "c1", T("2023-01-01 10:00"), 70.0, "web", "x", 0.0),
        ],
        columns=[
            "customer_id",
            "order_id",
            "order_ts",
            "amount",
            "channel",
            "category",
            "discount",
        ],
    )
    feedback = pd.DataFrame(
        [
            ("A", T("2024-05-01"), "survey", 7.0),
            ("A", T("2024-06-01"), "complaint", 2.0),
            ("A", T("2024-07-02"), "survey", 1.0),  # after the cutoff
        ],
        columns=["customer_id", "created_ts", "kind", "score"],
    )
    events = pd.DataFrame(
        [
            ("A", "visit", T("2024-03-15")),
            ("A", "login", T("2024-06-21")),
            ("A", "purchase", T("2024-06-25")),  # purchase events are not activity
            ("A", "login", T("2024-07-03")),  # after the cutoff
        ],
        columns=["customer_id", "event_name", "event_ts"],
    )
    return {"transactions": tx, "feedback": feedback, "events": events}


def test_features_by_hand():
    fs = point_in_time_features(store.from_frames(**_hand_frames()), CUTOFF)
    f = fs.frame.set_index("customer_id")
    assert list(f.index) == ["A", "B"]  # C is not active
    a = f.loc["A"]
    expected = {
        "recency_days": 80, "tenure_days": 122, "purchase_days": 3, "orders": 3,
        "revenue": 100, "avg_order_value": 100 / 3, "usual_gap_days": 21, "gap_ratio": 80 / 21,
        "orders_30d": 0, "orders_90d": 1, "orders_prev_90d": 2, "order_trend": -1 / 3,
        "spend_90d": 50, "spend_prev_90d": 100, "spend_trend": -1 / 3, "last_order_ratio": 1.0,
        "returns_rate": 1 / 3, "discount_share": 1 / 3, "n_channels": 2,
        "main_channel_share": 2 / 3, "n_categories": 2, "complaints_90d": 1,
        "days_since_complaint": 30, "latest_score": 7, "events_30d": 1, "events_90d": 1,
        "events_prev_90d": 1, "event_trend": 0, "days_since_event": 10,
    }  # fmt: skip
    for name, value in expected.items():
        assert a[name] == pytest.approx(value), name
    b = f.loc["B"]
    assert b["recency_days"] == 1 and np.isnan(b["usual_gap_days"]) and np.isnan(b["gap_ratio"])
    assert b["complaints_90d"] == 0 and b["events_30d"] == 0 and np.isnan(b["days_since_event"])
    # 2 customers cannot fit a CLV model: P(alive) is left out and the reason is given
    assert [(o.feature, o.reason) for o in fs.omitted] == [
        ("p_alive", "too little data for the CLV model at a cutoff")
    ]


def test_absent_tables_and_columns_are_reported():
    tx = _hand_frames()["transactions"].drop(columns=["discount", "category"])
    fs = point_in_time_features(store.from_frames(transactions=tx), CUTOFF, with_p_alive=False)
    reasons = {o.feature: o.reason for o in fs.omitted}
    assert reasons["events_30d"] == "no events table"
    assert reasons["complaints_90d"] == "no feedback table"
    assert reasons["discount_share"] == "transactions have no discount values"
    assert reasons["n_categories"] == "transactions have no category values"
    assert "n_channels" in fs.features and "discount_share" not in fs.frame.columns
    assert set(fs.features) | set(reasons) == set(FEATURES)


def test_labels_use_the_window_after_the_cutoff():
    con = store.from_frames(**_hand_frames())
    ids = pd.Series(["A", "B"])
    assert churn_labels(con, ids, CUTOFF, 14).tolist() == [0, 1]  # A buys at the cutoff itself
    assert churn_labels(con, ids, dt.date(2024, 7, 2), 14).tolist() == [0, 1]  # 07-15 is in
    assert churn_labels(con, ids, dt.date(2024, 7, 2), 13).tolist() == [1, 1]  # ends before it


# ------------------------------------------------------------------------ synthetic data


@pytest.fixture(scope="module")
def frames():
    return synth_frames(2000, seed=0)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """A dataset file, so the trained model is stored and later calls load it."""
    path = tmp_path_factory.mktemp("churn") / "synth.duckdb"
    write_synth(path, n=2000, seed=0)
    c = store.connect(path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def fit(con):
    return churn.fit_churn(con)


def test_at_least_twenty_features(con):
    fs = point_in_time_features(con, CUTOFF)
    assert len(fs.features) >= 20
    assert fs.omitted == () and "p_alive" in fs.features
    assert fs.frame["p_alive"].between(0, 1).all()
    assert fs.frame["recency_days"].max() <= churn.ACTIVE_DAYS


def _change_after(frames: dict, cutoff: dt.date) -> dict:
    """Every kind of change at or after the cutoff: edits, deletions, new rows, a new customer."""
    c = T(cutoff)
    out = {}
    tx = frames["transactions"].copy()
    late = tx["order_ts"] >= c
    tx.loc[late, "amount"] *= 3
    tx = tx.drop(tx.index[late][::2])
    ids = tx["customer_id"].unique()
    extra = pd.DataFrame({"customer_id": ids, "order_id": [f"x{i}" for i in range(len(ids))],
                          "order_ts": c, "amount": 10.0, "channel": "web", "category": "shoes",
                          "discount": 1.0})  # fmt: skip
    newbie = extra.iloc[:1].assign(
        customer_id="NEW", order_id="n1", order_ts=c + pd.Timedelta("3D")
    )
    out["transactions"] = pd.concat([tx, extra, newbie], ignore_index=True)
    ev = frames["events"]
    out["events"] = pd.concat(
        [ev[ev["event_ts"] < c], pd.DataFrame({"customer_id": ids, "event_name": "login", "event_ts": c})],
        ignore_index=True,
    )  # fmt: skip
    fb = frames["feedback"]
    out["feedback"] = pd.concat(
        [fb, pd.DataFrame({"customer_id": ids, "created_ts": c, "kind": "complaint", "score": 1.0})],
        ignore_index=True,
    )  # fmt: skip
    out["customers"] = frames["customers"]
    return out


def test_no_leakage_from_after_the_cutoff(frames, con):
    changed = store.from_frames(**_change_after(frames, CUTOFF))
    before = point_in_time_features(con, CUTOFF)
    after = point_in_time_features(changed, CUTOFF)
    assert before.features == after.features and "p_alive" in before.features
    pd.testing.assert_frame_equal(before.frame, after.frame)
    # the change is real: it changes the labels, which are meant to look ahead
    ids = before.frame["customer_id"]
    assert churn_labels(con, ids, CUTOFF, 30).sum() > churn_labels(changed, ids, CUTOFF, 30).sum()


def test_model_beats_rule_baselines_on_planted_signal(fit, frames):
    m = churn.metrics_table(fit).set_index("method")
    assert set(m.index) == set(churn.BASELINES)
    gb = m.loc["gradient_boosting"]
    for rule in ("recency_rule", "p_alive_rule"):
        assert gb["roc_auc"] > m.loc[rule, "roc_auc"] + 0.05, rule
        assert gb["pr_auc"] > m.loc[rule, "pr_auc"] + 0.03, rule
    assert gb["top_decile_lift"] > 1.5
    # out of time: train window ends where the test window starts, which ends at the data's end
    assert fit.train_cutoff + dt.timedelta(days=fit.horizon_days) == fit.test_cutoff
    assert fit.test_cutoff + dt.timedelta(days=fit.horizon_days) == fit.score_cutoff
    last = frames["transactions"]["order_ts"].max().date()
    assert fit.as_of == last and fit.score_cutoff == last + dt.timedelta(days=1)
    # the planted signal (visits fading, complaints) is what the model uses most
    top = set(fit.importance["feature"].head(5))
    assert top & {"events_90d", "events_30d", "event_trend", "days_since_event", "events_prev_90d"}


def test_horizon_is_about_three_median_gaps(con, frames):
    tx = frames["transactions"]
    days = tx[tx["amount"] > 0].assign(d=tx["order_ts"].dt.normalize())[["customer_id", "d"]]
    gaps = (
        days.drop_duplicates().sort_values(["customer_id", "d"]).groupby("customer_id")["d"].diff()
    )
    per_customer = gaps.dt.days.groupby(days.drop_duplicates()["customer_id"]).median().dropna()
    assert churn.default_horizon(con) == round(3 * per_customer.median())


def test_too_long_horizon_says_what_is_possible(con):
    with pytest.raises(NotEnoughData, match=r"horizon of at most 3\d\d days"):
        churn.fit_churn(con, horizon_days=400)


def test_estimator_contract(fit):
    X = fit.score_frame[list(fit.features)]
    model = churn.ChurnModel(random_state=3)
    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    y = (X["recency_days"] > 60).astype(int)
    assert model.fit(X, y) is model
    assert hasattr(model, "model_") and model.n_features_in_ == len(fit.features)
    again = clone(model).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), again.predict_proba(X))
    assert clone(model).get_params()["random_state"] == 3
    with pytest.raises(UsageError, match="kind"):
        churn.ChurnModel(kind="svm").fit(X, y)
    with pytest.raises(NotEnoughData):
        churn.ChurnModel().fit(X, np.zeros(len(X)))


def test_reasons_in_plain_words():
    row = pd.Series({"recency_days": 74.0, "usual_gap_days": 21.0, "gap_ratio": 74 / 21,
                     "spend_90d": 40.0, "spend_prev_90d": 100.0, "complaints_90d": 2.0,
                     "days_since_event": np.nan, "p_alive": 0.234})  # fmt: skip
    assert reason_text("recency_days", row) == "no order for 74 days, usually every 21"
    assert reason_text("gap_ratio", row) == "no order for 74 days, usually every 21"
    assert reason_text("recency_days", row, "zh") == "已 74 天未下单，平常每 21 天一单"
    assert reason_text("spend_trend", row) == "spend down 60% (last 90 days vs the 90 before)"
    assert reason_text("complaints_90d", row) == "complaints in the last 90 days: 2"
    assert reason_text("days_since_event", row) == "no visits/logins on record"
    assert reason_text("p_alive", row, "zh") == "存活概率仅 23%"
    single = row.copy()
    single["usual_gap_days"] = np.nan
    assert reason_text("recency_days", single) == (
        "no order for 74 days (only one purchase day so far)"
    )
    assert [t for t in REASON_TEMPLATES if t not in ZH] == []


def test_top_reasons_rank_groups_and_skip_small_pushes():
    frame = pd.DataFrame({"recency_days": [74.0, 3.0], "usual_gap_days": [21.0, 5.0],
                          "orders_90d": [1.0, 4.0], "orders_prev_90d": [5.0, 4.0],
                          "complaints_90d": [2.0, 0.0], "p_alive": [0.2, 0.9]})  # fmt: skip
    groups = ["recency_days", "orders_90d", "complaints_90d", "p_alive"]
    contrib = np.array([[0.2, 0.05, 0.3, 0.02], [0.005, 0.0, -0.1, 0.009]])
    got = top_reasons(contrib, groups, frame).tolist()
    assert got == [
        "complaints in the last 90 days: 2; no order for 74 days, usually every 21; "
        "orders down 80% (last 90 days vs the 90 before)",
        "",
    ]
    assert (
        top_reasons(contrib, groups, frame, lang="zh").iloc[0].startswith("最近 90 天投诉 2 次；")
    )


def test_explain_points_at_the_feature_that_drives_risk():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"recency_days": rng.uniform(0, 200, 3000), "noise": rng.normal(size=3000)})
    y = (X["recency_days"] + rng.normal(0, 20, 3000) > 100).astype(int)
    model = churn.ChurnModel().fit(X, y)
    probe = pd.DataFrame({"recency_days": [190.0, 10.0], "noise": [0.0, 0.0]})
    reasons = model.explain(probe)
    assert reasons[0][0] == "recency_days"
    assert reasons[1] == []  # low risk: nothing pushes it up


def test_top_decile_lift_counts_ties_pro_rata():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)  # base rate 0.2, 20 rows, top decile = 2
    assert churn.score_metrics(y, y.astype(float), 0.5)["top_decile_lift"] == pytest.approx(5.0)
    # 4 tied at the top with 2 churners: expected 1 churner in the top 2 -> rate 0.5, lift 2.5
    s = np.zeros(20)
    s[[0, 1, 2, 3]] = 1.0
    assert churn.score_metrics(y, s, 0.5)["top_decile_lift"] == pytest.approx(2.5)
    m = churn.score_metrics(y, s, 0.5)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)


def test_calibration_and_confusion(fit):
    cal = churn.calibration(fit)
    assert len(cal) >= 5 and cal["predicted"].is_monotonic_increasing
    cm = churn.confusion(fit, 0.5)
    assert cm.to_numpy().sum() == fit.n_test
    assert cm.loc["churned"].sum() == fit.test["y"].sum()


# ------------------------------------------------------------------------------ watchlist


def test_watchlist_ranks_active_customers_by_value_at_risk(con, fit, monkeypatch):
    wl = churn.watchlist(con)
    assert wl["value_at_risk"].is_monotonic_decreasing
    assert len(wl) == len(fit.score_frame) and wl["customer_id"].is_unique
    assert wl["churn_probability"].between(0, 1).all()
    value = wl["clv"].where(wl["value_basis"] == "clv", wl["revenue"].clip(lower=0))
    np.testing.assert_allclose(wl["value_at_risk"], wl["churn_probability"] * value)
    assert (wl["recency_days"] <= churn.ACTIVE_DAYS).all()
    risky = wl[wl["churn_probability"] > 0.8]
    assert len(risky) and (risky["reasons"].str.len() > 0).all()
    assert risky["reasons"].str.count("; ").max() <= 2  # at most three reasons
    assert set(wl["owner"].dropna()) <= {"Ann", "Bo", "Chen", "Dee"}


def test_watchlist_falls_back_to_revenue_without_clv(con, monkeypatch):
    """When the CLV model cannot be fitted (too little data), value at risk uses revenue."""
    import clm_core.clv as clv
    from clm_core.errors import NotEnoughData

    def no_clv(*args, **kwargs):
        raise NotEnoughData("The models need at least 500 customers.")

    monkeypatch.setattr(clv, "predict_clv", no_clv)
    wl = churn.watchlist(con)
    assert (wl["value_basis"] == "revenue").all() and wl["clv"].isna().all()
    np.testing.assert_allclose(
        wl["value_at_risk"], wl["churn_probability"] * wl["revenue"].clip(lower=0)
    )


def test_watchlist_in_chinese(con):
    wl = churn.watchlist(con, lang="zh")
    text = " ".join(wl["reasons"].head(50))
    assert "天" in text and "days" not in text


def test_filter_and_group_helpers(con):
    wl = churn.watchlist(con)
    few = churn.filter_watchlist(wl, min_probability=0.9, owners=("Ann",))
    assert (few["owner"] == "Ann").all() and (few["churn_probability"] >= 0.9).all()
    by = churn.risk_by(wl, "owner")
    assert by["customers"].sum() == len(wl)
    assert by["mean_risk"].is_monotonic_decreasing


# ------------------------------------------------------------------- stored per version


def test_model_is_stored_with_the_dataset_version(tmp_path):
    path = tmp_path / "synth.duckdb"
    write_synth(path, n=800, seed=2)
    c = store.connect(path)
    assert not churn.is_trained(c, horizon_days=60)
    steps = []
    first = churn.fit_churn(c, horizon_days=60, progress=lambda f, m: steps.append((f, m)))
    assert steps[-1] == (1.0, "Done") and [f for f, _ in steps] == sorted(f for f, _ in steps)
    assert churn.is_trained(c, horizon_days=60)
    version = store.dataset_version(path)
    stored = list((tmp_path / ".models" / "synth").glob("*.pkl"))
    assert [p.name.split("-")[:3] for p in stored] == [version.split("-")]
    assert first.dataset_version == version
    assert churn.fit_churn(c, horizon_days=60).trained_at == first.trained_at  # loaded
    # a global filter is another view of the data: not the stored model
    cur = store.cursor(c)
    apply_filters(cur, Filters(channels=("store",)))
    assert not churn.is_trained(cur, horizon_days=60)
    c.close()
    # a new upload changes the version: retrained, the old file removed
    write_synth(path, n=800, seed=3)
    c = store.connect(path)
    assert not churn.is_trained(c, horizon_days=60)
    churn.fit_churn(c, horizon_days=60)
    c.close()
    names = [p.name for p in (tmp_path / ".models" / "synth").glob("*.pkl")]
    assert len(names) == 1 and names[0].startswith(store.dataset_version(path))


# ------------------------------------------------------------------------------ rule alerts


def test_rule_alerts_by_hand():
    frames = _hand_frames()
    frames["customers"] = pd.DataFrame({"customer_id": ["A", "B"], "owner": ["Zoe", None]})
    c = store.from_frames(**frames)
    al = churn.rule_alerts(c, as_of="2024-06-30").set_index("customer_id")
    assert al.loc["A", ["no_purchase", "long_gap", "spend_drop", "recent_complaint"]].tolist() == [
        True, True, True, True,
    ]  # fmt: skip
    assert al.loc["B", ["no_purchase", "long_gap", "spend_drop", "recent_complaint"]].tolist() == [
        False, False, False, False,
    ]  # fmt: skip
    assert al.loc["A", "n_alerts"] == 4 and al.loc["B", "owner"] == "(none)"
    strict = churn.rule_alerts(c, as_of="2024-06-30", no_purchase_days=81, gap_factor=4,
                               spend_drop=0.6, complaint_days=29).set_index("customer_id")  # fmt: skip
    assert strict.loc["A", "n_alerts"] == 0
    counts = churn.alert_counts(al).set_index("alert")["customers"]
    assert counts["any"] == 1 and counts["no_purchase"] == 1
    owners = churn.alerts_by_owner(al)
    assert owners.iloc[0]["owner"] == "Zoe" and owners.iloc[0]["any"] == 1


def test_rule_alerts_without_feedback_have_no_complaint_alert():
    c = store.from_frames(transactions=_hand_frames()["transactions"])
    al = churn.rule_alerts(c, as_of="2024-06-30")
    assert "recent_complaint" not in al.columns
    assert churn.alert_label("no_purchase", "zh", days=30) == "30 天以上未购买"


# ------------------------------------------------- speed paths give the defined numbers


def _groups(model: churn.ChurnModel) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in model.feature_names_in_:
        out.setdefault(REASON_GROUP[f], []).append(f)
    return out


@pytest.mark.parametrize("floor", [0.0, 0.01], ids=["all-rows", "floor"])
def test_tree_walk_contributions_equal_one_prediction_per_group(fit, floor):
    """The fast path (trees re-evaluated only where a group is split on, on binned features)
    gives the definition's numbers: risk now minus risk with the group at its median."""
    model = fit.scorer
    X = fit.score_frame[list(fit.features)]
    groups = _groups(model)
    names = list(model.feature_names_in_)
    idx = [np.array([names.index(f) for f in m]) for m in groups.values()]
    arr = model._matrix(X)
    fast = model.contributions(X, groups, floor=floor)
    slow = model._contributions_by_prediction(arr, idx, floor)
    assert np.abs(slow).max() > 0.05  # the check has something to compare
    np.testing.assert_allclose(fast, slow, atol=1e-9)
    # row blocks do not change anything either
    np.testing.assert_allclose(model._contributions_by_tree(arr, idx, floor, block=97), slow,
                               atol=1e-9)  # fmt: skip


def test_contributions_of_logistic_baseline_use_the_definition(fit):
    X = fit.score_frame[list(fit.features)].head(200)
    got = fit.baseline.contributions(X, {"recency_days": ["recency_days"]})
    moved = X.assign(recency_days=fit.baseline.medians_[0])
    want = fit.baseline.predict_proba(X)[:, 1] - fit.baseline.predict_proba(moved)[:, 1]
    np.testing.assert_allclose(got[:, 0], want, atol=1e-12)


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        ([0, 0.4, 999.5, 1000, 1234567.8, -1500, 1e13 + 5], "money",
         ["0", "0", "1,000", "1,000", "1,234,568", "-1,500", "10,000,000,000,005"]),
        ([7.0, 3.5, 3.25, 10.0, 0.0], "score", ["7", "3.5", "3.25", "10", "0"]),
        ([0.234, 1.0, -0.5], "pct", ["23", "100", "50"]),
    ],
    ids=["money", "score", "pct"],
)  # fmt: skip
def test_numbers_in_reasons_are_formatted_without_a_loop(values, kind, expected):
    from clm_core.churn_features import _strings

    got = _strings(pd.Series(values, index=range(5, 5 + len(values))), kind)
    assert got.tolist() == expected and list(got.index) == list(range(5, 5 + len(values)))


def test_training_is_capped_by_a_stratified_sample(con, fit):
    small = churn.fit_churn(con, max_train_rows=300)
    assert small.sampled and small.n_fit_rows == 300 and small.max_train_rows == 300
    assert small.n_train == fit.n_train and small.n_test == fit.n_test > 300
    assert len(small.test) == small.n_test  # evaluated on every test customer
    assert len(small.score_frame) == len(fit.score_frame)  # and everyone is scored
    assert not fit.sampled and fit.n_fit_rows == max(fit.n_train, fit.n_test)
    y = np.array([1] * 900 + [0] * 100)
    X = pd.DataFrame({"a": np.arange(1000.0)})
    Xs, ys = churn._sample(X, y, 200, 0)
    assert len(Xs) == 200 and ys.mean() == pytest.approx(0.9)
    assert Xs["a"].is_monotonic_increasing  # rows keep their order
    assert churn._sample(X, y, 5000, 0)[0] is X


def test_as_of_bounds_and_an_earlier_cutoff(con, frames):
    first, last = churn.as_of_bounds(con)
    tx = frames["transactions"]
    assert last == tx["order_ts"].max().date()
    assert first == tx["order_ts"].min().date() + dt.timedelta(days=churn.MIN_HISTORY_DAYS + 27)
    early = last - dt.timedelta(days=60)
    wl = churn.watchlist(con, as_of=early)
    f = churn.fit_churn(con, as_of=early)
    assert f.as_of == early and f.score_cutoff == early + dt.timedelta(days=1)
    # nobody's last purchase is after the as-of date
    assert (wl["recency_days"] >= 0).all() and len(wl) == len(f.score_frame)
    sold = tx[tx["order_ts"] < T(early + dt.timedelta(days=1))]
    assert set(wl["customer_id"]) <= set(sold["customer_id"])


def test_tier_segment_stage_and_owner_values_in_chinese():
    from clm_core.lifecycle import STAGES
    from clm_core.segments import SEGMENTS, TIERS

    vocabulary = [*TIERS, *SEGMENTS, *STAGES, "(none)"]
    assert [v for v in vocabulary if v not in ZH] == []
    wl = pd.DataFrame({"customer_id": ["a", "b", "c"], "tier": ["Gold", "Diamond", None],
                       "segment": ["At Risk", "Champions", "Lost"],
                       "stage": ["Churned", "Won back", "Active"],
                       "owner": ["Ann", "(none)", None], "reasons": ["x", "y", "z"]})  # fmt: skip
    zh = churn.translate_values(wl, "zh")
    assert zh["tier"].tolist()[:2] == ["黄金", "钻石"] and pd.isna(zh["tier"].iloc[2])
    assert zh["segment"].tolist() == [ZH["At Risk"], ZH["Champions"], ZH["Lost"]]
    assert zh["stage"].tolist() == [ZH["Churned"], ZH["Won back"], ZH["Active"]]
    assert zh["owner"].tolist()[:2] == ["Ann", "（无）"]  # names stay as they are
    assert zh["reasons"].tolist() == ["x", "y", "z"] and wl["tier"].iloc[0] == "Gold"
    assert churn.translate_values(wl, "en") is wl
