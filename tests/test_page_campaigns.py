"""Campaigns page through the router: the numbers shown are the ones clm_core computes."""

from __future__ import annotations

import re

import pytest

from clm_core import experiments as ex
from clm_core import interventions as iv
from clm_core import store
from clm_core.formatting import fmt_money

PAGE = "pages/campaigns.py"


@pytest.fixture()
def page(app):
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def _open(at, tab: str):
    at.session_state["campaigns_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _takeaways(at) -> list[str]:
    return [m.value for m in at.markdown if "Takeaway" in m.value]


def _with_db(data_dir, fn, **kwargs):
    con = store.connect(data_dir / "demo-retail.duckdb")
    try:
        return fn(con, **kwargs)
    finally:
        con.close()


def test_verdict_and_metrics_match_core(page, data_dir):
    at = page
    assert at.title[0].value == "Campaigns"
    campaign = at.selectbox(key="campaigns_campaign").value
    res = _with_db(data_dir, ex.analyze_campaign, campaign=campaign, control="control", margin=0.4)
    assert ex.verdict(res) in [e.value for e in (*at.success, *at.info)]
    assert _metric(at, "Customers in test") == f"{int(res.variants['customers'].sum()):,}"
    best = res.best_comparison
    assert _metric(at, "Control conversion") == f"{best['control_rate'] * 100:.1f}%"
    shown = next(m for m in at.metric if m.label == f"{ex.display_variant(res.best)} conversion")
    assert shown.value == f"{best['rate'] * 100:.1f}%"
    assert shown.delta == f"{best['uplift_abs'] * 100:+.1f} pts"
    shown = _takeaways(at)
    assert len(shown) == 4  # conversion, uplift, revenue, sample ratio: each says something
    assert any(s.endswith(ex.srm_takeaway(res)) for s in shown)


def test_margin_and_campaign_controls(page, data_dir):
    at = page
    at.slider(key="campaigns_margin").set_value(80).run()
    assert not at.exception
    campaign = at.selectbox(key="campaigns_campaign").value
    res = _with_db(data_dir, ex.analyze_campaign, campaign=campaign, control="control", margin=0.8)
    assert _metric(at, "ROI") == f"{res.best_comparison['roi'] * 100:,.0f}%"
    other = next(o for o in at.selectbox(key="campaigns_campaign").options if o != campaign)
    at.selectbox(key="campaigns_campaign").select(other).run()
    assert not at.exception
    res = _with_db(data_dir, ex.analyze_campaign, campaign=other, control="control", margin=0.8)
    assert ex.verdict(res) in [e.value for e in (*at.success, *at.info)]


def test_intended_split_flags_a_mismatch(page):
    at = page
    n = len(at.selectbox(key="campaigns_control").options)
    at.text_input(key="campaigns_split").input(":".join(["90"] + ["5"] * (n - 1))).run()
    assert not at.exception
    assert any("sample ratio mismatch" in e.value for e in (*at.success, *at.info))


def test_after_the_campaign_tab(page):
    at = _open(page, "After the campaign")
    shown = _takeaways(at)
    assert len(shown) == 4  # two retention curves, two value metrics
    assert any("after the campaign" in s and "Converted customers bought" in s for s in shown)


def test_channels_and_next_test_tabs(page, data_dir):
    at = _open(page, "Channels")
    campaign = at.selectbox(key="campaigns_campaign").value
    table = _with_db(data_dir, ex.channel_efficacy, campaign=campaign)
    assert [s.split("**Takeaway:** ")[1] for s in _takeaways(at)] == [
        ex.channel_takeaway(table, "CNY")
    ]
    at = _open(at, "Next test")
    at.number_input(key="campaigns_baseline").set_value(8.0).run()
    at.number_input(key="campaigns_mde").set_value(2.0).run()
    at.number_input(key="campaigns_arms").set_value(1).run()
    assert not at.exception
    size = ex.sample_size(0.08, 0.02)
    assert any(ex.sample_size_takeaway(size) in s for s in _takeaways(at))


def test_planner_respects_budget_and_threshold(page, data_dir):
    at = page
    at.session_state["campaigns_risk_source"] = "fallback"  # the churn model has its own tests
    at = _open(at, "Intervention planner")
    at.number_input(key="campaigns_budget").set_value(200.0).run()
    assert not at.exception
    targets = _with_db(data_dir, iv.watchlist_targets, source="fallback")
    options = _with_db(data_dir, iv.intervention_options)
    plan = iv.plan_interventions(targets.customers, options, budget=200.0, min_roi=2.0)
    assert 0 < plan.spent <= 200.0
    assert _metric(at, "Customers targeted") == f"{len(plan.assignments):,}"
    assert _metric(at, "Spend") == fmt_money(plan.spent, "CNY")
    assert any("Quick estimate" in w.value for w in at.warning)  # the fallback is disclosed
    assert any(iv.plan_takeaway(plan, "CNY") in s for s in _takeaways(at))
    at.number_input(key="campaigns_min_roi").set_value(5_000).run()
    assert not at.exception
    strict = iv.plan_interventions(targets.customers, options, budget=200.0, min_roi=50.0)
    assert (strict.assignments["roi"] >= 50.0).all()
    assert _metric(at, "Customers targeted") == f"{len(strict.assignments):,}"


def test_chinese(page):
    at = page
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception
    assert at.title[0].value == "营销活动"
    verdict = next(e.value for e in (*at.success, *at.info) if "p=" in e.value or "p<" in e.value)
    assert re.search(r"(提升至|降至|无显著差异)", verdict) and verdict.endswith("。")
    assert all(re.search(r"[\u4e00-\u9fff]", s) for s in _takeaways(at))


def test_without_campaigns_table(data_dir):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    with store.write_dataset(data_dir / "demo-retail.duckdb") as con:
        con.execute("drop table campaigns")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("Upload a campaigns file" in i.value for i in at.info)


def test_a_date_range_without_campaigns_says_so(data_dir):
    """A date range that keeps no campaign row: a plain message, not 'No campaign named None'."""
    import datetime as dt

    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    con = store.connect(data_dir / "demo-retail.duckdb")
    try:
        first = con.execute("select min(cast(sent_ts as date)) from campaigns").fetchall()[0][0]
        start = con.execute("select min(cast(order_ts as date)) from transactions").fetchall()[0][0]
    finally:
        con.close()
    end = first - dt.timedelta(days=1)
    assert start <= end  # the demo's data starts before its first campaign
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["from"] = start.isoformat()
    at.query_params["to"] = end.isoformat()
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    shown = [i.value for i in (*at.info, *at.warning, *at.error)]
    assert "No campaign in the data the filters keep." in " ".join(shown), shown
    assert not any("None" in s for s in shown)
    at.radio(key="lang").set_value("zh").run()
    assert any("没有营销活动" in i.value for i in at.info)
