"""Sidebar global filters kept in the URL query string, so a copied link reopens the same view."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from clm_core.filters import Filters
from ui.cache import compute, tables
from ui.common import t

__all__ = ["sidebar_filters"]

_LIST_KEYS = {
    "channel": "f_channels",
    "region": "f_regions",
    "segment": "f_segments",
    "tier": "f_tiers",
}


def _from_url() -> None:
    """On a session's first run, seed the widgets from the URL."""
    if st.session_state.get("_filters_seeded"):
        return
    st.session_state["_filters_seeded"] = True
    qp = st.query_params
    for param, key in _LIST_KEYS.items():
        if param in qp and qp[param]:
            st.session_state[key] = [v for v in qp[param].split(",") if v]
    try:
        if "from" in qp and "to" in qp:
            st.session_state["f_dates"] = (
                dt.date.fromisoformat(qp["from"]),
                dt.date.fromisoformat(qp["to"]),
            )
    except ValueError:
        pass


def _within(dates, bounds) -> bool:
    """True when ``dates`` is a whole range (two dates) inside the dataset's ``bounds``."""
    return bool(dates) and len(dates) == 2 and bounds[0] <= dates[0] and dates[1] <= bounds[1]


def _to_url(dates, bounds) -> None:
    qp = st.query_params
    for param, key in _LIST_KEYS.items():
        values = st.session_state.get(key) or []
        if values:
            qp[param] = ",".join(values)
        elif param in qp:
            del qp[param]
    if dates and len(dates) == 2 and tuple(dates) != tuple(bounds):
        qp["from"], qp["to"] = dates[0].isoformat(), dates[1].isoformat()
    else:
        for p in ("from", "to"):
            if p in qp:
                del qp[p]


def sidebar_filters() -> Filters:
    """Draw the filters; store the resulting Filters in session state for ui.cache.compute."""
    if "transactions" not in tables():
        st.session_state["_filters"] = Filters()
        return Filters()
    _from_url()
    opts = compute("clm_core.filters:filter_options", unfiltered=True)
    bounds = tuple(opts["dates"])
    with st.expander(t("Filters"), expanded=False):
        if bounds and all(bounds):
            chosen = st.session_state.get("f_dates")
            # One date: the first day of a range being picked in the calendar. Left as it is
            # (resetting it would undo the click); the last whole range holds meanwhile.
            half = chosen and len(chosen) == 1 and bounds[0] <= chosen[0] <= bounds[1]
            if not half and not _within(chosen, bounds):
                st.session_state["f_dates"] = bounds
            st.date_input(t("Date range"), min_value=bounds[0], max_value=bounds[1], key="f_dates")
        _multiselect(t("Channel"), opts["channels"], "f_channels")
        _multiselect(t("Region"), opts["regions"], "f_regions")
        seg_options, tier_options, seg_df = _segment_options()
        _multiselect(t("Segment"), seg_options, "f_segments", fmt=t)
        _multiselect(t("Tier"), tier_options, "f_tiers", fmt=t)
    dates = tuple(st.session_state.get("f_dates") or ())
    if len(dates) == 2:
        st.session_state["_f_dates_whole"] = dates
    elif len(dates) == 1:  # a range half picked: the last whole one, if this data has it
        last = st.session_state.get("_f_dates_whole")
        dates = last if _within(last, bounds) else bounds
    _to_url(dates, bounds)
    date_from = date_to = None
    if len(dates) == 2 and tuple(dates) != bounds:
        date_from, date_to = dates
    segments = tuple(st.session_state.get("f_segments") or ())
    tiers = tuple(st.session_state.get("f_tiers") or ())
    ids: tuple[str, ...] = ()
    if seg_df is not None and (segments or tiers):
        frame = seg_df
        if segments:
            frame = frame[frame["segment"].isin(segments)]
        if tiers:
            frame = frame[frame["tier"].isin(tiers)]
        ids = tuple(sorted(frame["customer_id"].astype(str)))
    filters = Filters(
        date_from=date_from,
        date_to=date_to,
        channels=tuple(st.session_state.get("f_channels") or ()),
        regions=tuple(st.session_state.get("f_regions") or ()),
        segments=segments,
        tiers=tiers,
        customer_ids=ids,
    )
    st.session_state["_filters"] = filters
    if filters.active:
        st.caption(t("Filters are on: every page shows the filtered customers."))
    return filters


def _multiselect(label, options, key, fmt=str) -> None:
    if not options:
        return
    current = [v for v in st.session_state.get(key) or [] if v in options]
    st.session_state[key] = current
    st.multiselect(label, options, key=key, format_func=fmt, placeholder=t("All"))


def _segment_options():
    """Segments and tiers of the unfiltered dataset (empty when the segments module is absent)."""
    try:
        seg = compute("clm_core.segments:customer_segments", unfiltered=True, shared=True)
    except (ImportError, AttributeError):
        return [], [], None
    segs = seg["segment"].dropna().unique().tolist()
    present = set(seg["tier"].dropna().unique().tolist())  # not set(column): 60 ms at 20k rows
    tiers = [x for x in ("Diamond", "Gold", "Silver", "Bronze") if x in present]
    return sorted(segs), tiers, seg
