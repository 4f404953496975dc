"""Lifecycle page through the router: stages, thresholds, transitions, touchpoints."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clm_core import lifecycle as lc
from clm_core import store
from tests.conftest import APP, chart_keys, open_tab, transactions_only
from ui.common import TABLE_ROWS

PAGE = "pages/lifecycle.py"
# lazy tabs: (label, charts drawn, takeaways written)
TABS = {
    "Stages": (["lifecycle_stages", "lifecycle_trend"], 2),
    "Gained and lost": (["lifecycle_activity"], 1),
    "Transitions": (["lifecycle_sankey", "lifecycle_matrix"], 2),
    "Touchpoints": ([], 1),
}


def takeaways(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(("**Takeaway:**", "**要点"))]


def _number(text: str, pattern: str) -> int:
    return int(re.search(pattern, text).group(1).replace(",", ""))


@pytest.fixture()
def lifecycle(app):
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def test_page_shows_stages_that_match_the_core(lifecycle, data_dir):
    at = lifecycle
    assert at.title[0].value == "Lifecycle"
    assert at.session_state["lifecycle_tab"] == "Stages"  # the first tab opens by default
    notes = takeaways(at)
    assert len(notes) == 2, notes
    con = store.connect(data_dir / "demo-retail.duckdb")
    stages = lc.customer_stages(con)  # the page starts with data-derived thresholds
    buyers = int((stages["stage"] != "Prospect").sum())
    churned = int((stages["stage"] == "Churned").sum())
    assert _number(notes[0], r"Of ([\d,]+) buyers") == buyers
    assert _number(notes[0], r"and ([\d,]+) churned") == churned
    # the rules are written on the page with the thresholds in use
    th = lc.derive_thresholds(con)
    rules = " ".join(m.value for m in at.markdown)
    assert f"no purchase for more than {th.churn_days} days" in rules


def test_each_tab_draws_only_its_own_charts(lifecycle):
    at = lifecycle
    for label, (charts, notes) in TABS.items():
        open_tab(at, "lifecycle_tab", label)
        assert chart_keys(at) == charts, label
        assert len(takeaways(at)) == notes, label


def test_editing_a_threshold_changes_the_stages(lifecycle):
    at = lifecycle
    before = takeaways(at)[0]
    key = next(n.key for n in at.number_input if n.key.startswith("lifecycle_churn_days"))
    at.number_input(key).set_value(5000).run()
    assert not at.exception
    after = takeaways(at)[0]
    assert after != before
    assert _number(after, r"and ([\d,]+) churned") == 0
    assert "more than 5000 days" in " ".join(m.value for m in at.markdown)


def test_transition_dates_in_the_wrong_order_ask_again(lifecycle):
    at = open_tab(lifecycle, "lifecycle_tab", "Transitions")
    to = at.date_input("lifecycle_to").value
    at.date_input("lifecycle_from").set_value(to).run()
    assert not at.exception
    assert any("Pick a second date" in i.value for i in at.info)


def test_touchpoints_table_lists_customers_due(lifecycle, data_dir):
    at = open_tab(lifecycle, "lifecycle_tab", "Touchpoints")
    con = store.connect(data_dir / "demo-retail.duckdb")
    due = lc.touchpoints_due(con)
    note = next(n for n in takeaways(at) if "contacts due" in n or "No touchpoint" in n)
    if len(due):
        assert _number(note, r"([\d,]+) contacts due") == len(due)
    frames = [df.value for df in at.dataframe]
    assert any(len(f) == len(due) and "due_date" in f.columns for f in frames)


def test_page_in_chinese(app):
    # AppTest runs only the page after switch_page, so the language is set in the session
    app.session_state["lang"] = "zh"
    app.switch_page(PAGE).run()
    assert not app.exception
    assert app.title[0].value == "生命周期"
    assert app.session_state["lifecycle_tab"] == "阶段"
    text = " ".join(m.value for m in app.markdown)
    assert "超过" in text and "Churned" not in text


def test_works_with_transactions_only(data_dir, monkeypatch):
    path = transactions_only(data_dir)
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    for label, (charts, notes) in TABS.items():
        open_tab(at, "lifecycle_tab", label)
        assert chart_keys(at) == charts, label
        assert len(takeaways(at)) == notes, label


def test_without_transactions_says_what_to_upload(data_dir, monkeypatch):
    path = data_dir / "crm-only.duckdb"
    with store.write_dataset(path, fresh=True) as w:
        w.execute("create table customers (customer_id varchar, signup_ts timestamp)")
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert any("Upload a transactions file" in i.value for i in at.info)


def test_dates_outside_the_data_are_reset_not_an_error(lifecycle):
    # e.g. another dataset or a sidebar date filter narrowed the data since the date was picked
    at = lifecycle
    last = at.date_input("lifecycle_as_of").value
    at.session_state["lifecycle_as_of"] = last.replace(year=last.year + 5)
    at.run()
    assert not at.exception, at.exception
    assert at.date_input("lifecycle_as_of").value == last


def test_long_table_shows_the_first_rows_and_the_download_has_every_row(data_dir, monkeypatch):
    """show_table sends at most TABLE_ROWS rows and says so; the CSV download keeps them all."""
    from streamlit.testing.v1 import app_test

    managers = []  # AppTest's media file manager of each run (deferred downloads live there)

    class Recording(app_test.MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    con = store.connect(data_dir / "demo-retail.duckdb")
    details = lc.stage_details(con)  # the page's defaults: last date, derived thresholds
    con.close()
    assert len(details) > TABLE_ROWS  # 2,000 customers and the prospects
    shown = at.dataframe[-1].value  # "Every customer's stage", the page's last table
    assert len(shown) == TABLE_ROWS
    assert shown["customer_id"].tolist() == details["customer_id"].head(TABLE_ROWS).tolist()
    note = f"Showing the first {TABLE_ROWS:,} of {len(details):,} rows; the download has every row."
    assert note in [c.value for c in at.caption]
    # short tables are shown whole, without the note
    assert sum("Showing the first" in c.value for c in at.caption) == 1

    button = next(
        b for b in at.get("download_button") if b.proto.id.endswith("-lifecycle_details_csv")
    )
    entry = managers[-1]._deferred_callables[button.proto.deferred_file_id]
    rows = pd.read_csv(io.BytesIO(entry["callable"]()), encoding="utf-8-sig")
    assert len(rows) == len(details)
    assert rows["customer_id"].tolist() == details["customer_id"].tolist()


def _filtered(con, **filters):
    from clm_core.filters import Filters, apply_filters

    cur = store.cursor(con)
    apply_filters(cur, Filters(**filters))
    return cur


@pytest.mark.parametrize("channel", [False, True], ids=["region", "channel-and-region"])
def test_a_filter_shows_the_filtered_customers_stages(app, data_dir, monkeypatch, channel):
    """Under a region filter the page selects rows of the unfiltered stages; under a channel
    filter too it selects rows of the stages of the channel's purchase history, derived from
    the unfiltered transactions without another query. Either way the numbers must be those of
    the stages computed on the filtered data."""
    from clm_core.filters import filter_options

    queried = []
    history = lc.purchase_history
    monkeypatch.setattr(lc, "purchase_history", lambda c: queried.append(1) or history(c))
    at = app.switch_page(PAGE).run()
    assert not at.exception, at.exception
    con = store.connect(data_dir / "demo-retail.duckdb")
    options = filter_options(con)
    region = options["regions"][0]
    filters = {"regions": (region,)}
    if channel:
        filters["channels"] = (options["channels"][0],)
        at.multiselect("f_channels").set_value(list(filters["channels"])).run()
    rules = lc.derive_thresholds(con).as_dict()  # the page's defaults: the unfiltered data's
    at.multiselect("f_regions").set_value([region]).run()
    assert not at.exception, at.exception
    assert not queried  # every history came from the ledger
    cur = _filtered(con, **filters)
    details = lc.stage_details(cur, **rules)
    counts = lc.stage_counts(cur, **rules)
    notes = takeaways(at)
    buyers = int((details["stage"] != "Prospect").sum())
    assert _number(notes[0], r"Of ([\d,]+) buyers") == buyers
    shown = at.dataframe[-1].value
    assert at.dataframe[-1].proto.placeholder == "—"  # prospects' missing dates: not "None"
    assert len(shown) == min(len(details), TABLE_ROWS)
    assert shown["customer_id"].tolist() == details["customer_id"].head(TABLE_ROWS).tolist()
    trend = next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-lifecycle_trend"))
    import base64
    import json

    import numpy as np

    def values(y):  # plotly sends numeric arrays as {"dtype", "bdata": base64}
        if isinstance(y, dict):
            return np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
        return np.asarray(y)

    fig = json.loads(trend.proto.spec)
    last = counts[counts["as_of"] == counts["as_of"].max()].set_index("stage")["customers"]
    drawn = {tr["name"]: int(values(tr["y"])[-1]) for tr in fig["data"]}
    assert drawn  # the stages drawn (prospects hidden)
    for stage, n in last.items():
        if stage in drawn:
            assert drawn[stage] == n, stage

    open_tab(at, "lifecycle_tab", "Transitions")
    start, end = at.date_input("lifecycle_from").value, at.date_input("lifecycle_to").value
    moves = lc.stage_transitions(cur, start=start, end=end, **rules)
    table = at.dataframe[-1].value
    assert int(table.drop(columns="from_stage").to_numpy().sum()) == int(moves["customers"].sum())

    open_tab(at, "lifecycle_tab", "Touchpoints")
    due = lc.touchpoints_due(cur, **rules)
    assert any(len(f.value) == min(len(due), TABLE_ROWS) and "due_date" in f.value.columns
               for f in at.dataframe)  # fmt: skip
