"""Segments figures and their one-line takeaways (computed from the same frames).

Figure builders take the frames of :mod:`clm_core.segments` and return a ``go.Figure``; each
``*_takeaway`` returns one plain sentence in the chosen language, or ``None`` when the data
cannot support one. Display tables (translated headers, percentages) come from
:func:`profile_table`. ``money=False`` (data without amounts) leaves revenue out of a figure,
sentence or table: the figure shows customers and orders instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from clm_core.amounts import drop_money
from clm_core.charts import PALETTE, SEGMENT_COLORS, TIER_COLORS, style
from clm_core.formatting import fmt_count, fmt_money, fmt_share
from clm_core.i18n import translate

__all__ = [
    "cluster_scatter_figure",
    "cluster_takeaway",
    "migration_sankey_figure",
    "migration_takeaway",
    "price_sensitivity_figure",
    "price_sensitivity_takeaway",
    "profile_table",
    "rf_heatmap_figure",
    "rf_heatmap_takeaway",
    "segment_share_figure",
    "segment_share_takeaway",
    "silhouette_figure",
    "silhouette_takeaway",
    "tier_share_figure",
    "tier_takeaway",
]

_OTHER_COLOR = "#cbd5e1"


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _share_bars(
    profile: pd.DataFrame,
    by: str,
    title: str,
    lang: str,
    colors: dict[str, str],
    money: bool = True,
) -> go.Figure:
    t = lambda s: translate(s, lang)  # noqa: E731
    names = [t(str(v)) for v in profile[by]]
    group_colors = [colors.get(str(v), _OTHER_COLOR) for v in profile[by]]
    fig = go.Figure()
    fig.add_bar(
        y=names,
        x=profile["customer_share"] * 100,
        name=t("Share of customers"),
        orientation="h",
        # Without money the customers' shares stand alone, in the group colours; beside the
        # revenue shares they are light and hatched: never confused with a segment or tier
        # colour (Silver is grey).
        marker={"color": group_colors} if not money
        else {"color": "#e2e8f0", "pattern": {"shape": "/", "fgcolor": "#64748b"}},
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
    )  # fmt: skip
    if not money:
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(title_text=t("% of all customers"), ticksuffix="%")
        return style(fig, title, lang=lang, height=max(360, 36 * len(profile) + 120))
    fig.add_bar(
        y=names,
        x=profile["revenue_share"] * 100,
        name=t("Share of revenue"),
        orientation="h",
        marker_color=group_colors,
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
    )
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=t("% of all customers / of all revenue"), ticksuffix="%")
    return style(fig, title, lang=lang, height=max(360, 48 * len(profile) + 120))


def segment_share_figure(
    profile: pd.DataFrame, *, lang: str = "en", money: bool = True
) -> go.Figure:
    """Grouped bars per segment: share of customers (hatched) and share of revenue (segment
    colour); without money, the share of customers in the segment colour."""
    if not money:
        return _share_bars(
            profile, "segment", "Segment size: customers", lang, SEGMENT_COLORS, money=False
        )
    return _share_bars(
        profile, "segment", "Segment size: customers and revenue", lang, SEGMENT_COLORS
    )


def segment_share_takeaway(
    profile: pd.DataFrame, *, lang: str = "en", money: bool = True
) -> str | None:
    """The segment earning the most revenue, and (if different) the largest segment; without
    money, the largest segment and how often its customers bought."""
    if profile.empty:
        return None
    t = lambda s: translate(s, lang)  # noqa: E731
    if not money:
        big = profile.loc[profile["customers"].idxmax()]
        return t(
            "The largest segment, {segment}, is {customers} of customers with {orders:.1f} "
            "orders each."
        ).format(
            segment=t(big["segment"]),
            customers=fmt_share(big["customer_share"], lang),
            orders=big["frequency"],
        )
    top = profile.loc[profile["revenue_share"].idxmax()]
    text = t("{segment} are {customers} of customers and {revenue} of revenue.").format(
        segment=t(top["segment"]),
        customers=fmt_share(top["customer_share"], lang),
        revenue=fmt_share(top["revenue_share"], lang),
    )
    big = profile.loc[profile["customer_share"].idxmax()]
    if big["segment"] != top["segment"]:
        text += " " + t(
            "The largest segment, {segment}, is {customers} of customers but {revenue} of revenue."
        ).format(
            segment=t(big["segment"]),
            customers=fmt_share(big["customer_share"], lang),
            revenue=fmt_share(big["revenue_share"], lang),
        )
    return text


def tier_share_figure(profile: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Grouped bars per value tier: share of customers and share of revenue."""
    return _share_bars(profile, "tier", "Value tiers: customers and revenue", lang, TIER_COLORS)


def tier_takeaway(profile: pd.DataFrame, *, lang: str = "en") -> str | None:
    """How much revenue the top tier brings."""
    rows = profile[profile["customers"] > 0]
    if rows.empty:
        return None
    t = lambda s: translate(s, lang)  # noqa: E731
    top = rows.iloc[0]
    return t(
        "{tier} customers are {customers} of customers and bring {revenue} of revenue."
    ).format(
        tier=t(top["tier"]),
        customers=fmt_share(top["customer_share"], lang),
        revenue=fmt_share(top["revenue_share"], lang),
    )


def rf_heatmap_figure(
    matrix: pd.DataFrame, *, lang: str = "en", currency: str = "USD", money: bool = True
) -> go.Figure:
    """R (rows, 5 = most recent on top) x F (columns) score grid; colour = mean revenue per
    customer (without money: the number of customers), text = number of customers. Empty
    cells stay blank."""
    t = lambda s: translate(s, lang)  # noqa: E731
    counts = matrix.pivot(index="r_score", columns="f_score", values="customers")
    counts = counts.reindex(index=range(1, 6), columns=range(1, 6))
    if money:
        grid = matrix.pivot(index="r_score", columns="f_score", values="mean_revenue")
        grid = grid.reindex(index=range(1, 6), columns=range(1, 6))
    else:
        grid = counts

    def cell(v, c) -> str:
        if pd.isna(c):
            return ""
        n = f"n={fmt_count(c, lang)}"
        return f"{fmt_money(v, currency, lang)}<br>{n}" if money else n

    text = [[cell(v, c) for v, c in zip(grid.loc[r], counts.loc[r], strict=True)]
            for r in grid.index]  # fmt: skip
    if money:
        bar, hover = t("Mean revenue"), t("R %{y}, F %{x}: mean revenue %{z:,.0f}")
    else:
        bar, hover = t("Customers"), t("R %{y}, F %{x}: %{z:,.0f} customers")
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=[str(c) for c in grid.columns],
            y=[str(r) for r in grid.index],
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            colorbar={"title": {"text": bar}},
            hovertemplate=hover + "<extra></extra>",
            hoverongaps=False,
        )
    )
    fig.update_xaxes(title_text=t("Frequency score (F)"), type="category")
    fig.update_yaxes(title_text=t("Recency score (R, 5 = most recent)"), type="category")
    if not money:
        return style(fig, "R x F grid: customers", lang=lang, height=460)
    return style(fig, "R x F grid: mean revenue per customer", lang=lang, height=460)


def rf_heatmap_takeaway(
    matrix: pd.DataFrame, *, lang: str = "en", currency: str = "USD", money: bool = True
) -> str | None:
    """The R x F cell with the highest mean revenue, against the average customer; without
    money, the cell with the most customers."""
    if matrix.empty:
        return None
    t = lambda s: translate(s, lang)  # noqa: E731
    if not money:
        big = matrix.loc[matrix["customers"].idxmax()]
        return t("The most customers are scored R {r} and F {f}: {share} of customers.").format(
            r=int(big["r_score"]),
            f=int(big["f_score"]),
            share=fmt_share(big["customers"] / matrix["customers"].sum(), lang),
        )
    best = matrix.loc[matrix["mean_revenue"].idxmax()]
    overall = (matrix["mean_revenue"] * matrix["customers"]).sum() / matrix["customers"].sum()
    ratio = best["mean_revenue"] / overall if overall > 0 else np.nan
    return t(
        "Customers scored R {r} and F {f} spend {value} on average, {ratio:.1f}x the average "
        "customer ({overall})."
    ).format(
        r=int(best["r_score"]),
        f=int(best["f_score"]),
        value=fmt_money(best["mean_revenue"], currency, lang),
        ratio=ratio,
        overall=fmt_money(overall, currency, lang),
    )


def silhouette_figure(curve: pd.DataFrame, k: int, *, lang: str = "en") -> go.Figure:
    """Mean silhouette per k (higher = better separated), the k in use marked."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    fig.add_scatter(
        x=curve["k"],
        y=curve["silhouette"],
        mode="lines+markers",
        name=t("Silhouette"),
        line={"color": PALETTE[0], "width": 3},
    )
    used = curve[curve["k"] == k]
    if not used.empty:
        fig.add_scatter(
            x=used["k"],
            y=used["silhouette"],
            mode="markers",
            name=t("k in use"),
            marker={"size": 16, "color": PALETTE[1], "symbol": "star"},
        )
    fig.update_xaxes(title_text=t("Number of clusters (k)"), dtick=1)
    fig.update_yaxes(title_text=t("Mean silhouette (higher is better)"))
    return style(fig, "Choosing k: silhouette by number of clusters", lang=lang, height=360)


def silhouette_takeaway(curve: pd.DataFrame, k: int, best_k: int, *, lang: str = "en") -> str:
    t = lambda s: translate(s, lang)  # noqa: E731
    score = dict(zip(curve["k"], curve["silhouette"], strict=True))
    if k == best_k or k not in score:
        return t("k = {k} separates customers best (silhouette {s:.2f}).").format(
            k=best_k, s=score.get(best_k, float("nan"))
        )
    return t(
        "k = {k} was set by hand (silhouette {s:.2f}); k = {best} separates customers best "
        "({sb:.2f})."
    ).format(k=k, s=score[k], best=best_k, sb=score[best_k])


def _cluster_label(cluster: int, name: str, lang: str) -> str:
    return f"{cluster}: {translate(name, lang)}"


def cluster_scatter_figure(
    customers: pd.DataFrame,
    *,
    lang: str = "en",
    max_points: int = 20_000,
    seed: int = 0,
    money: bool = True,
) -> go.Figure:
    """WebGL scatter: days since last purchase vs revenue (log), one colour per cluster;
    without money, days since last purchase vs orders (log).

    At most ``max_points`` customers are drawn (a seeded random sample), so the browser stays
    fast on large datasets; the title says when a sample is shown.
    """
    t = lambda s: translate(s, lang)  # noqa: E731
    measure = "revenue" if money else "orders"
    label, axis = (("Revenue", "Revenue (log scale)") if money
                   else ("Orders", "Orders (log scale)"))  # fmt: skip
    # A log axis cannot show 0 or net refunds; every customer has at least one order.
    positive = customers[customers[measure] > 0] if money else customers
    shown = positive
    if len(positive) > max_points:
        shown = positive.sample(max_points, random_state=seed)
    y_format = "%{y:,.0f}" if money else "%{y}"
    fig = go.Figure()
    for i, ((cluster, name), part) in enumerate(shown.groupby(["cluster", "cluster_name"])):
        fig.add_trace(
            go.Scattergl(
                x=part["days_since_last"],
                y=part[measure],
                mode="markers",
                name=_cluster_label(cluster, name, lang),
                marker={"size": 5, "opacity": 0.55, "color": PALETTE[i % len(PALETTE)]},
                customdata=np.column_stack([part["customer_id"], part["orders"]]),
                hovertemplate=(
                    "%{customdata[0]}<br>" + t("Days since last purchase") + ": %{x}<br>"
                    + t(label) + ": " + y_format
                    + ("<br>" + t("Orders") + ": %{customdata[1]}" if money else "")
                    + "<extra></extra>"
                ),
            )
        )  # fmt: skip
    fig.update_xaxes(title_text=t("Days since last purchase"))
    fig.update_yaxes(title_text=t(axis), type="log")
    title = (t("Customer clusters: recency and revenue") if money
             else t("Customer clusters: recency and orders"))  # fmt: skip
    if len(shown) < len(positive):
        title += " · " + t("random sample of {n}").format(n=fmt_count(len(shown), lang))
    if len(positive) < len(customers):
        title += " · " + t("{n} without net revenue not shown").format(
            n=fmt_count(len(customers) - len(positive), lang)
        )
    return style(fig, title, lang=lang, height=480)


def cluster_takeaway(profile: pd.DataFrame, *, lang: str = "en", money: bool = True) -> str | None:
    """The cluster with the most revenue and the largest cluster, in numbers; without money,
    the largest cluster."""
    if profile.empty:
        return None
    t = lambda s: translate(s, lang)  # noqa: E731
    if not money:
        big = profile.loc[profile["customer_share"].idxmax()]
        return t(
            "The largest cluster, {label}, is {customers} of customers with {orders:.1f} orders "
            "each, last purchase {days:.0f} days ago on average."
        ).format(
            label=_cluster_label(big["cluster"], big["cluster_name"], lang),
            customers=fmt_share(big["customer_share"], lang),
            orders=big["frequency"],
            days=big["recency_days"],
        )
    top = profile.loc[profile["revenue_share"].idxmax()]
    text = t(
        "Cluster {label} is {customers} of customers and brings {revenue} of revenue "
        "({orders:.1f} orders each, last purchase {days:.0f} days ago on average)."
    ).format(
        label=_cluster_label(top["cluster"], top["cluster_name"], lang),
        customers=fmt_share(top["customer_share"], lang),
        revenue=fmt_share(top["revenue_share"], lang),
        orders=top["frequency"],
        days=top["recency_days"],
    )
    big = profile.loc[profile["customer_share"].idxmax()]
    if big["cluster"] != top["cluster"]:
        text += " " + t(
            "The largest, {label}, is {customers} of customers with {orders:.1f} orders each."
        ).format(
            label=_cluster_label(big["cluster"], big["cluster_name"], lang),
            customers=fmt_share(big["customer_share"], lang),
            orders=big["frequency"],
        )
    return text


def price_sensitivity_figure(ps: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Share of each segment's orders bought on discount; dashed line = all customers."""
    t = lambda s: translate(s, lang)  # noqa: E731
    seg = ps[ps["segment"] != "All customers"]
    overall = ps.loc[ps["segment"] == "All customers", "discounted_share"]
    fig = go.Figure()
    fig.add_bar(
        x=[t(s) for s in seg["segment"]],
        y=seg["discounted_share"] * 100,
        marker_color=[SEGMENT_COLORS.get(s, _OTHER_COLOR) for s in seg["segment"]],
        name=t("Orders on discount"),
        hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
    )
    if len(overall):
        fig.add_hline(
            y=float(overall.iloc[0]) * 100,
            line_dash="dash",
            line_color="#334155",
            annotation_text=t("All customers"),
        )
    fig.update_yaxes(title_text=t("% of orders with a discount"), ticksuffix="%")
    return style(fig, "Price sensitivity: orders bought on discount", lang=lang)


def price_sensitivity_takeaway(ps: pd.DataFrame, *, lang: str = "en") -> str | None:
    t = lambda s: translate(s, lang)  # noqa: E731
    seg = ps[(ps["segment"] != "All customers") & ps["discounted_share"].notna()]
    overall = ps[ps["segment"] == "All customers"]
    if seg.empty or overall.empty:
        return None
    top = seg.loc[seg["discounted_share"].idxmax()]
    low = seg.loc[seg["discounted_share"].idxmin()]
    text = t(
        "{segment} buy on discount most often: {share} of their orders (all customers "
        "{overall}); {low} least ({low_share})."
    ).format(
        segment=t(top["segment"]),
        share=fmt_share(top["discounted_share"], lang),
        overall=fmt_share(overall["discounted_share"].iloc[0], lang),
        low=t(low["segment"]),
        low_share=fmt_share(low["discounted_share"], lang),
    )
    ratio = overall["aov_ratio"].iloc[0]
    if pd.notna(ratio):
        text += " " + t("Discounted orders are {ratio:.2f}x the size of full-price ones.").format(
            ratio=ratio
        )
    return text


def migration_sankey_figure(flows: pd.DataFrame, *, start, end, lang: str = "en") -> go.Figure:
    """Sankey of customers from their segment at ``start`` (left) to ``end`` (right), segments
    in the fixed order of :data:`SEGMENT_COLORS` on both sides (new customers at the bottom)."""
    t = lambda s: translate(s, lang)  # noqa: E731
    order = {name: i for i, name in enumerate(SEGMENT_COLORS)}

    def side(column: str) -> tuple[list[str], list[float]]:
        sizes = flows.groupby(column)["customers"].sum()
        names = sorted(sizes.index, key=lambda s: (order.get(s, len(order)), s))
        total, pad = sizes.sum(), 0.02
        usable = 1 - pad * max(len(names) - 1, 0)
        ys, top = [], 0.0
        for name in names:  # node centres, stacked top to bottom
            height = usable * sizes[name] / total
            ys.append(min(max(top + height / 2, 0.001), 0.999))
            top += height + pad
        return names, ys

    left, left_y = side("from_segment")
    right, right_y = side("to_segment")
    nodes = left + right
    src = [left.index(s) for s in flows["from_segment"]]
    dst = [len(left) + right.index(s) for s in flows["to_segment"]]
    fig = go.Figure(
        go.Sankey(
            arrangement="fixed",
            node={
                "label": [t(s) for s in nodes],
                "color": [SEGMENT_COLORS.get(s, _OTHER_COLOR) for s in nodes],
                "x": [0.001] * len(left) + [0.999] * len(right),
                "y": left_y + right_y,
                "pad": 10,
                "thickness": 16,
            },
            link={
                "source": src,
                "target": dst,
                "value": flows["customers"].tolist(),
                "color": [_rgba(SEGMENT_COLORS.get(s, _OTHER_COLOR), 0.35)
                          for s in flows["from_segment"]],
            },
        )
    )  # fmt: skip
    title = t("Segment migration: {start} → {end}").format(start=start, end=end)
    return style(fig, title, lang=lang, height=max(480, 28 * max(len(left), len(right))))


def migration_takeaway(flows: pd.DataFrame, *, lang: str = "en") -> str | None:
    """Share of existing customers who kept their segment, and the largest move between two."""
    from clm_core.segments import NOT_YET

    t = lambda s: translate(s, lang)  # noqa: E731
    existing = flows[flows["from_segment"] != NOT_YET]
    if existing.empty:
        return None
    stayed = existing.loc[existing["from_segment"] == existing["to_segment"], "customers"].sum()
    text = t("{share} of existing customers kept their segment.").format(
        share=fmt_share(stayed / existing["customers"].sum(), lang)
    )
    moves = existing[existing["from_segment"] != existing["to_segment"]]
    if not moves.empty:
        top = moves.loc[moves["customers"].idxmax()]
        text += " " + t("The largest move: {a} → {b} ({n} customers).").format(
            a=t(top["from_segment"]), b=t(top["to_segment"]), n=fmt_count(top["customers"], lang)
        )
    new = flows.loc[flows["from_segment"] == NOT_YET, "customers"].sum()
    if new:
        text += " " + t("{n} customers are new since the start date.").format(
            n=fmt_count(new, lang)
        )
    return text


_PROFILE_LABELS = {
    "customer_id": "Customer",
    "rfm_score": "RFM score",
    "avg_order_value": "Average order value",
    "first_purchase": "First purchase",
    "last_purchase": "Last purchase",
    "days_since_last": "Days since last purchase",
    "segment": "Segment",
    "tier": "Tier",
    "cluster": "Cluster",
    "customers": "Customers",
    "customer_share": "% of customers",
    "revenue": "Revenue",
    "revenue_share": "% of revenue",
    "aov": "Average order value",
    "recency_days": "Days since last purchase (mean)",
    "frequency": "Orders per customer",
    "monetary": "Revenue per customer",
    "orders": "Orders",
    "discounted_share": "% of orders on discount",
    "aov_discounted": "AOV with discount",
    "aov_full_price": "AOV at full price",
    "aov_ratio": "Discounted / full-price AOV",
    "deal_seeker_share": "% deal seekers",
}


def profile_table(df: pd.DataFrame, *, lang: str = "en", money: bool = True) -> pd.DataFrame:
    """A frame for display (profiles, drill-down): segment/tier/cluster names translated, shares
    in %, floats rounded, headers translated; ``money=False`` leaves the money columns out
    (revenue, its shares, order value, tier)."""
    t = lambda s: translate(s, lang)  # noqa: E731
    out = df.copy() if money else drop_money(df).copy()
    if "cluster_name" in out.columns:
        out["cluster"] = [
            _cluster_label(c, n, lang)
            for c, n in zip(out["cluster"], out["cluster_name"], strict=True)
        ]
        out = out.drop(columns="cluster_name")
    for col in ("segment", "tier"):
        if col in out.columns:
            out[col] = [t(str(v)) for v in out[col]]
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
        elif col.endswith("_share"):
            out[col] = (out[col] * 100).round(1)
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(2)
    return out.rename(columns={c: t(_PROFILE_LABELS.get(c, c)) for c in out.columns})
