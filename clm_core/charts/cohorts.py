"""Cohort figures: retention heatmap, per-cohort curves with their average, LTV by channel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from clm_core.charts import PALETTE, style
from clm_core.i18n import translate

__all__ = ["METRICS", "channel_ltv_figure", "cohort_curves_figure", "cohort_heatmap_figure"]

# metric column -> (label, is a share)
METRICS = {
    "retention": ("Customer retention", True),
    "revenue_retention": ("Revenue retention", True),
    "cumulative_revenue_per_customer": ("Cumulative revenue per customer", False),
}


def _cohort_label(d: pd.Timestamp, freq: str) -> str:
    return d.strftime("%Y-%m" if freq == "M" else "%Y-%m-%d")


def cohort_heatmap_figure(
    table: pd.DataFrame,
    *,
    metric: str = "retention",
    calendar: bool = False,
    freq: str = "M",
    lang: str = "en",
) -> go.Figure:
    """Cohorts (rows, oldest first) by period since first purchase or calendar period."""
    tr = lambda s: translate(s, lang)  # noqa: E731
    label, is_share = METRICS[metric]
    x = "calendar_period" if calendar else "period"
    grid = table.pivot(index="cohort", columns=x, values=metric).sort_index()
    z = grid.to_numpy(dtype=float)
    fmt = (lambda v: f"{v:.0%}") if is_share else (lambda v: f"{v:,.0f}")
    text = [["" if np.isnan(v) else fmt(v) for v in row] for row in z]
    cols = [_cohort_label(c, freq) for c in grid.columns] if calendar else list(grid.columns)
    # Period 0 is 100% by construction: scale the colours on the later periods.
    later = table.loc[table["period"] > 0, metric] if is_share else table[metric]
    finite = later[np.isfinite(later)].to_numpy()
    zmax = float(np.percentile(finite, 98)) if finite.size else None
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(c) for c in cols],
            y=[_cohort_label(c, freq) for c in grid.index],
            colorscale="Blues",
            zmin=0,
            zmax=zmax,
            text=text,
            texttemplate="%{text}" if z.shape[1] <= 40 else None,
            textfont={"size": 9},
            hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
            colorbar={"tickformat": ".0%" if is_share else ",.0f"},
            xgap=1,
            ygap=1,
        )
    )
    fig.update_yaxes(
        autorange="reversed", title_text=tr("Cohort (first purchase)"), type="category"
    )
    fig.update_xaxes(
        title_text=tr("Calendar period") if calendar else tr("Periods since first purchase"),
        type="category",
    )
    height = max(380, 18 * len(grid) + 140)
    return style(fig, tr(label) + " " + tr("by cohort"), lang=lang, height=min(height, 1100))


def cohort_curves_figure(
    table: pd.DataFrame,
    curves: pd.DataFrame,
    *,
    metric: str = "retention",
    freq: str = "M",
    lang: str = "en",
    min_cohorts: int = 3,
) -> go.Figure:
    """One thin line per cohort and the size-weighted average in bold.

    The average is drawn only where at least ``min_cohorts`` cohorts are old enough: the last
    periods rest on one or two small cohorts and would only add noise.
    """
    tr = lambda s: translate(s, lang)  # noqa: E731
    label, is_share = METRICS[metric]
    curves = curves[curves["cohorts"] >= min_cohorts]
    fig = go.Figure()
    for cohort, part in table.groupby("cohort", sort=True):
        fig.add_scatter(
            x=part["period"],
            y=part[metric],
            mode="lines",
            line={"width": 1, "color": "rgba(100,116,139,0.25)"},
            name=_cohort_label(cohort, freq),
            showlegend=False,
            hovertemplate=f"{_cohort_label(cohort, freq)} · %{{x}}: %{{y:{'.0%' if is_share else ',.0f'}}}<extra></extra>",
        )
    fig.add_scatter(
        x=curves["period"],
        y=curves[metric],
        mode="lines+markers",
        line={"width": 3, "color": PALETTE[0]},
        name=tr("Average over cohorts (weighted by size)"),
    )
    fig.update_xaxes(title_text=tr("Periods since first purchase"))
    fig.update_yaxes(title_text=tr(label), tickformat=".0%" if is_share else ",.0f")
    return style(fig, tr(label) + " " + tr("curves"), lang=lang)


def channel_ltv_figure(curves_by: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Cumulative revenue per customer by acquisition channel (empirical LTV curves)."""
    tr = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    for i, (channel, part) in enumerate(curves_by.groupby("channel", sort=True)):
        fig.add_scatter(
            x=part["period"],
            y=part["cumulative_revenue_per_customer"],
            mode="lines",
            name=str(channel),
            line={"width": 2, "color": PALETTE[i % len(PALETTE)]},
            hovertemplate=f"{channel} · %{{x}}: %{{y:,.0f}}<extra></extra>",
        )
    fig.update_xaxes(title_text=tr("Periods since first purchase"))
    fig.update_yaxes(title_text=tr("Cumulative revenue per customer"), tickformat=",.0f")
    return style(fig, "Empirical LTV curves by acquisition channel", lang=lang)
