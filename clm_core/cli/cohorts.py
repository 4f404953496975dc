"""``python -m clm_core cohorts [--db PATH] [--freq M|W] --out FILE.csv``

Columns: cohort (first period start, ISO date), period (0, 1, 2... since the first purchase),
customers (cohort members who bought in that period), retention (customers / cohort size),
revenue (net revenue of the cohort in that period).
"""

from __future__ import annotations

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.cohorts import cohort_table
from clm_core.exports import to_csv_bytes

COLUMNS = ["cohort", "period", "customers", "retention", "revenue"]


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument(
        "--freq", choices=["M", "W"], default="M", help="M: calendar months, W: ISO weeks"
    )
    parser.add_argument("--out", required=True, help="CSV file to write")


def run(args) -> int:
    con = store.connect(db_path(args))
    try:
        df = cohort_table(con, freq=args.freq)
    finally:
        con.close()
    out = df[COLUMNS].copy()
    out["cohort"] = out["cohort"].dt.strftime("%Y-%m-%d")
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(out))
    return 0
