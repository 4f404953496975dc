"""Customer value page through the router (AppTest) on the 2,000-customer demo dataset."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from clm_core import clv, store
from clm_core.formatting import fmt_money
from clm_core.i18n import translate
from tests.conftest import APP, chart_keys, open_tab
from ui.common import TABLE_ROWS

TIMEOUT = 240  # the first run fits three models, validates them and refits CDNow
# Lazy tabs (st.tabs(..., on_change="rerun")): only the open tab runs. Its charts, in order
# (per-cohort fits draw theirs only when switched on).
TAB_CHARTS = {
    "Value": ["clv_hist", "clv_lorenz", "clv_groups"],
    "Alive or gone": ["clv_alive", "clv_expected", "clv_stages"],
    "LTV/CAC": ["clv_ltv_cac"],
    "Validation": ["clv_period_tx", "clv_cal_hold", "clv_cumulative"],
    "Cohort fits": [],
    "Engine check": [],
    "Customer list": [],
}


@pytest.fixture()
def page(app):
    app.switch_page("pages/clv.py").run(timeout=TIMEOUT)
    assert not app.exception, app.exception
    return app


def _tab(at, label):
    return open_tab(at, "clv_tab", label, timeout=TIMEOUT)


def _takeaways(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Takeaway:**")]


def _metric(at, start: str):
    return next(m for m in at.metric if m.label.startswith(start))


def test_page_shows_the_models_numbers(page, data_dir):
    assert page.title[0].value == "Customer value"
    assert not page.error
    con = store.connect(data_dir / "demo-retail.duckdb")
    res = clv.fit_clv(con, period="W", horizon=52, discount_rate=0.01)
    total = fmt_money(res.customers["clv"].sum(), "CNY", "en")
    assert _metric(page, "Expected future value (52 weeks)").value == total
    alive = f"{(res.customers['p_alive'] >= 0.5).mean():.0%}"
    assert _metric(page, "Customers probably alive").value == alive
    captions = [c.value for c in page.caption]
    assert any(c.startswith(f"{res.model_label} (r = ") for c in captions)
    assert any("at least 500 customers, 100 repeat buyers and 180 days" in c for c in captions)
    assert page.session_state["clv_tab"] == "Value"  # the first tab opens by default
    assert any("top 20% of customers hold" in t for t in _takeaways(page))
    # every chart says something computed from the data; each tab draws its own charts only
    for label, keys in TAB_CHARTS.items():
        _tab(page, label)
        assert chart_keys(page) == keys, label
        assert len(_takeaways(page)) == len(keys), label
    _tab(page, "Engine check")
    assert page.success[0].value.startswith("Model engine verified on CDNow: 13 of 13")


def test_model_and_period_controls(page):
    page.selectbox(key="clv_model").set_value("bgnbd").run(timeout=TIMEOUT)
    assert not page.exception
    assert any(c.value.startswith("BG/NBD (r = ") for c in page.caption)
    page.selectbox(key="clv_period").set_value("M").run(timeout=TIMEOUT)
    assert not page.exception
    horizon = page.number_input(key="clv_horizon_M")
    assert horizon.label == "Horizon (months)" and horizon.value == 12
    assert page.number_input(key="clv_rate_M").value == pytest.approx(
        100 * clv.equivalent_rate(0.01, to_period="M"), abs=1e-4
    )
    assert _metric(page, "Expected future value (12 months)")


def test_use_best_holdout_model(page):
    """Pareto/NBD has the largest holdout error on the demo: the page offers the best model."""
    _tab(page, "Validation")
    page.selectbox(key="clv_model").set_value("pareto").run(timeout=TIMEOUT)
    assert not page.exception
    assert any(c.value.startswith("Pareto/NBD (r = ") for c in page.caption)
    best = next(b for b in page.button if b.key == "clv_use_best")
    best.click().run(timeout=TIMEOUT)
    assert not page.exception
    chosen = page.selectbox(key="clv_model").value
    assert chosen in ("bgnbd", "mbgnbd") and best.label == f"Use {clv.MODEL_LABELS[chosen]}"
    assert any(c.value.startswith(clv.MODEL_LABELS[chosen] + " (r = ") for c in page.caption)
    assert not [b for b in page.button if b.key == "clv_use_best"]


def test_not_enough_data_is_a_warning_not_a_traceback(page):
    page.date_input(key="clv_as_of").set_value(dt.date(2023, 1, 20)).run(timeout=TIMEOUT)
    assert not page.exception
    assert "needs at least 500 customers" in page.warning[0].value


def test_page_in_chinese(page):
    page.radio(key="lang").set_value("zh").run(timeout=TIMEOUT)
    assert not page.exception
    assert page.title[0].value == "客户价值"
    assert page.session_state["clv_tab"] == translate("Value", "zh")
    assert any(m.value.startswith("**") and "前 20% 的客户" in m.value for m in page.markdown)


def test_engine_check_in_chinese(data_dir):
    # A new session opened on the tab: AppTest cannot rerun a page showing Chinese options of a
    # format_func=t widget (it formats the value again outside the app, in English).
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = "zh"
    at.session_state["clv_tab"] = translate("Engine check", "zh")
    at.run().switch_page("pages/clv.py").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.session_state["clv_tab"] != "Engine check"
    assert at.success[0].value.startswith("模型引擎已在 CDNow 数据上验证")


def test_filter_shows_filtered_customers_of_the_fit_on_everyone(page, data_dir, monkeypatch):
    """Models are fitted once on every customer; a sidebar filter only picks the rows."""
    fitted = []
    fit = clv.PurchaseModel.fit
    monkeypatch.setattr(
        clv.PurchaseModel, "fit", lambda self, X, y=None: fitted.append(1) or fit(self, X, y)
    )
    channel = page.multiselect(key="f_channels").options[0]
    page.multiselect(key="f_channels").set_value([channel]).run(timeout=TIMEOUT)
    assert not page.exception, page.exception
    assert fitted == []  # nothing was refitted for the filter

    con = store.connect(data_dir / "demo-retail.duckdb")
    res = clv.fit_clv(con, period="W", horizon=52, discount_rate=0.01)
    buyers = set(
        con.execute(
            "select distinct customer_id from transactions where channel = $c", {"c": channel}
        ).df()["customer_id"]
    )
    con.close()
    expected = res.customers[res.customers["customer_id"].isin(buyers)]
    _tab(page, "Customer list")
    table = page.dataframe[-1].value  # the customer list: its most valuable TABLE_ROWS rows
    assert 0 < len(table) < len(res.customers)
    top = expected.nsmallest(TABLE_ROWS, "clv_rank")
    assert sorted(table["Customer"]) == sorted(top["customer_id"])
    note = (
        f"Showing the first {TABLE_ROWS:,} of {len(expected):,} rows; the download has every row."
    )
    assert (note in [c.value for c in page.caption]) == (len(expected) > TABLE_ROWS)
    assert _metric(page, "Expected future value (52 weeks)").value == fmt_money(
        expected["clv"].sum(), "CNY", "en"
    )
    shown = clv.FITTED_ON_ALL.format(n=f"{res.n_customers:,}", k=f"{len(expected):,}")
    assert shown in [c.value for c in page.caption]


def test_customer_list_shows_the_most_valuable_rows(page, data_dir):
    """The list shows the TABLE_ROWS most valuable customers and says how many it left out."""
    con = store.connect(data_dir / "demo-retail.duckdb")
    res = clv.fit_clv(con, period="W", horizon=52, discount_rate=0.01)
    con.close()
    assert len(res.customers) > TABLE_ROWS
    assert not page.dataframe  # the list is on a tab of its own, not yet open
    _tab(page, "Customer list")
    table = page.dataframe[-1].value
    top = res.customers.nsmallest(TABLE_ROWS, "clv_rank")
    assert table["Customer"].tolist() == top["customer_id"].tolist()
    note = (
        f"Showing the first {TABLE_ROWS:,} of {len(res.customers):,} rows; "
        "the download has every row."
    )
    assert note in [c.value for c in page.caption]
