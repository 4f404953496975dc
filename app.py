"""CLM Lens router: page config, shared state, sidebar, navigation. Nothing is computed here."""

from pathlib import Path

import streamlit as st

from clm_core import config, i18n, store
from ui.common import t

st.set_page_config(page_title="CLM Lens", page_icon=":material/insights:", layout="wide")
st.session_state.setdefault("lang", st.query_params.get("lang", "en"))
st.session_state.setdefault("dataset_path", str(config.default_db()))

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
_HERE = Path(__file__).parent

with st.sidebar:
    st.radio(
        "Language / 语言",
        list(i18n.LANGS),
        format_func=i18n.LANGS.get,
        key="lang",
        horizontal=True,
    )
    datasets = store.list_datasets()
    usable = [d for d in datasets if d.usable]
    paths = [str(d.path) for d in usable]
    if st.session_state["dataset_path"] not in paths and Path(
        st.session_state["dataset_path"]
    ).exists():
        paths.insert(0, st.session_state["dataset_path"])
    if paths:
        st.selectbox(
            t("Dataset"),
            paths,
            format_func=lambda p: Path(p).stem,
            key="dataset_path",
        )
    current = Path(st.session_state["dataset_path"])
    if current.stem.startswith(("demo", "cdnow")):
        st.badge(t("demo data"), icon=":material/science:", color="orange")
    for bad in (d for d in datasets if not d.usable):
        st.caption(f"⚠ {bad.name}: {t('unusable file')}")

pages = [
    st.Page(path, title=t(title), icon=icon, default=(path == "pages/overview.py"))
    for path, title, icon in PAGES
    if (_HERE / path).exists()
]
st.navigation(pages).run()
