"""``python -m clm_core churn``: CSV and JSON contract, formula neutralisation, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pandas as pd
import pytest

from clm_core import store
from clm_core.__main__ import main
from tests.conftest import ROOT
from tests.test_churn_synth import synth_frames


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Synthetic data where one customer id is a spreadsheet formula."""
    frames = synth_frames(1200, seed=5)
    evil = '=HYPERLINK("http://x")'
    for name in ("transactions", "events", "feedback", "customers"):
        frames[name]["customer_id"] = frames[name]["customer_id"].replace("C00007", evil)
    path = tmp_path_factory.mktemp("churn-cli") / "synth.duckdb"
    mem = store.from_frames(**frames)
    with store.write_dataset(path, fresh=True) as con:
        for table in frames:
            con.register("_f", mem.execute(f"select * from {table}").df())
            con.execute(f"create table {table} as select * from _f")
            con.unregister("_f")
    return path


def test_csv_and_json_contract(db, tmp_path, capsys):
    out = tmp_path / "risk.csv"
    assert main(["churn", "--db", str(db), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"horizon_days", "train_cutoff", "test_cutoff", "roc_auc", "pr_auc",
                           "top_decile_lift", "baselines", "n_features"}  # fmt: skip
    assert set(report["baselines"]) == {"logistic_regression", "recency_rule", "p_alive_rule"}
    for metrics in report["baselines"].values():
        assert set(metrics) == {"roc_auc", "pr_auc", "top_decile_lift"}
    assert report["n_features"] >= 20 and 0.5 < report["roc_auc"] <= 1
    assert pd.Timestamp(report["train_cutoff"]) + pd.Timedelta(
        days=report["horizon_days"]
    ) == pd.Timestamp(report["test_cutoff"])

    df = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert list(df.columns) == ["customer_id", "churn_probability", "value_at_risk", "reasons"]
    assert df["value_at_risk"].is_monotonic_decreasing
    assert df["churn_probability"].between(0, 1).all()
    with open(out, encoding="utf-8-sig", newline="") as fh:
        ids = [row[0] for row in csv.reader(fh)][1:]
    assert '\'=HYPERLINK("http://x")' in ids  # neutralised, not a live formula
    assert not any(i.startswith(("=", "+", "-", "@")) for i in ids)


def test_horizon_option_changes_the_label(db, tmp_path, capsys):
    out = tmp_path / "risk.csv"
    assert (
        main(["churn", "--db", str(db), "--horizon-days", "40", "--out", str(out), "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["horizon_days"] == 40


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--horizon-days", "0"], 2, "at least 1"),
        (["--horizon-days", "5000"], 1, "at most"),
        (["--as-of", "not-a-date"], 2, "date"),
    ],
    ids=["zero-horizon", "horizon-longer-than-data", "bad-date"],
)
def test_errors_exit_with_a_message(db, tmp_path, capsys, args, code, message):
    assert main(["churn", "--db", str(db), "--out", str(tmp_path / "x.csv"), *args]) == code
    assert message in capsys.readouterr().err


def test_out_is_required(db):
    with pytest.raises(SystemExit) as e:
        main(["churn", "--db", str(db)])
    assert e.value.code == 2


def test_real_command_line(db, tmp_path):
    out = tmp_path / "risk.csv"
    r = subprocess.run(
        [sys.executable, "-m", "clm_core", "churn", "--db", str(db), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.read_bytes().startswith(b"\xef\xbb\xbfcustomer_id,churn_probability")


def test_a_sampled_fit_is_noted_on_stderr_and_keeps_the_json_keys(db, tmp_path, capsys,
                                                                  monkeypatch):  # fmt: skip
    from clm_core import churn

    monkeypatch.setattr(churn, "MAX_TRAIN_ROWS", 200)
    out = tmp_path / "risk.csv"
    assert main(["churn", "--db", str(db), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"horizon_days", "train_cutoff", "test_cutoff",
                                             "roc_auc", "pr_auc", "top_decile_lift",
                                             "baselines", "n_features"}  # fmt: skip
    assert "stratified sample of 200 customers" in captured.err
    scored = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    assert len(scored) > 200  # everyone is still scored
