"""Exports neutralise spreadsheet formula injection and keep numbers as numbers."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from clm_core.exports import neutralise, to_csv_bytes, to_xlsx_bytes


@pytest.mark.parametrize(
    "value,expected",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("张三", "张三"),
        ("a=b", "a=b"),
        (-5.0, -5.0),
    ],
    ids=["eq", "plus", "minus", "at", "tab", "cjk", "inner", "number"],
)
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_csv_and_xlsx_neutralised():
    df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "李四"], "amount": [-3.5, 2.0]})
    text = to_csv_bytes(df).decode("utf-8-sig")
    assert "'=cmd" in text and "-3.5" in text and "李四" in text
    ws = openpyxl.load_workbook(io.BytesIO(to_xlsx_bytes(df))).active
    assert ws["A2"].value == "'=cmd|' /C calc'!A0"
    assert ws["B2"].value == -3.5 and ws["A3"].value == "李四"
