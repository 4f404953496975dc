"""The Segments page through the router (AppTest): numbers shown equal clm_core's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clm_core import segments as seg
from clm_core import store
from clm_core.config import SCHEMAS
from clm_core.formatting import fmt_share
from clm_core.i18n import translate
from tests.conftest import APP, chart_keys, open_tab

PAGE = "pages/segments.py"
# Lazy tabs (st.tabs(..., on_change="rerun")): only the open tab runs. Its charts, in order.
TAB_CHARTS = {
    "RFM segments": ["segments_share", "segments_rf"],
    "Value tiers": ["segments_tiers"],
    "Clusters": ["segments_sil", "segments_clusters"],
    "Price sensitivity": ["segments_price"],
    "Migration": ["segments_migration"],
    "Segment rules": [],
}


def _takeaways(at) -> list[str]:
    return [
        m.value.split(":** ", 1)[1].replace("\\", "")
        for m in at.markdown
        if m.value.startswith("**") and ":** " in m.value
    ]


def _chart_titles(at) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def _open(app):
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def _tab(at, label):
    return open_tab(at, "segments_tab", label)


def _frame(data_dir, fn, **kwargs):
    con = store.connect(data_dir / "demo-retail.duckdb")
    try:
        return fn(con, **kwargs)
    finally:
        con.close()


def test_page_shows_true_takeaways(app, data_dir):
    at = _open(app)
    assert at.session_state["segments_tab"] == "RFM segments"  # the first tab opens by default
    profile = _frame(data_dir, seg.segment_profile)
    top = profile.loc[profile["revenue_share"].idxmax()]
    expected = (
        f"{top['segment']} are {fmt_share(top['customer_share'])} of customers and "
        f"{fmt_share(top['revenue_share'])} of revenue."
    )
    texts = _takeaways(at)
    assert any(t.startswith(expected) for t in texts), texts
    tiers = _frame(data_dir, seg.tier_profile)
    diamond = tiers.set_index("tier").loc["Diamond"]
    _tab(at, "Value tiers")
    assert f"Diamond customers are {fmt_share(diamond['customer_share'])}" in " ".join(
        _takeaways(at)
    )
    clusters = _frame(data_dir, seg.customer_clusters)
    _tab(at, "Clusters")
    assert f"k = {clusters.best_k} separates customers best" in " ".join(_takeaways(at))
    # segment sizes, R x F | tiers | silhouette, clusters | price sensitivity | migration:
    # each chart has its takeaway, and each tab draws its own charts only
    for label, keys in TAB_CHARTS.items():
        _tab(at, label)
        assert chart_keys(at) == keys, label
        assert len(_takeaways(at)) == len(keys), label


def test_drill_down_lists_the_segment(app, data_dir):
    at = _open(app)
    segments = _frame(data_dir, seg.customer_segments)
    at.selectbox(key="segments_drill").set_value("Lost").run()
    assert not at.exception
    n = int((segments["segment"] == "Lost").sum())
    assert n > 0
    assert any(c.value == f"{n} customers, highest revenue first." for c in at.caption)
    assert n in [len(df.value) for df in at.dataframe]


def test_hand_picked_k(app):
    at = _tab(_open(app), "Clusters")
    at.toggle(key="segments_k_auto").set_value(False).run()
    at.slider(key="segments_k").set_value(5).run()
    assert not at.exception
    text = " ".join(_takeaways(at))
    assert "k = 5 was set by hand" in text


def test_chinese_labels(app):
    app.sidebar.radio[0].set_value("zh").run()  # on the first page: the sidebar is drawn there
    at = _open(app)
    assert at.title[0].value == "客户分群"
    text = " ".join(_takeaways(at))
    assert "占客户的" in text and "Champions" not in text
    assert [t.label for t in at.tabs] == [translate(label, "zh") for label in TAB_CHARTS]
    assert at.session_state["segments_tab"] == translate("RFM segments", "zh")


def test_chinese_tab_state_is_the_chinese_label(app):
    """The lazy tab's state is its shown (translated) label. Opened straight on Clusters: in
    AppTest a rerun with the drill-down's format_func=t on screen fails outside the app."""
    app.sidebar.radio[0].set_value("zh").run()
    app.session_state["segments_tab"] = translate("Clusters", "zh")
    at = _open(app)
    assert at.session_state["segments_tab"] == "聚类"
    assert chart_keys(at) == TAB_CHARTS["Clusters"]
    assert "时客户区分得最好（轮廓系数" in " ".join(_takeaways(at))


@pytest.fixture()
def router_only(monkeypatch):
    """Run app.py on every AppTest run. AppTest re-detects the legacy ``pages/`` mode before each
    run; ui.nav.ensure_router then reruns the script, and a rerun drops a button click."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def test_rules_saved_with_the_dataset_drive_the_page(data_dir, router_only):
    path = data_dir / "demo-retail.duckdb"
    custom = [
        {
            "segment": "Recent",
            "r_min": 4,
            "r_max": 5,
            "f_min": 1,
            "f_max": 5,
            "m_min": 1,
            "m_max": 5,
        },
        {
            "segment": "Earlier",
            "r_min": 1,
            "r_max": 3,
            "f_min": 1,
            "f_max": 5,
            "m_min": 1,
            "m_max": 5,
        },
    ]
    store.save_setting(path, seg.SEGMENT_RULES_SETTING, custom)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key="segments_drill").options == ["Recent", "Earlier"]
    _tab(at, "Segment rules")
    at.button(key="segments_save_rules").click().run()  # saving the unchanged table keeps it
    assert not at.exception
    assert _setting(path) == custom
    at.button(key="segments_reset_rules").click().run()
    assert not at.exception
    assert _setting(path) == seg.DEFAULT_SEGMENT_RULES
    _tab(at, "RFM segments")
    assert "Champions" in at.selectbox(key="segments_drill").options


def _setting(path):
    con = store.connect(path)
    try:
        return store.get_setting(con, seg.SEGMENT_RULES_SETTING)
    finally:
        con.close()


def test_dataset_without_discounts_or_enough_history(data_dir, monkeypatch):
    rng = np.random.default_rng(0)
    n = 400
    tx = pd.DataFrame(
        {
            "customer_id": [f"k{i % 80}" for i in range(n)],
            "order_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
            "amount": rng.uniform(5, 100, n).round(2),
        }
    )
    path = data_dir / "plain.duckdb"
    with store.write_dataset(path, fresh=True) as con:
        con.register("tx", tx)
        cols = ", ".join(
            c if c in tx.columns else f"cast(null as {t}) as {c}"
            for c, t in SCHEMAS["transactions"].items()
        )
        con.execute(f"create table transactions as select {cols} from tx")
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    # every chart but price sensitivity (6 of 7), each tab drawing its own
    for label, keys in TAB_CHARTS.items():
        _tab(at, label)
        assert chart_keys(at) == [k for k in keys if k != "segments_price"], label
        if label == "Price sensitivity":
            assert any("no discounts" in i.value for i in at.info)
        if label == "Clusters":
            assert "discount_share" not in at.multiselect(key="segments_extra").options


def test_bad_tier_cutoffs_show_an_error(app):
    at = _tab(_open(app), "Value tiers")
    at.number_input(key="segments_tier_gold").set_value(3).run()  # Gold 3% < Diamond 5%
    assert not at.exception
    assert any("cut-offs" in e.value for e in at.error)


def test_hidden_tabs_do_not_run(app, monkeypatch):
    """Lazy tabs: on the first tab the clustering never runs and only that tab's charts are
    drawn (and reported); opening Clusters runs it and shows its charts instead."""
    calls = []
    real = seg.customer_clusters

    def counted(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    # ui.cache.compute looks "clm_core.segments:customer_clusters" up by name on each miss
    monkeypatch.setattr(seg, "customer_clusters", counted)
    at = _open(app)
    at.selectbox(key="segments_drill").set_value("Lost").run()  # reruns on the same tab
    assert not at.exception, at.exception
    assert calls == []
    assert chart_keys(at) == TAB_CHARTS["RFM segments"]
    assert [s.title for s in at.session_state["_report"]] == _chart_titles(at)
    _tab(at, "Clusters")
    assert len(calls) == 1  # the open tab's work runs (the count also proves the patch took)
    assert chart_keys(at) == TAB_CHARTS["Clusters"]
    # the report holds the open tab's charts only
    assert [s.title for s in at.session_state["_report"]] == _chart_titles(at)
    assert "k = " in " ".join(_takeaways(at))


def test_language_switch_keeps_the_open_tab(app, data_dir):
    """Lazy tabs store the label shown: switching to Chinese must stay on Value tiers."""
    from clm_core.i18n import translate
    from tests.conftest import chart_keys, open_tab

    at = _open(app)
    open_tab(at, "segments_tab", "Value tiers")
    assert chart_keys(at) == ["segments_tiers"]
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.session_state["segments_tab"] == translate("Value tiers", "zh")
    assert chart_keys(at) == ["segments_tiers"]


def test_retranslate_round_trip():
    from clm_core.i18n import retranslate, translate

    zh = retranslate("Value tiers", "en", "zh")
    assert zh != "Value tiers" and zh == translate("Value tiers", "zh")
    assert retranslate(zh, "zh", "en") == "Value tiers"
    assert retranslate("no such label", "zh", "en") == "no such label"


def test_filters_from_the_url_score_the_filtered_customers(app, data_dir, monkeypatch):
    """Under a date range and a region the page scores the summary of the range, read off the
    dataset's rollup (a customer_summary call with the range's start), restricted to the region;
    under a channel it queries the filtered transactions. Either way the segment sizes shown
    equal scored_customers on the filtered data."""
    import datetime as dt

    from clm_core import summary
    from clm_core.filters import Filters, apply_filters

    starts = []
    original = summary.customer_summary

    def spy(con, **kwargs):
        starts.append(kwargs.get("date_from"))
        return original(con, **kwargs)

    monkeypatch.setattr(summary, "customer_summary", spy)
    channel = next(m for m in app.sidebar.multiselect if m.key == "f_channels").options[0]
    region = next(m for m in app.sidebar.multiselect if m.key == "f_regions").options[0]
    lo, hi = app.sidebar.date_input(key="f_dates").value
    start = lo + dt.timedelta(days=300)
    con = store.connect(data_dir / "demo-retail.duckdb")
    for f in (
        Filters(date_from=start, date_to=hi, regions=(region,)),
        Filters(date_from=start, date_to=hi, channels=(channel,)),
    ):
        starts.clear()
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["from"] = start.isoformat()
        at.query_params["to"] = hi.isoformat()
        if f.regions:
            at.query_params["region"] = region
        else:
            at.query_params["channel"] = channel
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        as_of = at.date_input(key="segments_as_of").value
        cur = store.cursor(con)
        apply_filters(cur, f)
        expected = seg.scored_customers(cur, as_of=as_of)
        assert (start in starts) == bool(f.regions), starts  # the rollup route, or the query
        for name in ("Lost", "Champions"):
            at.selectbox(key="segments_drill").set_value(name).run()
            n = int((expected["segment"] == name).sum())
            assert any(c.value == f"{n:,} customers, highest revenue first." for c in at.caption)
        _tab(at, "Value tiers")
        diamond = seg.tier_profile_of(expected, seg.DEFAULT_TIER_CUTOFFS).set_index("tier")
        share = fmt_share(diamond.loc["Diamond", "customer_share"])
        assert f"Diamond customers are {share}" in " ".join(_takeaways(at))
    con.close()
