"""Overview page through the router: KPI cards, trend, filters, presenter mode, password."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP, transactions_only


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def test_overview_shows_kpis(app):
    assert app.title[0].value == "Overview"
    labels = [m.label for m in app.metric]
    assert labels[:7] == [
        "Active customers",
        "New customers",
        "Churned customers",
        "Revenue",
        "ARPU",
        "Repeat rate",
        "Churn rate",
    ]
    assert labels[7:9] == ["Average CLV", "LTV/CAC"]
    active = float(_metric(app, "Active customers").value.replace(",", ""))
    assert active > 0
    assert _metric(app, "Average CLV").value not in ("", "—")
    assert "vs previous" in _metric(app, "Average CLV").delta  # model refitted a period earlier
    ltv_cac = _metric(app, "LTV/CAC").value
    assert ltv_cac.endswith(": 1") and float(ltv_cac.split()[0]) > 0
    assert app.get("plotly_chart")


def test_overview_top_alerts_link_to_pages(app):
    assert "Top alerts" in [h.value for h in app.subheader]
    shown = [*app.error, *app.warning, *app.info, *app.success]
    assert shown, "an alert or the all-clear message is shown"
    links = [(link.proto.page, link.proto.label) for link in app.get("page_link")]
    assert {"clv", "churn", "funnels", "lifecycle"} <= {page for page, _ in links}
    # every alert has a link to the page that explains it, right after it
    alert_links = [label for _, label in links if label.startswith("Open page: ")]
    assert len(alert_links) >= len(shown) - len(app.success)


def test_overview_in_chinese(app):
    app.sidebar.radio[0].set_value("zh").run()
    assert not app.exception
    assert app.title[0].value == "概览"
    assert _metric(app, "活跃客户")


def test_channel_filter_from_url_changes_numbers(app):
    # A copied link reopens the same view: the filter comes from the query string.
    before = _metric(app, "Revenue").value
    channel = next(m for m in app.sidebar.multiselect if m.key == "f_channels").options[0]
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["channel"] = channel
    at.run()
    assert not at.exception
    assert next(m for m in at.sidebar.multiselect if m.key == "f_channels").value == [channel]
    assert _metric(at, "Revenue").value != before
    assert at.query_params.get("channel") == channel


def test_language_from_url(data_dir):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and at.title[0].value == "概览"


def test_password_gate(data_dir, monkeypatch):
    monkeypatch.setenv("CLM_PASSWORD", "s3cret")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.metric and at.text_input[0].key == "_password"
    at.text_input[0].input("wrong").run()
    assert at.error and not at.metric
    at.text_input[0].input("s3cret").run()
    assert not at.exception and at.metric


def test_region_filter_snapshot_is_the_filtered_customers_stages(app, data_dir):
    """The lifecycle snapshot under a region filter: the Lifecycle page's rules (derived from the
    whole dataset), applied to the region's customers: what the filtered data gives."""
    import base64
    import json

    import numpy as np

    from clm_core import lifecycle as lc
    from clm_core import store
    from clm_core.filters import Filters, apply_filters, filter_options

    con = store.connect(data_dir / "demo-retail.duckdb")
    region = filter_options(con)["regions"][-1]
    rules = lc.derive_thresholds(con).as_dict()
    app.multiselect("f_regions").set_value([region]).run()
    assert not app.exception, app.exception
    cur = store.cursor(con)
    apply_filters(cur, Filters(regions=(region,)))
    as_of = app.date_input("overview_as_of").value
    expected = lc.stage_summary(lc.stage_details(cur, as_of=as_of, **rules))
    expected = expected[expected["stage"] != "Prospect"].set_index("stage")["customers"]
    bars = next(c for c in app.get("plotly_chart") if c.proto.id.endswith("-overview_stages"))
    x = json.loads(bars.proto.spec)["data"][0]["x"]
    if isinstance(x, dict):  # plotly sends numeric arrays as {"dtype", "bdata": base64}
        x = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
    assert [int(v) for v in x] == expected.tolist()
    unfiltered = lc.stage_summary(lc.stage_details(con, as_of=as_of, **rules))
    buyers = unfiltered[unfiltered["stage"] != "Prospect"]["customers"].sum()
    assert int(buyers) > int(expected.sum())  # the filter did select


@pytest.mark.parametrize("kind", ["region", "channel and dates"])
def test_value_cards_under_a_filter_average_the_kept_customers(app, data_dir, kind):
    """Average CLV and LTV/CAC under a filter: the whole-dataset fit averaged over the filtered
    customers (those with a transaction the filters keep), whether they are picked by id
    (customer-only filter) or by their transactions."""
    import dataclasses

    from clm_core import clv, store
    from clm_core.filters import Filters, apply_filters, filter_options, filtered_customer_ids
    from clm_core.formatting import fmt_money
    from clm_core.overview import value_kpis

    con = store.connect(data_dir / "demo-retail.duckdb")
    options = filter_options(con)
    if kind == "region":
        f = Filters(regions=(options["regions"][0],))
        app.multiselect("f_regions").set_value(list(f.regions)).run()
    else:
        lo, hi = options["dates"]
        f = Filters(channels=(options["channels"][0],), date_from=lo + (hi - lo) / 2, date_to=hi)
        app.multiselect("f_channels").set_value(list(f.channels)).run()
        app.date_input("f_dates").set_value((f.date_from, f.date_to)).run()
    assert not app.exception, app.exception
    as_of = app.date_input("overview_as_of").value
    res = clv.fit_clv(
        con, model="bgnbd", penalizer=0.0, period="W", horizon=52, discount_rate=0.01,
        as_of=as_of, margin=1.0,
    )  # fmt: skip
    cur = store.cursor(con)
    apply_filters(cur, dataclasses.replace(f))
    kept = clv.for_customers(res, filtered_customer_ids(cur)).customers
    expected = value_kpis(kept, clv.customer_attributes(con, as_of=as_of))
    currency = store.get_setting(con, "currency", "USD")
    assert _metric(app, "Average CLV").value == fmt_money(expected["avg_clv"], currency)
    assert _metric(app, "LTV/CAC").value == f"{expected['ltv_cac']:.1f} : 1"
    everyone = value_kpis(res.customers, clv.customer_attributes(con, as_of=as_of))
    assert expected["avg_clv"] != everyone["avg_clv"]  # the filter did select
    assert 0 < len(kept) < len(res.customers)


def test_quiet_valuable_alert_from_the_ledger_is_the_querys(app, data_dir):
    """The page derives the quiet-valuable-customers alert from the transaction ledger; under a
    date range and a channel it says what the query on the filtered data says."""
    import dataclasses
    import datetime as dt

    from clm_core import overview, store
    from clm_core.filters import Filters, apply_filters

    def alerts_shown(at):
        return [a.value for a in [*at.error, *at.warning, *at.info]]

    con = store.connect(data_dir / "demo-retail.duckdb")
    channel = next(m for m in app.sidebar.multiselect if m.key == "f_channels").options[0]
    lo, hi = app.sidebar.date_input(key="f_dates").value
    for f in (Filters(), Filters(channels=(channel,), date_from=lo + dt.timedelta(days=200))):
        at = AppTest.from_file(APP, default_timeout=60)
        if f.channels:
            at.query_params["channel"] = channel
            at.query_params["from"] = f.date_from.isoformat()
            at.query_params["to"] = hi.isoformat()
        at.run()
        assert not at.exception, at.exception
        as_of = at.date_input(key="overview_as_of").value
        cur = store.cursor(con)
        apply_filters(cur, dataclasses.replace(f, date_to=hi if f.channels else None))
        churn_days = overview.default_churn_days(con)
        currency = store.get_setting(con, "currency", "USD")
        quiet = overview._silent_alert(cur, as_of, churn_days, currency, "en")
        assert quiet is not None  # the demo has valuable customers going quiet
        assert any(quiet.text in shown for shown in alerts_shown(at)), alerts_shown(at)
    con.close()


def test_a_region_from_the_url_on_data_without_customers_keeps_everyone(data_dir, monkeypatch):
    """A copied link may carry a region onto a dataset without a customers table (no regions):
    the filter keeps everyone, as the filtered views do, and no page fails on it."""

    path = transactions_only(data_dir)
    monkeypatch.setenv("CLM_DB", str(path))
    plain = AppTest.from_file(APP, default_timeout=60).run()
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["region"] = "North"
    at.run()
    assert not at.exception, at.exception
    for label in ("Revenue", "Average CLV", "LTV/CAC"):
        assert _metric(at, label).value == _metric(plain, label).value
    for page in ("pages/clv.py", "pages/churn.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)


def test_a_range_half_picked_in_the_calendar_keeps_the_last_whole_range(app):
    """The calendar sends one date after the first click of a new range. That click stays in
    the widget (it used to be reset to the whole span, so no range could be picked) and the last
    whole range keeps filtering the page and the URL until the second click."""
    import datetime as dt

    day = dt.timedelta(days=1)
    lo, hi = app.sidebar.date_input(key="f_dates").value
    start, end = lo + 100 * day, hi - 100 * day
    revenue_all = _metric(app, "Revenue").value
    app.date_input("f_dates").set_value((start, end)).run()
    revenue = _metric(app, "Revenue").value
    assert revenue != revenue_all
    app.date_input("f_dates").set_value((start + 10 * day,)).run()
    assert not app.exception, app.exception
    assert tuple(app.date_input("f_dates").value) == (start + 10 * day,)
    assert app.query_params["from"] == start.isoformat()
    assert app.query_params["to"] == end.isoformat()
    assert _metric(app, "Revenue").value == revenue
    app.date_input("f_dates").set_value((start + 10 * day, end - 10 * day)).run()
    assert app.query_params["from"] == (start + 10 * day).isoformat()
    assert _metric(app, "Revenue").value not in (revenue, revenue_all)
