"""``python -m clm_core summary [--db PATH] [--period D|W|M] [--as-of YYYY-MM-DD] --out FILE.csv``

One row per customer: the customer summary columns (``clm_core.summary.SUMMARY_COLUMNS``) plus
``rfm_score`` (e.g. "545"), ``segment`` (rules stored with the dataset, else the defaults),
``tier`` (by net revenue) and ``cluster`` / ``cluster_name`` (k-means, k by silhouette, seed 42).
Clustering needs at least 40 customers; with fewer the two cluster columns are left empty.
Data without amounts (a purchase log of customers and dates) keeps every column: the money
columns (monetary_value, revenue, avg_order_value), ``returns`` (negative amounts) and ``tier``
are left empty, ``rfm_score``
has the two digits R and F (e.g. "54"), and a note on stderr says so.
"""

from __future__ import annotations

import sys

from clm_core import store
from clm_core.amounts import blank_money
from clm_core.cli import add_as_of_and_out, add_db_argument, as_of_date, db_path
from clm_core.errors import NotEnoughData
from clm_core.exports import to_csv_bytes
from clm_core.segments import customer_clusters, scored_customers
from clm_core.summary import SUMMARY_COLUMNS


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--period", choices=["D", "W", "M"], default="D",
                        help="unit of recency and T: days, weeks or months (default D)")  # fmt: skip
    add_as_of_and_out(parser)


def run(args) -> int:
    as_of = as_of_date(args.as_of)
    con = store.connect(db_path(args))
    try:
        amounts = store.has_amounts(con)
        df = scored_customers(con, as_of=as_of, period=args.period)
        try:
            clusters = customer_clusters(con, as_of=as_of).customers
            df = df.merge(
                clusters[["customer_id", "cluster", "cluster_name"]], on="customer_id", how="left"
            )
        except NotEnoughData:
            df["cluster"] = None
            df["cluster_name"] = None
    finally:
        con.close()
    cols = [*SUMMARY_COLUMNS, "rfm_score", "segment", "tier", "cluster", "cluster_name"]
    out = df[cols] if amounts else blank_money(df[cols])
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(out))
    if not amounts:
        print(
            "note: the data has no amounts: monetary_value, revenue, avg_order_value, returns "
            "and tier are left empty; rfm_score is R and F.",
            file=sys.stderr,
        )
    print(f"wrote {len(df):,} customers to {args.out}")
    return 0
