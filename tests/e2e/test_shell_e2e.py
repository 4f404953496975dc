"""The app shell in a real browser: language, URL filters, report download, screenshots."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.e2e.conftest import screenshot, wait_app


def _title(page) -> str:
    return page.locator("h1").first.inner_text()


def test_switch_language(server, page):
    page.goto(server)
    wait_app(page)
    assert _title(page) == "Overview"
    screenshot(page, "overview-en")
    page.locator('[data-testid="stSidebar"]').get_by_text("简体中文").click()
    wait_app(page)
    page.wait_for_function("() => document.querySelector('h1')?.innerText === '概览'")
    assert "活跃客户" in page.inner_text("body")
    screenshot(page, "overview-zh")


def test_filter_survives_reload(server, page):
    page.goto(server)
    wait_app(page)
    revenue_all = page.get_by_test_id("stMetricValue").nth(3).inner_text()
    page.goto(server + "/?channel=app")
    wait_app(page)
    page.reload()
    wait_app(page)
    assert "channel=app" in page.url
    page.locator('[data-testid="stSidebar"]').get_by_text("Filters", exact=True).click()
    channel = page.get_by_test_id("stMultiSelect").first
    assert "app" in channel.inner_text()
    assert page.get_by_test_id("stMetricValue").nth(3).inner_text() != revenue_all


def _day_of(button) -> dt.date:
    """The date of a calendar day button ("Tuesday, January 10, 2023", maybe " selected")."""
    label = button.get_attribute("aria-label").removesuffix(" selected")
    return dt.datetime.strptime(label, "%A, %B %d, %Y").date()


def test_date_range_picked_in_the_calendar(server, page):
    """Two clicks in the sidebar's calendar filter every page and go into the URL; the first
    click alone leaves the page as it was."""
    page.goto(server)
    wait_app(page)
    revenue_all = page.get_by_test_id("stMetricValue").nth(3).inner_text()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Filters", exact=True).click()
    box = sidebar.get_by_test_id("stDateInput")
    box.wait_for()
    page.wait_for_timeout(500)  # the expander's animation
    box.get_by_role("button").first.click()  # the calendar
    days = page.get_by_role("gridcell").get_by_role("button")
    first, second = days.nth(9), days.nth(19)  # the 10th and 20th of the first month
    start, end = _day_of(first), _day_of(second)
    first.click()
    wait_app(page)
    assert "from=" not in page.url
    assert page.get_by_test_id("stMetricValue").nth(3).inner_text() == revenue_all
    second.click()
    page.wait_for_url(re.compile(f"from={start.isoformat()}&to={end.isoformat()}"))
    wait_app(page)
    assert page.get_by_test_id("stMetricValue").nth(3).inner_text() != revenue_all
    page.keyboard.press("Escape")
    screenshot(page, "filter-date-range")


def test_report_contains_every_chart(server, page):
    page.goto(server)
    wait_app(page)
    n_charts = page.locator(".js-plotly-plot").count()
    assert n_charts >= 1
    with page.expect_download() as dl:
        page.locator('[data-testid="stSidebar"]').get_by_role(
            "button", name=re.compile("HTML")
        ).click()
    text = open(dl.value.path(), encoding="utf-8").read()
    assert text.count("Plotly.newPlot") == n_charts
    assert "<script src=" not in text


def test_presenter_mode_hides_a_known_email(server, page, e2e_data):
    from clm_core import store

    con = store.connect(e2e_data / "demo-retail.duckdb")
    cid, email = con.execute(
        "select customer_id, email from customers where email is not null order by 1 limit 1"
    ).fetchone()
    con.close()
    page.goto(f"{server}/customer?customer={cid}")
    wait_app(page)
    page.get_by_text("Customer record").wait_for(timeout=60_000)
    assert email in page.inner_text("body")  # shown normally...
    page.goto(f"{server}/customer?customer={cid}&presenter=1")
    wait_app(page)
    page.get_by_text("Customer record").wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert cid in body and email not in body  # ...masked in presenter mode
    screenshot(page, "customer-360-presenter")


PAGES = ["", "data", "segments", "lifecycle", "funnels", "clv", "churn", "campaigns", "customer"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_in_both_languages(server, page, lang):
    """Each page opens without an error, titled in the chosen language; screenshots for docs/."""
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for slug in PAGES:
        page.goto(
            f"{server}/{slug}?lang={lang}" + ("&customer=C000010" if slug == "customer" else "")
        )
        wait_app(page)
        page.wait_for_function(  # long work (model training) shows a spinner until done
            "() => !document.querySelector('[data-testid*=\"Spinner\"]')", timeout=240_000
        )
        page.wait_for_timeout(1500)  # charts finish drawing
        wait_app(page)
        title = _title(page)
        assert bool(cjk.search(title)) == (lang == "zh"), (slug, title)
        assert page.get_by_test_id("stException").count() == 0, slug
        assert "Traceback" not in page.inner_text("body"), slug
        screenshot(page, f"page-{slug or 'overview'}-{lang}")
