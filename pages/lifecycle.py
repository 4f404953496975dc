"""Lifecycle: each customer's stage, how stages change over time, and who to contact this week."""

import datetime as dt

import streamlit as st

from clm_core import lifecycle as lc
from clm_core.amounts import drop_money
from clm_core.charts import lifecycle as figs
from ui.cache import compute, current_dataset, per_customer, stages
from ui.common import (
    TABLE_ROWS,
    chart,
    download_buttons,
    errors_shown,
    lang,
    money_shown,
    require,
    show_table,
    t,
)

st.title(t("Lifecycle"))
st.caption(
    t("Where each customer stands, how stages change over time, and who to contact this week.")
)

with errors_shown():
    require("transactions", feature="lifecycle stages")
    money = money_shown("The At risk rule on spend needs amounts: here it never applies.")
    first, last = compute("clm_core.lifecycle:purchase_date_range")
    for key in ("lifecycle_as_of", "lifecycle_from", "lifecycle_to"):  # data or filters changed
        if not first <= st.session_state.get(key, first) <= last:
            del st.session_state[key]
    as_of = st.date_input(
        t("As of"), value=last, min_value=first, max_value=last, key="lifecycle_as_of"
    )

    # Thresholds: derived once per dataset (at its last date), editable; keys carry the dataset
    # so switching datasets starts from that dataset's own defaults.
    defaults = compute("clm_core.lifecycle:derive_thresholds", unfiltered=True)
    stats = compute("clm_core.lifecycle:gap_statistics", unfiltered=True)
    ds = current_dataset().name
    with st.expander(t("Stage thresholds (derived from the data; edit them to change the rules)")):
        if stats["gaps"]:
            st.caption(
                t(
                    "From {n} repeat buyers: median gap between purchases {gap:.0f} days, "
                    "median time to the second purchase {first:.0f} days."
                ).format(
                    n=f"{stats['repeat_customers']:,.0f}",
                    gap=stats["median_gap"],
                    first=stats["median_first_gap"],
                )
            )
        cols = st.columns(4)
        values = {}
        for i, (name, label) in enumerate(lc.THRESHOLD_LABELS.items()):
            default = getattr(defaults, name)
            is_float = isinstance(default, float)
            values[name] = cols[i % 4].number_input(
                t(label),
                min_value=lc.THRESHOLD_MIN[name],
                max_value=1.0 if name == "spend_drop" else None,
                value=default,
                step=0.1 if is_float else 1,
                key=f"lifecycle_{name}_{ds}",
            )
    th = lc.StageThresholds(**values)
    st.markdown(t("**Stage rules** (the first that matches wins):"))
    st.markdown("\n".join(f"1. **{s}**: {d}" for s, d in lc.stage_definitions(th, lang())))

    show_prospects = st.toggle(t("Show prospects in the charts"), key="lifecycle_prospects")
    hide = () if show_prospects else ("Prospect",)
    rules = th.as_dict()

    # Lazy tabs: only the open tab runs and is sent to the browser. Stages at every date come
    # from one purchase history per filter (ui.cache.stages), and are per customer: a region,
    # segment or tier filter selects rows of the unfiltered result instead of recomputing.
    tab_st, tab_act, tab_tr, tab_tp = st.tabs(
        [t("Stages"), t("Gained and lost"), t("Transitions"), t("Touchpoints")],
        key="lifecycle_tab",
        on_change="rerun",
    )

    with tab_st:
        if tab_st.open:
            st.subheader(t("Stages on {date}").format(date=as_of))
            details = stages("details", as_of=as_of, **rules)
            summary = lc.stage_summary(details)
            if not money:  # each customer's spend: stored zeros
                details = drop_money(details)
            chart(
                figs.stage_bar_figure(summary, lang=lang(), hide=hide),
                key="lifecycle_stages",
                takeaway=lc.takeaway_stages(summary, lang()),
            )
            timeline = stages("timeline", as_of=as_of, **rules)
            counts = lc.counts_of(timeline)
            chart(
                figs.stage_trend_figure(counts, lang=lang(), hide=hide),
                key="lifecycle_trend",
                takeaway=lc.takeaway_stage_trend(counts, lang()),
            )
            st.subheader(t("Every customer's stage"))
            show_table(
                lc.localize(details.head(TABLE_ROWS), lang()), hide_index=True, total=len(details)
            )
            # CSV only: with prospects the table can outgrow a spreadsheet's rows.
            download_buttons(details, "lifecycle-stages", key="lifecycle_details", xlsx=False)

    with tab_act:
        if tab_act.open:
            st.subheader(t("Customers gained and lost per period"))
            freq = st.radio(
                t("Period"),
                ["M", "W"],
                format_func=lambda f: t({"M": "Months", "W": "Weeks"}[f]),
                horizontal=True,
                key="lifecycle_freq",
            )
            activity = compute("clm_core.lifecycle:lifecycle_activity", as_of=as_of, freq=freq)
            st.caption(
                t(
                    "New: first purchase in the period. Returning: bought in the previous period "
                    "too. Resurrecting: bought again after skipping at least one period. Dormant: "
                    "bought in the previous period but not in this one. Only complete periods are "
                    "shown."
                )
            )
            chart(
                figs.lifecycle_figure(activity, lang=lang()),
                key="lifecycle_activity",
                takeaway=lc.takeaway_activity(activity, lang(), freq),
            )

    with tab_tr:
        if tab_tr.open:
            st.subheader(t("Stage transitions"))
            c1, c2 = st.columns(2)
            start = c1.date_input(
                t("From"),
                value=max(first, as_of - dt.timedelta(days=90)),
                min_value=first,
                max_value=last,
                key="lifecycle_from",
            )
            end = c2.date_input(
                t("To"), value=as_of, min_value=first, max_value=last, key="lifecycle_to"
            )
            if end <= start:
                st.info(t("Pick a second date after the first one."))
            else:
                moves = lc.transitions_of(
                    stages("details", as_of=start, **rules),
                    stages("details", as_of=end, **rules),
                )
                chart(
                    figs.transition_sankey_figure(moves, lang=lang(), hide=hide),
                    key="lifecycle_sankey",
                    takeaway=lc.takeaway_transitions(moves, lang()),
                )
                share = lc.transition_matrix(moves, share=True)
                chart(
                    figs.transition_heatmap_figure(share, lang=lang()),
                    key="lifecycle_matrix",
                    takeaway=lc.takeaway_stability(share, lang()),
                )
                matrix = lc.transition_matrix(moves).reset_index()
                show_table(lc.localize(matrix, lang(), ("from_stage",)), hide_index=True)

    with tab_tp:
        if tab_tp.open:
            st.subheader(t("Touchpoints due this week"))
            st.caption(
                t("Contacts due from {start} to {end}, by the rules below.").format(
                    start=as_of, end=as_of + dt.timedelta(days=6)
                )
            )
            show_table(lc.touchpoint_schedule(th, lang=lang()), hide_index=True)
            due = per_customer("clm_core.lifecycle:touchpoints_due", as_of=as_of, **rules)
            st.markdown(f"**{t('Takeaway')}:** {lc.takeaway_touchpoints(due, lang())}")
            show_table(lc.localize(due.head(TABLE_ROWS), lang()), hide_index=True, total=len(due))
            download_buttons(due, "touchpoints-due", key="lifecycle_due")
