"""Campaigns: A/B test result, after-effects on retention and value, intervention planner,
channel efficacy and the size of the next test."""

import contextlib

import streamlit as st

from clm_core import experiments as ex
from clm_core import interventions as iv
from clm_core.charts import experiments as charts
from clm_core.errors import ClmError
from clm_core.formatting import fmt_money
from ui.cache import compute, tables
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


@contextlib.contextmanager
def section():
    """A ClmError in one tab is shown there and does not stop the rest of the page."""
    try:
        yield
    except ClmError as e:
        st.warning(t(str(e)))


def result_tab():
    a, b = st.columns(2)
    with a:
        chart(charts.conversion_figure(res.variants, lang=L), key="campaigns_conversion",
              takeaway=ex.conversion_takeaway(res, L))  # fmt: skip
        if res.revenue_source == "none":  # no revenue: say so rather than draw zeros
            st.info(ex.revenue_takeaway(res, currency, L))
        else:
            chart(charts.revenue_figure(res.variants, lang=L), key="campaigns_revenue",
                  takeaway=ex.revenue_takeaway(res, currency, L))  # fmt: skip
    with b:
        chart(charts.uplift_figure(res.comparisons, lang=L), key="campaigns_uplift",
              takeaway=" ".join(ex.verdicts(res, L)))  # fmt: skip
        chart(charts.srm_figure(res.variants, res.srm_expected, lang=L), key="campaigns_srm",
              takeaway=ex.srm_takeaway(res, L))  # fmt: skip
    show_table(ex.labelled(res.variants, ex.VARIANT_COLUMNS, L), hide_index=True)
    show_table(ex.labelled(res.comparisons, ex.COMPARISON_COLUMNS, L), hide_index=True)
    download_buttons(res.comparisons, f"ab-{campaign}", key="campaigns_ab")


def after_tab():
    if "transactions" not in tables():
        st.info(t("Upload a transactions file to see retention and value after the campaign."))
        return
    curves = compute("clm_core.experiments:retention_curves", campaign=campaign, control=control)
    cols = st.columns(2)
    for col, kind in zip(cols, ("conversion", "variant"), strict=True):
        with col:
            chart(charts.retention_figure(curves, kind, lang=L), key=f"campaigns_retention_{kind}",
                  takeaway=ex.retention_takeaway(curves, kind, L))  # fmt: skip
    effect = compute("clm_core.experiments:value_effect", campaign=campaign, control=control)
    (st.caption if effect.source == "clv" else st.warning)(effect.note_text(L))
    cols = st.columns(2)
    for col, metric in zip(cols, effect.table["metric"].unique(), strict=False):
        with col:
            chart(charts.value_figure(effect.table, metric, lang=L),
                  key=f"campaigns_value_{metric}",
                  takeaway=ex.value_takeaway(effect, metric, currency, L))  # fmt: skip


def planner_tab():
    if not with_money:
        st.info(t("The planner weighs the value each action saves against its cost, and this "
                  "dataset has no amounts."))  # fmt: skip
        return
    names = {"auto": "Churn watchlist (model)", "fallback": "Quick estimate (recency)"}
    source = st.radio(t("Churn risk and value from"), list(names), horizontal=True,
                      format_func=lambda s: t(names[s]), key="campaigns_risk_source")  # fmt: skip
    with st.spinner(t("Scoring churn risk...")):
        targets = compute("clm_core.interventions:watchlist_targets", source=source)
    (st.caption if targets.source == "watchlist" else st.warning)(targets.note_text(L))
    st.caption(t("Success rate = share of would-be churners an action keeps; defaults come from "
                 "past campaigns' measured uplift where one tested the action. Edit freely."))  # fmt: skip
    number = st.column_config.NumberColumn
    options = st.data_editor(
        compute("clm_core.interventions:intervention_options", lang=L),
        key="campaigns_options", num_rows="dynamic", hide_index=True, disabled=["source"],
        column_config={
            "intervention": st.column_config.TextColumn(t("Intervention")),
            "success_rate": number(t("Success rate"), min_value=0.0, max_value=1.0, format="%.3f"),
            "cost": number(t("Cost per customer"), min_value=0.01),
            "source": st.column_config.TextColumn(t("Source")),
        },
    )  # fmt: skip
    a, b = st.columns(2)
    min_roi = a.number_input(t("Minimum ROI (%)"), 0, 10_000, 200, 50, key="campaigns_min_roi")
    unlimited = iv.plan_interventions(targets.customers, options, min_roi=min_roi / 100)
    budget = b.number_input(t("Budget"), 0.0, None, iv.suggested_budget(unlimited), 100.0,
                            key="campaigns_budget")  # fmt: skip
    plan = iv.plan_interventions(targets.customers, options, budget=budget, min_roi=min_roi / 100)
    m = st.columns(4)
    m[0].metric(t("Customers targeted"), f"{len(plan.assignments):,}")
    m[1].metric(t("Spend"), money(plan.spent))
    m[2].metric(t("Expected saved value"), money(plan.saved))
    m[3].metric(t("Expected return (ROI)"), f"{plan.roi * 100:,.0f}%" if plan.spent else "–")
    if plan.by_intervention.empty:
        st.info(iv.plan_takeaway(plan, currency, L))
    else:
        chart(charts.plan_figure(plan.by_intervention, lang=L), key="campaigns_plan",
              takeaway=iv.plan_takeaway(plan, currency, L))  # fmt: skip
    show_table(ex.labelled(plan.assignments.head(500), ex.PLAN_COLUMNS, L), hide_index=True)
    download_buttons(plan.assignments, f"targets-{campaign}", key="campaigns_targets")


def channels_tab():
    names = {"campaign": "This campaign", "all": "All campaigns"}
    scope = st.radio(t("Channels of"), list(names), horizontal=True,
                     format_func=lambda s: t(names[s]), key="campaigns_channel_scope")  # fmt: skip
    table = compute("clm_core.experiments:channel_efficacy",
                    campaign=campaign if scope == "campaign" else None)  # fmt: skip
    chart(charts.channel_figure(table, lang=L), key="campaigns_channels",
          takeaway=ex.channel_takeaway(table, currency, L))  # fmt: skip
    show_table(ex.labelled(table, ex.CHANNEL_COLUMNS, L), hide_index=True)


def next_test_tab():
    best = res.best_comparison
    a, b, c, d = st.columns(4)
    baseline = a.number_input(t("Baseline conversion (%)"), 0.1, 99.0,
                              round(max(float(best["control_rate"]), 0.001) * 100, 1), 0.5,
                              key="campaigns_baseline") / 100  # fmt: skip
    mde = b.number_input(t("Uplift to detect (pts)"), 0.1, 50.0,
                         round(max(abs(float(best["uplift_abs"])), 0.01) * 100, 1), 0.1,
                         key="campaigns_mde") / 100  # fmt: skip
    power = c.slider(t("Power (%)"), 50, 99, 80, key="campaigns_power") / 100
    arms = d.number_input(t("Treatments"), 1, 10, len(res.comparisons), key="campaigns_arms")
    size = ex.sample_size(baseline, mde, power=power, treatments=arms)
    curve = ex.sample_size_curve(baseline, power=power, treatments=arms)
    chart(charts.sample_size_figure(curve, mde, size.n_control, lang=L),
          key="campaigns_sample_size", takeaway=ex.sample_size_takeaway(size, L))  # fmt: skip
    n_now = int(res.variants["customers"].min())
    now = ex.minimum_detectable_effect(baseline, n_now, power=power, treatments=arms)
    st.caption(t("With {n} customers per group, as in this test, the smallest uplift you can "
                 "reliably detect is {mde} pts.").format(n=f"{n_now:,}", mde=f"{now * 100:.1f}"))  # fmt: skip


st.title(t("Campaigns"))
st.caption(t("Did the retention campaign work, and which interventions pay for themselves?"))

with errors_shown():
    require("campaigns", feature="campaign analysis")
    L = lang()
    currency = compute("clm_core.store:get_setting", key="currency", default="USD")
    money = lambda x: "—" if x != x else fmt_money(x, currency, L)  # noqa: E731 (NaN: none)
    with_money = money_shown("Conversions are counted from the purchases; revenue only from the "
                             "campaigns file.")  # fmt: skip
    names = compute("clm_core.experiments:campaign_names")
    if not names:  # e.g. a date range with no campaign in it
        st.info(t("No campaign in the data the filters keep. Widen the date range or clear "
                  "the filters."))  # fmt: skip
        st.stop()
    c1, c2, c3, c4 = st.columns(4)
    campaign = c1.selectbox(t("Campaign"), names, key="campaigns_campaign")
    variants = compute("clm_core.experiments:campaign_variants", campaign=campaign)
    control = c2.selectbox(t("Control variant"), variants, key="campaigns_control")
    margin = c3.slider(t("Profit margin (%)"), 5, 100, 40, 5, key="campaigns_margin") / 100
    split = ex.parse_split(c4.text_input(t("Intended split"), placeholder=":".join(["1"] * len(variants)),
                                         key="campaigns_split", help=t("Empty = equal split")),
                           variants)  # fmt: skip
    res = compute("clm_core.experiments:analyze_campaign", campaign=campaign, control=control,
                  margin=margin, split=split)  # fmt: skip
    top = res.best_comparison
    (st.success if top["significant"] and top["uplift_abs"] > 0 else st.info)(ex.verdict(res, L))
    m = st.columns(5)
    m[0].metric(t("Customers in test"), f"{int(res.variants['customers'].sum()):,}")
    m[1].metric(t("Control conversion"), f"{top['control_rate'] * 100:.1f}%")
    m[2].metric(t("{variant} conversion").format(variant=ex.display_variant(res.best)),
                f"{top['rate'] * 100:.1f}%", f"{top['uplift_abs'] * 100:+.1f} {t('pts')}")  # fmt: skip
    m[3].metric(t("Incremental revenue"), money(top["incremental_revenue"]))
    m[4].metric(t("ROI"), "–" if top["roi"] != top["roi"] else f"{top['roi'] * 100:,.0f}%")
    if res.excluded_customers:
        st.caption(t("{n} customers were in more than one variant and are excluded.")
                   .format(n=res.excluded_customers))  # fmt: skip
    # Lazy tabs: only the open tab runs, so the churn model is fitted only for the planner.
    labels = ("Test result", "After the campaign", "Intervention planner", "Channels", "Next test")
    tabs = st.tabs([t(x) for x in labels], key="campaigns_tab", on_change="rerun")
    for tab, body in zip(
        tabs, (result_tab, after_tab, planner_tab, channels_tab, next_test_tab), strict=True
    ):
        with tab, section():
            if tab.open:
                body()
