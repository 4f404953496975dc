"""Ten browser sessions read one dataset while another process replaces it.

Readers must never see an error or a half-loaded dataset, and must see the new data once the
replacement has landed (the version stamp changes, so nothing stale is served).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, start_server, wait_app

pytestmark = pytest.mark.slow


def _active_customers(page) -> str:
    return page.get_by_test_id("stMetricValue").first.inner_text()


def _no_error(page) -> None:
    body = page.inner_text("body")
    assert page.get_by_test_id("stException").count() == 0, body[:500]
    assert "Traceback" not in body and "database is locked" not in body.lower(), body[:500]
    assert "could not set lock" not in body.lower(), body[:500]


def test_ten_readers_during_replace(tmp_path, demo_template, browser):
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "demo-retail.duckdb"
    shutil.copyfile(demo_template, db)
    proc, url = start_server(folder)
    try:
        pages = []
        for _ in range(10):
            ctx = browser.new_context(viewport={"width": 1300, "height": 900})
            pg = ctx.new_page()
            pg.set_default_timeout(120_000)
            pg.goto(url)
            pages.append(pg)
        for pg in pages:
            wait_app(pg)
            _no_error(pg)
        before = {_active_customers(pg) for pg in pages}
        assert len(before) == 1

        # Replace the dataset with a different company while the sessions keep reading.
        writer = subprocess.Popen(
            [sys.executable, "-m", "clm_core", "demo", "--db", str(db),
             "--customers", "900", "--seed", "99"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        # Playwright's sync API is single-threaded: the readers reload in turn while it runs.
        while writer.poll() is None:
            for pg in pages:
                pg.reload()
                wait_app(pg)
                _no_error(pg)
        assert writer.returncode == 0, writer.stderr.read().decode()

        for pg in pages:
            pg.reload()
            wait_app(pg)
            _no_error(pg)
        after = {_active_customers(pg) for pg in pages}
        assert len(after) == 1 and after != before  # everyone sees the new data
        for pg in pages:
            pg.context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
