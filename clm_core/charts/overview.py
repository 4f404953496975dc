"""Overview figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm_core.charts import PALETTE, style
from clm_core.i18n import translate

__all__ = ["trend_figure"]


def trend_figure(trend: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Monthly revenue (bars, left axis) and active customers (line, right axis)."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=trend["month"], y=trend["revenue"], name=t("Revenue"), marker_color=PALETTE[0])
    fig.add_scatter(
        x=trend["month"],
        y=trend["active_customers"],
        name=t("Active customers"),
        mode="lines+markers",
        line={"color": PALETTE[1], "width": 3},
        secondary_y=True,
    )
    fig.update_yaxes(title_text=t("Revenue"), secondary_y=False, rangemode="tozero")
    fig.update_yaxes(
        title_text=t("Active customers"), secondary_y=True, showgrid=False, rangemode="tozero"
    )
    fig.update_xaxes(title_text=t("Month"))
    return style(fig, "Monthly revenue and active customers", lang=lang)
