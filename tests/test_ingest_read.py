"""Reading files: format, encoding, delimiter, header row below titles, XLSX sheets, Parquet."""

from __future__ import annotations

import duckdb
import pytest

from clm_core.errors import DataError, UsageError
from clm_core.ingest.read import detect_encoding, find_header, open_source, sniff
from tests.ingest_files import CN_CSV, write_parquet, write_text, write_xlsx


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030"),
     ("utf-16", "utf-16")],
    ids=["utf8", "utf8-bom", "gbk", "gb18030", "utf16"],
)  # fmt: skip
def test_encoding_detected_and_headers_read(tmp_path, encoding, expected):
    path = write_text(tmp_path / "cn.csv", CN_CSV, encoding)
    assert detect_encoding(path) == expected
    info = sniff(path)
    assert info.columns == ("客户编号", "订单号", "下单时间", "实付金额", "渠道", "数量")
    assert info.header_row == 1
    con = duckdb.connect()
    with open_source(info) as src:
        rows = con.execute(f"select c0, c4 from {src.relation}", src.params).fetchall()
    assert rows == [("C001", "门店"), ("C002", "小程序"), ("C001", "门店")]


def test_latin1_is_not_mistaken_for_gbk(tmp_path):
    # "Mü" and "é," decode as GB18030 byte pairs; the text is not Chinese, so it is not GBK
    text = "customer_id,name,city\nC1,Müller,Köln\nC2,Zoë,Besançon\n" * 20
    path = write_text(tmp_path / "de.csv", text, "cp1252")
    assert detect_encoding(path) in ("cp1252", "windows-1252", "latin_1", "iso8859_15", "cp1250")
    con = duckdb.connect()
    info = sniff(path)
    with open_source(info) as src:
        rows = con.execute(f"select c1, c2 from {src.relation} limit 2", src.params).fetchall()
    assert rows == [("Müller", "Köln"), ("Zoë", "Besançon")]


def test_gbk_beyond_the_first_megabytes_is_detected(tmp_path):
    # 9 MB of ASCII rows, then one GBK row: the end of the file is checked too
    text = "id,name\n" + "1,abc\n" * 1_500_000 + "2,王伟\n"
    path = write_text(tmp_path / "late.csv", text, "gbk")
    assert detect_encoding(path) == "gb18030"


@pytest.mark.parametrize(
    ("delim", "suffix"),
    [(",", ".csv"), ("\t", ".tsv"), ("\t", ".txt"), (";", ".csv"), ("|", ".txt")],
    ids=["comma", "tab-tsv", "tab-txt", "semicolon", "pipe"],
)
def test_delimiter_sniffed(tmp_path, delim, suffix):
    rows = [
        ["customer_id", "order_ts", "amount"],
        ["C1", "2024-01-05", "1,5"],
        ["C2", "2024-01-06", "2"],
    ]
    text = "\n".join(delim.join(f'"{v}"' if delim in v or "," in v else v for v in r) for r in rows)
    path = write_text(tmp_path / f"f{suffix}", text + "\n")
    info = sniff(path)
    assert info.delimiter == delim
    assert info.columns == ("customer_id", "order_ts", "amount")


def test_title_and_blank_rows_above_header_in_csv(tmp_path):
    text = (
        "2024年销售报表,,\n导出时间: 2024-02-01,,\n\ncustomer_id,order_ts,amount\nC1,2024-01-05,3\n"
    )
    info = sniff(write_text(tmp_path / "t.csv", text))
    assert info.header_row == 4
    assert info.columns == ("customer_id", "order_ts", "amount")


def test_old_mac_line_endings_and_line_breaks_in_names(tmp_path):
    # a lone CR ends lines (classic Mac); a quoted header name over two lines is one line
    path = write_text(tmp_path / "mac.csv", '"Order\rDate",amount\r1,2\r\r3,4\r')
    info = sniff(path)
    assert (info.columns, info.header_row, info.sample) == (
        ("Order Date", "amount"), 1, (("1", "2"), ("3", "4")))  # fmt: skip
    con = duckdb.connect()
    with open_source(info) as src:
        assert con.execute(f"select c0 from {src.relation}", src.params).fetchall() == [
            ("1",), ("3",)]  # fmt: skip


def test_find_header():
    assert find_header([["Sales report"], [], ["id", "date", "amount"], ["1", "2", "3"]]) == 2
    assert find_header([["id", "date", "amount"], ["1", "2", "3"]]) == 0
    assert find_header([[None, None], ["only"], ["x"]]) == 1  # one-column sheet
    # a row of numbers is data, not a header
    assert find_header([["Report", None, None], [1, 2, 3], ["a", "b", "c"]]) == 2


def test_xlsx_sheets_and_title_rows(tmp_path):
    path = write_xlsx(tmp_path / "book.xlsx", {
        "说明": [["这是说明页"]],
        "订单": [["2024年订单明细"], [None], ["客户编号", "下单时间", "实付金额"],
                 ["C1", "2024-01-05", 10], [None, None, None], ["C2", "2024-01-06", 12.5]],
    })  # fmt: skip
    info = sniff(path)
    assert info.sheets == ("说明", "订单")
    assert info.sheet == "说明"
    info = sniff(path, sheet="订单")
    assert (info.format, info.header_row, info.columns) == (
        "xlsx",
        3,
        ("客户编号", "下单时间", "实付金额"),
    )
    con = duckdb.connect()
    with open_source(info) as src:
        rows = con.execute(f"select _row, c0, c2 from {src.relation} order by _row", src.params)
        assert rows.fetchall() == [(4, "C1", "10"), (6, "C2", "12.5")]
    with pytest.raises(UsageError, match="no sheet 'x'"):
        sniff(path, sheet="x")


def test_parquet_keeps_types(tmp_path):
    path = write_parquet(tmp_path / "t.parquet", "select 'C1' as customer_id, "
                         "timestamp '2024-01-05 10:00' as order_ts, 12.5::double as amount")  # fmt: skip
    info = sniff(path)
    assert info.format == "parquet"
    assert info.columns == ("customer_id", "order_ts", "amount")
    assert info.types == ("VARCHAR", "TIMESTAMP", "DOUBLE")


def test_bad_files(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        sniff(tmp_path / "missing.csv")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    with pytest.raises(UsageError, match=r"\.xls"):
        sniff(tmp_path / "old.xls")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="broken.xlsx"):
        sniff(tmp_path / "broken.xlsx")
    write_text(tmp_path / "empty.csv", "\n\n")
    with pytest.raises(DataError, match="empty"):
        sniff(tmp_path / "empty.csv")
