"""Customer value: what each customer is worth over the horizon, where it sits, can we trust it."""

import streamlit as st

from clm_core import clv
from clm_core import clv_report as rep
from clm_core.amounts import drop_money
from clm_core.errors import NotEnoughData
from ui.cache import compute, filtered_customer_ids
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


def _use_model(name: str) -> None:
    st.session_state["clv_model"] = name


def _show(*charts: rep.Chart) -> None:
    for c in charts:
        chart(c.figure, key=c.key, takeaway=c.takeaway)


st.title(t("Customer value"))
st.caption(t(rep.PURPOSE))

with errors_shown():
    require("transactions", feature="customer value")
    # Models are fitted once per dataset version and settings on every customer (unfiltered);
    # the sidebar filters only choose which customers' values are shown and summed.
    last = compute("clm_core.summary:as_of_default", unfiltered=True)
    cur = compute("clm_core.store:get_setting", key="currency", default="USD")
    money = money_shown(rep.NO_MONEY_DETAIL)
    c = st.columns(3)
    period = c[0].selectbox(
        t("Time unit (drives horizon and discounting)"), ["W", "D", "M"],
        format_func=lambda p: t(clv.PERIOD_UNITS[p]), key="clv_period",
    )  # fmt: skip
    model = c[1].selectbox(
        t("Purchase model"), ["auto", *clv.MODELS], format_func=lambda m: t(rep.model_choice(m)),
        key="clv_model",
    )  # fmt: skip
    as_of = c[2].date_input(t("As of"), value=last, max_value=last, key="clv_as_of")
    units, unit = t(clv.PERIOD_UNITS[period]), t(clv.PERIOD_UNIT[period])
    c = st.columns(4) if money else [st.container(), None, None, st.container()]
    # one widget per unit (keys end in the period): switching units keeps one year at 1%/week
    horizon = c[0].number_input(
        t("Horizon ({units})").format(units=units), 1, 3660, clv.DEFAULT_HORIZON[period],
        key=f"clv_horizon_{period}",
    )  # fmt: skip
    # Without amounts there is no value to discount or take a margin of.
    rate_pct = c[1].number_input(
        t("Discount rate per {unit} (%)").format(unit=unit), 0.0, 50.0,
        round(100 * clv.default_discount_rate(period), 4), format="%.4f", key=f"clv_rate_{period}",
    ) if money else 100 * clv.default_discount_rate(period)  # fmt: skip
    margin_pct = (
        c[2].slider(t("Profit margin (% of revenue)"), 1, 100, 100, key="clv_margin")
        if money
        else 100
    )
    penalizer = c[3].number_input(
        t("Penalizer (L2)"), 0.0, 10.0, 0.0, step=0.001, format="%.3f", key="clv_penalizer"
    )
    rate, margin, horizon = rate_pct / 100, margin_pct / 100, int(horizon)
    if money:
        st.caption(clv.requirements_text(period, rate, lang()))
    args = dict(period=period, as_of=as_of, horizon=horizon, discount_rate=rate, margin=margin)
    try:
        fitted = compute(
            "clm_core.clv:fit_clv",
            unfiltered=True,
            shared=True,
            model=model,
            penalizer=penalizer,
            **args,
        )
    except NotEnoughData as e:
        st.warning(clv.error_text(e, lang()))
        st.stop()
    res = clv.for_customers(fitted, filtered_customer_ids())
    cust = res.customers
    metrics = (
        rep.headline(res, currency=cur, lang=lang())
        if money
        else rep.headline_counts(res, lang=lang())
    )
    for col, (label, value) in zip(st.columns(len(metrics)), metrics, strict=True):
        col.metric(label, value)
    st.caption(clv.describe_fit(res, lang()))
    st.caption(t(clv.FITTED_ON_ALL).format(n=f"{res.n_customers:,}", k=f"{len(cust):,}"))
    for note in res.notes:
        st.info(note.text(lang()))

    names = ["Value", "Alive or gone", "LTV/CAC", "Validation", "Cohort fits", "Engine check",
             "Customer list"]  # fmt: skip
    shown = names if money else [n for n in names if n not in rep.MONEY_TABS]
    sources = rep.group_sources()
    # Lazy tabs: only the open tab runs and is sent to the browser.
    tabs = dict(
        zip(shown, st.tabs([t(n) for n in shown], key="clv_tab", on_change="rerun"), strict=True)
    )
    value, alive, ltv, valid, cohorts, engine, table = (tabs.get(n) for n in names)
    if value is not None and value.open:
        with value:
            log = st.toggle(t("Log scale"), value=True, key="clv_log")
            by = st.selectbox(
                t("Group by"), list(sources), format_func=lambda b: t(sources[b]), key="clv_by"
            )
            if by in ("segment", "tier"):
                groups = compute(
                    "clm_core.segments:customer_segments",
                    unfiltered=True,
                    as_of=as_of,
                    period=period,
                )
            else:
                groups = compute(
                    "clm_core.clv:customer_attributes", unfiltered=True, shared=True, as_of=as_of
                )
            _show(*rep.value_charts(cust, groups, by=by, currency=cur, log_scale=log, lang=lang()))
    if alive is not None and alive.open:
        with alive:
            stages = compute("clm_core.lifecycle:customer_stages", unfiltered=True, as_of=as_of)
            _show(*rep.alive_charts(cust, stages, horizon=horizon, period=period, lang=lang()))
    if ltv is not None and ltv.open:
        with ltv:
            attrs = compute(
                "clm_core.clv:customer_attributes", unfiltered=True, shared=True, as_of=as_of
            )
            st.caption(t(rep.CAC_HELP).format(currency=cur))
            costs = st.data_editor(
                clv.channel_costs(attrs)[["channel", "cac"]],
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
            curve = compute(
                "clm_core.clv:channel_margin_curve", as_of=as_of, period=period, margin=margin
            )
            lc_chart, lc_table = rep.ltv_cac_view(
                cust, attrs, curve, costs=costs, margin=margin, period=period, currency=cur,
                lang=lang(),
            )  # fmt: skip
            _show(lc_chart)
            st.caption(t(rep.LTV_NOTE).format(units=units))
            show_table(lc_table, hide_index=True)
    if valid is not None and valid.open:
        with valid:
            cal_end = st.date_input(
                t("Calibration ends on (the rest is the holdout)"), max_value=as_of, key="clv_cal_end",
                value=compute(
                    "clm_core.clv_validation:default_calibration_end", unfiltered=True, as_of=as_of
                ),
            )  # fmt: skip
            try:
                val = compute(
                    "clm_core.clv_validation:validate_models", unfiltered=True,
                    calibration_end=cal_end, as_of=as_of, period=period, penalizer=penalizer,
                )  # fmt: skip
            except NotEnoughData as e:
                st.warning(clv.error_text(e, lang()))
                val = None
            if val is not None:
                for note in val.notes:
                    st.caption(note.text(lang()))
                _show(*rep.validation_charts(val, period=period, lang=lang()))
                show_table(rep.comparison_table(val, period=period, lang=lang()), hide_index=True)
                st.write(rep.best_model_text(val, res, lang()))
                if val.best_model != res.model:
                    st.button(
                        t("Use {m}").format(m=clv.MODEL_LABELS[val.best_model]), key="clv_use_best",
                        on_click=_use_model, args=(val.best_model,),
                    )  # fmt: skip
    if cohorts is not None and cohorts.open:
        with cohorts:
            cohort_by = st.radio(
                t("One model per"), ["cohort", "channel"], format_func=lambda b: t(sources[b]),
                horizontal=True, key="clv_cohort_by",
            )  # fmt: skip
            if st.toggle(t("Fit per-cohort models"), key="clv_cohorts"):
                cc = compute(
                    "clm_core.clv:cohort_fits",
                    unfiltered=True,
                    by=cohort_by,
                    model=res.model,
                    **args,
                )
                cc_chart, cc_table = rep.cohort_charts(cc, period=period, currency=cur, lang=lang())
                _show(cc_chart)
                show_table(cc_table, hide_index=True)
    if engine is not None and engine.open:
        with engine:
            check = compute("clm_core.clv_validation:verify_cdnow", unfiltered=True)  # not our data
            passed, text, check_table = rep.engine_check(check, lang())
            (st.success if passed else st.error)(text)
            st.caption(t(rep.ENGINE_NOTE))
            show_table(check_table, hide_index=True)
    if table is not None and table.open:
        with table:
            top = cust.nsmallest(TABLE_ROWS, "clv_rank")  # the shown rows only: 1M is slow
            show_table(
                clv.display_customers(top if money else drop_money(top), period=period, horizon=horizon,
                                      currency=cur, lang=lang()),
                hide_index=True, total=len(cust),
            )  # fmt: skip
            download_buttons(
                cust if money else drop_money(cust), "customer-value", key="clv_download"
            )
