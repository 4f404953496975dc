"""The one place that caches: connections per dataset version, results per (path, version, args).

Pages call ``compute("clm_core.summary:customer_summary", period="W")``: the function receives a
fresh cursor on the current dataset as its first argument. The cache key is the dataset path, its
version stamp and the keyword arguments, so a new upload (new version) is never shown stale.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from clm_core import config, overview, segments, store
from clm_core.errors import NotEnoughData
from clm_core.filters import (
    Filters,
    apply_filters,
    customer_filter_ids,
    is_kept,
    keep_customers,
)

__all__ = [
    "Dataset",
    "compute",
    "current_dataset",
    "current_filters",
    "cursor",
    "dataset_list",
    "filtered_customer_ids",
    "funnel_paths",
    "has_amounts",
    "kept_customer_ids",
    "per_customer",
    "scored_customers",
    "silent_valuable",
    "stages",
    "stored_models",
    "tables",
    "value_cards",
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


def _run(target: str, path: str, version: str, filters: Filters, kwargs: tuple) -> Any:
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    cur = store.cursor(_connection(path, version))
    apply_filters(cur, filters)
    try:
        return fn(cur, **dict(kwargs))
    finally:
        cur.close()


@st.cache_data(max_entries=256, show_spinner=False)
def _call(target: str, path: str, version: str, filters: Filters, kwargs: tuple) -> Any:
    return _run(target, path, version, filters, kwargs)


# Large results (a frame per customer) are kept as objects, not pickles: st.cache_data
# unpickles its value on every hit, 0.3-0.5 s per million-row frame on every rerun of a page.
@st.cache_resource(max_entries=24, show_spinner=False)
def _call_shared(target: str, path: str, version: str, filters: Filters, kwargs: tuple) -> Any:
    return _run(target, path, version, filters, kwargs)


def compute(target: str, *, unfiltered: bool = False, shared: bool = False, **kwargs) -> Any:
    """Call ``module:function(cursor, **kwargs)`` on the current dataset, cached.

    The cursor sees the global filters unless ``unfiltered`` (used to compute the filters'
    own customer lists and the dataset's bounds).

    ``shared``: keep the result as one object shared by every session instead of a pickled copy
    per call, for large per-customer frames read on every rerun. Frames (alone or as fields of a
    dataclass result) come back as shallow copies: under pandas' copy-on-write a caller's change
    never reaches the cached frame. Anything else in a shared result must be treated as
    read-only.
    """
    return _compute(target, Filters() if unfiltered else current_filters(), shared, kwargs)


def _compute(target: str, filters: Filters, shared: bool, kwargs: dict) -> Any:
    ds = current_dataset()
    args = (target, str(ds.path), ds.version, filters, tuple(sorted(kwargs.items())))
    if not shared:
        return _call(*args)
    return _fresh(_call_shared(*args))


def _fresh(result: Any) -> Any:
    """A shared result with its frames shallow-copied: the caller may add or change columns
    (copy-on-write copies what it changes) without touching the cached object."""
    if isinstance(result, pd.DataFrame | pd.Series):
        return result.copy(deep=False)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        frames = {
            f.name: getattr(result, f.name).copy(deep=False)
            for f in dataclasses.fields(result)
            if f.init and isinstance(getattr(result, f.name), pd.DataFrame | pd.Series)
        }
        return dataclasses.replace(result, **frames) if frames else result
    return result


@st.cache_resource(show_spinner=False)
def stored_models() -> set:
    """Keys (path, version, settings) of models known to be stored with their dataset, for the
    whole server process: checking means deriving the settings from the data (seconds at 1M
    customers), which every new browser session would otherwise pay. A stored model is never
    removed from its dataset version, so a key once added stays true."""
    return set()


def filtered_customer_ids():
    """Ids of the customers the sidebar filters keep (a sorted Series), or None when no filter
    is on: those with a transaction the filters keep (``filters.filtered_customer_ids``),
    read off the dataset's transaction ledger (0.05 s at a million customers, against 0.25 s
    for the query). Transactions without a date are not in the ledger: a customer whose only
    filtered transactions have no date is left out (no date, no model row either).

    Pages whose model is fitted once on every customer (``compute(..., unfiltered=True)``) pass
    these to ``clm_core.filters.keep_customers`` to show the filtered customers' rows.
    """
    filters = current_filters()
    if not filters.active:
        return None
    ds = current_dataset()
    path = str(ds.path)
    ledger = _ledger(path, ds.version)
    return ledger.customer_ids[_kept_mask(path, ds.version, filters)].reset_index(drop=True)


@st.cache_resource(max_entries=8, show_spinner=False)
def _kept_mask(path: str, version: str, filters: Filters):
    """Which of the ledger's customers the filters keep: a transaction the date and channel
    filters keep, and the region, segment and tier filters'. Read-only (shared)."""
    ledger = _ledger(path, version)
    mask = ledger.buyers(date_from=filters.date_from, date_to=filters.date_to,
                         channels=filters.channels)  # fmt: skip
    people = _people_mask(path, version, filters)
    if people is not None:
        mask &= people
    mask.flags.writeable = False
    return mask


@st.cache_resource(max_entries=8, show_spinner=False)
def _people(path: str, version: str, people: Filters):
    ids = _kept_ids(path, version, people)
    if ids is None:  # e.g. a region filter without a customers table keeps everyone
        return None
    mask = is_kept(_ledger(path, version).customer_ids, ids)
    mask.flags.writeable = False
    return mask


def _people_mask(path: str, version: str, filters: Filters):
    """Which of the ledger's customers the region, segment and tier filters keep (None: all).
    Read-only (shared)."""
    people = _customer_filters(filters)
    return _people(path, version, people) if people.active else None


def _customer_filters(filters: Filters) -> Filters:
    """The filters that pick customers (region, segment, tier) without those that pick rows."""
    return dataclasses.replace(filters, date_from=None, date_to=None, channels=())


@st.cache_resource(max_entries=8, show_spinner=False)
def _kept_ids(path: str, version: str, filters: Filters) -> pd.Series | None:
    cur = store.cursor(_connection(path, version))
    try:
        return customer_filter_ids(cur, filters)
    finally:
        cur.close()


def kept_customer_ids(filters: Filters | None = None) -> pd.Series | None:
    """Ids of the customers a customer-only filter (``Filters.customer_only``; default: the
    sidebar's) keeps, or None when the filter keeps everyone or is not customer-only. Treat as
    read-only (shared)."""
    filters = current_filters() if filters is None else filters
    if not filters.customer_only:
        return None
    ds = current_dataset()
    return _kept_ids(str(ds.path), ds.version, filters)


def per_customer(target: str, **kwargs) -> Any:
    """``compute(target, shared=True, **kwargs)`` for a function whose rows are customers
    (a ``customer_id`` column), each computed from that customer's own rows only.

    The filters on customers (region, segment, tier) select rows of the result under the
    other filters, computed once and shared: the same rows the filtered data gives, without
    rescanning the transactions for every such filter (seconds at a million customers).
    Filters on dates or channels change what each customer did, so the function runs on data
    filtered by those. A result that is not a frame selects its customers with its own
    ``keep(ids)`` (e.g. ``lifecycle.StageTimeline``).
    """
    return _per_customer(lambda f: _compute(target, f, True, kwargs), current_filters())


def _per_customer(call, filters: Filters) -> Any:
    """``call`` under the filters on rows (dates, channels) only, restricted to the customers
    the filters on customers (region, segment, tier) keep (see :func:`per_customer`): each
    customer's result depends on their own rows alone, so keeping a customer's rows or not is
    the same as keeping their result or not."""
    rows = dataclasses.replace(filters, regions=(), segments=(), tiers=(), customer_ids=())
    full = call(rows)
    people = _customer_filters(filters)
    if not people.active:
        return full
    ids = kept_customer_ids(people)
    return full.keep(ids) if hasattr(full, "keep") else keep_customers(full, ids)


def scored_customers(*, as_of, rules) -> pd.DataFrame:
    """``segments.scored_customers`` under the sidebar filters (the Segments page's scores).

    Without a channel filter the date range is the summary's own range, read off the dataset's
    sorted rollup (0.6 s at a million customers, against 2.6 s for the query over the
    date-filtered transactions), and the filters on customers select rows of that summary
    before they are scored: the scores rank the kept customers among themselves, as on the
    filtered data. Channels pick transaction lines, which the rollup does not know: the query.
    """
    filters = current_filters()
    if filters.channels or (filters.date_to is not None and as_of > filters.date_to):
        return compute("clm_core.segments:scored_customers", shared=True, as_of=as_of, rules=rules)
    ds = current_dataset()
    return _fresh(_scored(str(ds.path), ds.version, filters, as_of, rules))


# About 150 MB each at a million customers.
@st.cache_resource(max_entries=4, show_spinner=False)
def _scored(path: str, version: str, filters: Filters, as_of, rules: tuple) -> pd.DataFrame:
    def range_summary(rows: Filters) -> pd.DataFrame:  # rows: the dates (no channel here)
        dates = (("as_of", as_of), ("date_from", rows.date_from))
        return _call_shared("clm_core.summary:customer_summary", path, version, Filters(), dates)

    summary = _per_customer(range_summary, filters)
    if summary.empty:
        raise NotEnoughData(f"No customer has a purchase on or before {as_of}.")
    amounts = _call("clm_core.store:has_amounts", path, version, Filters(), ())
    return segments.score_summary(summary, rules, monetary=amounts)


# Every customer's transactions as arrays, from which the purchase history under any date or
# channel filter is derived without a query (0.4-1 s at a million customers, against 2.5-4.5 s
# for the query). About 250 MB at a million customers: one per dataset version in use.
@st.cache_resource(max_entries=2, show_spinner=False)
def _ledger(path: str, version: str):
    return _run("clm_core.lifecycle:transaction_ledger", path, version, Filters(), ())


# The purchase history behind the stage pages: about 300 MB at a million customers, so a few.
@st.cache_resource(max_entries=4, show_spinner=False)
def _history(path: str, version: str, filters: Filters):
    if filters.regions or filters.segments or filters.tiers:  # callers split these off
        return _run("clm_core.lifecycle:purchase_history", path, version, filters, ())
    ledger = _ledger(path, version)
    first_event = None
    if filters.date_from or filters.date_to:  # the date range picks events too
        dates = (("date_from", filters.date_from), ("date_to", filters.date_to))
        first_event = _run(
            "clm_core.lifecycle:first_event_days", path, version, Filters(),
            (("ledger", ledger), *dates),
        )  # fmt: skip
    return ledger.history(
        date_from=filters.date_from,
        date_to=filters.date_to,
        channels=filters.channels,
        first_event=first_event,
    )


@st.cache_data(max_entries=64, show_spinner=False)
def _silent(path: str, version: str, filters: Filters, as_of, churn_days: int) -> tuple:
    ledger = _ledger(path, version)
    customers = _people_mask(path, version, filters)
    return overview.silent_valuable(
        ledger, as_of=as_of, churn_days=churn_days, date_from=filters.date_from,
        date_to=filters.date_to, channels=filters.channels, customers=customers,
    )  # fmt: skip


def silent_valuable(*, as_of, churn_days: int) -> tuple[int, float, float]:
    """``overview.silent_valuable`` under the sidebar's filters, from the dataset's transaction
    ledger: the Overview's quiet-valuable-customers alert without a scan of the transactions
    (0.2-0.3 s at a million customers, against 0.5-1.5 s for the query)."""
    ds = current_dataset()
    return _silent(str(ds.path), ds.version, current_filters(), as_of, churn_days)


# The Overview's value cards: the CLV fit on every customer, its customers' costs and ledger
# numbers aligned once per date (two id matches of a million strings: 0.4 s), then a filter
# is a mask over them.
@st.cache_resource(max_entries=4, show_spinner=False)
def _value_base(path: str, version: str, fit: tuple):
    from clm_core.errors import NotEnoughData
    from clm_core.filters import id_positions

    try:
        res = _call_shared("clm_core.clv:fit_clv", path, version, Filters(), fit)
    except NotEnoughData:
        return None
    as_of = (("as_of", dict(fit)["as_of"]),)
    attrs = _call_shared("clm_core.clv:customer_attributes", path, version, Filters(), as_of)
    arrays = (
        *overview.value_arrays(res.customers, attrs),
        id_positions(res.customers["customer_id"], _ledger(path, version).customer_ids),
    )
    for a in arrays:
        a.flags.writeable = False
    return arrays


@st.cache_data(max_entries=32, show_spinner=False)
def _value_cards(path: str, version: str, filters: Filters, fit: tuple) -> dict:
    base = _value_base(path, version, fit)
    if base is None:
        return {"avg_clv": None, "ltv_cac": None}
    clv, revenue, cost, number = base
    if filters.active:  # the kept customers' rows (a fitted customer is in the ledger)
        keep = np.append(_kept_mask(path, version, filters), False)[number]
        clv, revenue, cost = clv[keep], revenue[keep], cost[keep]
    return overview.value_kpis_of(clv, revenue, cost)


def value_cards(*, as_of, **fit) -> dict:
    """``overview.value_kpis`` (average CLV, LTV/CAC) of ``clv.fit_clv(as_of=as_of, **fit)``
    fitted on every customer (the same cached fit as the Customer value page's), averaged over
    the customers the sidebar filters keep (:func:`filtered_customer_ids`)."""
    ds = current_dataset()
    fit = tuple(sorted({**fit, "as_of": as_of}.items()))
    return _value_cards(str(ds.path), ds.version, current_filters(), fit)


@st.cache_resource(max_entries=12, show_spinner=False)
def _stages(method: str, path: str, version: str, filters: Filters, kwargs: tuple) -> Any:
    return getattr(_history(path, version, filters), method)(**dict(kwargs))


def stages(method: str, **kwargs) -> Any:
    """``lifecycle.PurchaseHistory.<method>(**kwargs)`` ("details", "timeline" or "at_dates",
    with the date(s) and every threshold) under the sidebar's filters, as :func:`per_customer`
    computes.

    One purchase history per dataset version and filter serves every date and set of rules: a
    page that needs the stages at several dates (Overview, Lifecycle) queries the data once.
    """
    ds = current_dataset()
    key = tuple(sorted(kwargs.items()))
    return _per_customer(
        lambda f: _fresh(_stages(method, str(ds.path), ds.version, f, key)), current_filters()
    )


# Every event as arrays (about 0.9 GB at a million customers and 58M events), from which the
# funnel paths under any steps, window and date range are derived without a query: 3-4 s
# with a date range at a million customers, against 15 s for the query on the filtered events.
@st.cache_resource(max_entries=2, show_spinner=False)
def _event_ledger(path: str, version: str):
    return _run("clm_core.funnels:event_ledger", path, version, Filters(), ())


@st.cache_resource(max_entries=12, show_spinner=False)
def _paths(path: str, version: str, date_from, date_to, kwargs: tuple) -> pd.DataFrame:
    ledger = _event_ledger(path, version)
    return ledger.paths(date_from=date_from, date_to=date_to, **dict(kwargs))


def funnel_paths(**kwargs) -> pd.DataFrame:
    """``funnels.funnel_paths(**kwargs)`` (steps, window_days, order) under the sidebar's
    filters, as :func:`per_customer` computes: derived from the dataset's event ledger for the
    date range (the only filter on events), restricted to the customers a region, segment or
    tier filter keeps."""
    ds = current_dataset()
    key = tuple(sorted(kwargs.items()))
    return _per_customer(
        lambda f: _fresh(_paths(str(ds.path), ds.version, f.date_from, f.date_to, key)),
        dataclasses.replace(current_filters(), channels=()),  # channels pick transactions only
    )


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


def has_amounts() -> bool:
    """Whether the current dataset's transactions have amounts (``store.has_amounts``): False
    for a purchase log of customers and dates only, whose pages show nothing in money."""
    return compute("clm_core.store:has_amounts", unfiltered=True)
