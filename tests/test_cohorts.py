"""Cohort retention: by hand, against an independent pandas computation, and the CLI contract."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from clm_core import cohorts as co
from clm_core import store
from clm_core.__main__ import main
from clm_core.errors import MissingTableError, NotEnoughData, UsageError


def _tx(rows):
    tx = pd.DataFrame(rows, columns=["customer_id", "order_ts", "amount"])
    tx["order_ts"] = pd.to_datetime(tx["order_ts"])
    return tx


HAND = [
    ("a", "2024-01-05", 10.0),
    ("a", "2024-02-10", 20.0),
    ("a", "2024-04-20", 30.0),
    ("b", "2024-01-15", 40.0),
    ("b", "2024-01-20", -5.0),  # a return in the first month: net 35
    ("c", "2024-02-01", 60.0),
    ("d", "2024-03-01", -7.0),  # only a return: in no cohort
    ("e", "2024-01-25", -3.0),  # returns before the first purchase do not count...
    ("e", "2024-03-03", 8.0),  # ...e's cohort is March
]


def test_monthly_cohorts_by_hand():
    con = store.from_frames(transactions=_tx(HAND))
    got = co.cohort_table(con)
    jan = got[got["cohort"] == "2024-01-01"]
    assert jan["period"].tolist() == [0, 1, 2, 3]
    assert jan["calendar_period"].dt.strftime("%Y-%m").tolist() == [
        "2024-01",
        "2024-02",
        "2024-03",
        "2024-04",
    ]
    assert jan["cohort_size"].unique().tolist() == [2]
    assert jan["customers"].tolist() == [2, 1, 0, 1]
    assert jan["retention"].tolist() == [1.0, 0.5, 0.0, 0.5]
    assert jan["revenue"].tolist() == [45.0, 20.0, 0.0, 30.0]
    assert jan["revenue_retention"].round(6).tolist() == [
        1.0,
        round(20 / 45, 6),
        0.0,
        round(30 / 45, 6),
    ]
    assert jan["cumulative_revenue_per_customer"].tolist() == [22.5, 32.5, 32.5, 47.5]
    mar = got[got["cohort"] == "2024-03-01"]
    assert mar["cohort_size"].iloc[0] == 1 and mar["revenue"].tolist() == [8.0, 0.0]
    assert set(got["cohort"].dt.strftime("%Y-%m")) == {"2024-01", "2024-02", "2024-03"}


def test_as_of_cuts_the_history():
    con = store.from_frames(transactions=_tx(HAND))
    got = co.cohort_table(con, as_of="2024-02-29")
    assert got["calendar_period"].max() == pd.Timestamp("2024-02-01")
    assert got.loc[got["cohort"] == "2024-01-01", "customers"].tolist() == [2, 1]
    with pytest.raises(NotEnoughData):
        co.cohort_table(con, as_of="2023-12-31")
    with pytest.raises(UsageError):
        co.cohort_table(con, freq="Q")


# --- independent pandas computation ------------------------------------------------------


def _pandas_cohorts(tx: pd.DataFrame, freq: str, as_of: dt.date, channels=None) -> pd.DataFrame:
    tx = tx[tx["order_ts"].dt.normalize() <= pd.Timestamp(as_of)].copy()
    if freq == "M":
        tx["p"] = tx["order_ts"].dt.to_period("M").dt.start_time
        last = pd.Timestamp(as_of).to_period("M").start_time
    else:
        tx["p"] = tx["order_ts"].dt.normalize() - pd.to_timedelta(
            tx["order_ts"].dt.weekday, unit="D"
        )
        last = pd.Timestamp(as_of) - pd.Timedelta(days=pd.Timestamp(as_of).weekday())
    cohort = tx[tx["amount"] >= 0].groupby("customer_id")["p"].min().rename("cohort")
    tx = tx.join(cohort, on="customer_id", how="inner")
    tx = tx[tx["p"] >= tx["cohort"]]
    if channels is not None:
        tx["channel"] = tx["customer_id"].map(channels).fillna(co.UNKNOWN_CHANNEL)
        groups = ["channel", "cohort"]
        members = (
            cohort.to_frame()
            .assign(channel=lambda d: d.index.map(channels))
            .fillna({"channel": co.UNKNOWN_CHANNEL})
        )
    else:
        groups = ["cohort"]
        members = cohort.to_frame()

    def index(p, c):
        if freq == "M":
            return (p.dt.year - c.dt.year) * 12 + (p.dt.month - c.dt.month)
        return (p - c).dt.days // 7

    tx["period"] = index(tx["p"], tx["cohort"])
    size = members.groupby(groups).size().rename("cohort_size")
    active = (
        tx[tx["amount"] >= 0]
        .groupby([*groups, "period"])["customer_id"]
        .nunique()
        .rename("customers")
    )
    revenue = tx.groupby([*groups, "period"])["amount"].sum().rename("revenue")
    rows = []
    for key, n in size.items():
        key = key if isinstance(key, tuple) else (key,)
        c = key[-1]
        span = index(pd.Series([last]), pd.Series([c])).iloc[0]
        for p in range(span + 1):
            rows.append((*key, p, n))
    out = pd.DataFrame(rows, columns=[*groups, "period", "cohort_size"])
    out = out.join(active, on=[*groups, "period"]).join(revenue, on=[*groups, "period"])
    out["customers"] = out["customers"].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].fillna(0.0)
    out["retention"] = out["customers"] / out["cohort_size"]
    g = out.groupby(groups)["revenue"]
    out["revenue_retention"] = out["revenue"] / g.transform("first").replace(0, np.nan)
    out["cumulative_revenue_per_customer"] = g.cumsum() / out["cohort_size"]
    step = pd.DateOffset(months=1) if freq == "M" else pd.DateOffset(weeks=1)
    out["calendar_period"] = [
        c + int(p) * step for c, p in zip(out["cohort"], out["period"], strict=True)
    ]
    cols = (["channel"] if channels is not None else []) + co.COHORT_COLUMNS
    return out.sort_values([*groups, "period"])[cols].reset_index(drop=True)


@pytest.fixture(scope="module")
def random_data():
    rng = np.random.default_rng(11)
    n = 5000
    tx = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 400, n).astype(str),
            "order_ts": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 540 * 24 * 60, n), unit="min"),
            "amount": np.where(
                rng.random(n) < 0.06, -rng.gamma(2, 10, n), rng.gamma(2, 30, n)
            ).round(2),
        }
    )
    tx.loc[rng.random(n) < 0.01, "amount"] = 0.0  # free orders are purchases too
    ids = [str(i) for i in range(350)]  # 50 customers have no customers row
    chan = dict(zip(ids, rng.choice(["ads", "seo", "referral", None], len(ids)), strict=True))
    customers = pd.DataFrame({"customer_id": ids, "acquisition_channel": [chan[i] for i in ids]})
    return tx, customers, chan


@pytest.mark.parametrize("freq", ["M", "W"])
@pytest.mark.parametrize("as_of", [None, dt.date(2024, 3, 17)], ids=["last", "mid"])
def test_matches_independent_pandas(random_data, freq, as_of):
    tx, customers, _ = random_data
    con = store.from_frames(transactions=tx, customers=customers)
    got = co.cohort_table(con, freq=freq, as_of=as_of)
    expected = _pandas_cohorts(tx, freq, as_of or tx["order_ts"].max().date())
    assert_frame_equal(
        got.reset_index(drop=True), expected, check_dtype=False, check_exact=False, rtol=1e-9
    )


def test_by_channel_matches_independent_pandas(random_data):
    tx, customers, chan = random_data
    con = store.from_frames(transactions=tx, customers=customers)
    got = co.cohort_table(con, by_channel=True)
    expected = _pandas_cohorts(tx, "M", tx["order_ts"].max().date(), channels=chan)
    got = got.sort_values(["channel", "cohort", "period"]).reset_index(drop=True)
    assert_frame_equal(got, expected, check_dtype=False, check_exact=False, rtol=1e-9)
    assert co.UNKNOWN_CHANNEL in set(got["channel"])
    # split cohorts add up to the whole
    whole = co.cohort_table(con).groupby(["cohort", "period"])["customers"].sum()
    parts = got.groupby(["cohort", "period"])["customers"].sum()
    assert whole.equals(parts)


def test_by_channel_needs_customers():
    con = store.from_frames(transactions=_tx(HAND))
    with pytest.raises(MissingTableError, match="customers"):
        co.cohort_table(con, by_channel=True)


def test_curves_weight_cohorts_by_size():
    con = store.from_frames(transactions=_tx(HAND))
    table = co.cohort_table(con)
    curves = co.retention_curves(table).set_index("period")
    # period 1: January (2 customers, 1 active), February (1, 0), March (1, 0) -> 1/4
    assert curves.loc[1, "cohorts"] == 3 and curves.loc[1, "retention"] == pytest.approx(1 / 4)
    # revenue retention: (20 + 0 + 0) / (45 + 60 + 8)
    assert curves.loc[1, "revenue_retention"] == pytest.approx(20 / 113)
    # cumulative revenue per customer: (65 + 60 + 8) / 4
    assert curves.loc[1, "cumulative_revenue_per_customer"] == pytest.approx(133 / 4)
    # period 3: only January is old enough
    assert curves.loc[3, "cohorts"] == 1 and curves.loc[3, "retention"] == 0.5
    assert curves.loc[0, "retention"] == 1.0
    text = co.takeaway_heatmap(table, curves.reset_index())
    assert "customer retention is 25% in month 1" in text
    assert "best cohort in month 1: 2024-01 (50%)" in text
    assert "months a customer has brought" in co.takeaway_ltv(
        curves.reset_index(), money=lambda v: f"{v:.1f}"
    )


# --- CLI contract ------------------------------------------------------------------------


@pytest.fixture()
def db(tmp_path, random_data):
    """A dataset file with the canonical tables (as the loader writes them)."""
    tx, customers, _ = random_data
    mem = store.from_frames(transactions=tx, customers=customers)
    path = tmp_path / "shop.duckdb"
    with store.write_dataset(path, fresh=True) as w:
        for table in ("transactions", "customers"):
            w.register("frame", mem.execute(f"select * from {table}").df())
            w.execute(f"create table {table} as select * from frame")
            w.unregister("frame")
    return path


@pytest.mark.parametrize("freq", ["M", "W"])
def test_cli_cohorts_contract(db, tmp_path, random_data, freq):
    out = tmp_path / "cohorts.csv"
    assert main(["cohorts", "--db", str(db), "--freq", freq, "--out", str(out)]) == 0
    with open(out, encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == ["cohort", "period", "customers", "retention", "revenue"]
    df = pd.read_csv(out, encoding="utf-8-sig")
    tx = random_data[0]
    expected = _pandas_cohorts(tx, freq, tx["order_ts"].max().date())
    assert df["cohort"].tolist() == expected["cohort"].dt.strftime("%Y-%m-%d").tolist()
    assert df["period"].tolist() == expected["period"].tolist()
    assert df["customers"].tolist() == expected["customers"].tolist()
    np.testing.assert_allclose(df["retention"], expected["retention"], rtol=1e-9)
    np.testing.assert_allclose(df["revenue"], expected["revenue"], rtol=1e-9)
    assert (df.loc[df["period"] == 0, "retention"] == 1.0).all()
    if freq == "W":
        assert (pd.to_datetime(df["cohort"]).dt.weekday == 0).all()  # ISO weeks start Monday


def test_cli_stages_contract(db, tmp_path):
    out = tmp_path / "stages.csv"
    assert main(["stages", "--db", str(db), "--as-of", "2023-02-15", "--out", str(out)]) == 0
    df = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(df.columns) == ["customer_id", "stage"]
    assert df["customer_id"].is_unique
    from clm_core import lifecycle as lc

    assert set(df["stage"]) <= set(lc.STAGES)
    con = store.connect(db)
    expected = lc.customer_stages(con, as_of="2023-02-15")
    assert df["stage"].tolist() == expected["stage"].tolist()
    # customers rows without a purchase by then are prospects
    assert (df["stage"] == "Prospect").any()


def test_cli_errors(db, tmp_path, capsys):
    out = tmp_path / "x.csv"
    assert main(["stages", "--db", str(db), "--as-of", "31/03/2024", "--out", str(out)]) == 2
    assert "--as-of" in capsys.readouterr().err
    assert main(["cohorts", "--db", str(tmp_path / "missing.duckdb"), "--out", str(out)]) == 1
    with pytest.raises(SystemExit) as e:
        main(["cohorts", "--db", str(db), "--freq", "Q", "--out", str(out)])
    assert e.value.code == 2
    assert not out.exists()


def test_every_takeaway_sentence_has_chinese():
    from clm_core.i18n import ZH

    for texts in co.TAKEAWAY_TEXT.values():
        for text in texts.values():
            assert text in ZH, text
    for text in co._METRIC_NAMES.values():
        assert text in ZH, text
