"""The three shared real files, dropped in as a user would (no --map, no hand edits), checked
against their published figures and against lifetimes on the same lines."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

from clm_core import store
from clm_core.config import PERIOD_DAYS
from clm_core.ingest import load_file
from clm_core.summary import customer_summary
from tests.conftest import ROOT
from tests.real.conftest import real_file

FOUR = ["frequency", "recency", "T", "monetary_value"]
PAGES = ["overview", "data", "segments", "lifecycle", "funnels", "clv", "churn", "campaigns",
         "customer"]  # fmt: skip


def _reference(tx: pd.DataFrame, period: str, as_of=None) -> pd.DataFrame:
    ref = summary_data_from_transaction_data(
        tx, "customer_id", "order_ts", monetary_value_col="amount",
        observation_period_end=as_of, freq="D", freq_multiplier=PERIOD_DAYS[period],
    )  # fmt: skip
    ref.index = ref.index.astype(str)
    return ref.sort_index()


def _ours(db, period: str, as_of=None) -> pd.DataFrame:
    con = store.connect(db)
    try:
        return customer_summary(con, as_of=as_of, period=period).set_index("customer_id")
    finally:
        con.close()


def _no_failure(at) -> None:
    """No exception, and no red box reporting a failure (the Overview's red alerts, such as
    "Churn rate rose from 10.6% to 19.2%.", are findings, not failures)."""
    assert not at.exception, at.exception
    failures = [e.value for e in at.error if any(w in str(e.value).lower() for w in
                ("error", "cannot", "could not", "failed", "not found", "traceback"))]  # fmt: skip
    assert not failures, failures


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clm_core", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


# --- UCI Online Retail ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def retail_lines() -> pd.DataFrame:
    """The file read by pandas as the reference: lines with a customer, amount = Q x P."""
    raw = pd.read_csv(real_file("online_retail"), dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    return pd.DataFrame({
        "customer_id": raw["CustomerID"].astype("int64").astype(str),
        "order_id": raw["InvoiceNo"],
        "order_ts": pd.to_datetime(raw["InvoiceDate"]),
        "amount": raw["Quantity"] * raw["UnitPrice"],
    })  # fmt: skip


def test_online_retail_loads_with_published_figures(loaded):
    _, db, res = loaded("online_retail")
    assert (res.rows_read, res.rows_loaded, res.rows_rejected) == (541_909, 406_829, 0)
    assert (res.customers, res.returns, res.rows_without_customer) == (4_372, 8_905, 135_080)
    assert res.amount_total == pytest.approx(8_300_065.81, abs=0.005)
    assert res.duplicates == 5_225  # of the file's 5,268 exact duplicates, 43 are guest lines
    assert res.derived == {"amount": "Quantity × UnitPrice"}
    assert (res.currency, res.has_amounts) == ("GBP", True)
    assert res.mapping["product"] == "Description" and res.mapping["region"] == "Country"
    con = store.connect(db)
    try:
        n_orders, n_cancel = con.execute(
            "select count(distinct order_id), count(distinct order_id) filter "
            "(where order_id like 'C%') from transactions"
        ).fetchone()
        assert n_orders == 22_190 and n_cancel == 3_654
        assert con.execute("select count(*) from transactions where amount < 0 and "
                           "order_id not like 'C%'").fetchone() == (0,)  # fmt: skip
        assert store.get_setting(con, "currency") == "GBP"
        regions = con.execute("select region, count(*) from customers group by 1 order by 2 desc")
        assert regions.fetchone() == ("United Kingdom", 3_950)
    finally:
        con.close()


def test_online_retail_without_exact_duplicates(tmp_path):
    res = load_file(real_file("online_retail"), tmp_path / "r.duckdb", drop_duplicates=True)
    assert (res.rows_loaded, res.customers) == (401_604, 4_372)
    assert res.amount_total == pytest.approx(8_278_519.42, abs=0.005)


@pytest.mark.parametrize("period", ["D", "W"], ids=["days", "weeks"])
def test_online_retail_summary_equals_lifetimes(loaded, retail_lines, period):
    """lifetimes gets the non-cancelled lines (amount >= 0), our definition of a purchase."""
    _, db, _ = loaded("online_retail")
    purchases = retail_lines[retail_lines["amount"] >= 0]
    ref = _reference(purchases, period)
    ours = _ours(db, period)
    assert list(ours.index) == list(ref.index)  # 4,339 buyers: 33 customers only cancelled
    assert len(ref) == 4_339
    pd.testing.assert_frame_equal(ours[FOUR], ref[FOUR], check_names=False, rtol=1e-9)


@pytest.mark.parametrize(
    ("command", "extra"),
    [("summary", ()), ("stages", ()), ("cohorts", ()), ("churn", ()), ("segments", ())],
    ids=["summary", "stages", "cohorts", "churn", "segments"],
)
def test_online_retail_cli_commands_run(loaded, tmp_path, command, extra):
    _, db, _ = loaded("online_retail")
    out = tmp_path / f"{command}.csv"
    run = _cli(command, "--db", str(db), "--out", str(out), *extra)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    frame = pd.read_csv(out)
    assert len(frame) > 0
    if command in ("summary", "stages", "segments", "churn"):
        assert frame["customer_id"].nunique() >= 4_000


@pytest.mark.parametrize("page", PAGES)
def test_online_retail_every_page_opens(real_app, page):
    at = real_app("online_retail")
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    _no_failure(at)
    shown = " ".join(str(m.value) for m in at.metric)
    assert "$" not in shown and "¥" not in shown  # a UK shop's money is in pounds


# --- CDNOW master file --------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow_lines() -> pd.DataFrame:
    raw = pd.read_csv(real_file("cdnow"), sep=r"\s+", dtype={"customer_id": str, "date": str})
    return pd.DataFrame({
        "customer_id": raw["customer_id"],
        "order_ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
        "amount": raw["dollar_value"],
    })  # fmt: skip


def test_cdnow_master_loads_from_the_raw_file(loaded):
    _, _, res = loaded("cdnow")
    assert (res.rows_loaded, res.customers, res.rows_rejected) == (69_659, 23_570, 0)
    assert res.amount_total == pytest.approx(2_500_315.63, abs=0.005)
    assert (res.date_min, res.date_max) == ("1997-01-01", "1998-06-30")
    assert res.mapping == {"customer_id": "customer_id", "order_ts": "date",
                           "amount": "dollar_value", "quantity": "number_of_cds"}  # fmt: skip


def test_cdnow_summary_and_bgnbd_equal_lifetimes(loaded, cdnow_lines):
    _, db, _ = loaded("cdnow")
    as_of = dt.date(1997, 9, 30)
    ref = _reference(cdnow_lines, "W", as_of)
    ours = _ours(db, "W", as_of)
    assert ours.index[0] == "00001"  # zero-padded ids kept
    assert list(ours.index) == list(ref.index)
    pd.testing.assert_frame_equal(ours[FOUR], ref[FOUR], check_names=False, rtol=1e-9)
    bg = BetaGeoFitter().fit(ref["frequency"], ref["recency"], ref["T"])
    from clm_core.clv import fit_clv

    con = store.connect(db)
    try:
        res = fit_clv(con, model="bgnbd", period="W", as_of=as_of)
    finally:
        con.close()
    ours_p = np.array([res.params[k] for k in ("r", "alpha", "a", "b")])
    ref_p = bg.params_[["r", "alpha", "a", "b"]].to_numpy()
    np.testing.assert_allclose(ours_p, ref_p, rtol=2e-3)


# --- grocery purchase log (no money) ------------------------------------------------------


def test_grocery_log_loads_without_money(loaded):
    _, db, res = loaded("grocery")
    assert (res.rows_loaded, res.customers, res.rows_rejected) == (10_483, 1_525, 0)
    assert (res.date_min, res.date_max) == ("2006-01-01", "2007-12-30")
    assert res.has_amounts is False and res.amount_total is None and res.currency is None
    assert res.mapping == {"customer_id": "cust", "order_ts": "date"}
    con = store.connect(db)
    try:
        assert not store.has_amounts(con)
    finally:
        con.close()


def test_grocery_p_alive_and_expected_purchases(loaded, tmp_path):
    _, db, _ = loaded("grocery")
    out = tmp_path / "clv.csv"
    run = _cli("clv", "--db", str(db), "--model", "bgnbd", "--out", str(out))
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(out)
    assert len(frame) == 1_525
    assert frame["p_alive"].between(0, 1).all()
    assert (frame["expected_purchases"] >= 0).all() and frame["expected_purchases"].sum() > 0
    # no money in the file: no money in the output (empty, not 0)
    assert frame["clv"].isna().all() and frame["monetary_value"].isna().all()


@pytest.mark.parametrize("page", PAGES)
def test_grocery_every_page_opens_and_shows_no_money(real_app, page):
    at = real_app("grocery")
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    _no_failure(at)
    for m in at.metric:
        assert not str(m.value).lstrip("-").startswith(("$0", "¥0", "£0")), (m.label, m.value)
