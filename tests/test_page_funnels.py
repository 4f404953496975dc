"""Funnels & cohorts page through the router: event funnel, repeat purchases, cohorts."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from clm_core import cohorts as co
from clm_core import funnels as fn
from clm_core import store
from clm_core.filters import Filters, apply_filters
from tests.conftest import APP, chart_keys, open_tab, transactions_only

PAGE = "pages/funnels.py"
# Lazy tabs (st.tabs(..., on_change="rerun")): only the open tab runs. Its charts, in order.
TAB_CHARTS = {
    "Event funnel": ["funnels_events"],
    "Repeat purchasing": ["funnels_repeat", "funnels_gaps"],
    "Cohort retention": ["funnels_heatmap", "funnels_curves"],
}


def _tab(at, label):
    return open_tab(at, "funnels_tab", label)


def takeaways(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Takeaway:**")]


@pytest.fixture()
def funnels(app):
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def test_page_shows_the_core_numbers(funnels, data_dir):
    at = funnels
    assert at.title[0].value == "Funnels & cohorts"
    assert [t.label for t in at.tabs] == list(TAB_CHARTS)
    assert at.session_state["funnels_tab"] == "Event funnel"  # the first tab opens by default
    # event funnel | repeat purchases, gaps | cohort heatmap, curves: one takeaway per chart
    notes = {}
    for label, keys in TAB_CHARTS.items():
        _tab(at, label)
        assert chart_keys(at) == keys, label
        notes[label] = takeaways(at)
        assert len(notes[label]) == len(keys), notes
    con = store.connect(data_dir / "demo-retail.duckdb")
    steps = fn.default_steps(con)
    _tab(at, "Event funnel")
    assert at.multiselect("funnels_steps").value == list(steps)
    funnel = fn.event_funnel(con, steps=steps, window_days=7.0)
    n = int(funnel["customers"].iloc[0])
    assert f"of the {n:,} customers who did {steps[0]}" in notes["Event funnel"][0]
    assert f"{funnel['overall_conversion'].iloc[-1]:.1%}" in notes["Event funnel"][0]
    shown = next(df.value for df in at.dataframe if "overall_conversion" in df.value.columns)
    assert shown["customers"].tolist() == funnel["customers"].tolist()
    rep = fn.repeat_purchase_funnel(con)
    assert f"of {int(rep['customers'].iloc[0]):,} buyers" in notes["Repeat purchasing"][0]
    table = co.cohort_table(con)
    curves = co.retention_curves(table)
    r1 = curves.loc[curves["period"] == 1, "retention"].iloc[0]
    assert f"customer retention is {r1:.0%} in month 1" in notes["Cohort retention"][0]


def test_any_order_and_a_wider_window_never_convert_fewer(funnels):
    at = funnels

    def shown():
        return next(df.value for df in at.dataframe if "overall_conversion" in df.value.columns)

    strict = shown()["customers"].tolist()
    at.radio("funnels_order").set_value("any").run()
    assert not at.exception
    anyorder = shown()["customers"].tolist()
    assert anyorder[0] == strict[0] and all(a >= s for a, s in zip(anyorder, strict, strict=True))
    assert anyorder != strict
    at.number_input("funnels_window").set_value(30.0).run()
    wide = shown()["customers"].tolist()
    assert all(w >= a for w, a in zip(wide, anyorder, strict=True))


def test_one_step_asks_for_more_and_breakdown_adds_a_chart(funnels):
    at = funnels
    charts = len(at.get("plotly_chart"))
    at.selectbox("funnels_by").set_value("channel").run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == charts + 1
    assert any(re.search(r"Best channel: \S+ converts", n) for n in takeaways(at))
    at.multiselect("funnels_steps").set_value(["visit"]).run()
    assert not at.exception
    assert any("Pick at least two steps" in i.value for i in at.info)


def _count_paths(monkeypatch) -> tuple[list, list]:
    """Count the event ledgers built and the paths derived from them."""
    builds, runs = [], []
    build, paths = fn.event_ledger, fn.EventLedger.paths
    monkeypatch.setattr(fn, "event_ledger", lambda con: builds.append(1) or build(con))
    monkeypatch.setattr(
        fn.EventLedger, "paths", lambda self, **kw: runs.append(kw) or paths(self, **kw)
    )
    return builds, runs


def test_region_filter_selects_rows_of_the_unfiltered_paths(app, data_dir, monkeypatch):
    """A customer-only filter shows the filtered funnel without recomputing anyone's path."""
    builds, runs = _count_paths(monkeypatch)
    at = app.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert len(builds) == 1 and len(runs) == 1  # every customer's path, once
    region = at.multiselect(key="f_regions").options[0]
    at.multiselect(key="f_regions").set_value([region]).run()
    at.selectbox("funnels_by").set_value("segment").run()
    assert not at.exception, at.exception
    assert len(runs) == 1  # the filter picked rows of those paths

    con = store.connect(data_dir / "demo-retail.duckdb")
    cur = store.cursor(con)
    apply_filters(cur, Filters(regions=(region,)))
    steps = fn.default_steps(con)
    expected = fn.event_funnel(cur, steps=steps, window_days=7.0)
    split = fn.event_funnel(cur, steps=steps, window_days=7.0, breakdown="segment")
    everyone = fn.event_funnel(con, steps=steps, window_days=7.0)
    con.close()
    shown = next(df.value for df in at.dataframe if "overall_conversion" in df.value.columns)
    assert 0 < expected["customers"].iloc[0] < everyone["customers"].iloc[0]
    assert shown["customers"].tolist() == expected["customers"].tolist()
    assert shown["drop_off"].tolist() == expected["drop_off"].tolist()
    notes = [n.replace("\\_", "_") for n in takeaways(at)]  # markdown-escaped underscores
    assert fn.takeaway_funnel(expected) in notes[0]
    assert fn.takeaway_breakdown(split, "segment") in notes[1]


def test_a_channel_filter_leaves_the_event_paths_alone(app, data_dir, monkeypatch):
    """The channel filter picks transactions; events have no purchase channel to filter on, so
    the event funnel under channel (and region) filters reuses the unfiltered paths."""
    builds, runs = _count_paths(monkeypatch)
    at = app.switch_page(PAGE).run()
    assert len(runs) == 1
    channel = at.multiselect(key="f_channels").options[0]
    at.multiselect(key="f_channels").set_value([channel]).run()
    assert not at.exception, at.exception
    region = at.multiselect(key="f_regions").options[0]
    at.multiselect(key="f_regions").set_value([region]).run()
    assert not at.exception, at.exception
    assert len(runs) == 1  # neither filter recomputed anyone's path

    con = store.connect(data_dir / "demo-retail.duckdb")
    cur = store.cursor(con)
    apply_filters(cur, Filters(channels=(channel,), regions=(region,)))
    expected = fn.event_funnel(cur, steps=fn.default_steps(con), window_days=7.0)
    con.close()
    shown = next(df.value for df in at.dataframe if "overall_conversion" in df.value.columns)
    assert shown["customers"].tolist() == expected["customers"].tolist()


def test_a_date_range_derives_the_paths_from_the_one_event_ledger(app, data_dir, monkeypatch):
    """A date range changes which events each customer has: the page derives those paths from
    the dataset's event ledger (built once) and shows the funnel of the date-filtered events."""
    builds, runs = _count_paths(monkeypatch)
    at = app.switch_page(PAGE).run()
    lo, hi = at.date_input(key="f_dates").value
    dates = (lo + (hi - lo) / 3, hi - (hi - lo) / 3)
    at.date_input(key="f_dates").set_value(dates).run()
    assert not at.exception, at.exception
    at.radio("funnels_order").set_value("any").run()
    assert not at.exception, at.exception
    assert len(builds) == 1 and len(runs) == 3  # unfiltered, the range, the range in any order
    assert [(r["date_from"], r["date_to"]) for r in runs] == [(None, None), dates, dates]

    con = store.connect(data_dir / "demo-retail.duckdb")
    cur = store.cursor(con)
    apply_filters(cur, Filters(date_from=dates[0], date_to=dates[1]))
    steps = fn.default_steps(con)
    expected = fn.event_funnel(cur, steps=steps, window_days=7.0, order="any")
    everyone = fn.event_funnel(con, steps=steps, window_days=7.0, order="any")
    con.close()
    shown = next(df.value for df in at.dataframe if "overall_conversion" in df.value.columns)
    assert 0 < expected["customers"].iloc[0] < everyone["customers"].iloc[0]
    assert shown["customers"].tolist() == expected["customers"].tolist()
    assert shown["drop_off"].tolist() == expected["drop_off"].tolist()
    hours = expected["median_hours_from_previous"].round(2)  # the table shows two decimals
    assert shown["median_hours_from_previous"].tolist() == pytest.approx(
        hours.tolist(), nan_ok=True
    )


def test_weekly_cohorts_and_channel_split(funnels):
    at = _tab(funnels, "Cohort retention")
    at.radio("funnels_freq").set_value("W").run()
    at.toggle("funnels_split").set_value(True).run()
    assert not at.exception
    notes = takeaways(at)
    assert any("in week 1 after the first purchase" in n for n in notes)
    assert any(re.search(r"After \d+ weeks, \S+ customers have brought", n) for n in notes)
    at.selectbox("funnels_metric").set_value("cumulative_revenue_per_customer").run()
    at.toggle("funnels_calendar").set_value(True).run()
    assert not at.exception
    assert any("a customer has brought" in n for n in takeaways(at))


def test_page_in_chinese(app):
    app.session_state["lang"] = "zh"
    app.switch_page(PAGE).run()
    assert not app.exception
    assert app.title[0].value == "漏斗与同期群"
    assert [t.label for t in app.tabs] == ["事件漏斗", "复购", "同期群留存"]


def test_without_events_or_customers_says_what_to_upload(data_dir, monkeypatch):
    path = transactions_only(data_dir)
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert any("Upload a events file" in i.value for i in at.info)
    assert takeaways(at) == [] and chart_keys(at) == []
    _tab(at, "Cohort retention")
    assert any("Upload a customers file" in i.value for i in at.info)
    assert at.toggle("funnels_split").disabled
    # repeat purchases (2) and cohorts (2) still work
    assert chart_keys(at) == TAB_CHARTS["Cohort retention"] and len(takeaways(at)) == 2
    _tab(at, "Repeat purchasing")
    assert chart_keys(at) == TAB_CHARTS["Repeat purchasing"] and len(takeaways(at)) == 2


def test_choices_missing_from_the_data_are_reset_not_an_error(app):
    # e.g. the session picked steps and a breakdown on a dataset with other events and tables
    app.session_state["funnels_steps"] = ["no_such_event", "visit"]
    app.session_state["funnels_by"] = "no_such_breakdown"
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert app.multiselect("funnels_steps").value == ["visit", "signup", "add_to_cart", "purchase"]
    assert app.selectbox("funnels_by").value is None
