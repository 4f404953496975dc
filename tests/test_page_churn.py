"""Churn risk page through the router: watchlist, filters, alerts, model tab, language, and a
dataset without events or feedback. Numbers shown are checked against clm_core directly."""

from __future__ import annotations

import datetime as dt
import re

from streamlit.testing.v1 import AppTest

from clm_core import churn, store
from clm_core.i18n import translate
from tests.conftest import APP, chart_keys, open_tab, transactions_only
from ui.common import TABLE_ROWS

PAGE = "pages/churn.py"
TIMEOUT = 600  # the first run trains the model
# Lazy tabs (st.tabs(..., on_change="rerun")): only the open tab runs. Its charts, in order.
TAB_CHARTS = {
    "Watchlist": ["churn_hist", "churn_by_chart"],
    "Rule alerts": ["churn_alerts"],
    "Model": ["churn_roc", "churn_cal", "churn_cm", "churn_imp"],
}


def _open(app):
    app.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not app.exception, app.exception
    return app


def _tab(at, label):
    return open_tab(at, "churn_tab", label, timeout=TIMEOUT)


def _shows_watchlist(at, wl) -> None:
    """The watchlist table is the first TABLE_ROWS rows of ``wl``, with a note when cut."""
    table = at.dataframe[0].value
    assert len(table) == min(len(wl), TABLE_ROWS)
    assert table["customer_id"].tolist() == wl["customer_id"].head(TABLE_ROWS).tolist()
    note = f"Showing the first {TABLE_ROWS:,} of {len(wl):,} rows; the download has every row."
    assert (note in [c.value for c in at.caption]) == (len(wl) > TABLE_ROWS)


def _takeaways(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Takeaway:**")]


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def test_churn_page_shows_watchlist_alerts_and_model(app, data_dir):
    at = _open(app)
    assert at.title[0].value == "Churn risk"
    path = data_dir / "demo-retail.duckdb"
    # the model was trained on this page run and stored with the dataset version
    stored = list((data_dir / ".models" / "demo-retail").glob("*.pkl"))
    assert len(stored) == 1 and stored[0].name.startswith(store.dataset_version(path))

    con = store.connect(path)
    horizon = at.number_input(key="churn_horizon").value
    wl = churn.watchlist(con, horizon_days=horizon)
    fit = churn.fit_churn(con, horizon_days=horizon)
    alerts = churn.rule_alerts(con, no_purchase_days=60)
    con.close()
    assert at.session_state["churn_tab"] == "Watchlist"  # the first tab opens by default
    _shows_watchlist(at, wl)
    assert any(f"of {len(wl):,} active customers" in c.value for c in at.caption)
    texts = _takeaways(at)
    assert any("have a churn risk of 50% or more" in t for t in texts)
    # every chart says something, and each tab draws its own charts only
    for label, keys in TAB_CHARTS.items():
        _tab(at, label)
        assert chart_keys(at) == keys, label
        assert len(_takeaways(at)) == len(keys), label

    # the threshold moves the confusion matrix: flagged = customers with risk >= 80%
    _tab(at, "Model")
    at.slider(key="churn_threshold").set_value(0.8).run(timeout=TIMEOUT)
    cm = churn.confusion(fit, 0.8)
    flagged = int(cm["predicted to churn"].sum())
    assert any(f"At a 80% threshold the model flags {flagged:,} customers" in t
               for t in _takeaways(at))  # fmt: skip

    # alert settings: the count shown is the rule's count
    _tab(at, "Rule alerts")
    at.number_input(key="churn_a_days").set_value(60).run(timeout=TIMEOUT)
    assert _metric(at, "No purchase for 60+ days").value == f"{int(alerts['no_purchase'].sum()):,}"

    # a filter keeps only that owner's customers
    _tab(at, "Watchlist")
    owner = at.multiselect(key="churn_f_owner").options[0]
    at.multiselect(key="churn_f_owner").set_value([owner]).run(timeout=TIMEOUT)
    shown = at.dataframe[0].value
    assert len(shown) == int((wl["owner"] == owner).sum()) and set(shown["owner"]) == {owner}


def test_churn_page_in_chinese(app):
    app.sidebar.radio[0].set_value("zh").run(timeout=TIMEOUT)
    at = _open(app)
    assert at.title[0].value == "流失风险"
    reasons = " ".join(at.dataframe[0].value["reasons"].head(30))
    assert re.search("[天单次]", reasons) and "days" not in reasons
    assert any(t.startswith("**要点:**") for t in (m.value for m in at.markdown))


def test_churn_page_without_events_or_feedback(data_dir):
    """Only transactions: the page works and names the features it could not use."""
    path = transactions_only(data_dir)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="dataset_path").set_value(str(path)).run()
    at = _open(at)
    info = " ".join(i.value for i in at.info)
    assert "Not used by the model" in info
    assert "no events table" in info and "no feedback table" in info
    _tab(at, "Rule alerts")
    assert "Upload feedback to enable the complaint alert." in [c.value for c in at.caption]


def test_as_of_date_drives_the_model_and_the_watchlist(app, data_dir):
    at = _open(app)
    con = store.connect(data_dir / "demo-retail.duckdb")
    first, last = churn.as_of_bounds(con)
    picker = at.date_input(key="churn_as_of")
    assert picker.value == last and (picker.min, picker.max) == (first, last)
    latest = churn.fit_churn(con, horizon_days=at.number_input(key="churn_horizon").value)
    _tab(at, "Model")
    assert any(f"tested out of time at {latest.test_cutoff}" in c.value for c in at.caption)

    early = last - dt.timedelta(days=120)
    at.date_input(key="churn_as_of").set_value(early).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    horizon = at.number_input(key="churn_horizon").value
    assert horizon == churn.default_horizon(con, as_of=early)  # suggested again for the cutoff
    fit = churn.fit_churn(con, as_of=early, horizon_days=horizon)
    wl = churn.watchlist(con, as_of=early, horizon_days=horizon)
    con.close()
    assert fit.score_cutoff == early + dt.timedelta(days=1)
    assert any(f"tested out of time at {fit.test_cutoff}" in c.value for c in at.caption)
    _tab(at, "Watchlist")
    _shows_watchlist(at, wl)
    # a horizon the user picks for this cutoff is kept on the next rerun
    at.number_input(key="churn_horizon").set_value(horizon - 5).run(timeout=TIMEOUT)
    assert at.number_input(key="churn_horizon").value == horizon - 5
    assert at.date_input(key="churn_as_of").value == early


def test_watchlist_values_in_chinese(app):
    from clm_core.i18n import ZH
    from clm_core.lifecycle import STAGES
    from clm_core.segments import SEGMENTS, TIERS

    app.sidebar.radio[0].set_value("zh").run(timeout=TIMEOUT)
    at = _open(app)
    table = at.dataframe[0].value
    for col, words in (("tier", TIERS), ("segment", SEGMENTS), ("stage", STAGES)):
        shown = set(table[col].dropna())
        assert shown, col
        assert shown <= {ZH[w] for w in words}, (col, shown)
    # the alerts-per-owner table names each alert in Chinese. On its own tab, opened on a new
    # session: AppTest cannot rerun a page showing Chinese options of a format_func=t widget
    # (it formats the value again outside the app, in English).
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["lang"] = "zh"
    at.session_state["churn_tab"] = translate("Rule alerts", "zh")
    at = _open(at.run())
    assert at.session_state["churn_tab"] == "规则预警"
    assert chart_keys(at) == TAB_CHARTS["Rule alerts"]
    headers = [c for df in at.dataframe for c in df.value.columns]
    assert "任一预警" in headers and not {"no_purchase", "any"} & set(headers)


def test_filter_change_shows_filtered_customers_without_retraining(app, data_dir, monkeypatch):
    """The model is trained once on every customer; a sidebar filter only picks the rows."""
    at = _open(app)
    path = data_dir / "demo-retail.duckdb"
    fits = []
    fit = churn.ChurnModel.fit
    monkeypatch.setattr(
        churn.ChurnModel, "fit", lambda self, X, y: fits.append(1) or fit(self, X, y)
    )
    region = at.multiselect(key="f_regions").options[0]
    at.multiselect(key="f_regions").set_value([region]).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert fits == []  # no model was trained for the filter
    assert len(list((data_dir / ".models" / "demo-retail").glob("*.pkl"))) == 1

    con = store.connect(path)
    horizon = at.number_input(key="churn_horizon").value
    wl = churn.watchlist(con, horizon_days=horizon)  # every customer, as trained
    fit_all = churn.fit_churn(con, horizon_days=horizon)
    in_region = set(
        con.execute("select customer_id from customers where region = $r", {"r": region})
        .df()["customer_id"]
    )  # fmt: skip
    con.close()
    expected = wl[wl["customer_id"].isin(in_region)]
    table = at.dataframe[0].value
    assert 0 < len(table) < len(wl)
    assert table["customer_id"].tolist() == expected["customer_id"].tolist()
    trained = churn.TRAINED_ON_ALL.format(n=f"{fit_all.n_test:,}")
    assert trained in [c.value for c in at.caption]
    assert any(f"of {len(expected):,} active customers" in c.value for c in at.caption)


def test_a_new_session_does_not_recheck_the_stored_model(app, data_dir, monkeypatch):
    """Checking for a stored model derives its settings from the data (seconds at 1M
    customers); the server checks once per dataset version and settings, not per session."""
    _open(app)  # trains and stores the model
    checks = []
    real = churn.is_trained
    monkeypatch.setattr(churn, "is_trained", lambda *a, **k: checks.append(1) or real(*a, **k))
    second = AppTest.from_file(APP, default_timeout=TIMEOUT)  # another browser session
    second.run()
    second.switch_page(PAGE).run()
    assert not second.exception, second.exception
    assert checks == []
    assert chart_keys(second) == TAB_CHARTS["Watchlist"]
