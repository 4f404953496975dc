"""Event funnels (strict and any order, windows, repeated and out-of-order events) and the
repeat-purchase funnel, by hand and against a brute-force reference."""

from __future__ import annotations

import itertools

import duckdb
import numpy as np
import pandas as pd
import pytest

from clm_core import funnels as fn
from clm_core import store
from clm_core.errors import MissingTableError, UsageError
from clm_core.filters import Filters, apply_filters, customer_filter_ids, keep_customers
from clm_core.i18n import ZH

STEPS = ("visit", "cart", "buy")


def _events(rows):
    return pd.DataFrame(rows, columns=["customer_id", "event_name", "event_ts", "channel"]).assign(
        event_ts=lambda d: pd.to_datetime(d["event_ts"])
    )


ROWS = [
    # a: in order within a day -> 3 steps; 1 h to cart, 37 h to buy
    ("a", "visit", "2024-01-01 10:00", "web"),
    ("a", "cart", "2024-01-01 11:00", "web"),
    ("a", "buy", "2024-01-03 00:00", "web"),
    # b: out of order (cart before visit) -> strict 1 step, any order 3 steps
    ("b", "cart", "2024-01-01 00:00", "app"),
    ("b", "visit", "2024-01-02 00:00", "app"),
    ("b", "buy", "2024-01-03 00:00", "app"),
    # c: repeated visits; the first attempt runs out of window, the second reaches cart
    ("c", "visit", "2024-01-01 00:00", "web"),
    ("c", "visit", "2024-01-10 00:00", "ads"),
    ("c", "cart", "2024-01-11 00:00", "ads"),
    ("c", "cart", "2024-01-12 00:00", "ads"),
    # d: only a visit
    ("d", "visit", "2024-01-01 00:00", "web"),
    # e: buy exactly 7 days after the visit (window edge: included), cart at the same instant
    # as the visit (at or after counts)
    ("e", "visit", "2024-01-05 00:00", "app"),
    ("e", "cart", "2024-01-05 00:00", "app"),
    ("e", "buy", "2024-01-12 00:00", "app"),
    # f: never visits (not in the funnel)
    ("f", "cart", "2024-01-05 00:00", "web"),
    ("f", "login", "2024-01-05 00:00", "web"),
]


@pytest.fixture()
def con():
    customers = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "acquisition_channel": ["seo", "seo", "ads", None, "ads", "seo"],
        }
    )
    return store.from_frames(events=_events(ROWS), customers=customers)


def _counts(df):
    return df["customers"].tolist()


def test_strict_order_by_hand(con):
    f = fn.event_funnel(con, steps=STEPS, window_days=7)
    assert f["event"].tolist() == list(STEPS)
    assert _counts(f) == [5, 3, 2]  # a b c d e enter; a c e reach cart; a e buy
    assert f["drop_off"].tolist() == [0, 2, 1]
    assert f["step_conversion"].round(4).tolist() == [1.0, 0.6, round(2 / 3, 4)]
    assert f["overall_conversion"].round(4).tolist() == [1.0, 0.6, 0.4]
    # cart: a 1 h, c 24 h, e 0 h -> median 1 h; buy: a 37 h, e 168 h -> median 102.5 h
    assert f["median_hours_from_previous"].iloc[1] == pytest.approx(1.0)
    assert f["median_hours_from_previous"].iloc[2] == pytest.approx(102.5)
    assert np.isnan(f["median_hours_from_previous"].iloc[0])


def test_any_order_counts_out_of_order_events(con):
    f = fn.event_funnel(con, steps=STEPS, window_days=7, order="any")
    # b now converts fully; f did cart but never visit, so it does not enter
    assert _counts(f) == [5, 4, 3]
    # cart from visit, in either direction: a 1 h, b 24 h, c 24 h, e 0 h -> median 12.5 h
    assert f["median_hours_from_previous"].iloc[1] == pytest.approx(12.5)


def test_window_edges(con):
    # 7 days is exactly e's visit-to-buy time: included; a hair less excludes it
    assert _counts(fn.event_funnel(con, steps=STEPS, window_days=7))[2] == 2
    assert _counts(fn.event_funnel(con, steps=STEPS, window_days=6.99))[2] == 1
    # a 10-day window lets c's first visit reach its cart as well (still 3 customers)
    assert _counts(fn.event_funnel(con, steps=STEPS, window_days=10)) == [5, 3, 2]
    # a 1-hour window: only a (1 h) and e (0 h) reach cart
    assert _counts(fn.event_funnel(con, steps=STEPS, window_days=1 / 24)) == [5, 2, 0]


def test_repeated_step_needs_a_second_event(con):
    f = fn.event_funnel(con, steps=("visit", "visit"), window_days=30)
    assert _counts(f) == [5, 1]  # only c visits twice
    assert f["median_hours_from_previous"].iloc[1] == pytest.approx(9 * 24)
    f = fn.event_funnel(con, steps=("cart", "cart"), window_days=30)
    assert _counts(f) == [5, 1]  # a b c e f enter; only c has two carts


def test_breakdown_goes_to_the_channel_of_the_converting_attempt(con):
    f = fn.event_funnel(con, steps=STEPS, window_days=7, breakdown="channel")
    got = {(g, s): n for g, s, n in zip(f["channel"], f["step"], f["customers"], strict=True)}
    # c converts from its second visit, made on "ads"; d's only visit was on web
    assert got[("ads", 1)] == 1 and got[("ads", 2)] == 1
    assert got[("web", 1)] == 2 and got[("web", 3)] == 1
    assert got[("app", 1)] == 2 and got[("app", 2)] == 1 and got[("app", 3)] == 1
    by_acq = fn.event_funnel(con, steps=STEPS, window_days=7, breakdown="acquisition_channel")
    starts = by_acq[by_acq["step"] == 1].set_index("acquisition_channel")["customers"]
    assert starts.to_dict() == {"seo": 2, "ads": 2, "(none)": 1}


def test_date_range_limits_when_attempts_start(con):
    f = fn.event_funnel(con, steps=STEPS, window_days=7, start="2024-01-02", end="2024-01-10")
    # entries: b (01-02), c (01-10), e (01-05); c's cart on 01-11 still counts
    assert _counts(f) == [3, 2, 1]


def test_nobody_in_the_funnel_gives_zero_rows(con):
    f = fn.event_funnel(con, steps=("login", "buy"), window_days=1)
    assert _counts(f) == [1, 0]
    empty = fn.event_funnel(con, steps=("nothing", "buy"), window_days=1)
    assert _counts(empty) == [0, 0]
    assert "Nobody" in fn.takeaway_funnel(empty)


def test_bad_requests_are_refused(con):
    with pytest.raises(UsageError, match="two steps"):
        fn.event_funnel(con, steps=("visit",))
    with pytest.raises(UsageError, match="different event"):
        fn.event_funnel(con, steps=("visit", "visit"), order="any")
    with pytest.raises(UsageError, match="order"):
        fn.event_funnel(con, steps=STEPS, order="sometimes")
    with pytest.raises(UsageError, match="window"):
        fn.event_funnel(con, steps=STEPS, window_days=0)
    with pytest.raises(UsageError, match="breakdown"):
        fn.event_funnel(con, steps=STEPS, breakdown="shoe_size")
    no_events = store.from_frames(
        transactions=pd.DataFrame(
            {"customer_id": ["a"], "order_ts": ["2024-01-01"], "amount": [1.0]}
        )
    )
    with pytest.raises(MissingTableError, match="events"):
        fn.event_funnel(no_events, steps=STEPS)
    no_customers = store.from_frames(events=_events(ROWS))
    with pytest.raises(MissingTableError, match="customers"):
        fn.event_funnel(no_customers, steps=STEPS, breakdown="region")


def test_event_names_and_default_steps(con):
    names = fn.event_names(con)
    counts = names.set_index("event_name")["events"].to_dict()
    assert counts == {"visit": 6, "cart": 6, "buy": 3, "login": 1}
    # no typical web funnel here: the three most frequent events (ties by name)
    assert fn.default_steps(con) == ("cart", "visit", "buy")


# --- brute force: every attempt, every window, plain Python ------------------------------


def _reference(events: pd.DataFrame, steps, window_s: float, order: str) -> list[int]:
    reached = []
    for _, g in events.groupby("customer_id"):
        ev = sorted(zip(g["event_ts"], g["event_name"], range(len(g)), strict=True))
        best = 0
        if order == "strict":
            for t1, name, i1 in ev:
                if name != steps[0]:
                    continue
                k, t_prev, used = 1, t1, {i1}
                for step in steps[1:]:
                    # earliest later-or-equal event of this name not used yet
                    nxt = [(t, i) for t, n, i in ev if n == step and t >= t_prev and i not in used]
                    if not nxt or (nxt[0][0] - t1).total_seconds() > window_s:
                        break
                    t_prev, _ = nxt[0]
                    used.add(nxt[0][1])
                    k += 1
                best = max(best, k)
        else:
            for s, _, _ in ev:
                inside = {n for t, n, _ in ev if s <= t and (t - s).total_seconds() <= window_s}
                k = 0
                while k < len(steps) and steps[k] in inside:
                    k += 1
                best = max(best, k)
        reached.append(best)
    return [sum(r >= k for r in reached) for k in range(1, len(steps) + 1)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("order", ["strict", "any"])
def test_matches_brute_force_on_random_events(seed, order):
    rng = np.random.default_rng(seed)
    n = 600
    names = ["visit", "signup", "cart", "buy", "login"]
    events = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 80, n).astype(str),
            "event_name": rng.choice(names, n, p=[0.35, 0.15, 0.2, 0.15, 0.15]),
            # whole hours over 20 days: ties between events are common
            "event_ts": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 480, n), unit="h"),
            "channel": rng.choice(["web", "app"], n),
        }
    )
    con = store.from_frames(events=events)
    for steps, window in itertools.product(
        [("visit", "signup", "cart", "buy"), ("cart", "visit")], [1.0, 3.5]
    ):
        got = _counts(fn.event_funnel(con, steps=steps, window_days=window, order=order))
        assert got == _reference(events, steps, window * 86400, order), (steps, window)


# --- the split: per-customer paths, then the aggregation --------------------------------


def _old_event_funnel(
    con, *, steps, window_days=7.0, order="strict", breakdown=None, start=None, end=None
):
    """event_funnel as it was before funnel_paths/funnel_from_paths: one SQL query from the
    events to the wide counts and medians. The reference the split must reproduce exactly."""
    breakdowns = {
        "channel": ("events", "b.entry_channel"),
        "acquisition_channel": ("customers", "c.acquisition_channel"),
        "region": ("customers", "c.region"),
        "segment": ("transactions", "c.label"),
        "stage": ("transactions", "c.label"),
    }
    store.require_table(con, "events", "event funnels")
    steps = fn._check_steps(steps, order, window_days)
    n = len(steps)
    group_expr, join_customers, labels = "'All'", "", None
    if breakdown is not None:
        table, group_expr = breakdowns[breakdown]
        store.require_table(con, table, f"a funnel breakdown by {breakdown}")
        if breakdown in ("segment", "stage"):
            labels = fn._customer_labels(con, breakdown)
            join_customers = "left join _funnel_labels c using (customer_id)"
        elif table == "customers":
            join_customers = (
                "left join (select customer_id, any_value(acquisition_channel) as "
                "acquisition_channel, any_value(region) as region from customers "
                "group by customer_id) c using (customer_id)"
            )
    attempts = fn._strict_attempts(n, steps) if order == "strict" else fn._any_attempts(n)
    if order == "strict":
        gap = [f"epoch(t{k}) - epoch(t{k - 1})" for k in range(2, n + 1)]
    else:
        gap = [f"abs(epoch(t{k}) - epoch(t{k - 1}))" for k in range(2, n + 1)]
    aggs = ", ".join(
        [f"count(*) filter (where reached >= {k}) as c{k}" for k in range(1, n + 1)]
        + [
            f"median({g}) filter (where reached >= {k}) / 3600.0 as h{k}"
            for k, g in zip(range(2, n + 1), gap, strict=True)
        ]
    )
    sql = f"""
    with e as (
        select customer_id, event_name, event_ts, channel from events
        where customer_id is not null and event_ts is not null
          and event_name in (select unnest($steps))
          and event_ts >= $start and epoch(event_ts) - epoch($stop) <= $window_s
    ),
    {attempts},
    best as (
        select * from att where reached > 0
        qualify row_number() over (
            partition by customer_id order by reached desc, start_ts) = 1
    )
    select coalesce(cast({group_expr} as varchar), $missing) as grp, {aggs}
    from best b {join_customers}
    group by 1 order by c1 desc, grp
    """
    start_ts = pd.Timestamp(start) if start is not None else pd.Timestamp("1900-01-01")
    stop_ts = (
        pd.Timestamp(end) + pd.Timedelta(days=1) if end is not None else pd.Timestamp("2200-01-01")
    )
    params = {
        "steps": list(steps),
        "window_s": float(window_days) * 86400.0,
        "start": start_ts.to_pydatetime(),
        "stop": stop_ts.to_pydatetime(),
        "missing": fn._MISSING,
        **{f"step_{k}": s for k, s in enumerate(steps, start=1)},
    }
    if labels is not None:
        con.register("_funnel_labels", labels)
    try:
        wide = store.query_df(con, sql, params)
    finally:
        if labels is not None:
            con.unregister("_funnel_labels")
    return fn._long_funnel(wide, steps, breakdown)


def _split(con, *, breakdown=None, **kw):
    """The funnel from its two halves, labels fetched as the page does."""
    paths = fn.funnel_paths(con, **kw)
    labels = None
    if breakdown not in (None, "channel"):
        labels = fn.breakdown_labels(con, breakdown=breakdown)
    return fn.funnel_from_paths(paths, kw["steps"], breakdown=breakdown, labels=labels)


@pytest.fixture()
def con_tx():
    """The hand-written events with customers (acquisition channel, region) and a few orders."""
    customers = pd.DataFrame(
        {
            "customer_id": list("abcdef"),
            "acquisition_channel": ["seo", "seo", "ads", None, "ads", "seo"],
            "region": ["north", "south", "north", "south", None, "north"],
        }
    )
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "e"],
            "order_ts": pd.to_datetime(
                ["2024-01-03", "2024-01-20", "2024-01-03", "2023-06-01", "2024-01-12"]
            ),
            "amount": [10.0, 10.0, 20.0, 5.0, 8.0],
        }
    )
    return store.from_frames(events=_events(ROWS), customers=customers, transactions=tx)


def test_paths_by_hand(con_tx):
    p = fn.funnel_paths(con_tx, steps=STEPS, window_days=7).set_index("customer_id")
    assert sorted(p.index) == list("abcde")  # f never visits
    assert p["reached"].to_dict() == {"a": 3, "b": 1, "c": 2, "d": 1, "e": 3}
    assert p.loc["c", "entry_channel"] == "ads"  # the second visit's attempt goes further
    assert p.loc["a", "gap_2"] == 3600 and p.loc["a", "gap_3"] == 37 * 3600
    assert p.loc["e", "gap_2"] == 0 and p.loc["e", "gap_3"] == 7 * 86400
    assert np.isnan(p.loc["c", "gap_3"]) and np.isnan(p.loc["b", "gap_2"])  # not reached
    # any order: b's cart came a day before its visit, counted as 24 h
    p = fn.funnel_paths(con_tx, steps=STEPS, window_days=7, order="any").set_index("customer_id")
    assert p.loc["b", "reached"] == 3 and p.loc["b", "gap_2"] == 86400
    assert p["reached"].dtype.kind == "i" and p["gap_2"].dtype == "float64"


SPLIT_CASES = {
    "strict": {"steps": STEPS},
    "any": {"steps": STEPS, "order": "any"},
    "repeated step": {"steps": ("visit", "visit"), "window_days": 30},
    "window edge in": {"steps": STEPS, "window_days": 7},
    "window edge out": {"steps": STEPS, "window_days": 6.99},
    "one hour": {"steps": STEPS, "window_days": 1 / 24, "order": "any"},
    "dates": {"steps": STEPS, "start": "2024-01-02", "end": "2024-01-10"},
    "nobody": {"steps": ("nothing", "buy")},
    "channel": {"steps": STEPS, "breakdown": "channel"},
    "channel any": {"steps": STEPS, "breakdown": "channel", "order": "any"},
    "acquisition": {"steps": STEPS, "breakdown": "acquisition_channel"},
    "region": {"steps": STEPS, "breakdown": "region", "order": "any"},
    "stage": {"steps": STEPS, "breakdown": "stage"},
    "segment": {"steps": STEPS, "breakdown": "segment"},
    "nobody by segment": {"steps": ("nothing", "buy"), "breakdown": "segment"},
}


@pytest.mark.parametrize("case", SPLIT_CASES.values(), ids=SPLIT_CASES.keys())
def test_split_equals_the_old_single_query(con_tx, case):
    expected = _old_event_funnel(con_tx, **case)
    pd.testing.assert_frame_equal(_split(con_tx, **case), expected, check_exact=True)
    pd.testing.assert_frame_equal(fn.event_funnel(con_tx, **case), expected, check_exact=True)


def test_medians_are_duckdbs():
    # 3,000 groups of two gaps, a few missing: for an even count DuckDB's median is
    # (lo + hi) / 2, which differs in the last bit from lo + (hi - lo) / 2 for some pairs
    rng = np.random.default_rng(0)
    n = 6000
    paths = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "entry_channel": [f"ch{i % 3000}" for i in range(n)],
            "reached": rng.choice([1, 2], n, p=[0.05, 0.95]),
            "gap_2": rng.uniform(0, 1e6, n) + rng.uniform(0, 1, n) / 7,
        }
    )
    paths["gap_2"] = paths["gap_2"].where(paths["reached"] >= 2)
    before = paths.copy()
    got = fn.funnel_from_paths(paths, ("x", "y"), breakdown="channel")
    pd.testing.assert_frame_equal(paths, before)  # the (maybe shared) paths are untouched
    duck = duckdb.connect()
    duck.register("p", paths)
    want = duck.execute(
        "select entry_channel as channel, median(gap_2) / 3600.0 as h from p group by 1"
    ).df()
    got = got[got["step"] == 2].merge(want, on="channel", validate="1:1")
    assert len(got) == 3000
    same = got["median_hours_from_previous"].eq(got["h"]) | got["h"].isna()
    assert same.all(), got[~same]


def test_customers_without_a_label_are_one_group(con_tx):
    paths = fn.funnel_paths(con_tx, steps=STEPS)  # reached: a 3, b 1, c 2, d 1, e 3
    labels = pd.DataFrame(
        {
            "customer_id": ["a", "c", "d", "e", "zz", "c", None],
            "label": [None, "x", "x", "y", "z", "y", "w"],
        }
    )
    f = fn.funnel_from_paths(paths, STEPS, breakdown="region", labels=labels)
    # a (no label) and b (not listed) together; z and w have nobody in the funnel; c counts
    # once, under its first label
    assert f["region"].unique().tolist() == ["(none)", "x", "y"]
    got = f.pivot(index="region", columns="step", values="customers")
    assert got.to_dict("index") == {
        "(none)": {1: 2, 2: 1, 3: 1},
        "x": {1: 2, 2: 1, 3: 0},
        "y": {1: 1, 2: 1, 3: 1},
    }


def test_aggregation_refuses_what_it_cannot_do(con_tx):
    paths = fn.funnel_paths(con_tx, steps=STEPS)
    with pytest.raises(UsageError, match="4-step"):
        fn.funnel_from_paths(paths, (*STEPS, "again"))
    with pytest.raises(UsageError, match="needs the customers' labels"):
        fn.funnel_from_paths(paths, STEPS, breakdown="region")
    with pytest.raises(UsageError, match="breakdown"):
        fn.funnel_from_paths(paths, STEPS, breakdown="shoe_size", labels=paths)
    with pytest.raises(UsageError, match="no labels"):
        fn.breakdown_labels(con_tx, breakdown="channel")


DEMO_STEPS = [
    ("visit", "signup", "add_to_cart", "purchase"),
    ("visit", "add_to_cart", "purchase"),
    ("login", "purchase", "visit"),
    ("add_to_cart", "add_to_cart", "purchase"),
]


@pytest.fixture(scope="module")
def demo_con(demo_template):
    con = store.connect(demo_template)
    yield con
    con.close()


@pytest.mark.parametrize("order", ["strict", "any"])
@pytest.mark.parametrize("breakdown", [None, "channel", "region", "segment", "stage"])
def test_split_equals_the_old_query_on_demo_data(demo_con, order, breakdown):
    for steps, window in itertools.product(DEMO_STEPS, [0.5, 7.0]):
        if order == "any" and len(set(steps)) < len(steps):
            continue
        kw = {"steps": steps, "window_days": window, "order": order, "breakdown": breakdown}
        expected = _old_event_funnel(demo_con, **kw)
        assert expected["customers"].iloc[0] > 100, kw  # a real funnel, not an empty one
        got = fn.event_funnel(demo_con, **kw)
        pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=str(kw))


@pytest.mark.parametrize(
    "filters",
    [
        lambda regions, seg: Filters(regions=regions[:1]),
        lambda regions, seg: Filters(regions=regions[1:3]),
        lambda regions, seg: Filters(segments=("x",), customer_ids=seg),
        lambda regions, seg: Filters(regions=regions[:2], tiers=("x",), customer_ids=seg),
    ],
    ids=["one region", "two regions", "segment", "region and tier"],
)
@pytest.mark.parametrize("order", ["strict", "any"])
def test_customer_filter_selects_rows_of_the_unfiltered_paths(demo_con, filters, order):
    regions = tuple(
        r
        for (r,) in demo_con.execute("select distinct region from customers order by 1").fetchall()
    )
    some = demo_con.execute(
        "select customer_id from customers where hash(customer_id) % 3 = 0 order by 1"
    ).df()["customer_id"]
    f = filters(regions, tuple(some))
    assert f.customer_only
    kw = {"steps": DEMO_STEPS[0], "window_days": 7.0, "order": order}
    kept = keep_customers(fn.funnel_paths(demo_con, **kw), customer_filter_ids(demo_con, f))
    cur = store.cursor(demo_con)
    apply_filters(cur, f)
    try:
        expected = fn.event_funnel(cur, **kw)
        by_channel = fn.event_funnel(cur, breakdown="channel", **kw)
    finally:
        cur.close()
    assert 0 < expected["customers"].iloc[0] < len(fn.funnel_paths(demo_con, **kw))
    pd.testing.assert_frame_equal(fn.funnel_from_paths(kept, kw["steps"]), expected)
    pd.testing.assert_frame_equal(
        fn.funnel_from_paths(kept, kw["steps"], breakdown="channel"), by_channel
    )


# --- repeat purchases --------------------------------------------------------------------


@pytest.fixture()
def tx_con():
    rows = [
        ("a", "2024-01-01", 10.0),
        ("a", "2024-01-01", 5.0),  # same day: still the first purchase
        ("a", "2024-01-11", 10.0),
        ("a", "2024-01-31", 10.0),
        ("a", "2024-02-10", 10.0),
        ("a", "2024-03-01", 10.0),  # a: 5 purchase days, gaps 10, 20, 10, 20
        ("b", "2024-02-01", 10.0),
        ("b", "2024-02-05", -10.0),  # a return is not a purchase
        ("b", "2024-03-02", 10.0),  # b: 2 purchases, gap 30
        ("c", "2024-02-15", 10.0),
        ("c", "2024-02-16", 10.0),
        ("c", "2024-02-20", 10.0),  # c: 3 purchases, gaps 1, 4
        ("d", "2024-03-01", 10.0),  # d: 1 purchase
        ("e", "2024-03-01", -5.0),  # e: only a return
    ]
    tx = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    tx["order_ts"] = pd.to_datetime(tx["order_ts"])
    return store.from_frames(transactions=tx)


def test_repeat_purchase_funnel_by_hand(tx_con):
    f = fn.repeat_purchase_funnel(tx_con)
    assert f["purchase"].tolist() == [1, 2, 3, 5]
    assert _counts(f) == [4, 3, 2, 1]
    assert f["drop_off"].tolist() == [0, 1, 1, 1]
    assert f["step_conversion"].round(4).tolist() == [1.0, 0.75, round(2 / 3, 4), 0.5]
    # 1st->2nd: a 10, b 30, c 1 -> 10; 2nd->3rd: a 20, c 4 -> 12; 3rd->5th: a 30
    assert f["median_days_from_previous"].tolist()[1:] == [10.0, 12.0, 30.0]
    # customers whose first purchase is at least 30 days old on 2024-03-01: a and b
    old = fn.repeat_purchase_funnel(tx_con, min_tenure_days=29)
    assert _counts(old) == [2, 2, 1, 1]
    # as of 2024-02-20: a has 4, b 1, c 3
    assert _counts(fn.repeat_purchase_funnel(tx_con, as_of="2024-02-20")) == [3, 2, 2, 0]
    assert "75% of 4 buyers made a 2nd purchase" in fn.takeaway_repeat(f)


def test_time_to_next_purchase(tx_con):
    g = fn.next_purchase_gaps(tx_con).set_index("from_purchase")
    assert g.loc[1, "customers"] == 3 and g.loc[1, "median"] == 10
    assert g.loc[2, "customers"] == 2 and g.loc[2, "median"] == 12
    assert g.loc[4, "median"] == 20
    h = fn.next_purchase_histogram(tx_con, bin_days=7, max_days=21)
    first = h[h["from_purchase"] == 1].set_index("bin_start")["customers"].to_dict()
    assert first == {0: 1, 7: 1, 14: 1}  # 1 day; 10 days; 30 days capped into the last bin
    assert h.groupby("from_purchase")["share"].sum().round(9).eq(1.0).all()
    assert fn.transition_labels(h)[1] == "1st purchase → 2nd purchase"
    assert fn.transition_labels(h, "zh")[2] == "第2次购买 → 第3次购买"


def test_takeaways_have_chinese_and_read_the_data(con):
    f = fn.event_funnel(con, steps=STEPS, window_days=7)
    text = fn.takeaway_funnel(f)
    assert text.startswith("40.0% of the 5 customers who did visit went on to buy")
    assert "from visit to cart (2 customers, 60% went on)" in text
    assert fn.takeaway_funnel(f, "zh") != text
    f = fn.event_funnel(con, steps=STEPS, window_days=7, breakdown="channel")
    assert "Too few" in fn.takeaway_breakdown(f, "channel")
    assert "Best channel: app converts 50.0%" in fn.takeaway_breakdown(
        f, "channel", min_customers=1
    )
    for label in ("{ordinal} purchase", "channel", "acquisition channel", "region"):
        assert label in ZH


def test_breakdown_by_lifecycle_stage_and_segment(con):
    from clm_core import lifecycle as lc

    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "e"],
            "order_ts": pd.to_datetime(
                ["2024-01-03", "2024-01-20", "2024-01-03", "2023-06-01", "2024-01-12"]
            ),
            "amount": [10.0, 10.0, 20.0, 5.0, 8.0],
        }
    )
    con = store.from_frames(events=_events(ROWS), transactions=tx)
    whole = fn.event_funnel(con, steps=STEPS, window_days=7)
    split = fn.event_funnel(con, steps=STEPS, window_days=7, breakdown="stage")
    stages = lc.customer_stages(con).set_index("customer_id")["stage"]
    # every entrant is counted under their stage at the last transaction date
    starts = split[split["step"] == 1].set_index("stage")["customers"].to_dict()
    expected = stages[list("abcde")].value_counts().to_dict()
    assert starts == expected
    assert split.groupby("step")["customers"].sum().tolist() == _counts(whole)
    seg = fn.event_funnel(con, steps=STEPS, window_days=7, breakdown="segment")
    assert seg.groupby("step")["customers"].sum().tolist() == _counts(whole)
    # d never bought, so has no segment
    seg_starts = seg[seg["step"] == 1].set_index("segment")["customers"]
    assert seg_starts["(none)"] == 1 and seg_starts.sum() == 5
    assert "_funnel_labels" not in {r[0] for r in con.execute("show tables").fetchall()}


# --- the event ledger: paths under any date range without a query ------------------------


def _same_paths(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal rows (the ledger's come in customer order, the query's in any order)."""
    want = want.sort_values("customer_id", ignore_index=True)
    got = got.sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)
    assert got["reached"].dtype.kind == "i"
    assert all(got[c].dtype == "float64" for c in got.columns if c.startswith("gap_"))


def test_ledger_paths_by_hand(con_tx):
    ledger = fn.event_ledger(con_tx)
    assert ledger.names == ("buy", "cart", "login", "visit")
    assert ledger.channels == ("ads", "app", "web")
    p = ledger.paths(steps=STEPS, window_days=7).set_index("customer_id")
    assert p["reached"].to_dict() == {"a": 3, "b": 1, "c": 2, "d": 1, "e": 3}
    assert p.loc["c", "entry_channel"] == "ads"
    assert p.loc["a", "gap_3"] == 37 * 3600 and p.loc["e", "gap_2"] == 0
    # from 2 January: a, b and d have no visit left; c's second visit and e remain
    p = ledger.paths(steps=STEPS, window_days=7, date_from=pd.Timestamp("2024-01-02").date())
    assert p.set_index("customer_id")["reached"].to_dict() == {"b": 1, "c": 2, "e": 3}
    # up to 11 January: e's buy (the 12th) and c's second cart are cut
    p = ledger.paths(steps=STEPS, window_days=7, date_to=pd.Timestamp("2024-01-11").date())
    assert p.set_index("customer_id")["reached"].to_dict() == {
        "a": 3, "b": 1, "c": 2, "d": 1, "e": 2,
    }  # fmt: skip
    p = ledger.paths(steps=STEPS, window_days=7, order="any").set_index("customer_id")
    assert p.loc["b", "reached"] == 3 and p.loc["b", "gap_2"] == 86400


def test_ledger_repeated_step_skips_events_at_the_same_instant():
    # x visits twice at the same second, then once more an hour later: "visit, visit" counts
    # the later one only (strictly after), as the query's ASOF ">" does; y's two tied visits
    # never make a second step
    events = _events(
        [
            ("x", "visit", "2024-01-01 10:00", "web"),
            ("x", "visit", "2024-01-01 10:00", "app"),
            ("x", "visit", "2024-01-01 11:00", None),
            ("y", "visit", "2024-01-01 10:00", None),
            ("y", "visit", "2024-01-01 10:00", "web"),
        ]
    )
    con = store.from_frames(events=events)
    got = fn.event_ledger(con).paths(steps=("visit", "visit"), window_days=1)
    want = fn.funnel_paths(con, steps=("visit", "visit"), window_days=1)
    _same_paths(got, want)
    got = got.set_index("customer_id")
    assert got["reached"].to_dict() == {"x": 2, "y": 1}
    assert got.loc["x", "gap_2"] == 3600
    # the tie between x's first two visits goes to the channel first in order, NULL last
    assert got.loc["x", "entry_channel"] == "app" and got.loc["y", "entry_channel"] == "web"


@pytest.mark.parametrize("seed", range(6))
def test_ledger_paths_equal_the_query_on_random_events(seed):
    """Random events with ties, fractional seconds, missing ids, names, times and channels,
    under dates of the global filter and the attempt bounds: the same rows as the query."""
    rng = np.random.default_rng(seed)
    n = 700
    seconds = rng.integers(0, 480, n) * 3600 + (rng.random(n).round(6) * 900 if seed % 2 else 0)
    events = pd.DataFrame(
        {
            "customer_id": np.where(rng.random(n) < 0.03, None, rng.integers(0, 70, n).astype(str)),
            "event_name": np.where(
                rng.random(n) < 0.02, None, rng.choice(["visit", "signup", "cart", "buy"], n)
            ),
            "event_ts": (pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, unit="s")).where(
                rng.random(n) > 0.02
            ),
            "channel": np.where(rng.random(n) < 0.1, None, rng.choice(["web", "app", "Ads"], n)),
        }
    )
    con = store.from_frames(events=events)
    ledger = fn.event_ledger(con)
    cases = itertools.product(
        [("visit", "signup", "cart", "buy"), ("cart", "visit"), ("visit", "visit", "cart"),
         ("nothing", "buy")],
        [0.5, 3.5],
        ["strict", "any"],
        [{}, {"start": "2024-01-05", "end": "2024-01-12"}],
        [(None, None), (pd.Timestamp("2024-01-04").date(), pd.Timestamp("2024-01-15").date())],
    )  # fmt: skip
    compared = 0
    for steps, window, order, bounds, (date_from, date_to) in cases:
        if order == "any" and len(set(steps)) < len(steps):
            continue
        kw = {"steps": steps, "window_days": window, "order": order, **bounds}
        cur = store.cursor(con)
        apply_filters(cur, Filters(date_from=date_from, date_to=date_to))
        want = fn.funnel_paths(cur, **kw)
        _same_paths(ledger.paths(date_from=date_from, date_to=date_to, **kw), want)
        compared += len(want)
    assert compared > 1000


@pytest.mark.parametrize("order", ["strict", "any"])
def test_ledger_paths_equal_the_query_on_demo_data(demo_con, order):
    ledger = fn.event_ledger(demo_con)
    low, high = demo_con.execute("select min(event_ts), max(event_ts) from events").fetchone()
    third = (high - low) / 3
    for steps, dates in itertools.product(
        DEMO_STEPS, [(None, None), ((low + third).date(), (high - third).date())]
    ):
        if order == "any" and len(set(steps)) < len(steps):
            continue
        kw = {"steps": steps, "window_days": 7.0, "order": order}
        cur = store.cursor(demo_con)
        apply_filters(cur, Filters(date_from=dates[0], date_to=dates[1]))
        want = fn.funnel_paths(cur, **kw)
        assert len(want) > 100
        _same_paths(ledger.paths(date_from=dates[0], date_to=dates[1], **kw), want)


def test_ledger_refuses_what_the_query_refuses(con_tx):
    ledger = fn.event_ledger(con_tx)
    with pytest.raises(UsageError, match="at least two steps"):
        ledger.paths(steps=("visit",))
    with pytest.raises(UsageError, match="different event"):
        ledger.paths(steps=("visit", "visit"), order="any")
    with pytest.raises(MissingTableError):
        fn.event_ledger(store.from_frames(transactions=pd.DataFrame({"customer_id": ["a"]})))


def test_ledger_numbers_more_names_than_a_small_integer_holds():
    # one name per page or product: 40,000 names (past int16) and as many channels
    n = 40_000
    events = pd.DataFrame(
        {
            "customer_id": ["a"] * n,
            "event_name": [f"page-{i:05d}" for i in range(n)],
            "event_ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
            "channel": [f"ch-{i:05d}" for i in range(n)],
        }
    )
    con = store.from_frames(events=events)
    ledger = fn.event_ledger(con)
    assert len(ledger.names) == n and ledger.name.dtype == np.int32
    steps = ("page-39990", "page-00000", "page-39999")
    got = ledger.paths(steps=steps, window_days=1)
    _same_paths(got, fn.funnel_paths(con, steps=steps, window_days=1))
    assert got["entry_channel"].tolist() == ["ch-39990"] and got["reached"].tolist() == [1]
