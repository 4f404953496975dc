"""Funnel figures: funnel bars, conversion by group, time-to-next-purchase histogram."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from clm_core.charts import PALETTE, STAGE_COLORS, style
from clm_core.i18n import translate

__all__ = ["breakdown_figure", "funnel_figure", "gap_histogram_figure"]


def funnel_figure(
    labels: list[str], customers: list[int], *, title: str, lang: str = "en"
) -> go.Figure:
    """Funnel bars with counts, share of the first step and of the previous step."""
    fig = go.Figure(
        go.Funnel(
            y=labels,
            x=customers,
            texttemplate="%{value:,}<br>%{percentInitial:.0%} "
            + translate("of first step", lang)
            + "<br>%{percentPrevious:.0%} "
            + translate("of previous step", lang),
            marker={"color": [PALETTE[i % len(PALETTE)] for i in range(len(labels))]},
            connector={"fillcolor": "#e2e8f0", "line": {"color": "#cbd5e1"}},
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    fig.update_yaxes(title_text="")
    return style(fig, title, lang=lang, height=380)


def breakdown_figure(funnel: pd.DataFrame, by: str, *, lang: str = "en", top: int = 8) -> go.Figure:
    """Overall conversion at each step, one bar group per step, one colour per group.

    Only the ``top`` groups with the most customers at step 1 are drawn.
    """
    tr = lambda s: translate(s, lang)  # noqa: E731
    starts = funnel[funnel["step"] == 1].sort_values("customers", ascending=False)
    fig = go.Figure()
    for i, group in enumerate(starts[by].head(top)):
        part = funnel[funnel[by] == group]
        name = tr(str(group)) if by == "stage" else str(group)  # stage names are ours
        color = STAGE_COLORS.get(group, PALETTE[i % len(PALETTE)]) if by == "stage" else None
        fig.add_bar(
            x=part["event"],
            y=part["overall_conversion"],
            name=name,
            marker_color=color or PALETTE[i % len(PALETTE)],
            customdata=part["customers"],
            hovertemplate=f"{name}: %{{y:.1%}} (%{{customdata:,}})<extra></extra>",
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=tr("Share of step 1"), tickformat=".0%")
    fig.update_xaxes(title_text=tr("Step"))
    return style(fig, tr("Conversion by {by}").format(by=tr(by.replace("_", " "))), lang=lang)


def gap_histogram_figure(
    hist: pd.DataFrame, labels: dict[int, str], *, lang: str = "en"
) -> go.Figure:
    """Share of customers by days to the next purchase, one line per purchase number.

    ``labels`` maps ``from_purchase`` to a legend label ("1st → 2nd").
    """
    tr = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    for i, (k, part) in enumerate(hist.groupby("from_purchase", sort=True)):
        fig.add_scatter(
            x=part["bin_start"],
            y=part["share"],
            name=labels.get(int(k), str(k)),
            mode="lines+markers",
            line={"shape": "hv", "color": PALETTE[i % len(PALETTE)]},
            hovertemplate="%{x}+ " + tr("days") + ": %{y:.1%}<extra></extra>",
        )
    fig.update_xaxes(title_text=tr("Days to the next purchase (last bin: that many or more)"))
    fig.update_yaxes(title_text=tr("Share of customers"), tickformat=".0%")
    return style(fig, "Time to the next purchase", lang=lang)
