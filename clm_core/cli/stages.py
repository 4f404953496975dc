"""``python -m clm_core stages [--db PATH] [--as-of YYYY-MM-DD] --out FILE.csv``

Columns: customer_id, stage (Prospect, New, Active, Loyal, At risk, Churned, Won back), with the
thresholds derived from the data (see clm_core.lifecycle).
"""

from __future__ import annotations

import datetime as dt

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.errors import UsageError
from clm_core.exports import to_csv_bytes
from clm_core.lifecycle import customer_stages


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument("--out", required=True, help="CSV file to write")


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2024-06-30, not {text!r}.") from None


def run(args) -> int:
    as_of = _date(args.as_of)
    con = store.connect(db_path(args))
    try:
        df = customer_stages(con, as_of=as_of)
    finally:
        con.close()
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(df))
    return 0
