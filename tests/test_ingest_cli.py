"""``python -m clm_core load``: the JSON contract, exit codes and messages others rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ingest_files import CN_CSV, table, write_text, write_xlsx

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["table", "rows_read", "rows_loaded", "rows_rejected", "duplicates", "returns", "customers",
        "amount_total", "date_min", "date_max", "mapping", "errors",
        # added by issue 20, after the first contract
        "rows_without_customer", "currency", "currency_reason", "derived", "has_amounts",
        "date_order", "recipe", "columns_changed"]  # fmt: skip


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "clm_core", "load", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip


def test_json_contract(tmp_path):
    src = write_text(tmp_path / "订单.csv", CN_CSV + "C001,A3,20240107,-20,门店,1\n", "gbk")
    db = tmp_path / "shop.duckdb"
    out = cli(src, "--db", db, "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert list(obj) == KEYS
    assert obj == {
        "table": "transactions", "rows_read": 4, "rows_loaded": 4, "rows_rejected": 0,
        "duplicates": 1, "returns": 2, "customers": 2, "amount_total": 1294.0,
        "date_min": "2024-01-05", "date_max": "2024-01-07",
        "mapping": {"customer_id": "客户编号", "order_id": "订单号", "order_ts": "下单时间",
                    "amount": "实付金额", "quantity": "数量", "channel": "渠道"},
        "errors": [], "rows_without_customer": 0, "currency": "CNY",
        "currency_reason": "CNY: the amounts are written with '￥'", "derived": {},
        "has_amounts": True, "date_order": None, "recipe": None, "columns_changed": {},
    }  # fmt: skip
    assert len(table(db)) == 4


def test_reject_exits_1_with_message_and_json(tmp_path):
    src = write_text(
        tmp_path / "bad.csv", "title\ncustomer_id,order_ts,amount\nC1,2024-01-05,1\nC2,never,2\n"
    )
    db = tmp_path / "shop.duckdb"
    out = cli(src, "--db", db, "--json")
    assert out.returncode == 1
    assert "bad.csv" in out.stderr and "row 4" in out.stderr and "'order_ts'" in out.stderr
    obj = json.loads(out.stdout)
    assert list(obj) == KEYS
    assert obj["rows_loaded"] == 0 and obj["rows_rejected"] == 1
    assert obj["errors"] == [
        {"row": 4, "column": "order_ts", "value": "never", "reason": "not a date"}
    ]
    assert not db.exists()


def test_skip_with_map_and_sheet(tmp_path):
    book = write_xlsx(tmp_path / "b.xlsx", {"a": [["x"]], "orders": [
        ["who", "when", "paid", "platform"], ["C1", "2024-01-05", "$ 12.00", "web"],
        ["C2", "2024-01-06", "oops", "app"]]})  # fmt: skip
    db = tmp_path / "shop.duckdb"
    out = cli(book, "--db", db, "--sheet", "orders", "--map", "customer_id=who", "order_ts=when",
              "--map", "amount=paid", "--on-error", "skip", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["mapping"] == {"customer_id": "who", "order_ts": "when", "amount": "paid",
                              "channel": "platform"}  # fmt: skip
    assert (obj["rows_loaded"], obj["rows_rejected"], obj["amount_total"]) == (1, 1, 12.0)
    assert obj["errors"] == [
        {"row": 3, "column": "paid", "value": "oops", "reason": "not a number"}
    ]
    assert (tmp_path / "shop.transactions.rejected.csv").exists()


def test_append_mode_and_plain_output(tmp_path):
    db = tmp_path / "shop.duckdb"
    src = write_text(tmp_path / "a.csv", "customer_id,order_ts,amount\nC1,2024-01-05,1\n")
    assert cli(src, "--db", db).returncode == 0
    out = cli(src, "--db", db, "--mode", "append")
    assert out.returncode == 0 and "Loaded 1 of 1 rows" in out.stdout
    assert len(table(db)) == 2


@pytest.mark.parametrize(
    "args",
    [["--table", "orders"], ["--on-error", "ignore"], ["--mode", "merge"], ["--map", "amount"],
     ["--map", "amout=amount"], ["--map", "amount=nope"], ["--sheet", "x"], ["--bogus"]],
    ids=["table", "on-error", "mode", "map-syntax", "map-canonical", "map-source", "sheet-on-csv",
         "unknown-flag"],
)  # fmt: skip
def test_usage_errors_exit_2(tmp_path, args):
    src = write_text(tmp_path / "a.csv", "customer_id,order_ts,amount\nC1,2024-01-05,1\n")
    if args == ["--sheet", "x"]:
        src = write_xlsx(tmp_path / "b.xlsx", {"s": [["customer_id", "order_ts", "amount"]]})
    out = cli(src, "--db", tmp_path / "shop.duckdb", *args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stderr.strip() and "Traceback" not in out.stderr


def test_missing_file_is_usage_error_and_missing_column_is_data_error(tmp_path):
    out = cli(tmp_path / "nope.csv", "--db", tmp_path / "shop.duckdb")
    assert out.returncode == 2 and "not found" in out.stderr
    src = write_text(tmp_path / "a.csv", "customer_id,amount\nC1,1\n")
    out = cli(src, "--db", tmp_path / "shop.duckdb", "--json")
    assert out.returncode == 1 and "order_ts" in out.stderr and "Traceback" not in out.stderr
    obj = json.loads(out.stdout)
    assert list(obj) == KEYS and obj["rows_loaded"] == 0
    assert obj["errors"] == [{"row": None, "column": "order_ts", "value": None,
                              "reason": "required column not found"}]  # fmt: skip
