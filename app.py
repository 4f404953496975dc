"""CLM Lens router: page config, shared state, sidebar, navigation. Nothing is computed here."""

from pathlib import Path

import streamlit as st

from clm_core import config, i18n
from ui.auth import password_gate
from ui.cache import dataset_list
from ui.common import keep_open_tabs, presenter_css, report_buttons, t
from ui.filters import sidebar_filters
from ui.nav import PAGES, ensure_router

ensure_router()

st.set_page_config(page_title="CLM Lens", page_icon=":material/insights:", layout="wide")
password_gate()
st.session_state.setdefault("lang", st.query_params.get("lang", "en"))
st.session_state.setdefault("_lang_shown", st.session_state["lang"])
st.session_state.setdefault("presenter", st.query_params.get("presenter") == "1")
st.session_state.setdefault("dataset_path", str(config.default_db()))

_HERE = Path(__file__).parent

with st.sidebar:
    st.radio("Language / 语言", list(i18n.LANGS), format_func=i18n.LANGS.get, key="lang",
             on_change=keep_open_tabs)  # fmt: skip
    st.query_params["lang"] = st.session_state["lang"]
    datasets = dataset_list()
    by_name = {d.name: str(d.path) for d in datasets if d.usable}
    wanted = st.query_params.get("ds")
    if wanted in by_name and not st.session_state.get("_ds_seeded"):
        st.session_state["dataset_path"] = by_name[wanted]
    st.session_state["_ds_seeded"] = True
    paths = list(by_name.values())
    if (
        st.session_state["dataset_path"] not in paths
        and Path(st.session_state["dataset_path"]).exists()
    ):
        paths.insert(0, st.session_state["dataset_path"])
    if paths:
        st.selectbox(t("Dataset"), paths, format_func=lambda p: Path(p).stem, key="dataset_path")
    current = Path(st.session_state["dataset_path"])
    st.query_params["ds"] = current.stem
    if current.stem.startswith(("demo", "cdnow")):
        st.badge(t("demo data"), icon=":material/science:", color="orange")
    for bad in (d for d in datasets if not d.usable):
        st.caption(f"⚠ {bad.name}: {t('unusable file')} ({bad.problem[:80]})")
    if current.exists():
        sidebar_filters()
    st.toggle(t("Presenter mode"), key="presenter")
    if st.session_state["presenter"]:
        st.query_params["presenter"] = "1"
    elif "presenter" in st.query_params:
        del st.query_params["presenter"]

presenter_css()
pages = [
    st.Page(path, title=t(title), icon=icon, default=(path == PAGES[0][0]))
    for path, title, icon in PAGES
    if (_HERE / path).exists()
]
current_page = st.navigation(pages)
st.session_state["_report"] = []  # filled by ui.common.chart while the page runs
current_page.run()
with st.sidebar:
    report_buttons(f"CLM Lens · {current_page.title}")
