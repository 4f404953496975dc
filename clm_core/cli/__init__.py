"""One module per CLI command: ``add_arguments(parser)`` and ``run(args) -> int``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from clm_core.config import default_db
from clm_core.errors import UsageError

__all__ = ["add_as_of_and_out", "add_db_argument", "as_of_date", "db_path"]


def add_db_argument(parser) -> None:
    parser.add_argument(
        "--db", default=None, help="dataset file (default: $CLM_DB or data/demo-retail.duckdb)"
    )


def db_path(args) -> Path:
    return Path(args.db).resolve() if getattr(args, "db", None) else default_db()


def add_as_of_and_out(parser) -> None:
    """``--as-of YYYY-MM-DD`` (default: the last transaction) and the required ``--out FILE``."""
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument("--out", required=True, help="CSV file to write")


def as_of_date(text: str | None) -> dt.date | None:
    """``--as-of`` as a date (None when not given); a usage error names the expected form."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of must be a date like 2024-12-31, not {text!r}.") from None
