"""Who are our customers: RFM scores and named segments, value tiers, clusters, price sensitivity.

RFM scores (1-5, higher is better) are computed in SQL over the per-customer summary
(:mod:`clm_core.summary`) with one documented rank method that gives equal values equal scores:

    score(v) = 1 + floor(5 * (number of customers strictly worse than v) / n)

"Worse" means a smaller order count (F) or smaller net revenue (M), or a *longer* time since the
last purchase (R: more recent is better). A score of 5 therefore means at least 80% of customers
are strictly worse; customers tied at the bottom (e.g. every single-purchase customer for F) all
get 1, and scores skip values where a tie group spans a quintile boundary instead of splitting
equal customers. This is SQL's ``rank()`` (ties share the lowest rank), i.e.
``1 + floor(5 * (rank - 1) / n)``.

Named segments come from :data:`DEFAULT_SEGMENT_RULES`: rows with R, F and M score ranges, the
first matching row wins, customers matching no row are ``"Other"``. Callers override the rules by
argument; the app stores edited rules with the dataset (setting ``"segment_rules"``).

Value tiers rank customers by value (historic net revenue unless another value is supplied):
Diamond = top 5%, Gold = next 15%, Silver = next 30%, Bronze = the rest.

Data without amounts (:func:`clm_core.store.has_amounts` false) has no M: customers are scored
on R and F only (``m_score`` empty, ``rfm_score`` the two digits "RF"), a rule names them when
their R and F are in its ranges and it does not need M (its M range is the whole 1-5), and
they have no value tier (empty): value is money.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from clm_core import store
from clm_core.errors import NotEnoughData, UsageError
from clm_core.store import query_df, require_table
from clm_core.summary import SUMMARY_COLUMNS, as_of_default, customer_summary

__all__ = [
    "CLUSTER_FEATURES",
    "CLUSTER_NAMES",
    "DEFAULT_SEGMENT_RULES",
    "DEFAULT_TIER_CUTOFFS",
    "EXTRA_FEATURES",
    "K_MAX",
    "MIXED",
    "NOT_YET",
    "OTHER",
    "RULE_KEYS",
    "SEGMENTS",
    "SEGMENT_RULES_SETTING",
    "TIERS",
    "ClusterResult",
    "CustomerClusters",
    "customer_clusters",
    "customer_segments",
    "discount_available",
    "first_purchase_date",
    "members_of",
    "normalise_rules",
    "price_sensitivity",
    "rf_matrix",
    "rf_matrix_of",
    "rules_frame",
    "rules_key",
    "score_summary",
    "scored_customers",
    "segment_customers",
    "segment_migration",
    "segment_profile",
    "segment_profile_of",
    "stored_rules",
    "tier_profile",
    "tier_profile_of",
    "tiers",
    "uncovered_cells",
]

SEGMENTS = (
    "Champions",
    "Loyal",
    "Potential Loyalist",
    "New",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Cannot Lose Them",
    "Hibernating",
    "Lost",
)
OTHER = "Other"
NOT_YET = "Not yet a customer"
SEGMENT_RULES_SETTING = "segment_rules"
RULE_KEYS = ("segment", "r_min", "r_max", "f_min", "f_max", "m_min", "m_max")

# The classic R x F grid (first matching row wins), with M separating the big spenders who left
# ("Cannot Lose Them") from the frequent ones who are merely slipping ("At Risk"). Together the
# rows cover every (R, F, M) combination, so no customer is "Other" with these defaults.
DEFAULT_SEGMENT_RULES: list[dict] = [
    {"segment": "Champions", "r_min": 5, "r_max": 5, "f_min": 4, "f_max": 5, "m_min": 1, "m_max": 5},
    {"segment": "Loyal", "r_min": 3, "r_max": 4, "f_min": 4, "f_max": 5, "m_min": 1, "m_max": 5},
    {"segment": "Potential Loyalist", "r_min": 4, "r_max": 5, "f_min": 2, "f_max": 3, "m_min": 1, "m_max": 5},
    {"segment": "New", "r_min": 5, "r_max": 5, "f_min": 1, "f_max": 1, "m_min": 1, "m_max": 5},
    {"segment": "Promising", "r_min": 4, "r_max": 4, "f_min": 1, "f_max": 1, "m_min": 1, "m_max": 5},
    {"segment": "Need Attention", "r_min": 3, "r_max": 3, "f_min": 3, "f_max": 3, "m_min": 1, "m_max": 5},
    {"segment": "About to Sleep", "r_min": 3, "r_max": 3, "f_min": 1, "f_max": 2, "m_min": 1, "m_max": 5},
    {"segment": "Cannot Lose Them", "r_min": 1, "r_max": 2, "f_min": 4, "f_max": 5, "m_min": 4, "m_max": 5},
    {"segment": "At Risk", "r_min": 1, "r_max": 2, "f_min": 3, "f_max": 5, "m_min": 1, "m_max": 5},
    {"segment": "Hibernating", "r_min": 2, "r_max": 2, "f_min": 1, "f_max": 2, "m_min": 1, "m_max": 5},
    {"segment": "Lost", "r_min": 1, "r_max": 1, "f_min": 1, "f_max": 2, "m_min": 1, "m_max": 5},
]  # fmt: skip

TIERS = ("Diamond", "Gold", "Silver", "Bronze")
# Cumulative shares of customers (ranked by value) that end Diamond, Gold and Silver.
DEFAULT_TIER_CUTOFFS = (0.05, 0.20, 0.50)

# The scores as a query: rank() gives tied customers the same (lowest) rank, so equal values
# get equal scores. scored_customers computes the same numbers in numpy over the customer
# summary (which the dataset's rollup answers without a scan); the tests hold it to this query.
# Revenue is ranked to 1e-6: sums of the same amounts in another order differ in the last bits,
# and customers with equal revenue must tie however it was summed.
_SCORES_SQL = """
with s as ({summary})
select s.*,
       1 + cast(floor(5.0 * (rank() over (order by days_since_last desc) - 1)
                      / count(*) over ()) as integer) as r_score,
       1 + cast(floor(5.0 * (rank() over (order by orders) - 1)
                      / count(*) over ()) as integer) as f_score,
       1 + cast(floor(5.0 * (rank() over (order by round(revenue, 6)) - 1)
                      / count(*) over ()) as integer) as m_score
from s
order by s.customer_id
"""

# One row per order (order_id, or the transaction row when there is none) up to $as_of.
# An order counts as discounted when any of its lines has a positive discount.
_DISCOUNT_SQL = """
with lines as (
    select customer_id,
           coalesce(order_id, '#' || cast(row_number() over () as varchar)) as order_key,
           amount,
           coalesce(discount, 0) as discount
    from transactions
    where cast(order_ts as date) <= $as_of and customer_id is not null and amount >= 0
),
orders as (
    select customer_id, order_key, sum(amount) as order_value, max(discount) > 0 as discounted
    from lines group by customer_id, order_key
)
select customer_id,
       count(*) as orders,
       count(*) filter (where discounted) as discounted_orders,
       coalesce(sum(order_value) filter (where discounted), 0) as discounted_spend,
       coalesce(sum(order_value) filter (where not discounted), 0) as full_price_spend
from orders
group by customer_id
order by customer_id
"""


# --------------------------------------------------------------------------------------------
# Rules


def normalise_rules(rules: Iterable | None) -> list[dict]:
    """Validate segment rules (dicts or tuples in :data:`RULE_KEYS` order) into a list of dicts.

    Raises UsageError naming the row and field when a rule cannot be used.
    """
    if rules is None:
        return [dict(r) for r in DEFAULT_SEGMENT_RULES]
    out = []
    for i, rule in enumerate(rules, start=1):
        if _blank(rule):  # an empty row added in the rules editor
            continue
        if isinstance(rule, dict):
            missing = [k for k in RULE_KEYS if k not in rule]
            if missing:
                raise UsageError(f"Segment rule {i}: missing {', '.join(missing)}.")
            values = [rule[k] for k in RULE_KEYS]
        else:
            values = list(rule)
            if len(values) != len(RULE_KEYS):
                raise UsageError(f"Segment rule {i}: expected {len(RULE_KEYS)} fields.")
        name = values[0]
        if name is None or (isinstance(name, float) and math.isnan(name)) or not str(name).strip():
            raise UsageError(f"Segment rule {i}: the segment name is empty.")
        clean: dict = {"segment": str(name).strip()}
        for key, value in zip(RULE_KEYS[1:], values[1:], strict=True):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise UsageError(
                    f"Segment rule {i}: {key} must be a score 1-5, not {value!r}."
                ) from None
            if math.isnan(number) or number != int(number) or not 1 <= number <= 5:
                raise UsageError(f"Segment rule {i}: {key} must be a score 1-5, not {value!r}.")
            clean[key] = int(number)
        for axis in ("r", "f", "m"):
            if clean[f"{axis}_min"] > clean[f"{axis}_max"]:
                raise UsageError(
                    f"Segment rule {i} ({clean['segment']}): {axis}_min is above {axis}_max."
                )
        out.append(clean)
    if not out:
        raise UsageError("There must be at least one segment rule.")
    return out


def _blank(rule) -> bool:
    values = rule.values() if isinstance(rule, dict) else rule
    return all(
        v is None
        or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and not v.strip())
        for v in values
    )


def rules_key(rules: Iterable | None) -> tuple:
    """Rules as a hashable tuple of tuples (for ``ui.cache.compute`` keyword arguments)."""
    return tuple(tuple(r[k] for k in RULE_KEYS) for r in normalise_rules(rules))


def rules_frame(rules: Iterable | None = None) -> pd.DataFrame:
    """Rules as a DataFrame with :data:`RULE_KEYS` columns (for the rules editor)."""
    return pd.DataFrame(normalise_rules(rules), columns=list(RULE_KEYS))


def stored_rules(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The rules saved with the dataset (``store.save_setting(path, "segment_rules", ...)``)."""
    saved = store.get_setting(con, SEGMENT_RULES_SETTING)
    return normalise_rules(saved) if saved else normalise_rules(None)


def uncovered_cells(rules: Iterable | None = None, *, monetary: bool = True) -> list[str]:
    """RFM scores (as "RFM" strings) that no rule matches: those customers become "Other".
    ``monetary=False`` (data without amounts): the "RF" scores no rule without M matches."""
    rules = normalise_rules(rules)
    missing = []
    for r in range(1, 6):
        for f in range(1, 6):
            if not monetary:
                if not any(_matches(rule, r, f, None) for rule in rules):
                    missing.append(f"{r}{f}")
                continue
            for m in range(1, 6):
                if not any(_matches(rule, r, f, m) for rule in rules):
                    missing.append(f"{r}{f}{m}")
    return missing


def _matches(rule: dict, r, f, m):
    """Whether scores are in the rule's ranges. ``m=None`` (no M: data without amounts)
    matches only a rule that does not need M (M range 1-5)."""
    if m is None:
        any_m = rule["m_min"] == 1 and rule["m_max"] == 5
        return (
            (rule["r_min"] <= r)
            & (r <= rule["r_max"])
            & (rule["f_min"] <= f)
            & (f <= rule["f_max"])
            & any_m
        )
    return (
        (rule["r_min"] <= r) & (r <= rule["r_max"])
        & (rule["f_min"] <= f) & (f <= rule["f_max"])
        & (rule["m_min"] <= m) & (m <= rule["m_max"])
    )  # fmt: skip


def _assign_segments(scores: pd.DataFrame, rules: list[dict], monetary: bool = True) -> np.ndarray:
    r, f = (scores[c].to_numpy() for c in ("r_score", "f_score"))
    m = scores["m_score"].to_numpy() if monetary else None
    conditions = [_matches(rule, r, f, m) for rule in rules]
    names = [rule["segment"] for rule in rules]
    return np.select(conditions, names, default=OTHER) if len(r) else np.array([], dtype=object)


# --------------------------------------------------------------------------------------------
# Tiers


def tiers(values: pd.Series, cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS) -> pd.Series:
    """Diamond / Gold / Silver / Bronze by value rank.

    A customer's position is ``rank / n`` with rank 1 for the highest value and tied values
    sharing the best rank. Position <= cutoffs[0] is Diamond, <= cutoffs[1] Gold, <= cutoffs[2]
    Silver, else Bronze; cut-offs are cumulative shares (default 5%, 20%, 50%). A customer with
    no positive value (or a missing one) is always Bronze.
    """
    cutoffs = tuple(float(c) for c in cutoffs)
    if len(cutoffs) != 3 or not 0 < cutoffs[0] < cutoffs[1] < cutoffs[2] <= 1:
        raise UsageError(
            "Tier cut-offs must be three increasing shares between 0 and 1, e.g. 0.05, 0.2, 0.5."
        )
    values = pd.to_numeric(values, errors="coerce")
    n = len(values)
    codes = np.full(n, len(TIERS) - 1, dtype=np.int8)  # Bronze
    if n:
        rank = values.rank(method="min", ascending=False).to_numpy()
        position = rank / n
        eps = 1e-12  # 5 of 100 is exactly 0.05; guard the float comparison
        codes = np.select(
            [
                position <= cutoffs[0] + eps,
                position <= cutoffs[1] + eps,
                position <= cutoffs[2] + eps,
            ],
            [0, 1, 2],
            default=len(TIERS) - 1,
        ).astype(np.int8)
        codes[~(values.to_numpy() > 0)] = len(TIERS) - 1
    # From codes: building the categories from a million strings took 0.4 s.
    tier = pd.Categorical.from_codes(codes, categories=list(TIERS), ordered=True)
    return pd.Series(tier, index=values.index)


# --------------------------------------------------------------------------------------------
# Scores and segments


def _as_of(con: duckdb.DuckDBPyConnection, as_of) -> dt.date:
    return pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)


def first_purchase_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The first purchase date in the dataset (the earliest possible migration start)."""
    require_table(con, "transactions", "segments")
    row = con.execute(
        "select min(cast(order_ts as date)) from transactions where amount >= 0"
    ).fetchone()
    if row is None or row[0] is None:
        raise NotEnoughData("The transactions table has no purchases.")
    return row[0]


def scored_customers(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "D",
    rules: Iterable | None = None,
    tier_cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS,
    date_from: dt.date | str | None = None,
) -> pd.DataFrame:
    """The customer summary plus ``r_score, f_score, m_score, rfm_score, segment, tier``.

    ``rules=None`` uses the rules stored with the dataset, else :data:`DEFAULT_SEGMENT_RULES`.
    ``date_from``: score the transactions from that day to ``as_of`` only (as a date filter
    would; see :func:`clm_core.summary.customer_summary`). Data without amounts is scored on R
    and F only (see the module docstring).
    """
    require_table(con, "transactions", "segments")
    as_of = _as_of(con, as_of)
    rules = stored_rules(con) if rules is None else normalise_rules(rules)
    df = customer_summary(con, as_of=as_of, period=period, date_from=date_from)
    if df.empty:
        raise NotEnoughData(f"No customer has a purchase on or before {as_of}.")
    return score_summary(df, rules, tier_cutoffs, monetary=store.has_amounts(con))


def _score(values: pd.Series, *, ascending: bool) -> np.ndarray:
    """1-5 from the rank: 1 + floor(5 (rank - 1) / n), tied values taking their lowest rank
    (SQL's ``rank()``, as in :data:`_SCORES_SQL`)."""
    rank = values.rank(method="min", ascending=ascending).to_numpy()
    return 1 + np.floor(5.0 * (rank - 1) / len(values)).astype("int64")


def score_summary(
    summary: pd.DataFrame,
    rules: Iterable | None = None,
    tier_cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS,
    *,
    monetary: bool = True,
) -> pd.DataFrame:
    """A customer summary (non-empty, in customer order) scored: what :func:`scored_customers`
    returns for the customers of ``summary``. The scores rank each customer among those rows,
    so scoring a subset of customers is scoring that subset's summary.

    ``monetary=False`` (data without amounts): no M score (empty), ``rfm_score`` of R and F
    ("54"), segments from the rules that do not need M, no tier (empty)."""
    rules = normalise_rules(rules)
    df = summary[SUMMARY_COLUMNS].copy(deep=False)
    df["r_score"] = _score(df["days_since_last"], ascending=False)
    df["f_score"] = _score(df["orders"], ascending=True)
    if not monetary:
        df["m_score"] = pd.array([pd.NA] * len(df), dtype="Int64")
        df["rfm_score"] = (df["r_score"] * 10 + df["f_score"]).astype(str)
        df["segment"] = _assign_segments(df, rules, monetary=False)
        df["tier"] = pd.Series([None] * len(df), index=df.index, dtype=object)
        return df.reset_index(drop=True)
    revenue = df["revenue"].round(6)  # see _SCORES_SQL
    df["m_score"] = _score(revenue, ascending=True)
    # Three digits 1-5: "543" is 5 * 100 + 4 * 10 + 3 written out (a quarter of the time of
    # joining three strings per customer).
    df["rfm_score"] = (df["r_score"] * 100 + df["f_score"] * 10 + df["m_score"]).astype(str)
    df["segment"] = _assign_segments(df, rules)
    df["tier"] = tiers(revenue, tier_cutoffs).astype(str)
    return df.reset_index(drop=True)


def customer_segments(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "D",
    rules: Iterable | None = None,
    tier_cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS,
) -> pd.DataFrame:
    """``customer_id, r_score, f_score, m_score, rfm_score, segment, tier`` per customer.

    Scores are 1-5 (see the module docstring for the tie rule); ``tier`` ranks historic net
    revenue. ``period`` does not change scores (they are ranks); it is accepted so callers can
    pass the same arguments as to ``customer_summary``. Pass ``rules`` as :func:`rules_key` output
    to keep arguments hashable for caching.
    """
    df = scored_customers(con, as_of=as_of, period=period, rules=rules, tier_cutoffs=tier_cutoffs)
    return df[["customer_id", "r_score", "f_score", "m_score", "rfm_score", "segment", "tier"]]


def segment_customers(
    con: duckdb.DuckDBPyConnection,
    *,
    segment: str,
    as_of: dt.date | str | None = None,
    rules: Iterable | None = None,
) -> pd.DataFrame:
    """The customers of one segment (drill-down), highest revenue first, with their summary."""
    return members_of(scored_customers(con, as_of=as_of, rules=rules), segment)


def members_of(scores: pd.DataFrame, segment: str) -> pd.DataFrame:
    """:func:`segment_customers` from :func:`scored_customers` output (no query): highest
    revenue first, then most orders (the order when the data has no amounts)."""
    cols = [
        "customer_id", "segment", "rfm_score", "tier", "orders", "revenue", "avg_order_value",
        "first_purchase", "last_purchase", "days_since_last",
    ]  # fmt: skip
    out = scores.loc[scores["segment"] == segment, cols]
    out = out.sort_values(["revenue", "orders"], ascending=False, kind="stable")
    return out.reset_index(drop=True)


def _profile(df: pd.DataFrame, by: str, order: Sequence[str]) -> pd.DataFrame:
    total_customers = len(df)
    total_revenue = df["revenue"].sum()
    g = df.groupby(by, observed=True)
    out = pd.DataFrame(
        {
            "customers": g.size(),
            "revenue": g["revenue"].sum(),
            "orders": g["orders"].sum(),
            "recency_days": g["days_since_last"].mean(),
            "frequency": g["orders"].mean(),
            "monetary": g["revenue"].mean(),
        }
    )
    out["customer_share"] = out["customers"] / total_customers
    out["revenue_share"] = out["revenue"] / total_revenue if total_revenue else 0.0
    out["aov"] = out["revenue"] / out["orders"].where(out["orders"] > 0)
    rank = {name: i for i, name in enumerate(order)}
    out = out.reset_index()
    out = out.sort_values(by, key=lambda s: s.map(lambda v: rank.get(v, len(rank))))
    cols = [by, "customers", "customer_share", "revenue", "revenue_share", "aov",
            "recency_days", "frequency", "monetary"]  # fmt: skip
    return out[cols].reset_index(drop=True)


def segment_profile(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    rules: Iterable | None = None,
) -> pd.DataFrame:
    """Per segment: customers, share of customers, revenue, share of value, AOV, mean days since
    the last purchase, mean orders and mean revenue per customer. Segments in rule order."""
    rules = stored_rules(con) if rules is None else normalise_rules(rules)
    return segment_profile_of(scored_customers(con, as_of=as_of, rules=rules), rules)


def segment_profile_of(scores: pd.DataFrame, rules: Iterable) -> pd.DataFrame:
    """:func:`segment_profile` from :func:`scored_customers` output scored with ``rules``."""
    order = [r["segment"] for r in normalise_rules(rules)]
    return _profile(scores, "segment", [*order, OTHER])


def tier_profile(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    tier_cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS,
) -> pd.DataFrame:
    """Like :func:`segment_profile`, per value tier (Diamond first)."""
    return tier_profile_of(scored_customers(con, as_of=as_of), tier_cutoffs)


def tier_profile_of(
    scores: pd.DataFrame, tier_cutoffs: Sequence[float] = DEFAULT_TIER_CUTOFFS
) -> pd.DataFrame:
    """:func:`tier_profile` from :func:`scored_customers` output, re-tiered by ``tier_cutoffs``
    (tiers rank revenue alone, so no query is needed)."""
    df = scores[["revenue", "orders", "days_since_last"]].assign(
        tier=tiers(scores["revenue"], tier_cutoffs).astype(str)
    )
    return _profile(df, "tier", TIERS)


def rf_matrix(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
) -> pd.DataFrame:
    """Long table for the R x F heatmap: ``r_score, f_score, customers, mean_revenue``."""
    return rf_matrix_of(scored_customers(con, as_of=as_of))


def rf_matrix_of(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`rf_matrix` from :func:`scored_customers` output."""
    g = scores.groupby(["r_score", "f_score"])
    return (
        pd.DataFrame({"customers": g.size(), "mean_revenue": g["revenue"].mean()})
        .reset_index()
        .sort_values(["r_score", "f_score"], ignore_index=True)
    )


# --------------------------------------------------------------------------------------------
# Price sensitivity


def discount_available(con: duckdb.DuckDBPyConnection) -> bool:
    """True when some transaction carries a positive discount."""
    if not store.has_table(con, "transactions"):
        return False
    row = con.execute("select count(*) from transactions where discount > 0").fetchone()
    return bool(row and row[0])


def price_sensitivity(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    rules: Iterable | None = None,
) -> pd.DataFrame:
    """Per segment (and an "All customers" row): share of orders bought on discount, average
    order value with and without discount, the ratio of the two and the share of customers who
    bought at least half of their orders on discount ("deal seekers").

    Raises NotEnoughData when no transaction has a discount.
    """
    if not discount_available(con):
        raise NotEnoughData("The transactions have no discount values, so price sensitivity "
                            "cannot be measured.")  # fmt: skip
    as_of = _as_of(con, as_of)
    per_customer = query_df(con, _DISCOUNT_SQL, {"as_of": as_of})
    seg = customer_segments(con, as_of=as_of, rules=rules)[["customer_id", "segment"]]
    df = per_customer.merge(seg, on="customer_id", how="inner")
    df["deal_seeker"] = df["discounted_orders"] * 2 >= df["orders"]
    order = [r["segment"] for r in (stored_rules(con) if rules is None else normalise_rules(rules))]

    def summarise(frame: pd.DataFrame) -> dict:
        disc, orders = frame["discounted_orders"].sum(), frame["orders"].sum()
        full = orders - disc
        aov_disc = frame["discounted_spend"].sum() / disc if disc else np.nan
        aov_full = frame["full_price_spend"].sum() / full if full else np.nan
        return {
            "customers": len(frame),
            "orders": int(orders),
            "discounted_share": disc / orders if orders else np.nan,
            "aov_discounted": aov_disc,
            "aov_full_price": aov_full,
            "aov_ratio": aov_disc / aov_full if aov_full else np.nan,
            "deal_seeker_share": frame["deal_seeker"].mean(),
        }

    rows = [
        {"segment": name, **summarise(frame)} for name, frame in df.groupby("segment", sort=False)
    ]
    rank = {name: i for i, name in enumerate([*order, OTHER])}
    rows.sort(key=lambda r: rank.get(r["segment"], len(rank)))
    rows.append({"segment": "All customers", **summarise(df)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Migration


def segment_migration(
    con: duckdb.DuckDBPyConnection,
    *,
    start: dt.date | str,
    end: dt.date | str | None = None,
    rules: Iterable | None = None,
) -> pd.DataFrame:
    """How customers moved between segments from ``start`` to ``end`` (default: last date).

    Returns ``from_segment, to_segment, customers`` (one row per non-empty flow). Customers whose
    first purchase falls after ``start`` come from :data:`NOT_YET`. Scores are re-ranked at each
    date, so a segment means the same relative position on both dates.
    """
    end = _as_of(con, end)
    start = pd.Timestamp(start).date()
    if start >= end:
        raise UsageError(f"The start date {start} must be before the end date {end}.")
    before = customer_segments(con, as_of=start, rules=rules)[["customer_id", "segment"]]
    after = customer_segments(con, as_of=end, rules=rules)[["customer_id", "segment"]]
    moves = after.merge(before, on="customer_id", how="left", suffixes=("_to", "_from"))
    moves["segment_from"] = moves["segment_from"].fillna(NOT_YET)
    flows = moves.groupby(["segment_from", "segment_to"]).size().rename("customers").reset_index()
    flows = flows.rename(columns={"segment_from": "from_segment", "segment_to": "to_segment"})
    return flows.sort_values("customers", ascending=False, ignore_index=True)


# --------------------------------------------------------------------------------------------
# Clusters

CLUSTER_FEATURES = ("days_since_last", "orders", "revenue")
# Extra features a caller may add (columns of the customer summary, all numeric).
EXTRA_FEATURES = (
    "avg_order_value", "tenure_days", "returns", "avg_interpurchase_days", "discount_share",
)  # fmt: skip

# Cluster names: a prototype centre in standardised (recency goodness, frequency, monetary)
# space, and a test on the cluster's facts that must hold for the name to be used at all (so a
# cluster is never called "One-off" when most of its customers bought twice). Each cluster gets
# the eligible name nearest to its centre, every name at most once (optimal assignment); a
# cluster no name fits is "Mixed". Facts: r, f, m (centre; r > 0 = more recent than average),
# share (of customers), single (share with one order), value (revenue share / customer share),
# top (highest mean revenue).
CLUSTER_NAMES: dict[str, tuple[tuple[float, float, float], Callable[[dict], bool]]] = {
    "High-value": ((0.5, 1.5, 1.5), lambda c: c["top"] and c["value"] >= 1.5),
    "Loyal": ((0.8, 0.8, 0.5), lambda c: c["f"] > 0 and c["r"] > -0.25),
    "Active": ((1.5, 0.6, 0.4), lambda c: c["r"] > 0.5 and c["single"] < 0.5),
    "Potential": ((0.8, 0.2, 0.2), lambda c: c["r"] > 0 and c["single"] < 0.5),
    "New": ((1.2, -0.8, -0.4), lambda c: c["r"] > 0 and c["single"] >= 0.5),
    "Silent majority": ((0.0, -0.3, -0.3), lambda c: c["share"] >= 0.3 and c["value"] < 1),
    "At risk": ((-1.0, 0.8, 0.8), lambda c: c["f"] > 0 and c["r"] < 0),
    "Dormant": ((-1.0, 0.0, 0.0), lambda c: c["r"] < 0 and c["value"] < 1),
    "One-off": ((-0.8, -0.9, -0.6), lambda c: c["single"] >= 0.5),
}
MIXED = "Mixed"
K_MAX = 8


class CustomerClusters(ClusterMixin, BaseEstimator):
    """k-means on standardised log1p RFM (plus optional extra features), k by silhouette.

    Estimator contract (scikit-learn ``develop.rst``): ``__init__`` stores arguments, ``fit``
    sets attributes ending in ``_`` and returns ``self``. Wraps ``sklearn.cluster.KMeans``.

    Input ``X``: a DataFrame with ``days_since_last``, ``orders``, ``revenue`` and any extra
    numeric columns. Each column is clipped at 0, ``log1p``-transformed and standardised.

    The silhouette curve over ``k_range`` is always computed (on at most ``silhouette_sample``
    customers; models on at most ``fit_sample``) so a hand-picked k can be compared with the
    best; ``n_clusters=None`` uses the best k. Clusters are numbered by mean of ``revenue``,
    0 the highest, and named from their centres (:data:`CLUSTER_NAMES`).

    Fitted attributes: ``n_clusters_``, ``best_k_``, ``silhouette_`` (DataFrame k, silhouette),
    ``labels_``, ``names_`` (one per cluster), ``centers_`` (standardised centres),
    ``feature_names_in_``, ``scaler_``, ``kmeans_``, ``label_order_``.
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        *,
        k_range: tuple[int, int] = (2, 8),
        random_state: int = 42,
        silhouette_sample: int = 5000,
        fit_sample: int = 50_000,
        n_init: int = 4,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_range = k_range
        self.random_state = random_state
        self.silhouette_sample = silhouette_sample
        self.fit_sample = fit_sample
        self.n_init = n_init

    def _log_features(self, X: pd.DataFrame) -> np.ndarray:
        values = X[list(self.feature_names_in_)].astype(float).fillna(0.0).clip(lower=0)
        return np.log1p(values.to_numpy())

    def _check(self, X: pd.DataFrame) -> tuple[int, int]:
        missing = [c for c in CLUSTER_FEATURES if c not in X.columns]
        if missing:
            raise UsageError(f"Clustering needs the columns {', '.join(missing)}.")
        lo, hi = (int(v) for v in self.k_range)
        max_k = K_MAX
        if not 2 <= lo <= hi <= max_k:
            raise UsageError(f"The k range must lie between 2 and {max_k}.")
        if self.n_clusters is not None and not 2 <= int(self.n_clusters) <= max_k:
            raise UsageError(f"The number of clusters must be between 2 and {max_k}.")
        needed = max(10, 5 * max(hi, int(self.n_clusters or 2)))
        if len(X) < needed:
            raise NotEnoughData(
                f"Clustering needs at least {needed} customers; there are {len(X)}."
            )
        return lo, hi

    def fit(self, X: pd.DataFrame, y=None) -> CustomerClusters:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits

        lo, hi = self._check(X)
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        logs = self._log_features(X)
        self.scaler_ = StandardScaler().fit(logs)
        Z = self.scaler_.transform(logs)
        rng = np.random.default_rng(self.random_state)
        if len(Z) > self.fit_sample:
            Zfit = Z[np.sort(rng.choice(len(Z), self.fit_sample, replace=False))]
        else:
            Zfit = Z
        distinct = len(np.unique(Zfit, axis=0))

        def kmeans(k: int):
            return KMeans(k, n_init=self.n_init, random_state=self.random_state).fit(Zfit)

        # One thread: OpenMP k-means spins badly when a shared server's cores are busy, and
        # these data sets (a few features, a sample of at most fit_sample rows) are small.
        with threadpool_limits(limits=1):
            scores, models = [], {}
            for k in range(lo, min(hi, distinct - 1) + 1):
                models[k] = kmeans(k)
                score = silhouette_score(
                    Zfit, models[k].labels_, sample_size=min(self.silhouette_sample, len(Zfit)),
                    random_state=self.random_state,
                )  # fmt: skip
                scores.append((k, float(score)))
            if not scores:
                raise NotEnoughData("The customers are too alike to form clusters.")
            self.silhouette_ = pd.DataFrame(scores, columns=["k", "silhouette"])
            self.best_k_ = int(max(scores, key=lambda kv: kv[1])[0])
            k = self.best_k_ if self.n_clusters is None else int(self.n_clusters)
            km = models.get(k) or kmeans(k)
            labels = km.predict(Z)
        # Number clusters by mean revenue (0 = highest) so ids are stable and meaningful.
        revenue = X["revenue"].astype(float).to_numpy()
        means = np.array(
            [revenue[labels == c].mean() if (labels == c).any() else -np.inf for c in range(k)]
        )
        order = np.argsort(-means, kind="stable")
        self.label_order_ = np.empty(k, dtype=int)
        self.label_order_[order] = np.arange(k)
        self.kmeans_ = km
        self.n_clusters_ = k
        self.labels_ = self.label_order_[labels]
        centers = km.cluster_centers_[order]
        self.centers_ = pd.DataFrame(centers, columns=list(self.feature_names_in_))
        self.names_ = _cluster_names(
            centers, list(self.feature_names_in_), self.labels_, X["orders"].to_numpy(), revenue
        )
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        check_is_fitted(self, "kmeans_")
        with threadpool_limits(limits=1):
            labels = self.kmeans_.predict(self.scaler_.transform(self._log_features(X)))
        return self.label_order_[labels]


def _cluster_names(
    centers: np.ndarray,
    columns: list[str],
    labels: np.ndarray,
    orders: np.ndarray,
    revenue: np.ndarray,
) -> list[str]:
    """Name clusters (numbered by mean revenue, 0 highest) per :data:`CLUSTER_NAMES`."""
    from scipy.optimize import linear_sum_assignment

    k = len(centers)
    total = revenue.clip(min=0).sum() or 1.0
    facts = []
    for c in range(k):
        member = labels == c
        share = member.mean()
        facts.append(
            {
                "r": -centers[c, columns.index("days_since_last")],
                "f": centers[c, columns.index("orders")],
                "m": centers[c, columns.index("revenue")],
                "share": share,
                "single": (orders[member] <= 1).mean() if member.any() else 0.0,
                "value": (revenue[member].clip(min=0).sum() / total) / share if share else 0.0,
                "top": c == 0,
            }
        )
    names = list(CLUSTER_NAMES)
    cost = np.full((k, len(names) + k), 1e6)  # ineligible: never chosen while Mixed is free
    cost[:, len(names) :] = 1e3  # the k extra columns are "Mixed"
    for i, fact in enumerate(facts):
        point = np.array([fact["r"], fact["f"], fact["m"]])
        for j, name in enumerate(names):
            proto, eligible = CLUSTER_NAMES[name]
            if eligible(fact):
                cost[i, j] = float(((point - np.array(proto)) ** 2).sum())
    rows, cols = linear_sum_assignment(cost)
    out = [MIXED] * k
    for r, c in zip(rows, cols, strict=True):
        if c < len(names):
            out[r] = names[c]
    return out


@dataclass(frozen=True)
class ClusterResult:
    """``customers``: customer_id, cluster, cluster_name, the features and the RFM segment;
    ``profile``: per cluster size, shares and means (as :func:`segment_profile`);
    ``silhouette``: k vs mean silhouette; ``k``: clusters used; ``best_k``: best by silhouette."""

    customers: pd.DataFrame
    profile: pd.DataFrame
    silhouette: pd.DataFrame
    k: int
    best_k: int


def _discount_share(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> pd.DataFrame:
    df = query_df(con, _DISCOUNT_SQL, {"as_of": as_of})
    df["discount_share"] = df["discounted_orders"] / df["orders"]
    return df[["customer_id", "discount_share"]]


def customer_clusters(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    k: int | None = None,
    k_min: int = 2,
    k_max: int = 8,
    extra: tuple[str, ...] = (),
    random_state: int = 42,
) -> ClusterResult:
    """Cluster customers on recency, frequency and monetary value (plus ``extra`` features from
    :data:`EXTRA_FEATURES`). ``k=None`` chooses k in ``[k_min, k_max]`` by silhouette; the curve
    is always returned so a hand-picked k can be compared with the best one."""
    bad = [e for e in extra if e not in EXTRA_FEATURES]
    if bad:
        raise UsageError(
            f"Unknown cluster feature {bad[0]!r}; choose from {', '.join(EXTRA_FEATURES)}."
        )
    as_of = _as_of(con, as_of)
    df = scored_customers(con, as_of=as_of)
    if "discount_share" in extra:
        if not discount_available(con):
            raise NotEnoughData("The transactions have no discount values.")
        df = df.merge(_discount_share(con, as_of), on="customer_id", how="left")
    features = [*CLUSTER_FEATURES, *(e for e in extra if e not in CLUSTER_FEATURES)]
    model = CustomerClusters(k, k_range=(k_min, k_max), random_state=random_state)
    model.fit(df[features])
    out = df[["customer_id", *features, "segment"]].copy()
    out.insert(1, "cluster", model.labels_)
    out.insert(2, "cluster_name", [model.names_[c] for c in model.labels_])
    profile = _profile(out, "cluster", range(model.n_clusters_))
    profile.insert(1, "cluster_name", [model.names_[c] for c in profile["cluster"]])
    return ClusterResult(out, profile, model.silhouette_, model.n_clusters_, model.best_k_)
