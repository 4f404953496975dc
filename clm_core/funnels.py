"""Conversion funnels from ``events`` and the repeat-purchase funnel from ``transactions``.

Event funnel (:func:`event_funnel`): the user picks ordered steps (event names), a conversion
window and an order mode. Each customer is counted once, at the furthest step reached by any of
their attempts:

- ``order="strict"``: an attempt starts at a step-1 event; each next step is the earliest event
  of that name at or after the previous step (strictly after when the name already appeared
  earlier in the steps, so one event never counts twice). Other events may happen in between.
- ``order="any"``: steps 1..k count as reached when each of them happened, in any order, inside
  one window; the window starts at one of the step events.

Every step must fall within ``window_days`` of the attempt's start. Times between steps are
medians over the customers who reached the step, in hours (in any order: between the first
occurrences of steps k-1 and k in the window, whichever came first). Ties between equally
good attempts go to the earliest. Breakdowns group customers by the ``channel`` of the event
that started their best attempt, by a ``customers`` column, or by the customer's RFM segment or
lifecycle stage at the last transaction date.

The event funnel comes in two halves: :func:`funnel_paths` finds each customer's best attempt
in DuckDB SQL (ASOF joins, so the cost grows as n log n with the number of events), and
:func:`funnel_from_paths` counts those rows and takes the medians. A customer's path depends on
their own events only, so a filter that picks customers (region, segment, tier) can select rows
of the paths computed once for everyone instead of rescanning the events.

The app derives the paths from an :class:`EventLedger` instead (:func:`event_ledger`: every
event as arrays in customer and time order, kept per dataset version): an ASOF match is then
"the next event of that name from this position" (in strict order a binary search, once per
run of attempts that share their step 2; in any order a reverse running minimum per step), and
a date range is a mask. The same rows as :func:`funnel_paths`, which stays the reference the
tests and ``bench/bench_funnels.py`` hold the ledger to, and the query behind
:func:`event_funnel` (the library's one-call funnel, without a ledger to keep).

Repeat-purchase funnel (:func:`repeat_purchase_funnel`): a purchase is a day with an order of
amount >= 0, as in :mod:`clm_core.summary` (returns are not purchases); it runs as SQL in DuckDB.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from clm_core.errors import NotEnoughData, QueryError, UsageError
from clm_core.filters import id_positions
from clm_core.i18n import translate
from clm_core.lifecycle import run_starts
from clm_core.store import query_df, quote_ident, require_table
from clm_core.summary import as_of_default

__all__ = [
    "BREAKDOWNS",
    "ORDERS",
    "PURCHASE_STEPS",
    "breakdown_labels",
    "default_steps",
    "event_funnel",
    "event_names",
    "funnel_from_paths",
    "funnel_paths",
    "next_purchase_gaps",
    "next_purchase_histogram",
    "purchase_label",
    "repeat_purchase_funnel",
    "takeaway_breakdown",
    "takeaway_funnel",
    "takeaway_gaps",
    "takeaway_repeat",
    "transition_labels",
]

ORDERS = ("strict", "any")
# breakdown name -> the table it needs
BREAKDOWNS = {
    "channel": "events",
    "acquisition_channel": "customers",
    "region": "customers",
    "segment": "transactions",
    "stage": "transactions",
}
PURCHASE_STEPS = (1, 2, 3, 5)
# A typical web/app funnel; used as the default when these events exist.
_TYPICAL = ("visit", "signup", "add_to_cart", "purchase")
_MISSING = "(none)"


def event_names(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Event names with their event and customer counts, most frequent first."""
    require_table(con, "events", "event funnels")
    return query_df(
        con,
        """
        select event_name, count(*) as events, count(distinct customer_id) as customers
        from events where event_name is not null
        group by 1 order by events desc, event_name
        """,
    )


def default_steps(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """The typical web funnel steps present in the data, else the three most frequent events."""
    names = event_names(con)["event_name"].tolist()
    typical = tuple(s for s in _TYPICAL if s in names)
    return typical if len(typical) >= 2 else tuple(names[:3])


def _check_steps(steps, order: str, window_days: float) -> tuple[str, ...]:
    steps = tuple(str(s) for s in steps)
    if len(steps) < 2:
        raise UsageError("A funnel needs at least two steps.")
    if order not in ORDERS:
        raise UsageError(f"order must be one of {', '.join(ORDERS)}, not {order!r}.")
    if order == "any" and len(set(steps)) < len(steps):
        raise UsageError("In any order every step must be a different event.")
    if not window_days or window_days <= 0:
        raise UsageError(f"The conversion window must be positive, not {window_days}.")
    return steps


def _strict_attempts(n: int, steps: tuple[str, ...]) -> str:
    """CTEs ending in ``att``: one row per step-1 event with the greedy times t1..tn."""
    ctes = [
        """s1 as (
        select customer_id, event_ts as t1, channel as entry_channel
        from e where event_name = $step_1 and event_ts >= $start and event_ts < $stop)"""
    ]
    for k in range(2, n + 1):
        op = ">" if steps[k - 1] in steps[: k - 1] else ">="
        ctes.append(
            f"""s{k} as (
        select s.*, x.event_ts as t{k}
        from s{k - 1} s asof left join (
            select customer_id, event_ts from e where event_name = $step_{k}
        ) x on x.customer_id = s.customer_id and x.event_ts {op} s.t{k - 1})"""
        )
    # greedy earliest matches: reached = last step within the window of t1
    reached = " ".join(
        f"when t{k} is null or epoch(t{k}) - epoch(t1) > $window_s then {k - 1}"
        for k in range(2, n + 1)
    )
    ctes.append(
        f"""att as (
        select *, t1 as start_ts, case {reached} else {n} end as reached from s{n})"""
    )
    return ",\n    ".join(ctes)


def _any_attempts(n: int) -> str:
    """CTEs ending in ``att``: one row per candidate window start (any step event)."""
    ctes = [
        """a0 as (
        select customer_id, event_ts as start_ts, channel as entry_channel
        from e where event_ts >= $start and event_ts < $stop)"""
    ]
    for k in range(1, n + 1):
        ctes.append(
            f"""a{k} as (
        select s.*, case when epoch(x.event_ts) - epoch(s.start_ts) <= $window_s
                         then x.event_ts end as t{k}
        from a{k - 1} s asof left join (
            select customer_id, event_ts from e where event_name = $step_{k}
        ) x on x.customer_id = s.customer_id and x.event_ts >= s.start_ts)"""
        )
    reached = " ".join(f"when t{k} is null then {k - 1}" for k in range(1, n + 1))
    ctes.append(f"att as (select *, case {reached} else {n} end as reached from a{n})")
    return ",\n    ".join(ctes)


def funnel_paths(
    con: duckdb.DuckDBPyConnection,
    *,
    steps: tuple[str, ...],
    window_days: float = 7.0,
    order: str = "strict",
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> pd.DataFrame:
    """Each customer's best attempt at the funnel: the per-customer half of :func:`event_funnel`.

    One row per customer who did step 1 (in any order: one of the steps), for their furthest
    attempt, the earliest among equals. Columns: customer_id, entry_channel (of the event that
    started the attempt), reached (1..n), gap_2..gap_n (seconds from step k-1 to step k; in any
    order between their first occurrences in the window, whichever came first; NULL when step k
    was not reached). A customer's row depends on their own events only, so the rows of a
    customer-only filter (region, segment, tier) are these rows restricted to its customers.
    :func:`funnel_from_paths` aggregates them.
    """
    require_table(con, "events", "event funnels")
    steps = _check_steps(steps, order, window_days)
    n = len(steps)
    attempts = _strict_attempts(n, steps) if order == "strict" else _any_attempts(n)
    gap = "{}" if order == "strict" else "abs({})"
    gaps = ", ".join(
        f"case when reached >= {k} then "
        + gap.format(f"epoch(t{k}) - epoch(t{k - 1})")
        + f" end as gap_{k}"
        for k in range(2, n + 1)
    )
    sql = f"""
    with e as (
        select customer_id, event_name, event_ts, channel from events
        where customer_id is not null and event_ts is not null
          and event_name in (select unnest($steps))
          and event_ts >= $start and epoch(event_ts) - epoch($stop) <= $window_s
    ),
    {attempts}
    select cast(customer_id as varchar) as customer_id, entry_channel,
           cast(reached as integer) as reached, {gaps}
    from att where reached > 0
    -- equally good attempts starting at the same instant differ only by their channel
    qualify row_number() over (
        partition by customer_id order by reached desc, start_ts, entry_channel) = 1
    """
    start_ts, stop_ts = _attempt_bounds(start, end)
    params = {
        "steps": list(steps),
        "window_s": float(window_days) * 86400.0,
        "start": start_ts.to_pydatetime(),
        "stop": stop_ts.to_pydatetime(),
        **{f"step_{k}": s for k, s in enumerate(steps, start=1)},
    }
    return query_df(con, sql, params)


@dataclass(frozen=True, eq=False)
class EventLedger:
    """Every event with a customer, name and time, as arrays sorted by customer, time and
    channel: :meth:`paths` gives :func:`funnel_paths` for any steps, window, order and date
    range from them without a query, in a few array passes (no join, no sort).

    Customers and names are numbered in their (binary) order; channels too, with the events
    without one last, as SQL sorts NULLs. Read-only: it may be shared.
    """

    customer_ids: pd.Series  # str, in id order: everyone with an event
    c: np.ndarray  # customer number (int32) of each event, in (c, us, channel) order
    us: np.ndarray  # time, microseconds since 1970 (int64)
    name: np.ndarray  # index in ``names`` (int16)
    channel: np.ndarray  # index in ``channels``, len(channels) without one (int16)
    names: tuple[str, ...]
    channels: tuple[str, ...]

    @functools.cached_property
    def span(self) -> tuple[int, int]:
        """The first and last event time (0, 0 without events)."""
        return (int(self.us.min()), int(self.us.max())) if len(self.us) else (0, 0)

    def paths(
        self,
        *,
        steps: tuple[str, ...],
        window_days: float = 7.0,
        order: str = "strict",
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
    ) -> pd.DataFrame:
        """:func:`funnel_paths` of the events the global date filter keeps (``date_from`` to
        ``date_to``, inclusive dates of ``event_ts``), with the same rows and columns (the
        order of rows may differ)."""
        steps = _check_steps(steps, order, window_days)
        n, window_s = len(steps), float(window_days) * 86400.0
        start_us, stop_us = (_epoch_us(t) for t in _attempt_bounds(start, end))
        us = self.us
        code = {name: i for i, name in enumerate(self.names)}
        # The rows of the SQL's ``e``: step events from ``start`` to a window past ``end``,
        # within the filter's dates. Bounds every event passes cost no pass over the events.
        # Times compare as the SQL's do, in seconds as doubles (``epoch``: us / 1e6), so that
        # an event exactly at a window's edge falls on the same side.
        is_step = np.zeros(len(self.names), dtype=bool)
        is_step[[code[s] for s in steps if s in code]] = True
        usable = is_step[self.name]
        low, high = self.span
        if date_from is not None:  # whole days, as the filter casts event_ts to a date
            usable &= us >= _epoch_us(pd.Timestamp(date_from).normalize())
        if date_to is not None:
            usable &= us < _epoch_us(pd.Timestamp(date_to).normalize() + pd.Timedelta(days=1))
        if low < start_us:
            usable &= us >= start_us
        if high / 1e6 - stop_us / 1e6 > window_s:
            usable &= us / 1e6 - stop_us / 1e6 <= window_s
        begins = usable if high < stop_us else usable & (us < stop_us)  # attempts start here

        # Only the usable events from here on, still in (customer, time, channel) order, each
        # array with one more position, ``total``: no event, nobody's.
        keep = np.flatnonzero(usable)
        del usable
        begins = begins[keep]
        total = len(keep)
        c, us, name = (
            np.take(a, keep, out=np.empty(total + 1, a.dtype)[:total]).base
            for a in (self.c, self.us, self.name)
        )
        c[total], us[total], name[total] = -1, 0, -1

        # Events at one instant of one customer are ties: an ASOF match "at or after t" may be
        # any of t's ties, "after t" none of them.
        new = np.append(run_starts(c[:total]) | run_starts(us[:total]), True)
        codes = [code.get(s, -2) for s in steps]  # -2: a step nobody did (-1: no event)
        if order == "strict":
            starts, who, reached, times = _strict_paths(
                c, us, name, begins, new, codes, steps, window_s
            )
        else:
            starts, who, reached, times = _any_order_paths(
                c, us, name, begins, new, codes, window_s
            )
        del new

        # Each customer's best attempt: the furthest, then the earliest, then by channel
        # (the order of ``starts``).
        at = np.flatnonzero(reached > 0)
        rows = at
        if len(at):
            lead = run_starts(who[at])
            top = np.maximum.reduceat(reached[at], np.flatnonzero(lead))
            best = at[reached[at] == top[np.cumsum(lead) - 1]]
            rows = best[run_starts(who[best])]

        out = {
            "customer_id": self.customer_ids.to_numpy()[who[rows]],
            "entry_channel": np.append(np.array(self.channels, dtype=object), None)[
                self.channel[keep[starts[rows]]]
            ],
            "reached": reached[rows],
        }
        for k in range(2, n + 1):
            gap = times[k - 1][rows] / 1e6 - times[k - 2][rows] / 1e6
            out[f"gap_{k}"] = np.where(
                reached[rows] >= k, gap if order == "strict" else np.abs(gap), np.nan
            )
        return pd.DataFrame(out)


def _strict_paths(c, us, name, begins, new, codes, steps, window_s):
    """Strict order over the usable events (arrays with one more position, ``total``, of
    nobody): the best attempt of each run of attempts, as (start positions, customers,
    steps reached, [t1..tn]).

    A run is a customer's consecutive step-1 events whose step 2 is the same event: they share
    every later step (each is the first of its name after the previous one), so the steps are
    followed once per run instead of once per attempt. The later an attempt of a run starts,
    the further its window reaches: the run's last attempt reaches furthest, and the run's
    best is its earliest attempt that reaches as far.
    """
    total, n = len(c) - 1, len(codes)
    group = np.cumsum(new, dtype=np.int32)  # ties share a number, in position order

    def follow(k: int, positions: np.ndarray, who: np.ndarray) -> np.ndarray:
        """The first event of step k after each position (at or after, unless the step's
        event already came earlier in the steps), or ``total`` when it is not ``who``'s."""
        at = np.flatnonzero(name == codes[k - 1])
        side = "right" if steps[k - 1] in steps[: k - 1] else "left"
        j = np.append(at, total)[np.searchsorted(group[at], group[positions], side=side)]
        return np.where(c[j] == who, j, total)

    attempts = np.flatnonzero(begins & (name[:total] == codes[0]))
    if not len(attempts):
        return attempts, c[:0], np.zeros(0, dtype=np.int32), [us[:0]] * n
    owner = c[attempts]
    second = follow(2, attempts, owner)
    run = run_starts(owner) | run_starts(second)
    first = np.flatnonzero(run)
    last = np.append(first[1:], len(attempts)) - 1
    who = owner[first]
    chain = [second[first]]  # positions of steps 2..n per run (``total``: not reached)
    for k in range(3, n + 1):
        chain.append(follow(k, chain[-1], who))
    later = [us[j] for j in chain]

    # How far each run's last attempt reaches: the first step missed or out of its window.
    reach = np.full(len(first), n, dtype=np.int32)
    end = us[attempts[last]] / 1e6
    for k in range(n, 1, -1):
        reach[(chain[k - 2] == total) | (later[k - 2] / 1e6 - end > window_s)] = k - 1
    # Each run's earliest attempt that reaches as far: the window from its start holds the
    # run's furthest step (the runs' steps are in time order, so the nearer ones too).
    size = np.diff(np.append(first, len(attempts)))
    furthest = np.stack(later)[np.maximum(reach, 2) - 2, np.arange(len(first))]
    enough = np.repeat(reach == 1, size) | (
        np.repeat(furthest / 1e6, size) - us[attempts] / 1e6 <= window_s
    )
    best = np.flatnonzero(enough & (run | ~np.append(False, enough[:-1])))
    starts = attempts[best]
    return starts, who, reach, [us[starts], *later]


def _any_order_paths(c, us, name, begins, new, codes, window_s):
    """Any order over the usable events (as :func:`_strict_paths`): every step event starts
    an attempt, which reaches each step at the first event of its name at or after the start
    (of its ties) within the window. (start positions, customers, steps reached, [t1..tn])."""
    total, n = len(c) - 1, len(codes)
    index = np.arange(total + 1, dtype=np.int32)
    tie_start = np.maximum.accumulate(np.where(new, index, 0))
    starts = np.flatnonzero(begins)
    who = c[starts]
    first = us[starts] / 1e6
    from_here = tie_start[starts]
    del tie_start
    reached = np.full(len(starts), n, dtype=np.int32)
    times, missed = [], []
    for code in codes:
        nxt = np.where(name == code, index, total)
        j = np.minimum.accumulate(nxt[::-1])[::-1][from_here]
        times.append(us[j])
        missed.append((c[j] != who) | (us[j] / 1e6 - first > window_s))
    for k in range(n, 0, -1):  # the first step missed wins, as the SQL's CASE
        reached[missed[k - 1]] = k - 1
    return starts, who, reached, times


def _epoch_us(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).as_unit("ns").value) // 1000


def _attempt_bounds(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The instants attempts may start from and before: ``start`` and the day after ``end``."""
    start_ts = pd.Timestamp(start) if start is not None else pd.Timestamp("1900-01-01")
    stop_ts = (
        pd.Timestamp(end) + pd.Timedelta(days=1) if end is not None else pd.Timestamp("2200-01-01")
    )
    return start_ts, stop_ts


def event_ledger(con: duckdb.DuckDBPyConnection) -> EventLedger:
    """The :class:`EventLedger` of ``con``'s events (an unfiltered connection for one to be
    shared: :meth:`EventLedger.paths` applies the date filter)."""
    require_table(con, "events", "event funnels")
    # Customers, names and channels numbered in their order: stored in that order (DuckDB
    # keeps insertion order), so a number is a rowid.
    numbered = {
        "_event_ids": "cast(customer_id as varchar) as customer_id from events "
        "where customer_id is not null",
        "_event_names": "event_name from events where event_name is not null",
        "_event_channels": "channel from events where channel is not null",
    }
    try:
        for table, select in numbered.items():
            con.execute(f"create or replace temp table {table} as select distinct {select} "
                        "order by 1")  # fmt: skip
        ev = con.sql(
            """select cast(i.rowid as integer) as c, epoch_us(e.event_ts) as us,
                   cast(n.rowid as integer) as name, cast(ch.rowid as integer) as channel
            from events e join _event_ids i on i.customer_id = cast(e.customer_id as varchar)
            join _event_names n using (event_name) left join _event_channels ch using (channel)
            where e.event_ts is not null
            order by c, us, channel nulls last"""
        ).fetchnumpy()
        names, channels = (
            tuple(r[0] for r in con.sql(f"select * from {t} order by rowid").fetchall())
            for t in ("_event_names", "_event_channels")
        )
        ids = con.sql("select customer_id from _event_ids order by rowid").to_arrow_table()
    except duckdb.Error as e:
        raise QueryError(f"Query failed: {e}") from e
    finally:
        for table in numbered:
            con.execute(f"drop table if exists {table}")

    def codes(values, count: int) -> np.ndarray:
        """Small numbers in the smallest type that holds them (and ``count``: no value)."""
        values = values.filled(count) if np.ma.isMaskedArray(values) else values
        return np.asarray(values).astype(np.int16 if count < 2**15 - 1 else np.int32)

    ledger = EventLedger(
        customer_ids=ids.column("customer_id").to_pandas().astype("str"),
        c=np.asarray(ev["c"], dtype=np.int32),
        us=np.asarray(ev["us"], dtype=np.int64),
        name=codes(ev["name"], len(names)),
        channel=codes(ev["channel"], len(channels)),
        names=names,
        channels=channels,
    )
    for values in (ledger.c, ledger.us, ledger.name, ledger.channel):
        values.flags.writeable = False
    return ledger


def _check_breakdown(con: duckdb.DuckDBPyConnection, breakdown: str) -> None:
    if breakdown not in BREAKDOWNS:
        raise UsageError(f"breakdown must be one of {', '.join(BREAKDOWNS)}, not {breakdown!r}.")
    require_table(con, BREAKDOWNS[breakdown], f"a funnel breakdown by {breakdown}")


def breakdown_labels(con: duckdb.DuckDBPyConnection, *, breakdown: str) -> pd.DataFrame:
    """customer_id -> label for a breakdown other than ``channel`` (which comes with the paths).

    ``acquisition_channel`` and ``region`` come from ``customers``; ``segment`` (RFM, with the
    rules stored with the dataset) and ``stage`` are scored at the last transaction date
    against the customers ``con`` sees (quintiles, derived thresholds), so under a filter they
    are the filtered customers' labels. Columns: customer_id, label.
    """
    _check_breakdown(con, breakdown)
    if breakdown == "channel":
        raise UsageError("The channel breakdown needs no labels: it is the paths' entry_channel.")
    if breakdown in ("segment", "stage"):
        return _customer_labels(con, breakdown)
    return query_df(
        con,
        f"""
        select cast(customer_id as varchar) as customer_id,
               cast(any_value({quote_ident(breakdown)}) as varchar) as label
        from customers where customer_id is not null group by customer_id
        """,
    )


def funnel_from_paths(
    paths: pd.DataFrame,
    steps: tuple[str, ...],
    *,
    breakdown: str | None = None,
    labels: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The funnel of :func:`funnel_paths` rows: counts reaching each step and median hours.

    ``labels`` (customer_id, label; from :func:`breakdown_labels`) are needed for every
    ``breakdown`` but ``channel``; customers without a label fall in "(none)". Groups come
    largest first. Columns as :func:`event_funnel`. ``paths`` is not modified.
    """
    steps = tuple(str(s) for s in steps)
    n = len(steps)
    if n < 2:
        raise UsageError("A funnel needs at least two steps.")
    missing = [f"gap_{k}" for k in range(2, n + 1) if f"gap_{k}" not in paths.columns]
    if missing:
        raise UsageError(f"These paths are not of a {n}-step funnel (no {', '.join(missing)}).")
    if breakdown not in (None, "channel", *BREAKDOWNS):
        raise UsageError(f"breakdown must be one of {', '.join(BREAKDOWNS)}, not {breakdown!r}.")
    if breakdown not in (None, "channel") and labels is None:
        raise UsageError(f"A funnel breakdown by {breakdown} needs the customers' labels.")
    codes, groups = _groups(paths, breakdown, labels)
    reached = paths["reached"].to_numpy()
    wide = pd.DataFrame({"grp": pd.Series(list(groups), dtype=object)})
    for k in range(1, n + 1):
        wide[f"c{k}"] = np.bincount(codes[reached >= k], minlength=len(groups)).astype("int64")
    # pandas' median is DuckDB's: NULLs skipped, the mean of the two middle values
    gaps = pd.DataFrame(
        {f"h{k}": paths[f"gap_{k}"].to_numpy("float64", na_value=np.nan) for k in range(2, n + 1)}
    )
    hours = gaps.groupby(codes).median().reindex(range(len(groups))) / 3600.0
    wide = pd.concat([wide, hours.reset_index(drop=True)], axis=1)
    wide = wide[wide["c1"] > 0]  # every path reached step 1: the groups with customers
    wide = wide.sort_values(["c1", "grp"], ascending=[False, True], kind="stable")
    return _long_funnel(wide.reset_index(drop=True), steps, breakdown)


def _groups(
    paths: pd.DataFrame, breakdown: str | None, labels: pd.DataFrame | None
) -> tuple[np.ndarray, list[str]]:
    """Each path's group number and the group names (some may have no path)."""
    if breakdown is None:
        return np.zeros(len(paths), dtype="int64"), ["All"]
    if breakdown == "channel":
        codes, groups = pd.factorize(paths["entry_channel"].astype("string").fillna(_MISSING))
        return codes, [str(g) for g in groups]
    label_codes, groups = pd.factorize(labels["label"].astype("string").fillna(_MISSING))
    groups = [str(g) for g in groups]
    if _MISSING not in groups:
        groups.append(_MISSING)  # customers without a label
    at = id_positions(paths["customer_id"], labels["customer_id"])  # each path's label row
    codes = np.append(label_codes, groups.index(_MISSING))[at]  # -1: the last, "(none)"
    return codes, groups


def event_funnel(
    con: duckdb.DuckDBPyConnection,
    *,
    steps: tuple[str, ...],
    window_days: float = 7.0,
    order: str = "strict",
    breakdown: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
) -> pd.DataFrame:
    """Funnel counts, conversion, drop-off and median time between steps.

    ``start``/``end`` (inclusive dates) limit when attempts may start; later steps may happen
    up to ``window_days`` after. Columns: [breakdown,] step (1..n), event, customers,
    step_conversion (of the previous step), overall_conversion (of step 1), drop_off
    (customers lost since the previous step), median_hours_from_previous.

    :func:`funnel_from_paths` of :func:`funnel_paths` (with :func:`breakdown_labels`).
    """
    require_table(con, "events", "event funnels")
    steps = _check_steps(steps, order, window_days)
    labels = None
    if breakdown is not None:
        _check_breakdown(con, breakdown)
        if breakdown != "channel":
            labels = breakdown_labels(con, breakdown=breakdown)
    paths = funnel_paths(
        con, steps=steps, window_days=window_days, order=order, start=start, end=end
    )
    return funnel_from_paths(paths, steps, breakdown=breakdown, labels=labels)


def _customer_labels(con: duckdb.DuckDBPyConnection, breakdown: str) -> pd.DataFrame:
    """customer_id -> label: RFM segment (with the rules stored with the dataset) or lifecycle
    stage, both as of the last transaction date."""
    if breakdown == "segment":
        from clm_core.segments import customer_segments, stored_rules

        df = customer_segments(con, rules=stored_rules(con))
    else:
        from clm_core.lifecycle import customer_stages

        df = customer_stages(con)
    return df[["customer_id", breakdown]].rename(columns={breakdown: "label"})


def _long_funnel(wide: pd.DataFrame, steps: tuple[str, ...], breakdown: str | None) -> pd.DataFrame:
    """One row per (group, step) with the conversion columns."""
    n = len(steps)
    if wide.empty:  # nobody started the funnel: still one row per step
        wide = pd.DataFrame({"grp": ["All"], **{f"c{k}": [0] for k in range(1, n + 1)}})
    counts = wide.melt(id_vars="grp", value_vars=[f"c{k}" for k in range(1, n + 1)],
                       var_name="step", value_name="customers")  # fmt: skip
    counts["step"] = counts["step"].str[1:].astype(int)
    hours = wide.reindex(columns=["grp", *[f"h{k}" for k in range(2, n + 1)]]).melt(
        id_vars="grp", var_name="step", value_name="median_hours_from_previous"
    )
    hours["step"] = hours["step"].str[1:].astype(int)
    df = counts.merge(hours, on=["grp", "step"], how="left")
    df["customers"] = df["customers"].astype("int64")
    df = df.sort_values(["grp", "step"], kind="stable")
    first = df.groupby("grp", sort=False)["customers"].transform("first")
    prev = df.groupby("grp", sort=False)["customers"].shift(1)
    df["event"] = df["step"].map(dict(enumerate(steps, start=1)))
    df["step_conversion"] = (df["customers"] / prev.where(prev > 0)).where(df["step"] > 1, 1.0)
    df["overall_conversion"] = df["customers"] / first.where(first > 0)
    df["drop_off"] = (prev - df["customers"]).fillna(0).astype("int64")
    df["median_hours_from_previous"] = df["median_hours_from_previous"].astype(float)
    order = {g: i for i, g in enumerate(wide["grp"])}
    df = df.sort_values(["grp", "step"], key=lambda s: s.map(order) if s.name == "grp" else s)
    cols = ["step", "event", "customers", "step_conversion", "overall_conversion", "drop_off",
            "median_hours_from_previous"]  # fmt: skip
    if breakdown is None:
        return df[cols].reset_index(drop=True)
    return df.rename(columns={"grp": breakdown})[[breakdown, *cols]].reset_index(drop=True)


_PURCHASE_DAYS = """
pd as (
    select customer_id, cast(order_ts as date) as d
    from transactions
    where amount >= 0 and customer_id is not null and cast(order_ts as date) <= $as_of
    group by 1, 2
),
eligible as (
    select customer_id from pd group by 1
    having date_diff('day', min(d), $as_of) >= $min_tenure_days
),
nth as (
    select customer_id, d, row_number() over (partition by customer_id order by d) as k
    from pd join eligible using (customer_id)
)"""

# Days from the n-th to the (n+1)-th purchase day, n = 1..$max_k (gap NULL for the first).
_PURCHASE_GAPS = (
    _PURCHASE_DAYS
    + """,
g as (
    select k - 1 as from_purchase,
           date_diff('day', lag(d) over (partition by customer_id order by k), d) as gap
    from nth where k <= $max_k + 1
)"""
)


def _purchase_as_of(con, as_of) -> dt.date:
    require_table(con, "transactions", "the repeat-purchase funnel")
    return pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)


def repeat_purchase_funnel(
    con: duckdb.DuckDBPyConnection,
    *,
    steps: tuple[int, ...] = PURCHASE_STEPS,
    as_of=None,
    min_tenure_days: int = 0,
) -> pd.DataFrame:
    """Customers reaching their 1st, 2nd, 3rd, 5th... purchase (purchase days) by ``as_of``.

    ``min_tenure_days`` keeps only customers whose first purchase is at least that old, so that
    recent customers who had no time to come back do not drag conversion down. Columns: step,
    purchase (the n-th), customers, step_conversion, overall_conversion, drop_off,
    median_days_from_previous (from the previous step's purchase to this one).
    """
    steps = tuple(sorted({int(s) for s in steps}))
    if not steps or steps[0] < 1:
        raise UsageError("Purchase steps must be positive purchase numbers such as 1, 2, 3, 5.")
    as_of = _purchase_as_of(con, as_of)
    df = query_df(
        con,
        f"""
        with {_PURCHASE_DAYS},
        sel as (select customer_id, k, d from nth where list_contains($steps, k)),
        g as (
            select k, date_diff('day', lag(d) over (partition by customer_id order by k), d) as gap
            from sel
        ),
        agg as (
            select s.k, count(g.k) as customers, median(g.gap) as median_days_from_previous
            from (select unnest($steps) as k) s left join g using (k)
            group by s.k
        )
        select row_number() over (order by k) as step, k as purchase, customers,
               coalesce(customers / nullif(lag(customers) over (order by k), 0), 1.0)
                   as step_conversion,
               customers / nullif(first_value(customers) over (order by k), 0)
                   as overall_conversion,
               coalesce(lag(customers) over (order by k) - customers, 0) as drop_off,
               median_days_from_previous
        from agg order by k
        """,
        {"as_of": as_of, "steps": list(steps), "min_tenure_days": int(min_tenure_days)},
    )
    if df["customers"].iloc[0] == 0:
        raise NotEnoughData("No purchases on or before the chosen date.")
    for col in ("step", "purchase", "customers", "drop_off"):
        df[col] = df[col].astype("int64")
    return df


def next_purchase_gaps(
    con: duckdb.DuckDBPyConnection, *, as_of=None, max_purchase: int = 4, min_tenure_days: int = 0
) -> pd.DataFrame:
    """Distribution of days from the n-th to the (n+1)-th purchase, n = 1..``max_purchase``.

    Columns: from_purchase (n), customers (who made purchase n+1), p25, median, p75, p90, mean
    (days).
    """
    as_of = _purchase_as_of(con, as_of)
    df = query_df(
        con,
        f"""
        with {_PURCHASE_GAPS}
        select from_purchase, count(*) as customers,
               quantile_cont(gap, 0.25) as p25, median(gap) as median,
               quantile_cont(gap, 0.75) as p75, quantile_cont(gap, 0.9) as p90,
               avg(gap) as mean
        from g where gap is not null group by 1 order by 1
        """,
        {"as_of": as_of, "max_k": int(max_purchase), "min_tenure_days": int(min_tenure_days)},
    )
    df["from_purchase"] = df["from_purchase"].astype("int64")
    df["customers"] = df["customers"].astype("int64")
    return df


def next_purchase_histogram(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of=None,
    max_purchase: int = 3,
    bin_days: int = 7,
    max_days: int | None = None,
    min_tenure_days: int = 0,
) -> pd.DataFrame:
    """Histogram of days to the next purchase per ``from_purchase`` (n-th to (n+1)-th).

    Bins are ``bin_days`` wide; gaps beyond ``max_days`` (default: 95th percentile of all the
    gaps, rounded up to a bin) go into the last bin. Columns: from_purchase, bin_start (days),
    customers, share (of that transition's customers).
    """
    if bin_days < 1:
        raise UsageError(f"bin_days must be at least 1, not {bin_days}.")
    as_of = _purchase_as_of(con, as_of)
    df = query_df(
        con,
        f"""
        with {_PURCHASE_GAPS},
        gaps as (select * from g where gap is not null),
        cap as (
            select coalesce($max_days,
                            ceil(quantile_cont(gap, 0.95) / $bin) * $bin) as max_days
            from gaps
        ),
        binned as (
            select from_purchase,
                   cast(floor(least(gap, greatest(cap.max_days - 1, 0)) / $bin) * $bin as integer)
                       as bin_start
            from gaps, cap
        )
        select from_purchase, bin_start, count(*) as customers,
               count(*) / sum(count(*)) over (partition by from_purchase) as share
        from binned group by 1, 2 order by 1, 2
        """,
        {
            "as_of": as_of,
            "max_k": int(max_purchase),
            "bin": int(bin_days),
            "max_days": max_days,
            "min_tenure_days": int(min_tenure_days),
        },
    )
    for col in ("from_purchase", "bin_start", "customers"):
        df[col] = df[col].astype("int64")
    return df


# --- Labels and takeaways shown on the page ---


def purchase_label(n: int, lang: str = "en") -> str:
    """ "2nd purchase" / "第2次购买"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return translate("{ordinal} purchase", lang).format(ordinal=f"{n}{suffix}", n=n)


def takeaway_funnel(funnel: pd.DataFrame, lang: str = "en") -> str:
    """End-to-end conversion and the step that loses the most customers (one group)."""
    first, last = funnel.iloc[0], funnel.iloc[-1]
    if not first["customers"]:
        return translate("Nobody started this funnel in the chosen period.", lang)
    worst = funnel.iloc[1:].loc[funnel["drop_off"].iloc[1:].idxmax()]
    prev = funnel.loc[funnel["step"] == worst["step"] - 1].iloc[0]
    return translate(
        "{overall} of the {n} customers who did {first} went on to {last}; the biggest loss is "
        "from {a} to {b} ({lost} customers, {conv} went on).",
        lang,
    ).format(
        overall=f"{last['overall_conversion']:.1%}",
        n=f"{int(first['customers']):,}",
        first=first["event"],
        last=last["event"],
        a=prev["event"],
        b=worst["event"],
        lost=f"{int(worst['drop_off']):,}",
        conv=f"{worst['step_conversion']:.0%}",
    )


def takeaway_breakdown(
    funnel: pd.DataFrame, by: str, lang: str = "en", min_customers: int = 30
) -> str:
    """Best and worst group by end-to-end conversion (groups with at least ``min_customers``)."""
    last_step = funnel["step"].max()
    ends = funnel[(funnel["step"] == last_step)].set_index(by)
    starts = funnel[funnel["step"] == 1].set_index(by)["customers"]
    ends = ends[starts.reindex(ends.index) >= min_customers]
    if len(ends) < 2:
        return translate("Too few customers per group to compare.", lang)
    best, worst = ends["overall_conversion"].idxmax(), ends["overall_conversion"].idxmin()
    name = (lambda g: translate(g, lang)) if by == "stage" else str
    return translate(
        "Best {by}: {best} converts {b} end to end; worst: {worst} at {w}.", lang
    ).format(
        by=translate(by.replace("_", " "), lang),
        best=name(best),
        b=f"{ends.loc[best, 'overall_conversion']:.1%}",
        worst=name(worst),
        w=f"{ends.loc[worst, 'overall_conversion']:.1%}",
    )


def takeaway_repeat(funnel: pd.DataFrame, lang: str = "en") -> str:
    """Share of buyers who came back for a second purchase and how long that took."""
    rows = funnel.set_index("purchase")
    if len(rows) < 2:
        return translate("Only one purchase step chosen.", lang)
    second = rows.iloc[1]
    last = rows.iloc[-1]
    return translate(
        "{share} of {n} buyers made a {second}, after a median {days} days; {last_share} "
        "reached the {last}.",
        lang,
    ).format(
        share=f"{second['overall_conversion']:.0%}",
        n=f"{int(rows.iloc[0]['customers']):,}",
        second=purchase_label(int(rows.index[1]), lang),
        days=f"{second['median_days_from_previous']:.0f}",
        last_share=f"{last['overall_conversion']:.0%}",
        last=purchase_label(int(rows.index[-1]), lang),
    )


def takeaway_gaps(gaps: pd.DataFrame, lang: str = "en") -> str:
    """How quickly the second purchase comes and whether later purchases come faster."""
    if gaps.empty:
        return translate("No repeat purchases yet.", lang)
    first = gaps.iloc[0]
    text = translate(
        "Half of second purchases come within {median} days of the first, 90% within {p90}.",
        lang,
    ).format(median=f"{first['median']:.0f}", p90=f"{first['p90']:.0f}")
    if len(gaps) > 1:
        later = gaps.iloc[-1]
        text += " " + translate(
            "After the {n}, the median gap to the next one is {median} days.", lang
        ).format(
            n=purchase_label(int(later["from_purchase"]), lang), median=f"{later['median']:.0f}"
        )
    return text


def transition_labels(gaps: pd.DataFrame, lang: str = "en") -> dict[int, str]:
    """Legend labels "1st purchase → 2nd purchase" for each ``from_purchase`` in ``gaps``."""
    return {
        int(k): f"{purchase_label(int(k), lang)} → {purchase_label(int(k) + 1, lang)}"
        for k in sorted(gaps["from_purchase"].unique())
    }
