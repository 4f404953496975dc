"""Campaign A/B tests: conversion, uplift, revenue, ROI, sample ratio, next-test sizing, after-effects.

Every statistic wraps scipy / statsmodels; nothing is re-implemented:

- conversion rate per variant with a Wilson interval (``proportion_confint(method="wilson")``);
- treatment vs control: two-proportion z-test with pooled variance (``proportions_ztest``), the
  absolute uplift's interval by Newcombe's hybrid score method (``confint_proportions_2indep(
  method="newcomb")``, consistent with the Wilson intervals) and the relative uplift's by the
  log ratio (``method="log"``);
- more than two variants: an omnibus chi-square test on the variant x converted table
  (``chi2_contingency``, no continuity correction), Holm-adjusted p-values for the pairwise tests
  against control (``multipletests(method="holm")``) and Bonferroni-widened intervals
  (1 - alpha / m, m = number of treatments) so an interval that excludes 0 is significant after
  adjustment;
- revenue per customer: Welch t interval for each mean and for the difference
  (``ttest_ind(equal_var=False)``);
- sample ratio mismatch: chi-square goodness of fit against the intended split (``chisquare``),
  flagged below p = 0.001 (the usual SRM threshold, Kohavi et al. 2020);
- next test: sample size and minimum detectable effect from Cohen's h (``proportion_effectsize``,
  ``NormalIndPower``).

Money: incremental revenue = n_treatment x (revenue per customer in treatment - in control); ROI =
(incremental revenue x margin - cost of the treatment variant) / cost of the treatment variant.
When a campaign has no ``converted`` (or ``revenue``) values, they are attributed from purchases in
``transactions`` within ``window_days`` of ``sent_ts``; the result says which source was used.
Customers assigned to more than one variant of a campaign are excluded and counted.

Transactions without amounts (``clm_core.store.has_amounts`` false: a purchase log) attribute
conversions (every line is a purchase) but no revenue: without revenue in the campaigns table
the revenue source is "none" and every figure of revenue or ROI is empty (NaN), never 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from clm_core.amounts import purchase_sql
from clm_core.config import PERIOD_DAYS
from clm_core.errors import ClmError, NotEnoughData, UsageError, first_line
from clm_core.formatting import fmt_money
from clm_core.i18n import translate
from clm_core.store import has_amounts, has_table, query_df, require_table

__all__ = [
    "CHANNEL_COLUMNS",
    "COMPARISON_COLUMNS",
    "CONTROL_NAMES",
    "PLAN_COLUMNS",
    "VARIANT_COLUMNS",
    "SRM_THRESHOLD",
    "CampaignResult",
    "SampleSize",
    "ValueEffect",
    "analyze_campaign",
    "campaign_customers",
    "campaign_names",
    "campaign_overview",
    "campaign_variants",
    "labelled",
    "channel_efficacy",
    "channel_takeaway",
    "conversion_takeaway",
    "detect_control",
    "display_variant",
    "minimum_detectable_effect",
    "parse_split",
    "retention_curves",
    "retention_takeaway",
    "revenue_takeaway",
    "sample_size",
    "sample_size_curve",
    "sample_size_takeaway",
    "srm_takeaway",
    "value_effect",
    "value_takeaway",
    "verdict",
    "verdicts",
]

# Variant names recognised as the control group (compared lower-cased and stripped).
CONTROL_NAMES = (
    "control",
    "ctrl",
    "holdout",
    "hold-out",
    "control group",
    "对照",
    "对照组",
    "空白组",
)
SRM_THRESHOLD = 0.001
FEATURE = "campaign analysis"
_MONTH_DAYS = PERIOD_DAYS["M"]

# One row per customer of a campaign. When a customer has several rows the sends are combined
# (_GROUPED_SQL), and customers assigned to more than one variant are left out; when every
# customer has one row (the usual case) _ROWS_SQL reads them as they are, without a costly
# group-by on customer_id. {columns} is one of the constant lists below, never a value.
_GROUPED_SQL = """
with per as (
    select customer_id,
           variant,
           min(sent_ts) as sent_ts,
           min(channel) as channel,
           sum(coalesce(cost, 0)) as cost,
           max(case when converted then 1 else 0 end) as converted,
           sum(coalesce(revenue, 0)) as revenue,
           count(*) over (partition by customer_id) as n_variants
    from campaigns
    where campaign = $campaign and customer_id is not null and variant is not null
    group by customer_id, variant
)
select {columns} from per where n_variants = 1
"""
_ROWS_SQL = """
select {columns}
from (
    select customer_id, variant, sent_ts, channel,
           coalesce(cost, 0) as cost,
           case when converted then 1 else 0 end as converted,
           coalesce(revenue, 0) as revenue
    from campaigns
    where campaign = $campaign and customer_id is not null and variant is not null
) rows_
"""
_WITH_IDS = "customer_id, variant, sent_ts, channel, cost, converted, revenue"
_WITHOUT_IDS = "variant, sent_ts, channel, cost, converted, revenue"

# What the campaign's rows hold: known outcomes decide whether attribution is needed.
_KNOWN_SQL = """
select count(*) as n_rows,
       count(distinct customer_id) as customers,
       count(converted) as converted_known,
       count(revenue) as revenue_known,
       count(sent_ts) as sent_known
from campaigns
where campaign = $campaign and customer_id is not null and variant is not null
"""
_CROSSED_SQL = """
select count(*) from (
    select customer_id from campaigns
    where campaign = $campaign and customer_id is not null and variant is not null
    group by customer_id having count(distinct variant) > 1
) crossed
"""

# Purchases within $window days after the (first) send: the attribution fallback. A purchase
# has an amount above 0, or any amount in a log without amounts ($amounts false).
_ATTRIBUTION_SQL = f"""
with c as (
    select customer_id, min(sent_ts) as sent_ts
    from campaigns
    where campaign = $campaign and customer_id is not null and sent_ts is not null
    group by customer_id
)
select c.customer_id,
       count(t.customer_id) as orders,
       coalesce(sum(t.amount), 0) as revenue
from c left join transactions t
  on t.customer_id = c.customer_id
 and {purchase_sql("t.amount")}
 and t.order_ts >= c.sent_ts
 and t.order_ts < c.sent_ts + $window * interval '1 day'
group by c.customer_id
"""

# Last purchase on or after the send, for the post-campaign survival curves.
# Months (of $month_days days, counted from the send) in which each customer bought.
_MONTHS_AFTER_SQL = f"""
with c as (
    select customer_id, min(sent_ts) as sent_ts
    from campaigns
    where campaign = $campaign and customer_id is not null and sent_ts is not null
    group by customer_id
)
select distinct c.customer_id,
       cast(floor(date_diff('second', c.sent_ts, t.order_ts) / ($month_days * 86400.0)) as integer)
           as month
from c join transactions t
  on t.customer_id = c.customer_id and {purchase_sql("t.amount")} and t.order_ts >= c.sent_ts
"""

_OVERVIEW_SQL = """
select campaign,
       count(distinct variant) as variants,
       count(distinct customer_id) as customers,
       min(sent_ts) as first_sent,
       max(sent_ts) as last_sent,
       avg(case when converted then 1.0 when converted is null then null else 0.0 end)
           as conversion_rate,
       sum(coalesce(cost, 0)) as cost,
       sum(coalesce(revenue, 0)) as revenue
from campaigns
where campaign is not null
group by campaign
order by min(sent_ts) desc nulls last, campaign
"""


# ----------------------------------------------------------------------------- data access


def campaign_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Campaign names, most recently sent first."""
    require_table(con, "campaigns", FEATURE)
    return query_df(con, _OVERVIEW_SQL)["campaign"].tolist()


def campaign_overview(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per campaign: variants, customers, send dates, raw conversion rate, cost, revenue."""
    require_table(con, "campaigns", FEATURE)
    df = query_df(con, _OVERVIEW_SQL)
    df["variants"] = df["variants"].astype("int64")
    df["customers"] = df["customers"].astype("int64")
    return df


def campaign_variants(con: duckdb.DuckDBPyConnection, *, campaign: str) -> list[str]:
    """The variants of a campaign: the detected control first, then the others by name."""
    require_table(con, "campaigns", FEATURE)
    rows = con.execute(
        "select distinct variant from campaigns where campaign = $campaign and variant is not null",
        {"campaign": campaign},
    ).fetchall()
    names = sorted(str(r[0]) for r in rows)
    ctrl = detect_control(names)
    return ([ctrl] if ctrl else []) + [v for v in names if v != ctrl]


def _as_of(con: duckdb.DuckDBPyConnection, as_of) -> pd.Timestamp:
    if as_of is not None:
        return pd.Timestamp(as_of)
    row = con.execute("select max(order_ts) from transactions").fetchone()
    if row is None or row[0] is None:
        raise NotEnoughData("The transactions table is empty.")
    return pd.Timestamp(row[0])


@dataclass(frozen=True)
class _Customers:
    frame: pd.DataFrame
    conversion_source: str
    revenue_source: str
    excluded: int


def _load_customers(con, campaign: str, window_days: int, *, with_ids: bool = True) -> _Customers:
    require_table(con, "campaigns", FEATURE)
    known = query_df(con, _KNOWN_SQL, {"campaign": campaign}).iloc[0]
    if int(known["n_rows"]) == 0:
        names = campaign_names(con)
        raise UsageError(
            f"No campaign named {campaign!r}. Campaigns in this dataset: "
            + (", ".join(names[:20]) or "none")
        )
    conversion_source = revenue_source = "campaigns"
    amounts = has_table(con, "transactions") and has_amounts(con)
    need_conv = int(known["converted_known"]) == 0
    need_rev = int(known["revenue_known"]) == 0
    attribute = (
        (need_conv or need_rev) and has_table(con, "transactions") and int(known["sent_known"]) > 0
    )
    if need_conv and not attribute:
        raise NotEnoughData(
            f"Campaign {campaign!r} has no 'converted' values and there are no transactions "
            "after its send dates to attribute conversions from."
        )
    columns = _WITH_IDS if (with_ids or attribute) else _WITHOUT_IDS
    crossed = 0
    if int(known["customers"]) < int(known["n_rows"]):
        crossed = int(con.execute(_CROSSED_SQL, {"campaign": campaign}).fetchone()[0])
        sql = _GROUPED_SQL
    else:
        sql = _ROWS_SQL
    df = query_df(con, sql.format(columns=columns), {"campaign": campaign})
    if attribute:
        att = query_df(
            con,
            _ATTRIBUTION_SQL,
            {"campaign": campaign, "window": window_days, "amounts": amounts},
        )
        att = att.rename(columns={"orders": "att_orders", "revenue": "att_revenue"})
        df = df.merge(att, on="customer_id", how="left")
        if need_conv:
            df["converted"] = (df["att_orders"].fillna(0) > 0).astype("int64")
            conversion_source = "transactions"
        if need_rev and amounts:
            df["revenue"] = df["att_revenue"].fillna(0.0)
            revenue_source = "transactions"
        elif need_rev:  # a purchase log has no money to attribute
            revenue_source = "none"
        df = df.drop(columns=["att_orders", "att_revenue"])
    elif need_rev:
        revenue_source = "none"
    if not with_ids and "customer_id" in df:
        df = df.drop(columns="customer_id")
    df = df.astype({"converted": "int64", "cost": "float64", "revenue": "float64"})
    return _Customers(df.reset_index(drop=True), conversion_source, revenue_source, crossed)


def campaign_customers(
    con: duckdb.DuckDBPyConnection, *, campaign: str, window_days: int = 30
) -> pd.DataFrame:
    """One row per customer of a campaign: variant, sent_ts, channel, cost, converted (0/1), revenue."""
    return _load_customers(con, campaign, window_days).frame


# Column labels for the tables shown on the page (machine names stay in the downloads).
VARIANT_COLUMNS = {
    "variant": "Variant",
    "customers": "Customers",
    "conversions": "Conversions",
    "rate": "Conversion rate (%)",
    "ci_low": "95% CI low (%)",
    "ci_high": "95% CI high (%)",
    "revenue_per_customer": "Revenue per customer",
    "cost": "Cost",
    "channel": "Channel",
}
COMPARISON_COLUMNS = {
    "variant": "Variant",
    "uplift_abs": "Uplift (pts)",
    "uplift_ci_low": "CI low (pts)",
    "uplift_ci_high": "CI high (pts)",
    "uplift_rel": "Relative uplift (%)",
    "p_value": "p-value",
    "rpc_diff": "Revenue per customer vs control",
    "incremental_revenue": "Incremental revenue",
    "cost": "Cost",
    "roi": "ROI (%)",
}
CHANNEL_COLUMNS = {
    "channel": "Channel",
    "contacts": "Contacts",
    "responses": "Responses",
    "response_rate": "Response rate (%)",
    "cost_per_response": "Cost per response",
    "revenue_per_contact": "Revenue per contact",
    "roi": "ROI (%)",
}
PLAN_COLUMNS = {
    "customer_id": "Customer",
    "churn_probability": "Churn probability (%)",
    "clv": "CLV",
    "intervention": "Intervention",
    "cost": "Cost",
    "expected_saved_value": "Expected saved value",
    "expected_net_value": "Expected net value",
    "roi": "ROI (%)",
}
_PERCENT = {
    "rate", "ci_low", "ci_high", "uplift_abs", "uplift_ci_low", "uplift_ci_high", "uplift_rel",
    "response_rate", "roi", "churn_probability",
}  # fmt: skip


def labelled(df: pd.DataFrame, columns: dict[str, str], lang: str = "en") -> pd.DataFrame:
    """The chosen columns with translated headers; shares shown x100 (percent or points)."""
    out = df[[c for c in columns if c in df.columns]].copy()
    for c in out.columns:
        if c in _PERCENT:
            out[c] = (out[c].astype(float) * 100).round(2)
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(4 if c == "p_value" else 2)
        elif c == "intervention":
            out[c] = out[c].map(lambda v: translate(str(v), lang))
    return out.rename(columns={c: translate(columns[c], lang) for c in out.columns})


# ----------------------------------------------------------------------------- control / names


def detect_control(variants, control: str | None = None) -> str | None:
    """The control variant: ``control`` if given (must exist), else a recognised name, else None.

    Exact names from :data:`CONTROL_NAMES` win; then a name containing "control" or "对照".
    """
    variants = [str(v) for v in variants]
    if control is not None:
        if control not in variants:
            raise UsageError(
                f"Control {control!r} is not a variant; variants: {', '.join(variants)}"
            )
        return control
    for v in variants:
        if v.strip().lower() in CONTROL_NAMES:
            return v
    for v in variants:
        low = v.lower()
        if "control" in low or "对照" in v or "holdout" in low:
            return v
    return None


def display_variant(name: str) -> str:
    """``treatment_b`` -> ``Treatment B``: a variant name fit for a sentence."""
    words = re.sub(r"[_\-]+", " ", str(name)).split()
    return " ".join(w[:1].upper() + w[1:] for w in words) if words else str(name)


def parse_split(text: str | None, variants) -> tuple[float, ...] | None:
    """``"50:25:25"`` -> weights in variant order; empty or "equal" -> None (equal split)."""
    if text is None or not str(text).strip() or str(text).strip().lower() in ("equal", "均分"):
        return None
    parts = [p for p in re.split(r"[:/,\s]+", str(text).strip()) if p]
    try:
        weights = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"Intended split {text!r} must be numbers such as 50:50.") from None
    if len(weights) != len(list(variants)) or any(w <= 0 for w in weights):
        raise UsageError(
            f"Intended split {text!r} needs one positive number per variant ({len(list(variants))})."
        )
    return weights


# ----------------------------------------------------------------------------- analysis


@dataclass(frozen=True)
class CampaignResult:
    """Everything known about one campaign test. Rates are proportions (0.081), not percent."""

    campaign: str
    control: str
    variants: pd.DataFrame
    comparisons: pd.DataFrame
    best: str | None
    chi2_p_value: float
    srm_p_value: float
    srm_expected: tuple[float, ...]
    margin: float
    alpha: float
    conversion_source: str
    revenue_source: str
    excluded_customers: int
    notes: tuple[str, ...] = field(default=())

    @property
    def srm_mismatch(self) -> bool:
        return bool(self.srm_p_value < SRM_THRESHOLD)

    @property
    def best_comparison(self) -> pd.Series | None:
        if self.best is None:
            return None
        return self.comparisons.set_index("variant").loc[self.best]

    def to_json(self) -> dict:
        """The ``python -m clm_core ab --json`` object; top-level uplift is the best treatment's."""
        best = self.best_comparison
        return {
            "campaign": self.campaign,
            "variants": [
                {
                    "variant": r.variant,
                    "customers": int(r.customers),
                    "conversions": int(r.conversions),
                    "rate": _num(r.rate),
                    "ci_low": _num(r.ci_low),
                    "ci_high": _num(r.ci_high),
                    "revenue_per_customer": _num(r.revenue_per_customer),
                }
                for r in self.variants.itertuples()
            ],
            "control": self.control,
            "uplift_abs": _num(best["uplift_abs"]) if best is not None else None,
            "uplift_ci": [_num(best["uplift_ci_low"]), _num(best["uplift_ci_high"])]
            if best is not None
            else [None, None],
            "p_value": _num(best["p_value"]) if best is not None else None,
            "roi": _num(best["roi"]) if best is not None else None,
            "srm_p_value": _num(self.srm_p_value),
        }


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _mean_ci(x: np.ndarray, alpha: float) -> tuple[float, float]:
    """Student t interval of a mean; a constant sample has a zero-width interval."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return (math.nan, math.nan)
    if len(x) < 2 or np.ptp(x) == 0:
        return (float(x.mean()), float(x.mean()))
    ci = stats.ttest_1samp(x, 0.0).confidence_interval(confidence_level=1 - alpha)
    return (float(ci.low), float(ci.high))


def _welch(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """Welch difference of means x - y: (ci_low, ci_high, p_value)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    diff = float(x.mean() - y.mean()) if len(x) and len(y) else math.nan
    if len(x) < 2 or len(y) < 2:
        return (math.nan, math.nan, math.nan)
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return (diff, diff, 1.0 if diff == 0 else 0.0)
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    return (float(ci.low), float(ci.high), float(res.pvalue))


def _by_variant(df: pd.DataFrame, column: str) -> dict[str, np.ndarray]:
    return {str(v): g.to_numpy(dtype=float) for v, g in df.groupby("variant")[column]}


def _mode(values: pd.Series):
    values = values.dropna()
    return values.mode().iloc[0] if len(values) else None


def _variant_table(df: pd.DataFrame, order: list[str], alpha: float) -> pd.DataFrame:
    g = df.groupby("variant", sort=False)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "conversions": g["converted"].sum(),
            "revenue": g["revenue"].sum(),
            "cost": g["cost"].sum(),
        }
    ).reindex(order)
    out.index.name = "variant"
    out = out.reset_index()
    out["customers"] = out["customers"].astype("int64")
    out["conversions"] = out["conversions"].astype("int64")
    out["rate"] = out["conversions"] / out["customers"]
    low, high = proportion_confint(out["conversions"], out["customers"], alpha, method="wilson")
    out["ci_low"], out["ci_high"] = np.asarray(low, float), np.asarray(high, float)
    out["revenue_per_customer"] = out["revenue"] / out["customers"]
    revenue = _by_variant(df, "revenue")
    cis = [_mean_ci(revenue[v], alpha) for v in order]
    out["rpc_ci_low"] = [c[0] for c in cis]
    out["rpc_ci_high"] = [c[1] for c in cis]
    out["cost_per_customer"] = out["cost"] / out["customers"]
    # The channel most customers of the variant were contacted through (None for a hold-out).
    channel = df.groupby("variant")["channel"].agg(_mode)
    out["channel"] = [channel.get(v) for v in order]
    return out


def _compare(
    df: pd.DataFrame,
    table: pd.DataFrame,
    control: str,
    margin: float,
    alpha: float,
) -> pd.DataFrame:
    ctrl = table.set_index("variant").loc[control]
    treatments = [v for v in table["variant"] if v != control]
    m = len(treatments)
    ci_alpha = alpha / m if m > 1 else alpha
    revenue = _by_variant(df, "revenue")
    x_c = revenue[control]
    rows = []
    for v in treatments:
        tr = table.set_index("variant").loc[v]
        n1, k1, n0, k0 = (
            int(tr.customers),
            int(tr.conversions),
            int(ctrl.customers),
            int(ctrl.conversions),
        )
        if k1 + k0 == 0 or k1 + k0 == n1 + n0:
            z, p = 0.0, 1.0  # no variation at all: nothing to test
        else:
            z, p = proportions_ztest([k1, k0], [n1, n0], alternative="two-sided")
        lo, hi = confint_proportions_2indep(
            k1, n1, k0, n0, method="newcomb", compare="diff", alpha=ci_alpha
        )
        if k0 > 0 and k1 > 0:
            rlo, rhi = confint_proportions_2indep(
                k1, n1, k0, n0, method="log", compare="ratio", alpha=ci_alpha
            )
            rel, rel_lo, rel_hi = (k1 / n1) / (k0 / n0) - 1, rlo - 1, rhi - 1
        else:
            rel = rel_lo = rel_hi = math.nan
        x_t = revenue[v]
        d_lo, d_hi, d_p = _welch(x_t, x_c, ci_alpha)
        rpc_diff = float(tr.revenue_per_customer - ctrl.revenue_per_customer)
        cost = float(tr.cost)
        inc = rpc_diff * n1
        roi = (inc * margin - cost) / cost if cost > 0 else math.nan
        rows.append(
            {
                "variant": v,
                "control": control,
                "customers": n1,
                "rate": k1 / n1,
                "control_rate": k0 / n0,
                "uplift_abs": k1 / n1 - k0 / n0,
                "uplift_ci_low": float(lo),
                "uplift_ci_high": float(hi),
                "uplift_rel": rel,
                "uplift_rel_ci_low": rel_lo,
                "uplift_rel_ci_high": rel_hi,
                "z_stat": float(z),
                "p_value_raw": float(p),
                "rpc": float(tr.revenue_per_customer),
                "control_rpc": float(ctrl.revenue_per_customer),
                "rpc_diff": rpc_diff,
                "rpc_diff_ci_low": d_lo,
                "rpc_diff_ci_high": d_hi,
                "rpc_p_value": d_p,
                "incremental_revenue": inc,
                "incremental_revenue_ci_low": d_lo * n1,
                "incremental_revenue_ci_high": d_hi * n1,
                "cost": cost,
                "incremental_margin": inc * margin,
                "roi": roi,
                "roi_ci_low": (d_lo * n1 * margin - cost) / cost if cost > 0 else math.nan,
                "roi_ci_high": (d_hi * n1 * margin - cost) / cost if cost > 0 else math.nan,
            }
        )
    out = pd.DataFrame(rows)
    if m > 1:
        out["p_value"] = multipletests(out["p_value_raw"], alpha=alpha, method="holm")[1]
    else:
        out["p_value"] = out["p_value_raw"]
    out["significant"] = out["p_value"] < alpha
    out["ci_level"] = 1 - ci_alpha
    return out


# The figures of revenue (and of ROI, which needs it) in the variant and comparison tables.
_VARIANT_REVENUE = ("revenue", "revenue_per_customer", "rpc_ci_low", "rpc_ci_high")
_COMPARISON_REVENUE = (
    "rpc", "control_rpc", "rpc_diff", "rpc_diff_ci_low", "rpc_diff_ci_high", "rpc_p_value",
    "incremental_revenue", "incremental_revenue_ci_low", "incremental_revenue_ci_high",
    "incremental_margin", "roi", "roi_ci_low", "roi_ci_high",
)  # fmt: skip


def analyze_campaign(
    con: duckdb.DuckDBPyConnection,
    *,
    campaign: str,
    control: str | None = None,
    margin: float = 0.4,
    alpha: float = 0.05,
    window_days: int = 30,
    split: tuple[float, ...] | None = None,
) -> CampaignResult:
    """Analyse one campaign test; ``control`` overrides the detected control variant.

    ``margin`` is the profit margin on incremental revenue (0..1); ``split`` the intended share
    of each variant in variant order (control first, then treatments by name), default equal.
    """
    if not 0 <= margin <= 1:
        raise UsageError(f"Margin must be between 0 and 1, not {margin}.")
    if not 0 < alpha < 1:
        raise UsageError(f"Significance level must be between 0 and 1, not {alpha}.")
    data = _load_customers(con, campaign, window_days, with_ids=False)
    df = data.frame
    names = sorted(df["variant"].unique().tolist())
    ctrl = detect_control(names, control)
    if ctrl is None:
        raise UsageError(
            f"No control variant found in campaign {campaign!r} (variants: {', '.join(names)}); "
            "choose which variant is the control."
        )
    if len(names) < 2:
        raise NotEnoughData(
            f"Campaign {campaign!r} has only the variant {names[0]!r}: a test needs a control "
            "and at least one treatment."
        )
    order = [ctrl] + [v for v in names if v != ctrl]
    table = _variant_table(df, order, alpha)
    table["is_control"] = table["variant"] == ctrl
    comps = _compare(df, table, ctrl, margin, alpha)
    if data.revenue_source == "none":  # no revenue known: its figures are empty, not 0
        table[list(_VARIANT_REVENUE)] = np.nan
        comps[list(_COMPARISON_REVENUE)] = np.nan

    contingency = np.column_stack([table["conversions"], table["customers"] - table["conversions"]])
    if (contingency.sum(axis=0) > 0).all():
        chi2_p = float(stats.chi2_contingency(contingency, correction=False).pvalue)
    else:
        chi2_p = 1.0

    weights = np.ones(len(order)) if split is None else np.asarray(split, dtype=float)
    if len(weights) != len(order):
        raise UsageError(f"Intended split needs one weight per variant ({len(order)}).")
    expected = table["customers"].sum() * weights / weights.sum()
    srm_p = float(stats.chisquare(table["customers"].to_numpy(float), expected).pvalue)

    best = comps.sort_values(["rate", "variant"], ascending=[False, True])["variant"].iloc[0]
    notes = []
    if data.excluded:
        notes.append(f"{data.excluded} customers were in more than one variant and are excluded.")
    return CampaignResult(
        campaign=campaign,
        control=ctrl,
        variants=table,
        comparisons=comps,
        best=str(best),
        chi2_p_value=chi2_p,
        srm_p_value=srm_p,
        srm_expected=tuple(float(e) for e in expected),
        margin=float(margin),
        alpha=float(alpha),
        conversion_source=data.conversion_source,
        revenue_source=data.revenue_source,
        excluded_customers=data.excluded,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------- verdict & takeaways


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def _metric_word(campaign: str) -> str:
    low = campaign.lower().replace("-", "").replace("_", "")
    return "win-back" if ("winback" in low or "挽回" in campaign) else "conversion"


def _roi_text(roi: float, lang: str, revenue: bool = True) -> str:
    if not revenue:
        return translate("ROI n/a (no revenue recorded)", lang)
    if roi is None or math.isnan(roi):
        return translate("ROI n/a (no cost recorded)", lang)
    return translate("ROI {roi}", lang).format(roi=f"{roi * 100:,.0f}%")


def _sentence(result: CampaignResult, variant: str, lang: str) -> str:
    b = result.comparisons.set_index("variant").loc[variant]
    vals = {
        "treatment": display_variant(variant),
        "control": display_variant(result.control),
        "metric": translate(_metric_word(result.campaign), lang),
        "before": f"{b['control_rate'] * 100:.1f}%",
        "after": f"{b['rate'] * 100:.1f}%",
        "diff": f"{b['uplift_abs'] * 100:+.1f}",
        "low": f"{b['uplift_ci_low'] * 100:.1f}",
        "high": f"{b['uplift_ci_high'] * 100:.1f}",
        "p": _p(b["p_value"]),
        "roi": _roi_text(b["roi"], lang, revenue=result.revenue_source != "none"),
    }
    if b["significant"] and b["uplift_abs"] > 0:
        text = "{treatment} lifted {metric} from {before} to {after}, {diff} pts [{low}, {high}], {p}; {roi}"
    elif b["significant"]:
        text = "{treatment} lowered {metric} from {before} to {after}, {diff} pts [{low}, {high}], {p}; {roi}"
    else:
        text = (
            "No significant difference: {treatment} converted {after} vs {before} for "
            "{control}, {diff} pts [{low}, {high}], {p}; {roi}"
        )
    return translate(text, lang).format(**vals)


def _end(lang: str) -> str:
    return "。" if lang == "zh" else "."


def verdict(result: CampaignResult, lang: str = "en") -> str:
    """One plain sentence on the best treatment (highest conversion) vs control, with its
    interval, p-value and ROI; a sample-ratio-mismatch warning is appended when there is one."""
    out = _sentence(result, result.best, lang)
    if len(result.comparisons) > 1:
        out += translate(
            " (best of {n} treatments; p Holm-adjusted, interval at {level})", lang
        ).format(
            n=len(result.comparisons),
            level=f"{result.comparisons['ci_level'].iloc[0] * 100:.1f}%",
        )
    if result.srm_mismatch:
        out += translate(
            ". Warning: sample ratio mismatch ({p}): the groups are not split as intended, "
            "so the comparison may be biased",
            lang,
        ).format(p=_p(result.srm_p_value))
    return out + _end(lang)


def verdicts(result: CampaignResult, lang: str = "en") -> list[str]:
    """One sentence per treatment vs control, best (highest conversion) first."""
    order = result.comparisons.sort_values(["rate", "variant"], ascending=[False, True])
    return [_sentence(result, v, lang) + _end(lang) for v in order["variant"]]


def srm_takeaway(result: CampaignResult, lang: str = "en") -> str:
    """Whether the variants got the intended number of customers (chi-square goodness of fit)."""
    if not result.srm_mismatch:
        return translate(
            "The split matches the plan (chi-square {p}): no sign of an assignment problem.", lang
        ).format(p=_p(result.srm_p_value))
    gap = result.variants["customers"].to_numpy() - np.asarray(result.srm_expected)
    i = int(np.abs(gap).argmax())
    return translate(
        "Sample ratio mismatch ({p}): {variant} has {n} customers where {expected} were "
        "intended. Check how customers were assigned before trusting the result.",
        lang,
    ).format(
        p=_p(result.srm_p_value),
        variant=display_variant(result.variants["variant"].iloc[i]),
        n=f"{int(result.variants['customers'].iloc[i]):,}",
        expected=f"{result.srm_expected[i]:,.0f}",
    )


def conversion_takeaway(result: CampaignResult, lang: str = "en") -> str:
    v = result.variants
    top = v.sort_values("rate", ascending=False).iloc[0]
    low = v.sort_values("rate").iloc[0]
    return translate(
        "{top} converted best at {top_rate}; {low} lowest at {low_rate}.", lang
    ).format(
        top=display_variant(top.variant),
        top_rate=f"{top.rate * 100:.1f}%",
        low=display_variant(low.variant),
        low_rate=f"{low.rate * 100:.1f}%",
    )


def revenue_takeaway(result: CampaignResult, currency: str = "USD", lang: str = "en") -> str:
    b = result.best_comparison
    if result.revenue_source == "none":
        return translate("No revenue was recorded for this campaign.", lang)
    key = (
        "{treatment} brought {diff} more revenue per customer than {control} "
        "[{low}, {high}]: {total} incremental revenue."
        if b["rpc_diff"] >= 0
        else "{treatment} brought {diff} less revenue per customer than {control} "
        "[{low}, {high}]: {total} incremental revenue."
    )
    return translate(key, lang).format(
        treatment=display_variant(result.best),
        control=display_variant(result.control),
        diff=fmt_money(abs(b["rpc_diff"]), currency, lang),
        low=fmt_money(b["rpc_diff_ci_low"], currency, lang),
        high=fmt_money(b["rpc_diff_ci_high"], currency, lang),
        total=fmt_money(b["incremental_revenue"], currency, lang),
    )


# ----------------------------------------------------------------------------- sample size


@dataclass(frozen=True)
class SampleSize:
    """Customers needed per group to detect ``mde`` (absolute) over ``baseline``."""

    baseline: float
    mde: float
    alpha: float
    power: float
    treatments: int
    n_control: int
    n_treatment: int
    total: int
    effect_size: float


def _check_rate(name: str, p: float) -> None:
    if not 0 < p < 1:
        raise UsageError(f"{name} must be a rate strictly between 0 and 1, not {p}.")


def sample_size(
    baseline: float,
    mde: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    treatments: int = 1,
) -> SampleSize:
    """Per-group size for a two-sided two-proportion test (Cohen's h, normal approximation).

    ``mde`` is the absolute uplift (0.02 = 2 points); ``ratio`` = n_treatment / n_control; with
    several treatments alpha is split Bonferroni-style (alpha / treatments).
    """
    _check_rate("Baseline", baseline)
    _check_rate("Baseline + effect", baseline + mde)
    if mde == 0:
        raise UsageError("The minimum detectable effect must not be 0.")
    h = proportion_effectsize(baseline + mde, baseline)
    n1 = NormalIndPower().solve_power(
        effect_size=abs(h), nobs1=None, alpha=alpha / treatments, power=power, ratio=ratio
    )
    n_c = math.ceil(float(n1))
    n_t = math.ceil(float(n1) * ratio)
    return SampleSize(
        baseline, mde, alpha, power, treatments, n_c, n_t, n_c + treatments * n_t, float(h)
    )


def minimum_detectable_effect(
    baseline: float,
    n_control: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    treatments: int = 1,
) -> float:
    """Smallest absolute uplift over ``baseline`` detectable with ``n_control`` per group."""
    _check_rate("Baseline", baseline)
    if n_control < 2:
        raise UsageError("A test needs at least 2 customers per group.")
    h = NormalIndPower().solve_power(
        effect_size=None, nobs1=n_control, alpha=alpha / treatments, power=power, ratio=ratio
    )
    # Invert Cohen's h = 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)) for the upward effect.
    angle = math.asin(math.sqrt(baseline)) + float(h) / 2
    if angle >= math.pi / 2:
        return 1.0 - baseline
    return math.sin(angle) ** 2 - baseline


def sample_size_curve(
    baseline: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    treatments: int = 1,
    points: int = 25,
) -> pd.DataFrame:
    """Customers per group needed for a range of absolute uplifts (0.5 pts to ~4x baseline)."""
    _check_rate("Baseline", baseline)
    top = min(max(baseline * 1.0, 0.02), 1 - baseline - 1e-6)
    mdes = np.linspace(min(0.005, top / 4), top, points)
    rows = [
        {
            "mde": float(m),
            "n_control": sample_size(
                baseline, float(m), alpha=alpha, power=power, ratio=ratio, treatments=treatments
            ).n_control,
        }
        for m in mdes
    ]
    return pd.DataFrame(rows)


def sample_size_takeaway(s: SampleSize, lang: str = "en") -> str:
    return translate(
        "To detect {mde} pts over a {base} baseline with {power} power you need {n} customers "
        "per group ({total} in total).",
        lang,
    ).format(
        mde=f"{s.mde * 100:+.1f}",
        base=f"{s.baseline * 100:.1f}%",
        power=f"{s.power * 100:.0f}%",
        n=f"{s.n_control:,}",
        total=f"{s.total:,}",
    )


# ----------------------------------------------------------------------------- after the campaign


def retention_curves(
    con: duckdb.DuckDBPyConnection,
    *,
    campaign: str,
    control: str | None = None,
    months: int = 6,
    window_days: int = 30,
    min_customers: int = 20,
) -> pd.DataFrame:
    """Share of customers buying in each month after the send, by group (retention by month).

    Month k is the k-th period of 365.25/12 days after the customer's send (month 0 holds the
    conversion window). A customer counts for month k only when that whole month lies before the
    last transaction date, so a late send never looks like churn; months with fewer than
    ``min_customers`` observed in a group are dropped. (A cumulative "bought at or after month k"
    curve would shrink at the data's end for every group alike; per-month shares do not.)
    Groups: ``kind="conversion"`` (Converted / Not converted) and ``kind="variant"``.
    Columns: kind, group, month, customers, buying, share, is_control.
    """
    require_table(con, "transactions", "post-campaign retention")
    data = _load_customers(con, campaign, window_days)
    df = data.frame.dropna(subset=["sent_ts"]).reset_index(drop=True)
    if df.empty:
        raise NotEnoughData(f"Campaign {campaign!r} has no send dates (sent_ts).")
    as_of = _as_of(con, None)
    bought = query_df(
        con,
        _MONTHS_AFTER_SQL,
        {"campaign": campaign, "month_days": _MONTH_DAYS, "amounts": has_amounts(con)},
    )
    sent = pd.to_datetime(df["sent_ts"])
    ctrl = detect_control(sorted(df["variant"].unique()), control)
    df["conversion_group"] = np.where(df["converted"] == 1, "Converted", "Not converted")
    rows = []
    for k in range(0, months + 1):
        observed = sent + pd.to_timedelta((k + 1) * _MONTH_DAYS, unit="D") <= as_of
        active = df["customer_id"].isin(bought.loc[bought["month"] == k, "customer_id"])
        for kind, col in (("conversion", "conversion_group"), ("variant", "variant")):
            for grp, idx in df.groupby(col).groups.items():
                obs = observed.loc[idx]
                n = int(obs.sum())
                if n < min_customers:
                    continue
                buying = int((active.loc[idx] & obs).sum())
                rows.append(
                    {
                        "kind": kind,
                        "group": str(grp),
                        "month": k,
                        "customers": n,
                        "buying": buying,
                        "share": buying / n,
                        "is_control": kind == "variant" and grp == ctrl,
                    }
                )
    out = pd.DataFrame(
        rows, columns=["kind", "group", "month", "customers", "buying", "share", "is_control"]
    )
    if out.empty:
        raise NotEnoughData(
            f"Not enough customers observed after campaign {campaign!r} (need {min_customers} per group)."
        )
    return out


def retention_takeaway(curves: pd.DataFrame, kind: str, lang: str = "en") -> str:
    sub = curves[curves["kind"] == kind]
    if sub.empty:
        return translate("Not enough data after the campaign yet.", lang)
    # The latest month every group reaches, so the comparison is like for like.
    month = int(sub.groupby("group")["month"].max().min())
    at = sub[sub["month"] == month].sort_values("share", ascending=False)
    hi, lo = at.iloc[0], at.iloc[-1]
    name = (lambda g: translate(g, lang)) if kind == "conversion" else display_variant
    return translate(
        "In month {months} after the campaign, {hi_share} of {hi} customers bought vs "
        "{lo_share} of {lo}.",
        lang,
    ).format(
        months=month,
        hi=name(hi.group),
        hi_share=f"{hi.share * 100:.1f}%",
        lo=name(lo.group),
        lo_share=f"{lo.share * 100:.1f}%",
    )


@dataclass(frozen=True)
class ValueEffect:
    """Mean value metrics per variant after the campaign and their difference vs control.

    ``source`` is "clv" (P(alive) and predicted CLV from clm_core.clv) or "fallback" (share
    active in the last 90 days and revenue since the send, from transactions). ``note`` is an
    English template with a ``{reason}`` slot; :meth:`note_text` translates and fills it.
    """

    source: str
    note: str
    table: pd.DataFrame
    reason: str = ""

    def note_text(self, lang: str = "en") -> str:
        return translate(self.note, lang).format(reason=translate(self.reason, lang))


_FALLBACK_SQL = """
with c as (
    select customer_id, min(sent_ts) as sent_ts
    from campaigns where campaign = $campaign and customer_id is not null
    group by customer_id
)
select c.customer_id,
       max(case when t.order_ts > $as_of - interval '90 days' then 1.0 else 0.0 end) as active_90d,
       coalesce(sum(case when t.order_ts >= c.sent_ts then t.amount end), 0) as revenue_after
from c left join transactions t on t.customer_id = c.customer_id and t.order_ts <= $as_of
group by c.customer_id
"""


def _clv_metrics(con, as_of, period: str) -> pd.DataFrame:
    from clm_core import clv  # written in parallel; absent or failing -> fallback

    pred = clv.predict_clv(con, period=period, as_of=as_of)
    return pred[["customer_id", "p_alive", "clv"]]


def value_effect(
    con: duckdb.DuckDBPyConnection,
    *,
    campaign: str,
    control: str | None = None,
    as_of=None,
    period: str = "W",
    alpha: float = 0.05,
    window_days: int = 30,
) -> ValueEffect:
    """Effect of the campaign on customer value, not only on conversion.

    Uses ``clm_core.clv.predict_clv`` at ``as_of`` (default: last transaction) when it is available
    and works; otherwise a documented fallback from transactions. Differences vs control are
    Welch intervals and p-values. Transactions without amounts have no value in money: the
    share active in the last 90 days alone (source "fallback").
    """
    require_table(con, "transactions", "the campaign's effect on value")
    data = _load_customers(con, campaign, window_days)
    df = data.frame
    ctrl = detect_control(sorted(df["variant"].unique()), control)
    if ctrl is None:
        raise UsageError(f"No control variant found in campaign {campaign!r}.")
    reason = ""
    try:
        if not has_amounts(con):  # no value in money: the fallback's share of active customers
            metrics = query_df(
                con, _FALLBACK_SQL, {"campaign": campaign, "as_of": _as_of(con, as_of)}
            )
            source = "fallback"
            note = "The data has no amounts: showing the share active in the last 90 days."
            names = {"active_90d": "Active in last 90 days"}
        else:
            as_of_day = None if as_of is None else pd.Timestamp(as_of).date()
            metrics = _clv_metrics(con, as_of_day, period)
            source, note = "clv", "P(alive) and predicted CLV from the customer value model."
            names = {"p_alive": "P(alive)", "clv": "Predicted CLV"}
    except (ImportError, AttributeError, KeyError, ClmError) as e:
        when = _as_of(con, as_of)
        metrics = query_df(con, _FALLBACK_SQL, {"campaign": campaign, "as_of": when})
        source = "fallback"
        reason = first_line(e) if isinstance(e, ClmError) else "not available"
        note = (
            "Customer value model unavailable ({reason}): showing the share active in the last "
            "90 days and revenue since the send instead."
        )
        names = {"active_90d": "Active in last 90 days", "revenue_after": "Revenue since the send"}
    df = df.merge(metrics, on="customer_id", how="inner")
    rows = []
    for col, label in names.items():
        x_c = df.loc[df["variant"] == ctrl, col].astype(float).to_numpy()
        for v, grp in df.groupby("variant", sort=True):
            x = grp[col].astype(float).to_numpy()
            lo, hi = _mean_ci(x, alpha)
            if v == ctrl:
                d_lo = d_hi = d_p = math.nan
                diff = 0.0
            else:
                d_lo, d_hi, d_p = _welch(x, x_c, alpha)
                diff = float(x.mean() - x_c.mean())
            rows.append(
                {
                    "metric": label,
                    "variant": v,
                    "is_control": v == ctrl,
                    "customers": len(x),
                    "mean": float(x.mean()),
                    "ci_low": lo,
                    "ci_high": hi,
                    "diff_vs_control": diff,
                    "diff_ci_low": d_lo,
                    "diff_ci_high": d_hi,
                    "p_value": d_p,
                }
            )
    table = pd.DataFrame(rows)
    table["order"] = ~table["is_control"]
    table = table.sort_values(["metric", "order", "variant"]).drop(columns="order")
    return ValueEffect(source, note, table.reset_index(drop=True), reason)


def value_takeaway(
    effect: ValueEffect, metric: str, currency: str = "USD", lang: str = "en"
) -> str:
    t = effect.table
    sub = t[(t["metric"] == metric) & ~t["is_control"]]
    if sub.empty:
        return translate("No treatment to compare.", lang)
    best = sub.sort_values("diff_vs_control", ascending=False).iloc[0]
    is_money = metric in ("Predicted CLV", "Revenue since the send")

    def fmt(x: float) -> str:
        if is_money:
            return ("+" if x > 0 else "") + fmt_money(x, currency, lang)
        return f"{x * 100:+.1f} " + translate("pts", lang)

    return translate("{metric}: {treatment} {diff} vs control [{low}, {high}], {p}.", lang).format(
        metric=translate(metric, lang),
        treatment=display_variant(best.variant),
        diff=fmt(best.diff_vs_control),
        low=fmt(best.diff_ci_low),
        high=fmt(best.diff_ci_high),
        p=_p(best.p_value) if not math.isnan(best.p_value) else "p=n/a",
    )


# ----------------------------------------------------------------------------- channels


def channel_efficacy(
    con: duckdb.DuckDBPyConnection,
    *,
    campaign: str | None = None,
    include_control: bool = False,
    alpha: float = 0.05,
    window_days: int = 30,
) -> pd.DataFrame:
    """Per channel: contacts, responses, response rate (Wilson CI), cost, cost per response,
    revenue, revenue per contact, ROI on revenue ((revenue - cost) / cost).

    One contact = one customer in one campaign. Control variants are left out by default (a
    hold-out group is not contacted). ``campaign=None`` pools every campaign. A channel's
    revenue (and ROI) is empty when no campaign of it has revenue (revenue source "none").
    """
    names = [campaign] if campaign else campaign_names(con)
    frames = []
    for name in names:
        data = _load_customers(con, name, window_days, with_ids=False)
        df = data.frame
        if data.revenue_source == "none":
            df = df.assign(revenue=np.nan)
        if not include_control:
            ctrl = detect_control(sorted(df["variant"].unique()))
            if ctrl is not None:
                df = df[df["variant"] != ctrl]
        frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        raise NotEnoughData("No contacted customers (only control groups) in the campaigns table.")
    df["channel"] = df["channel"].fillna("(none)")
    g = df.groupby("channel")
    out = pd.DataFrame(
        {
            "contacts": g.size(),
            "responses": g["converted"].sum(),
            "cost": g["cost"].sum(),
            "revenue": g["revenue"].sum(min_count=1),
        }
    ).reset_index()
    out["contacts"] = out["contacts"].astype("int64")
    out["responses"] = out["responses"].astype("int64")
    out["response_rate"] = out["responses"] / out["contacts"]
    lo, hi = proportion_confint(out["responses"], out["contacts"], alpha, method="wilson")
    out["ci_low"], out["ci_high"] = np.asarray(lo, float), np.asarray(hi, float)
    out["cost_per_response"] = out["cost"] / out["responses"].where(out["responses"] > 0)
    out["revenue_per_contact"] = out["revenue"] / out["contacts"]
    out["roi"] = (out["revenue"] - out["cost"]) / out["cost"].where(out["cost"] > 0)
    return out.sort_values("response_rate", ascending=False).reset_index(drop=True)


def channel_takeaway(channels: pd.DataFrame, currency: str = "USD", lang: str = "en") -> str:
    best = channels.iloc[0]
    priced = channels.dropna(subset=["cost_per_response"])
    cheap = priced.sort_values("cost_per_response").iloc[0] if not priced.empty else None
    text = translate("{channel} has the highest response rate ({rate}).", lang).format(
        channel=translate(str(best.channel), lang), rate=f"{best.response_rate * 100:.1f}%"
    )
    if cheap is not None:
        text += " " + translate("Cheapest response: {channel} at {cost} each.", lang).format(
            channel=translate(str(cheap.channel), lang),
            cost=fmt_money(cheap.cost_per_response, currency, lang),
        )
    return text
