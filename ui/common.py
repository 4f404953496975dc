"""Page helpers: translation, error edge, table requirements, safe downloads."""

from __future__ import annotations

import contextlib

import streamlit as st

from clm_core import i18n
from clm_core.errors import ClmError, MissingTableError
from clm_core.exports import to_csv_bytes, to_xlsx_bytes
from ui.cache import tables

__all__ = ["download_buttons", "errors_shown", "lang", "require", "t"]


def lang() -> str:
    return st.session_state.get("lang", "en")


def t(text: str) -> str:
    return i18n.translate(text, lang())


@contextlib.contextmanager
def errors_shown():
    """Show a ClmError as a message in the user's language and stop the page; never a traceback."""
    try:
        yield
    except MissingTableError as e:
        st.info(t(str(e)))
        st.stop()
    except ClmError as e:
        st.error(t(str(e)))
        st.stop()


def require(*needed: str, feature: str = "this page") -> None:
    """Stop the page with an upload hint when the dataset lacks a table."""
    have = tables()
    for table in needed:
        if table not in have:
            st.info(t(str(MissingTableError(table, feature))))
            st.stop()


def download_buttons(df, name: str, key: str) -> None:
    """CSV and XLSX downloads with spreadsheet formula injection neutralised."""
    c1, c2 = st.columns(2)
    c1.download_button(
        t("Download CSV"), to_csv_bytes(df), f"{name}.csv", "text/csv", key=f"{key}_csv"
    )
    c2.download_button(
        t("Download XLSX"),
        to_xlsx_bytes(df),
        f"{name}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{key}_xlsx",
    )
