"""Figure builders: DataFrame in, ``plotly.graph_objects.Figure`` out, no I/O.

One look for every chart: the colour maps below are the only place stage, segment and tier
colours are defined, so a stage has the same colour on every page. Area modules
(``charts/segments.py``...) build the figures; :func:`style` applies the shared layout.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from clm_core.i18n import translate

__all__ = [
    "PALETTE",
    "SEGMENT_COLORS",
    "STAGE_COLORS",
    "TIER_COLORS",
    "VARIANT_COLORS",
    "color_for",
    "style",
]

PALETTE = [
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6",
    "#06b6d4", "#ec4899", "#84cc16", "#f97316", "#64748b", "#14b8a6",
]  # fmt: skip

STAGE_COLORS = {
    "Prospect": "#94a3b8",
    "New": "#06b6d4",
    "Active": "#2563eb",
    "Loyal": "#10b981",
    "At risk": "#f59e0b",
    "Churned": "#ef4444",
    "Won back": "#8b5cf6",
}
SEGMENT_COLORS = {
    "Champions": "#065f46",
    "Loyal": "#10b981",
    "Potential Loyalist": "#84cc16",
    "New": "#06b6d4",
    "Promising": "#38bdf8",
    "Need Attention": "#eab308",
    "About to Sleep": "#f59e0b",
    "At Risk": "#f97316",
    "Cannot Lose Them": "#dc2626",
    "Hibernating": "#a8a29e",
    "Lost": "#57534e",
}
TIER_COLORS = {"Diamond": "#7c3aed", "Gold": "#d97706", "Silver": "#94a3b8", "Bronze": "#b45309"}
VARIANT_COLORS = {"control": "#64748b"}


def color_for(name: str, index: int = 0) -> str:
    """The fixed colour of a stage, segment or tier; otherwise a palette colour by index."""
    for mapping in (STAGE_COLORS, SEGMENT_COLORS, TIER_COLORS, VARIANT_COLORS):
        if name in mapping:
            return mapping[name]
    return PALETTE[index % len(PALETTE)]


def style(fig: go.Figure, title: str, *, lang: str = "en", height: int = 420) -> go.Figure:
    """Shared layout: translated title, readable margins, white background."""
    _white_template(fig)
    fig.update_layout(
        title={"text": translate(title, lang), "x": 0.01, "xanchor": "left"},
        height=height,
        margin={"l": 40, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        font={"family": "Noto Sans CJK SC, Noto Sans, Arial, sans-serif"},
    )
    return fig


def _white_template(fig: go.Figure) -> None:
    """Set the registered ``plotly_white`` template without validating it again.

    ``update_layout(template=...)`` validates and copies the whole template: 13 ms a figure,
    more than building most of our figures, paid again on every rerun of a page. The registered
    template is valid already; plotly skips the same check for its default template
    (``BaseFigure._initialize_layout_template``). The figure's JSON is identical.
    """
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = pio.templates["plotly_white"]
    finally:
        layout._validate = fig._validate
