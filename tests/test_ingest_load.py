"""End-to-end loads with known answers: formats, values, rejections, duplicates, atomicity."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from clm_core import store
from clm_core.errors import DataError, UsageError
from clm_core.ingest import LoadRejected, load_file, prepare, preview
from clm_core.ingest.load import HISTORY_KEY, rejected_path_for
from tests.ingest_files import CN_CSV, table, write_parquet, write_text, write_xlsx

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = pd.DataFrame(
    {
        "customer_id": ["C001", "C001", "C002"],
        "order_id": ["A1", "A3", "A2"],
        "order_ts": pd.to_datetime(["2024-01-05 13:45", "2024-01-07 00:00", "2024-01-06 00:00"]),
        "amount": [1234.5, -20.0, 99.5],
        "quantity": [2.0, 1.0, 1.0],
        "channel": ["门店", "门店", "小程序"],
    }
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def db(tmp_path) -> Path:
    """A dataset holding 2 old transactions and a customers table."""
    path = tmp_path / "data" / "shop.duckdb"
    path.parent.mkdir()
    old = write_text(
        tmp_path / "old.csv", "customer_id,order_ts,amount\nOLD1,2023-01-01,5\nOLD2,2023-01-02,6\n"
    )
    load_file(old, path)
    cust = write_text(tmp_path / "cust.csv", "customer_id,name\nOLD1,Ann\n")
    load_file(cust, path, table="customers")
    return path


def _check_expected(db: Path):
    got = table(db)
    got = got[EXPECTED.columns].reset_index(drop=True)
    got["order_ts"] = got["order_ts"].astype("datetime64[us]")
    exp = EXPECTED.copy()
    exp["order_ts"] = exp["order_ts"].astype("datetime64[us]")
    pd.testing.assert_frame_equal(got, exp, check_dtype=False)


def _xlsx(tmp_path):
    rows = [["2024年订单"], [], ["客户编号", "订单号", "下单时间", "实付金额", "渠道", "数量"],
            ["C001", "A1", dt.datetime(2024, 1, 5, 13, 45), "￥1,234.50", "门店", 2],
            ["C002", "A2", "2024-01-06", 99.5, "小程序", 1],
            ["C001", "A3", 45298, -20, "门店", 1]]  # fmt: skip
    return write_xlsx(tmp_path / "orders.xlsx", {"封面": [["目录"]], "明细": rows}), "明细"


def _parquet(tmp_path):
    sql = ("select * from (values ('C001','A1',timestamp '2024-01-05 13:45',1234.5,'门店',2), "
           "('C002','A2',timestamp '2024-01-06',99.5,'小程序',1), "
           "('C001','A3',timestamp '2024-01-07',-20.0,'门店',1)) "
           "t(客户编号, 订单号, 下单时间, 实付金额, 渠道, 数量)")  # fmt: skip
    return write_parquet(tmp_path / "orders.parquet", sql), None


def _csv(encoding, delim=",", decimal_comma=False, suffix=".csv"):
    def make(tmp_path):
        text = CN_CSV
        if decimal_comma:
            text = text.replace('"￥1,234.50"', '"￥1 234,50"').replace("99.5", '"99,5"')
        if delim != ",":
            text = text.replace(",", delim).replace(f'"￥1{delim}234.50"', "￥1,234.50")
            text = text.replace(f'"￥1 234{delim}50"', "￥1 234,50").replace(
                f'"99{delim}5"', "99,5"
            )
        return write_text(tmp_path / f"orders{suffix}", text, encoding), None

    return make


@pytest.mark.parametrize(
    "make",
    [_csv("utf-8"), _csv("utf-8-sig"), _csv("gbk"), _csv("gb18030"), _csv("utf-16"),
     _csv("utf-8", "\t", suffix=".tsv"), _csv("gbk", "\t", suffix=".txt"),
     _csv("utf-8", ";", decimal_comma=True), _xlsx, _parquet],
    ids=["utf8", "utf8-bom", "gbk", "gb18030", "utf16", "tsv", "txt-gbk-tab",
         "semicolon-decimal-comma", "xlsx-title-rows", "parquet"],
)  # fmt: skip
def test_each_format_loads_the_same_table(tmp_path, db, make):
    path, sheet = make(tmp_path)
    res = load_file(path, db, sheet=sheet)
    assert (res.rows_read, res.rows_loaded, res.rows_rejected) == (3, 3, 0)
    assert (res.customers, res.returns, res.duplicates) == (2, 1, 0)
    assert res.amount_total == pytest.approx(1314.0)
    assert (res.date_min, res.date_max) == ("2024-01-05", "2024-01-07")
    assert res.mapping == {"customer_id": "客户编号", "order_id": "订单号", "order_ts": "下单时间",
                           "amount": "实付金额", "quantity": "数量", "channel": "渠道"}  # fmt: skip
    _check_expected(db)
    # replace kept the other table
    assert len(table(db, "customers", "customer_id")) == 1


def test_value_formats_in_one_file(tmp_path, db):
    text = (
        "customer_id;order_ts;amount\n"
        "A;2024-01-05;1 234,50\n"
        'B;05.01.2024;"(12,00)"\n'
        "C;20240105;€ 3,99\n"
        "D;45296;12\n"
        "E;2024/1/5 13:45;-7,25\n"
        "F;31/01/2024;0,5\n"
    )
    load_file(write_text(tmp_path / "eu.csv", text), db)
    got = table(db, order="customer_id")
    assert got["amount"].tolist() == [1234.5, -12.0, 3.99, 12.0, -7.25, 0.5]
    assert [str(t) for t in got["order_ts"]] == [
        "2024-01-05 00:00:00", "2024-01-05 00:00:00", "2024-01-05 00:00:00",
        "2024-01-05 00:00:00", "2024-01-05 13:45:00", "2024-01-31 00:00:00",
    ]  # fmt: skip


BAD_TEMPLATE = (
    "销售明细,,\n"  # line 1: title
    "\n"  # line 2: blank
    "客户编号,下单时间,实付金额\n"  # line 3: header
    "C1,2024-01-05,10\n"  # line 4
    "\n"  # line 5: blank (skipped)
    'C2,2024-01-06,"1,000.00"\n'  # line 6
    "{bad}\n"  # line 7
    "C4,2024-01-08,5\n"  # line 8
)


@pytest.mark.parametrize(
    ("bad", "column", "value", "reason"),
    [
        ("C3,someday,10", "下单时间", "someday", "not a date"),
        (
            "3.1E+04,2024-01-07,10",
            "客户编号",
            "3.1E+04",
            "an id in scientific notation (its digits may be lost): export the column as text",
        ),
        ("C3,2024-01-07,ten", "实付金额", "ten", "not a number"),
        ("C3,1850-01-01,10", "下单时间", "1850-01-01", "date outside 1900-2100"),
        ("C3,2024-01-07,", "实付金额", None, "missing value"),
    ],
    ids=[
        "bad-date",
        "scientific-id",
        "non-numeric-amount",
        "date-out-of-range",
        "missing-amount",
    ],
)
def test_rejection_reports_file_row_and_loads_nothing(tmp_path, db, bad, column, value, reason):
    before = _digest(db)
    path = write_text(tmp_path / "bad.csv", BAD_TEMPLATE.format(bad=bad))
    with pytest.raises(LoadRejected) as info:
        load_file(path, db)
    err = info.value
    assert (err.file, err.row, err.column) == ("bad.csv", 7, column)
    assert err.result.errors == ({"row": 7, "column": column, "value": value, "reason": reason},)
    assert (err.result.rows_read, err.result.rows_rejected, err.result.rows_loaded) == (4, 1, 0)
    assert "bad.csv" in str(err) and "row 7" in str(err) and column in str(err)
    assert _digest(db) == before
    assert table(db)["customer_id"].tolist() == ["OLD1", "OLD2"]


def test_row_numbers_survive_quoted_line_breaks(tmp_path, db):
    text = 'customer_id,order_ts,amount,note\nC1,2024-01-05,1,"two\nlines"\nC2,bad,1,x\n'
    with pytest.raises(LoadRejected) as info:
        load_file(write_text(tmp_path / "q.csv", text), db)
    assert info.value.row == 4


def test_rejection_rows_in_xlsx_and_parquet(tmp_path, db):
    path = write_xlsx(tmp_path / "b.xlsx", {"s": [["report"], ["customer_id", "order_ts", "amount"],
                                                  ["C1", "2024-01-05", 1], ["C2", "nope", 2]]})  # fmt: skip
    with pytest.raises(LoadRejected) as info:
        load_file(path, db)
    assert (info.value.row, info.value.column, info.value.value) == (4, "order_ts", "nope")
    pq = write_parquet(tmp_path / "b.parquet", "select * from (values ('C1', '2024-01-05', 1.0), "
                       "('C2', 'later', 2.0)) t(customer_id, order_ts, amount)")  # fmt: skip
    with pytest.raises(LoadRejected) as info:
        load_file(pq, db)
    assert (info.value.row, info.value.column) == (2, "order_ts")


def test_guest_rows_are_counted_not_rejected(tmp_path, db):
    """A row without a customer id is a guest order: left out and counted, not an error, even
    when its other cells would not parse."""
    path = write_text(tmp_path / "g.csv", BAD_TEMPLATE.format(bad=",someday,10"))
    res = load_file(path, db)
    assert (res.rows_read, res.rows_loaded, res.rows_rejected) == (4, 3, 0)
    assert res.rows_without_customer == 1 and res.errors == ()
    assert table(db)["customer_id"].tolist() == ["C1", "C2", "C4"]


def test_missing_required_column(tmp_path, db):
    before = _digest(db)
    path = write_text(tmp_path / "m.csv", "客户编号,实付金额\nC1,10\n")
    with pytest.raises(DataError, match="required column 'order_ts'") as info:
        load_file(path, db)
    assert info.value.errors[0]["column"] == "order_ts"
    assert _digest(db) == before


def test_skip_loads_good_rows_and_writes_rejected_csv(tmp_path, db):
    text = BAD_TEMPLATE.format(bad="C3,someday,ten") + "C5,2024-01-09\nC6,2024-01-10,1,extra\n"
    res = load_file(write_text(tmp_path / "bad.csv", text), db, on_error="skip")
    assert (res.rows_read, res.rows_loaded, res.rows_rejected) == (6, 3, 3)
    assert res.errors_total == 4
    assert [(e["row"], e["column"], e["reason"]) for e in res.errors] == [
        (7, "下单时间", "not a date"),
        (7, "实付金额", "not a number"),
        (9, None, "2 values where the header has 3"),
        (10, None, "4 values where the header has 3"),
    ]
    assert table(db)["customer_id"].tolist() == ["C1", "C2", "C4"]
    rejected = pd.read_csv(rejected_path_for(db, "transactions"), encoding="utf-8-sig", dtype=str)
    assert Path(res.rejected_path) == rejected_path_for(db, "transactions")
    assert rejected["row"].tolist() == ["7", "9", "10"]
    assert rejected.iloc[0].tolist() == ["7", "下单时间: not a date; 实付金额: not a number", "C3",
                                         "someday", "ten"]  # fmt: skip
    assert rejected.iloc[1, 2:4].tolist() == ["C5", "2024-01-09"] and pd.isna(rejected.iloc[1, 4])
    assert rejected.iloc[2, 2:].tolist() == ["C6", "2024-01-10", "1"]


def test_errors_listed_at_most_100(tmp_path, db):
    body = "".join(f"C{i},not-a-date,{i}\n" for i in range(250))
    with pytest.raises(LoadRejected) as info:
        load_file(write_text(tmp_path / "many.csv", "customer_id,order_ts,amount\n" + body), db)
    res = info.value.result
    assert len(res.errors) == 100 and len(res.to_dict()["errors"]) == 100
    assert res.errors_total == 250 and res.rows_rejected == 250
    assert [e["row"] for e in res.errors[:3]] == [2, 3, 4]


def test_duplicates_counted_and_optionally_dropped(tmp_path, db):
    text = ("customer_id,order_ts,amount\nC1,2024-01-05,10\nC1,2024-01-05,10\nC1,2024-01-05,10\n"
            "C2,2024-01-05,-3\n")  # fmt: skip
    path = write_text(tmp_path / "d.csv", text)
    res = load_file(path, db)
    assert (res.rows_loaded, res.duplicates, res.returns) == (4, 2, 1)
    assert len(table(db)) == 4
    res = load_file(path, db, drop_duplicates=True)
    assert (res.rows_loaded, res.duplicates, res.returns, res.amount_total) == (2, 2, 1, 7.0)
    assert len(table(db)) == 2


def test_append_mode_and_load_history(tmp_path, db):
    path = write_text(tmp_path / "n.csv", "customer_id,order_ts,amount\nNEW,2024-01-05,1\n")
    load_file(path, db, mode="append")
    assert table(db)["customer_id"].tolist() == ["NEW", "OLD1", "OLD2"]
    load_file(path, db, mode="replace")
    assert table(db)["customer_id"].tolist() == ["NEW"]
    con = store.connect(db)
    history = store.get_setting(con, HISTORY_KEY)
    con.close()
    assert [(h["file"], h["table"], h["mode"], h["rows_loaded"]) for h in history] == [
        ("old.csv", "transactions", "replace", 2),
        ("cust.csv", "customers", "replace", 1),
        ("n.csv", "transactions", "append", 1),
        ("n.csv", "transactions", "replace", 1),
    ]


def test_new_dataset_file_is_created(tmp_path):
    new = tmp_path / "data" / "fresh.duckdb"
    res = load_file(write_text(tmp_path / "cn.csv", CN_CSV, "gbk"), new, file_label="订单.csv")
    assert new.exists() and res.dataset == "fresh" and res.file == "订单.csv"
    _check_expected(new)


def test_other_tables_and_optional_columns(tmp_path, db):
    text = "会员号,活动名称,分组,发送时间,是否转化,转化金额\nC1,春季,treatment,2024-03-01,是,12\nC2,春季,control,2024-03-01,否,\n"
    res = load_file(write_text(tmp_path / "c.csv", text), db, table="campaigns")
    got = table(db, "campaigns", "customer_id")
    assert got["converted"].tolist() == [True, False]
    assert got["cost"].isna().all()
    assert res.amount_total == 12.0 and res.date_min == "2024-03-01"


def test_bad_options(tmp_path, db):
    path = write_text(tmp_path / "n.csv", "customer_id,order_ts,amount\nNEW,2024-01-05,1\n")
    with pytest.raises(UsageError):
        load_file(path, db, on_error="ignore")
    with pytest.raises(UsageError):
        load_file(path, db, mode="merge")
    with pytest.raises(UsageError):
        load_file(path, db, table="orders")
    with pytest.raises(UsageError, match="no column"):
        load_file(path, db, mapping={"amount": "nope"})


def test_progress_reported_in_order(tmp_path, db):
    seen = []
    load_file(write_text(tmp_path / "cn.csv", CN_CSV), db, progress=lambda f, s: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_prepare_and_preview(tmp_path):
    prep = prepare(write_text(tmp_path / "cn.csv", CN_CSV.replace("99.5", "abc"), "gbk"))
    assert prep.missing == []
    frame = preview(prep)
    assert frame["customer_id"].tolist() == ["C001", "C002", "C001"]
    assert frame["amount"].tolist()[0] == 1234.5
    assert frame["problem"].tolist() == ["", "实付金额: not a number", ""]
    assert preview(prep, lang="zh")["problem"].tolist()[1] == "实付金额: 不是数字"


_KILL_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from clm_core.ingest import load_file

    marker = Path(sys.argv[3])
    def progress(fraction, stage):
        if stage == sys.argv[4] and not marker.exists():
            marker.write_text(stage)
            time.sleep(600)  # the parent kills us here
    load_file(sys.argv[1], sys.argv[2], progress=progress)
    """
)


@pytest.mark.parametrize(
    "stage", ["Parsing and checking rows", "Saving"], ids=["parsing", "saving"]
)
def test_killed_load_leaves_old_data_intact(tmp_path, db, stage):
    before = _digest(db)
    big = tmp_path / "big.csv"
    with open(big, "w") as fh:
        fh.write("customer_id,order_ts,amount\n")
        fh.writelines(f"N{i},2024-01-{1 + i % 28:02d},{i % 97}.5\n" for i in range(200_000))
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_CHILD, str(big), str(db), str(marker), stage],
                            cwd=ROOT)  # fmt: skip
    try:
        deadline = time.time() + 120
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the stage"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _digest(db) == before
    assert table(db)["customer_id"].tolist() == ["OLD1", "OLD2"]
    leftovers = [p.name for p in db.parent.iterdir() if p.name.startswith(".tmp-")]
    assert leftovers  # the killed writer's private copy is still there...
    load_file(write_text(tmp_path / "n.csv", "customer_id,order_ts,amount\nNEW,2024-01-05,1\n"), db)
    assert not [p for p in db.parent.iterdir() if p.name.startswith(".tmp-")]  # ...until the next
    assert table(db)["customer_id"].tolist() == ["NEW"]
