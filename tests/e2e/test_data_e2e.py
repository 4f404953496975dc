"""Browser test: upload a GBK-encoded CSV with Chinese headers through the real file input."""

from __future__ import annotations

import shutil

import pytest

from clm_core import store
from tests.e2e.conftest import screenshot, start_server, wait_app
from tests.ingest_files import CN_CSV


@pytest.fixture(scope="module")
def data_server(tmp_path_factory, demo_template, browser):
    """A private server: this test replaces transactions, other browser tests must not see it."""
    folder = tmp_path_factory.mktemp("e2e-data") / "data"
    folder.mkdir()
    shutil.copyfile(demo_template, folder / "demo-retail.duckdb")
    proc, url = start_server(folder)
    yield url, folder
    proc.terminate()
    proc.wait(timeout=20)


def test_upload_gbk_csv_with_chinese_headers(data_server, page, tmp_path):
    url, folder = data_server
    upload = tmp_path / "门店订单.csv"
    upload.write_bytes((CN_CSV + 'C003,A4,2024/2/1,"￥88.00",门店,3\n').encode("gbk"))
    page.goto(f"{url}/data")
    wait_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.get_by_text("Column mapping").wait_for()
    wait_app(page)
    page.get_by_text("Encoding: gb18030").wait_for()
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("Loaded 4 of 4 rows into transactions of demo-retail.").wait_for(
        timeout=60_000
    )
    wait_app(page)
    screenshot(page, "data-upload-gbk")
    con = store.connect(folder / "demo-retail.duckdb")
    rows = con.execute(
        "select customer_id, channel, amount from transactions order by order_ts"
    ).fetchall()
    con.close()
    assert rows == [("C001", "门店", 1234.5), ("C002", "小程序", 99.5), ("C001", "门店", -20.0),
                    ("C003", "门店", 88.0)]  # fmt: skip
    # the quality report below already describes the uploaded data
    page.get_by_text("4 transactions from 2024-01-05 to 2024-02-01").wait_for()
