"""Small input files for the ingestion tests (CSV in any encoding, XLSX with title rows, Parquet)."""

from __future__ import annotations

from pathlib import Path

import duckdb


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def write_parquet(path: Path, sql: str) -> Path:
    con = duckdb.connect()
    con.execute(f"copy ({sql}) to '{path}' (format parquet)")
    con.close()
    return path


def table(db: Path, name: str = "transactions", order: str = "customer_id, order_ts"):
    from clm_core import store

    con = store.connect(db)
    try:
        return con.execute(f"select * from {name} order by {order}").df()
    finally:
        con.close()


CN_CSV = (
    "客户编号,订单号,下单时间,实付金额,渠道,数量\n"
    'C001,A1,2024/1/5 13:45,"￥1,234.50",门店,2\n'
    "C002,A2,2024-01-06,99.5,小程序,1\n"
    "C001,A3,20240107,-20,门店,1\n"
)
