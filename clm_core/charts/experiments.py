"""Campaign figures: conversion and uplift with intervals, sample ratio, revenue, retention after
the campaign, value effect, next-test sizing, intervention plan and channels."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm_core.charts import PALETTE, color_for, style
from clm_core.i18n import translate

__all__ = [
    "channel_figure",
    "conversion_figure",
    "plan_figure",
    "retention_figure",
    "revenue_figure",
    "sample_size_figure",
    "srm_figure",
    "uplift_figure",
    "value_figure",
]

_UP, _DOWN, _FLAT = "#10b981", "#ef4444", "#94a3b8"


def _variant_colors(variants, control: str | None = None) -> list[str]:
    out, k = [], 0
    for v in variants:
        if v == control:
            out.append(color_for("control"))
        else:
            out.append(PALETTE[k % len(PALETTE)])
            k += 1
    return out


def _error(values, low, high) -> dict:
    return {
        "type": "data",
        "symmetric": False,
        "array": (high - values).clip(lower=0).tolist(),
        "arrayminus": (values - low).clip(lower=0).tolist(),
        "color": "#334155",
        "thickness": 1.5,
    }


def conversion_figure(variants: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Conversion rate per variant (%) with its Wilson 95% interval."""
    t = lambda s: translate(s, lang)  # noqa: E731
    control = variants.loc[variants["is_control"], "variant"].iloc[0]
    rate = variants["rate"] * 100
    fig = go.Figure(
        go.Bar(
            x=variants["variant"],
            y=rate,
            error_y=_error(rate, variants["ci_low"] * 100, variants["ci_high"] * 100),
            marker_color=_variant_colors(variants["variant"], control),
            text=[f"{r:.1f}%" for r in rate],
            textposition="inside",
            insidetextanchor="start",
            customdata=variants[["customers", "conversions"]],
            hovertemplate="%{x}: %{y:.2f}% (%{customdata[1]} / %{customdata[0]})<extra></extra>",
        )
    )
    fig.update_yaxes(title_text=t("Conversion rate (%)"), rangemode="tozero")
    fig.update_xaxes(title_text=t("Variant"))
    return style(fig, "Conversion rate by variant (95% Wilson interval)", lang=lang, height=360)


def uplift_figure(comparisons: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Absolute uplift vs control in percentage points with its interval; green/red = significant."""
    t = lambda s: translate(s, lang)  # noqa: E731
    c = comparisons
    up = c["uplift_abs"] * 100
    colors = [
        (_UP if u > 0 else _DOWN) if sig else _FLAT
        for u, sig in zip(c["uplift_abs"], c["significant"], strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=up,
            y=c["variant"],
            mode="markers+text",
            marker={"size": 14, "color": colors},
            error_x=_error(up, c["uplift_ci_low"] * 100, c["uplift_ci_high"] * 100),
            text=[f"{u:+.1f}" for u in up],
            textposition="top center",
            customdata=c[["p_value"]],
            hovertemplate="%{y}: %{x:+.2f} pts, p=%{customdata[0]:.4f}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#64748b")
    fig.update_xaxes(title_text=t("Uplift vs control (percentage points)"))
    # Room above the top marker so its label is not clipped.
    fig.update_yaxes(title_text=t("Variant"), type="category", range=[-0.6, len(c) - 0.3])
    return style(fig, "Uplift vs control with confidence interval", lang=lang, height=320)


def srm_figure(variants: pd.DataFrame, expected, *, lang: str = "en") -> go.Figure:
    """Customers per variant: actual vs the intended split."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    fig.add_bar(
        x=variants["variant"],
        y=variants["customers"],
        name=t("Actual"),
        marker_color=PALETTE[0],
        text=variants["customers"],
        textposition="inside",
        insidetextanchor="start",
    )
    fig.add_bar(x=variants["variant"], y=list(expected), name=t("Intended"), marker_color=_FLAT)
    fig.update_yaxes(title_text=t("Customers"))
    fig.update_xaxes(title_text=t("Variant"))
    fig.update_layout(barmode="group")
    return style(fig, "Sample ratio: actual vs intended customers", lang=lang, height=320)


def revenue_figure(variants: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Revenue per customer per variant with its t interval."""
    t = lambda s: translate(s, lang)  # noqa: E731
    control = variants.loc[variants["is_control"], "variant"].iloc[0]
    rpc = variants["revenue_per_customer"]
    fig = go.Figure(
        go.Bar(
            x=variants["variant"],
            y=rpc,
            error_y=_error(rpc, variants["rpc_ci_low"], variants["rpc_ci_high"]),
            marker_color=_variant_colors(variants["variant"], control),
            text=[f"{r:,.2f}" for r in rpc],
            textposition="inside",
            insidetextanchor="start",
        )
    )
    fig.update_yaxes(title_text=t("Revenue per customer"), rangemode="tozero")
    fig.update_xaxes(title_text=t("Variant"))
    return style(fig, "Revenue per customer by variant (95% interval)", lang=lang, height=360)


def retention_figure(curves: pd.DataFrame, kind: str, *, lang: str = "en") -> go.Figure:
    """Share of each group buying in month k after the send, one line per group."""
    t = lambda s: translate(s, lang)  # noqa: E731
    sub = curves[curves["kind"] == kind]
    fig = go.Figure()
    k = 0
    for group, g in sub.groupby("group", sort=True):
        if bool(g["is_control"].any()):
            color = color_for("control")
        else:
            color = PALETTE[k % len(PALETTE)]
            k += 1
        fig.add_scatter(
            x=g["month"],
            y=g["share"] * 100,
            name=t(str(group)),
            mode="lines+markers",
            line={"color": color, "width": 3},
            customdata=g[["customers"]],
            hovertemplate="%{y:.1f}% (n=%{customdata[0]})<extra>" + t(str(group)) + "</extra>",
        )
    fig.update_yaxes(title_text=t("Buying in that month (%)"), rangemode="tozero")
    fig.update_xaxes(title_text=t("Months after the campaign"), dtick=1)
    title = (
        "Buying in each month after the campaign: converted vs not"
        if kind == "conversion"
        else "Buying in each month after the campaign: by variant"
    )
    return style(fig, title, lang=lang, height=360)


def value_figure(table: pd.DataFrame, metric: str, *, lang: str = "en") -> go.Figure:
    """Mean value metric per variant (P(alive), CLV or the fallbacks) with its interval."""
    t = lambda s: translate(s, lang)  # noqa: E731
    sub = table[table["metric"] == metric]
    control = sub.loc[sub["is_control"], "variant"].iloc[0]
    share = metric in ("P(alive)", "Active in last 90 days")
    scale = 100 if share else 1
    mean = sub["mean"] * scale
    fig = go.Figure(
        go.Bar(
            x=sub["variant"],
            y=mean,
            error_y=_error(mean, sub["ci_low"] * scale, sub["ci_high"] * scale),
            marker_color=_variant_colors(sub["variant"], control),
            text=[f"{m:.1f}%" if share else f"{m:,.1f}" for m in mean],
            textposition="inside",
            insidetextanchor="start",
        )
    )
    fig.update_yaxes(title_text=t(metric) + (" (%)" if share else ""), rangemode="tozero")
    fig.update_xaxes(title_text=t("Variant"))
    fig = style(fig, "Mean after the campaign by variant", lang=lang, height=340)
    fig.update_layout(title_text=t("Mean after the campaign by variant") + ": " + t(metric))
    return fig


def sample_size_figure(curve: pd.DataFrame, mde: float, n: int, *, lang: str = "en") -> go.Figure:
    """Customers needed per group against the uplift to detect; the chosen point marked."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    fig.add_scatter(
        x=curve["mde"] * 100,
        y=curve["n_control"],
        mode="lines",
        name=t("Customers per group"),
        line={"color": PALETTE[0], "width": 3},
    )
    fig.add_scatter(
        x=[mde * 100],
        y=[n],
        mode="markers+text",
        name=t("Your choice"),
        marker={"size": 14, "color": PALETTE[1]},
        text=[f"{n:,}"],
        textposition="top right",
    )
    fig.update_xaxes(title_text=t("Uplift to detect (percentage points)"))
    fig.update_yaxes(title_text=t("Customers per group"), type="log")
    return style(fig, "Sample size needed per group", lang=lang, height=340)


def plan_figure(by_intervention: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Cost and expected saved value per intervention type in the plan."""
    t = lambda s: translate(s, lang)  # noqa: E731
    names = [t(str(n)) for n in by_intervention["intervention"]]
    fig = go.Figure()
    fig.add_bar(x=names, y=by_intervention["cost"], name=t("Cost"), marker_color=_FLAT)
    fig.add_bar(
        x=names,
        y=by_intervention["expected_saved_value"],
        name=t("Expected saved value"),
        marker_color=_UP,
        customdata=by_intervention[["customers", "roi"]],
        hovertemplate="%{x}: %{y:,.0f} (%{customdata[0]} customers, ROI %{customdata[1]:.0%})"
        "<extra></extra>",
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=t("Amount"))
    fig.update_xaxes(title_text=t("Intervention"))
    return style(fig, "Intervention plan: cost vs expected saved value", lang=lang, height=360)


def channel_figure(channels: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Response rate (with Wilson interval), cost per response and revenue per contact by channel."""
    t = lambda s: translate(s, lang)  # noqa: E731
    names = [t(str(c)) for c in channels["channel"]]
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(channels))]
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[t("Response rate (%)"), t("Cost per response"), t("Revenue per contact")],
    )
    rate = channels["response_rate"] * 100
    fig.add_bar(
        x=names,
        y=rate,
        error_y=_error(rate, channels["ci_low"] * 100, channels["ci_high"] * 100),
        marker_color=colors,
        text=[f"{r:.1f}%" for r in rate],
        textposition="inside",
        insidetextanchor="start",
        row=1,
        col=1,
    )
    fig.add_bar(
        x=names,
        y=channels["cost_per_response"],
        marker_color=colors,
        text=[f"{c:,.2f}" for c in channels["cost_per_response"].fillna(0)],
        textposition="inside",
        insidetextanchor="start",
        row=1,
        col=2,
    )
    fig.add_bar(
        x=names,
        y=channels["revenue_per_contact"],
        marker_color=colors,
        text=[f"{r:,.2f}" for r in channels["revenue_per_contact"]],
        textposition="inside",
        insidetextanchor="start",
        row=1,
        col=3,
    )
    fig.update_layout(showlegend=False)
    return style(fig, "Channel efficacy", lang=lang, height=360)
