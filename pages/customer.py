"""Customer 360: find a customer, see their record, value, risk and whole history on one timeline."""

import streamlit as st

from clm_core.amounts import drop_money
from clm_core.charts.customer import p_alive_figure, timeline_figure
from clm_core.customer360 import (
    KINDS,
    localise_columns,
    p_alive_takeaway,
    record_frame,
    row_for,
    timeline_takeaway,
)
from clm_core.errors import ClmError
from clm_core.formatting import fmt_count, fmt_money, fmt_share
from clm_core.privacy import mask_frame, mask_value
from ui.cache import compute, cursor
from ui.common import (
    MISSING,
    chart,
    download_buttons,
    errors_shown,
    escape_md,
    lang,
    money_shown,
    presenter,
    require,
    t,
)

st.title(t("Customer 360"))
st.caption(
    t("Find a customer by id, name, e-mail or phone and see everything about them in one place.")
)
st.caption(t("This page shows the customer's full history: the sidebar filters do not apply."))


def optional(target: str, **kwargs):
    """Another area's per-customer result, or (None, reason) while it is not available."""
    try:
        return compute(target, unfiltered=True, **kwargs), None
    except (ImportError, AttributeError):
        return None, t("not available yet")
    except ClmError as e:
        return None, t(str(e))


def table(df) -> None:
    """Data as text (never HTML), PII masked in presenter mode, headers translated."""
    shown = localise_columns(mask_frame(df) if presenter() else df, L)
    st.dataframe(shown, hide_index=True, placeholder=MISSING)


with errors_shown():
    require("transactions", feature="Customer 360")
    L = lang()
    currency = compute("clm_core.store:get_setting", unfiltered=True, key="currency", default="USD")
    money = money_shown()
    st.session_state.setdefault("customer_query", st.query_params.get("customer", ""))
    query = st.text_input(
        t("Search"), key="customer_query", placeholder=t("Customer id, name, e-mail or phone")
    )
    if not query.strip():
        st.info(t("Type part of a customer id, name, e-mail or phone number to start."))
        st.stop()
    hits = compute("clm_core.customer360:find_customers", unfiltered=True, query=query, limit=50)
    if hits.empty:
        st.warning(t("No customer matches this search."))
        st.stop()

    def label(i: int) -> str:
        row = hits.iloc[i]
        name = mask_value("name", row["name"]) if presenter() else row["name"]
        return " · ".join(str(v) for v in (row["customer_id"], name, row["region"]) if v)

    st.caption(t("{n} matching customers (at most 50 shown).").format(n=len(hits)))
    pick = st.selectbox(t("Customer"), range(len(hits)), format_func=label, key="customer_pick")
    cid = hits.iloc[pick]["customer_id"]
    profile = compute("clm_core.customer360:customer_profile", unfiltered=True, customer_id=cid)
    s = profile.summary

    st.subheader(t("Summary"))
    cols = st.columns(6)
    if s is None:
        st.info(t("This customer has signed up but never bought (a prospect)."))
    else:
        figures = [(t("Orders"), fmt_count(s["orders"], L))]
        if money:
            figures += [(t("Net revenue"), fmt_money(s["revenue"], currency, L)),
                        (t("Average order value"),
                         fmt_money(s["avg_order_value"] or 0, currency, L))]  # fmt: skip
        figures += [(t("Days since last purchase"), fmt_count(s["days_since_last"], L)),
                    (t("Customer for (days)"), fmt_count(s["tenure_days"], L))]  # fmt: skip
        if money:  # a return is a negative amount: a log without amounts has none to count
            figures.append((t("Returns"), fmt_count(s["returns"], L)))
        for col, (label, value) in zip(cols, figures, strict=False):
            col.metric(label, value)
    if profile.record:  # one record as a field/value card; st.table reads markdown: escape it
        record = mask_frame(record_frame(profile)) if presenter() else record_frame(profile)
        record = localise_columns(record, L).T.set_axis([t("Customer record")], axis=1)
        st.table(record.astype(str).map(escape_md))

    st.subheader(t("Value and risk"))
    seg, seg_note = optional("clm_core.segments:customer_segments")
    stage, stage_note = optional("clm_core.lifecycle:customer_stages")
    clv, clv_note = optional("clm_core.clv:fit_clv")
    clv_row = row_for(clv.customers, cid) if clv is not None else None
    seg_row, stage_row = row_for(seg, cid), row_for(stage, cid)
    cards = st.columns(5)
    cards[0].metric(t("Segment"), t(seg_row["segment"]) if seg_row else "–")
    if money:  # a value tier ranks revenue
        cards[1].metric(t("Tier"), t(seg_row["tier"]) if seg_row else "–")
    cards[2].metric(t("Lifecycle stage"), t(stage_row["stage"]) if stage_row else "–")
    if clv_row and clv_row.get("p_alive") is not None:
        cards[3].metric(t("P(alive)"), fmt_share(clv_row["p_alive"], L))
    if money and clv_row and clv_row.get("clv") is not None:
        cards[4].metric(t("Predicted CLV"), fmt_money(clv_row["clv"], currency, L))
    notes = [
        (n, x)
        for n, x in (("Segments", seg_note), ("Lifecycle", stage_note), ("CLV", clv_note))
        if x and (money or n != "CLV")  # no CLV in money without amounts: said above
    ]
    if notes:
        st.caption(" · ".join(f"{t(n)}: {x}" for n, x in notes))

    try:
        from clm_core import churn

        trained = churn.is_trained(cursor())  # not cached: becomes True once the model is trained
    except (ImportError, AttributeError, ClmError):
        churn, trained = None, False
    if churn is not None and st.toggle(
        t("Churn risk (trains the churn model the first time)"), value=trained, key="customer_churn"
    ):
        wl, wl_note = optional("clm_core.churn:watchlist", lang=L)
        risk = row_for(wl, cid)
        if risk:
            c1, c2 = st.columns([1, 3])
            c1.metric(t("Churn risk"), fmt_share(risk["churn_probability"], L))
            c2.caption(t("Why"))
            reasons = [r for r in (risk["reasons"] or "").split("; ") if r]
            for reason in reasons:
                c2.text(f"• {reason}")
            if not reasons:
                c2.text(t("Nothing raises this customer's risk above the usual level."))
        else:
            st.caption(
                wl_note or t("Not scored: churn risk is computed for active customers only.")
            )

    if s is not None:
        if clv is not None:  # the CLV page's model, so both pages show the same P(alive)
            model, params, p_note = clv.model, tuple(clv.params.items()), None
        else:
            model = "bgnbd"
            params, p_note = optional("clm_core.customer360:bgnbd_params")
        if params is not None:
            hist = compute(
                "clm_core.customer360:p_alive_history",
                unfiltered=True,
                customer_id=cid,
                params=params,
                model=model,
            )
            chart(
                p_alive_figure(hist, lang=L),
                key="customer_palive",
                takeaway=p_alive_takeaway(hist, lang=L),
            )
        else:
            st.caption(f"{t('P(alive) history')}: {p_note}")

    st.subheader(t("Timeline"))
    timeline = compute("clm_core.customer360:customer_timeline", unfiltered=True, customer_id=cid)
    present = [k for k in KINDS if (timeline["kind"] == k).any()]
    present += sorted(set(timeline["kind"]) - set(KINDS))
    kinds = st.multiselect(
        t("Show"),
        present,
        default=present,
        format_func=lambda k: t(k.capitalize()),
        key="customer_kinds",
        placeholder=t("Choose options"),
    )
    shown = timeline[timeline["kind"].isin(kinds)].reset_index(drop=True)
    if not money:  # the amount column holds stored zeros
        shown = drop_money(shown)
    chart(
        timeline_figure(shown, lang=L, currency=currency, money=money),
        key="customer_timeline",
        takeaway=timeline_takeaway(profile, timeline, currency=currency, lang=L, money=money),
    )
    table(shown)
    download_buttons(shown, f"customer-{cid}-timeline", "customer_timeline_dl")
