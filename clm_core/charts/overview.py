"""Overview figures."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clm_core.charts import PALETTE, style
from clm_core.i18n import translate

__all__ = ["trend_figure"]


def trend_figure(trend: pd.DataFrame, *, lang: str = "en", money: bool = True) -> go.Figure:
    """Monthly revenue (bars, left axis) and active customers (line, right axis). Without money
    (data without amounts) the bars are the month's purchases instead of its revenue."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    bars, label = ("revenue", t("Revenue")) if money else ("orders", t("Purchases"))
    fig.add_bar(x=trend["month"], y=trend[bars], name=label, marker_color=PALETTE[0])
    fig.add_scatter(
        x=trend["month"],
        y=trend["active_customers"],
        name=t("Active customers"),
        mode="lines+markers",
        line={"color": PALETTE[1], "width": 3},
        secondary_y=True,
    )
    fig.update_yaxes(title_text=label, secondary_y=False, rangemode="tozero")
    # Its own ticks (Plotly 7 syncs an overlaying axis to the bars' gridlines, which put
    # customer counts such as 1.849 on it), whole numbers when there are only a few customers.
    few = trend["active_customers"].max() <= 5 if len(trend) else True
    fig.update_yaxes(
        title_text=t("Active customers"), secondary_y=True, showgrid=False, rangemode="tozero",
        tickformat=",d", **({"tickmode": "linear", "tick0": 0, "dtick": 1} if few else {"tickmode": "auto"}),
    )  # fmt: skip
    # Months as months: a short range (one month under a date filter) otherwise gets ticks in
    # fractions of a second around its one bar.
    fig.update_xaxes(
        title_text=t("Month"), tickformat="%Y-%m", dtick="M1" if len(trend) <= 12 else None
    )
    if not money:
        return style(fig, "Monthly purchases and active customers", lang=lang)
    return style(fig, "Monthly revenue and active customers", lang=lang)
