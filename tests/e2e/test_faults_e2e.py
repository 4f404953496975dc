"""Faults in a real server: the Streamlit process killed in the middle of an upload's load."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal

import duckdb
import pytest

from clm_core import store
from tests.e2e.conftest import screenshot, start_server, wait_app


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def big_csv(tmp_path):
    """800,000 valid orders (about 35 MB): loading them takes long enough to be interrupted."""
    path = tmp_path / "orders-big.csv"
    duckdb.sql(
        f"""copy (select 'K' || (i % 90000) as customer_id, 'O' || i as order_id,
                         timestamp '2024-01-01' + to_seconds(i * 37) as order_ts,
                         round(5 + (i * 7919 % 10000) / 100, 2) as amount
                  from range(800000) t(i)) to '{path}' (header)"""
    )
    return path


def _start_load(page, url: str, path) -> None:
    """Upload ``path`` on the Data page, accept the proposed mapping and press Load."""
    page.goto(f"{url}/data")
    wait_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_text("Column mapping").wait_for()
    wait_app(page)
    page.get_by_role("button", name="Load", exact=True).click()


def test_server_killed_during_load_loses_nothing(tmp_path, demo_template, browser, big_csv):
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "demo-retail.duckdb"
    shutil.copyfile(demo_template, db)
    before = _digest(db)
    proc, url = start_server(folder)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    try:
        _start_load(page, url, big_csv)
        page.get_by_test_id("stProgress").first.wait_for(timeout=60_000)  # the load is running
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        page.close()
        if proc.poll() is None:
            proc.kill()
    # the dataset file is byte-for-byte what it was, and opens
    assert _digest(db) == before
    con = store.connect(db)
    assert con.execute("select count(*) from transactions").fetchone()[0] > 0
    con.close()
    assert [d.name for d in store.list_datasets(folder)] == ["demo-retail"]

    # a restarted server shows the old data and can load again; the killed load's leftovers go
    proc, url = start_server(folder)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    try:
        page.goto(url)
        wait_app(page)
        assert page.locator("h1").first.inner_text() == "Overview"
        assert page.get_by_test_id("stException").count() == 0
        screenshot(page, "after-server-kill")
        small = tmp_path / "orders-small.csv"
        small.write_text("customer_id,order_id,order_ts,amount\nZ1,z1,2024-05-01,10\n")
        _start_load(page, url, small)
        page.get_by_text("Loaded 1 of 1 rows").wait_for()
    finally:
        page.close()
        proc.terminate()
        proc.wait(timeout=20)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]
    con = store.connect(db)
    assert (
        con.execute("select count(*) from transactions where customer_id = 'Z1'").fetchone()[0] == 1
    )
    con.close()
