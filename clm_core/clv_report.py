"""What the "Customer value" page shows, built from clm_core results (no Streamlit here).

Each function takes results of :mod:`clm_core.clv` / :mod:`clm_core.clv_validation` and returns
ready-to-render pieces: :class:`Chart` (figure, widget key, one-line takeaway computed from the
data), headline numbers and display tables with translated headers and units. The page reads
its widgets, asks the cache for results, passes them here and renders what comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from clm_core import clv
from clm_core import clv_validation as cv
from clm_core.charts import clv as figs
from clm_core.formatting import fmt_money
from clm_core.i18n import translate

__all__ = [
    "CAC_HELP",
    "ENGINE_NOTE",
    "LTV_NOTE",
    "MONEY_TABS",
    "NO_MONEY_DETAIL",
    "PURPOSE",
    "Chart",
    "alive_charts",
    "best_model_text",
    "cohort_charts",
    "comparison_table",
    "engine_check",
    "group_sources",
    "headline",
    "headline_counts",
    "ltv_cac_view",
    "model_choice",
    "validation_charts",
    "value_charts",
]


# Fixed sentences of the page (English; the page translates them).
PURPOSE = (
    "What each customer is expected to be worth over the horizon, where that value sits, "
    "and how far to trust the model."
)
CAC_HELP = (
    "Acquisition cost per new customer ({currency}); defaults come from the customers "
    "table. Edit them to try other costs."
)
LTV_NOTE = (
    "LTV = margin on net revenue so far + expected future value over the horizon. "
    "Payback: {units} after the first purchase until the average customer's actual "
    "margin covers the CAC."
)
ENGINE_NOTE = (
    "BG/NBD and Pareto/NBD: Fader, Hardie & Lee (2005), 2,357 CDNow customers, 39 "
    "calibration weeks; Gamma-Gamma on its 946 repeat buyers. Refitted live by the "
    "engine this page uses."
)


def model_choice(name: str) -> str:
    """English label of a purchase-model choice (``auto`` or a model name)."""
    return "auto (lowest BIC)" if name == "auto" else clv.MODEL_LABELS[name]


@dataclass(frozen=True)
class Chart:
    key: str
    figure: go.Figure
    takeaway: str


def headline(res: clv.ClvResult, *, currency: str, lang: str = "en") -> list[tuple[str, str]]:
    """The four headline metrics (label with units, formatted value)."""
    s = clv.clv_summary(res.customers)
    span = {"h": res.horizon, "units": translate(clv.PERIOD_UNITS[res.period], lang)}
    return [
        (
            translate("Expected future value ({h} {units})", lang).format(**span),
            fmt_money(s["total"], currency, lang),
        ),
        (translate("Mean CLV per customer", lang), fmt_money(s["mean"], currency, lang)),
        (translate("Customers probably alive", lang), f"{s['likely_alive_share']:.0%}"),
        (
            translate("Expected purchases ({h} {units})", lang).format(**span),
            f"{s['expected_purchases']:,.0f}",
        ),
    ]


# Data without amounts: the page shows the purchase model only (no tab of money).
NO_MONEY_DETAIL = (
    "On this page: the chance each customer is still active and the purchases expected from them."
)
MONEY_TABS = ("Value", "LTV/CAC", "Cohort fits")


def headline_counts(res: clv.ClvResult, *, lang: str = "en") -> list[tuple[str, str]]:
    """The headline of data without amounts: customers, share probably alive, purchases."""
    s = clv.clv_summary(res.customers)
    span = {"h": res.horizon, "units": translate(clv.PERIOD_UNITS[res.period], lang)}
    return [
        (translate("Customers", lang), f"{len(res.customers):,}"),
        (translate("Customers probably alive", lang), f"{s['likely_alive_share']:.0%}"),
        (
            translate("Expected purchases ({h} {units})", lang).format(**span),
            f"{s['expected_purchases']:,.0f}",
        ),
    ]


def group_sources() -> dict[str, str]:
    """Groupings offered for CLV by group (value -> English label)."""
    return {"segment": "Segment", "tier": "Tier", "channel": "Acquisition channel",
            "cohort": "First-purchase quarter"}  # fmt: skip


def value_charts(
    customers: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    by: str,
    currency: str,
    log_scale: bool = True,
    lang: str = "en",
) -> list[Chart]:
    """CLV distribution, Lorenz curve with top-share bars, and CLV by ``by`` group."""
    conc = clv.value_concentration(customers)
    by_group = clv.value_by_group(customers, groups, by)
    return [
        Chart(
            "clv_hist",
            figs.clv_histogram(customers, currency=currency, log_scale=log_scale, lang=lang),
            clv.takeaway_distribution(customers, currency=currency, lang=lang),
        ),
        Chart(
            "clv_lorenz",
            figs.lorenz_figure(clv.lorenz_curve(customers), conc, lang=lang),
            clv.takeaway_concentration(conc, lang=lang),
        ),
        Chart(
            "clv_groups",
            figs.group_figure(by_group, by_label=group_sources()[by], lang=lang),
            clv.takeaway_groups(by_group, currency=currency, lang=lang),
        ),
    ]


def alive_charts(
    customers: pd.DataFrame,
    stages: pd.DataFrame | None,
    *,
    horizon: int,
    period: str,
    lang: str = "en",
) -> list[Chart]:
    """P(alive) and expected purchases by repeat purchases x silence; lifecycle stage x
    P(alive) when ``stages`` (customer_id, stage) is given."""
    units = translate(clv.PERIOD_UNITS[period], lang)
    out = [
        Chart(
            "clv_alive",
            figs.alive_matrix_figure(
                clv.alive_matrix(customers, value="p_alive"),
                title="P(alive) by repeat purchases and silence",
                value_label="P(alive)",
                period=period,
                percent=True,
                lang=lang,
            ),
            clv.takeaway_alive(customers, period=period, lang=lang),
        ),
        Chart(
            "clv_expected",
            figs.alive_matrix_figure(
                clv.alive_matrix(customers, value="expected_purchases"),
                title=translate("Expected purchases in the next {h} {units}", lang).format(
                    h=horizon, units=units
                ),
                value_label="Expected purchases",
                period=period,
                lang=lang,
            ),
            clv.takeaway_expected(customers, horizon=horizon, period=period, lang=lang),
        ),
    ]
    if stages is not None:
        from clm_core.lifecycle import STAGES

        sa = clv.stage_alive(customers, stages)
        out.append(
            Chart(
                "clv_stages",
                figs.stage_alive_figure(sa, stage_order=STAGES, lang=lang),
                clv.takeaway_stages(sa, lang=lang),
            )
        )
    return out


def ltv_cac_view(
    customers: pd.DataFrame,
    attributes: pd.DataFrame,
    curve: pd.DataFrame,
    *,
    costs: pd.DataFrame,
    margin: float,
    period: str,
    currency: str,
    lang: str = "en",
) -> tuple[Chart, pd.DataFrame]:
    """LTV/CAC by channel: the chart and the display table. ``costs`` has channel and cac (the
    page's editable table)."""
    given: Mapping[str, float] = {
        ch: float(v) for ch, v in zip(costs["channel"], costs["cac"], strict=True)
    }
    lc = clv.ltv_cac(customers, attributes, curve, margin=margin, costs=given)
    chart = Chart(
        "clv_ltv_cac",
        figs.ltv_cac_figure(lc, period=period, lang=lang),
        clv.takeaway_ltv_cac(lc, lang=lang),
    )
    return chart, clv.display_table(lc, period=period, currency=currency, lang=lang)


def validation_charts(val: cv.ValidationResult, *, period: str, lang: str = "en") -> list[Chart]:
    """Period transactions, calibration vs holdout, cumulative repeat transactions."""
    return [
        Chart(
            "clv_period_tx",
            figs.period_transactions_figure(val.period_transactions, period=period, lang=lang),
            cv.takeaway_period_transactions(val, lang=lang),
        ),
        Chart(
            "clv_cal_hold",
            figs.calibration_holdout_figure(
                val.calibration_vs_holdout, holdout=val.holdout_periods, period=period, lang=lang
            ),
            cv.takeaway_holdout(val, lang=lang),
        ),
        Chart(
            "clv_cumulative",
            figs.cumulative_figure(val.cumulative, calibration_end=val.calibration_end, lang=lang),
            cv.takeaway_cumulative(val, lang=lang),
        ),
    ]


def comparison_table(val: cv.ValidationResult, *, period: str, lang: str = "en") -> pd.DataFrame:
    """The model comparison (log-likelihood, AIC/BIC, holdout error) for display."""
    return clv.display_table(val.comparison.drop(columns=["model"]), period=period, lang=lang)


def best_model_text(val: cv.ValidationResult, res: clv.ClvResult, lang: str = "en") -> str:
    return translate(
        "Best on the holdout: {m} (lowest mean absolute error). In use: {c}.", lang
    ).format(m=clv.MODEL_LABELS[val.best_model], c=res.model_label)


def cohort_charts(
    cc: clv.CohortComparison, *, period: str, currency: str, lang: str = "en"
) -> tuple[Chart, pd.DataFrame]:
    """Per-cohort fits against the pooled fit: chart and display table."""
    chart = Chart(
        "clv_cohort_fig",
        figs.cohort_figure(cc.table, currency=currency, lang=lang),
        clv.takeaway_cohorts(cc, lang=lang),
    )
    return chart, clv.display_table(cc.table, period=period, currency=currency, lang=lang)


def engine_check(check: pd.DataFrame, lang: str = "en") -> tuple[bool, str, pd.DataFrame]:
    """The CDNow reproduction (:func:`clm_core.clv_validation.verify_cdnow`): passed, the
    sentence saying so and the display table."""
    passed = bool(check["passed"].all())
    return passed, cv.takeaway_cdnow(check, lang=lang), clv.display_table(check, lang=lang)
