"""``python -m clm_core summary [--db PATH] [--period D|W|M] [--as-of YYYY-MM-DD] --out FILE.csv``

One row per customer: the customer summary columns (``clm_core.summary.SUMMARY_COLUMNS``) plus
``rfm_score`` (e.g. "545"), ``segment`` (rules stored with the dataset, else the defaults),
``tier`` (by net revenue) and ``cluster`` / ``cluster_name`` (k-means, k by silhouette, seed 42).
Clustering needs at least 40 customers; with fewer the two cluster columns are left empty.
"""

from __future__ import annotations

import datetime as dt

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.errors import NotEnoughData, UsageError
from clm_core.exports import to_csv_bytes
from clm_core.segments import customer_clusters, scored_customers
from clm_core.summary import SUMMARY_COLUMNS


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2024-12-31, not {text!r}.") from None


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--period", choices=["D", "W", "M"], default="D",
                        help="unit of recency and T: days, weeks or months (default D)")  # fmt: skip
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument("--out", required=True, help="CSV file to write")


def run(args) -> int:
    as_of = _date(args.as_of) if args.as_of else None
    con = store.connect(db_path(args))
    try:
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
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(df[cols]))
    print(f"wrote {len(df):,} customers to {args.out}")
    return 0
