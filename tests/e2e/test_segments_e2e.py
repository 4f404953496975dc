"""The Segments page in a real browser: every tab draws, takeaways are shown, screenshots saved."""

from __future__ import annotations

import re
import time

from tests.e2e.conftest import screenshot, wait_app


def _tall(page, height: int) -> None:
    """Grow the window so one screenshot holds the whole tab (Streamlit scrolls inside)."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.wait_for_timeout(1500)


def _visible_charts(page, expected: int | None = None) -> int:
    """Visible Plotly charts; with ``expected``, first give them up to a minute to draw."""
    page.locator(".js-plotly-plot:visible .main-svg").first.wait_for(timeout=60_000)
    if expected is not None:
        deadline = time.time() + 60
        while page.locator(".js-plotly-plot:visible").count() < expected and time.time() < deadline:
            page.wait_for_timeout(250)
    return page.locator(".js-plotly-plot:visible").count()


def _open_tab(page, name: str, phrase: str) -> None:
    """Click a lazy tab: the click reruns the script, which only then draws the tab. Wait for
    the tab's text and for the run to end."""
    page.get_by_role("tab", name=name).click()
    page.get_by_text(phrase).first.wait_for()
    wait_app(page)


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_segments_page_in_browser(server, page):
    page.goto(f"{server}/segments")
    wait_app(page)
    page.get_by_role("heading", name="Segments").first.wait_for()
    # RFM tab: segment shares and the R x F grid
    assert _visible_charts(page) == 2
    assert page.locator(".js-plotly-plot:visible .heatmaplayer").count() == 1
    body = _main_text(page)
    assert re.search(r"\w+ are \d+\.\d% of customers and \d+\.\d% of revenue\.", body)
    assert "spend" in body and "the average customer" in body
    assert "Traceback" not in body
    _tall(page, 3600)
    screenshot(page, "segments-rfm")

    tabs = [
        ("Value tiers", "Diamond customers are", 1, "segments-tiers"),
        ("Clusters", "separates customers best", 2, "segments-clusters"),
        ("Price sensitivity", "buy on discount most often", 1, "segments-price"),
        ("Migration", "of existing customers kept their segment", 1, "segments-migration"),
    ]
    for name, phrase, charts, shot in tabs:
        _open_tab(page, name, phrase)
        assert _visible_charts(page, charts) == charts, name
        _tall(page, 2400)
        screenshot(page, shot)
    # the cluster scatter is WebGL (Scattergl) and has one trace per cluster
    _open_tab(page, "Clusters", "separates customers best")
    page.locator(".js-plotly-plot:visible canvas").first.wait_for()
    assert page.locator(".js-plotly-plot:visible canvas").count() >= 1

    _open_tab(page, "Segment rules", "The first matching row names the customer")
    screenshot(page, "segments-rules")
    assert "Traceback" not in _main_text(page)


def test_segments_page_in_chinese(server, page):
    page.goto(f"{server}/segments?lang=zh")
    wait_app(page)
    page.get_by_role("heading", name="客户分群").first.wait_for()
    body = _main_text(page)
    assert "占客户的" in body and "Takeaway" not in body
    _tall(page, 3600)
    screenshot(page, "segments-rfm-zh")
