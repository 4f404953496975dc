"""``python -m clm_core cohorts [--db PATH] [--freq M|W] --out FILE.csv``

Columns: cohort (first period start, ISO date), period (0, 1, 2... since the first purchase),
customers (cohort members who bought in that period), retention (customers / cohort size),
revenue (net revenue of the cohort in that period; empty when the data has no amounts, with a
note on stderr).
"""

from __future__ import annotations

import sys

from clm_core import store
from clm_core.amounts import blank_money
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
        amounts = store.has_amounts(con)
        df = cohort_table(con, freq=args.freq)
    finally:
        con.close()
    out = df[COLUMNS].copy() if amounts else blank_money(df[COLUMNS])
    out["cohort"] = out["cohort"].dt.strftime("%Y-%m-%d")
    if not amounts:
        print("note: the data has no amounts: revenue is left empty.", file=sys.stderr)
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(out))
    return 0
