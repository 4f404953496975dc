"""Hostile and broken files: each gets a clear message naming the file, and nothing is lost."""

from __future__ import annotations

import gzip
import io
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clm_core import store
from clm_core.errors import ClmError, DataError
from clm_core.ingest import load_file
from clm_core.ingest.read import sniff

GOOD = "customer_id,order_date,amount\nA1,2024-01-05,10.5\nA2,2024-01-06,20\n"


@pytest.fixture()
def db(tmp_path):
    """A dataset with 2 good rows already loaded: every failed load must leave them intact."""
    src = tmp_path / "good.csv"
    src.write_text(GOOD, encoding="utf-8")
    path = tmp_path / "ds.duckdb"
    load_file(src, path)
    return path


def _rows(db) -> list:
    con = store.connect(db)
    try:
        return con.execute("select customer_id, amount from transactions order by 1").fetchall()
    finally:
        con.close()


def _refused(db, path, match: str | None = None):
    before = db.read_bytes()
    with pytest.raises(ClmError) as info:
        load_file(path, db)
    assert path.name in str(info.value)
    if match:
        assert match.lower() in str(info.value).lower()
    assert db.read_bytes() == before
    assert _rows(db) == [("A1", 10.5), ("A2", 20.0)]
    return info.value


def test_empty_file(db, tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    _refused(db, p, "empty")


def test_header_only(db, tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("customer_id,order_date,amount\n", encoding="utf-8")
    _refused(db, p)


def test_binary_garbage_named_csv(db, tmp_path):
    p = tmp_path / "garbage.csv"
    p.write_bytes(bytes(range(256)) * 400)
    _refused(db, p)


def test_zip_bomb_named_xlsx(db, tmp_path):
    p = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))  # 300 MB of zeros
    assert p.stat().st_size < 2 * 1024 * 1024
    _refused(db, p, "compress")


def test_file_over_size_limit_refused_before_reading(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CLM_MAX_FILE_MB", "1")
    p = tmp_path / "big.csv"
    p.write_text(GOOD + "A3,2024-01-07,1\n" * 80_000, encoding="utf-8")
    assert p.stat().st_size > 1024 * 1024
    _refused(db, p, "limit")


def test_ten_thousand_columns(db, tmp_path):
    cols = ["customer_id", "order_date", "amount"] + [f"x{i}" for i in range(9_997)]
    row = ["B1", "2024-02-01", "5"] + ["1"] * 9_997
    p = tmp_path / "wide.csv"
    p.write_text(",".join(cols) + "\n" + ",".join(row) + "\n", encoding="utf-8")
    result = load_file(p, db)
    assert result.rows_loaded == 1
    assert _rows(db) == [("B1", 5.0)]


def test_one_megabyte_cell(db, tmp_path):
    p = tmp_path / "fat.csv"
    p.write_text(
        "customer_id,order_date,amount,product\nC1,2024-03-01,7," + "x" * 1_000_000 + "\n",
        encoding="utf-8",
    )
    result = load_file(p, db)
    assert result.rows_loaded == 1


def test_mixed_encodings_reported_not_crashing(db, tmp_path):
    p = tmp_path / "mixed.csv"
    p.write_bytes(
        "客户编号,下单时间,实付金额\n张三,2024-01-05,10\n".encode()
        + "李四,2024-01-06,20\n".encode("gbk")
    )
    try:
        result = load_file(p, db, on_error="skip")
    except DataError as e:
        assert "mixed.csv" in str(e)
    else:
        assert result.rows_loaded >= 1


def test_formulas_in_cells_are_data(db, tmp_path):
    p = tmp_path / "formula.csv"
    p.write_text(
        'customer_id,order_date,amount\n"=HYPERLINK(""http://x"",""y"")",2024-01-05,3\n',
        encoding="utf-8",
    )
    load_file(p, db)
    assert _rows(db) == [('=HYPERLINK("http://x","y")', 3.0)]


def test_sql_and_quotes_in_column_names(db, tmp_path):
    evil = 'amt"; drop table transactions; --'
    df = pd.DataFrame({"cust'id": ["D1"], "when;": ["2024-05-01"], evil: ["9"]})
    p = tmp_path / "evil.csv"
    df.to_csv(p, index=False)
    load_file(p, db, mapping={"customer_id": "cust'id", "order_ts": "when;", "amount": evil})
    assert _rows(db) == [("D1", 9.0)]


def test_html_in_names_is_kept_as_text(db, tmp_path):
    p = tmp_path / "customers.csv"
    p.write_text("customer_id,name\nA1,<script>alert('x')</script><b>Bob</b>\n", encoding="utf-8")
    load_file(p, db, table="customers")
    con = store.connect(db)
    assert con.execute("select name from customers").fetchone()[0] == (
        "<script>alert('x')</script><b>Bob</b>"
    )
    con.close()


def test_disk_full_during_load_keeps_old_data(db, tmp_path, monkeypatch):
    import errno
    import shutil

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", full)
    p = tmp_path / "more.csv"
    p.write_text(GOOD.replace("A1", "Z9"), encoding="utf-8")
    before = db.read_bytes()
    with pytest.raises((ClmError, OSError), match="space"):
        load_file(p, db)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".tmp-*"))


def test_xlsx_written_by_pandas_loads(db, tmp_path):
    buf = io.BytesIO()
    pd.DataFrame({"customer_id": ["X1"], "order_date": ["2024-01-05"], "amount": [4]}).to_excel(
        buf, index=False
    )
    p = tmp_path / "ok.xlsx"
    p.write_bytes(buf.getvalue())
    assert load_file(p, db).rows_loaded == 1


def _loads_or_clm_error(path: Path, db: Path) -> None:
    """sniff, then (when it succeeds) load: each works or raises a ClmError of one line."""
    try:
        sniff(path)
        load_file(path, db, on_error="skip")
    except ClmError as e:
        assert len(str(e).splitlines()) == 1, str(e)


# Hostile starts: a CR inside the first line (sniff's csv reader used to give no rows and fail
# with IndexError), gzip, BOM, zip and Parquet magic (DuckDB's message ran over 4 lines), NUL
# bytes, lone quotes, blank-aligned text.
@example(b"\r\x00\r\n")
@example(b"PAR1")
@example(b"\x1f\x8b\x08\x00garbage")
@example(b"\xff\xfe\x00")
@example(b"PK\x03\x04")
@example(b'"\n"\n')
@example(b" a  b\n c\n")
@given(st.binary(max_size=4096))
@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
def test_arbitrary_bytes_give_a_clm_error(tmp_path, data):
    path = tmp_path / "random.csv"
    path.write_bytes(data)
    _loads_or_clm_error(path, tmp_path / "ds.duckdb")


HEADERS = [b"customer_id,order_date,amount\n", b" customer_id  order_date  amount\r\n",
           b"customer_id\torder_date\tamount\n"]  # fmt: skip


@given(st.sampled_from(HEADERS), st.binary(max_size=2048), st.booleans())
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
def test_garbage_under_a_good_header_gives_a_clm_error(tmp_path, header, data, compressed):
    """Past the mapping: the bytes reach DuckDB, the row-number re-read and the error report."""
    body = header + data
    path = tmp_path / ("orders.csv.gz" if compressed else "orders.csv")
    path.write_bytes(gzip.compress(body) if compressed else body)
    _loads_or_clm_error(path, tmp_path / "ds.duckdb")


def test_cli_on_random_bytes_exits_1_with_one_line(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(random.Random(20).randbytes(50_000))
    out = subprocess.run(
        [sys.executable, "-m", "clm_core", "load", str(path), "--db", str(tmp_path / "x.duckdb")],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: file noise.csv")
