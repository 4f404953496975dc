"""One module per CLI command: ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

from pathlib import Path

from clm_core.config import default_db

__all__ = ["add_db_argument", "db_path"]


def add_db_argument(parser) -> None:
    parser.add_argument(
        "--db", default=None, help="dataset file (default: $CLM_DB or data/demo-retail.duckdb)"
    )


def db_path(args) -> Path:
    return Path(args.db).resolve() if getattr(args, "db", None) else default_db()
