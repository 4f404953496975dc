"""Real text exports: columns aligned with blanks (CDNOW), gzip files, line endings.

The real datasets live in ../shared/datasets (next to the project, never committed): their tests
skip when the folder is absent, except under CI=true, where they must run.
"""

from __future__ import annotations

import gzip
import os
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from clm_core.errors import DataError, UsageError
from clm_core.ingest.load import load_file
from clm_core.ingest.read import detect_encoding, open_source, sniff
from tests.ingest_files import CN_CSV

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def shared_dataset(relative: str) -> Path:
    """A file of ../shared/datasets; skips when absent (fails under CI=true)."""
    path = DATASETS / relative
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing (CI=true: the real-dataset tests must run)")
        pytest.skip(f"{path} is not available")
    return path


def rows_of(info, sql: str = "select * from {rel}") -> list[tuple]:
    con = duckdb.connect()
    try:
        with open_source(info) as src:
            return con.execute(sql.format(rel=src.relation), src.params).fetchall()
    finally:
        con.close()


# A blank-aligned export: a title, blank lines, a right-aligned amount, zero-padded ids,
# a value holding a quote, a no-break space inside a value, a row with one value too many.
ALIGNED = [
    "Orders export 2024",
    "",
    " customer_id  order_date   amount  note",
    " 00001        20240105      10.50  first",
    " 00002        never          3.00  late\u00a0fee",
    "   ",
    ' 0"03         20240107       1.00  a"b',
    " 00004        20240108       2.00  x  extra",
]


@pytest.mark.parametrize(
    ("newline", "last"), [("\r\n", True), ("\n", True), ("\r", True), ("\r\n", False)],
    ids=["crlf", "lf", "cr", "crlf-no-final-newline"],
)  # fmt: skip
def test_aligned_text_read_as_written(tmp_path, newline, last):
    path = tmp_path / "orders.txt"
    path.write_bytes((newline.join(ALIGNED) + (newline if last else "")).encode())
    info = sniff(path)
    assert (info.layout, info.delimiter, info.header_row) == ("whitespace", "\t", 3)
    assert info.columns == ("customer_id", "order_date", "amount", "note")
    assert info.sample[:2] == (("00001", "20240105", "10.50", "first"),
                               ("00002", "never", "3.00", "late\u00a0fee"))  # fmt: skip
    assert rows_of(info, "select c0, c1, c2, c3 from {rel}") == [
        ("00001", "20240105", "10.50", "first"),
        ("00002", "never", "3.00", "late\u00a0fee"),
        ('0"03', "20240107", "1.00", 'a"b'),
    ]  # the row with 5 values is set aside by DuckDB and reported below


def test_aligned_text_bad_rows_keep_file_lines(tmp_path):
    path = tmp_path / "orders.txt"
    path.write_bytes(("\r\n".join(ALIGNED) + "\r\n").encode())
    result = load_file(path, tmp_path / "shop.duckdb", on_error="skip")
    assert result.rows_loaded == 2
    assert [(e["row"], e["column"]) for e in result.errors] == [(5, "order_date"), (8, None)]
    assert result.errors[0]["value"] == "never"


@pytest.mark.parametrize(
    "text",
    ["name\nAnn Lee\nBo Chen\nCy Young\n", "full name\nAnn Lee\nBo Chen\n",
     "note\n  indented   text\nplain\nother words\n"],
    ids=["one-column-names", "header-same-word-count", "padding-in-a-minority"],
)  # fmt: skip
def test_one_column_csv_with_spaces_is_not_split(tmp_path, text):
    path = tmp_path / "names.csv"
    path.write_text(text, encoding="utf-8")
    info = sniff(path)
    assert (info.layout, len(info.columns)) == ("delimited", 1)


def test_tsv_with_spaces_in_values_stays_tsv(tmp_path):
    path = tmp_path / "orders.tsv"
    path.write_text(
        "customer_id\torder_date\tname\n00001\t2024-01-05\tAnn  Lee\n00002\t2024-01-06\t Bo\n",
        encoding="utf-8",
    )
    info = sniff(path)
    assert (info.layout, info.delimiter, info.compression) == ("delimited", "\t", None)
    assert rows_of(info, "select c0, c2 from {rel}") == [("00001", "Ann  Lee"), ("00002", " Bo")]


def test_gzip_csv_sniffed_and_read(tmp_path):
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(
        gzip.compress(b"customer_id,order_date,amount\nA1,2024-01-05,1\n\nA2,never,2\n")
    )
    info = sniff(path)
    assert (info.name, info.compression, info.delimiter) == ("orders.csv.gz", "gzip", ",")
    assert info.columns == ("customer_id", "order_date", "amount")
    assert rows_of(info, "select c0, c2 from {rel}") == [("A1", "1"), ("A2", "2")]
    result = load_file(path, tmp_path / "shop.duckdb", on_error="skip")
    assert (result.rows_loaded, result.file) == (1, "orders.csv.gz")
    assert [(e["row"], e["value"]) for e in result.errors] == [(4, "never")]


def test_gzip_gbk_and_aligned(tmp_path):
    cn = tmp_path / "cn.csv.gz"
    cn.write_bytes(gzip.compress(CN_CSV.encode("gbk")))
    assert detect_encoding(cn) == "gb18030"
    assert rows_of(sniff(cn), "select c0, c4 from {rel}") == [
        ("C001", "门店"), ("C002", "小程序"), ("C001", "门店")]  # fmt: skip
    aligned = tmp_path / "orders.txt.gz"
    aligned.write_bytes(gzip.compress(("\r\n".join(ALIGNED[2:5]) + "\r\n").encode()))
    info = sniff(aligned)
    assert (info.layout, info.compression, info.header_row) == ("whitespace", "gzip", 1)
    assert rows_of(info, "select c0 from {rel}") == [("00001",), ("00002",)]


def test_broken_gzip_files(tmp_path, monkeypatch):
    # cut in the middle: the first 8 MB sniff fine, the load stops where the data ends
    rows = "".join(f"C{i},2024-01-05,{i}\n" for i in range(600_000)).encode()
    data = gzip.compress(b"customer_id,order_date,amount\n" + rows, compresslevel=1)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    assert sniff(cut).columns == ("customer_id", "order_date", "amount")
    with pytest.raises(DataError, match=r"file cut\.csv\.gz: the file cannot be read"):
        load_file(cut, tmp_path / "shop.duckdb")
    fake = tmp_path / "fake.csv.gz"
    fake.write_text("customer_id,order_date,amount\n", encoding="utf-8")
    with pytest.raises(DataError, match="not valid gzip"):
        sniff(fake)
    book = tmp_path / "book.xlsx.gz"
    book.write_bytes(gzip.compress(b"PK\x03\x04"))
    with pytest.raises(UsageError, match="decompress it first"):
        sniff(book)
    # 8 MB of text in a 30 KB gzip: refused while decompressing, over a 1 MB limit
    monkeypatch.setenv("CLM_MAX_FILE_MB", "1")
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(
        gzip.compress(b"customer_id,order_date,amount\n" + b"A1,2024-01-05,1\n" * 500_000)
    )
    assert bomb.stat().st_size < 2**20
    with pytest.raises(UsageError, match="expands to more than 1 MB"):
        load_file(bomb, tmp_path / "shop.duckdb")


def test_cdnow_master_is_four_text_columns():
    info = sniff(shared_dataset("cdnow/CDNOW_master.txt"))
    assert info.columns == ("customer_id", "date", "number_of_cds", "dollar_value")
    assert info.sample[0] == ("00001", "19970101", "1", "11.77")
    assert (info.layout, info.header_row) == ("whitespace", 1)


def test_cdnow_master_published_figures():
    # 69,659 rows; 23,570 customers; 1997-01-01 to 1998-06-30; dollar total 2,500,315.63
    info = sniff(shared_dataset("cdnow/CDNOW_master.txt"))
    got = rows_of(info, "select count(*), count(distinct c0), min(c0), min(c1), max(c1), "
                  "sum(cast(c3 as decimal(18, 2))) from {rel}")  # fmt: skip
    assert got == [(69_659, 23_570, "00001", "19970101", "19980630", Decimal("2500315.63"))]


def test_online_retail_gzip():
    # 541,909 lines; 4,372 customers
    info = sniff(shared_dataset("online_retail/online-retail.csv.gz"))
    assert (info.name, info.compression, info.encoding) == (
        "online-retail.csv.gz", "gzip", "utf-8")  # fmt: skip
    assert info.columns == ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                            "UnitPrice", "CustomerID", "Country")  # fmt: skip
    assert info.sample[0][:2] == ("536365", "85123A")
    assert rows_of(info, "select count(*), count(distinct c6) from {rel}") == [(541_909, 4_372)]
