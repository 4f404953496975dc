"""Work around Streamlit's multipage v1 mode being chosen because a ``pages/`` folder exists.

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

__all__ = ["ensure_router"]


def ensure_router() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
