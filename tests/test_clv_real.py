"""CLV on real data: UCI Online Retail (4,339 buyers), where every purchase model is degenerate.

Issue 20: ``clv --model auto`` took over 10 minutes there, because the Pareto/NBD fit started
where its likelihood is not finite and Nelder-Mead ran all its iterations. Now auto finishes,
BG/NBD equals lifetimes' BetaGeoFitter on lifetimes' own summary of the same lines, and Pareto/NBD
is fitted with its s at the bound 0 (nobody drops out), which the notes and the CLI JSON say.

The file is read from ``../shared/datasets`` (never copied into the project); without it the
tests are skipped, except under CI=true, where they must run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

from clm_core import clv, store
from clm_core.summary import customer_summary

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
ONLINE_RETAIL = DATASETS / "online_retail" / "online-retail.csv.gz"


def _require(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing: under CI the real datasets must be there.")
    pytest.skip(f"{path} is absent (real datasets live in ../shared/datasets).")


def online_retail_transactions(path: Path) -> pd.DataFrame:
    """The canonical transactions of Online Retail's lines with a customer: amount = Quantity x
    UnitPrice (cancellations, invoices starting with C, have a negative quantity: returns).
    Until the loader reads this file itself."""
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    return pd.DataFrame(
        {
            "customer_id": raw["CustomerID"].astype("int64").astype(str),
            "order_id": raw["InvoiceNo"],
            "order_ts": pd.to_datetime(raw["InvoiceDate"], format="%Y-%m-%d %H:%M:%S"),
            "amount": raw["Quantity"] * raw["UnitPrice"],
        }
    )


@pytest.fixture(scope="module")
def transactions() -> pd.DataFrame:
    tx = online_retail_transactions(_require(ONLINE_RETAIL))
    assert len(tx) == 406_829 and tx["customer_id"].nunique() == 4_372  # the README's figures
    return tx


@pytest.fixture(scope="module")
def con(transactions):
    return store.from_frames(transactions=transactions)


@pytest.fixture(scope="module")
def result(con) -> clv.ClvResult:
    # A generous budget: a busy machine must not make Pareto/NBD give up here (the default
    # budget is measured by bench/bench_clv.py --online-retail).
    return clv.fit_clv(con, model="auto", time_budget=60.0)


@pytest.fixture(scope="module")
def lifetimes_summary(transactions, result) -> pd.DataFrame:
    """lifetimes' summary of the purchase lines (returns are never purchases), in weeks."""
    lines = transactions[transactions["amount"] >= 0]
    out = summary_data_from_transaction_data(
        lines, "customer_id", "order_ts", observation_period_end=pd.Timestamp(result.as_of),
        freq="D", freq_multiplier=7, monetary_value_col="amount",
    )  # fmt: skip
    return out.sort_index()


def test_our_summary_is_lifetimes_summary(con, result, lifetimes_summary):
    ours = customer_summary(con, as_of=result.as_of, period="W").set_index("customer_id")
    ours = ours.sort_index()
    assert list(ours.index) == list(lifetimes_summary.index) and len(ours) == 4_339
    for col in ("frequency", "recency", "T"):
        np.testing.assert_allclose(ours[col], lifetimes_summary[col], err_msg=col)


def test_auto_finishes_and_bgnbd_equals_lifetimes(result, lifetimes_summary):
    assert result.n_customers == 4_339 and len(result.customers) == 4_339
    assert set(result.candidates["model"]) == {"bgnbd", "mbgnbd", "pareto"}
    assert result.model in {"bgnbd", "mbgnbd", "pareto"}
    s = lifetimes_summary
    bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    ours = result.candidates.set_index("model").loc["bgnbd", "params"]
    np.testing.assert_allclose(
        [ours[k] for k in ("r", "alpha", "a", "b")], bg.params_.to_numpy(), rtol=1e-3
    )
    assert result.customers["p_alive"].between(0, 1).all()
    assert np.isfinite(result.customers["clv"]).all()


def test_degenerate_fits_are_flagged(result):
    """Almost nobody drops out of this shop: Pareto/NBD's s and BG/NBD's a sit at 0."""
    assert "s" in result.degenerate["pareto"] and result.degenerate["pareto"]["s"] < 1e-3
    assert "a" in result.degenerate["bgnbd"]
    text = [str(n) for n in result.notes]
    assert any(t.startswith("Pareto/NBD is degenerate: s = ") for t in text), text
    assert any(t.startswith("BG/NBD is degenerate: a = ") for t in text), text


def test_cli_json_says_which_parameters_are_at_their_bound(con, tmp_path):
    path = tmp_path / "online-retail.duckdb"
    frame = con.execute("select * from transactions").df()
    with store.write_dataset(path, fresh=True) as w:
        w.register("tx", frame)
        w.execute("create table transactions as select * from tx")
    done = subprocess.run(
        [sys.executable, "-m", "clm_core", "clv", "--db", str(path), "--model", "auto",
         "--time-budget", "60", "--out", str(tmp_path / "c.csv"), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert "s" in facts["degenerate"]["pareto"] and "a" in facts["degenerate"]["bgnbd"]
    assert "note: Pareto/NBD is degenerate: s = " in done.stderr
    csv = pd.read_csv(tmp_path / "c.csv", encoding="utf-8-sig", dtype={"customer_id": str})
    assert list(csv.columns) == clv.CSV_COLUMNS and len(csv) == 4_339
