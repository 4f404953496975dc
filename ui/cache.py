"""The one place that caches: connections per dataset version, results per (path, version, args).

Pages call ``compute("clm_core.summary:customer_summary", period="W")``: the function receives a
fresh cursor on the current dataset as its first argument. The cache key is the dataset path, its
version stamp and the keyword arguments, so a new upload (new version) is never shown stale.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from clm_core import config, store

__all__ = ["Dataset", "compute", "current_dataset", "cursor", "tables"]


@dataclass(frozen=True)
class Dataset:
    path: Path
    version: str

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_demo(self) -> bool:
        return self.name.startswith(("demo", "cdnow"))


def current_dataset() -> Dataset:
    path = Path(st.session_state.get("dataset_path") or config.default_db())
    return Dataset(path, store.dataset_version(path))


@st.cache_resource(max_entries=16, show_spinner=False)
def _connection(path: str, version: str):
    return store.connect(path)


def cursor():
    """A cursor on the current dataset, private to this call (connections are shared)."""
    ds = current_dataset()
    return store.cursor(_connection(str(ds.path), ds.version))


@st.cache_data(max_entries=256, show_spinner=False)
def _call(target: str, path: str, version: str, kwargs: tuple) -> Any:
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    return fn(store.cursor(_connection(path, version)), **dict(kwargs))


def compute(target: str, **kwargs) -> Any:
    """Call ``module:function(cursor, **kwargs)`` on the current dataset, cached."""
    ds = current_dataset()
    return _call(target, str(ds.path), ds.version, tuple(sorted(kwargs.items())))


def tables() -> set[str]:
    return compute("clm_core.store:table_names")
