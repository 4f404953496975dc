"""Page helpers: translation, error edge, table requirements, safe downloads."""

from __future__ import annotations

import contextlib

import pandas as pd
import streamlit as st

from clm_core import i18n
from clm_core.amounts import NO_AMOUNTS
from clm_core.errors import ClmError, MissingTableError
from clm_core.exports import to_csv_bytes, to_xlsx_bytes
from clm_core.privacy import mask_frame
from clm_core.report import ReportSection, figure_image, html_report, pdf_report
from ui.cache import has_amounts, tables
from ui.nav import ensure_router

__all__ = [
    "chart",
    "download_buttons",
    "errors_shown",
    "keep_open_tabs",
    "lang",
    "money_shown",
    "presenter",
    "presenter_css",
    "report_buttons",
    "require",
    "show_table",
    "t",
    "MISSING",
    "TABLE_ROWS",
]


def keep_open_tabs() -> None:
    """On a language change, keep each page's open tab: lazy tabs store the label shown, which
    must become the label in the new language (else the page falls back to its first tab)."""
    state = st.session_state
    old, new = state.get("_lang_shown", "en"), lang()
    for key in [k for k in state if isinstance(k, str) and k.endswith("_tab")]:
        if isinstance(state[key], str):
            state[key] = i18n.retranslate(state[key], old, new)
    state["_lang_shown"] = new


def lang() -> str:
    return st.session_state.get("lang", "en")


def t(text: str) -> str:
    return i18n.translate(text, lang())


@contextlib.contextmanager
def errors_shown():
    """Show a ClmError as a message in the user's language and stop the page; never a traceback.

    Also makes sure the router ran (see ui.nav): every page enters this first."""
    ensure_router()
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


def money_shown(*details: str) -> bool:
    """Whether the page shows money: True when the dataset's transactions have amounts. When
    they have none (a purchase log of customers and dates), an info box says so in plain words,
    with the page's own ``details`` (message ids, translated), and the page leaves every figure
    in money out instead of showing zeros."""
    if has_amounts():
        return True
    st.info(" ".join(t(text) for text in (NO_AMOUNTS, *details)))
    return False


def download_buttons(df, name: str, key: str, *, xlsx: bool = True) -> None:
    """CSV (and XLSX unless ``xlsx=False``: tables that can outgrow a sheet's 1,048,576 rows)
    downloads with spreadsheet formula injection neutralised (PII masked in presenter mode).

    Files are built on click: an XLSX of a big table takes seconds, and masking a million rows
    is not worth paying on every rerun either."""
    masked = presenter()

    def rows():
        return mask_frame(df) if masked else df

    buttons = [(t("Download CSV"), lambda: to_csv_bytes(rows()), "csv", "text/csv")]
    if xlsx:
        buttons.append((t("Download XLSX"), lambda: to_xlsx_bytes(rows()), "xlsx",
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))  # fmt: skip
    for box, (label, data, ext, mime) in zip(st.columns(2), buttons, strict=False):
        box.download_button(
            label, data, f"{name}.{ext}", mime, key=f"{key}_{ext}", on_click="ignore"
        )


def presenter() -> bool:
    return bool(st.session_state.get("presenter"))


# Static CSS only (no user data): larger type for presenter mode.
_PRESENTER_CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] { font-size: 22px; }
h1 { font-size: 3rem !important; }
[data-testid="stMetricValue"] { font-size: 3rem !important; }
</style>
"""


def presenter_css() -> None:
    if presenter():
        st.html(_PRESENTER_CSS)


# Rows a table sends to the browser. A watchlist of every customer is megabytes of Arrow per
# rerun at 20k customers and hundreds of MB at 1M; tables are sorted by what matters first and
# each long one has a download with every row.
TABLE_ROWS = 1000
MISSING = "—"  # a table cell without a value (Streamlit writes "None" in every language)


def show_table(df, *, total: int | None = None, **kwargs) -> None:
    """st.dataframe of the first ``TABLE_ROWS`` rows with PII masked in presenter mode (always
    rendered as text). ``total``: the row count of the table ``df`` was cut from, when the caller
    cut it (to prepare fewer rows). A caption says when rows are left out."""
    total = len(df) if total is None else total
    if len(df) > TABLE_ROWS:
        df = df.head(TABLE_ROWS)
    if presenter():
        st.dataframe(mask_frame(df), placeholder=MISSING, **kwargs)
    else:
        kwargs["column_config"] = _number_formats(df, kwargs.get("column_config"))
        st.dataframe(df, placeholder=MISSING, **kwargs)
    if total > len(df):
        st.caption(
            t("Showing the first {n} of {total} rows; the download has every row.").format(
                n=f"{len(df):,}", total=f"{total:,}"
            )
        )


def _number_formats(df, config: dict | None) -> dict:
    """``config`` with decimal columns shown with the reader's digit grouping (1,103,753.4, not
    1103753.4); a column's own format, or type, is kept."""
    out = dict(config or {})
    for col in df.columns:
        if not isinstance(col, str) or not pd.api.types.is_float_dtype(df[col]):
            continue
        if col not in out:  # (None there hides the column)
            out[col] = st.column_config.NumberColumn(format="localized")
        elif isinstance(out[col], str):  # only a label
            out[col] = st.column_config.NumberColumn(out[col], format="localized")
    return out


def chart(fig, *, key: str, takeaway: str | None = None) -> None:
    """A Plotly chart, its one-line takeaway, PNG/SVG export (rendered on click, offline), and
    a place in the page's report. In presenter mode charts fill the screen, one at a time."""
    if presenter():
        fig.update_layout(height=760, font={"size": 20})
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    if takeaway:
        st.markdown(f"**{t('Takeaway')}:** {escape_md(takeaway)}")
    row = st.container(horizontal=True)
    for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
        row.download_button(
            fmt.upper(),
            data=lambda fmt=fmt: figure_image(fig, fmt),
            file_name=f"{key}.{fmt}",
            mime=mime,
            key=f"{key}_{fmt}",
            on_click="ignore",
            type="tertiary",
            icon=":material/download:",
        )
    title = fig.layout.title.text or key
    st.session_state.setdefault("_report", []).append(ReportSection(title, takeaway or "", fig))


def escape_md(text: str) -> str:
    """Takeaways include data values (segment names...): show them as text, not markdown."""
    for ch in "\\`*_[]<>#|$~":
        text = text.replace(ch, "\\" + ch)
    return text


def report_buttons(title: str) -> None:
    """HTML and PDF report of the charts the current page drew in this run."""
    sections = list(st.session_state.get("_report") or [])
    if not sections:
        return
    st.caption(t("Report of this page"))
    c1, c2 = st.columns(2)
    c1.download_button(
        "HTML",
        data=lambda: html_report(title, sections, subtitle=t("CLM Lens report")),
        file_name="clm-lens-report.html",
        mime="text/html",
        key="report_html",
        on_click="ignore",
        icon=":material/description:",
    )
    c2.download_button(
        "PDF",
        data=lambda: pdf_report(html_report(title, sections, subtitle=t("CLM Lens report"))),
        file_name="clm-lens-report.pdf",
        mime="application/pdf",
        key="report_pdf",
        on_click="ignore",
        icon=":material/picture_as_pdf:",
    )
