"""Global filters shadow the tables on one cursor only."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from clm_core import store
from clm_core.filters import (
    Filters,
    apply_filters,
    customer_filter_ids,
    filter_options,
    filtered_customer_ids,
    keep_customers,
)
from clm_core.summary import customer_summary


@pytest.fixture()
def dataset(tmp_path):
    path = tmp_path / "f.duckdb"
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "order_ts": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-02-15", "2024-03-01"]),
            "amount": [10.0, 20.0, 5.0, 7.0],
            "channel": ["web", "app", "web", "store"],
        }
    )
    cu = pd.DataFrame({"customer_id": ["a", "b", "c"], "region": ["华东", "华南", "华东"]})
    src = store.from_frames(transactions=tx, customers=cu)
    with store.write_dataset(path, fresh=True) as con:
        for table in ("transactions", "customers"):
            con.register("_src", src.execute(f"select * from {table}").df())
            con.execute(f"create table {table} as select * from _src")
            con.unregister("_src")
    con = store.connect(path)
    yield con
    con.close()


def _count(cur):
    return cur.execute("select count(*) from transactions").fetchone()[0]


def test_no_filters_is_noop(dataset):
    cur = store.cursor(dataset)
    apply_filters(cur, Filters())
    assert _count(cur) == 4


@pytest.mark.parametrize(
    "filters,expected",
    [
        (Filters(date_from=dt.date(2024, 2, 1)), 3),
        (Filters(date_to=dt.date(2024, 2, 1)), 2),
        (Filters(channels=("web",)), 2),
        (Filters(regions=("华东",)), 3),
        (Filters(segments=("X",), customer_ids=("b",)), 1),
        (Filters(regions=("华东",), channels=("web",)), 1),
    ],
    ids=["from", "to", "channel", "region", "segment-ids", "combined"],
)
def test_filters(dataset, filters, expected):
    cur = store.cursor(dataset)
    apply_filters(cur, filters)
    assert _count(cur) == expected
    assert _count(store.cursor(dataset)) == 4  # other cursors unaffected


def test_injection_in_filter_values_is_data(dataset):
    cur = store.cursor(dataset)
    apply_filters(cur, Filters(channels=("web'); drop table transactions; --",)))
    assert _count(cur) == 0
    assert _count(store.cursor(dataset)) == 4


def test_analysis_sees_filtered_data(dataset):
    cur = store.cursor(dataset)
    apply_filters(cur, Filters(channels=("web",)))
    s = customer_summary(cur).set_index("customer_id")
    assert list(s.index) == ["a", "b"] and s.loc["a", "revenue"] == 10.0


def test_filter_options(dataset):
    opts = filter_options(store.cursor(dataset))
    assert opts["channels"] == ["app", "store", "web"]
    assert opts["regions"] == ["华东", "华南"]
    assert opts["dates"] == [dt.date(2024, 1, 1), dt.date(2024, 3, 1)]


def test_filters_on_in_memory_dataset():
    con = store.from_frames(
        transactions=pd.DataFrame(
            {"customer_id": ["a", "b"], "order_ts": ["2024-01-01", "2024-01-02"],
             "amount": [1.0, 2.0], "channel": ["web", "app"]}
        )
    )  # fmt: skip
    apply_filters(con, Filters(channels=("app",)))
    assert _count(con) == 1


def test_filters_are_views_over_bound_values(dataset):
    # Views, not copies: applying filters on a cursor costs a few small statements.
    cur = store.cursor(dataset)
    apply_filters(cur, Filters(date_from=dt.date(2024, 2, 1), regions=("华东",)))
    sql = "select view_name from duckdb_views() where temporary"
    views = {r[0] for r in cur.execute(sql).fetchall()}
    assert {"transactions", "customers"} <= views
    assert _count(cur) == 2  # a on 2024-02-01 and c on 2024-03-01


def test_date_filters_are_literals_that_keep_joins_out_of_nested_loops(demo_template):
    """Dates read from a table were a scalar subquery that DuckDB joins in a nested loop, and the
    funnel's ASOF joins under such a view became nested loops too (89 s at 20,000 customers)."""
    from clm_core import funnels as fn
    from clm_core.filters import _date_literal

    con = store.connect(demo_template)
    cur = store.cursor(con)
    f = Filters(date_from=dt.date(2024, 12, 31), date_to=dt.date(2025, 6, 30))
    apply_filters(cur, f)
    plan = "\n".join(r[1] for r in cur.execute(
        "explain select * from events e asof join transactions t "
        "on e.customer_id = t.customer_id and e.event_ts >= t.order_ts"
    ).fetchall())  # fmt: skip
    assert "Asof Join" in plan or "ASOF_JOIN" in plan
    assert "Nested Loop" not in plan and "NESTED_LOOP" not in plan
    # the same paths as a funnel over events cut to the dates by hand
    steps = tuple(fn.default_steps(con))
    events = con.execute(
        "select * from events where cast(event_ts as date) between $a and $b",
        {"a": f.date_from, "b": f.date_to},
    ).df()
    by_hand = store.from_frames(events=events)
    got = fn.funnel_paths(cur, steps=steps, window_days=7.0, order="strict")
    want = fn.funnel_paths(by_hand, steps=steps, window_days=7.0, order="strict")
    key = list(got.columns[:1])
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True), want.sort_values(key).reset_index(drop=True)
    )
    assert _date_literal(dt.datetime(2024, 5, 6, 7, 8)) == "date '2024-05-06'"
    with pytest.raises(TypeError):
        _date_literal("2024-01-01'; drop table transactions; --")


def test_filtered_customer_ids_and_keep_customers(dataset):
    cur = store.cursor(dataset)
    apply_filters(cur, Filters(channels=("web",)))
    ids = filtered_customer_ids(cur)
    assert ids.tolist() == ["a", "b"]
    assert filtered_customer_ids(store.cursor(dataset)).tolist() == ["a", "b", "c"]
    rows = pd.DataFrame({"customer_id": ["c", "b", "a"], "x": [1, 2, 3]})
    assert keep_customers(rows, ids)["x"].tolist() == [2, 3]
    assert keep_customers(rows, None) is rows


def test_customer_only_filters_and_the_customers_they_keep(dataset):
    cur = store.cursor(dataset)
    assert not Filters().customer_only
    assert Filters(regions=("华东",)).customer_only
    assert Filters(segments=("Champions",), customer_ids=("a",)).customer_only
    assert not Filters(regions=("华东",), channels=("web",)).customer_only
    assert not Filters(regions=("华东",), date_from=dt.date(2024, 1, 1)).customer_only
    assert customer_filter_ids(cur, Filters(regions=("华东",))).tolist() == ["a", "c"]
    # region and segment: customers in both; a segment alone: its list as given
    both = Filters(regions=("华东",), segments=("x",), customer_ids=("c", "b"))
    assert customer_filter_ids(cur, both).tolist() == ["c"]
    assert customer_filter_ids(cur, Filters(tiers=("gold",), customer_ids=("b",))).tolist() == ["b"]
    with pytest.raises(ValueError, match="customers only"):
        customer_filter_ids(cur, Filters(channels=("web",)))
    # the same customers the filtered views keep
    for f in (Filters(regions=("华南",)), both):
        view = store.cursor(dataset)
        apply_filters(view, f)
        assert filtered_customer_ids(view).tolist() == sorted(customer_filter_ids(cur, f))


def test_id_positions_and_is_kept():
    from clm_core.filters import id_positions, is_kept

    ids = pd.Series(["b", "a", "b", "7"])
    got = id_positions(pd.Series(["a", "b", "z", 7]), ids)
    assert got.tolist() == [1, 0, -1, 3]  # the first "b"; numbers compared as strings
    assert is_kept(pd.Series(["a", "z"]), ids).tolist() == [True, False]
