"""ui.common.download_buttons: files built on click, PII masked in presenter mode."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest, app_test


def _script():
    import pandas as pd
    import streamlit as st

    from ui.common import download_buttons

    st.session_state["presenter"] = st.session_state.get("want_presenter", False)
    df = pd.DataFrame({"customer_id": ["C1"], "email": ["ann@example.com"], "note": ["=1+1"]})
    download_buttons(df, "people", key="people", xlsx=st.session_state.get("want_xlsx", True))


def _downloads(monkeypatch, **state) -> dict[str, bytes]:
    managers = []

    class Recording(app_test.MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            managers.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    at = AppTest.from_function(_script)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    deferred = managers[-1]._deferred_callables
    return {
        b.proto.id.rsplit("-", 1)[-1]: deferred[b.proto.deferred_file_id]["callable"]()
        for b in at.get("download_button")
    }


@pytest.mark.parametrize("presenter", [False, True])
def test_csv_download_masks_pii_in_presenter_mode_only(monkeypatch, presenter):
    files = _downloads(monkeypatch, want_presenter=presenter)
    assert set(files) == {"people_csv", "people_xlsx"}
    rows = pd.read_csv(io.BytesIO(files["people_csv"]), encoding="utf-8-sig")
    assert (rows.loc[0, "email"] == "ann@example.com") is not presenter
    assert rows.loc[0, "note"] == "'=1+1"  # formula neutralised either way


def test_csv_only(monkeypatch):
    assert set(_downloads(monkeypatch, want_xlsx=False)) == {"people_csv"}


def test_decimal_columns_get_digit_grouping_and_keep_their_own_config():
    import streamlit as st

    from ui.common import _number_formats

    df = pd.DataFrame(
        {"revenue": [1103753.4], "aov": [12.5], "hidden": [1.0], "orders": [3], "name": ["a"]}
    )
    config = _number_formats(df, {"aov": "Average order value", "hidden": None})
    assert config["revenue"]["type_config"]["format"] == "localized"
    assert config["aov"]["label"] == "Average order value"
    assert config["aov"]["type_config"]["format"] == "localized"
    assert config["hidden"] is None  # a hidden column stays hidden
    assert "orders" not in config and "name" not in config  # whole numbers, text: as they are
    own = st.column_config.NumberColumn(format="%.0f")
    assert _number_formats(df, {"revenue": own})["revenue"] is own
