"""``python -m clm_core segments [--db PATH] [--as-of YYYY-MM-DD] --out FILE.csv``

One row per customer: ``customer_id, days_since_last, orders, revenue, r_score, f_score,
m_score, rfm_score, segment, tier`` (RFM quintile scores 1-5, named segments from the rules
stored with the dataset, else the defaults; value tiers by net revenue). Data without amounts
leaves ``revenue``, ``m_score`` and ``tier`` empty (``rfm_score`` has two digits, R and F).
"""

from __future__ import annotations

import sys

from clm_core import store
from clm_core.amounts import blank_money
from clm_core.cli import add_as_of_and_out, add_db_argument, as_of_date, db_path
from clm_core.exports import to_csv_bytes
from clm_core.segments import scored_customers

COLUMNS = ["customer_id", "days_since_last", "orders", "revenue", "r_score", "f_score", "m_score",
           "rfm_score", "segment", "tier"]  # fmt: skip


def add_arguments(parser) -> None:
    add_db_argument(parser)
    add_as_of_and_out(parser)


def run(args) -> int:
    as_of = as_of_date(args.as_of)
    con = store.connect(db_path(args))
    try:
        amounts = store.has_amounts(con)
        df = scored_customers(con, as_of=as_of)[COLUMNS]
    finally:
        con.close()
    if not amounts:
        df = blank_money(df)
        print("note: the data has no amounts; revenue, M score and tier are left empty.",
              file=sys.stderr)  # fmt: skip
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(df))
    return 0
