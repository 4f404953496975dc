"""``python -m clm_core summary [--db PATH] [--as-of DATE] [--period D|W|M] --out FILE.csv``"""

from __future__ import annotations

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.exports import to_csv_bytes
from clm_core.summary import customer_summary


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument("--period", choices=["D", "W", "M"], default="D")
    parser.add_argument("--out", required=True, help="CSV file to write")


def run(args) -> int:
    con = store.connect(db_path(args))
    try:
        df = customer_summary(con, as_of=args.as_of, period=args.period)
    finally:
        con.close()
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(df))
    return 0
