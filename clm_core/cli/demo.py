"""``python -m clm_core demo [--db PATH] [--customers N] [--seed S] [--kind retail|cdnow|all]``

``retail`` (default) writes the synthetic demo company to ``--db`` (default
data/demo-retail.duckdb); ``cdnow`` writes the real CDNow history (default data/cdnow.duckdb);
``all`` writes both, the CDNow file next to the retail one.
"""

from __future__ import annotations

from pathlib import Path

from clm_core import demo
from clm_core.cli import add_db_argument, db_path
from clm_core.config import data_dir
from clm_core.errors import UsageError


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument(
        "--customers", type=int, default=20_000, help="number of customers (default 20000)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--kind",
        choices=["retail", "cdnow", "all"],
        default="retail",
        help="retail: synthetic company; cdnow: real CDNow history; all: both",
    )


def _print(name: str, path: Path, counts: dict) -> None:
    rows = ", ".join(f"{v:,} {k}" for k, v in counts.items() if k != "seconds")
    print(f"{name}: {rows} -> {path} ({counts['seconds']:.1f} s)")


def run(args) -> int:
    if args.customers < 10:
        raise UsageError("--customers must be at least 10.")
    if args.kind == "cdnow":
        path = Path(args.db).resolve() if args.db else data_dir() / "cdnow.duckdb"
        _print("cdnow", path, demo.build_cdnow(path))
        return 0
    path = db_path(args)
    _print("demo-retail", path, demo.build_demo(path, customers=args.customers, seed=args.seed))
    if args.kind == "all":
        cdnow = path.parent / "cdnow.duckdb"
        _print("cdnow", cdnow, demo.build_cdnow(cdnow))
    return 0
