"""Segments: RFM segments, value tiers, clusters, price sensitivity, migration, rules."""

import datetime as dt
import re

import streamlit as st

from clm_core import segments as seg
from clm_core import store
from clm_core.amounts import MONEY_COLUMNS, drop_money
from clm_core.charts import segments as charts
from clm_core.segments import (
    DEFAULT_SEGMENT_RULES,
    EXTRA_FEATURES,
    RULE_KEYS,
    SEGMENT_RULES_SETTING,
    normalise_rules,
    rules_frame,
    rules_key,
    uncovered_cells,
)
from ui.cache import compute, current_dataset, scored_customers
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

st.title(t("Segments"))
st.caption(t("Who your customers are, which groups matter, and how customers move between them."))

with errors_shown():
    require("transactions", feature="segments")
    last = compute("clm_core.summary:as_of_default")
    currency = compute("clm_core.store:get_setting", key="currency", default="USD")
    money = money_shown("Segments use the R and F scores only; value tiers need amounts.")
    as_of = st.date_input(t("As of"), value=last, max_value=last, key="segments_as_of")
    rules = rules_key(compute("clm_core.segments:stored_rules"))
    L = lang()
    # Lazy tabs: only the open tab runs and is sent to the browser.
    tabs = st.tabs([t(n) for n in ("RFM segments", "Value tiers", "Clusters", "Price sensitivity",
                                   "Migration", "Segment rules")],
                   key="segments_tab", on_change="rerun")  # fmt: skip

    with tabs[0]:
        if tabs[0].open:
            # Scored once per filter, date and rules; the tables below are cheap pandas over it.
            scores = scored_customers(as_of=as_of, rules=rules)
            profile = seg.segment_profile_of(scores, rules)
            chart(charts.segment_share_figure(profile, lang=L, money=money), key="segments_share",
                  takeaway=charts.segment_share_takeaway(profile, lang=L, money=money))  # fmt: skip
            matrix = seg.rf_matrix_of(scores)
            chart(charts.rf_heatmap_figure(matrix, lang=L, currency=currency, money=money),
                  key="segments_rf",
                  takeaway=charts.rf_heatmap_takeaway(matrix, lang=L, currency=currency,
                                                      money=money))  # fmt: skip
            st.subheader(t("Segment profiles"))
            show_table(charts.profile_table(profile, lang=L, money=money), hide_index=True)
            st.subheader(t("Customers of a segment"))
            chosen = st.selectbox(t("Segment"), profile["segment"].tolist(), format_func=t,
                                  key="segments_drill")  # fmt: skip
            members = seg.members_of(scores, chosen)
            order = t("{n} customers, highest revenue first.") if money else t(
                "{n} customers, most orders first.")  # fmt: skip
            st.caption(order.format(n=f"{len(members):,}"))
            show_table(charts.profile_table(members.head(TABLE_ROWS), lang=L, money=money),
                       hide_index=True, total=len(members))  # fmt: skip
            slug = re.sub(r"[^a-z0-9]+", "-", chosen.lower()).strip("-") or "customers"
            download_buttons(members if money else drop_money(members), f"segment-{slug}",
                             "segments_drill")  # fmt: skip

    with tabs[1]:
        if tabs[1].open and not money:
            st.info(t("Value tiers rank customers by revenue, and this dataset has no amounts."))
        elif tabs[1].open:
            c1, c2, c3 = st.columns(3)
            top = c1.number_input(t("Diamond: top %"), 1, 98, 5, key="segments_tier_diamond")
            gold = c2.number_input(t("Gold: top %"), 2, 99, 20, key="segments_tier_gold")
            silver = c3.number_input(t("Silver: top %"), 3, 100, 50, key="segments_tier_silver")
            cutoffs = (top / 100, gold / 100, silver / 100)
            scores = scored_customers(as_of=as_of, rules=rules)
            tiers = seg.tier_profile_of(scores, cutoffs)
            chart(charts.tier_share_figure(tiers, lang=L), key="segments_tiers",
                  takeaway=charts.tier_takeaway(tiers, lang=L))  # fmt: skip
            show_table(charts.profile_table(tiers, lang=L), hide_index=True)

    with tabs[2]:
        if tabs[2].open:
            c1, c2, c3 = st.columns([1, 1, 2])
            auto = c1.toggle(t("Choose k by silhouette"), value=True, key="segments_k_auto")
            k = c2.slider(t("Number of clusters (k)"), 2, 8, 4, key="segments_k", disabled=auto)
            options = [f for f in EXTRA_FEATURES if f != "discount_share"
                       and (money or f not in MONEY_COLUMNS)]  # fmt: skip
            if compute("clm_core.segments:discount_available"):
                options.append("discount_share")
            extra = c3.multiselect(
                t("Extra features"),
                options,
                format_func=t,
                key="segments_extra",
                placeholder=t("Choose options"),
            )
            result = compute("clm_core.segments:customer_clusters", as_of=as_of,
                             k=None if auto else k, extra=tuple(extra))  # fmt: skip
            chart(charts.silhouette_figure(result.silhouette, result.k, lang=L), key="segments_sil",
                  takeaway=charts.silhouette_takeaway(result.silhouette, result.k, result.best_k,
                                                      lang=L))  # fmt: skip
            chart(charts.cluster_scatter_figure(result.customers, lang=L, money=money),
                  key="segments_clusters",
                  takeaway=charts.cluster_takeaway(result.profile, lang=L, money=money))  # fmt: skip
            show_table(charts.profile_table(result.profile, lang=L, money=money), hide_index=True)

    with tabs[3]:
        if tabs[3].open:
            if not money:
                st.info(t("Price sensitivity compares order values with and without a discount, "
                          "and this dataset has no amounts."))  # fmt: skip
            elif compute("clm_core.segments:discount_available"):
                ps = compute("clm_core.segments:price_sensitivity", as_of=as_of, rules=rules)
                chart(charts.price_sensitivity_figure(ps, lang=L), key="segments_price",
                      takeaway=charts.price_sensitivity_takeaway(ps, lang=L))  # fmt: skip
                show_table(charts.profile_table(ps, lang=L), hide_index=True)
            else:
                st.info(
                    t("This dataset has no discounts, so price sensitivity cannot be measured.")
                )

    with tabs[4]:
        if tabs[4].open:
            first = compute("clm_core.segments:first_purchase_date")
            if first >= as_of:
                st.info(t("Migration needs purchases on at least two dates."))
            else:
                default = max(first, as_of - dt.timedelta(days=180))
                start = st.date_input(t("Compare with"), value=default, min_value=first,
                                      max_value=as_of - dt.timedelta(days=1), key="segments_start")  # fmt: skip
                flows = compute("clm_core.segments:segment_migration", start=start, end=as_of,
                                rules=rules)  # fmt: skip
                chart(charts.migration_sankey_figure(flows, start=start, end=as_of, lang=L),
                      key="segments_migration", takeaway=charts.migration_takeaway(flows, lang=L))  # fmt: skip

    with tabs[5]:
        if tabs[5].open:
            st.caption(t("Each row gives R, F and M score ranges (1-5, 5 = best). The first matching "
                         "row names the customer; customers matching no row are 'Other'."))  # fmt: skip
            labels = dict(zip(RULE_KEYS, ("Segment", "R from", "R to", "F from", "F to", "M from",
                                          "M to"), strict=True))  # fmt: skip
            config = {k: st.column_config.NumberColumn(t(labels[k]), min_value=1, max_value=5, step=1)
                      for k in RULE_KEYS[1:]}  # fmt: skip
            config["segment"] = st.column_config.TextColumn(t("Segment"), required=True)
            edited = st.data_editor(rules_frame(rules), num_rows="dynamic", hide_index=True,
                                    height=36 * (len(rules) + 2), key="segments_rules_editor",
                                    column_config=config)  # fmt: skip
            if not money:
                st.caption(t("This dataset has no amounts: there is no M score, and a rule that "
                             "needs an M range (not 1 to 5) names no one."))  # fmt: skip
            missing = uncovered_cells(rules, monetary=money)
            if missing:
                st.warning(t("{n} score combinations match no rule (shown as Other), e.g. {cells}.")
                           .format(n=len(missing), cells=", ".join(missing[:5])))  # fmt: skip
            c1, c2 = st.columns(2)
            path = current_dataset().path
            if c1.button(t("Save rules"), key="segments_save_rules", type="primary"):
                store.save_setting(
                    path, SEGMENT_RULES_SETTING, normalise_rules(edited.to_dict("records"))
                )
                del st.session_state["segments_rules_editor"]  # the saved rules are the new base
                st.rerun()
            if c2.button(t("Restore default rules"), key="segments_reset_rules"):
                store.save_setting(path, SEGMENT_RULES_SETTING, DEFAULT_SEGMENT_RULES)
                del st.session_state["segments_rules_editor"]
                st.rerun()
