"""Browser test on a real file: UCI Online Retail (.csv.gz) uploaded on the Data page as a user
would, then the Overview and Customer value pages read in pounds. Screenshots for docs/."""

from __future__ import annotations

import pytest

from clm_core.ingest import load_file
from tests.e2e.conftest import screenshot, start_server, wait_app
from tests.real.conftest import real_file


@pytest.fixture(scope="module")
def retail_server(tmp_path_factory, browser):
    src = real_file("online_retail")
    folder = tmp_path_factory.mktemp("e2e-real") / "data"
    folder.mkdir()
    db = folder / "online-retail.duckdb"
    load_file(src, db)
    proc, url = start_server(folder, {"CLM_DB": str(db)})
    yield url, src
    proc.terminate()
    proc.wait(timeout=20)


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_upload_online_retail_shows_the_derived_amount(retail_server, page):
    url, src = retail_server
    page.goto(f"{url}/data")
    wait_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(src))
    page.get_by_text("Column mapping").wait_for(timeout=120_000)
    wait_app(page)
    page.get_by_text("amount = Quantity × UnitPrice (the file has no line total).").wait_for()
    page.get_by_text("GBP: most lines are from United Kingdom.").wait_for()
    screenshot(page, "real-data-mapping")
    page.get_by_role("button", name="Load", exact=True).click()
    page.get_by_text("Loaded 406,829 of 541,909 rows into transactions of online-retail.").wait_for(
        timeout=180_000
    )
    wait_app(page)
    text = _main_text(page)
    assert "135,080" in text  # guest rows, reported apart from rejected rows
    assert "Duplicate rows" in text and "151,429" not in text
    screenshot(page, "real-data-loaded")


def test_overview_and_customer_value_in_pounds(retail_server, page):
    url, _ = retail_server
    page.set_viewport_size({"width": 1400, "height": 2000})  # the charts below the cards too
    page.goto(url)  # the Overview is the landing page (it has no /overview address)
    wait_app(page)
    text = _main_text(page)
    assert "£" in text and "$" not in text
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    screenshot(page, "real-overview")
    page.goto(f"{url}/clv")
    wait_app(page)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stMain\"]').innerText.includes('£')",
        timeout=180_000,
    )
    wait_app(page)
    assert "$" not in _main_text(page)
    screenshot(page, "real-clv")
