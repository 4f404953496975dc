"""Customer value figures: DataFrame in, Figure out. Every label through i18n, units on axes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from clm_core.charts import PALETTE, STAGE_COLORS, style
from clm_core.clv import ALIVE_BANDS, MODEL_LABELS, PERIOD_UNIT, PERIOD_UNITS
from clm_core.i18n import translate

__all__ = [
    "MODEL_COLORS",
    "alive_matrix_figure",
    "calibration_holdout_figure",
    "clv_histogram",
    "cohort_figure",
    "cumulative_figure",
    "group_figure",
    "lorenz_figure",
    "ltv_cac_figure",
    "period_transactions_figure",
    "stage_alive_figure",
]

ACTUAL_COLOR = "#334155"
MODEL_COLORS = {"bgnbd": PALETTE[0], "mbgnbd": PALETTE[2], "pareto": PALETTE[1]}
_BAND_COLORS = ["#dc2626", "#f59e0b", "#84cc16", "#10b981"]


def _t(text: str, lang: str, **values) -> str:
    return translate(text, lang).format(**values) if values else translate(text, lang)


def _units(period: str, lang: str) -> str:
    return translate(PERIOD_UNITS[period], lang)


def _models(frame: pd.DataFrame) -> list[str]:
    return [m for m in MODEL_LABELS if m in frame.columns]


def clv_histogram(
    customers: pd.DataFrame, *, currency: str = "", log_scale: bool = False, lang: str = "en"
) -> go.Figure:
    """How many customers have each CLV. The log scale bins log10(CLV) (customers with a CLV
    below 1 are put in the first bin) and labels the axis in money; the linear scale caps the
    top 1% into the last bin so the bulk stays readable."""
    clv = customers["clv"].to_numpy(float)
    clv = clv[np.isfinite(clv)]
    median, mean = (float(np.median(clv)), float(np.mean(clv))) if len(clv) else (0.0, 0.0)
    log_scale = log_scale and bool((clv > 0).any())
    fig = go.Figure()
    if log_scale:
        x = np.log10(np.clip(clv, 1.0, None))
        counts, edges = np.histogram(x, bins=40, range=(0.0, max(float(x.max()), 1.0)))
        fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=np.diff(edges) * 0.95,
                    marker_color=PALETTE[0],
                    customdata=np.stack([10 ** edges[:-1], 10 ** edges[1:]], axis=1),
                    hovertemplate="%{customdata[0]:,.0f} - %{customdata[1]:,.0f}: %{y}<extra></extra>")  # fmt: skip
        ticks = np.arange(0, int(np.ceil(edges[-1])) + 1)
        fig.update_xaxes(tickvals=ticks, ticktext=[f"{10**k:,.0f}" for k in ticks])
        position = lambda v: np.log10(max(v, 1.0))  # noqa: E731
    else:
        top = float(np.quantile(clv, 0.99)) if len(clv) else 1.0
        counts, edges = np.histogram(np.clip(clv, None, top), bins=40, range=(0, max(top, 1e-9)))
        fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, marker_color=PALETTE[0],
                    hovertemplate="%{x:,.0f}: %{y}<extra></extra>")  # fmt: skip
        position = lambda v: v  # noqa: E731
    for value, name, dash, side in ((median, "Median", "dash", "top left"),
                                    (mean, "Mean", "dot", "top right")):  # fmt: skip
        fig.add_vline(x=position(value), line_dash=dash, line_color=PALETTE[3],
                      annotation_text=f"{_t(name, lang)} {value:,.0f}",
                      annotation_position=side)  # fmt: skip
    fig.update_layout(showlegend=False, bargap=0.05)
    fig.update_xaxes(title_text=_t("CLV per customer ({currency})", lang, currency=currency))
    fig.update_yaxes(title_text=_t("Customers", lang))
    title = "CLV distribution (log scale)" if log_scale else "CLV distribution (top 1% capped)"
    return style(fig, title, lang=lang)


def lorenz_figure(
    curve: pd.DataFrame, concentration: pd.DataFrame, *, lang: str = "en"
) -> go.Figure:
    """Cumulative share of future value against share of customers, most valuable first."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#94a3b8"},
                    name=_t("Equal value per customer", lang))  # fmt: skip
    fig.add_scatter(x=curve["customer_share"], y=curve["value_share"], mode="lines",
                    line={"color": PALETTE[0], "width": 3}, name=_t("Customers by CLV", lang))  # fmt: skip
    fig.add_scatter(
        x=concentration["top_pct"] / 100,
        y=concentration["share"],
        mode="markers+text",
        marker={"size": 10, "color": PALETTE[3]},
        text=[
            _t("top {p:g}%: {s:.0%}", lang, p=p, s=s)
            for p, s in zip(concentration["top_pct"], concentration["share"], strict=True)
        ],  # fmt: skip
        textposition="middle right",
        name=_t("Top shares", lang),
    )
    fig.update_xaxes(
        title_text=_t("Share of customers (most valuable first)", lang), tickformat=".0%"
    )
    fig.update_yaxes(title_text=_t("Share of expected future value", lang), tickformat=".0%")
    return style(fig, "Who holds the future value (Lorenz curve)", lang=lang)


def group_figure(table: pd.DataFrame, *, by_label: str, lang: str = "en") -> go.Figure:
    """Share of customers vs share of future value for each group."""
    groups = [translate(str(g), lang) for g in table["group"]]
    fig = go.Figure()
    fig.add_bar(x=groups, y=table["customer_share"], name=_t("Share of customers", lang),
                marker_color="#94a3b8")  # fmt: skip
    fig.add_bar(
        x=groups,
        y=table["clv_share"],
        name=_t("Share of future value", lang),
        marker_color=PALETTE[0],
        customdata=np.stack([table["clv_mean"], table["p_alive_mean"]], axis=1),
        hovertemplate="%{x}<br>%{y:.1%}<br>"
        + _t("Mean CLV", lang)
        + " %{customdata[0]:,.0f}<br>"
        + _t("Mean P(alive)", lang)
        + " %{customdata[1]:.0%}<extra></extra>",
    )
    fig.update_layout(barmode="group")
    fig.update_yaxes(tickformat=".0%", title_text=_t("Share", lang))
    fig.update_xaxes(title_text=translate(by_label, lang))
    return style(fig, _t("Future value by {by}", lang, by=translate(by_label, lang)), lang=lang)


def alive_matrix_figure(
    matrix: pd.DataFrame,
    *,
    title: str,
    value_label: str,
    period: str,
    percent: bool = False,
    lang: str = "en",
) -> go.Figure:
    """Heatmap: repeat purchases (rows) x periods since the last purchase (columns)."""
    rows = matrix.drop_duplicates("frequency_order").sort_values("frequency_order")["frequency"]
    cols = matrix.drop_duplicates("silence_order").sort_values("silence_order")["silence"]
    z = matrix.pivot(index="frequency", columns="silence", values="value").reindex(
        index=rows, columns=cols
    )
    n = matrix.pivot(index="frequency", columns="silence", values="customers").reindex(
        index=rows, columns=cols
    )
    text = z.map(lambda v: "" if pd.isna(v) else (f"{v:.0%}" if percent else f"{v:.1f}"))
    fig = go.Figure(
        go.Heatmap(
            z=z.to_numpy(),
            x=list(cols),
            y=list(rows),
            text=text.to_numpy(),
            texttemplate="%{text}",
            customdata=n.fillna(0).to_numpy(),
            colorscale="RdYlGn",
            zmin=0,
            zmax=1 if percent else None,
            colorbar={"title": translate(value_label, lang), "tickformat": ".0%" if percent else ""},
            hovertemplate=_t("Repeat purchases", lang) + " %{y}<br>"
            + _t("Periods since last purchase ({units})", lang, units=_units(period, lang))
            + " %{x}<br>%{z:.2f}<br>"
            + _t("Customers", lang) + " %{customdata}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_xaxes(
        title_text=_t("Periods since last purchase ({units})", lang, units=_units(period, lang))
    )
    fig.update_yaxes(title_text=_t("Repeat purchases", lang), type="category")
    return style(fig, title, lang=lang)


def stage_alive_figure(table: pd.DataFrame, *, stage_order=(), lang: str = "en") -> go.Figure:
    """Share of each lifecycle stage in each P(alive) band (stacked)."""
    stages = [s for s in stage_order if s in set(table["stage"])] or sorted(table["stage"].unique())
    fig = go.Figure()
    for (_, _, band), color in zip(ALIVE_BANDS, _BAND_COLORS, strict=True):
        part = table[table["band"] == band].set_index("stage").reindex(stages)
        fig.add_bar(
            y=[translate(s, lang) for s in stages],
            x=part["share_of_stage"].fillna(0),
            orientation="h",
            name=translate(band, lang),
            marker_color=color,
            customdata=part["customers"].fillna(0),
            hovertemplate="%{y}: %{x:.0%} (%{customdata:,.0f})<extra></extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", title_text=_t("Share of the stage's customers", lang))
    fig.update_yaxes(title_text=_t("Lifecycle stage", lang))
    return style(fig, "Lifecycle stage x P(alive)", lang=lang)


def ltv_cac_figure(table: pd.DataFrame, *, period: str, lang: str = "en") -> go.Figure:
    """LTV/CAC per channel with the 3:1 and 5:1 reference lines."""
    df = table[np.isfinite(table["ltv_cac"])]
    colors = [STAGE_COLORS["Churned"] if v < 3 else (PALETTE[2] if v >= 5 else PALETTE[1])
              for v in df["ltv_cac"]]  # fmt: skip
    payback = [
        _t("{n:.0f} {units}", lang, n=p, units=_units(period, lang)) if np.isfinite(p)
        else _t("not within the history", lang)
        for p in df["payback_periods"]
    ]  # fmt: skip
    fig = go.Figure(
        go.Bar(
            x=[translate(str(c), lang) for c in df["channel"]],
            y=df["ltv_cac"],
            marker_color=colors,
            text=[f"{v:.1f}:1" for v in df["ltv_cac"]],
            textposition="outside",
            customdata=list(zip(df["ltv"], df["cac"], payback, strict=True)),
            hovertemplate="%{x}<br>LTV %{customdata[0]:,.0f}<br>CAC %{customdata[1]:,.0f}<br>"
            + _t("Payback", lang) + " %{customdata[2]}<extra></extra>",
        )
    )  # fmt: skip
    log = bool(len(df)) and df["ltv_cac"].max() > 20 and df["ltv_cac"].min() > 0
    for level, dash in ((3, "dash"), (5, "dot")):
        fig.add_hline(y=level, line_dash=dash, line_color="#64748b")
        # annotations on a log axis take log10 positions
        fig.add_annotation(x=0, xref="paper", y=np.log10(level) if log else level, text=f"{level}:1",
                           showarrow=False, xanchor="left", yanchor="bottom")  # fmt: skip
    if log:  # keeps 3:1 and 5:1 readable next to 300:1
        fig.update_yaxes(type="log", range=[0, np.log10(df["ltv_cac"].max() * 3)])
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(title_text=_t("LTV / CAC", lang))
    fig.update_xaxes(title_text=_t("Acquisition channel", lang))
    return style(fig, "LTV/CAC by acquisition channel", lang=lang)


def period_transactions_figure(pt: pd.DataFrame, *, period: str, lang: str = "en") -> go.Figure:
    """Customers by repeat purchases in the calibration period: actual vs each model."""
    fig = go.Figure()
    fig.add_bar(
        x=pt["purchases"], y=pt["actual"], name=_t("Actual", lang), marker_color=ACTUAL_COLOR
    )
    for m in _models(pt):
        fig.add_bar(x=pt["purchases"], y=pt[m], name=MODEL_LABELS[m], marker_color=MODEL_COLORS[m])
    fig.update_layout(barmode="group")
    fig.update_xaxes(
        title_text=_t("Repeat purchases in the calibration period", lang), type="category"
    )
    fig.update_yaxes(title_text=_t("Customers", lang))
    return style(fig, "Calibration period: actual vs model purchase counts", lang=lang)


def calibration_holdout_figure(
    cvh: pd.DataFrame, *, holdout: float, period: str, lang: str = "en"
) -> go.Figure:
    """Mean holdout purchases by calibration purchases: actual vs predicted."""
    fig = go.Figure()
    fig.add_scatter(x=cvh["purchases"], y=cvh["actual"], name=_t("Actual", lang), mode="lines+markers",
                    line={"color": ACTUAL_COLOR, "width": 3})  # fmt: skip
    for m in _models(cvh):
        fig.add_scatter(x=cvh["purchases"], y=cvh[m], name=MODEL_LABELS[m], mode="lines+markers",
                        line={"color": MODEL_COLORS[m], "dash": "dash"})  # fmt: skip
    fig.update_xaxes(
        title_text=_t("Repeat purchases in the calibration period", lang), type="category"
    )
    fig.update_yaxes(
        title_text=_t("Mean purchases in the {n:.0f}-{unit} holdout", lang, n=holdout,
                      unit=translate(PERIOD_UNIT[period], lang)),
        rangemode="tozero",
    )  # fmt: skip
    return style(fig, "Calibration vs holdout purchases", lang=lang)


def cumulative_figure(
    cum: pd.DataFrame, *, calibration_end: dt.date, lang: str = "en"
) -> go.Figure:
    """Cumulative repeat purchases over time: actual vs expected, calibration end marked."""
    fig = go.Figure()
    fig.add_scatter(x=cum["date"], y=cum["actual"], name=_t("Actual", lang), mode="lines",
                    line={"color": ACTUAL_COLOR, "width": 3})  # fmt: skip
    for m in _models(cum):
        fig.add_scatter(x=cum["date"], y=cum[m], name=MODEL_LABELS[m], mode="lines",
                        line={"color": MODEL_COLORS[m], "dash": "dash"})  # fmt: skip
    x = pd.Timestamp(calibration_end)
    fig.add_shape(
        type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line={"dash": "dot", "color": "#64748b"}
    )
    fig.add_annotation(
        x=x, y=1, yref="paper", text=_t("calibration end", lang), showarrow=False, xanchor="left"
    )
    fig.update_xaxes(title_text=_t("Date", lang))
    fig.update_yaxes(title_text=_t("Cumulative repeat purchases", lang), rangemode="tozero")
    return style(fig, "Cumulative repeat purchases: actual vs expected", lang=lang)


def cohort_figure(table: pd.DataFrame, *, currency: str = "", lang: str = "en") -> go.Figure:
    """Mean CLV of each cohort under its own fit and under the pooled fit."""
    df = table[table["status"] == "fitted"] if "status" in table else table
    fig = go.Figure()
    fig.add_bar(x=df["cohort"].astype(str), y=df["clv_pooled"], name=_t("Pooled model", lang),
                marker_color="#94a3b8")  # fmt: skip
    fig.add_bar(x=df["cohort"].astype(str), y=df["clv_cohort"], name=_t("Own cohort model", lang),
                marker_color=PALETTE[0])  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_xaxes(title_text=_t("Cohort", lang), type="category")
    fig.update_yaxes(title_text=_t("Mean CLV ({currency})", lang, currency=currency))
    return style(fig, "Per-cohort fits vs the pooled fit", lang=lang)
