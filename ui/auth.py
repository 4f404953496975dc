"""Optional shared password for the whole app: set CLM_PASSWORD to turn it on."""

from __future__ import annotations

import hmac
import os

import streamlit as st

__all__ = ["password_gate"]


def password_gate() -> None:
    """Stop the script until the session has entered CLM_PASSWORD (no-op when unset)."""
    secret = os.environ.get("CLM_PASSWORD")
    if not secret or st.session_state.get("_authenticated"):
        return
    st.title("CLM Lens")
    entered = st.text_input("Password / 密码", type="password", key="_password")
    if entered:
        if hmac.compare_digest(entered.encode(), secret.encode()):
            st.session_state["_authenticated"] = True
            del st.session_state["_password"]
            st.rerun()
        st.error("Wrong password / 密码错误")
    st.stop()
