"""Data without amounts (issue 20): a purchase log of customers and dates, stored as the load
stores it (amount 0.0 on every line, ``store.AMOUNTS_KEY`` false). Every count works as on the
same log with money; nothing is shown in money, and nothing of money reads 0."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clm_core import amounts, churn, customer360, experiments, i18n, overview, segments, store
from clm_core.charts.overview import trend_figure
from clm_core.charts.segments import (
    cluster_takeaway,
    profile_table,
    rf_heatmap_figure,
    rf_heatmap_takeaway,
    segment_share_figure,
    segment_share_takeaway,
)
from clm_core.churn_features import MONEY_FEATURES, NO_AMOUNTS_REASON, point_in_time_features
from clm_core.config import SCHEMAS
from clm_core.summary import customer_summary
from tests.conftest import without_amounts

# A: bought on four days (two lines on 03-10), B twice, C once long ago, D once this month.
LOG = [
    ("A", "2024-01-05"),
    ("A", "2024-02-01"),
    ("A", "2024-03-10"),
    ("A", "2024-03-10"),
    ("A", "2024-03-25"),
    ("B", "2024-02-20"),
    ("B", "2024-03-15"),
    ("C", "2023-11-01"),
    ("D", "2024-03-28"),
]
AS_OF = dt.date(2024, 3, 31)


def _write(path, *, amount: float, has_amounts: bool | None):
    """The log as a dataset file: every line ``amount``; the setting when not None."""
    tx = pd.DataFrame(LOG, columns=["customer_id", "order_ts"]).assign(amount=amount)
    tx["order_ts"] = pd.to_datetime(tx["order_ts"])
    cols = ", ".join(  # every canonical column, as the load stores them
        f"cast({c if c in tx.columns else 'null'} as {t}) as {c}"
        for c, t in SCHEMAS["transactions"].items()
    )
    with store.write_dataset(path, fresh=True) as w:
        w.register("tx", tx)
        w.execute(f"create table transactions as select {cols} from tx")
        if has_amounts is not None:
            store.set_setting(w, store.AMOUNTS_KEY, has_amounts)
    return store.connect(path)


@pytest.fixture()
def log(tmp_path):
    """The log without money, as the load stores it."""
    con = _write(tmp_path / "log.duckdb", amount=0.0, has_amounts=False)
    yield con
    con.close()


@pytest.fixture()
def paid(tmp_path):
    """The same log where every line cost 10 (a dataset with amounts, no setting)."""
    con = _write(tmp_path / "paid.duckdb", amount=10.0, has_amounts=None)
    yield con
    con.close()


def test_the_setting_is_read_from_the_dataset(log, paid):
    assert store.has_amounts(log) is False
    assert store.has_amounts(paid) is True  # absent: the data has amounts


# ------------------------------------------------------------------------------ amounts module


def test_drop_money_and_blank_money_keep_what_is_not_money():
    df = pd.DataFrame(
        {"customer_id": ["A"], "orders": [3], "revenue": [0.0], "tier": ["Bronze"], "aov": [0.0]}
    )
    assert list(amounts.drop_money(df).columns) == ["customer_id", "orders"]
    blank = amounts.blank_money(df)
    assert list(blank.columns) == list(df.columns)  # a file's columns are a contract
    assert blank["revenue"].isna().all() and blank["aov"].isna().all()
    assert blank["tier"].isna().all() and blank.loc[0, "orders"] == 3
    assert df.loc[0, "revenue"] == 0.0  # the input is left alone


@pytest.mark.parametrize(
    ("amount", "has", "purchase"),
    [(5.0, True, True), (0.0, True, False), (-5.0, True, False), (0.0, False, True)],
    ids=["paid", "free-with-amounts", "return", "log-line"],
)
def test_purchase_sql(amount, has, purchase):
    import duckdb

    sql = f"select {amounts.purchase_sql('x')} from (select $a as x)"
    assert duckdb.connect().execute(sql, {"a": amount, "amounts": has}).fetchone()[0] is purchase


# ------------------------------------------------------------------------------ overview


def test_kpis_count_every_line_and_have_no_money(log, paid):
    got = {k.name: k for k in overview.kpis(log, as_of=AS_OF, days=30, churn_days=60)}
    ref = {k.name: k for k in overview.kpis(paid, as_of=AS_OF, days=30, churn_days=60)}
    assert "Revenue" not in got and "ARPU" not in got
    assert all(k.unit != "money" for k in got.values())
    for name, k in got.items():
        assert (k.current, k.previous) == (ref[name].current, ref[name].previous), name
    # By hand: A (03-10, 03-25), B (03-15) and D (03-28) bought in March; D is new.
    assert got["Active customers"].current == 3 and got["New customers"].current == 1
    assert got["Repeat rate"].current == pytest.approx(2 / 3)


def test_default_churn_days_from_the_log(log, paid):
    assert overview.default_churn_days(log) == overview.default_churn_days(paid)


def test_monthly_trend_without_revenue(log):
    trend = overview.monthly_trend(log, as_of=AS_OF)
    assert trend["revenue"].isna().all()
    march = trend.set_index(trend["month"].dt.month).loc[3]
    assert (march["active_customers"], march["orders"]) == (3, 5)
    assert overview.trend_takeaway(trend, "USD", "en") == (
        "Best month: 2024-03 with 3 active customers."
    )
    fig = trend_figure(trend, money=False)
    assert fig.layout.title.text == "Monthly purchases and active customers"
    assert list(fig.data[0].y) == trend["orders"].tolist()


def test_period_sentence_and_alerts_without_revenue(log):
    k = overview.kpis(log, as_of=AS_OF, days=30, churn_days=60)
    assert overview.period_sentence(k, 30, "USD", "en").startswith(
        "3 customers bought in the last 30 days"
    )
    assert "位客户购买" in overview.period_sentence(k, 30, "CNY", "zh")
    assert all(a.kind != "revenue_drop" for a in overview.kpi_alerts(k, 30))
    alerts = overview.top_alerts(log, as_of=AS_OF, days=30, churn_days=60, with_stages=False)
    assert all(a.kind not in ("revenue_drop", "valuable_silent") for a in alerts)


def test_trend_takeaway_with_revenue_is_unchanged(paid):
    trend = overview.monthly_trend(paid, as_of=AS_OF)
    assert overview.trend_takeaway(trend, "USD", "en") == "Best month: 2024-03 with $50.00."


# ------------------------------------------------------------------------------ segments


def test_scores_without_amounts_are_r_and_f_only(log, paid):
    got = segments.scored_customers(log, as_of=AS_OF).set_index("customer_id")
    ref = segments.scored_customers(paid, as_of=AS_OF).set_index("customer_id")
    assert (got["r_score"] == ref["r_score"]).all() and (got["f_score"] == ref["f_score"]).all()
    assert got["m_score"].isna().all() and got["tier"].isna().all()
    expected = (ref["r_score"] * 10 + ref["f_score"]).astype(str)
    assert (got["rfm_score"] == expected).all()  # "RF", two digits


def test_rules_that_need_m_name_no_one_without_amounts():
    # X bought 5 days ago (R 3), Y 400 days ago (R 1); both 9 orders (F 1).
    summary = pd.DataFrame({c: [0, 0] for c in segments.SUMMARY_COLUMNS})
    summary["customer_id"] = ["X", "Y"]
    summary["days_since_last"] = [5, 400]
    summary["orders"] = [9, 9]
    summary["revenue"] = [0.0, 0.0]
    rules = [
        ("Big", 1, 5, 1, 5, 3, 5),  # needs M: never without amounts
        ("Recent", 2, 5, 1, 5, 1, 5),
        ("Anyone", 1, 5, 1, 5, 1, 5),
    ]
    got = segments.score_summary(summary, rules, monetary=False)
    assert got["segment"].tolist() == ["Recent", "Anyone"]
    assert segments.uncovered_cells(rules[:2], monetary=False) == ["11", "12", "13", "14", "15"]
    assert segments.uncovered_cells(None, monetary=False) == []  # the defaults cover R x F
    with_m = segments.score_summary(summary.assign(revenue=[50.0, 10.0]), rules)  # X: M 3
    assert with_m["segment"].tolist() == ["Big", "Anyone"]  # unchanged with amounts


def test_default_segments_without_amounts_never_claim_big_spenders(data_dir):
    con = store.connect(without_amounts(data_dir))
    try:
        got = segments.scored_customers(con)
    finally:
        con.close()
    assert "Cannot Lose Them" not in set(got["segment"])  # its rule needs M 4-5
    assert "Other" not in set(got["segment"])
    members = segments.members_of(got, "Champions")
    assert members["orders"].is_monotonic_decreasing  # most orders first


def test_segment_figures_and_tables_without_money(log):
    scores = segments.scored_customers(log, as_of=AS_OF)
    profile = segments.segment_profile_of(scores, None)
    fig = segment_share_figure(profile, money=False)
    assert len(fig.data) == 1 and fig.layout.title.text == "Segment size: customers"
    assert "revenue" not in segment_share_takeaway(profile, money=False)
    matrix = segments.rf_matrix_of(scores)
    heat = rf_heatmap_figure(matrix, money=False)
    texts = [cell for row in heat.data[0].text for cell in row if cell]
    assert texts and all(cell.startswith("n=") for cell in texts)  # no "$0.00"
    assert rf_heatmap_takeaway(matrix, money=False).startswith("The most customers are scored")
    shown = profile_table(profile, money=False)
    assert not {"Revenue", "% of revenue", "Average order value", "Revenue per customer"} & set(
        shown.columns
    )


def test_cluster_takeaway_without_money():
    profile = pd.DataFrame(
        {"cluster": [0, 1], "cluster_name": ["Loyal", "Dormant"], "customer_share": [0.3, 0.7],
         "frequency": [6.0, 1.2], "recency_days": [12.0, 300.0], "revenue_share": [0.0, 0.0]}
    )  # fmt: skip
    text = cluster_takeaway(profile, money=False)
    assert text.startswith("The largest cluster, 1: Dormant, is 70.0% of customers")
    assert "revenue" not in text


# ------------------------------------------------------------------------------ churn


def test_churn_features_leave_money_out_with_the_reason(log):
    fs = point_in_time_features(log, AS_OF, with_p_alive=False)
    assert not set(MONEY_FEATURES) & set(fs.features)
    reasons = {o.feature: o.reason for o in fs.omitted}
    assert all(reasons[f] == NO_AMOUNTS_REASON for f in MONEY_FEATURES)
    assert i18n.translate(NO_AMOUNTS_REASON, "zh") != NO_AMOUNTS_REASON


@pytest.mark.slow
def test_watchlist_and_rule_alerts_without_amounts(data_dir):
    con = store.connect(without_amounts(data_dir))
    try:
        wl = churn.watchlist(con)
        alerts = churn.rule_alerts(con)
    finally:
        con.close()
    assert len(wl) > 100
    for col in ("value_at_risk", "clv", "revenue"):
        assert wl[col].isna().all(), col
    assert wl["tier"].isna().all() and wl["value_basis"].isna().all()
    assert wl["churn_probability"].is_monotonic_decreasing  # ranked by risk
    assert churn.risk_by(wl, "segment")["value_at_risk"].isna().all()  # empty, not 0
    assert "spend_drop" not in alerts.columns and "no_purchase" in alerts.columns


# ------------------------------------------------------------------------------ campaigns


def test_campaign_without_amounts_attributes_conversions_but_no_revenue(data_dir):
    con = store.connect(without_amounts(data_dir))
    try:
        name = experiments.campaign_names(con)[0]
        res = experiments.analyze_campaign(con, campaign=name)
        effect = experiments.value_effect(con, campaign=name)
        channels = experiments.channel_efficacy(con)
    finally:
        con.close()
    assert res.conversion_source == "transactions" and res.revenue_source == "none"
    assert res.variants["conversions"].sum() > 0  # every log line is a purchase
    assert res.variants["revenue_per_customer"].isna().all()
    assert res.comparisons[["incremental_revenue", "roi"]].isna().all().all()
    assert "ROI n/a (no revenue recorded)" in experiments.verdict(res)
    assert res.to_json()["roi"] is None
    assert effect.source == "fallback"
    assert effect.table["metric"].unique().tolist() == ["Active in last 90 days"]
    assert channels["revenue"].isna().all() and channels["roi"].isna().all()
    assert channels["responses"].sum() > 0


# ------------------------------------------------------------------------------ customer 360


def test_customer_360_counts_log_lines_as_purchases(log):
    hits = customer360.find_customers(log, "A")
    row = hits.set_index("customer_id").loc["A"]
    assert row["orders"] == 5 and pd.isna(row["revenue"])
    history = customer360.p_alive_history(
        log, "A", params=(("r", 0.25), ("alpha", 4.4), ("a", 0.8), ("b", 2.4)), as_of=AS_OF
    )
    assert history["purchase"].sum() == 4  # purchase days
    profile = customer360.customer_profile(log, "A", as_of=AS_OF)
    text = customer360.timeline_takeaway(
        profile, customer360.customer_timeline(log, "A"), money=False
    )
    assert text == "5 orders since 05 Jan 2024; last purchase 6 days before 31 Mar 2024."


# ------------------------------------------------------------------------------ CLI


def _csv(path):
    return pd.read_csv(path, encoding="utf-8-sig", dtype={"rfm_score": str})


def test_cli_summary_keeps_its_columns_and_leaves_money_empty(data_dir, tmp_path, capsys):
    from clm_core.__main__ import main

    db = without_amounts(data_dir, only=("transactions",))
    ref, out = tmp_path / "ref.csv", tmp_path / "out.csv"
    assert main(["summary", "--db", str(data_dir / "demo-retail.duckdb"), "--out", str(ref)]) == 0
    assert main(["summary", "--db", str(db), "--out", str(out)]) == 0
    assert "no amounts" in capsys.readouterr().err
    got, want = _csv(out), _csv(ref)
    assert list(got.columns) == list(want.columns)
    for col in ("monetary_value", "revenue", "avg_order_value", "returns", "tier"):
        assert got[col].isna().all(), col
    assert got["orders"].gt(0).all() and got["rfm_score"].str.fullmatch(r"[1-5]{2}").all()


def test_cli_cohorts_and_churn_leave_money_empty(data_dir, tmp_path, capsys):
    from clm_core.__main__ import main

    db = without_amounts(data_dir, only=("transactions",))
    cohorts, watch = tmp_path / "cohorts.csv", tmp_path / "churn.csv"
    assert main(["cohorts", "--db", str(db), "--out", str(cohorts)]) == 0
    got = _csv(cohorts)
    assert list(got.columns) == ["cohort", "period", "customers", "retention", "revenue"]
    assert got["revenue"].isna().all() and got["customers"].sum() > 0
    assert main(["churn", "--db", str(db), "--out", str(watch), "--json"]) == 0
    captured = capsys.readouterr()
    assert "no amounts" in captured.err
    wl = _csv(watch)
    assert list(wl.columns) == ["customer_id", "churn_probability", "value_at_risk", "reasons"]
    assert wl["value_at_risk"].isna().all()
    assert wl["churn_probability"].is_monotonic_decreasing


# ------------------------------------------------------------------------------ words


@pytest.mark.parametrize(
    "text",
    [
        amounts.NO_AMOUNTS,
        "{n} customers bought in the last {days} days, {change} vs the previous {days} days.",
        "Best month: {month} with {n} active customers.",
        "ROI n/a (no revenue recorded)",
        "The data has no amounts: showing the share active in the last 90 days.",
        "{orders} orders since {first}; last purchase {days} days before {as_of}.",
    ],
)
def test_the_words_of_data_without_amounts_are_translated(text):
    assert i18n.translate(text, "zh") != text


def test_clv_without_amounts_fits_the_purchase_model_only(data_dir):
    """P(alive) and expected purchases, the same purchase model as on the same lines with money;
    no spend model and no value in money (NaN, never 0)."""
    from clm_core import clv

    con = store.connect(without_amounts(data_dir, only=("transactions",)))
    try:
        res = clv.fit_clv(con, model="bgnbd", period="W")
        summary = customer_summary(con, period="W")
    finally:
        con.close()
    cust = res.customers
    assert cust["clv"].isna().all() and cust["expected_avg_value"].isna().all()
    assert cust["monetary_value"].isna().all() and cust["revenue"].isna().all()
    assert cust["p_alive"].between(0, 1).all() and cust["expected_purchases"].sum() > 0
    assert res.spend_params == {} and clv.NO_SPEND in [n.template for n in res.notes]
    # customers ranked by expected purchases instead of value
    top = cust.loc[cust["clv_rank"] == 1, "expected_purchases"].item()
    assert top == cust["expected_purchases"].max()
    ref = clv.PurchaseModel(model="bgnbd").fit(summary)
    assert res.params == pytest.approx(ref.params_, rel=1e-9)
