"""Lifecycle and Funnels & cohorts pages in a real browser, with screenshots to look at."""

from __future__ import annotations

from tests.e2e.conftest import screenshot, wait_app


def _tall(page, height: int) -> None:
    """Grow the window so one screenshot holds the whole page (Streamlit scrolls inside)."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.wait_for_timeout(1500)


def _charts(page) -> int:
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    return page.locator(".js-plotly-plot").count()


def test_lifecycle_page_in_browser(server, page):
    page.goto(f"{server}/lifecycle")
    wait_app(page)
    page.get_by_role("heading", name="Lifecycle").first.wait_for()
    assert _charts(page) == 2  # lazy tabs: the Stages tab's bar and trend
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "Takeaway" in body and "buyers, the largest stage is" in body
    assert "Traceback" not in body
    # bars carry their numbers: the stage snapshot is readable, not an empty frame
    assert page.locator(".js-plotly-plot .bars .point").count() >= 5
    _tall(page, 3600)
    screenshot(page, "lifecycle")
    page.get_by_role("tab", name="Transitions").click()
    page.get_by_text("Most stable stage").first.wait_for()
    wait_app(page)
    page.locator(".js-plotly-plot:visible .sankey").first.wait_for()
    assert page.locator(".js-plotly-plot:visible").count() == 2  # sankey and heatmap
    screenshot(page, "lifecycle-transitions")


def test_funnels_page_tabs_in_browser(server, page):
    page.goto(f"{server}/funnels")
    wait_app(page)
    page.get_by_role("heading", name="Funnels & cohorts").first.wait_for()
    assert _charts(page) >= 1
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "went on to purchase" in body
    _tall(page, 2600)
    screenshot(page, "funnels-event")
    # lazy tabs: a click reruns the script, which only then draws the tab
    page.get_by_role("tab", name="Repeat purchasing").click()
    page.get_by_text("made a 2nd purchase").first.wait_for()
    wait_app(page)
    screenshot(page, "funnels-repeat")
    page.get_by_role("tab", name="Cohort retention").click()
    page.get_by_text("in month 1 after the first purchase").first.wait_for()
    wait_app(page)
    page.locator(".js-plotly-plot:visible .heatmaplayer").first.wait_for()
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 1
    _tall(page, 3000)
    screenshot(page, "funnels-cohorts")
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "Traceback" not in body


def test_lifecycle_page_in_chinese(server, page):
    page.goto(f"{server}/lifecycle?lang=zh")
    wait_app(page)
    page.get_by_role("heading", name="生命周期").first.wait_for()
    assert _charts(page) == 2
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "要点" in body and "位购买客户中" in body
    assert "Traceback" not in body
    _tall(page, 3000)
    screenshot(page, "lifecycle-zh")
