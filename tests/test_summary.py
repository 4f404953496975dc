"""The customer summary against lifetimes and against the published CDNow summary."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import lifetimes
import numpy as np
import pandas as pd
import pytest
from lifetimes.utils import summary_data_from_transaction_data

from clm_core import store
from clm_core.config import PERIOD_DAYS
from clm_core.errors import MissingTableError, NotEnoughData
from clm_core.filters import Filters, apply_filters
from clm_core.summary import (
    _SIGNATURE_SQL,
    ROLLUP_KEY,
    SUMMARY_COLUMNS,
    _rollup_usable,
    as_of_default,
    customer_summary,
)

DATASETS = Path(lifetimes.__file__).parent / "datasets"
FOUR = ["frequency", "recency", "T", "monetary_value"]
CALIBRATION_END = "1997-09-30"  # the published CDNow summary is at the end of week 39


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The CDNow sample: 2,357 customers, 6,919 purchases (1997-01-01 .. 1998-06-30)."""
    raw = pd.read_csv(
        DATASETS / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer_id", "id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    raw["order_ts"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@pytest.fixture(scope="module")
def cdnow_con(cdnow):
    con = store.from_frames(transactions=cdnow[["customer_id", "order_ts", "amount", "quantity"]])
    yield con
    con.close()


def _lifetimes(tx: pd.DataFrame, period: str, as_of=None) -> pd.DataFrame:
    ref = summary_data_from_transaction_data(
        tx,
        "customer_id",
        "order_ts",
        monetary_value_col="amount",
        observation_period_end=as_of,
        freq="D",
        freq_multiplier=PERIOD_DAYS[period],
    )
    ref.index = ref.index.astype(str)
    return ref.sort_index()


@pytest.mark.parametrize("period", ["D", "W", "M"], ids=["days", "weeks", "months"])
@pytest.mark.parametrize("as_of", [CALIBRATION_END, None], ids=["calibration", "last-date"])
def test_equals_lifetimes_on_cdnow(cdnow, cdnow_con, period, as_of):
    ours = customer_summary(cdnow_con, as_of=as_of, period=period).set_index("customer_id")
    ref = _lifetimes(cdnow, period, as_of)
    assert list(ours.index) == list(ref.index)  # same customers, same order
    pd.testing.assert_frame_equal(ours[FOUR], ref[FOUR], check_names=False, rtol=1e-12)


def test_reproduces_published_cdnow_summary(cdnow, cdnow_con):
    """All 2,357 rows of lifetimes' cdnow_customers_summary_with_transactions.csv (x, t_x, T in
    weeks and zbar, published rounded to 2 decimals), including 8 customers whose only order was worth 0."""
    pub = pd.read_csv(DATASETS / "cdnow_customers_summary_with_transactions.csv")
    ours = customer_summary(cdnow_con, as_of=CALIBRATION_END, period="W")
    ids = dict(zip(cdnow["customer_id"], cdnow["id"], strict=True))
    ours["ID"] = ours["customer_id"].map(ids)
    both = ours.merge(pub, on="ID", suffixes=("", "_pub"), validate="one_to_one")
    assert len(both) == len(pub) == 2357
    np.testing.assert_array_equal(both["frequency"], both["x"])
    # Published to 2 decimals (half up: 22.345 -> 22.35), so agree within half a cent.
    for ours_col, pub_col in (("recency", "t_x"), ("T", "T_pub"), ("monetary_value", "zbar")):
        np.testing.assert_allclose(both[ours_col], both[pub_col], rtol=0, atol=0.005 + 1e-9)


def test_published_customer_4(cdnow_con):
    """Customer 00004 (ID 1 of the published summary): x = 2, t_x = 30.43, T = 38.86 weeks."""
    row = customer_summary(cdnow_con, as_of=CALIBRATION_END, period="W").iloc[0]
    assert row["customer_id"] == "00004"
    assert row["frequency"] == 2
    assert round(row["recency"], 2) == 30.43
    assert round(row["T"], 2) == 38.86
    assert row["recency"] == pytest.approx(213 / 7)  # 1997-01-01 .. 1997-08-02
    assert row["T"] == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30


@pytest.mark.parametrize("period", ["D", "W"], ids=["days", "weeks"])
def test_equals_lifetimes_on_demo(demo_template, period):
    """Demo data has returns (negative amounts): lifetimes gets the purchase rows (amount >= 0),
    which is the summary's definition of a purchase."""
    con = store.connect(demo_template)
    try:
        as_of = dt.date(2025, 6, 30)
        ours = customer_summary(con, as_of=as_of, period=period).set_index("customer_id")
        tx = con.execute(
            "select customer_id, order_ts, amount from transactions where amount >= 0"
        ).df()
        assert (con.execute("select count(*) from transactions where amount < 0").fetchone()[0]) > 0
    finally:
        con.close()
    ref = _lifetimes(tx, period, as_of)
    assert len(ours) > 500
    assert list(ours.index) == list(ref.index)
    pd.testing.assert_frame_equal(ours[FOUR], ref[FOUR], check_names=False, rtol=1e-9)


def _tiny():
    tx = pd.DataFrame(
        [
            # a: two orders on day 1 (one purchase period), a return, a repeat on day 11
            ("a", "o1", "2024-01-01 09:00", 10.0),
            ("a", "o2", "2024-01-01 18:00", 30.0),
            ("a", "o2", "2024-01-03 10:00", -5.0),
            ("a", "o3", "2024-01-11 10:00", 60.0),
            # b: one purchase of 0 (a free sample) and nothing else: still a customer
            ("b", "o4", "2024-01-05 10:00", 0.0),
            # c: only a return: not a customer
            ("c", "o5", "2024-01-06 10:00", -20.0),
            # d: a purchase after the as-of date is ignored
            ("d", "o6", "2024-01-02 10:00", 25.0),
            ("d", "o7", "2024-02-01 10:00", 99.0),
            # e: order lines without order id count one order each
            ("e", None, "2024-01-04 10:00", 5.0),
            ("e", None, "2024-01-04 11:00", 7.0),
        ],
        columns=["customer_id", "order_id", "order_ts", "amount"],
    )
    tx["order_ts"] = pd.to_datetime(tx["order_ts"])
    return store.from_frames(transactions=tx)


def test_hand_checked_summary():
    df = customer_summary(_tiny(), as_of="2024-01-21").set_index("customer_id")
    assert list(df.columns) == SUMMARY_COLUMNS[1:]
    assert list(df.index) == ["a", "b", "d", "e"]
    a = df.loc["a"]
    assert (a["frequency"], a["recency"], a["T"]) == (1, 10, 20)
    assert a["monetary_value"] == 60  # the first day (40) is excluded
    assert (a["orders"], a["revenue"], a["returns"]) == (3, 95.0, 1)
    assert a["avg_order_value"] == pytest.approx(95 / 3)
    assert a["avg_interpurchase_days"] == 10
    assert (a["days_since_last"], a["tenure_days"]) == (10, 20)
    b = df.loc["b"]
    assert (b["frequency"], b["recency"], b["monetary_value"], b["orders"]) == (0, 0, 0, 1)
    assert np.isnan(b["avg_interpurchase_days"])
    d = df.loc["d"]
    assert (d["frequency"], d["orders"], d["revenue"]) == (0, 1, 25.0)
    e = df.loc["e"]
    assert (e["frequency"], e["orders"], e["revenue"]) == (0, 2, 12.0)
    assert df.loc["a", "first_purchase"] == pd.Timestamp("2024-01-01")


def test_weeks_and_months_are_exact_fractions():
    weeks = customer_summary(_tiny(), as_of="2024-01-21", period="W").set_index("customer_id")
    months = customer_summary(_tiny(), as_of="2024-01-21", period="M").set_index("customer_id")
    assert weeks.loc["a", "T"] == pytest.approx(20 / 7)
    assert months.loc["a", "recency"] == pytest.approx(10 / (365.25 / 12))


def test_default_as_of_is_last_transaction_date():
    con = _tiny()
    assert as_of_default(con) == dt.date(2024, 2, 1)
    assert customer_summary(con).set_index("customer_id").loc["d", "frequency"] == 1


def test_missing_or_empty_transactions():
    with pytest.raises(MissingTableError, match="transactions"):
        customer_summary(store.from_frames(customers=pd.DataFrame({"customer_id": ["a"]})))
    empty = pd.DataFrame({"customer_id": [], "order_ts": pd.to_datetime([]), "amount": []})
    with pytest.raises(NotEnoughData, match="empty"):
        customer_summary(store.from_frames(transactions=empty))


# The sorted rollup written with the dataset (store.write_dataset -> summary.refresh_rollup).


def _write(path, tx: pd.DataFrame, *, fresh: bool = True) -> None:
    src = store.from_frames(transactions=tx)
    with store.write_dataset(path, fresh=fresh) as con:
        con.register("_src", src.execute("select * from transactions").df())
        con.execute("create or replace table transactions as select * from _src")
        con.unregister("_src")


def _both(path, tx: pd.DataFrame, **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary from the file's rollup, summary from the SQL over the same transactions)."""
    con = store.connect(path)
    try:
        assert _rollup_usable(con)
        fast = customer_summary(con, **kwargs)
    finally:
        con.close()
    return fast, customer_summary(store.from_frames(transactions=tx), **kwargs)


def _spanning() -> pd.DataFrame:
    """Orders with several lines, one of them over two purchase days, and a return-only day."""
    tx = pd.DataFrame(
        [
            ("a", "o1", "2024-01-01 09:00", 10.0),
            ("a", "o1", "2024-01-01 09:05", 5.0),  # second line, same day: still one order
            ("a", "o2", "2024-01-03 23:59", 20.0),
            ("a", "o2", "2024-01-04 00:01", 1.0),  # o2 goes on past midnight: one order
            ("a", "o1", "2024-01-06 10:00", -5.0),  # a return is not an order line
            ("a", None, "2024-01-08 10:00", 3.0),
            ("a", None, "2024-01-08 11:00", 4.0),  # lines without an id: one order each
            ("a", "o3", "2024-01-08 12:00", 0.0),  # a free sample on the same day: an order
            ("b", "o1", "2024-01-02 10:00", 8.0),  # the same order id for another customer
            ("b", "o4", "2024-01-02 10:00", 8.0),  # same day, same time, other order
            ("c", "o9", "2024-01-02 10:00", -1.0),  # a return before c's first purchase
            ("c", "o10", "2024-01-05 10:00", 6.0),
            ("d", "o11", "2024-01-05 10:00", 0.0),  # only a zero-amount purchase
            ("e", "o12", "2024-01-07 10:00", -3.0),  # only a return: not a customer
            (None, "o13", "2024-01-05 10:00", 9.0),  # no customer: ignored
            ("f", "o14", None, 9.0),  # no date: ignored
            ("f", "o15", "2024-01-03 10:00", None),  # no amount: ignored
        ],
        columns=["customer_id", "order_id", "order_ts", "amount"],
    )
    tx["order_ts"] = pd.to_datetime(tx["order_ts"])
    return tx


@pytest.mark.parametrize("period", ["D", "W", "M"])
@pytest.mark.parametrize(
    "as_of",
    ["2023-12-31", "2024-01-01", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-07", None],
)
def test_rollup_equals_transactions_query(tmp_path, as_of, period):
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    fast, slow = _both(path, _spanning(), as_of=as_of, period=period)
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-12)


def test_rollup_orders_by_hand(tmp_path):
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    con = store.connect(path)
    try:
        df = customer_summary(con, as_of="2024-01-31").set_index("customer_id")
        early = customer_summary(con, as_of="2024-01-03").set_index("customer_id")
    finally:
        con.close()
    assert list(df.index) == ["a", "b", "c", "d"]
    assert (df.loc["a", "orders"], df.loc["a", "frequency"], df.loc["a", "returns"]) == (5, 3, 1)
    assert (early.loc["a", "orders"], early.loc["a", "frequency"]) == (2, 1)
    assert (df.loc["b", "orders"], df.loc["b", "frequency"], df.loc["b", "revenue"]) == (2, 0, 16)
    assert (df.loc["c", "orders"], df.loc["c", "revenue"]) == (1, 5.0)
    assert (df.loc["d", "orders"], df.loc["d", "monetary_value"]) == (1, 0.0)
    assert "c" not in early.index  # only a return by then


@pytest.mark.parametrize("period", ["D", "W"], ids=["days", "weeks"])
@pytest.mark.parametrize("as_of", [CALIBRATION_END, None], ids=["calibration", "last-date"])
def test_rollup_equals_lifetimes_on_cdnow(tmp_path, cdnow, period, as_of):
    path = tmp_path / "cdnow.duckdb"
    _write(path, cdnow[["customer_id", "order_ts", "amount", "quantity"]])
    con = store.connect(path)
    try:
        assert _rollup_usable(con)
        ours = customer_summary(con, as_of=as_of, period=period).set_index("customer_id")
    finally:
        con.close()
    ref = _lifetimes(cdnow, period, as_of)
    assert list(ours.index) == list(ref.index)
    pd.testing.assert_frame_equal(ours[FOUR], ref[FOUR], check_names=False, rtol=1e-9)


def test_rollup_equals_transactions_query_on_demo(demo_template):
    con = store.connect(demo_template)
    try:
        assert _rollup_usable(con)
        tx = con.execute("select * from transactions").df()
        for as_of in (dt.date(2024, 3, 31), None):
            fast = customer_summary(con, as_of=as_of, period="W")
            slow = customer_summary(store.from_frames(transactions=tx), as_of=as_of, period="W")
            pd.testing.assert_frame_equal(fast, slow, rtol=1e-12)
    finally:
        con.close()


def test_rollup_follows_replaced_transactions(tmp_path):
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    changed = _spanning()
    changed.loc[0, "amount"] = 100.0  # same row count, other content
    _write(path, changed, fresh=False)
    store.save_setting(path, "currency", "EUR")  # a write that leaves transactions alone
    fast, slow = _both(path, changed, as_of="2024-01-31")
    pd.testing.assert_frame_equal(fast, slow, rtol=1e-12)
    assert fast.set_index("customer_id").loc["a", "revenue"] == 100 + 5 + 20 + 1 - 5 + 3 + 4


def test_rollup_stamp_signature_matches_the_check(tmp_path):
    """A rebuild stamps the signature that the unchanged-data check computes, so a later write
    that leaves transactions alone does not rebuild (and one that changes them does)."""
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    con = store.connect(path)
    try:
        stamp = store.get_setting(con, ROLLUP_KEY)
        assert stamp["rows"] == len(_spanning())
        assert stamp["signature"] == con.execute(_SIGNATURE_SQL).fetchone()[0]
    finally:
        con.close()


def test_file_without_rollup_falls_back(tmp_path):
    """A file written before the rollup existed (or changed outside write_dataset)."""
    path = tmp_path / "old.duckdb"
    _write(path, _spanning())
    raw = duckdb.connect(str(path))
    raw.execute("insert into transactions (customer_id, order_id, order_ts, amount) "
                "values ('g', 'o1', timestamp '2024-01-09 10:00', 2.0)")  # fmt: skip
    raw.close()
    con = store.connect(path)
    try:
        assert not _rollup_usable(con)  # row count differs from the rollup's
        assert "g" in set(customer_summary(con, as_of="2024-01-31")["customer_id"])
    finally:
        con.close()
    raw = duckdb.connect(str(path))
    raw.execute("drop table _clm_rollup.lines")
    raw.close()
    con = store.connect(path)
    try:
        assert not _rollup_usable(con)
        assert len(customer_summary(con, as_of="2024-01-31")) == 5
    finally:
        con.close()


def test_filtered_cursor_does_not_use_rollup(tmp_path):
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    con = store.connect(path)
    try:
        cur = store.cursor(con)
        apply_filters(cur, Filters(date_from=dt.date(2024, 1, 3)))
        assert not _rollup_usable(cur)
        df = customer_summary(cur, as_of="2024-01-31").set_index("customer_id")
        assert _rollup_usable(store.cursor(con))  # other cursors are not filtered
    finally:
        con.close()
    assert list(df.index) == ["a", "c", "d"]  # b bought on Jan 2 only
    # o2 (Jan 3-4), two lines without an order id and o3 (Jan 8)
    assert (df.loc["a", "orders"], df.loc["a", "first_purchase"]) == (4, pd.Timestamp("2024-01-03"))


def _filtered(tx: pd.DataFrame, date_from, as_of) -> pd.DataFrame:
    """The summary on a cursor whose date filter starts at ``date_from``: the reference."""
    cur = store.from_frames(transactions=tx).cursor()
    apply_filters(cur, Filters(date_from=date_from))
    return customer_summary(cur, as_of=as_of)


def test_date_from_by_hand(tmp_path):
    """A range that starts inside an order over two days counts that order once; the lines
    before the range leave no trace (first purchase, returns, revenue)."""
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    con = store.connect(path)
    try:
        assert _rollup_usable(con)
        df = customer_summary(con, as_of="2024-01-31", date_from="2024-01-04")
    finally:
        con.close()
    df = df.set_index("customer_id")
    assert list(df.index) == ["a", "c", "d"]
    # a: o2's second line (Jan 4), two lines without an id and o3 (Jan 8); the return on Jan 6
    assert (df.loc["a", "orders"], df.loc["a", "frequency"], df.loc["a", "returns"]) == (4, 1, 1)
    assert df.loc["a", "first_purchase"] == pd.Timestamp("2024-01-04")
    assert df.loc["a", "revenue"] == 1 - 5 + 3 + 4 + 0
    assert (df.loc["c", "orders"], df.loc["c", "returns"], df.loc["c", "revenue"]) == (1, 0, 6)


def _random_tx(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    """Few customers and order ids over three weeks, so that orders run over several days,
    share days, lack an id, and amounts are zero, negative or missing."""
    tx = pd.DataFrame(
        {
            "customer_id": rng.choice([*"abcdefgh", None], n),
            "order_id": rng.choice([*(f"o{i}" for i in range(40)), None], n),
            "order_ts": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 21 * 24 * 60, n), unit="min"),
            "amount": np.round(rng.normal(10, 15, n), 2),
        }
    )
    tx.loc[rng.random(n) < 0.05, "amount"] = 0.0
    tx.loc[rng.random(n) < 0.03, "amount"] = None
    tx.loc[rng.random(n) < 0.03, "order_ts"] = None
    return tx


@pytest.mark.parametrize("seed", range(4))
def test_rollup_date_ranges_equal_the_date_filter(tmp_path, seed):
    """Every range (start and as-of date, a day before the data to a day after) from the
    rollup equals the summary under the date filter; the SQL route too."""
    rng = np.random.default_rng(seed)
    tx = _random_tx(rng)
    path = tmp_path / "r.duckdb"
    _write(path, tx)
    con = store.connect(path)
    plain = store.from_frames(transactions=tx)
    days = pd.date_range("2023-12-31", "2024-01-22").date
    try:
        assert _rollup_usable(con)
        assert con.execute("select count(*) from _clm_rollup.spans").fetchone()[0] > 0
        for date_from in days[::2]:
            for as_of in days[days >= date_from][::3]:
                slow = _filtered(tx, date_from, as_of)
                fast = customer_summary(con, as_of=as_of, date_from=date_from)
                pd.testing.assert_frame_equal(fast, slow, rtol=1e-12)
                by_sql = customer_summary(plain, as_of=as_of, date_from=date_from)
                pd.testing.assert_frame_equal(by_sql, slow)
    finally:
        con.close()


def test_rollup_dropped_with_transactions(tmp_path):
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    with store.write_dataset(path) as con:
        con.execute("drop table transactions")
    con = store.connect(path)
    try:
        assert store.get_setting(con, "summary_rollup") is None
        assert (
            con.execute(
                "select count(*) from duckdb_tables() where schema_name = '_clm_rollup'"
            ).fetchone()[0]
            == 0
        )
    finally:
        con.close()


def test_rollup_read_out_of_order_is_sorted_again(tmp_path):
    """The stored order is checked when read; rows in another order are sorted, not trusted."""
    path = tmp_path / "r.duckdb"
    _write(path, _spanning())
    raw = duckdb.connect(str(path))
    raw.execute("create or replace table _clm_rollup.lines as "
                "select * from _clm_rollup.lines order by d desc, v desc")  # fmt: skip
    raw.execute("create or replace table _clm_rollup.customer_keys as "
                "select * from _clm_rollup.customer_keys order by p desc")  # fmt: skip
    raw.close()
    for as_of in ("2024-01-04", "2024-01-31"):
        fast, slow = _both(path, _spanning(), as_of=as_of)
        pd.testing.assert_frame_equal(fast, slow, rtol=1e-12)
