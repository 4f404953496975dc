"""Intervention planner: who gets which retention action, under a budget and an ROI threshold.

For customer i and intervention j (discount, service call, loyalty points...):

    expected saved value  g_ij = P(churn)_i x CLV_i x success_rate_j
    expected net value    n_ij = g_ij - cost_j
    ROI                   r_ij = n_ij / cost_j      (200% means the action returns 3x its cost)

Each customer gets at most one intervention, only one whose ROI clears ``min_roi``. Without a
budget every customer gets the option with the highest net value. With a budget this is a
multiple-choice knapsack; we solve its Lagrangian relaxation (each customer maximises
n_ij - lambda x cost_j, lambda found by bisection so the spend fits the budget), then fill the
budget left over greedily by ROI. lambda acts as a raised ROI bar: under a tight budget cheaper,
higher-ROI actions win.

Inputs: P(churn) and CLV come from ``clm_core.churn.watchlist`` when that module is available and
works. Otherwise a documented fallback is used and reported (``Targets.source == "fallback"``),
for customers with a purchase in the last 365 days: risk = 1 - exp(-days since last purchase /
the customer's usual gap between purchases), i.e. one minus the chance that a steady (Poisson)
buyer with that gap stays silent this long (the dataset's median gap stands in for one-time
buyers); value = historic revenue per year of tenure (tenure counted as at least one year).
Success rates default to past campaigns' measured uplift where a campaign variant matches an
intervention (by name or channel), otherwise to the assumptions in
:data:`DEFAULT_INTERVENTIONS`; every rate and cost is editable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from clm_core.errors import ClmError, NotEnoughData, UsageError, first_line
from clm_core.formatting import fmt_money
from clm_core.i18n import translate
from clm_core.store import has_table

__all__ = [
    "DEFAULT_INTERVENTIONS",
    "DEFAULT_MIN_ROI",
    "INTERVENTION_KEYWORDS",
    "Plan",
    "Targets",
    "intervention_options",
    "plan_interventions",
    "plan_takeaway",
    "suggested_budget",
    "watchlist_targets",
]

DEFAULT_MIN_ROI = 2.0  # 200%
ACTIVE_DAYS = 365  # fallback targets: customers with a purchase in this many days

# Assumed success rate (share of would-be churners kept) and cost per customer, in the
# dataset's currency. Replaced by measured values when a past campaign tested the same action.
DEFAULT_INTERVENTIONS: tuple[dict, ...] = (
    {"intervention": "Discount coupon", "success_rate": 0.10, "cost": 15.0},
    {"intervention": "Service call", "success_rate": 0.12, "cost": 6.0},
    {"intervention": "Loyalty points", "success_rate": 0.06, "cost": 5.0},
    {"intervention": "SMS reminder", "success_rate": 0.04, "cost": 0.35},
    {"intervention": "Email reminder", "success_rate": 0.02, "cost": 0.05},
)
# Words in a campaign variant's name or channel that identify the intervention it tested.
INTERVENTION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "Discount coupon": ("discount", "coupon", "voucher", "优惠", "折扣", "券"),
    "Service call": ("phone", "call", "电话", "外呼"),
    "Loyalty points": ("points", "loyalty", "积分"),
    "SMS reminder": ("sms", "短信"),
    "Email reminder": ("email", "e-mail", "邮件"),
}
_OPTION_COLUMNS = ["intervention", "success_rate", "cost", "source"]


@dataclass(frozen=True)
class Targets:
    """Customers to plan for: customer_id, churn_probability, clv, value_at_risk.

    ``source`` is "watchlist" or "fallback"; ``note`` an English template with a ``{reason}``
    slot, filled and translated by :meth:`note_text`.
    """

    customers: pd.DataFrame
    source: str
    note: str
    reason: str = ""

    def note_text(self, lang: str = "en") -> str:
        return translate(self.note, lang).format(reason=translate(self.reason, lang))


def _fallback_targets(con, as_of) -> pd.DataFrame:
    from clm_core.summary import customer_summary

    s = customer_summary(con, as_of=as_of)
    # Customers gone for over a year are lost, not at risk (as on the churn watchlist).
    s = s[(s["revenue"] > 0) & (s["days_since_last"] <= ACTIVE_DAYS)]
    if s.empty:
        raise NotEnoughData(
            f"No customer with revenue and a purchase in the last {ACTIVE_DAYS} days to plan for."
        )
    median_gap = s["avg_interpurchase_days"].median()
    gap = s["avg_interpurchase_days"].fillna(median_gap if pd.notna(median_gap) else 90.0)
    gap = gap.clip(lower=1.0)
    risk = 1.0 - np.exp(-s["days_since_last"].astype(float) / gap)
    years = (s["tenure_days"].astype(float) / 365.25).clip(lower=1.0)
    out = pd.DataFrame(
        {
            "customer_id": s["customer_id"],
            "churn_probability": risk.to_numpy(),
            "clv": (s["revenue"] / years).to_numpy(),
        }
    )
    return out


def _from_watchlist(con, as_of) -> tuple[pd.DataFrame, str]:
    from clm_core import churn  # written in parallel; absent or failing -> fallback

    wl = churn.watchlist(con, as_of=as_of)
    df = pd.DataFrame({"customer_id": wl["customer_id"]})
    df["churn_probability"] = wl["churn_probability"].astype(float).to_numpy()
    clv = wl["clv"].astype(float) if "clv" in wl else pd.Series(np.nan, index=wl.index)
    if clv.notna().all():
        note = "Churn probability and CLV from the churn watchlist."
    else:
        # The watchlist falls back to revenue to date when the CLV model is unavailable.
        basis = wl["revenue"] if "revenue" in wl else wl["value_at_risk"] / wl["churn_probability"]
        clv = clv.where(clv.notna(), basis.astype(float).clip(lower=0))
        note = (
            "Churn probability from the churn watchlist; value = revenue to date where "
            "predicted CLV is unavailable."
        )
    df["clv"] = clv.to_numpy()
    return df.dropna(subset=["churn_probability", "clv"]), note


def watchlist_targets(
    con: duckdb.DuckDBPyConnection, *, as_of=None, source: str = "auto"
) -> Targets:
    """P(churn) and CLV per customer.

    ``source``: "auto" = the churn watchlist, or the fallback when it is unavailable; "model" =
    the watchlist only (its errors are raised); "fallback" = the quick recency/revenue estimate.
    """
    if source not in ("auto", "model", "fallback"):
        raise UsageError(f"source must be auto, model or fallback, not {source!r}.")
    df, reason = None, ""
    if source != "fallback":
        try:
            df, note = _from_watchlist(con, as_of)
            used = "watchlist"
        except (ImportError, AttributeError, KeyError, ClmError) as e:
            if source == "model":
                if isinstance(e, ClmError):
                    raise
                raise NotEnoughData("The churn model is not available in this installation.") from e
            reason = first_line(e) if isinstance(e, ClmError) else "not available"
    if df is None:
        df = _fallback_targets(con, as_of)
        used = "fallback"
        note = (
            "Churn model unavailable ({reason}): risk = 1 - exp(-days since last purchase / "
            "usual gap between purchases), value = revenue per year of tenure."
            if source == "auto"
            else "Quick estimate: risk = 1 - exp(-days since last purchase / usual gap between "
            "purchases), value = revenue per year of tenure."
        )
    df["value_at_risk"] = df["churn_probability"] * df["clv"]
    df = df.sort_values(["value_at_risk", "customer_id"], ascending=[False, True])
    return Targets(df.reset_index(drop=True), used, note, reason)


def _matches(intervention: str, text: str) -> bool:
    low = text.lower()
    return any(k in low for k in INTERVENTION_KEYWORDS.get(intervention, ()))


def intervention_options(
    con: duckdb.DuckDBPyConnection,
    *,
    defaults: tuple[dict, ...] = DEFAULT_INTERVENTIONS,
    lang: str = "en",
) -> pd.DataFrame:
    """Intervention types with success rate and cost per customer, measured where possible.

    A treatment variant of a past campaign with a control and a recorded cost is a measured
    option when its uplift over control is significant: success rate = the absolute uplift, cost =
    its cost per customer. A measured option that matches a default type (keywords in the variant
    name or channel) replaces that default; the others are added as ``campaign: variant``. An
    inconclusive test leaves the assumption in place and says so in ``source`` (a noisy estimate
    near zero would silently rule the action out).
    """
    from clm_core import experiments

    assumed = translate("assumption", lang)
    opts = [{**d, "source": assumed} for d in defaults]
    if has_table(con, "campaigns"):
        for name in experiments.campaign_names(con):
            try:
                res = experiments.analyze_campaign(con, campaign=name)
            except ClmError:
                continue  # no control or a single variant: nothing measured
            table = res.variants.set_index("variant")
            for c in res.comparisons.itertuples():
                cpc = float(table.loc[c.variant, "cost_per_customer"])
                if not cpc > 0:
                    continue
                channel = table.loc[c.variant, "channel"] or ""
                hit = next(
                    (o for o in opts if o["source"] == assumed
                     and _matches(o["intervention"], f"{c.variant} {channel}")),
                    None,
                )  # fmt: skip
                where = {"campaign": name, "variant": c.variant}
                if not c.significant:
                    if hit is not None:
                        hit["source"] = translate(
                            "assumption ({campaign} / {variant} inconclusive)", lang
                        ).format(**where)
                    continue
                measured = {
                    "success_rate": max(float(c.uplift_abs), 0.0),
                    "cost": cpc,
                    "source": translate("measured: {campaign} / {variant}", lang).format(**where),
                }
                if hit is not None:
                    hit.update(measured)
                else:
                    opts.append({"intervention": f"{name}: {c.variant}", **measured})
    out = pd.DataFrame(opts, columns=_OPTION_COLUMNS)
    out["intervention"] = out["intervention"].map(lambda n: translate(n, lang))
    return out


def _clean_options(options: pd.DataFrame) -> pd.DataFrame:
    missing = {"intervention", "success_rate", "cost"} - set(options.columns)
    if missing:
        raise UsageError(f"Intervention table lacks column(s): {', '.join(sorted(missing))}.")
    opts = options.copy()
    opts = opts[opts["intervention"].notna() & (opts["intervention"].astype(str).str.strip() != "")]
    for row in opts.itertuples():
        rate, cost = row.success_rate, row.cost
        if rate is None or pd.isna(rate) or not 0 <= float(rate) <= 1:
            raise UsageError(
                f"{row.intervention}: success rate must be between 0 and 1, not {rate}."
            )
        if cost is None or pd.isna(cost) or not float(cost) > 0:
            raise UsageError(f"{row.intervention}: cost must be greater than 0, not {cost}.")
    if opts["intervention"].duplicated().any():
        dup = opts.loc[opts["intervention"].duplicated(), "intervention"].iloc[0]
        raise UsageError(f"Intervention {dup!r} is listed twice.")
    return opts.astype({"success_rate": float, "cost": float}).reset_index(drop=True)


@dataclass(frozen=True)
class Plan:
    """The chosen interventions. Money in the dataset's currency; ROI as a ratio (2.0 = 200%)."""

    assignments: pd.DataFrame
    by_intervention: pd.DataFrame
    budget: float | None
    min_roi: float
    eligible: int
    spent: float
    saved: float
    net: float

    @property
    def roi(self) -> float:
        return self.net / self.spent if self.spent > 0 else math.nan


def _choose(net, cost, eligible, lam):
    score = np.where(eligible, net - lam * cost[None, :], -np.inf)
    j = score.argmax(axis=1)
    best = score[np.arange(len(j)), j]
    take = np.isfinite(best) & (best >= 0)
    return j, take


def _greedy(costs: np.ndarray, left: float) -> np.ndarray:
    """Take items in the given order when they still fit in ``left`` (skipping those that do not).

    Vectorised: each round drops the items that can no longer fit and takes the longest prefix
    that does; an item that stops a prefix is dropped in the next round, so the rounds are at
    most the number of distinct costs.
    """
    take = np.zeros(len(costs), bool)
    idx = np.arange(len(costs))
    while len(idx):
        idx = idx[costs[idx] <= left + 1e-9]
        if not len(idx):
            break
        spent = np.cumsum(costs[idx])
        n = int(np.searchsorted(spent, left + 1e-9, side="right"))
        take[idx[:n]] = True
        left -= float(spent[n - 1]) if n else 0.0
        idx = idx[n:]
    return take


def plan_interventions(
    targets: pd.DataFrame,
    options: pd.DataFrame,
    *,
    budget: float | None = None,
    min_roi: float = DEFAULT_MIN_ROI,
) -> Plan:
    """Assign at most one intervention per customer; total cost <= ``budget`` (None = no limit),
    every chosen ROI >= ``min_roi``. See the module docstring for the method."""
    if budget is not None and budget < 0:
        raise UsageError(f"Budget must not be negative, not {budget}.")
    if min_roi < 0:
        raise UsageError(f"ROI threshold must not be negative, not {min_roi}.")
    opts = _clean_options(options)
    cols = ["customer_id", "churn_probability", "clv"]
    t = targets[cols].dropna().reset_index(drop=True)
    if opts.empty or t.empty:
        raise NotEnoughData("Nothing to plan: no customers or no intervention types.")
    value = (t["churn_probability"].clip(0, 1) * t["clv"].clip(lower=0)).to_numpy()
    rate, cost = opts["success_rate"].to_numpy(), opts["cost"].to_numpy()
    gross = value[:, None] * rate[None, :]
    net = gross - cost[None, :]
    eligible = net / cost[None, :] >= min_roi - 1e-12

    j, take = _choose(net, cost, eligible, 0.0)
    if budget is not None and cost[j][take].sum() > budget:
        lo, hi = 0.0, float((net / cost[None, :]).max()) + 1.0
        for _ in range(32):  # bisection on the budget's shadow price (2^-32 of its range)
            mid = (lo + hi) / 2
            jm, tm = _choose(net, cost, eligible, mid)
            if cost[jm][tm].sum() > budget:
                lo = mid
            else:
                hi = mid
        j, take = _choose(net, cost, eligible, hi)
        # Fill what the relaxation left unspent: remaining customers by their best ROI ...
        left = budget - cost[j][take].sum()
        roi = np.where(eligible, net / cost[None, :], -np.inf)
        best_j = roi.argmax(axis=1)
        best_roi = roi[np.arange(len(best_j)), best_j]
        order = np.flatnonzero(~take & np.isfinite(best_roi))
        order = order[np.argsort(-best_roi[order], kind="stable")]
        added = _greedy(cost[best_j[order]], left)
        j[order[added]], take[order[added]] = best_j[order[added]], True
        left -= cost[best_j[order[added]]].sum()
        # ... then upgrades: a dearer option for a chosen customer, best extra net per extra cost.
        rows = np.arange(len(j))
        extra = cost[None, :] - cost[j][:, None]
        gain = np.where(eligible & take[:, None] & (extra > 0), net - net[rows, j][:, None], 0.0)
        ratio = np.where(gain > 0, gain / np.where(extra > 0, extra, 1.0), -np.inf)
        up_j = ratio.argmax(axis=1)
        up = np.flatnonzero(np.isfinite(ratio[rows, up_j]))
        up = up[np.argsort(-ratio[up, up_j[up]], kind="stable")]
        done = _greedy(extra[up, up_j[up]], left)
        j[up[done]] = up_j[up[done]]

    idx = np.flatnonzero(take)
    chosen = j[idx]
    a = t.iloc[idx].reset_index(drop=True)
    a["value_at_risk"] = value[idx]
    a["intervention"] = opts["intervention"].to_numpy()[chosen]
    a["success_rate"] = rate[chosen]
    a["cost"] = cost[chosen]
    a["expected_saved_value"] = gross[idx, chosen]
    a["expected_net_value"] = net[idx, chosen]
    a["roi"] = a["expected_net_value"] / a["cost"]
    a = a.sort_values("expected_net_value", ascending=False, kind="stable").reset_index(drop=True)
    g = a.groupby("intervention", sort=False)
    by = pd.DataFrame(
        {
            "customers": g.size(),
            "cost": g["cost"].sum(),
            "expected_saved_value": g["expected_saved_value"].sum(),
            "expected_net_value": g["expected_net_value"].sum(),
        }
    ).reset_index()
    by["roi"] = by["expected_net_value"] / by["cost"]
    by = by.sort_values("expected_net_value", ascending=False).reset_index(drop=True)
    return Plan(
        assignments=a,
        by_intervention=by,
        budget=None if budget is None else float(budget),
        min_roi=float(min_roi),
        eligible=int(eligible.any(axis=1).sum()),
        spent=float(a["cost"].sum()),
        saved=float(a["expected_saved_value"].sum()),
        net=float(a["expected_net_value"].sum()),
    )


def suggested_budget(plan: Plan) -> float:
    """Half of what the unlimited plan would spend, rounded to two significant digits."""
    half = plan.spent / 2
    if half <= 0:
        return 0.0
    digits = 1 - int(math.floor(math.log10(half)))
    return float(round(half, digits))


def plan_takeaway(plan: Plan, currency: str = "USD", lang: str = "en") -> str:
    if plan.assignments.empty:
        return translate(
            "No customer clears the {thr} ROI threshold with these success rates and costs.", lang
        ).format(thr=f"{plan.min_roi * 100:.0f}%")
    top = plan.by_intervention.iloc[0]
    return translate(
        "Spending {spent} on {n} customers is expected to save {saved}, a net {net} "
        "(ROI {roi}); {top} contributes most. {eligible} customers clear the {thr} threshold.",
        lang,
    ).format(
        spent=fmt_money(plan.spent, currency, lang),
        n=f"{len(plan.assignments):,}",
        saved=fmt_money(plan.saved, currency, lang),
        net=fmt_money(plan.net, currency, lang),
        roi=f"{plan.roi * 100:,.0f}%",
        top=translate(str(top.intervention), lang),
        eligible=f"{plan.eligible:,}",
        thr=f"{plan.min_roi * 100:.0f}%",
    )
