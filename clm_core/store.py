"""Dataset files: connections, atomic replace, version stamps, settings stored with the data.

A dataset is one DuckDB file. Readers never open the file itself through ``duckdb.connect``:
DuckDB caches database instances by path, so after an atomic replace a plain connect would keep
serving the old file. Instead each reader gets a fresh in-memory instance that ATTACHes the file
read-only as ``ds``. Writers never touch the live file: :func:`write_dataset` copies it to a
temporary file next to it, lets the caller change the copy, and ``os.replace``-s it over the
original only when everything succeeded. A killed or failed load leaves the old file as it was,
and readers never wait on DuckDB's single-writer lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from clm_core.config import data_dir, duckdb_settings
from clm_core.errors import DatasetError, MissingTableError, QueryError, UsageError, first_line

__all__ = [
    "AMOUNTS_KEY",
    "DatasetInfo",
    "connect",
    "cursor",
    "dataset_version",
    "from_frames",
    "get_setting",
    "has_amounts",
    "has_table",
    "list_datasets",
    "query_df",
    "quote_ident",
    "require_table",
    "resolve_in_data_dir",
    "set_setting",
    "table_names",
    "write_dataset",
]

_ALIAS = "ds"
_META = "_clm_meta"
_TMP_PREFIX = ".tmp-"


def quote_ident(name: str) -> str:
    """Quote an SQL identifier for DuckDB, doubling embedded double quotes."""
    return '"' + str(name).replace('"', '""') + '"'


def _sql_string(value: str) -> str:
    """Quote a string literal for the few statements that cannot take parameters (ATTACH)."""
    return "'" + str(value).replace("'", "''") + "'"


def connect(path: str | os.PathLike, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open a dataset. Read-only connections see the file as it was when opened.

    Raises DatasetError when the file is missing or is not a usable DuckDB database.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise DatasetError(f"Dataset file {path.name} does not exist.")
    try:
        if not read_only:
            return duckdb.connect(str(path))
        con = duckdb.connect(":memory:", config=duckdb_settings())
        con.execute(f"ATTACH {_sql_string(str(path))} AS {_ALIAS} (READ_ONLY)")
        con.execute(f"USE {_ALIAS}")
        return con
    except duckdb.Error as e:
        raise DatasetError(f"Dataset file {path.name} cannot be opened: {e}") from e


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A per-thread cursor on a connection from :func:`connect` (cursors do not inherit USE)."""
    cur = con.cursor()
    with contextlib.suppress(duckdb.Error):
        cur.execute(f"USE {_ALIAS}")
    return cur


def query_df(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """Run SQL with bound parameters and return a DataFrame; DuckDB errors become QueryError."""
    try:
        return con.execute(sql, params or {}).df()
    except duckdb.Error as e:
        raise QueryError(f"Query failed: {e}") from e


def dataset_version(path: str | os.PathLike) -> str:
    """A stamp that changes whenever the file is replaced (inode, size, mtime)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    return f"{st.st_ino}-{st.st_size}-{st.st_mtime_ns}"


def table_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


def column_names(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Columns of a canonical table (schema ``main`` of this file); empty when it is missing."""
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'main' "
        "and table_name = $t",
        {"t": table},
    ).fetchall()
    return {r[0] for r in rows}


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return table in table_names(con)


def require_table(con: duckdb.DuckDBPyConnection, table: str, feature: str = "this page") -> None:
    if not has_table(con, table):
        raise MissingTableError(table, feature)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    path: Path
    usable: bool
    problem: str = ""
    tables: tuple[str, ...] = ()


def list_datasets(folder: str | os.PathLike | None = None) -> list[DatasetInfo]:
    """Every ``*.duckdb`` file in the data folder, each marked usable or not (corrupt files)."""
    folder = Path(folder) if folder else data_dir()
    out = []
    for path in sorted(folder.glob("*.duckdb")):
        if path.name.startswith("."):  # a load in progress, or one killed mid-way
            continue
        try:
            con = connect(path)
            try:
                tables = tuple(sorted(t for t in table_names(con) if not t.startswith("_")))
            finally:
                con.close()
            out.append(DatasetInfo(path.stem, path, True, tables=tables))
        except (DatasetError, duckdb.Error) as e:
            out.append(DatasetInfo(path.stem, path, False, problem=first_line(e)))
    return out


def resolve_in_data_dir(
    user_path: str | os.PathLike, folder: str | os.PathLike | None = None
) -> Path:
    """Resolve a path a user typed; refuse anything that is not inside the data folder."""
    base = Path(folder).resolve() if folder else data_dir()
    candidate = Path(user_path)
    if not candidate.is_absolute():
        candidate = base / candidate
    resolved = candidate.resolve()
    if resolved != base and base not in resolved.parents:
        raise UsageError(f"Refused: {user_path} is outside the data folder {base}.")
    return resolved


def _cleanup_stale_tmp(folder: Path) -> None:
    """Remove temp files left by loads whose process is gone (killed mid-load)."""
    for tmp in folder.glob(f"{_TMP_PREFIX}*"):
        try:
            pid = int(tmp.name[len(_TMP_PREFIX) :].split("-", 1)[0])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            if tmp.is_dir():  # a killed DuckDB writer's spill folder
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        except PermissionError:
            pass


@contextlib.contextmanager
def write_dataset(
    path: str | os.PathLike, *, fresh: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Change a dataset atomically: yields a writable connection to a private copy.

    On normal exit the tables derived from the data are brought up to date (the summary's
    sorted rollup, :func:`clm_core.summary.refresh_rollup`), then the copy is checkpointed,
    fsync-ed and renamed over ``path``; on any exception (or if the process dies) ``path`` is
    untouched. ``fresh=True`` starts from an empty database instead of a copy of the current one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale_tmp(path.parent)
    tmp = path.parent / f"{_TMP_PREFIX}{os.getpid()}-{path.name}"
    tmp.unlink(missing_ok=True)
    if path.exists() and not fresh:
        shutil.copyfile(path, tmp)
    try:
        con = duckdb.connect(str(tmp))
    except duckdb.Error as e:
        tmp.unlink(missing_ok=True)
        raise DatasetError(f"Dataset file {path.name} cannot be opened for writing: {e}") from e
    try:
        con.execute(f"create table if not exists {_META} (key varchar primary key, value varchar)")
        yield con
        _refresh_derived(con)
        con.execute("checkpoint")
        con.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(Exception):
            con.close()
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise


def _refresh_derived(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild derived tables whose source changed, so no written file holds a stale one."""
    from clm_core.summary import refresh_rollup  # summary builds on this module

    refresh_rollup(con)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def get_setting(con: duckdb.DuckDBPyConnection, key: str, default=None):
    """A JSON setting stored with the dataset (segment rules, currency, load history...)."""
    if not has_table(con, _META):
        return default
    row = con.execute(f"select value from {_META} where key = $key", {"key": key}).fetchone()
    return json.loads(row[0]) if row else default


def set_setting(con: duckdb.DuckDBPyConnection, key: str, value) -> None:
    """Store a setting through a writable connection from :func:`write_dataset`."""
    con.execute(
        f"insert or replace into {_META} values ($key, $value)",
        {"key": key, "value": json.dumps(value, default=str)},
    )


def save_setting(path: str | os.PathLike, key: str, value) -> None:
    """Convenience: atomically store one setting in the dataset file at ``path``."""
    with write_dataset(path) as con:
        set_setting(con, key, value)


AMOUNTS_KEY = "has_amounts"


def has_amounts(con: duckdb.DuckDBPyConnection) -> bool:
    """False when the transactions came from a log without money (a purchase log of customer
    and date only). Such lines are stored with amount 0 so every counting analysis works; the
    views of money (revenue, monetary value, Gamma-Gamma, CLV in money, LTV/CAC) must say that
    the data has no amounts instead of showing zeros. Set by the load (``has_amounts``)."""
    return bool(get_setting(con, AMOUNTS_KEY, True))


def from_frames(**frames: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    """An in-memory dataset with the given canonical tables (tests, notebooks).

    Missing optional columns are added as NULL with the canonical type.
    """
    from clm_core.config import SCHEMAS

    con = duckdb.connect(":memory:")
    for table, frame in frames.items():
        schema = SCHEMAS[table]
        con.register("_frame", frame)
        cols = ", ".join(
            f"cast({quote_ident(c)} as {t}) as {quote_ident(c)}"
            if c in frame.columns
            else f"cast(null as {t}) as {quote_ident(c)}"
            for c, t in schema.items()
        )
        con.execute(f"create table {quote_ident(table)} as select {cols} from _frame")
        con.unregister("_frame")
    return con
