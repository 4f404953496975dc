"""Shared fixtures: a small demo dataset in a temp data folder, cache clearing for AppTest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from clm_core.config import SCHEMAS

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A 2,000-customer demo-retail dataset built once per test session (read it, never write)."""
    from clm_core import demo

    path = tmp_path_factory.mktemp("demo-template") / "demo-retail.duckdb"
    demo.build_demo(path, customers=2000, seed=7)
    return path


def transactions_only(data_dir: Path) -> Path:
    """A dataset in ``data_dir`` holding the demo's transactions table alone (no customers,
    events, campaigns or feedback): ``tx-only.duckdb``."""
    from clm_core import store

    src = store.connect(data_dir / "demo-retail.duckdb")
    try:
        tx = src.execute("select * from transactions").df()
    finally:
        src.close()
    path = data_dir / "tx-only.duckdb"
    with store.write_dataset(path, fresh=True) as w:
        w.register("tx", tx)
        w.execute("create table transactions as select * from tx")
    return path


def without_amounts(data_dir: Path, *, name: str = "no-amounts", only: tuple = ()) -> Path:
    """A dataset in ``data_dir`` (``<name>.duckdb``) as the load stores a purchase log without
    money: the demo's tables (or only those in ``only``) with every transaction's amount 0.0
    and no discount, campaigns without converted or revenue values (attributed from the
    purchases), and the setting ``store.AMOUNTS_KEY`` = false."""
    from clm_core import store

    src = store.connect(data_dir / "demo-retail.duckdb")
    try:
        frames = {
            table: src.execute(f"select * from {table}").df()  # table: a fixed canonical name
            for table in ("transactions", "customers", "events", "campaigns", "feedback")
            if store.has_table(src, table) and (not only or table in only)
        }
    finally:
        src.close()
    frames["transactions"] = frames["transactions"].assign(amount=0.0, discount=None)
    if "campaigns" in frames:
        frames["campaigns"] = frames["campaigns"].assign(converted=None, revenue=None)
    path = data_dir / f"{name}.duckdb"
    with store.write_dataset(path, fresh=True) as w:
        for table, frame in frames.items():
            w.register("frame", frame)
            cols = ", ".join(f"cast({c} as {t}) as {c}" for c, t in SCHEMAS[table].items())
            w.execute(f"create table {table} as select {cols} from frame")
            w.unregister("frame")
        store.set_setting(w, store.AMOUNTS_KEY, False)
    return path


@pytest.fixture()
def data_dir(tmp_path, demo_template, monkeypatch) -> Path:
    """A private data folder holding a copy of the demo dataset; CLM_DATA_DIR/CLM_DB point at it."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copyfile(demo_template, folder / "demo-retail.duckdb")
    monkeypatch.setenv("CLM_DATA_DIR", str(folder))
    monkeypatch.setenv("CLM_DB", str(folder / "demo-retail.duckdb"))
    return folder


@pytest.fixture(autouse=True)
def _router_only(monkeypatch):
    """AppTest re-detects Streamlit's legacy ``pages/`` mode before every run; ui.nav then
    reruns once, which would drop a clicked button. Keep the legacy mode off in tests."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    yield
    if "streamlit" in __import__("sys").modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


def open_tab(at, key: str, label: str, *, timeout: float | None = None):
    """Open the lazy tab ``label`` (English; translated to the session's language) of the
    ``st.tabs(..., key=key, on_change="rerun")`` on the current page and rerun."""
    from clm_core.i18n import translate

    try:
        lang = at.session_state["lang"]
    except KeyError:
        lang = "en"
    at.session_state[key] = translate(label, lang)
    at.run(timeout=timeout)
    assert not at.exception, at.exception
    return at


def chart_keys(at) -> list[str]:
    """The keys of the Plotly charts drawn in the last run, in page order."""
    return [c.proto.id.split("-", 2)[-1] for c in at.get("plotly_chart")]  # "$$ID-<hash>-<key>"


@pytest.fixture()
def app(data_dir):
    """An AppTest of the router on the demo dataset, already run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CLM_SKIP_E2E") == "1":
        skip = pytest.mark.skip(reason="CLM_SKIP_E2E=1")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)
