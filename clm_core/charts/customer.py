"""Customer 360 figures: the customer's timeline and their P(alive) history."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm_core.charts import PALETTE, style
from clm_core.i18n import translate

__all__ = ["EVENT_LABELS", "KIND_COLORS", "p_alive_figure", "timeline_figure"]

KIND_COLORS = {
    "order": "#2563eb",
    "return": "#f97316",
    "campaign": "#8b5cf6",
    "complaint": "#dc2626",
    "survey": "#10b981",
    "event": "#94a3b8",
}
# Lane labels of the usual event names (other names are shown as they are in the data).
EVENT_LABELS = {
    "visit": "Visit",
    "signup": "Sign-up",
    "add_to_cart": "Add to cart",
    "purchase": "Checkout (event)",
    "login": "Login",
}
_EVENT_COLORS = {
    "visit": "#cbd5e1",
    "signup": "#06b6d4",
    "add_to_cart": "#94a3b8",
    "purchase": "#64748b",
    "login": "#a8a29e",
}
_LANE_ORDER = ["order", "return", "campaign", "complaint", "survey"]


def _text(value) -> str:
    """Data shown in hovers is escaped: Plotly renders a subset of HTML in hover text."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def _lane(row_kind: str, detail) -> str:
    return row_kind if row_kind != "event" else f"event:{detail}"


def timeline_figure(
    timeline: pd.DataFrame, *, lang: str = "en", currency: str = "", money: bool = True
) -> go.Figure:
    """Top: cumulative net spend. Bottom: one lane per kind of touchpoint (events by name).
    ``money=False`` (data without amounts): the lanes alone, without amounts."""
    tl = timeline.dropna(subset=["ts"])
    if not money:
        tl = tl.assign(amount=np.nan)
    lane_row = 2 if money else 1
    fig = make_subplots(
        rows=lane_row, cols=1, shared_xaxes=True,
        row_heights=[0.35, 0.65] if money else None, vertical_spacing=0.06,
    )  # fmt: skip
    spend = tl[tl["kind"].isin(["order", "return"])].sort_values("ts") if money else tl[:0]
    if len(spend):
        fig.add_trace(
            go.Scatter(
                x=spend["ts"],
                y=spend["amount"].fillna(0).cumsum(),
                mode="lines",
                line={"shape": "hv", "color": KIND_COLORS["order"], "width": 2},
                name=translate("Cumulative net spend", lang),
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    lanes = [k for k in _LANE_ORDER if (tl["kind"] == k).any()]
    lanes += sorted(set(tl["kind"]) - set(_LANE_ORDER) - {"event"})
    events = tl[tl["kind"] == "event"]
    event_names = [n for n in _EVENT_COLORS if (events["detail"] == n).any()]
    event_names += sorted(set(events["detail"].dropna().astype(str)) - set(event_names))
    labels = {k: translate(k.capitalize(), lang) for k in lanes}
    labels.update({f"event:{n}": translate(EVENT_LABELS.get(n, n), lang) for n in event_names})
    order = lanes + [f"event:{n}" for n in event_names]
    for i, lane in enumerate(order):
        if lane.startswith("event:"):
            part = events[events["detail"].astype(str) == lane[6:]]
            color = _EVENT_COLORS.get(lane[6:], PALETTE[i % len(PALETTE)])
        else:
            part = tl[tl["kind"] == lane]
            color = KIND_COLORS.get(lane, PALETTE[i % len(PALETTE)])
        if part.empty:
            continue
        amount = part["amount"].abs().fillna(0).to_numpy(dtype=float)
        size = (
            7 + 14 * np.sqrt(amount / amount.max()) if amount.max() > 0 else np.full(len(part), 8)
        )
        hover = [
            "<br>".join(x for x in (_text(d), _text(a), _text(s), _text(c), _text(r)) if x)
            for d, a, s, c, r in zip(
                part["detail"],
                part["amount"].map(
                    lambda v: f"{v:,.2f} {currency}".strip() if pd.notna(v) else None
                ),
                part["score"].map(
                    lambda v: f"{translate('Feedback score', lang)} {v:g}" if pd.notna(v) else None
                ),
                part["channel"],
                part["ref"],
                strict=True,
            )
        ]
        fig.add_trace(
            go.Scatter(
                x=part["ts"],
                y=[labels[lane]] * len(part),
                mode="markers",
                marker={"size": size, "color": color, "opacity": 0.85, "line": {"width": 0}},
                name=labels[lane],
                text=hover,
                hovertemplate="%{x|%Y-%m-%d %H:%M}<br>%{text}<extra></extra>",
            ),
            row=lane_row,
            col=1,
        )
    if money:
        fig.update_yaxes(
            title_text=translate("Net spend", lang) + (f" ({currency})" if currency else ""),
            row=1,
            col=1,
        )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=[labels[k] for k in reversed(order)],
        row=lane_row,
        col=1,
    )
    fig.update_xaxes(title_text=translate("Date", lang), row=lane_row, col=1)
    style(fig, "Customer timeline", lang=lang, height=520 if money else 380)
    fig.update_layout(showlegend=False)
    return fig


def p_alive_figure(history: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """P(alive) over time with the customer's purchase days marked."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=history["date"],
            y=history["p_alive"],
            mode="lines",
            line={"color": "#2563eb", "width": 2},
            name=translate("P(alive)", lang),
            hovertemplate="%{x|%Y-%m-%d}<br>P(alive) %{y:.0%}<extra></extra>",
        )
    )
    buys = history[history["purchase"]]
    fig.add_trace(
        go.Scatter(
            x=buys["date"],
            y=buys["p_alive"],
            mode="markers",
            marker={"color": "#10b981", "size": 8, "symbol": "triangle-up"},
            name=translate("Purchase", lang),
            hovertemplate="%{x|%Y-%m-%d}<extra></extra>",
        )
    )
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title_text=translate("P(alive)", lang))
    fig.update_xaxes(title_text=translate("Date", lang))
    return style(fig, "P(alive) history", lang=lang, height=340)
