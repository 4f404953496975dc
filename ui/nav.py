"""The app's pages, and a work-around for Streamlit's multipage v1 mode.

:data:`PAGES` lists every page once (file, English title, icon) for the router in app.py and
for links between pages (:func:`page_file`).

The work-around: Streamlit picks its multipage v1 mode because a ``pages/`` folder exists.

Streamlit decides once per session (before app.py runs) whether the app uses the legacy
``pages/`` directory feature. Our pages live in ``pages/`` but are routed by ``st.navigation``
in app.py; when the legacy flag is still set, a rerun executes the page script alone, without
app.py, so the sidebar (language, dataset, filters) vanishes and its widget changes are lost.
Seen on the first session after server start and in every AppTest rerun (Streamlit 1.67).
Calling :func:`ensure_router` first in app.py and in every page clears the flag and reruns once,
so the router always runs.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

__all__ = ["PAGES", "ensure_router", "page_file"]

# (file, English title, icon), in menu order; the first is the default page.
PAGES = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/data.py", "Data", ":material/upload_file:"),
    ("pages/segments.py", "Segments", ":material/donut_small:"),
    ("pages/lifecycle.py", "Lifecycle", ":material/autorenew:"),
    ("pages/funnels.py", "Funnels & cohorts", ":material/filter_alt:"),
    ("pages/clv.py", "Customer value", ":material/savings:"),
    ("pages/churn.py", "Churn risk", ":material/warning:"),
    ("pages/campaigns.py", "Campaigns", ":material/campaign:"),
    ("pages/customer.py", "Customer 360", ":material/person_search:"),
]


def page_file(stem: str) -> tuple[str, str]:
    """(file, English title) of the page named by its file stem, e.g. "churn"."""
    return next((path, title) for path, title, _ in PAGES if path == f"pages/{stem}.py")


def ensure_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
