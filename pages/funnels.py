"""Funnels & cohorts: event funnels, the repeat-purchase funnel and cohort retention."""

import streamlit as st

from clm_core import cohorts as co
from clm_core import funnels as fn
from clm_core.amounts import drop_money
from clm_core.charts import cohorts as cfigs
from clm_core.charts import funnels as ffigs
from clm_core.errors import MissingTableError
from clm_core.formatting import fmt_money
from clm_core.lifecycle import localize
from ui.cache import compute, funnel_paths, tables
from ui.common import (
    chart,
    download_buttons,
    errors_shown,
    lang,
    money_shown,
    require,
    show_table,
    t,
)

st.title(t("Funnels & cohorts"))
st.caption(t("How customers move through your funnel, come back to buy again, and stay."))

with errors_shown():
    require("transactions", feature="funnels and cohorts")
    have = tables()
    currency = compute("clm_core.store:get_setting", key="currency", default="USD")
    with_money = money_shown("Cohorts show customer retention only: revenue needs amounts.")

    def money(v):
        return fmt_money(v, currency, lang())

    # Lazy tabs: only the open tab runs and is sent to the browser.
    tab_ev, tab_rep, tab_co = st.tabs(
        [t("Event funnel"), t("Repeat purchasing"), t("Cohort retention")],
        key="funnels_tab",
        on_change="rerun",
    )

    with tab_ev:
        if tab_ev.open:
            if "events" not in have:
                st.info(t(str(MissingTableError("events", "event funnels"))))
            else:
                # The step choices are the dataset's events: a filter change does not rescan.
                names = compute("clm_core.funnels:event_names", unfiltered=True)
                names = names["event_name"].tolist()
                if not set(st.session_state.get("funnels_steps", [])) <= set(names):
                    del st.session_state["funnels_steps"]  # another dataset: start from defaults
                steps = st.multiselect(
                    t("Steps, in order"),
                    names,
                    default=list(compute("clm_core.funnels:default_steps", unfiltered=True)),
                    key="funnels_steps",
                    placeholder=t("Choose options"),
                )
                c1, c2, c3 = st.columns(3)
                window = c1.number_input(
                    t("Conversion window (days)"),
                    min_value=0.1,
                    value=7.0,
                    step=1.0,
                    key="funnels_window",
                )
                order = c2.radio(
                    t("Step order"),
                    list(fn.ORDERS),
                    format_func=lambda o: t({"strict": "Strict order", "any": "Any order"}[o]),
                    horizontal=True,
                    key="funnels_order",
                )
                options = [None, "channel", "segment", "stage"] + (
                    ["acquisition_channel", "region"] if "customers" in have else []
                )
                if st.session_state.get("funnels_by") not in options:
                    st.session_state["funnels_by"] = None
                by = c3.selectbox(
                    t("Breakdown"),
                    options,
                    format_func=lambda b: t("None") if b is None else t(b.replace("_", " ")),
                    key="funnels_by",
                )
                st.caption(
                    t(
                        "Strict order: each step at or after the previous one (other events may "
                        "happen in between). Any order: all the steps inside one window. Every step "
                        "must happen within the window of the first; each customer counts once, at "
                        "the furthest step reached."
                    )
                )
                if len(steps) < 2:
                    st.info(t("Pick at least two steps."))
                else:
                    args = {"steps": tuple(steps), "window_days": float(window), "order": order}
                    # Each customer's best attempt, derived from the dataset's events for the
                    # date range; a region, segment or tier filter selects rows of it.
                    paths = funnel_paths(**args)
                    funnel = fn.funnel_from_paths(paths, args["steps"])
                    chart(
                        ffigs.funnel_figure(
                            funnel["event"].tolist(), funnel["customers"].tolist(),
                            title="Event funnel", lang=lang(),
                        ),
                        key="funnels_events",
                        takeaway=fn.takeaway_funnel(funnel, lang()),
                    )  # fmt: skip
                    show_table(localize(funnel, lang()), hide_index=True)
                    download_buttons(funnel, "event-funnel", key="funnels_events_dl")
                    if by:
                        # Labels from the filtered data: segments and stages are scored against
                        # the customers shown (quintiles, thresholds), so not per customer.
                        labels = None
                        if by != "channel":
                            labels = compute(
                                "clm_core.funnels:breakdown_labels", shared=True, breakdown=by
                            )
                        split = fn.funnel_from_paths(
                            paths, args["steps"], breakdown=by, labels=labels
                        )
                        chart(
                            ffigs.breakdown_figure(split, by, lang=lang()),
                            key="funnels_breakdown",
                            takeaway=fn.takeaway_breakdown(split, by, lang()),
                        )
                        download_buttons(split, f"event-funnel-by-{by}", key="funnels_split_dl")

    with tab_rep:
        if tab_rep.open:
            min_tenure = st.number_input(
                t("Only customers whose first purchase is at least this many days old"),
                min_value=0,
                value=0,
                step=30,
                key="funnels_min_tenure",
            )
            rep = compute("clm_core.funnels:repeat_purchase_funnel", min_tenure_days=min_tenure)
            labels = [fn.purchase_label(n, lang()) for n in rep["purchase"]]
            chart(
                ffigs.funnel_figure(
                    labels, rep["customers"].tolist(), title="Repeat-purchase funnel", lang=lang()
                ),
                key="funnels_repeat",
                takeaway=fn.takeaway_repeat(rep, lang()),
            )
            show_table(localize(rep, lang()), hide_index=True)
            gaps = compute("clm_core.funnels:next_purchase_gaps", min_tenure_days=min_tenure)
            hist = compute("clm_core.funnels:next_purchase_histogram", min_tenure_days=min_tenure)
            chart(
                ffigs.gap_histogram_figure(hist, fn.transition_labels(hist, lang()), lang=lang()),
                key="funnels_gaps",
                takeaway=fn.takeaway_gaps(gaps, lang()),
            )
            show_table(localize(gaps, lang()), hide_index=True)

    with tab_co:
        if tab_co.open:
            c1, c2, c3, c4 = st.columns(4)
            freq = c1.radio(
                t("Cohorts by"),
                ["M", "W"],
                format_func=lambda f: t({"M": "Month", "W": "Week"}[f]),
                horizontal=True,
                key="funnels_freq",
            )
            measures = list(cfigs.METRICS) if with_money else ["retention"]
            if st.session_state.get("funnels_metric") not in measures:
                st.session_state["funnels_metric"] = measures[0]
            metric = c2.selectbox(
                t("Measure"), measures, format_func=lambda m: t(cfigs.METRICS[m][0]),
                key="funnels_metric",
            )  # fmt: skip
            calendar = c3.toggle(t("Calendar periods"), key="funnels_calendar")
            split = c4.toggle(
                t("Split by acquisition channel"),
                key="funnels_split",
                disabled="customers" not in have or not with_money,  # revenue per channel
            )
            table = compute("clm_core.cohorts:cohort_table", freq=freq)
            curves = co.retention_curves(table)
            kw = {"metric": metric, "freq": freq, "lang": lang()}
            chart(
                cfigs.cohort_heatmap_figure(table, calendar=calendar, **kw),
                key="funnels_heatmap",
                takeaway=co.takeaway_heatmap(table, curves, money=money, **kw),
            )
            chart(
                cfigs.cohort_curves_figure(table, curves, **kw),
                key="funnels_curves",
                takeaway=co.takeaway_curve(curves, money=money, **kw),
            )
            if "customers" not in have:
                st.info(t(str(MissingTableError("customers", "cohorts by acquisition channel"))))
            elif split and with_money:
                by_channel = compute("clm_core.cohorts:cohort_table", freq=freq, by_channel=True)
                curves_by = co.retention_curves(by_channel, by="channel")
                chart(
                    cfigs.channel_ltv_figure(curves_by, lang=lang()),
                    key="funnels_ltv_channels",
                    takeaway=co.takeaway_channels(curves_by, freq=freq, money=money, lang=lang()),
                )
                table = by_channel
            if not with_money:  # stored zeros
                table = drop_money(table)
            show_table(localize(table, lang()), hide_index=True)
            # CSV only: weekly cohort tables get long.
            download_buttons(table, "cohorts", key="funnels_cohorts", xlsx=False)
