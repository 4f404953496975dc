"""Churn risk: who is about to leave, why, and how much value is at stake."""

import streamlit as st

from clm_core import churn
from clm_core.amounts import drop_money
from clm_core.charts import churn as charts
from clm_core.filters import keep_customers
from ui.cache import compute, current_dataset, cursor, filtered_customer_ids, stored_models
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

WATCHLIST_COLUMNS = ("customer_id", "churn_probability", "value_at_risk", "reasons", "tier",
                     "segment", "owner", "stage", "recency_days", "usual_gap_days", "clv",
                     "channel", "cohort")  # fmt: skip
HEADERS = {"customer_id": "Customer", "tier": "Tier", "segment": "Segment", "owner": "Owner",
           "stage": "Stage", "recency_days": "Days since last order",
           "usual_gap_days": "Usual gap (days)", "channel": "Channel", "cohort": "Cohort"}  # fmt: skip

st.title(t("Churn risk"))
st.caption(t("Who is about to leave, why, and how much value is at stake."))

with errors_shown():
    require("transactions", feature="churn risk")
    L = lang()
    currency = compute("clm_core.store:get_setting", key="currency", default="USD")
    money = money_shown("Customers are ranked by churn risk: value at risk needs amounts.")
    # The model is trained once per dataset version, cutoff and horizon on every customer; the
    # sidebar filters only choose which customers are shown (a filter change never retrains).
    first, last = compute("clm_core.churn:as_of_bounds", unfiltered=True)
    state = st.session_state
    if "churn_as_of" not in state or state.get("_churn_bounds") != (first, last):
        state.update(churn_as_of=last, _churn_bounds=(first, last))  # start at the data's end
    c0, c1, c2 = st.columns(3)
    as_of = c0.date_input(t("As of (cutoff date)"), min_value=first, max_value=last,
                          key="churn_as_of")  # fmt: skip
    c0.caption(t("Features use only data up to this day; default: the last transaction day."))
    suggested = compute("clm_core.churn:default_horizon", unfiltered=True, as_of=as_of)
    if "churn_horizon" not in state or state.get("_churn_horizon_for") != as_of:
        state.update(churn_horizon=suggested, _churn_horizon_for=as_of)  # new cutoff: suggest
    horizon = int(c1.number_input(t("Churned = no purchase for this many days"), 1, 730,
                                  key="churn_horizon"))  # fmt: skip
    c1.caption(t("Suggested from the data: {n} days (about 3 median gaps between purchases).")
               .format(n=suggested))  # fmt: skip
    threshold = c2.slider(t("Risk threshold"), 0.05, 0.95, 0.5, 0.05, key="churn_threshold")

    ds = current_dataset()
    trained_key = (str(ds.path), ds.version, as_of, horizon)
    if trained_key not in stored_models():  # checked once per server process and settings
        cur = cursor()  # unfiltered, like compute(..., unfiltered=True): training with progress
        if not churn.is_trained(cur, as_of=as_of, horizon_days=horizon):
            with st.status(t("Training the churn model..."), expanded=True) as status:
                bar = st.progress(0.0)
                churn.fit_churn(cur, as_of=as_of, horizon_days=horizon,
                                progress=lambda f, msg: bar.progress(f, text=t(msg)))  # fmt: skip
                status.update(label=t("Model trained and stored"), state="complete",
                              expanded=False)  # fmt: skip
        stored_models().add(trained_key)
    fit = compute("clm_core.churn:fit_churn", unfiltered=True, shared=True, as_of=as_of,
                  horizon_days=horizon)  # fmt: skip
    wl_all = compute("clm_core.churn:watchlist", unfiltered=True, shared=True, as_of=as_of,
                     horizon_days=horizon, lang=L)  # fmt: skip
    ids = filtered_customer_ids()
    wl = keep_customers(wl_all, ids)
    st.caption(t(churn.TRAINED_ON_ALL).format(n=f"{fit.n_test:,}"))
    if fit.omitted:
        st.info(t("Not used by the model (missing data): {items}.").format(
            items="; ".join(f"{charts.feature_label(o.feature, L)} ({t(o.reason)})"
                            for o in fit.omitted)))  # fmt: skip

    # Lazy tabs: only the open tab runs and is sent to the browser.
    tabs = st.tabs(
        [t("Watchlist"), t("Rule alerts"), t("Model")], key="churn_tab", on_change="rerun"
    )
    with tabs[0]:
        if tabs[0].open:
            chart(charts.risk_histogram(wl, threshold=threshold, lang=L), key="churn_hist",
                  takeaway=charts.risk_takeaway(wl, threshold=threshold, currency=currency, lang=L,
                                                money=money))  # fmt: skip
            f1, f2, f3, f4, f5 = st.columns(5)
            pick = {}
            for col, box, key in (("tier", f1, "tiers"), ("segment", f2, "segments"),
                                  ("owner", f3, "owners"), ("stage", f4, "stages")):  # fmt: skip
                options = sorted(wl[col].dropna().unique().tolist())
                pick[key] = tuple(box.multiselect(t(col.title()), options, format_func=t,
                                                  key=f"churn_f_{col}", disabled=not options,
                                                  placeholder=t("All")))  # fmt: skip
            min_p = f5.slider(t("Minimum risk"), 0.0, 1.0, 0.0, 0.05, key="churn_min_p")
            picked = churn.filter_watchlist(wl, min_probability=min_p, **pick)
            view = churn.translate_values(picked, L)  # tier, segment and stage names in words
            if money:
                st.caption(t("{n} of {total} active customers, highest value at risk first. Value = {basis}.")
                           .format(n=f"{len(view):,}", total=f"{len(wl):,}",
                                   basis=t("CLV (BG/NBD, 52 weeks)") if (wl["value_basis"] == "clv").any()
                                   else t("net revenue to date (CLV unavailable)")))  # fmt: skip
            else:  # no value, no tier: columns left out rather than shown empty
                view = drop_money(view)
                st.caption(t("{n} of {total} active customers, highest churn risk first.")
                           .format(n=f"{len(view):,}", total=f"{len(wl):,}"))  # fmt: skip
            show_table(view, hide_index=True, height=420, column_order=WATCHLIST_COLUMNS, column_config={
                "churn_probability": st.column_config.ProgressColumn(
                    t("Churn probability"), min_value=0.0, max_value=1.0, format="percent"),
                "value_at_risk": st.column_config.NumberColumn(t("Value at risk"), format="%.0f"),
                "clv": st.column_config.NumberColumn("CLV", format="%.0f"),
                "reasons": st.column_config.TextColumn(t("Why (top reasons)"), width="large"),
                **{c: t(h) for c, h in HEADERS.items()},
            })  # fmt: skip
            download_buttons(view, "churn-watchlist", "churn_wl")
            by = st.radio(t("Risk by"), ["segment", "channel", "cohort", *(["tier"] if money else []),
                                         "owner", "stage"],
                          format_func=lambda c: t(c.title()), horizontal=True, key="churn_by")  # fmt: skip
            grouped = churn.risk_by(picked, by)
            if grouped.empty:
                st.info(t("No {what} information for these customers.").format(what=t(by.title())))
            else:
                chart(charts.risk_by_figure(grouped, by, lang=L), key="churn_by_chart",
                      takeaway=charts.risk_by_takeaway(grouped, by, lang=L))  # fmt: skip

    with tabs[1]:
        if tabs[1].open:
            st.caption(t("Simple rules that need no model, on the same active customers."))
            a1, a2, a3, a4 = st.columns(4)
            settings = {
                "days": int(a1.number_input(t("No purchase for X days"), 1, 730, 30, key="churn_a_days")),
                "factor": float(a2.number_input(t("Gap far above usual (x usual gap)"), 1.0, 10.0, 2.0,
                                                0.5, key="churn_a_gap")),
                "pct": int(a3.number_input(t("Spend drop (%)"), 5, 100, 50, 5, key="churn_a_drop",
                                           disabled=not money)),
                "complaint_days": int(a4.number_input(t("Complaint within (days)"), 1, 365, 30,
                                                      key="churn_a_complaint")),
            }  # fmt: skip
            alerts = keep_customers(compute(
                "clm_core.churn:rule_alerts", unfiltered=True, as_of=as_of,
                no_purchase_days=settings["days"], gap_factor=settings["factor"],
                spend_drop=settings["pct"] / 100, complaint_days=settings["complaint_days"]), ids)  # fmt: skip
            counts = churn.alert_counts(alerts)
            owners = churn.alerts_by_owner(alerts)
            cols = st.columns(len(counts))
            for box, row in zip(cols, counts.itertuples(), strict=True):
                box.metric(churn.alert_label(row.alert, L, **settings), f"{row.customers:,}")
            if "recent_complaint" not in alerts.columns:
                st.caption(t("Upload feedback to enable the complaint alert."))
            chart(charts.alerts_figure(owners, settings, lang=L), key="churn_alerts",
                  takeaway=charts.alerts_takeaway(counts, owners, lang=L))  # fmt: skip
            show_table(charts.alerts_table(churn.translate_values(owners, L), settings, lang=L),
                       hide_index=True)  # fmt: skip
            flagged = alerts[alerts["n_alerts"] > 0].sort_values("n_alerts", ascending=False)
            download_buttons(charts.alerts_table(churn.translate_values(flagged, L), settings, lang=L),
                             "churn-alerts", "churn_alerts")  # fmt: skip

    with tabs[2]:
        if tabs[2].open:
            st.caption(t("Trained {trained} on dataset version {version}: features at {train}, churn in "
                         "the next {h} days; tested out of time at {test} ({n_test:,} customers, "
                         "{rate} churned); {k} features.").format(
                trained=fit.trained_at.replace("T", " "), version=fit.dataset_version, train=fit.train_cutoff,
                h=fit.horizon_days, test=fit.test_cutoff, n_test=fit.n_test,
                rate=f"{fit.test_churn_rate:.0%}", k=len(fit.features)))  # fmt: skip
            if fit.sampled:
                st.caption(t("Each model was fitted on a stratified sample of {n:,} customers (at most "
                             "{cap:,}; {total:,} were active at the training cutoff). Evaluation, "
                             "churn probabilities and reasons cover every active customer.").format(
                    n=fit.n_fit_rows, cap=fit.max_train_rows, total=fit.n_train))  # fmt: skip
            table = churn.metrics_table(fit, threshold)
            show_table(charts.metrics_display(table, lang=L), hide_index=True)
            chart(charts.roc_figure(fit, lang=L), key="churn_roc",
                  takeaway=charts.metrics_takeaway(table, lang=L))  # fmt: skip
            m1, m2 = st.columns(2)
            with m1:
                cal = churn.calibration(fit)
                chart(charts.calibration_figure(cal, lang=L), key="churn_cal",
                      takeaway=charts.calibration_takeaway(cal, lang=L))  # fmt: skip
            with m2:
                cm = churn.confusion(fit, threshold)
                chart(charts.confusion_figure(cm, lang=L), key="churn_cm",
                      takeaway=charts.confusion_takeaway(cm, threshold, lang=L))  # fmt: skip
            chart(charts.importance_figure(fit.importance, lang=L), key="churn_imp",
                  takeaway=charts.importance_takeaway(fit.importance, lang=L))  # fmt: skip
