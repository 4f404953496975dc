"""Point-in-time churn features and labels, computed in DuckDB with no leakage.

Every feature at a cutoff date ``c`` uses only rows whose timestamp is strictly before ``c``
(midnight): a transaction, event or feedback row at or after ``c`` can change nothing. P(alive)
comes from the CLV model fitted on the summary as of ``c - 1 day`` (the summary includes that
whole day, i.e. exactly the rows before ``c``).

Population: customers whose last purchase lies in the ``active_days`` before the cutoff. A
purchase is a row with a non-negative amount, as in ``clm_core.summary``; negative amounts are
returns. Label: churned = no purchase in ``[c, c + horizon_days)``.

Features that need a table (events, feedback) or a column (discount, channel, category, feedback
kind/score) the dataset does not have are left out and reported with the reason, so a page can
say which indicators the model could not use; so are the features of money and returns
(:data:`MONEY_FEATURES`) when the data has no amounts (``clm_core.store.has_amounts``).
"""

from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from clm_core.errors import ClmError, UsageError
from clm_core.i18n import translate
from clm_core.store import has_amounts, query_df, require_table, table_names

__all__ = [
    "ACTIVE_DAYS",
    "FEATURES",
    "FeatureSet",
    "MONEY_FEATURES",
    "NO_AMOUNTS_REASON",
    "Omitted",
    "REASON_TEMPLATES",
    "as_date",
    "churn_labels",
    "point_in_time_features",
    "REASON_GROUP",
    "reason_text",
    "reason_texts",
    "top_reasons",
]

# Customers with a purchase in this many days before a cutoff are "active" (scored and trained on).
ACTIVE_DAYS = 365

# name -> (source table, English description). Order is the model's column order.
FEATURES: dict[str, tuple[str, str]] = {
    "recency_days": ("transactions", "days since the last purchase"),
    "tenure_days": ("transactions", "days since the first purchase"),
    "purchase_days": ("transactions", "distinct days with a purchase"),
    "orders": ("transactions", "number of orders"),
    "revenue": ("transactions", "net revenue (returns deducted)"),
    "avg_order_value": ("transactions", "average order value"),
    "usual_gap_days": ("transactions", "median days between purchase days"),
    "gap_ratio": ("transactions", "days since last purchase ÷ usual gap"),
    "orders_30d": ("transactions", "orders in the last 30 days"),
    "orders_90d": ("transactions", "orders in the last 90 days"),
    "orders_prev_90d": ("transactions", "orders 91-180 days ago"),
    "order_trend": ("transactions", "order trend (last 90 days vs the 90 before)"),
    "spend_90d": ("transactions", "spend in the last 90 days"),
    "spend_prev_90d": ("transactions", "spend 91-180 days ago"),
    "spend_trend": ("transactions", "spend trend (last 90 days vs the 90 before)"),
    "last_order_ratio": ("transactions", "last order value vs the usual"),
    "returns_rate": ("transactions", "returns per order"),
    "discount_share": ("transactions.discount", "share of purchase lines with a discount"),
    "n_channels": ("transactions.channel", "distinct purchase channels"),
    "main_channel_share": ("transactions.channel", "share of lines in the main channel"),
    "n_categories": ("transactions.category", "distinct product categories"),
    "complaints_90d": ("feedback.kind", "complaints in the last 90 days"),
    "days_since_complaint": ("feedback.kind", "days since the last complaint"),
    "latest_score": ("feedback.score", "latest survey/review score"),
    "events_30d": ("events", "visits/logins in the last 30 days"),
    "events_90d": ("events", "visits/logins in the last 90 days"),
    "events_prev_90d": ("events", "visits/logins 91-180 days ago"),
    "event_trend": ("events", "visit/login trend (last 90 days vs the 90 before)"),
    "days_since_event": ("events", "days since the last visit/login"),
    "p_alive": ("clv", "P(alive) from the CLV model"),
}

# Feedback rows whose kind contains this text count as complaints.
COMPLAINT_PATTERN = "%complain%"

_TX_SQL = """
with tx as (
    select customer_id, cast(order_ts as date) as d, amount, order_id, channel, category, discount,
           date_diff('day', cast(order_ts as date), $cutoff) as age
    from transactions
    where order_ts < $cutoff and customer_id is not null and amount is not null
),
buy as (select * from tx where amount >= 0),
days as (
    select customer_id, d, sum(amount) as v, min(age) as age from buy group by customer_id, d
),
gaps as (
    select customer_id,
           date_diff('day', lag(d) over (partition by customer_id order by d), d) as gap
    from days
),
gap_stats as (
    select customer_id, median(gap) as usual_gap from gaps where gap is not null group by customer_id
),
day_stats as (
    select customer_id, min(age) as recency, max(age) as tenure, count(*) as n_days,
           avg(v) as avg_day, arg_min(v, age) as last_day
    from days group by customer_id
),
pop as (select * from day_stats where recency <= $active_days),
ords as (  -- one row per order (an order's age is that of its latest line); no id = own order
    select customer_id, min(age) as age from buy
    where order_id is not null and customer_id in (select customer_id from pop)
    group by customer_id, order_id
    union all
    select customer_id, age from buy
    where order_id is null and customer_id in (select customer_id from pop)
),
ord_stats as (
    select customer_id, count(*) as orders,
           count(*) filter (where age <= 30) as o30,
           count(*) filter (where age <= 90) as o90,
           count(*) filter (where age > 90 and age <= 180) as o180
    from ords group by customer_id
),
buy_stats as (
    select customer_id,
           coalesce(sum(amount) filter (where age <= 90), 0) as s90,
           coalesce(sum(amount) filter (where age > 90 and age <= 180), 0) as s180,
           count(*) filter (where discount > 0) / count(*) as discount_share,
           count(distinct category) as n_categories
    from buy where customer_id in (select customer_id from pop) group by customer_id
),
all_stats as (
    select customer_id, sum(amount) as revenue, count(*) filter (where amount < 0) as n_returns
    from tx where customer_id in (select customer_id from pop) group by customer_id
),
ch as (
    select customer_id, channel, count(*) as n from buy
    where channel is not null and customer_id in (select customer_id from pop)
    group by customer_id, channel
),
ch_stats as (
    select customer_id, count(*) as n_channels, max(n) / sum(n) as main_share,
           first(channel order by n desc, channel) as main_channel
    from ch group by customer_id
)
select p.customer_id,
       cast(p.recency as double) as recency_days,
       cast(p.tenure as double) as tenure_days,
       cast(p.n_days as double) as purchase_days,
       cast(o.orders as double) as orders,
       a.revenue,
       a.revenue / nullif(o.orders, 0) as avg_order_value,
       cast(g.usual_gap as double) as usual_gap_days,
       p.recency / nullif(g.usual_gap, 0) as gap_ratio,
       cast(o.o30 as double) as orders_30d,
       cast(o.o90 as double) as orders_90d,
       cast(o.o180 as double) as orders_prev_90d,
       coalesce((o.o90 - o.o180) / nullif(o.o90 + o.o180, 0), 0) as order_trend,
       b.s90 as spend_90d,
       b.s180 as spend_prev_90d,
       coalesce((b.s90 - b.s180) / nullif(b.s90 + b.s180, 0), 0) as spend_trend,
       p.last_day / nullif(p.avg_day, 0) as last_order_ratio,
       a.n_returns / nullif(o.orders, 0) as returns_rate,
       b.discount_share,
       cast(coalesce(c.n_channels, 0) as double) as n_channels,
       c.main_share as main_channel_share,
       cast(b.n_categories as double) as n_categories,
       c.main_channel
from pop p
join ord_stats o using (customer_id)
join buy_stats b using (customer_id)
join all_stats a using (customer_id)
left join gap_stats g using (customer_id)
left join ch_stats c using (customer_id)
"""

_FEEDBACK_SQL = """
select customer_id,
       cast(count(*) filter (where is_complaint and age <= 90) as double) as complaints_90d,
       cast(min(age) filter (where is_complaint) as double) as days_since_complaint,
       first(score order by created_ts desc, score)
           filter (where score is not null and not is_complaint) as latest_score
from (
    select customer_id, created_ts, score,
           coalesce(kind ilike $complaint, false) as is_complaint,
           date_diff('day', cast(created_ts as date), $cutoff) as age
    from feedback
    where created_ts < $cutoff and customer_id is not null
)
group by customer_id
"""

_EVENTS_SQL = """
select customer_id,
       cast(count(*) filter (where age <= 30) as double) as events_30d,
       cast(count(*) filter (where age <= 90) as double) as events_90d,
       cast(count(*) filter (where age > 90 and age <= 180) as double) as events_prev_90d,
       coalesce((count(*) filter (where age <= 90) - count(*) filter (where age > 90 and age <= 180))
                / nullif(count(*) filter (where age <= 180), 0), 0) as event_trend,
       cast(min(age) as double) as days_since_event
from (
    select customer_id, date_diff('day', cast(event_ts as date), $cutoff) as age
    from events
    where event_ts < $cutoff and customer_id is not null
      and not coalesce(event_name ilike '%purchase%' or event_name ilike '%order%', false)
)
group by customer_id
"""

_COLUMN_FILL_SQL = """
select count(discount) as discount, count(channel) as channel, count(category) as category
from transactions where order_ts < $cutoff
"""

_FEEDBACK_FILL_SQL = """
select count(*) filter (where kind is not null) as kind,
       count(score) filter (where not coalesce(kind ilike $complaint, false)) as score
from feedback where created_ts < $cutoff
"""

_LABEL_SQL = """
select distinct customer_id
from transactions
where amount >= 0 and order_ts >= $cutoff and order_ts < $end and customer_id is not null
"""


# Features of money, or of returns (negative amounts): a log without amounts has neither.
MONEY_FEATURES = ("revenue", "avg_order_value", "spend_90d", "spend_prev_90d", "spend_trend",
                  "last_order_ratio", "returns_rate")  # fmt: skip
NO_AMOUNTS_REASON = "the data has no amounts"

_EMPTY_COLUMN = {
    "discount": "transactions have no discount values",
    "channel": "transactions have no channel values",
    "category": "transactions have no category values",
}


@dataclass(frozen=True)
class Omitted:
    """A feature the model could not use, and why (shown on the page)."""

    feature: str
    reason: str


@dataclass(frozen=True)
class FeatureSet:
    """Features of the active customers at one cutoff.

    ``frame`` has ``customer_id``, the feature columns in :data:`FEATURES` order (omitted ones
    absent) and the context column ``main_channel`` (not a feature).
    """

    cutoff: dt.date
    frame: pd.DataFrame
    features: tuple[str, ...]
    omitted: tuple[Omitted, ...]
    p_alive_source: str = ""


def as_date(value) -> dt.date:
    """A date from a date, datetime or 'YYYY-MM-DD' text; UsageError for anything else."""
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError):
        raise UsageError(f"Not a date: {value!r} (use YYYY-MM-DD).") from None


def _p_alive(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> tuple[pd.DataFrame, str]:
    """P(alive) per customer from the summary as of ``as_of`` (inclusive), in weeks.

    Uses the project's CLV purchase model (``clm_core.clv.PurchaseModel``), always BG/NBD
    (Fader, Hardie & Lee 2005): the CLV page's auto-selection also fits Pareto/NBD, which takes
    minutes, and churn needs P(alive) at three cutoffs. Raises NotEnoughData under the CLV
    module's data thresholds.
    """
    from clm_core import clv
    from clm_core.summary import customer_summary

    summ = customer_summary(con, as_of=as_of, period="W")
    clv.check_enough_data(summ, as_of=as_of, what="P(alive)")
    model = clv.PurchaseModel("bgnbd").fit(summ)
    p = np.clip(np.asarray(model.p_alive(summ), dtype="float64"), 0.0, 1.0)
    return pd.DataFrame({"customer_id": summ["customer_id"], "p_alive": p}), "BG/NBD"


def point_in_time_features(
    con: duckdb.DuckDBPyConnection,
    cutoff: dt.date | str,
    *,
    active_days: int = ACTIVE_DAYS,
    with_p_alive: bool = True,
) -> FeatureSet:
    """Features of every active customer from rows strictly before ``cutoff`` (a date).

    Units: ``*_days`` and ages in days, money in the dataset's currency, shares in [0, 1],
    trends in [-1, 1] ((recent - previous) / (recent + previous), 0 when both are 0).
    """
    require_table(con, "transactions", "churn prediction")
    cutoff = as_date(cutoff)
    have = table_names(con)
    params = {"cutoff": cutoff}
    omitted: list[Omitted] = []

    fill = query_df(con, _COLUMN_FILL_SQL, params).iloc[0]
    frame = query_df(con, _TX_SQL, {**params, "active_days": int(active_days)})
    for col, feats in (
        ("discount", ["discount_share"]),
        ("channel", ["n_channels", "main_channel_share"]),
        ("category", ["n_categories"]),
    ):
        if fill[col] == 0:
            omitted += [Omitted(f, _EMPTY_COLUMN[col]) for f in feats]
    if not has_amounts(con):  # every amount is a stored 0: no money, no return
        omitted += [Omitted(f, NO_AMOUNTS_REASON) for f in MONEY_FEATURES]

    fb_feats = ["complaints_90d", "days_since_complaint", "latest_score"]
    if "feedback" in have:
        fb = query_df(con, _FEEDBACK_SQL, {**params, "complaint": COMPLAINT_PATTERN})
        frame = frame.merge(fb, on="customer_id", how="left")
        frame["complaints_90d"] = frame["complaints_90d"].fillna(0.0)
        fb_params = {**params, "complaint": COMPLAINT_PATTERN}
        ffill = query_df(con, _FEEDBACK_FILL_SQL, fb_params).iloc[0]
        if ffill["kind"] == 0:
            omitted += [
                Omitted(f, "feedback has no kind values (complaints)") for f in fb_feats[:2]
            ]
        if ffill["score"] == 0:
            omitted.append(Omitted("latest_score", "feedback has no scores outside complaints"))
    else:
        omitted += [Omitted(f, "no feedback table") for f in fb_feats]

    ev_feats = ["events_30d", "events_90d", "events_prev_90d", "event_trend", "days_since_event"]
    if "events" in have:
        ev = query_df(con, _EVENTS_SQL, params)
        frame = frame.merge(ev, on="customer_id", how="left")
        for col in ("events_30d", "events_90d", "events_prev_90d", "event_trend"):
            frame[col] = frame[col].fillna(0.0)
    else:
        omitted += [Omitted(f, "no events table") for f in ev_feats]

    source = ""
    if with_p_alive:
        try:
            pa, source = _p_alive(con, cutoff - dt.timedelta(days=1))
            frame = frame.merge(pa, on="customer_id", how="left")
        except ClmError:
            omitted.append(Omitted("p_alive", "too little data for the CLV model at a cutoff"))
    else:
        omitted.append(Omitted("p_alive", "not requested"))

    gone = {o.feature for o in omitted}
    features = tuple(f for f in FEATURES if f not in gone)
    for f in features:
        frame[f] = pd.to_numeric(frame[f], errors="coerce").astype("float64")
    frame = frame[["customer_id", *features, "main_channel"]]
    frame = frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return FeatureSet(cutoff, frame, features, tuple(omitted), source)


def churn_labels(
    con: duckdb.DuckDBPyConnection, customer_ids: pd.Series, cutoff: dt.date, horizon_days: int
) -> np.ndarray:
    """1 = no purchase in ``[cutoff, cutoff + horizon_days)``, 0 = bought again; per customer."""
    cutoff = as_date(cutoff)
    end = cutoff + dt.timedelta(days=int(horizon_days))
    bought = query_df(con, _LABEL_SQL, {"cutoff": cutoff, "end": end})["customer_id"]
    return (~customer_ids.isin(set(bought))).to_numpy(dtype=np.int8)


# ---------------------------------------------------------------------------------------------
# Plain-words reasons. Each template is English text that is also a key in locales/churn.py.

_TREND = {
    # what: (none in 180 days, down, otherwise)
    "orders": (
        "no orders in the last 180 days",
        "orders down {pct}% (last 90 days vs the 90 before)",
        "orders in the last 90 days: {a}, in the 90 before: {b}",
    ),
    "spend": (
        "no spend in the last 180 days",
        "spend down {pct}% (last 90 days vs the 90 before)",
        "spend in the last 90 days: {a}, in the 90 before: {b}",
    ),
    "activity": (
        "no visits/logins in the last 180 days",
        "visits/logins down {pct}% (last 90 days vs the 90 before)",
        "visits/logins in the last 90 days: {a}, in the 90 before: {b}",
    ),
}
_SIMPLE = {
    "tenure_days": ("first order {v} days ago", "int"),
    "revenue": ("total net spend {v}", "money"),
    "avg_order_value": ("average order value {v}", "money"),
    "orders_30d": ("orders in the last 30 days: {v}", "int"),
    "last_order_ratio": ("last order {v}% of the usual order value", "pct"),
    "returns_rate": ("returns: {v}% of orders", "pct"),
    "discount_share": ("{v}% of purchases discounted", "pct"),
    "n_channels": ("buys through {v} channel(s)", "int"),
    "main_channel_share": ("{v}% of purchases in one channel", "pct"),
    "n_categories": ("buys from {v} categories", "int"),
    "complaints_90d": ("complaints in the last 90 days: {v}", "int"),
    "events_30d": ("visits/logins in the last 30 days: {v}", "int"),
    "p_alive": ("P(alive) only {v}%", "pct"),
}
# (template when missing, template with a value) for "days since" features
_SINCE = {
    "days_since_complaint": ("no complaint on record", "complained {v} days ago"),
    "days_since_event": ("no visits/logins on record", "no visit or login for {v} days"),
    "latest_score": ("no feedback score on record", "latest feedback score {v}"),
}
_RECENCY = (
    "no order for {d} days, usually every {gap}",
    "no order for {d} days (only one purchase day so far)",
)
_COUNT = "{n} orders so far"
REASON_TEMPLATES: tuple[str, ...] = (
    *_RECENCY,
    _COUNT,
    *(t for group in _TREND.values() for t in group),
    *(t for t, _ in _SIMPLE.values()),
    *(t for pair in _SINCE.values() for t in pair),
)


# Features that say the same thing share one sentence ("reason group"); the others are their own.
REASON_GROUP: dict[str, str] = {
    **{f: f for f in FEATURES},
    "gap_ratio": "recency_days",
    "usual_gap_days": "recency_days",
    "purchase_days": "orders",
    "orders_prev_90d": "orders_90d",
    "order_trend": "orders_90d",
    "spend_prev_90d": "spend_90d",
    "spend_trend": "spend_90d",
    "events_prev_90d": "events_90d",
    "event_trend": "events_90d",
}
_TREND_OF = {
    "orders_90d": ("orders", "orders_90d", "orders_prev_90d", "int"),
    "spend_90d": ("spend", "spend_90d", "spend_prev_90d", "money"),
    "events_90d": ("activity", "events_90d", "events_prev_90d", "int"),
}


def _grouped(values: pd.Series) -> pd.Series:
    """Rounded numbers with thousands separators ('12,345'), without a Python call per row:
    five zero-padded groups of three digits, then the leading zeros and commas stripped."""
    n = np.round(values.to_numpy(dtype="float64")).astype("int64")
    a = np.abs(n)
    parts = [pd.Series((a // 1000**k) % 1000, index=values.index).astype(str).str.zfill(3)
             for k in range(4, -1, -1)]  # fmt: skip
    text = parts[0].str.cat(parts[1:], sep=",").str.lstrip("0,")
    text = text.where(text != "", "0")
    return text.where(n >= 0, "-" + text).astype(object)


def _strings(values: pd.Series, kind: str) -> pd.Series:
    """Numbers as display text, vectorised (NaN rows must be excluded by the caller)."""
    v = values.astype("float64")
    if kind == "pct":
        return (v.abs() * 100).round().astype("int64").astype(str)
    if kind == "money":
        return _grouped(v)
    if kind == "score":  # 7 -> '7', 3.5 -> '3.5', 3.25 -> '3.25' (as '{:g}' for survey scores)
        whole = v.round().astype("int64").astype(str)
        frac = v.round(2).astype(str).str.rstrip("0").str.rstrip(".")
        return whole.where(v == v.round(), frac).astype(object)
    return v.round().astype("int64").astype(str)


def _fill(template: str, fields: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    """``template.format(**fields)`` for many rows at once (fields hold strings)."""
    out = pd.Series("", index=index, dtype=object)
    for literal, name, _, _ in string.Formatter().parse(template):
        out = out + literal
        if name:
            out = out + fields[name]
    return out


def reason_texts(group: str, frame: pd.DataFrame, lang: str = "en") -> pd.Series:
    """The sentence of one reason group for every row of ``frame`` (vectorised)."""
    tr = lambda template: translate(template, lang)  # noqa: E731
    out = pd.Series("", index=frame.index, dtype=object)

    def put(mask, template, **fields):
        if mask.any():
            idx = frame.index[np.asarray(mask)]
            out.loc[idx] = _fill(tr(template), {k: v.loc[idx] for k, v in fields.items()}, idx)

    if group == "recency_days":
        gap = frame["usual_gap_days"]
        d = _strings(frame["recency_days"].fillna(0), "int")
        put(gap.notna(), _RECENCY[0], d=d, gap=_strings(gap.fillna(0), "int"))
        put(gap.isna(), _RECENCY[1], d=d)
    elif group == "orders":
        put(frame["orders"].notna(), _COUNT, n=_strings(frame["orders"].fillna(0), "int"))
    elif group in _TREND_OF:
        what, recent_col, before_col, kind = _TREND_OF[group]
        recent, before = frame[recent_col].fillna(0), frame[before_col].fillna(0)
        none, down, other = _TREND[what]
        is_none = (recent == 0) & (before == 0)
        is_down = (before > 0) & (recent < before)
        pct = ((before - recent) / before.where(before > 0, 1)).abs()
        put(is_none, none)
        put(is_down, down, pct=_strings(pct, "pct"))
        put(~is_none & ~is_down, other, a=_strings(recent, kind), b=_strings(before, kind))
    elif group in _SINCE:
        missing, present = _SINCE[group]
        v = frame[group]
        kind = "score" if group == "latest_score" else "int"
        put(v.isna(), missing)
        put(v.notna(), present, v=_strings(v.fillna(0), kind))
    else:
        template, kind = _SIMPLE[group]
        v = frame[group]
        put(v.notna(), template, v=_strings(v.fillna(0), kind))
    return out


def reason_text(feature: str, row: pd.Series, lang: str = "en") -> str:
    """One feature of one customer in plain words, e.g. 'no order for 74 days, usually every 21'."""
    frame = pd.DataFrame([row.to_dict()])
    for col in FEATURES:
        if col not in frame.columns:
            frame[col] = np.nan
    return reason_texts(REASON_GROUP[feature], frame, lang).iloc[0]


def top_reasons(
    contributions: np.ndarray,
    groups: list[str],
    frame: pd.DataFrame,
    *,
    lang: str = "en",
    top: int = 3,
    min_delta: float = 0.01,
) -> pd.Series:
    """The ``top`` reason groups pushing each row's risk up most, joined by '; ' (vectorised,
    '；' in Chinese).

    ``contributions`` is rows x ``groups`` (reason group names, see :data:`REASON_GROUP`); groups
    below ``min_delta`` are not reasons. ``frame`` holds the feature values of the rows.
    """
    k = min(top, len(groups))
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :k]
    keep = np.take_along_axis(contributions, order, axis=1) >= min_delta
    frame = frame.reset_index(drop=True)
    slots = [pd.Series("", index=frame.index, dtype=object) for _ in range(k)]
    for gi, g in enumerate(groups):
        hit = (order == gi) & keep
        rows = np.flatnonzero(hit.any(axis=1))
        if not len(rows):
            continue
        texts = reason_texts(g, frame.iloc[rows], lang)
        slot_of_row = hit[rows].argmax(axis=1)
        for s in range(k):
            sel = rows[slot_of_row == s]
            if len(sel):
                slots[s].iloc[sel] = texts.loc[sel].to_numpy()
    sep = "；" if lang == "zh" else "; "
    out = slots[0]
    for s in slots[1:]:
        out = out + np.where(s != "", sep, "") + s
    return out
