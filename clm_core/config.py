"""Project-wide settings: paths, canonical table schemas and time units."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = [
    "DATA_DIR",
    "DEFAULT_DB",
    "INPUT_COLUMNS",
    "PERIOD_DAYS",
    "REQUIRED_COLUMNS",
    "SCHEMAS",
    "TABLES",
    "data_dir",
    "default_db",
    "input_schema",
    "period_days",
]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
DEFAULT_DB = DATA_DIR / "demo-retail.duckdb"

# Canonical tables: column -> DuckDB type. Order is the stored column order.
SCHEMAS: dict[str, dict[str, str]] = {
    "transactions": {
        "customer_id": "VARCHAR",
        "order_id": "VARCHAR",
        "order_ts": "TIMESTAMP",
        "amount": "DOUBLE",
        "quantity": "DOUBLE",
        "product": "VARCHAR",
        "category": "VARCHAR",
        "channel": "VARCHAR",
        "discount": "DOUBLE",
    },
    "customers": {
        "customer_id": "VARCHAR",
        "signup_ts": "TIMESTAMP",
        "acquisition_channel": "VARCHAR",
        "acquisition_cost": "DOUBLE",
        "region": "VARCHAR",
        "name": "VARCHAR",
        "email": "VARCHAR",
        "phone": "VARCHAR",
        "owner": "VARCHAR",
    },
    "events": {
        "customer_id": "VARCHAR",
        "event_name": "VARCHAR",
        "event_ts": "TIMESTAMP",
        "channel": "VARCHAR",
    },
    "campaigns": {
        "customer_id": "VARCHAR",
        "campaign": "VARCHAR",
        "variant": "VARCHAR",
        "sent_ts": "TIMESTAMP",
        "channel": "VARCHAR",
        "cost": "DOUBLE",
        "converted": "BOOLEAN",
        "revenue": "DOUBLE",
    },
    "feedback": {
        "customer_id": "VARCHAR",
        "created_ts": "TIMESTAMP",
        "kind": "VARCHAR",
        "score": "DOUBLE",
        "text": "VARCHAR",
    },
}
TABLES = tuple(SCHEMAS)

# Columns a file may bring that are not stored as they are: a line's unit price (the amount is
# quantity x unit price when the file has no line total) and a line's country or city (the
# customer's region when the dataset has no customers table).
INPUT_COLUMNS: dict[str, dict[str, str]] = {
    "transactions": {"unit_price": "DOUBLE", "region": "VARCHAR"},
}


def input_schema(table: str) -> dict[str, str]:
    """Every column a file can be mapped to for ``table``: the stored ones, then the inputs."""
    return {**SCHEMAS[table], **INPUT_COLUMNS.get(table, {})}


# Every table needs its customer and its date. A transaction's money is optional: a purchase
# log of customer and date loads, and the views of money say that it has none.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": ("customer_id", "order_ts"),
    "customers": ("customer_id",),
    "events": ("customer_id", "event_name", "event_ts"),
    "campaigns": ("customer_id", "campaign", "variant"),
    "feedback": ("customer_id", "created_ts"),
}

# Length of one model period in days. W and M are exact (no rounding), matching
# lifetimes' summary with freq="D" and freq_multiplier=7 or 365.25/12.
PERIOD_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}


def period_days(period: str) -> float:
    try:
        return PERIOD_DAYS[period]
    except KeyError:
        raise ValueError(f"period must be one of D, W, M, not {period!r}") from None


def data_dir() -> Path:
    """Folder holding the dataset files; CLM_DATA_DIR overrides it (tests use a temp dir)."""
    return Path(os.environ.get("CLM_DATA_DIR", DATA_DIR)).resolve()


def default_db() -> Path:
    """Dataset opened when nothing else is chosen: CLM_DB, else data/demo-retail.duckdb."""
    env = os.environ.get("CLM_DB")
    return Path(env).resolve() if env else data_dir() / DEFAULT_DB.name


def duckdb_settings() -> dict[str, str]:
    """Settings of every DuckDB instance that reads a dataset (:func:`clm_core.store.connect`).

    Each dataset version the app has open is its own DuckDB instance, and DuckDB lets each use
    80% of the RAM by default, so two large datasets open at once could together ask for more
    than the machine has. ``memory_limit`` caps one instance (CLM_DUCKDB_MEMORY_LIMIT, e.g.
    ``8GB``; default 40% of the RAM) and ``temp_directory`` is where it spills beyond that
    (CLM_DUCKDB_TEMP_DIR; default ``clm-lens-duckdb`` in the system's temporary folder).
    """
    limit = os.environ.get("CLM_DUCKDB_MEMORY_LIMIT")
    if not limit:
        try:
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            ram = 0
        limit = f"{max(1, int(ram * 0.4) // 2**20)}MiB" if ram else ""
    temp = os.environ.get("CLM_DUCKDB_TEMP_DIR") or str(
        Path(tempfile.gettempdir()) / "clm-lens-duckdb"
    )
    return {"temp_directory": temp, **({"memory_limit": limit} if limit else {})}
