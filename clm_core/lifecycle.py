"""Lifecycle stages: where each customer stands at a date, how stages change, who to contact.

A *purchase* is a day with an order of amount >= 0 (several orders on one day are one purchase,
as in :mod:`clm_core.summary`); returns (negative amounts) never create a purchase but are
netted into spend. At an as-of date every customer known by then (a ``customers`` row with ``signup_ts`` on or
before it or without one, an event, or any transaction) is in exactly one stage, decided by the
first rule that matches, in this order:

1. **Prospect**: no purchase on or before the as-of date (for example only a return).
2. **Churned**: silent for more than ``churn_days`` (days since the last purchase > churn_days).
3. **Won back**: bought again after a silence of more than ``churn_days``, and that comeback
   purchase is at most ``activation_days`` old.
4. **New**: first purchase at most ``activation_days`` before the as-of date.
5. **At risk**: never bought a second time, or silent for more than ``at_risk_factor`` times the
   customer's own average gap between purchases, or net spend in the last ``spend_window_days``
   below ``(1 - spend_drop)`` times the spend of the window before.
6. **Loyal**: at least ``loyal_purchases`` purchases and a customer for at least
   ``loyal_tenure_days``.
7. **Active**: every other repeat buyer.

"At most N days" includes day N; "more than N days" starts at N + 1. Default thresholds come
from the data (:func:`derive_thresholds`), and every function takes them as plain keyword
arguments so a page can cache on them. Data is read with DuckDB; stages at many dates are
numpy work on one :class:`PurchaseHistory` (the same rules as the stage SQL, held equal by the
tests).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clm_core.errors import QueryError, UsageError
from clm_core.filters import id_positions, is_kept
from clm_core.i18n import translate
from clm_core.store import column_names, query_df, require_table, table_names
from clm_core.summary import as_of_default

__all__ = [
    "DEFAULT_TOUCHPOINTS",
    "FALLBACK_THRESHOLDS",
    "NOT_YET_KNOWN",
    "STAGES",
    "THRESHOLD_LABELS",
    "THRESHOLD_MIN",
    "StageThresholds",
    "PurchaseHistory",
    "StageTimeline",
    "Touchpoint",
    "TransactionLedger",
    "counts_of",
    "customer_stages",
    "derive_thresholds",
    "first_event_days",
    "gap_statistics",
    "lifecycle_activity",
    "localize",
    "purchase_history",
    "purchase_date_range",
    "stage_counts",
    "stage_definitions",
    "stage_details",
    "stage_rules",
    "stage_summary",
    "stage_timeline",
    "stage_transitions",
    "takeaway_activity",
    "takeaway_stability",
    "takeaway_stage_trend",
    "takeaway_stages",
    "takeaway_touchpoints",
    "takeaway_transitions",
    "timeline_summary",
    "touchpoint_schedule",
    "touchpoints_due",
    "transaction_ledger",
    "transition_matrix",
    "transitions_of",
]

STAGES = ("Prospect", "New", "Active", "Loyal", "At risk", "Churned", "Won back")
NOT_YET_KNOWN = "Not yet known"  # origin of customers who appear between two dates
LIFECYCLE_STATUSES = ("new", "returning", "resurrecting", "dormant")


@dataclass(frozen=True)
class StageThresholds:
    """Stage rule thresholds (days unless said otherwise); see the module docstring."""

    activation_days: int
    churn_days: int
    at_risk_factor: float
    spend_window_days: int
    spend_drop: float
    loyal_purchases: int
    loyal_tenure_days: int

    def __post_init__(self) -> None:
        for name in ("activation_days", "churn_days", "spend_window_days", "loyal_tenure_days"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 or more days, not {getattr(self, name)}.")
        if self.churn_days < 1:
            raise UsageError("churn_days must be at least 1 day.")
        if self.spend_window_days < 1:
            raise UsageError("spend_window_days must be at least 1 day.")
        if self.at_risk_factor <= 0:
            raise UsageError(f"at_risk_factor must be positive, not {self.at_risk_factor}.")
        if not 0 <= self.spend_drop <= 1:
            raise UsageError(f"spend_drop must be between 0 and 1, not {self.spend_drop}.")
        if self.loyal_purchases < 1:
            raise UsageError(f"loyal_purchases must be at least 1, not {self.loyal_purchases}.")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# Used for any threshold the data cannot support (no repeat purchases at all).
FALLBACK_THRESHOLDS = StageThresholds(
    activation_days=30,
    churn_days=180,
    at_risk_factor=2.0,
    spend_window_days=180,
    spend_drop=0.5,
    loyal_purchases=3,
    loyal_tenure_days=180,
)

_FIELDS = tuple(f.name for f in dataclasses.fields(StageThresholds))

# Gaps between consecutive purchase days up to $as_of, and per-customer purchase counts.
_GAP_SQL = """
with pd as (
    select customer_id, cast(order_ts as date) as d
    from transactions
    where amount >= 0 and customer_id is not null and cast(order_ts as date) <= $as_of
    group by 1, 2
),
g as (
    select customer_id, d,
           date_diff('day', lag(d) over w, d) as gap,
           row_number() over w as n
    from pd
    window w as (partition by customer_id order by d)
),
per as (
    select customer_id, count(*) as n_days, min(d) as first_d, median(gap) as usual_gap
    from g group by 1
)
select
    (select count(*) from per) as customers,
    (select count(*) from per where n_days > 1) as repeat_customers,
    (select count(*) from g where gap is not null) as gaps,
    (select median(gap) from g) as median_gap,
    (select median(gap) from g where n = 2) as median_first_gap,
    (select quantile_cont(usual_gap, 0.9) from per where n_days > 1) as p90_usual_gap,
    (select quantile_cont(n_days, 0.75) from per where n_days > 1) as p75_purchases,
    (select median(date_diff('day', first_d, $as_of)) from per where n_days > 1)
        as median_repeat_tenure
"""


def _as_of(con: duckdb.DuckDBPyConnection, as_of) -> dt.date:
    require_table(con, "transactions", "lifecycle stages")
    return pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)


def gap_statistics(con: duckdb.DuckDBPyConnection, *, as_of=None) -> dict:
    """The purchase-gap statistics (days) the default thresholds are derived from."""
    as_of = _as_of(con, as_of)
    row = query_df(con, _GAP_SQL, {"as_of": as_of}).iloc[0]
    return {k: (None if pd.isna(v) else float(v)) for k, v in row.items()}


def derive_thresholds(con: duckdb.DuckDBPyConnection, *, as_of=None) -> StageThresholds:
    """Thresholds from the purchase history up to ``as_of``.

    - ``activation_days``: median days from the first to the second purchase (by then half of
      the customers who ever come back have done so);
    - ``churn_days``: 90th percentile over repeat buyers of their usual (median) gap between
      purchases, rounded up: 9 in 10 repeat buyers usually come back sooner. The spend window
      uses the same length;
    - ``loyal_purchases``: 75th percentile of purchase counts among repeat buyers (at least 3);
    - ``loyal_tenure_days``: median tenure of repeat buyers.

    Without any repeat purchase the :data:`FALLBACK_THRESHOLDS` are returned.
    """
    s = gap_statistics(con, as_of=as_of)
    if not s["gaps"]:
        return FALLBACK_THRESHOLDS
    churn = max(1, math.ceil(s["p90_usual_gap"]))
    return StageThresholds(
        activation_days=max(1, round(s["median_first_gap"])),
        churn_days=churn,
        at_risk_factor=FALLBACK_THRESHOLDS.at_risk_factor,
        spend_window_days=churn,
        spend_drop=FALLBACK_THRESHOLDS.spend_drop,
        loyal_purchases=max(3, math.ceil(s["p75_purchases"])),
        loyal_tenure_days=max(1, round(s["median_repeat_tenure"])),
    )


def _thresholds(con, as_of: dt.date | None, given: dict) -> StageThresholds:
    unknown = set(given) - set(_FIELDS)
    if unknown:
        raise UsageError(
            f"Unknown stage threshold(s) {sorted(unknown)}; known: {', '.join(_FIELDS)}."
        )
    given = {k: v for k, v in given.items() if v is not None}
    if len(given) == len(_FIELDS):
        return StageThresholds(**given)
    return dataclasses.replace(derive_thresholds(con, as_of=as_of), **given)


def stage_rules(con: duckdb.DuckDBPyConnection, *, as_of=None, **given) -> StageThresholds:
    """The thresholds ``given`` (None: not given), the others derived from the purchase history
    up to ``as_of`` (default: the last transaction date); nothing is derived when all are given.
    """
    return _thresholds(con, as_of, given)


def _known_sql(tables: set[str]) -> str:
    """When each customer is first known: signup (no signup date = always), event or transaction."""
    parts = [
        "select customer_id, cast(order_ts as date) as k from transactions",
    ]
    if "customers" in tables:
        parts.append(
            "select customer_id, coalesce(cast(signup_ts as date), date '0001-01-01') as k "
            "from customers"
        )
    if "events" in tables:
        parts.append("select customer_id, cast(event_ts as date) as k from events")
    union = "\n        union all ".join(parts)
    return f"""
    select customer_id, min(k) as known_d from (
        {union}
    ) where customer_id is not null group by customer_id"""


# One row per (snapshot date, customer known by then). $dates is a list of as-of dates.
_STAGE_SQL = """
with snaps as (select distinct cast(unnest($dates) as date) as as_of),
known as ({known}),
tx as (
    select customer_id, cast(order_ts as date) as d, amount
    from transactions
    where customer_id is not null and amount is not null
),
pdays as (
    select customer_id, d,
           date_diff('day', lag(d) over (partition by customer_id order by d), d) as gap
    from (select customer_id, d from tx where amount >= 0 group by 1, 2)
),
agg as (
    select s.as_of, p.customer_id,
           min(p.d) as first_d,
           max(p.d) as last_d,
           count(*) as n_days,
           max(p.d) filter (where p.gap > $churn_days) as comeback_d
    from snaps s join pdays p on p.d <= s.as_of
    group by s.as_of, p.customer_id
),
spend as (
    select s.as_of, t.customer_id,
           round(sum(t.amount) filter (where date_diff('day', t.d, s.as_of) < $spend_window_days),
                 6) as recent,
           round(sum(t.amount) filter (where date_diff('day', t.d, s.as_of) >= $spend_window_days),
                 6) as previous
    from snaps s join tx t
      on t.d <= s.as_of and date_diff('day', t.d, s.as_of) < 2 * $spend_window_days
    group by s.as_of, t.customer_id
),
base as (
    select s.as_of, k.customer_id, a.first_d, a.last_d, a.n_days, a.comeback_d,
           date_diff('day', a.last_d, s.as_of) as days_since_last,
           date_diff('day', a.first_d, s.as_of) as tenure_days,
           date_diff('day', a.first_d, a.last_d) / nullif(a.n_days - 1, 0) as avg_gap,
           coalesce(sp.recent, 0) as recent_spend,
           coalesce(sp.previous, 0) as previous_spend
    from snaps s
    join known k on k.known_d <= s.as_of
    left join agg a on a.as_of = s.as_of and a.customer_id = k.customer_id
    left join spend sp on sp.as_of = s.as_of and sp.customer_id = k.customer_id
)
select as_of, customer_id,
       case
           when n_days is null then 'Prospect'
           when days_since_last > $churn_days then 'Churned'
           when comeback_d is not null
                and date_diff('day', comeback_d, as_of) <= $activation_days then 'Won back'
           when tenure_days <= $activation_days then 'New'
           when n_days = 1
                or days_since_last > $at_risk_factor * avg_gap
                or (previous_spend > 0 and recent_spend < (1 - $spend_drop) * previous_spend)
               then 'At risk'
           when n_days >= $loyal_purchases and tenure_days >= $loyal_tenure_days then 'Loyal'
           else 'Active'
       end as stage,
       first_d as first_purchase,
       last_d as last_purchase,
       coalesce(n_days, 0) as purchases,
       days_since_last,
       tenure_days,
       avg_gap as avg_gap_days,
       recent_spend,
       previous_spend
from base
"""


def _stage_query(con, dates: list[dt.date], th: StageThresholds) -> tuple[str, dict]:
    sql = _STAGE_SQL.format(known=_known_sql(table_names(con)))
    return sql, {"dates": list(dates), **th.as_dict()}


_EPOCH = dt.date(1970, 1, 1)
_DAY_SQL = "cast(date_diff('day', date '1970-01-01', {}) as integer)"  # a date as a day number
_NONE = np.iinfo(np.int32).min  # "no such day" in the history's day arrays


def _day(d: dt.date) -> int:
    return (d - _EPOCH).days


@dataclass(frozen=True, eq=False)
class PurchaseHistory:
    """Every known customer's purchase days and transactions as arrays.

    Stages at any number of dates come from it without another query (:meth:`details`,
    :meth:`timeline`), by the rules of the module docstring; the stage SQL
    (:func:`touchpoints_due`) applies the same rules and the tests hold the two equal. Customers
    are numbered in id order; days count from 1970-01-01. Read-only: it may be shared.
    """

    customer_ids: pd.Series  # str, in id order
    known: np.ndarray  # the day each customer is first known
    buy_c: np.ndarray  # purchase days (customer and day with an amount >= 0), in customer
    buy_d: np.ndarray  # then day order: customer number, day, and days since the customer's
    buy_gap: np.ndarray  # previous purchase day (-1 on the first)
    tx_c: np.ndarray  # transactions with an amount (returns too), in day order
    tx_d: np.ndarray
    tx_amount: np.ndarray

    def details(self, as_of, **thresholds) -> pd.DataFrame:
        """:func:`stage_details` at ``as_of``; every threshold must be given."""
        s = _day(pd.Timestamp(as_of).date())
        rules = _Rules(self, StageThresholds(**thresholds))
        rules.count(self.buy_c[self.buy_d <= s])
        rows = np.flatnonzero(self.known <= s)
        f = rules.facts(s, rows)
        bought = f.n > 0

        def days(values):
            return pd.arrays.IntegerArray(np.where(bought, values, 0).astype("int64"), ~bought)

        def dates(values):
            out = np.where(bought, values, 0).astype("datetime64[D]").astype("datetime64[us]")
            out[~bought] = np.datetime64("NaT")
            return out

        return pd.DataFrame(
            {
                "customer_id": self.customer_ids.iloc[rows].reset_index(drop=True),
                "stage": pd.Series(np.asarray(STAGES, dtype=object)[f.codes()], dtype="str"),
                "first_purchase": dates(f.first),
                "last_purchase": dates(f.last),
                "purchases": f.n.astype("int64"),
                "days_since_last": days(s - f.last),
                "tenure_days": days(s - f.first),
                "avg_gap_days": f.avg_gap,
                "recent_spend": f.recent,
                "previous_spend": f.previous,
            }
        )

    def timeline(self, as_of, **thresholds) -> StageTimeline:
        """:func:`stage_timeline` up to ``as_of``; every threshold must be given."""
        as_of = pd.Timestamp(as_of).date()
        return self._timeline(
            _month_ends(self.first_purchase(), as_of), StageThresholds(**thresholds)
        )

    def at_dates(self, dates, **thresholds) -> StageTimeline:
        """Every known customer's stage at each of ``dates`` (ascending), as a
        :class:`StageTimeline`; every threshold must be given."""
        dates = [pd.Timestamp(d).date() for d in dates]
        if dates != sorted(set(dates)):
            raise UsageError("Stage dates must be distinct and in ascending order.")
        return self._timeline(dates, StageThresholds(**thresholds))

    @functools.cached_property
    def starts(self) -> np.ndarray:
        """Where each customer's purchase days begin in ``buy_c``/``buy_d``."""
        per = np.bincount(self.buy_c, minlength=len(self.known))
        return np.concatenate([[0], np.cumsum(per)])[:-1]

    @functools.cached_property
    def firsts(self) -> np.ndarray:
        """Each customer's first purchase day (0 for a customer without one)."""
        if not len(self.buy_d):
            return np.zeros(len(self.known), np.int64)
        has = np.bincount(self.buy_c, minlength=len(self.known)) > 0
        return np.where(has, self.buy_d[np.minimum(self.starts, len(self.buy_d) - 1)], 0)

    def first_purchase(self) -> dt.date | None:
        """The day of the first purchase of anyone, or None without purchases."""
        if not len(self.buy_d):
            return None
        return _EPOCH + dt.timedelta(days=int(self.buy_d.min()))

    def _timeline(self, dates: list[dt.date], th: StageThresholds) -> StageTimeline:
        days = np.array([_day(d) for d in dates], dtype=np.int64)
        rows = np.flatnonzero(self.known <= days[-1])
        known = self.known[rows]
        rules = _Rules(self, th)
        # Purchase days grouped by the first date that counts them (a counting sort).
        first_date = np.searchsorted(days, self.buy_d, "left").astype(np.int16)
        order = np.argsort(first_date, kind="stable")
        bounds = np.searchsorted(first_date[order], np.arange(len(days) + 1))
        codes = np.empty((len(days), len(rows)), dtype=np.int8)  # one date per row, here
        counts = np.empty((len(days), len(STAGES)), dtype=np.int64)
        prospect = STAGES.index("Prospect")
        for j, s in enumerate(days.tolist()):
            rules.count(self.buy_c[order[bounds[j] : bounds[j + 1]]])
            codes[j] = np.where(known <= s, prospect, -1)  # -1: not yet known
            buyers = np.flatnonzero(rules.n[rows] > 0)
            codes[j, buyers] = rules.facts(s, rows[buyers]).codes()
            counts[j] = np.bincount(codes[j] + 1, minlength=len(STAGES) + 1)[1:]
        codes = np.ascontiguousarray(codes.T)
        codes.flags.writeable = False
        counts.flags.writeable = False
        ids = self.customer_ids.iloc[rows].reset_index(drop=True)
        return StageTimeline(tuple(dates), ids, codes, counts)


class _Rules:
    """The stage rules over a :class:`PurchaseHistory` with one set of thresholds: purchase
    days are counted in (:meth:`count`), then the facts at a date are read (:meth:`facts`)."""

    def __init__(self, h: PurchaseHistory, th: StageThresholds) -> None:
        size = len(h.known)
        self.h, self.th = h, th
        self.start, self.first = h.starts, h.firsts
        # Each purchase day's latest comeback (a purchase after more than churn_days of
        # silence) up to and including it, of the same customer.
        at = np.arange(len(h.buy_d))
        latest = np.maximum.accumulate(np.where(h.buy_gap > th.churn_days, at, -1))
        own = latest >= self.start[h.buy_c]
        self.comebacks = np.where(own, h.buy_d[np.maximum(latest, 0)], _NONE)
        self.n = np.zeros(size, np.int64)
        self.last = np.zeros(size, np.int64)
        self.comeback = np.full(size, _NONE, np.int64)

    def count(self, customers: np.ndarray) -> None:
        """Count one more purchase day of each customer number in ``customers`` (in day order
        across calls: a customer's purchase days are counted from the first)."""
        self.n += np.bincount(customers, minlength=len(self.n))
        pos = self.start[customers] + self.n[customers] - 1
        self.last[customers] = self.h.buy_d[pos]
        self.comeback[customers] = self.comebacks[pos]

    def facts(self, s: int, rows: np.ndarray) -> _Facts:
        """The facts of customers ``rows`` at day ``s`` (after counting their purchases)."""
        h, w = self.h, self.th.spend_window_days
        # Spend in the windows (s - 2w, s - w] and (s - w, s], rounded as in the stage SQL so
        # that the order of summation cannot decide a stage.
        lo, mid, end = np.searchsorted(h.tx_d, [s - 2 * w, s - w, s], "right")

        def spend(a, b):
            total = np.bincount(h.tx_c[a:b], weights=h.tx_amount[a:b], minlength=len(self.n))
            return np.round(total[rows].astype(np.float64), 6)  # int64 when a window is empty

        return _Facts(
            self.th,
            s,
            self.n[rows],
            self.first[rows],
            self.last[rows],
            self.comeback[rows],
            spend(mid, end),
            spend(lo, mid),
        )


@dataclass
class _Facts:
    th: StageThresholds
    s: int
    n: np.ndarray
    first: np.ndarray
    last: np.ndarray
    comeback: np.ndarray
    recent: np.ndarray
    previous: np.ndarray

    @property
    def avg_gap(self) -> np.ndarray:
        """Days from the first to the last purchase over the gaps between them (NaN below two
        purchases)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.last - self.first) / np.where(self.n > 1, self.n - 1, np.nan)

    def codes(self) -> np.ndarray:
        """Each customer's stage as an index in :data:`STAGES` (the same rules, in the same
        order, as the stage SQL)."""
        th, s, n = self.th, self.s, self.n
        since, tenure, avg_gap = s - self.last, s - self.first, self.avg_gap
        prev, recent = self.previous, self.recent
        rules = {
            "Prospect": n == 0,
            "Churned": since > th.churn_days,
            "Won back": (self.comeback != _NONE) & (s - self.comeback <= th.activation_days),
            "New": tenure <= th.activation_days,
            "At risk": (n == 1)
            | (since > th.at_risk_factor * avg_gap)
            | ((prev > 0) & (recent < (1 - th.spend_drop) * prev)),
            "Loyal": (n >= th.loyal_purchases) & (tenure >= th.loyal_tenure_days),
        }
        return np.select(
            list(rules.values()), [STAGES.index(k) for k in rules], STAGES.index("Active")
        ).astype(np.int8)


def purchase_history(con: duckdb.DuckDBPyConnection) -> PurchaseHistory:
    """Every known customer's purchases and transactions, for :class:`PurchaseHistory`."""
    require_table(con, "transactions", "lifecycle stages")
    known = _known_sql(table_names(con))
    try:
        con.execute(
            f"""create or replace temp table _history_ids as
            select cast(customer_id as varchar) as customer_id,
                   {_DAY_SQL.format("known_d")} as known
            from ({known}) order by customer_id"""
        )  # stored in id order (DuckDB keeps insertion order): a customer's number is its rowid
        con.execute(
            f"""create or replace temp table _history_tx as
            select cast(i.rowid as integer) as c,
                   {_DAY_SQL.format("cast(t.order_ts as date)")} as d, t.amount
            from transactions t join _history_ids i on i.customer_id = t.customer_id
            where t.amount is not null and t.order_ts is not null"""
        )
        tx = con.sql("select c, d, amount from _history_tx order by d").to_arrow_table()
        buy = con.sql(
            """select c, d, coalesce(d - lag(d) over (partition by c order by d), -1) as gap
            from (select distinct c, d from _history_tx where amount >= 0)
            order by c, d"""
        ).to_arrow_table()
        ids = con.sql("select customer_id, known from _history_ids order by rowid").to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"Query failed: {e}") from e
    finally:
        con.execute("drop table if exists _history_tx")
        con.execute("drop table if exists _history_ids")

    def col(table, name):
        out = table.column(name).to_numpy()
        out.flags.writeable = False
        return out

    known_days = ids.column("known").fill_null(_NEVER).to_numpy().astype(np.int64)
    known_days.flags.writeable = False
    return PurchaseHistory(
        ids.column("customer_id").to_pandas().astype("str"),
        known_days,
        col(buy, "c"),
        col(buy, "d"),
        col(buy, "gap"),
        col(tx, "c"),
        col(tx, "d"),
        col(tx, "amount"),
    )


_NEVER = np.iinfo(np.int32).max  # "never known" in the ledger's day arrays


@dataclass(frozen=True, eq=False)
class TransactionLedger:
    """Every customer's transactions and first contacts, unfiltered, as arrays: the purchase
    history under any date range and channel filter is derived from it without a query
    (:meth:`history`), so a new filter costs array work instead of a scan of the data.

    Customers are numbered in id order; days count from 1970-01-01. Read-only: it may be shared.
    """

    customer_ids: pd.Series  # str, in id order: everyone with a transaction, signup or event
    signup: np.ndarray  # the day a customer row makes each one known (_NEVER without a row)
    first_event: np.ndarray  # the day of each one's first event (_NEVER without an event)
    last_event: np.ndarray  # and of their last event (_NEVER without an event)
    c: np.ndarray  # transactions with a date, in customer then day order: customer number,
    d: np.ndarray  # day,
    amount: np.ndarray  # amount (NaN when missing)
    channel: np.ndarray  # and channel as an index in ``channels`` (-1 without one)
    channels: tuple[str, ...]
    by_day: np.ndarray  # the transactions' positions in day order

    def history(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        channels: tuple[str, ...] | None = None,
        first_event: np.ndarray | None = None,
    ) -> PurchaseHistory:
        """:func:`purchase_history` of the data the global filters keep: transactions within
        the inclusive dates and of the ``channels``.

        A date range also picks events, and this ledger holds only each customer's first and
        last: pass ``first_event`` (:func:`first_event_days`) with one. No channels (None or
        empty), as with the global filters, means any channel.
        """
        dated = date_from is not None or date_to is not None
        if dated and first_event is None and (self.first_event != _NEVER).any():
            raise UsageError("A date range needs the first event days in it (first_event_days).")
        keep = self.kept(date_from=date_from, date_to=date_to, channels=channels)
        everything = bool(keep.all())
        if everything:  # no copies of the arrays
            c, d, amount = self.c, self.d, self.amount
        else:
            at = np.flatnonzero(keep)
            c, d, amount = self.c[at], self.d[at], self.amount[at]

        # Known: the first of signup, first event and first kept transaction.
        known = np.minimum(self.signup, self.first_event if first_event is None else first_event)
        lead = run_starts(c)
        known[c[lead]] = np.minimum(known[c[lead]], d[lead])
        kept = known != _NEVER
        number = (np.cumsum(kept) - 1).astype(np.int32)

        # Purchase days: distinct (customer, day) with an amount >= 0, and the gap before each.
        paid = amount >= 0  # NaN (no amount) is not a purchase
        bc, bd = c[paid], d[paid]
        day_of = run_starts(bc) | run_starts(bd)
        bc, bd = bc[day_of], bd[day_of]
        gap = np.concatenate([[0], np.diff(bd)]).astype(np.int32) if len(bd) else bd.copy()
        gap[run_starts(bc)] = -1

        # Transactions with an amount, in day order.
        p = self.by_day if everything else self.by_day[keep[self.by_day]]
        if self.amount_missing:
            p = p[~np.isnan(self.amount[p])]

        def frozen(values):
            values.flags.writeable = False
            return values

        return PurchaseHistory(
            self.customer_ids[kept].reset_index(drop=True),
            frozen(known[kept].astype(np.int64)),
            frozen(number[bc]),
            frozen(bd.astype(np.int32)),
            frozen(gap),
            frozen(number[self.c[p]]),
            frozen(self.d[p].astype(np.int32)),
            frozen(self.amount[p]),
        )

    def kept(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        channels: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Which transactions the global filters keep (a mask over ``c``, ``d``...): those
        within the inclusive dates and of the ``channels`` (None or empty: any)."""
        keep = np.ones(len(self.d), dtype=bool)
        if date_from is not None:
            keep &= self.d >= _day(pd.Timestamp(date_from).date())
        if date_to is not None:
            keep &= self.d <= _day(pd.Timestamp(date_to).date())
        if channels:
            wanted = np.zeros(len(self.channels) + 1, dtype=bool)  # the last: no channel (-1)
            chosen = set(channels)
            wanted[[i for i, name in enumerate(self.channels) if name in chosen]] = True
            keep &= wanted[self.channel]
        return keep

    def buyers(
        self,
        *,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        channels: tuple[str, ...] | None = None,
    ) -> np.ndarray:
        """Which customers (a mask over ``customer_ids``) have a transaction the global filters
        keep (:meth:`kept`): the customers of the filtered ``transactions``, except those
        whose only such transactions have no date."""
        has = np.zeros(len(self.customer_ids), dtype=bool)
        has[self.c[self.kept(date_from=date_from, date_to=date_to, channels=channels)]] = True
        return has

    @functools.cached_property
    def amount_missing(self) -> bool:
        """Whether any transaction has no amount."""
        return bool(np.isnan(self.amount).any())


def run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Boolean mask of the first element of each run of equal values."""
    if not len(sorted_values):
        return np.zeros(0, dtype=bool)
    return np.concatenate([[True], sorted_values[1:] != sorted_values[:-1]])


def transaction_ledger(con: duckdb.DuckDBPyConnection) -> TransactionLedger:
    """The :class:`TransactionLedger` of ``con``'s data (pass an unfiltered connection: filters
    are applied by :meth:`TransactionLedger.history`)."""
    require_table(con, "transactions", "lifecycle stages")
    tables = table_names(con)
    parts = ["select distinct customer_id, null::date as s, null::date as e from transactions"]
    if "customers" in tables:
        parts.append(
            "select customer_id, coalesce(cast(signup_ts as date), date '0001-01-01'), null "
            "from customers"
        )
    if "events" in tables:
        parts.append("select customer_id, null, cast(event_ts as date) from events")
    union = " union all ".join(parts)
    channel = (
        "cast(t.channel as varchar)"
        if "channel" in column_names(con, "transactions")
        else "null::varchar"
    )
    try:
        con.execute(
            f"""create or replace temp table _ledger_ids as
            select cast(customer_id as varchar) as customer_id,
                   {_DAY_SQL.format("min(s)")} as signup, {_DAY_SQL.format("min(e)")} as first_event,
                   {_DAY_SQL.format("max(e)")} as last_event
            from ({union}) where customer_id is not null group by customer_id
            order by customer_id"""
        )  # stored in id order (DuckDB keeps insertion order): a customer's number is its rowid
        tx = con.sql(
            f"""select cast(i.rowid as integer) as c,
                   {_DAY_SQL.format("cast(t.order_ts as date)")} as d,
                   cast(t.amount as double) as amount, {channel} as channel
            from transactions t join _ledger_ids i on i.customer_id = t.customer_id
            where t.order_ts is not null order by c, d"""
        ).to_arrow_table()
        ids = con.sql(
            "select customer_id, signup, first_event, last_event from _ledger_ids order by rowid"
        ).to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"Query failed: {e}") from e
    finally:
        con.execute("drop table if exists _ledger_ids")

    def days(column):
        return ids.column(column).fill_null(_NEVER).to_numpy().astype(np.int64)

    d = tx.column("d").to_numpy()
    channel = pc.dictionary_encode(tx.column("channel")).combine_chunks()
    return TransactionLedger(
        customer_ids=ids.column("customer_id").to_pandas().astype("str"),
        signup=days("signup"),
        first_event=days("first_event"),
        last_event=days("last_event"),
        c=tx.column("c").to_numpy(),
        d=d,
        amount=tx.column("amount").to_numpy(zero_copy_only=False),
        channel=channel.indices.fill_null(-1).to_numpy().astype(np.int32),
        channels=tuple(channel.dictionary.to_pylist()),
        by_day=_day_order(d),
    )


def _day_order(d: np.ndarray) -> np.ndarray:
    """Positions of ``d`` in ascending order (stable): a radix sort on 16-bit offsets when the
    days span less than 179 years (0.1 s for 10M transactions, against 1 s for a merge sort)."""
    if len(d) and int(d.max()) - int(d.min()) < 2**16:
        return np.argsort((d - d.min()).astype(np.uint16), kind="stable").astype(np.int64)
    return np.argsort(d, kind="stable")


def first_event_days(
    con: duckdb.DuckDBPyConnection,
    ledger: TransactionLedger,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> np.ndarray:
    """The day each of ``ledger``'s customers is first known by an event within the inclusive
    dates (the ledger's "never" for none): the ``first_event`` of
    :meth:`TransactionLedger.history` under that date range. ``con``: the ledger's data,
    unfiltered.

    Most customers need no query: a first event within the range is the first in it, and
    events all before or all after the range have none in it. Only customers with events on
    both sides of ``date_from`` are looked up, and of those only the ones whose signup does not
    make them known before the range anyway (a few thousand of two million at a million
    customers, against a scan of every event for everyone: 1.5 s).
    """
    lo = _day(pd.Timestamp(date_from).date()) if date_from is not None else -_NEVER
    hi = _day(pd.Timestamp(date_to).date()) if date_to is not None else _NEVER
    first = ledger.first_event
    out = np.where((first >= lo) & (first <= hi), first, _NEVER)
    unsure = np.flatnonzero((first < lo) & (ledger.last_event >= lo) & (ledger.signup > lo))
    if not len(unsure):
        return out
    ids = ledger.customer_ids.iloc[unsure]
    try:
        got = con.sql(
            f"""select cast(customer_id as varchar) as customer_id,
                   {_DAY_SQL.format("min(cast(event_ts as date))")} as d from events
            where cast(customer_id as varchar) in (select unnest($ids))
              and cast(event_ts as date) between $lo and $hi
            group by 1""",
            params={
                "ids": ids.tolist(),
                "lo": _EPOCH + dt.timedelta(days=lo),
                "hi": _EPOCH + dt.timedelta(days=min(hi, _day(dt.date.max))),
            },
        ).to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"Query failed: {e}") from e
    at = id_positions(got.column("customer_id").to_pandas(), ids)
    out[unsure[at]] = got.column("d").to_numpy()
    return out


def stage_details(con: duckdb.DuckDBPyConnection, *, as_of=None, **thresholds) -> pd.DataFrame:
    """Every customer known at ``as_of`` with their stage and the facts the rules used.

    Columns: customer_id, stage, first_purchase, last_purchase, purchases (purchase days),
    days_since_last, tenure_days, avg_gap_days, recent_spend, previous_spend.
    """
    as_of = _as_of(con, as_of)
    th = _thresholds(con, as_of, thresholds)
    return purchase_history(con).details(as_of, **th.as_dict())


def customer_stages(con: duckdb.DuckDBPyConnection, *, as_of=None, **thresholds) -> pd.DataFrame:
    """``customer_id`` and ``stage`` (one of :data:`STAGES`) of every customer known at ``as_of``.

    ``as_of`` defaults to the last transaction date; thresholds not given are derived from the
    data (:func:`derive_thresholds`). Keyword thresholds are the fields of
    :class:`StageThresholds`.
    """
    return stage_details(con, as_of=as_of, **thresholds)[["customer_id", "stage"]]


def _month_ends(first: dt.date | None, as_of: dt.date) -> list[dt.date]:
    """Every month end from the month of ``first`` (the first purchase) before ``as_of``, and
    ``as_of``."""
    first = as_of if first is None else first
    ends = pd.date_range(pd.Timestamp(first), pd.Timestamp(as_of), freq="ME").date.tolist()
    return [d for d in ends if d < as_of] + [as_of]


@dataclass(frozen=True)
class StageTimeline:
    """Every known customer's stage at each of ``dates``.

    ``codes[i, j]`` is the index in :data:`STAGES` of customer ``customer_ids[i]``'s stage at
    ``dates[j]``, or -1 before the customer is known. Customers are in id order. Read-only: a
    timeline may be shared between callers (``codes`` is not writeable).
    """

    dates: tuple[dt.date, ...]
    customer_ids: pd.Series
    codes: np.ndarray
    # Customers per stage (columns in STAGES order) at each date, when the builder counted them
    # on the way (counting afterwards means passes over the whole codes matrix).
    counts: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def keep(self, ids: pd.Series | None) -> StageTimeline:
        """The timeline of the customers in ``ids`` only (all of them when ``ids`` is None)."""
        if ids is None:
            return self
        mask = is_kept(self.customer_ids, ids)
        codes = self.codes[mask]
        codes.flags.writeable = False
        return StageTimeline(self.dates, self.customer_ids[mask].reset_index(drop=True), codes)


def stage_timeline(con: duckdb.DuckDBPyConnection, *, as_of=None, **thresholds) -> StageTimeline:
    """Each customer's stage at every month end up to ``as_of`` and at ``as_of`` itself
    (:func:`stage_counts` counts it; a customer filter selects its rows without a new query).

    One set of thresholds (derived at ``as_of`` unless given) is used for every date.
    """
    as_of = _as_of(con, as_of)
    th = _thresholds(con, as_of, thresholds)
    return purchase_history(con).timeline(as_of, **th.as_dict())


def counts_of(timeline: StageTimeline) -> pd.DataFrame:
    """Customers per stage at each of the timeline's dates from the first with a buyer.

    Long format: ``as_of`` (date), ``stage``, ``customers``; every stage at every date (zeros
    included), stages in :data:`STAGES` order.
    """
    per = timeline.counts
    if per is None:
        per = np.stack([(timeline.codes == k).sum(axis=0) for k in range(len(STAGES))], axis=1)
    # From the first date with a buyer: the dates a query over these customers' own purchases
    # starts at (the month of their first purchase), whoever else the timeline holds.
    buyers = per[:, 1:].sum(axis=1) > 0
    known = np.logical_or.accumulate(buyers) if len(buyers) else buyers
    dates = [d for d, k in zip(timeline.dates, known, strict=True) if k]
    return pd.DataFrame(
        {
            "as_of": np.repeat(np.array(dates, dtype="datetime64[D]"), len(STAGES)).astype(
                "datetime64[us]"
            ),
            "stage": list(STAGES) * len(dates),
            "customers": per[known].ravel().astype("int64"),
        }
    )


def stage_counts(con: duckdb.DuckDBPyConnection, *, as_of=None, **thresholds) -> pd.DataFrame:
    """Customers per stage at every month end up to ``as_of`` (and at ``as_of`` itself).

    Long format: ``as_of`` (date), ``stage``, ``customers``; every stage at every date (zeros
    included). One set of thresholds (derived at ``as_of``) is used for every date.
    """
    return counts_of(stage_timeline(con, as_of=as_of, **thresholds))


_PERIOD = {"M": ("month", "interval 1 month"), "W": ("week", "interval 7 day")}

# PostHog-style lifecycle: per period, customers who bought for the first time (new), bought in
# the previous period too (returning), bought after skipping at least one period (resurrecting),
# and who bought in the previous period but not in this one (dormant, reported negative).
_ACTIVITY_SQL = """
with ap as (
    select distinct customer_id, cast(date_trunc('{unit}', order_ts) as date) as p
    from transactions
    where amount >= 0 and customer_id is not null and cast(order_ts as date) <= $as_of
),
seq as (
    select customer_id, p,
           lag(p) over (partition by customer_id order by p) as prev_p,
           lead(p) over (partition by customer_id order by p) as next_p
    from ap
),
last_full as (
    -- the last period that ends on or before $as_of
    select case when cast(date_trunc('{unit}', $as_of + 1) as date) > cast(date_trunc('{unit}', $as_of) as date)
                then cast(date_trunc('{unit}', $as_of) as date)
                else cast(date_trunc('{unit}', $as_of) - {step} as date) end as p
),
periods as (
    select cast(unnest(generate_series((select min(p) from ap), (select p from last_full), {step}))
                as date) as period
),
flags as (
    select p as period,
           count(*) filter (where prev_p is null) as new,
           count(*) filter (where prev_p = cast(p - {step} as date)) as returning,
           count(*) filter (where prev_p < cast(p - {step} as date)) as resurrecting
    from seq group by p
),
dormant as (
    select cast(p + {step} as date) as period, count(*) as dormant
    from seq
    where next_p is null or next_p > cast(p + {step} as date)
    group by 1
)
select ps.period,
       coalesce(f.new, 0) as new,
       coalesce(f.returning, 0) as returning,
       coalesce(f.resurrecting, 0) as resurrecting,
       -coalesce(d.dormant, 0) as dormant
from periods ps
left join flags f on f.period = ps.period
left join dormant d on d.period = ps.period
order by ps.period
"""


def lifecycle_activity(
    con: duckdb.DuckDBPyConnection, *, as_of=None, freq: str = "M"
) -> pd.DataFrame:
    """Per complete period (``freq`` M months or W ISO weeks) up to ``as_of``: counts of
    ``new``, ``returning``, ``resurrecting`` buyers and ``dormant`` (negative) customers.

    The period containing ``as_of`` is left out unless ``as_of`` is its last day (a partial
    period would show a false wave of dormant customers).
    """
    if freq not in _PERIOD:
        raise UsageError(f"freq must be M or W, not {freq!r}.")
    as_of = _as_of(con, as_of)
    unit, step = _PERIOD[freq]
    df = query_df(con, _ACTIVITY_SQL.format(unit=unit, step=step), {"as_of": as_of})
    df["period"] = pd.to_datetime(df["period"])
    for col in LIFECYCLE_STATUSES:
        df[col] = df[col].astype("int64")
    return df


def stage_transitions(con: duckdb.DuckDBPyConnection, *, start, end, **thresholds) -> pd.DataFrame:
    """How many customers moved from each stage at ``start`` to each stage at ``end``.

    Columns ``from_stage``, ``to_stage``, ``customers``. Customers first known after ``start``
    come from :data:`NOT_YET_KNOWN`. Thresholds (derived at ``end`` unless given) apply to both
    dates.
    """
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    if end <= start:
        raise UsageError(f"The second date ({end}) must be after the first ({start}).")
    require_table(con, "transactions", "lifecycle stages")
    th = _thresholds(con, end, thresholds).as_dict()
    history = purchase_history(con)
    return transitions_of(history.details(start, **th), history.details(end, **th))


def transitions_of(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """:func:`stage_transitions` from two :func:`stage_details` frames (the same thresholds,
    ``before`` at the earlier date): every customer of ``after`` counted once, from their stage
    in ``before`` (:data:`NOT_YET_KNOWN` when not there) to their stage in ``after``."""
    order = (NOT_YET_KNOWN, *STAGES)
    # Stage codes and pyarrow lookups, no per-row pandas mapping: this runs on every rerun of
    # the page's Transitions tab (3 s at a million customers with Series.map).
    at = id_positions(after["customer_id"], before["customer_id"])

    def codes(stages: pd.Series) -> np.ndarray:
        return pc.index_in(pa.array(stages), value_set=pa.array(order)).to_numpy()

    src = np.where(at >= 0, codes(before["stage"])[at], 0)  # 0: NOT_YET_KNOWN
    counts = np.bincount(src * len(order) + codes(after["stage"]), minlength=len(order) ** 2)
    pairs = np.flatnonzero(counts)  # from-stage, then to-stage, in ``order``
    return pd.DataFrame(
        {
            "from_stage": pd.Series([order[k // len(order)] for k in pairs], dtype="str"),
            "to_stage": pd.Series([order[k % len(order)] for k in pairs], dtype="str"),
            "customers": counts[pairs].astype("int64"),
        }
    )


def transition_matrix(transitions: pd.DataFrame, *, share: bool = False) -> pd.DataFrame:
    """Pivot :func:`stage_transitions` into from-stage rows and to-stage columns.

    ``share=True`` gives each row as fractions of the customers in the from-stage.
    """
    rows = [s for s in (NOT_YET_KNOWN, *STAGES) if s in set(transitions["from_stage"])]
    m = transitions.pivot_table(
        index="from_stage", columns="to_stage", values="customers", aggfunc="sum", fill_value=0
    ).reindex(index=rows, columns=list(STAGES), fill_value=0)
    m.index.name, m.columns.name = "from_stage", None
    if share:
        m = m.div(m.sum(axis=1).where(lambda s: s > 0), axis=0).fillna(0.0)
    return m


@dataclass(frozen=True)
class Touchpoint:
    """A contact due ``offset_days`` (+ the named threshold) after the first or last purchase.

    Only customers in ``stages`` and, when ``max_purchases`` is set, with at most that many
    purchases are listed.
    """

    name: str
    anchor: str  # "first_purchase" or "last_purchase"
    offset_days: int = 0
    offset_threshold: str | None = None
    stages: tuple[str, ...] = STAGES[1:]
    max_purchases: int | None = None
    purpose: str = ""

    def due_offset(self, th: StageThresholds) -> int:
        extra = getattr(th, self.offset_threshold) if self.offset_threshold else 0
        return int(self.offset_days + extra)


_BUYING = ("New", "Active", "Loyal", "At risk", "Won back")
DEFAULT_TOUCHPOINTS: tuple[Touchpoint, ...] = (
    Touchpoint(
        "Activation follow-up",
        "first_purchase",
        7,
        stages=("New",),
        purpose="Thank, help with the first order, suggest a next product.",
    ),
    Touchpoint(
        "Second-purchase nudge",
        "first_purchase",
        0,
        "activation_days",
        stages=("New",),
        max_purchases=1,
        purpose="Last day of the activation window without a second purchase.",
    ),
    Touchpoint(
        "3-month check-in",
        "first_purchase",
        91,
        stages=_BUYING,
        purpose="Ask how it is going; collect feedback.",
    ),
    Touchpoint(
        "6-month check-in",
        "first_purchase",
        182,
        stages=_BUYING,
        purpose="Review value; offer loyalty benefits.",
    ),
    Touchpoint(
        "Win-back before churn",
        "last_purchase",
        0,
        "churn_days",
        stages=_BUYING,
        purpose="Last day before the customer counts as churned.",
    ),
)

_TOUCH_SQL = """
with st as ({stages}),
rules as (
    select unnest($names) as touchpoint,
           unnest($anchors) as anchor,
           unnest($offsets) as offset_days,
           unnest($allowed) as allowed,
           unnest($max_purchases) as max_purchases,
           generate_subscripts($names, 1) as ord
),
due as (
    select r.touchpoint, r.ord, st.customer_id, st.stage, st.purchases,
           case when r.anchor = 'first_purchase' then st.first_purchase
                else st.last_purchase end as anchor_date,
           r.offset_days, r.allowed, r.max_purchases
    from st cross join rules r
    where st.first_purchase is not null
)
select touchpoint, customer_id, stage, purchases, anchor_date,
       cast(anchor_date + offset_days as date) as due_date
from due
where cast(anchor_date + offset_days as date) between $as_of and cast($as_of + ($days - 1) as date)
  and list_contains(allowed, stage)
  and (max_purchases is null or purchases <= max_purchases)
order by ord, due_date, customer_id
"""


def touchpoints_due(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of=None,
    days: int = 7,
    touchpoints: tuple[Touchpoint, ...] = DEFAULT_TOUCHPOINTS,
    **thresholds,
) -> pd.DataFrame:
    """Customers whose touchpoint falls due in the ``days`` days starting at ``as_of``.

    Columns: touchpoint, customer_id, stage (at ``as_of``), purchases, anchor_date (first or
    last purchase), due_date. Ordered by touchpoint (as given), then due date.
    """
    if days < 1:
        raise UsageError(f"days must be at least 1, not {days}.")
    for tp in touchpoints:
        if tp.anchor not in ("first_purchase", "last_purchase"):
            raise UsageError(
                f"Touchpoint {tp.name!r}: anchor must be first_purchase or last_purchase."
            )
        if tp.offset_threshold is not None and tp.offset_threshold not in _FIELDS:
            raise UsageError(f"Touchpoint {tp.name!r}: unknown threshold {tp.offset_threshold!r}.")
    as_of = _as_of(con, as_of)
    th = _thresholds(con, as_of, thresholds)
    sql, params = _stage_query(con, [as_of], th)
    params.update(
        as_of=as_of,
        days=int(days),
        names=[tp.name for tp in touchpoints],
        anchors=[tp.anchor for tp in touchpoints],
        offsets=[tp.due_offset(th) for tp in touchpoints],
        allowed=[list(tp.stages) for tp in touchpoints],
        max_purchases=[tp.max_purchases for tp in touchpoints],
    )
    df = query_df(con, _TOUCH_SQL.format(stages=sql), params)
    for col in ("anchor_date", "due_date"):
        df[col] = pd.to_datetime(df[col])
    df["purchases"] = df["purchases"].astype("int64")
    return df


# --- Definitions and takeaways shown on the page (English keys, translated by i18n) ---

THRESHOLD_LABELS = {
    "activation_days": "Activation window (days)",
    "churn_days": "Churn window (days)",
    "at_risk_factor": "At-risk factor (x own gap)",
    "spend_window_days": "Spend window (days)",
    "spend_drop": "Spend drop (share)",
    "loyal_purchases": "Loyal: purchases",
    "loyal_tenure_days": "Loyal: tenure (days)",
}

# Smallest value each threshold accepts (the page's number inputs use them).
THRESHOLD_MIN = {
    "activation_days": 0,
    "churn_days": 1,
    "at_risk_factor": 0.1,
    "spend_window_days": 1,
    "spend_drop": 0.0,
    "loyal_purchases": 1,
    "loyal_tenure_days": 0,
}

_DEFINITIONS = {
    "Prospect": "known (signup, event or transaction) but no purchase yet; a return alone is "
    "not a purchase.",
    "Churned": "no purchase for more than {churn_days} days.",
    "Won back": "bought again after more than {churn_days} silent days, at most "
    "{activation_days} days ago.",
    "New": "first purchase at most {activation_days} days ago.",
    "At risk": "no second purchase within {activation_days} days, or silent for more than "
    "{at_risk_factor} x their own average gap, or spend in the last {spend_window_days} days "
    "down by more than {spend_drop_pct} on the {spend_window_days} days before.",
    "Loyal": "at least {loyal_purchases} purchases and a customer for at least "
    "{loyal_tenure_days} days.",
    "Active": "every other repeat buyer.",
}
_RULE_ORDER = ("Prospect", "Churned", "Won back", "New", "At risk", "Loyal", "Active")


def stage_definitions(th: StageThresholds, lang: str = "en") -> list[tuple[str, str]]:
    """(stage, definition) in rule order, with the thresholds filled in and translated."""
    values = {**th.as_dict(), "spend_drop_pct": f"{th.spend_drop:.0%}"}
    return [
        (translate(s, lang), translate(_DEFINITIONS[s], lang).format(**values)) for s in _RULE_ORDER
    ]


def stage_summary(details: pd.DataFrame) -> pd.DataFrame:
    """Customers and share per stage (every stage, in :data:`STAGES` order) from stage_details."""
    counts = details["stage"].value_counts().reindex(list(STAGES), fill_value=0)
    return _summary(counts.to_numpy())


def _summary(counts: np.ndarray) -> pd.DataFrame:
    """The stage summary frame from customers per stage (in :data:`STAGES` order)."""
    total = int(counts.sum())
    return pd.DataFrame(
        {
            "stage": list(STAGES),
            "customers": counts.astype("int64"),
            "share": counts / total if total else 0.0,
        }
    )


def timeline_summary(timeline: StageTimeline, date) -> pd.DataFrame:
    """:func:`stage_summary` of the customers known at ``date``, one of the timeline's dates."""
    codes = timeline.codes[:, timeline.dates.index(pd.Timestamp(date).date())]
    return _summary(np.bincount(codes[codes >= 0], minlength=len(STAGES)))


def _fmt_n(n) -> str:
    return f"{int(n):,}"


def takeaway_stages(summary: pd.DataFrame, lang: str = "en") -> str:
    """Biggest buying stage and how many customers are at risk or churned."""
    buyers = summary[summary["stage"] != "Prospect"]
    total = int(buyers["customers"].sum())
    if not total:
        return translate("Nobody has bought yet.", lang)
    top = buyers.loc[buyers["customers"].idxmax()]
    by = dict(zip(summary["stage"], summary["customers"], strict=True))
    return translate(
        "Of {total} buyers, the largest stage is {stage} ({share}); {at_risk} are at risk "
        "and {churned} churned.",
        lang,
    ).format(
        total=_fmt_n(total),
        stage=translate(top["stage"], lang),
        share=f"{top['customers'] / total:.0%}",
        at_risk=_fmt_n(by["At risk"]),
        churned=_fmt_n(by["Churned"]),
    )


def takeaway_stage_trend(counts: pd.DataFrame, lang: str = "en") -> str:
    """Change of the engaged base (New + Active + Loyal + Won back) over the last 12 months."""
    engaged = ("New", "Active", "Loyal", "Won back")
    per_date = (
        counts[counts["stage"].isin(engaged)].groupby("as_of")["customers"].sum().sort_index()
    )
    if len(per_date) < 2:
        return translate("Not enough history for a trend yet.", lang)
    end = per_date.index[-1]
    start_candidates = per_date[per_date.index <= end - pd.DateOffset(months=12)]
    start = start_candidates.index[-1] if len(start_candidates) else per_date.index[0]
    a, b = int(per_date[start]), int(per_date[end])
    change = f"{(b - a) / a:+.0%}" if a else "n/a"
    return translate(
        "Engaged customers (New, Active, Loyal, Won back): {a} on {start} to {b} on {end} "
        "({change}).",
        lang,
    ).format(a=_fmt_n(a), b=_fmt_n(b), start=start.date(), end=end.date(), change=change)


def takeaway_activity(activity: pd.DataFrame, lang: str = "en", freq: str = "M") -> str:
    """Gains vs losses in the last complete period, with the quick ratio."""
    if activity.empty:
        return translate("No complete period yet.", lang)
    last = activity.iloc[-1]
    gained = int(last["new"] + last["resurrecting"])
    lost = int(-last["dormant"])
    ratio = f"{gained / lost:.2f}" if lost else "∞"
    verdict = "the active base grew" if gained > lost else "the active base shrank"
    if gained == lost:
        verdict = "the active base held steady"
    return translate(
        "{period}: {gained} gained (new + resurrecting) vs {lost} gone dormant, quick ratio "
        "{ratio}: {verdict}.",
        lang,
    ).format(
        period=last["period"].strftime("%Y-%m") if freq == "M" else last["period"].date(),
        gained=_fmt_n(gained),
        lost=_fmt_n(lost),
        ratio=ratio,
        verdict=translate(verdict, lang),
    )


def takeaway_transitions(transitions: pd.DataFrame, lang: str = "en") -> str:
    """The largest move between two different stages among customers known at both dates."""
    moved = transitions[
        (transitions["from_stage"] != transitions["to_stage"])
        & (transitions["from_stage"] != NOT_YET_KNOWN)
    ]
    known = transitions[transitions["from_stage"] != NOT_YET_KNOWN]
    if moved.empty or known.empty:
        return translate("Nobody changed stage between the two dates.", lang)
    top = moved.loc[moved["customers"].idxmax()]
    origin = int(known.loc[known["from_stage"] == top["from_stage"], "customers"].sum())
    stayed = int(known.loc[known["from_stage"] == known["to_stage"], "customers"].sum())
    return translate(
        "Biggest move: {a} to {b}, {n} customers ({share} of {a}); {stayed} of {known} "
        "known customers kept their stage.",
        lang,
    ).format(
        a=translate(top["from_stage"], lang),
        b=translate(top["to_stage"], lang),
        n=_fmt_n(top["customers"]),
        share=f"{top['customers'] / origin:.0%}",
        stayed=_fmt_n(stayed),
        known=_fmt_n(known["customers"].sum()),
    )


def takeaway_touchpoints(due: pd.DataFrame, lang: str = "en") -> str:
    """How many contacts are due and which touchpoint has the most."""
    if due.empty:
        return translate("No touchpoint falls due in this week.", lang)
    per = due.groupby("touchpoint", sort=False).size()
    return translate(
        "{n} contacts due this week ({customers} customers); most for {tp} ({k}).", lang
    ).format(
        n=_fmt_n(len(due)),
        customers=_fmt_n(due["customer_id"].nunique()),
        tp=translate(per.idxmax(), lang),
        k=_fmt_n(per.max()),
    )


def purchase_date_range(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """First and last transaction dates (bounds for the page's date pickers)."""
    require_table(con, "transactions", "lifecycle stages")
    lo, hi = con.execute(
        "select min(cast(order_ts as date)), max(cast(order_ts as date)) from transactions"
    ).fetchone()
    if hi is None:
        from clm_core.errors import NotEnoughData

        raise NotEnoughData("The transactions table is empty.")
    return lo, hi


def touchpoint_schedule(
    th: StageThresholds,
    touchpoints: tuple[Touchpoint, ...] = DEFAULT_TOUCHPOINTS,
    lang: str = "en",
) -> pd.DataFrame:
    """The touchpoint rules as a table: touchpoint, when (days after which purchase), stages,
    purpose; translated."""
    anchors = {
        "first_purchase": "days after the first purchase",
        "last_purchase": "days after the last purchase",
    }
    return pd.DataFrame(
        {
            translate("Touchpoint", lang): [translate(tp.name, lang) for tp in touchpoints],
            translate("Due", lang): [
                f"{tp.due_offset(th)} {translate(anchors[tp.anchor], lang)}" for tp in touchpoints
            ],
            translate("For stages", lang): [
                ", ".join(translate(s, lang) for s in tp.stages)
                + (translate(" (one purchase only)", lang) if tp.max_purchases == 1 else "")
                for tp in touchpoints
            ],
            translate("Purpose", lang): [translate(tp.purpose, lang) for tp in touchpoints],
        }
    )


_PERCENT_COLUMNS = {
    "share",
    "step_conversion",
    "overall_conversion",
    "retention",
    "revenue_retention",
}


def localize(df: pd.DataFrame, lang: str = "en", columns=("stage", "touchpoint")) -> pd.DataFrame:
    """A copy for display: stage and touchpoint values and column names translated, dates
    without times, shares as percentages, other decimals rounded to 2 places."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = out[col].map(lambda v: translate(v, lang) if isinstance(v, str) else v)
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.date
        elif col in _PERCENT_COLUMNS:
            out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(2)
    return out.rename(columns=lambda c: translate(c, lang))


def takeaway_stability(share: pd.DataFrame, lang: str = "en") -> str:
    """Which stage customers keep most and least often (``transition_matrix(share=True)``)."""
    kept = pd.Series(
        {
            s: share.loc[s, s]
            # New and Won back last at most activation_days by definition, and prospects
            # rarely move: stability means something for the other four
            for s in ("Active", "Loyal", "At risk", "Churned")
            if s in share.index and share.loc[s].sum() > 0
        }
    )
    if len(kept) < 2:
        return translate("Nobody changed stage between the two dates.", lang)
    hi, lo = kept.idxmax(), kept.idxmin()
    return translate(
        "Most stable stage: {hi} ({vhi} still there at the second date); least stable: {lo} "
        "({vlo}).",
        lang,
    ).format(
        hi=translate(hi, lang),
        vhi=f"{kept[hi]:.0%}",
        lo=translate(lo, lang),
        vlo=f"{kept[lo]:.0%}",
    )
