"""``python -m clm_core clv``: the CSV and JSON contract, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clm_core import store
from tests.test_clv import cdnow_transactions

ROOT = Path(__file__).resolve().parent.parent
CSV_COLUMNS = ["customer_id", "frequency", "recency", "T", "monetary_value", "p_alive",
               "expected_purchases", "expected_avg_value", "clv"]  # fmt: skip


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clm_core", "clv", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cdnow_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cdnow") / "cdnow-sample.duckdb"
    tx = cdnow_transactions()
    with store.write_dataset(path, fresh=True) as con:
        con.register("tx", tx)
        con.execute(
            "create table transactions as select customer_id, cast(null as varchar) as order_id,"
            " cast(order_ts as timestamp) as order_ts, amount from tx"
        )
    return path


def test_csv_and_json_contract(cdnow_db, tmp_path):
    out = tmp_path / "clv.csv"
    done = run_cli("--db", cdnow_db, "--model", "bgnbd", "--period", "W", "--as-of", "1997-09-30",
                   "--horizon", "39", "--discount-rate", "0.01", "--margin", "0.3", "--out", out,
                   "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert list(facts) == ["model", "params", "spend_params", "customers", "log_likelihood",
                           "fit_seconds", "degenerate"]  # fmt: skip
    assert facts["degenerate"] == {}  # CDNow: every parameter is away from its bound
    assert facts["model"] == "bgnbd" and facts["customers"] == 2357
    assert list(facts["params"]) == ["r", "alpha", "a", "b"]
    assert facts["params"]["r"] == pytest.approx(0.243, abs=1.5e-3)
    assert facts["params"]["alpha"] == pytest.approx(4.414, abs=1.5e-3)
    assert list(facts["spend_params"]) == ["p", "q", "v"]
    assert facts["spend_params"]["p"] == pytest.approx(6.25, abs=0.015)
    assert facts["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert facts["fit_seconds"] > 0
    df = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str})
    assert list(df.columns) == CSV_COLUMNS
    assert len(df) == 2357 and df["customer_id"].is_unique
    assert df["p_alive"].between(0, 1).all() and (df["clv"] >= 0).all()
    assert df.loc[df["customer_id"] == "0001", "T"].iloc[0] == pytest.approx(38.857, abs=1e-3)


def test_pareto_json_uses_lifetimes_names(cdnow_db, tmp_path):
    done = run_cli("--db", cdnow_db, "--model", "pareto", "--as-of", "1997-09-30",
                   "--out", tmp_path / "p.csv", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["model"] == "pareto" and list(facts["params"]) == ["r", "alpha", "s", "beta"]
    assert facts["params"]["beta"] == pytest.approx(11.669, abs=1.5e-3)


def test_auto_and_notes_on_stderr(cdnow_db, tmp_path):
    done = run_cli("--db", cdnow_db, "--as-of", "1997-09-30", "--out", tmp_path / "a.csv", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["model"] == "mbgnbd"  # lowest BIC of the three on CDNow
    assert "note: Auto chose Modified BG/NBD" in done.stderr


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--as-of", "1997-01-20"], 1, "needs at least 500 customers"),
        (["--as-of", "1997-31-31"], 2, "Not a date"),
        (["--model", "weibull"], 2, "invalid choice"),
        (["--period", "Y"], 2, "invalid choice"),
        (["--horizon", "0"], 2, "horizon must be"),
        (["--margin", "3"], 2, "margin must be"),
    ],
    ids=["not-enough-data", "bad-date", "bad-model", "bad-period", "bad-horizon", "bad-margin"],
)
def test_errors_exit_with_a_message_and_no_traceback(cdnow_db, tmp_path, args, code, message):
    done = run_cli("--db", cdnow_db, "--out", tmp_path / "x.csv", *args)
    assert done.returncode == code
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_missing_dataset_is_a_data_error(tmp_path):
    done = run_cli("--db", tmp_path / "nope.duckdb", "--out", tmp_path / "x.csv")
    assert done.returncode == 1 and "does not exist" in done.stderr
