"""Dataset files: atomic replace, fresh readers after replace, corrupt files, path confinement."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time

import duckdb
import pandas as pd
import pytest

from clm_core import store
from clm_core.errors import DatasetError, MissingTableError, UsageError


def _make(path, value):
    with store.write_dataset(path, fresh=True) as con:
        con.execute("create table t as select $v as x", {"v": value})


def _read(path):
    con = store.connect(path)
    try:
        return con.execute("select x from t").fetchone()[0]
    finally:
        con.close()


def test_quote_ident_doubles_quotes():
    assert store.quote_ident('a"b') == '"a""b"'
    con = duckdb.connect()
    name = 'x"; drop table y; --'
    con.execute(f"create table t ({store.quote_ident(name)} int)")
    assert con.execute("select column_name from information_schema.columns").fetchone()[0] == name


def test_reader_sees_new_file_after_replace_while_old_reader_keeps_old(tmp_path):
    path = tmp_path / "d.duckdb"
    _make(path, 1)
    old = store.connect(path)
    v1 = store.dataset_version(path)
    _make(path, 2)
    assert store.dataset_version(path) != v1
    assert old.execute("select x from t").fetchone()[0] == 1  # snapshot of the old file
    assert _read(path) == 2  # a new reader is not served DuckDB's cached old instance
    old.close()


def test_failed_write_leaves_dataset_untouched(tmp_path):
    path = tmp_path / "d.duckdb"
    _make(path, 1)
    before = path.read_bytes()
    with pytest.raises(RuntimeError), store.write_dataset(path) as con:
        con.execute("create or replace table t as select 99 as x")
        raise RuntimeError("boom")
    assert path.read_bytes() == before
    assert _read(path) == 1
    assert not list(tmp_path.glob(".tmp-*"))


def _slow_writer(path):
    with store.write_dataset(path) as con:
        con.execute("create or replace table t as select 42 as x")
        time.sleep(60)


def test_killed_writer_leaves_dataset_untouched(tmp_path):
    path = tmp_path / "d.duckdb"
    _make(path, 1)
    proc = mp.get_context("spawn").Process(target=_slow_writer, args=(path,))
    proc.start()
    deadline = time.time() + 30
    while not list(tmp_path.glob(".tmp-*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert _read(path) == 1
    # the killed writer's private copy is not offered as a dataset
    assert [d.name for d in store.list_datasets(tmp_path)] == ["d"]
    _make(path, 3)  # the next write cleans the dead process's temp file
    assert _read(path) == 3
    assert not [p for p in tmp_path.glob(".tmp-*") if str(proc.pid) in p.name]


def test_corrupt_file_listed_as_unusable_and_others_open(tmp_path):
    _make(tmp_path / "good.duckdb", 1)
    (tmp_path / "bad.duckdb").write_bytes(b"this is not a database" * 100)
    infos = {d.name: d for d in store.list_datasets(tmp_path)}
    assert infos["good"].usable and infos["good"].tables == ("t",)
    assert not infos["bad"].usable and infos["bad"].problem
    with pytest.raises(DatasetError):
        store.connect(tmp_path / "bad.duckdb")
    with pytest.raises(DatasetError, match="does not exist"):
        store.connect(tmp_path / "missing.duckdb")


@pytest.mark.parametrize(
    "user_path",
    ["../../etc/passwd", "/etc/passwd", "sub/../../x.csv"],
    ids=["dotdot", "abs", "mixed"],
)
def test_paths_outside_data_dir_refused(tmp_path, user_path):
    with pytest.raises(UsageError, match="outside the data folder"):
        store.resolve_in_data_dir(user_path, tmp_path)


def test_paths_inside_data_dir_allowed(tmp_path):
    assert store.resolve_in_data_dir("orders.csv", tmp_path) == (tmp_path / "orders.csv").resolve()


def test_settings_round_trip(tmp_path):
    path = tmp_path / "d.duckdb"
    _make(path, 1)
    store.save_setting(path, "segment_rules", [{"name": "冠军", "r": [4, 5]}])
    con = store.connect(path)
    assert store.get_setting(con, "segment_rules") == [{"name": "冠军", "r": [4, 5]}]
    assert store.get_setting(con, "absent", "dflt") == "dflt"


def test_require_table_names_the_upload():
    con = store.from_frames(transactions=pd.DataFrame({"customer_id": ["a"], "amount": [1.0]}))
    store.require_table(con, "transactions")
    with pytest.raises(MissingTableError, match="Upload a events file"):
        store.require_table(con, "events", "funnels")


def test_from_frames_adds_missing_columns_with_types():
    con = store.from_frames(
        transactions=pd.DataFrame(
            {"customer_id": [1], "order_ts": ["2024-01-05"], "amount": ["2.5"]}
        )
    )
    row = con.execute("select customer_id, order_ts, amount, channel from transactions").fetchone()
    assert (
        row[0] == "1" and str(row[1]) == "2024-01-05 00:00:00" and row[2] == 2.5 and row[3] is None
    )


def test_readers_cap_duckdb_memory_and_spill_to_a_temp_folder(tmp_path, monkeypatch):
    """Each reader is its own DuckDB instance: without a cap each may take 80% of the RAM."""
    path = tmp_path / "d.duckdb"
    _make(path, 1)
    monkeypatch.setenv("CLM_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("CLM_DUCKDB_TEMP_DIR", str(tmp_path / "spill"))
    con = store.connect(path)
    limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
    assert limit.replace(" ", "") in ("1.0GiB", "953.6MiB", "1GB", "1000.0MB")
    temp = con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert temp == str(tmp_path / "spill")
    assert con.execute("select x from t").fetchone() == (1,)
    monkeypatch.delenv("CLM_DUCKDB_MEMORY_LIMIT")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    got = store.connect(path).execute("select current_setting('memory_limit')").fetchone()[0]
    value, unit = float(got.split()[0]), got.split()[1]
    got_bytes = value * {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}[unit]
    assert got_bytes == pytest.approx(0.4 * ram, rel=0.02)  # 40% of the RAM by default
