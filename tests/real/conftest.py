"""The real public files of ../shared/datasets, loaded as a user would drop them in (no --map).

Tests here skip when the folder is absent, except under CI=true, where they must run. Each
file is loaded once per session into its own data folder; tests read those datasets only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
FILES = {
    "online_retail": DATASETS / "online_retail" / "online-retail.csv.gz",
    "cdnow": DATASETS / "cdnow" / "CDNOW_master.txt",
    "grocery": DATASETS / "grocery" / "groceryElog.csv",
}


def real_file(name: str) -> Path:
    """The path of a shared dataset file; skip (fail under CI=true) when it is not there."""
    path = FILES[name]
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run the real-data tests")
        pytest.skip(f"{path} is not on this machine")
    return path


@pytest.fixture(scope="session")
def loaded(tmp_path_factory):
    """``loaded(name)``: (data folder, dataset path, LoadResult) of the shared file ``name``."""
    from clm_core.ingest import load_file

    done: dict[str, tuple[Path, Path, object]] = {}

    def get(name: str):
        if name not in done:
            src = real_file(name)
            folder = tmp_path_factory.mktemp(f"real-{name}")
            db = folder / f"{name.replace('_', '-')}.duckdb"
            done[name] = (folder, db, load_file(src, db))
        return done[name]

    return get


@pytest.fixture()
def real_app(loaded, monkeypatch, tmp_path):
    """``real_app(name)``: an AppTest of the router on a copy of the loaded shared file."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import APP

    def make(name: str):
        _, db, _ = loaded(name)
        folder = tmp_path / "data"
        folder.mkdir(exist_ok=True)
        shutil.copyfile(db, folder / db.name)
        monkeypatch.setenv("CLM_DATA_DIR", str(folder))
        monkeypatch.setenv("CLM_DB", str(folder / db.name))
        at = AppTest.from_file(APP, default_timeout=300)
        at.run()
        assert not at.exception, at.exception
        return at

    return make
