"""Overview: KPI cards against the previous period, monthly trend, lifecycle snapshot, alerts."""

import datetime as dt

import streamlit as st

from clm_core.charts.lifecycle import stage_bar_figure
from clm_core.charts.overview import trend_figure
from clm_core.formatting import fmt_count, fmt_money, fmt_share
from clm_core.lifecycle import takeaway_stages, timeline_summary
from clm_core.overview import (
    kpi_alerts,
    period_sentence,
    rank_alerts,
    silent_alert,
    stage_alert,
    trend_takeaway,
)
from ui.cache import compute, silent_valuable, stages, value_cards
from ui.common import chart, errors_shown, escape_md, lang, money_shown, require, t
from ui.nav import page_file

SEVERITY = {3: st.error, 2: st.warning, 1: st.info}


# The value cards' model: BG/NBD + Gamma-Gamma (the quickest: this is the landing page) with
# the Customer value page's other defaults, fitted on every customer as on that page and
# averaged over the filtered customers.
VALUE_MODEL = {"model": "bgnbd", "penalizer": 0.0, "period": "W", "horizon": 52,
               "discount_rate": 0.01, "margin": 1.0}  # fmt: skip


st.title(t("Overview"))
st.caption(t("Where your customers are and what changed since the previous period."))

with errors_shown():
    require("transactions", feature="the overview")
    last = compute("clm_core.summary:as_of_default")
    currency = compute("clm_core.store:get_setting", key="currency", default="USD")
    money = money_shown("The Overview counts every line as a purchase.")
    c1, c2 = st.columns(2)
    as_of = c1.date_input(t("As of"), value=last, max_value=last, key="overview_as_of")
    days = c2.selectbox(t("Period length (days)"), [7, 30, 90, 365], index=1, key="overview_days")
    churn_days = compute("clm_core.overview:default_churn_days", unfiltered=True)
    kpis = compute("clm_core.overview:kpis", as_of=as_of, days=days, churn_days=churn_days)

    def show(k):
        if k.unit == "money":
            return fmt_money(k.current, currency, lang())
        if k.unit == "share":
            return fmt_share(k.current, lang())
        return fmt_count(k.current, lang())

    cols = [c for _ in range(2) for c in st.columns(5)]
    for col, k in zip(cols, kpis, strict=False):
        delta = f"{k.change * 100:+.1f}% {t('vs previous')}" if k.change is not None else None
        inverse = k.name in ("Churned customers", "Churn rate")
        col.metric(t(k.name), show(k), delta, delta_color="inverse" if inverse else "normal")
    # Value in money (a CLV fit with Gamma-Gamma on spend): not for data without amounts.
    value = value_cards(as_of=as_of, **VALUE_MODEL) if money else {}
    # the model as fitted a period ago
    before = value_cards(as_of=as_of - dt.timedelta(days=days), **VALUE_MODEL) if money else {}

    def value_change(key):
        now, then = value[key], before[key]
        if now is None or not then:
            return None
        return f"{(now - then) / abs(then) * 100:+.1f}% {t('vs previous')}"

    if money:
        avg_clv, ratio = value["avg_clv"], value["ltv_cac"]
        cols[7].metric(
            t("Average CLV"),
            fmt_money(avg_clv, currency, lang()) if avg_clv is not None else "—",
            value_change("avg_clv"),
            help=t(
                "Predicted value of the next 52 weeks (BG/NBD + Gamma-Gamma; see Customer value)."
            ),
        )
        cols[8].metric(
            t("LTV/CAC"),
            f"{ratio:.1f} : 1" if ratio is not None else "—",
            value_change("ltv_cac"),
            help=t(
                "Revenue so far plus predicted CLV, over acquisition cost (customers with a cost)."
            ),
        )
    with cols[9]:  # where each card is explained
        for path, title in (
            ("pages/clv.py", "Customer value"),
            ("pages/churn.py", "Churn risk"),
            ("pages/funnels.py", "Funnels & cohorts"),
        ):
            st.page_link(path, label=t(title), icon="➡️")
    st.caption(
        t(
            "Churn window: a customer counts as churned after {days} silent days "
            "(90% of repeat purchases come sooner)."
        ).format(days=churn_days)
    )

    st.subheader(t("Top alerts"))
    # The Lifecycle page's stages with its default rules (derived once per dataset), the same
    # rules at both dates, from one purchase history (ui.cache.stages); per customer, so a
    # customer filter reuses the unfiltered stages.
    rules = compute("clm_core.lifecycle:derive_thresholds", unfiltered=True).as_dict()
    before = as_of - dt.timedelta(days=days)
    both = stages("at_dates", dates=(before, as_of), **rules)
    snapshot, snap_before = (timeline_summary(both, d) for d in (as_of, before))
    alerts = compute(
        "clm_core.overview:top_alerts", as_of=as_of, days=days, churn_days=churn_days,
        currency=currency, lang=lang(), with_stages=False, with_kpis=False, with_silent=False,
    )  # fmt: skip
    # Valuable customers going quiet: valuable means revenue, none without amounts.
    quiet = (
        silent_alert(silent_valuable(as_of=as_of, churn_days=churn_days), currency, lang())
        if money
        else None
    )
    alerts = rank_alerts([*kpi_alerts(kpis, days, lang()), *alerts, quiet,
                          stage_alert(snapshot, snap_before, days, lang())])  # fmt: skip
    if not alerts:
        st.success(t("No alerts: nothing changed for the worse in this period."))
    for a in alerts:
        path, title = page_file(a.page)
        left, right = st.columns([4, 1], vertical_alignment="center")
        with left:
            SEVERITY[a.severity](escape_md(a.text))
        right.page_link(path, label=t("Open page") + ": " + t(title), icon="➡️")

    trend = compute("clm_core.overview:monthly_trend", as_of=as_of)
    st.write(period_sentence(kpis, days, currency, lang()))
    chart(
        trend_figure(trend, lang=lang(), money=money),
        key="overview_trend",
        takeaway=trend_takeaway(trend, currency, lang()),
    )

    st.subheader(t("Lifecycle snapshot"))
    chart(
        stage_bar_figure(snapshot, lang=lang(), hide=("Prospect",)),
        key="overview_stages",
        takeaway=takeaway_stages(snapshot, lang()),
    )
    st.page_link("pages/lifecycle.py", label=t("Open page") + ": " + t("Lifecycle"), icon="➡️")
