"""Churn figures and their one-line takeaways (computed from the same frames).

Figure builders take the frames of :mod:`clm_core.churn` and return a ``go.Figure``; each
``*_takeaway`` returns one plain sentence in the chosen language, or ``None`` when the data
cannot support one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.metrics import roc_curve

from clm_core.charts import PALETTE, color_for, style
from clm_core.churn import ALERTS, BASELINES, ChurnFit, alert_label
from clm_core.churn_features import FEATURES
from clm_core.formatting import fmt_count, fmt_money, fmt_share
from clm_core.i18n import translate

__all__ = [
    "alerts_figure",
    "alerts_table",
    "alerts_takeaway",
    "calibration_figure",
    "calibration_takeaway",
    "confusion_figure",
    "confusion_takeaway",
    "feature_label",
    "importance_figure",
    "importance_takeaway",
    "metrics_display",
    "metrics_takeaway",
    "risk_by_figure",
    "risk_by_takeaway",
    "risk_histogram",
    "risk_takeaway",
    "roc_figure",
]

_METHOD_COLORS = {
    "gradient_boosting": "#dc2626",
    "logistic_regression": "#2563eb",
    "recency_rule": "#64748b",
    "p_alive_rule": "#10b981",
}


def feature_label(feature: str, lang: str = "en") -> str:
    """A feature's description in words, e.g. 'days since the last purchase'."""
    return translate(FEATURES[feature][1], lang) if feature in FEATURES else feature


def risk_histogram(wl: pd.DataFrame, *, threshold: float = 0.5, lang: str = "en") -> go.Figure:
    """Customers per churn-probability band (5-point bands), alert threshold marked."""
    t = lambda s: translate(s, lang)  # noqa: E731
    p = wl["churn_probability"].to_numpy() * 100
    edges = np.arange(0, 105, 5)
    counts, _ = np.histogram(p, bins=edges)
    colors = ["#dc2626" if lo >= threshold * 100 - 1e-9 else "#94a3b8" for lo in edges[:-1]]
    fig = go.Figure(
        go.Bar(
            x=edges[:-1] + 2.5, y=counts, width=4.6, marker_color=colors,
            hovertemplate="%{x:.0f}% ± 2.5: %{y:,}<extra></extra>",
        )
    )  # fmt: skip
    fig.add_vline(x=threshold * 100, line_dash="dash", line_color="#dc2626")
    fig.update_xaxes(title_text=t("Churn probability (%)"), range=[0, 100], ticksuffix="%")
    fig.update_yaxes(title_text=t("Active customers"))
    return style(fig, "Churn risk of active customers", lang=lang, height=360)


def risk_takeaway(wl: pd.DataFrame, *, threshold: float = 0.5, currency: str = "USD",
                  lang: str = "en", money: bool = True) -> str | None:  # fmt: skip
    """Customers at or above the risk threshold and, with ``money``, their value at risk."""
    if wl.empty:
        return None
    high = wl["churn_probability"] >= threshold
    if not money:
        return translate(
            "{share} of active customers ({n}) have a churn risk of {thr} or more.", lang
        ).format(share=fmt_share(high.mean(), lang), n=fmt_count(high.sum(), lang),
                 thr=f"{threshold:.0%}")  # fmt: skip
    return translate(
        "{share} of active customers ({n}) have a churn risk of {thr} or more; together they "
        "hold {value} of value at risk.",
        lang,
    ).format(
        share=fmt_share(high.mean(), lang),
        n=fmt_count(high.sum(), lang),
        thr=f"{threshold:.0%}",
        value=fmt_money(wl.loc[high, "value_at_risk"].sum(), currency, lang),
    )


def risk_by_figure(table: pd.DataFrame, by: str, *, lang: str = "en") -> go.Figure:
    """Mean churn probability per group (bars), customers in the hover."""
    t = lambda s: translate(s, lang)  # noqa: E731
    names = [str(v) for v in table[by]]
    fig = go.Figure(
        go.Bar(
            y=[t(n) for n in names],
            x=table["mean_risk"] * 100,
            orientation="h",
            marker_color=[color_for(n, i) for i, n in enumerate(names)],
            customdata=table["customers"],
            hovertemplate="%{y}: %{x:.1f}% · %{customdata:,}<extra></extra>",
            text=[f"{v:.0%}" for v in table["mean_risk"]],
            textposition="outside",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=t("Average churn probability (%)"), ticksuffix="%")
    title = {"segment": "Churn risk by segment", "channel": "Churn risk by channel",
             "cohort": "Churn risk by first-purchase quarter", "tier": "Churn risk by tier",
             "owner": "Churn risk by owner", "stage": "Churn risk by lifecycle stage"}[by]  # fmt: skip
    return style(fig, title, lang=lang, height=max(320, 34 * len(table) + 140))


def risk_by_takeaway(table: pd.DataFrame, by: str, *, lang: str = "en") -> str | None:
    table = table[table["customers"] >= 20]
    if len(table) < 2:
        return None
    hi, lo = table.iloc[0], table.iloc[-1]
    return translate(
        "{hi} has the highest average churn risk ({p_hi}, {n_hi} customers), {lo} the lowest "
        "({p_lo}).",
        lang,
    ).format(
        hi=translate(str(hi[by]), lang),
        p_hi=f"{hi['mean_risk']:.0%}",
        n_hi=fmt_count(hi["customers"], lang),
        lo=translate(str(lo[by]), lang),
        p_lo=f"{lo['mean_risk']:.0%}",
    )


def importance_figure(imp: pd.DataFrame, *, top: int = 15, lang: str = "en") -> go.Figure:
    """Permutation importance: how much ROC AUC drops when a feature is shuffled."""
    t = lambda s: translate(s, lang)  # noqa: E731
    d = imp.head(top)
    fig = go.Figure(
        go.Bar(
            y=[feature_label(f, lang) for f in d["feature"]],
            x=d["importance"],
            error_x={"type": "data", "array": d["std"], "color": "#475569"},
            orientation="h",
            marker_color="#2563eb",
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=t("Drop in ROC AUC when shuffled (test cutoff)"))
    return style(fig, "What the model relies on", lang=lang, height=max(360, 28 * len(d) + 140))


def importance_takeaway(imp: pd.DataFrame, *, lang: str = "en") -> str | None:
    if imp.empty or not np.isfinite(imp["importance"].iloc[0]):
        return None
    top = imp.iloc[0]
    return translate(
        "The model leans most on {feature}: shuffling it lowers ROC AUC by {drop}.", lang
    ).format(feature=feature_label(top["feature"], lang), drop=f"{top['importance']:.3f}")


def metrics_display(table: pd.DataFrame, *, lang: str = "en") -> pd.DataFrame:
    """The metrics table with translated method names and headers, rounded."""
    t = lambda s: translate(s, lang)  # noqa: E731
    out = pd.DataFrame({t("Method"): [t(x) for x in table["label"]]})
    for col, name in (("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"),
                      ("top_decile_lift", "Top-decile lift"), ("precision", "Precision"),
                      ("recall", "Recall")):  # fmt: skip
        out[t(name)] = table[col].round(3)
    return out


def metrics_takeaway(table: pd.DataFrame, *, lang: str = "en") -> str | None:
    m = table.set_index("method")
    rules = m.drop(index=["gradient_boosting", "logistic_regression"], errors="ignore")
    if "gradient_boosting" not in m.index or rules.empty:
        return None
    best = rules["roc_auc"].idxmax()
    return translate(
        "Out of time, the model ranks churners with ROC AUC {auc} against {base} for the best "
        "rule ({rule}); its top 10% hold {lift}x the average churn rate.",
        lang,
    ).format(
        auc=f"{m.loc['gradient_boosting', 'roc_auc']:.3f}",
        base=f"{rules.loc[best, 'roc_auc']:.3f}",
        rule=translate(BASELINES[best], lang),
        lift=f"{m.loc['gradient_boosting', 'top_decile_lift']:.2f}",
    )


def roc_figure(fit: ChurnFit, *, lang: str = "en") -> go.Figure:
    """ROC curves of the model and every baseline on the test cutoff."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#cbd5e1"},
                    showlegend=False, hoverinfo="skip")  # fmt: skip
    y = fit.test["y"].to_numpy()
    for i, (col, label) in enumerate(BASELINES.items()):
        if col not in fit.test.columns or len(np.unique(y)) < 2:
            continue
        s = fit.test[col].to_numpy()
        ok = ~np.isnan(s)
        fpr, tpr, _ = roc_curve(y[ok], s[ok])
        fig.add_scatter(x=fpr, y=tpr, mode="lines", name=t(label),
                        line={"color": _METHOD_COLORS.get(col, PALETTE[i])})  # fmt: skip
    fig.update_xaxes(title_text=t("False positive rate"), range=[0, 1])
    fig.update_yaxes(title_text=t("True positive rate"), range=[0, 1.02])
    fig.update_layout(legend={"orientation": "v", "y": 0.05, "yanchor": "bottom",
                              "x": 0.98, "xanchor": "right"})  # fmt: skip
    return style(fig, "Model vs baselines (ROC, test cutoff)", lang=lang, height=420)


def calibration_figure(cal: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """Observed vs predicted churn rate per decile of predicted risk; diagonal = perfect."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    fig.add_scatter(x=[0, 100], y=[0, 100], mode="lines", name=t("Perfect calibration"),
                    line={"dash": "dot", "color": "#94a3b8"})  # fmt: skip
    fig.add_scatter(
        x=cal["predicted"] * 100, y=cal["observed"] * 100, mode="lines+markers",
        name=t("Gradient boosting"), line={"color": "#dc2626"},
        hovertemplate="%{x:.0f}% → %{y:.0f}%<extra></extra>",
    )  # fmt: skip
    fig.update_xaxes(title_text=t("Predicted churn probability (%)"), range=[0, 100])
    fig.update_yaxes(title_text=t("Observed churn rate (%)"), range=[0, 100])
    return style(fig, "Calibration on the test cutoff", lang=lang, height=400)


def calibration_takeaway(cal: pd.DataFrame, *, lang: str = "en") -> str | None:
    if cal.empty:
        return None
    gap = float((cal["observed"] - cal["predicted"]).abs().mean())
    return translate(
        "Across {n} risk bins, predicted and observed churn rates differ by {gap} points on "
        "average.",
        lang,
    ).format(n=len(cal), gap=f"{gap * 100:.1f}")


def confusion_figure(cm: pd.DataFrame, *, lang: str = "en") -> go.Figure:
    """2x2 counts at the chosen threshold (rows actual, columns predicted)."""
    t = lambda s: translate(s, lang)  # noqa: E731
    z = cm.to_numpy()
    fig = go.Figure(
        go.Heatmap(
            z=z, x=[t(c) for c in cm.columns], y=[t(r) for r in cm.index],
            colorscale="Blues", showscale=False,
            text=[[f"{v:,}" for v in row] for row in z], texttemplate="%{text}",
            textfont={"size": 18}, hovertemplate="%{y} / %{x}: %{z:,}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed", title_text=t("Actual"))
    fig.update_xaxes(title_text=t("Predicted"))
    return style(fig, "Confusion matrix at the threshold", lang=lang, height=340)


def confusion_takeaway(cm: pd.DataFrame, threshold: float, *, lang: str = "en") -> str | None:
    tp, fp = int(cm.iloc[1, 1]), int(cm.iloc[0, 1])
    fn = int(cm.iloc[1, 0])
    if tp + fp == 0 or tp + fn == 0:
        return None
    return translate(
        "At a {thr} threshold the model flags {flagged} customers; {precision} of them did churn "
        "and it catches {recall} of all churners.",
        lang,
    ).format(
        thr=f"{threshold:.0%}",
        flagged=fmt_count(tp + fp, lang),
        precision=f"{tp / (tp + fp):.0%}",
        recall=f"{tp / (tp + fn):.0%}",
    )


def alerts_figure(by_owner: pd.DataFrame, settings: dict, *, lang: str = "en") -> go.Figure:
    """Customers with each rule alert, per owner (grouped bars)."""
    t = lambda s: translate(s, lang)  # noqa: E731
    fig = go.Figure()
    owners = [str(o) for o in by_owner["owner"]]
    for i, alert in enumerate(a for a in ALERTS if a in by_owner.columns):
        fig.add_bar(x=owners, y=by_owner[alert], name=alert_label(alert, lang, **settings),
                    marker_color=PALETTE[i])  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text=t("Customers"))
    fig.update_xaxes(title_text=t("Owner"))
    return style(fig, "Rule alerts per owner", lang=lang, height=400)


def alerts_table(by_owner: pd.DataFrame, settings: dict, *, lang: str = "en") -> pd.DataFrame:
    """Alerts per owner with the alert names in words as headers."""
    names = {a: alert_label(a, lang, **settings) for a in [*ALERTS, "any"]}
    names["owner"] = translate("Owner", lang)
    return by_owner.rename(columns=names)


def alerts_takeaway(
    counts: pd.DataFrame, by_owner: pd.DataFrame, *, lang: str = "en"
) -> str | None:
    if by_owner.empty:
        return None
    any_n = int(counts.set_index("alert").loc["any", "customers"])
    top = by_owner.iloc[0]
    return translate(
        "{n} active customers trigger at least one alert; {owner} has the most ({k}).", lang
    ).format(n=fmt_count(any_n, lang), owner=str(top["owner"]), k=fmt_count(top["any"], lang))
