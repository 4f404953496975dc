"""Lifecycle page through the router: stages, thresholds, transitions, touchpoints."""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from clm_core import lifecycle as lc
from clm_core import store
from tests.conftest import APP
from ui.common import TABLE_ROWS

PAGE = "pages/lifecycle.py"


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
    notes = takeaways(at)
    assert len(notes) == 6, notes
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
    assert len(at.get("plotly_chart")) == 5


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
    at = lifecycle
    to = at.date_input("lifecycle_to").value
    at.date_input("lifecycle_from").set_value(to).run()
    assert not at.exception
    assert any("Pick a second date" in i.value for i in at.info)


def test_touchpoints_table_lists_customers_due(lifecycle, data_dir):
    at = lifecycle
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
    text = " ".join(m.value for m in app.markdown)
    assert "超过" in text and "Churned" not in text


def test_works_with_transactions_only(data_dir, monkeypatch):
    src = store.connect(data_dir / "demo-retail.duckdb")
    tx = src.execute("select * from transactions").df()
    path = data_dir / "tx-only.duckdb"
    with store.write_dataset(path, fresh=True) as w:
        w.register("tx", tx)
        w.execute("create table transactions as select * from tx")
    monkeypatch.setenv("CLM_DB", str(path))
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert len(takeaways(at)) == 6


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
