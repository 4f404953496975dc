"""Customer value: what each customer is worth over the horizon, where it sits, can we trust it."""

import importlib.util

import streamlit as st

from clm_core import clv
from clm_core import clv_validation as cv
from clm_core.charts import clv as figs
from clm_core.errors import NotEnoughData
from clm_core.formatting import fmt_money
from ui.cache import compute
from ui.common import chart, download_buttons, errors_shown, lang, require, show_table, t


def _use_model(name: str) -> None:
    st.session_state["clv_model"] = name


st.title(t("Customer value"))
st.caption(
    t(
        "What each customer is expected to be worth over the horizon, where that value sits, "
        "and how far to trust the model."
    )
)

with errors_shown():
    require("transactions", feature="customer value")
    last = compute("clm_core.summary:as_of_default")
    cur = compute("clm_core.store:get_setting", key="currency", default="USD")
    c = st.columns(3)
    period = c[0].selectbox(
        t("Time unit (drives horizon and discounting)"),
        ["W", "D", "M"],
        format_func=lambda p: t(clv.PERIOD_UNITS[p]),
        key="clv_period",
    )
    model = c[1].selectbox(
        t("Purchase model"),
        ["auto", *clv.MODELS],
        format_func=lambda m: t("auto (lowest BIC)") if m == "auto" else clv.MODEL_LABELS[m],
        key="clv_model",
    )
    as_of = c[2].date_input(t("As of"), value=last, max_value=last, key="clv_as_of")
    units, unit = t(clv.PERIOD_UNITS[period]), t(clv.PERIOD_UNIT[period])
    c = st.columns(4)
    horizon = c[0].number_input(
        t("Horizon ({units})").format(units=units),
        min_value=1,
        max_value=3660,
        value=clv.DEFAULT_HORIZON[period],
        key=f"clv_horizon_{period}",  # one widget per unit: switching units keeps one year
    )
    rate_pct = c[1].number_input(
        t("Discount rate per {unit} (%)").format(unit=unit),
        min_value=0.0,
        max_value=50.0,
        value=round(100 * clv.equivalent_rate(0.01, to_period=period), 4),
        format="%.4f",
        key=f"clv_rate_{period}",
    )
    margin_pct = c[2].slider(t("Profit margin (% of revenue)"), 1, 100, 100, key="clv_margin")
    penalizer = c[3].number_input(
        t("Penalizer (L2)"), 0.0, 10.0, 0.0, step=0.001, format="%.3f", key="clv_penalizer"
    )
    rate, margin, horizon = rate_pct / 100, margin_pct / 100, int(horizon)
    st.caption(clv.requirements_text(period, rate, lang()))
    args = dict(period=period, as_of=as_of, horizon=horizon, discount_rate=rate, margin=margin)
    try:
        res = compute("clm_core.clv:fit_clv", model=model, penalizer=penalizer, **args)
    except NotEnoughData as e:
        st.warning(clv.error_text(e, lang()))
        st.stop()
    cust, s = res.customers, clv.clv_summary(res.customers)
    k = st.columns(4)
    k[0].metric(
        t("Expected future value ({h} {units})").format(h=horizon, units=units),
        fmt_money(s["total"], cur, lang()),
    )
    k[1].metric(t("Mean CLV per customer"), fmt_money(s["mean"], cur, lang()))
    k[2].metric(t("Customers probably alive"), f"{s['likely_alive_share']:.0%}")
    k[3].metric(
        t("Expected purchases ({h} {units})").format(h=horizon, units=units),
        f"{s['expected_purchases']:,.0f}",
    )
    st.caption(clv.describe_fit(res, lang()))
    for note in res.notes:
        st.info(note.text(lang()))

    names = ["Value", "Alive or gone", "LTV/CAC", "Validation", "Cohort fits", "Engine check"]
    value, alive, ltv, valid, cohorts, engine, table = st.tabs(
        [t(n) for n in names + ["Customer list"]]
    )
    with value:
        log = st.toggle(t("Log scale"), value=True, key="clv_log")
        chart(
            figs.clv_histogram(cust, currency=cur, log_scale=log, lang=lang()),
            key="clv_hist",
            takeaway=clv.takeaway_distribution(cust, currency=cur, lang=lang()),
        )
        conc = clv.value_concentration(cust)
        chart(
            figs.lorenz_figure(clv.lorenz_curve(cust), conc, lang=lang()),
            key="clv_lorenz",
            takeaway=clv.takeaway_concentration(conc, lang=lang()),
        )
        sources = {"channel": "Acquisition channel", "cohort": "First-purchase quarter"}
        if importlib.util.find_spec("clm_core.segments"):
            sources = {"segment": "Segment", "tier": "Tier", **sources}
        by = st.selectbox(
            t("Group by"), list(sources), format_func=lambda b: t(sources[b]), key="clv_by"
        )
        if by in ("segment", "tier"):
            groups = compute("clm_core.segments:customer_segments", as_of=as_of, period=period)
        else:
            groups = compute("clm_core.clv:customer_attributes", as_of=as_of)
        by_group = clv.value_by_group(cust, groups, by)
        chart(
            figs.group_figure(by_group, by_label=sources[by], lang=lang()),
            key="clv_groups",
            takeaway=clv.takeaway_groups(by_group, currency=cur, lang=lang()),
        )
    with alive:
        chart(
            figs.alive_matrix_figure(
                clv.alive_matrix(cust, value="p_alive"),
                title="P(alive) by repeat purchases and silence",
                value_label="P(alive)",
                period=period,
                percent=True,
                lang=lang(),
            ),
            key="clv_alive",
            takeaway=clv.takeaway_alive(cust, period=period, lang=lang()),
        )
        chart(
            figs.alive_matrix_figure(
                clv.alive_matrix(cust, value="expected_purchases"),
                title=t("Expected purchases in the next {h} {units}").format(
                    h=horizon, units=units
                ),
                value_label="Expected purchases",
                period=period,
                lang=lang(),
            ),
            key="clv_expected",
            takeaway=clv.takeaway_expected(cust, horizon=horizon, period=period, lang=lang()),
        )
        if importlib.util.find_spec("clm_core.lifecycle"):
            from clm_core.lifecycle import STAGES

            stages = compute("clm_core.lifecycle:customer_stages", as_of=as_of)
            sa = clv.stage_alive(cust, stages)
            chart(
                figs.stage_alive_figure(sa, stage_order=STAGES, lang=lang()),
                key="clv_stages",
                takeaway=clv.takeaway_stages(sa, lang=lang()),
            )
    with ltv:
        attrs = compute("clm_core.clv:customer_attributes", as_of=as_of)
        base = clv.channel_costs(attrs)
        st.caption(
            t(
                "Acquisition cost per new customer ({currency}); defaults come from the customers "
                "table. Edit them to try other costs."
            ).format(currency=cur)
        )
        edited = st.data_editor(
            base[["channel", "cac"]],
            disabled=["channel"],
            hide_index=True,
            key="clv_cac",
            column_config={
                "channel": st.column_config.TextColumn(t("Acquisition channel")),
                "cac": st.column_config.NumberColumn(
                    t("CAC ({currency})").format(currency=cur), min_value=0.0
                ),
            },
        )
        costs = {ch: float(v) for ch, v in zip(edited["channel"], edited["cac"], strict=True)}
        curve = compute(
            "clm_core.clv:channel_margin_curve", as_of=as_of, period=period, margin=margin
        )
        lc = clv.ltv_cac(cust, attrs, curve, margin=margin, costs=costs)
        chart(
            figs.ltv_cac_figure(lc, period=period, lang=lang()),
            key="clv_ltv_cac",
            takeaway=clv.takeaway_ltv_cac(lc, lang=lang()),
        )
        st.caption(
            t(
                "LTV = margin on net revenue so far + expected future value over the horizon. "
                "Payback: {units} after the first purchase until the average customer's actual "
                "margin covers the CAC."
            ).format(units=units)
        )
        show_table(clv.display_table(lc, period=period, currency=cur, lang=lang()), hide_index=True)
    with valid:
        cal_end = st.date_input(
            t("Calibration ends on (the rest is the holdout)"),
            value=compute("clm_core.clv_validation:default_calibration_end", as_of=as_of),
            max_value=as_of,
            key="clv_cal_end",
        )
        try:
            val = compute(
                "clm_core.clv_validation:validate_models",
                calibration_end=cal_end,
                as_of=as_of,
                period=period,
                penalizer=penalizer,
            )
        except NotEnoughData as e:
            st.warning(clv.error_text(e, lang()))
            val = None
        if val is not None:
            for note in val.notes:
                st.caption(note.text(lang()))
            pt = figs.period_transactions_figure(
                val.period_transactions, period=period, lang=lang()
            )
            chart(
                pt, key="clv_period_tx", takeaway=cv.takeaway_period_transactions(val, lang=lang())
            )
            ch = figs.calibration_holdout_figure(
                val.calibration_vs_holdout, holdout=val.holdout_periods, period=period, lang=lang()
            )
            chart(ch, key="clv_cal_hold", takeaway=cv.takeaway_holdout(val, lang=lang()))
            cu = figs.cumulative_figure(
                val.cumulative, calibration_end=val.calibration_end, lang=lang()
            )
            chart(cu, key="clv_cumulative", takeaway=cv.takeaway_cumulative(val, lang=lang()))
            comparison = val.comparison.drop(columns=["model"])
            show_table(clv.display_table(comparison, period=period, lang=lang()), hide_index=True)
            best = clv.MODEL_LABELS[val.best_model]
            st.write(
                t("Best on the holdout: {m} (lowest mean absolute error). In use: {c}.").format(
                    m=best, c=res.model_label
                )
            )
            if val.best_model != res.model:
                st.button(
                    t("Use {m}").format(m=best),
                    on_click=_use_model,
                    args=(val.best_model,),
                    key="clv_use_best",
                )
    with cohorts:
        cohort_by = st.radio(
            t("One model per"),
            ["cohort", "channel"],
            format_func=lambda b: t(
                "First-purchase quarter" if b == "cohort" else "Acquisition channel"
            ),
            horizontal=True,
            key="clv_cohort_by",
        )
        if st.toggle(t("Fit per-cohort models"), key="clv_cohorts"):
            cc = compute("clm_core.clv:cohort_fits", by=cohort_by, model=res.model, **args)
            chart(
                figs.cohort_figure(cc.table, currency=cur, lang=lang()),
                key="clv_cohort_fig",
                takeaway=clv.takeaway_cohorts(cc, lang=lang()),
            )
            shown = clv.display_table(cc.table, period=period, currency=cur, lang=lang())
            show_table(shown, hide_index=True)
    with engine:
        check = compute("clm_core.clv_validation:verify_cdnow")
        shout = st.success if check["passed"].all() else st.error
        shout(cv.takeaway_cdnow(check, lang=lang()))
        st.caption(
            t(
                "BG/NBD and Pareto/NBD: Fader, Hardie & Lee (2005), 2,357 CDNow customers, 39 "
                "calibration weeks; Gamma-Gamma on its 946 repeat buyers. Refitted live by the "
                "engine this page uses."
            )
        )
        show_table(clv.display_table(check, lang=lang()), hide_index=True)
    with table:
        show_table(
            clv.display_customers(cust, period=period, horizon=horizon, currency=cur, lang=lang()),
            hide_index=True,
        )
        download_buttons(cust, "customer-value", key="clv_download")
