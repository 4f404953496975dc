"""Every page on data without amounts (issue 20), through the router: a purchase log stored as
the load stores it (amount 0.0 on every line, ``store.AMOUNTS_KEY`` false). No page fails, each
says in plain words that the data has no amounts, and no figure in money reads 0."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clm_core.amounts import NO_AMOUNTS
from clm_core.i18n import translate
from tests.conftest import APP, open_tab, without_amounts

RUN = 240  # seconds: the churn page trains its model on the first visit

# Each page and its lazy tabs (English labels; None: no tabs).
PAGES = {
    "pages/overview.py": (None, ()),
    "pages/segments.py": ("segments_tab", ("RFM segments", "Value tiers", "Clusters",
                                           "Price sensitivity", "Migration", "Segment rules")),
    "pages/lifecycle.py": ("lifecycle_tab", ("Stages", "Gained and lost", "Transitions",
                                             "Touchpoints")),
    "pages/funnels.py": ("funnels_tab", ("Event funnel", "Repeat purchasing",
                                         "Cohort retention")),
    "pages/churn.py": ("churn_tab", ("Watchlist", "Rule alerts", "Model")),
    "pages/campaigns.py": ("campaigns_tab", ("Test result", "After the campaign",
                                             "Intervention planner", "Channels", "Next test")),
    "pages/customer.py": (None, ()),
    "pages/clv.py": ("clv_tab", ("Alive or gone", "Validation", "Customer list")),
}  # fmt: skip

# Money, then 0: "$0", "¥0.00", "-£0", "USD 0" (fmt_money's forms), not "$0.45" or "$10".
ZERO_MONEY = re.compile(r"(?:[$¥£€]|\b(?:USD|CNY|EUR|GBP|JPY) )0(?:[.,]0+)?(?![.,]?\d)")
# Table headers (English, and machine names in downloads shown as tables) that hold money.
MONEY_HEADERS = {
    "Revenue", "% of revenue", "Average order value", "Revenue per customer", "Value at risk",
    "CLV", "Amount", "Net spend", "Tier", "Incremental revenue", "Revenue per contact",
    "revenue", "value_at_risk", "clv", "amount", "tier", "monetary_value", "avg_order_value",
    "recent_spend", "previous_spend", "revenue_retention", "cumulative_revenue_per_customer",
}  # fmt: skip


@pytest.fixture(params=["all-tables", "transactions-only"])
def log_app(request, data_dir, monkeypatch):
    """The router on a dataset without amounts: the demo's five tables, or its transactions
    alone (what a file of customer and date gives)."""
    only = ("transactions",) if request.param == "transactions-only" else ()
    path = without_amounts(data_dir, only=only)
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=RUN)
    at.run()
    assert not at.exception, at.exception
    at.tables_present = request.param
    return at


def _texts(at) -> list[str]:
    """Every text the run rendered: metrics, messages, captions, markdown (takeaways)."""
    out = [f"{m.label}: {m.value}" for m in at.metric]
    for kind in ("info", "warning", "error", "success", "caption", "markdown", "subheader"):
        out += [str(x.value) for x in getattr(at, kind)]
    return out


def _check_no_money(at, where: str) -> None:
    assert not at.exception, (where, at.exception)
    texts = _texts(at)
    zeros = [x for x in texts if ZERO_MONEY.search(x)]
    assert not zeros, (where, zeros)
    for df in at.dataframe:
        frame = df.value
        if not isinstance(frame, pd.DataFrame):
            continue
        for col in set(map(str, frame.columns)) & MONEY_HEADERS:
            assert frame[col].isna().all(), (where, col, frame[col].head().tolist())
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec)["layout"].get("title", {}).get("text", "")
        assert "revenue" not in title.lower() and "spend" not in title.lower(), (where, title)


def _says_no_amounts(at, lang: str = "en") -> bool:
    return any(translate(NO_AMOUNTS, lang) in str(x.value) for x in at.info)


@pytest.mark.parametrize("page", list(PAGES), ids=[p[6:-3] for p in PAGES])
def test_every_page_says_the_data_has_no_amounts_and_shows_no_money(log_app, page):
    at = log_app
    at.switch_page(page).run(timeout=RUN)
    if page == "pages/customer.py":
        at.text_input(key="customer_query").input("C000953").run(timeout=RUN)
    key, tabs = PAGES[page]
    needs = "campaigns" if page == "pages/campaigns.py" else "transactions"
    if needs == "campaigns" and at.tables_present == "transactions-only":
        _check_no_money(at, page)  # the upload hint for campaigns, nothing else
        assert not _says_no_amounts(at)
        return
    _check_no_money(at, page)
    assert _says_no_amounts(at), (page, [x.value for x in at.info])
    for label in tabs:
        open_tab(at, key, label, timeout=RUN)
        _check_no_money(at, f"{page} · {label}")
        assert _says_no_amounts(at), (page, label)


def test_overview_counts_every_line_and_leaves_the_money_cards_out(log_app):
    at = log_app  # the Overview is the landing page
    labels = [m.label for m in at.metric]
    assert labels == ["Active customers", "New customers", "Churned customers", "Repeat rate",
                      "Churn rate"]  # fmt: skip
    active = next(m for m in at.metric if m.label == "Active customers")
    assert float(active.value.replace(",", "")) > 0  # zero-amount lines are purchases here
    assert "f_tiers" not in [m.key for m in at.sidebar.multiselect]  # tiers rank money


def test_pages_in_chinese_say_it_in_chinese(log_app):
    at = log_app
    at.sidebar.radio[0].set_value("zh").run(timeout=RUN)
    for page in ("pages/overview.py", "pages/lifecycle.py", "pages/funnels.py"):
        at.switch_page(page).run(timeout=RUN)
        _check_no_money(at, page)
        assert _says_no_amounts(at, "zh"), (page, [x.value for x in at.info])


def test_segments_value_tiers_tab_says_why_it_is_empty(log_app):
    at = log_app
    at.switch_page("pages/segments.py").run(timeout=RUN)
    open_tab(at, "segments_tab", "Value tiers", timeout=RUN)
    assert any("Value tiers rank customers by revenue" in x.value for x in at.info)
    assert not at.get("plotly_chart")


def test_customer_value_shows_the_purchase_model_only(log_app):
    at = log_app
    at.switch_page("pages/clv.py").run(timeout=RUN)
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["Customers", "Customers probably alive", "Expected purchases (52 weeks)"]
    assert float(at.metric[2].value.replace(",", "")) > 0
    # no discount rate or margin to set: there is no value in money
    assert "clv_margin" not in [s.key for s in at.slider]
    tabs = at.session_state["clv_tab"] if "clv_tab" in at.session_state else None
    assert tabs in (None, "Alive or gone")
