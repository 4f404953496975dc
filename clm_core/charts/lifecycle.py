"""Lifecycle figures: stage snapshot, stages over time, lifecycle bars, transitions."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from clm_core.charts import PALETTE, STAGE_COLORS, style
from clm_core.i18n import translate

__all__ = [
    "lifecycle_figure",
    "stage_bar_figure",
    "stage_trend_figure",
    "transition_heatmap_figure",
    "transition_sankey_figure",
]

# Lifecycle statuses: growth colours above the axis, the loss colour below.
_STATUS_COLORS = {
    "new": STAGE_COLORS["New"],
    "returning": STAGE_COLORS["Active"],
    "resurrecting": STAGE_COLORS["Won back"],
    "dormant": STAGE_COLORS["Churned"],
}


_OTHER = "#cbd5e1"  # customers not yet known at the first date


def _color(stage: str) -> str:
    return STAGE_COLORS.get(stage, _OTHER)


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def stage_bar_figure(
    summary: pd.DataFrame, *, lang: str = "en", hide: tuple[str, ...] = ()
) -> go.Figure:
    """Horizontal bars: customers per stage (``stage_summary`` output), fixed stage colours.

    Stages in ``hide`` are left out (prospects can outnumber buyers many times over).
    """
    tr = lambda s: translate(s, lang)  # noqa: E731
    summary = summary[~summary["stage"].isin(hide)]
    total = summary["customers"].sum()
    shares = summary["customers"] / total if total else summary["customers"] * 0.0
    fig = go.Figure(
        go.Bar(
            y=[tr(s) for s in summary["stage"]],
            x=summary["customers"],
            orientation="h",
            marker_color=[STAGE_COLORS[s] for s in summary["stage"]],
            text=[f"{n:,} ({p:.0%})" for n, p in zip(summary["customers"], shares, strict=True)],
            textposition="auto",
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=tr("Customers"))
    return style(fig, "Customers by lifecycle stage", lang=lang, height=360)


def stage_trend_figure(
    counts: pd.DataFrame, *, lang: str = "en", hide: tuple[str, ...] = ()
) -> go.Figure:
    """Stacked areas of customers per stage at each month end (``stage_counts`` output)."""
    tr = lambda s: translate(s, lang)  # noqa: E731
    counts = counts[~counts["stage"].isin(hide)]
    # One month end (a short date range): an area needs two points, so stacked bars.
    single = counts["as_of"].nunique() == 1
    fig = go.Figure()
    for stage in counts["stage"].unique():
        part = counts[counts["stage"] == stage]
        color = STAGE_COLORS.get(stage, PALETTE[0])
        hover = f"{tr(stage)}: %{{y:,}}<extra></extra>"
        if single:
            fig.add_bar(x=part["as_of"], y=part["customers"], name=tr(stage),
                        marker_color=color, hovertemplate=hover)  # fmt: skip
        else:
            fig.add_scatter(x=part["as_of"], y=part["customers"], name=tr(stage), mode="lines",
                            stackgroup="stages", line={"width": 0.5, "color": color},
                            hovertemplate=hover)  # fmt: skip
    if single:
        fig.update_layout(barmode="stack")
        fig.update_xaxes(tickvals=counts["as_of"].unique()[:1], tickformat="%Y-%m-%d")
    fig.update_xaxes(title_text=tr("Month end"))
    fig.update_yaxes(title_text=tr("Customers"))
    fig.update_layout(hovermode="x unified")
    return style(fig, "Customers per stage over time", lang=lang)


def lifecycle_figure(activity: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """PostHog-style lifecycle: new, returning, resurrecting up; dormant down."""
    tr = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    for status in ("dormant", "returning", "resurrecting", "new"):
        fig.add_bar(
            x=activity["period"],
            y=activity[status],
            name=tr(status),
            marker_color=_STATUS_COLORS[status],
            hovertemplate=f"{tr(status)}: %{{y:,}}<extra></extra>",
        )
    fig.update_layout(barmode="relative", hovermode="x unified")
    fig.update_xaxes(title_text=tr("Period"))
    fig.update_yaxes(title_text=tr("Customers"), zeroline=True, zerolinewidth=2)
    return style(fig, "Lifecycle: customers gained and lost per period", lang=lang)


def transition_heatmap_figure(matrix: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Row-share heatmap of a ``transition_matrix(..., share=True)`` (from rows, to columns)."""
    tr = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[tr(c) for c in matrix.columns],
            y=[tr(r) for r in matrix.index],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=[[f"{v:.0%}" for v in row] for row in matrix.to_numpy()],
            texttemplate="%{text}",
            hovertemplate="%{y} → %{x}: %{text}<extra></extra>",
            colorbar={"tickformat": ".0%"},
        )
    )
    fig.update_yaxes(autorange="reversed", title_text=tr("Stage at the first date"))
    fig.update_xaxes(title_text=tr("Stage at the second date"))
    return style(fig, "Where each stage went (share of the row)", lang=lang)


def transition_sankey_figure(
    transitions: pd.DataFrame, *, lang: str = "en", hide: tuple[str, ...] = ()
) -> go.Figure:
    """Sankey from stages at the first date (left) to stages at the second date (right).

    Flows ending in a stage in ``hide`` are left out (customers still prospects would dwarf
    every other flow; prospects who bought still show, leaving from the left).
    """
    tr = lambda s: translate(s, lang)  # noqa: E731
    transitions = transitions[~transitions["to_stage"].isin(hide)]
    left = list(dict.fromkeys(transitions["from_stage"]))
    right = list(dict.fromkeys(transitions["to_stage"]))
    node_labels = [tr(s) for s in left] + [tr(s) for s in right]
    node_colors = [_color(s) for s in left + right]
    li = {s: i for i, s in enumerate(left)}
    ri = {s: len(left) + i for i, s in enumerate(right)}
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": node_labels, "color": node_colors, "pad": 14, "thickness": 16},
            link={
                "source": transitions["from_stage"].map(li).tolist(),
                "target": transitions["to_stage"].map(ri).tolist(),
                "value": transitions["customers"].tolist(),
                "color": [_rgba(_color(s), 0.35) for s in transitions["from_stage"]],
            },
        )
    )
    return style(fig, "Stage flows between the two dates", lang=lang, height=480)
