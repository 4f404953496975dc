"""``python -m clm_core stages [--db PATH] [--as-of YYYY-MM-DD] --out FILE.csv``

Columns: customer_id, stage (Prospect, New, Active, Loyal, At risk, Churned, Won back), with the
thresholds derived from the data (see clm_core.lifecycle).
"""

from __future__ import annotations

from clm_core import store
from clm_core.cli import add_as_of_and_out, add_db_argument, as_of_date, db_path
from clm_core.exports import to_csv_bytes
from clm_core.lifecycle import customer_stages


def add_arguments(parser) -> None:
    add_db_argument(parser)
    add_as_of_and_out(parser)


def run(args) -> int:
    as_of = as_of_date(args.as_of)
    con = store.connect(db_path(args))
    try:
        df = customer_stages(con, as_of=as_of)
    finally:
        con.close()
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(df))
    return 0
