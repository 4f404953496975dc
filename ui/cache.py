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
from clm_core.filters import Filters, apply_filters

__all__ = [
    "Dataset",
    "compute",
    "current_dataset",
    "current_filters",
    "cursor",
    "dataset_list",
    "filtered_customer_ids",
    "tables",
]


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


def current_filters() -> Filters:
    """The sidebar's global filters (set by ui.filters), or none."""
    return st.session_state.get("_filters") or Filters()


@st.cache_data(max_entries=256, show_spinner=False)
def _call(target: str, path: str, version: str, filters: Filters, kwargs: tuple) -> Any:
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    cur = store.cursor(_connection(path, version))
    apply_filters(cur, filters)
    try:
        return fn(cur, **dict(kwargs))
    finally:
        cur.close()


def compute(target: str, *, unfiltered: bool = False, **kwargs) -> Any:
    """Call ``module:function(cursor, **kwargs)`` on the current dataset, cached.

    The cursor sees the global filters unless ``unfiltered`` (used to compute the filters'
    own customer lists and the dataset's bounds).
    """
    ds = current_dataset()
    filters = Filters() if unfiltered else current_filters()
    return _call(target, str(ds.path), ds.version, filters, tuple(sorted(kwargs.items())))


def filtered_customer_ids():
    """Ids of the customers the sidebar filters keep (a Series), or None when no filter is on.

    Pages whose model is fitted once on every customer (``compute(..., unfiltered=True)``) pass
    these to ``clm_core.filters.keep_customers`` to show the filtered customers' rows.
    """
    if not current_filters().active:
        return None
    return compute("clm_core.filters:filtered_customer_ids")


@st.cache_data(max_entries=8, show_spinner=False)
def _datasets(folder: str, stamps: tuple) -> list[store.DatasetInfo]:
    return store.list_datasets(folder)


def dataset_list() -> list[store.DatasetInfo]:
    """``store.list_datasets()`` of the data folder, cached until a file is added, removed or
    replaced (listing opens every file: 20-40 ms on every rerun of every page otherwise)."""
    folder = config.data_dir()
    stamps = tuple(
        (p.name, store.dataset_version(p))
        for p in sorted(folder.glob("*.duckdb"))
        if not p.name.startswith(".")
    )
    return _datasets(str(folder), stamps)


def tables() -> set[str]:
    return compute("clm_core.store:table_names", unfiltered=True)
