"""Churn risk page in a real browser: training progress, watchlist, export, model tab, with
screenshots to look at."""

from __future__ import annotations

import csv
import io

from tests.e2e.conftest import screenshot, wait_app


def _tall(page, height: int) -> None:
    """Grow the window so one screenshot holds the whole tab (Streamlit scrolls inside)."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.wait_for_timeout(1500)


def _main(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def test_churn_page_in_browser(server, page):
    page.goto(f"{server}/churn")
    page.get_by_role("heading", name="Churn risk").first.wait_for()
    wait_app(page)  # the first visit trains the model (progress bar), later ones load it
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=300_000)
    body = _main(page)
    assert "Traceback" not in body
    assert "active customers, highest value at risk first" in body
    assert "have a churn risk of 50% or more" in body
    # the histogram has bars with customers in them
    assert page.locator(".js-plotly-plot").first.locator(".bars .point").count() >= 10
    _tall(page, 2600)
    screenshot(page, "churn-watchlist")

    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").first.click()
    rows = list(csv.DictReader(io.StringIO(open(dl.value.path(), encoding="utf-8-sig").read())))
    assert rows and {"customer_id", "churn_probability", "value_at_risk", "reasons"} <= set(rows[0])
    values = [float(r["value_at_risk"]) for r in rows]
    assert values == sorted(values, reverse=True)

    wait_app(page)  # a download button click reruns the script
    # lazy tabs: a click reruns the script, which only then draws the tab
    page.get_by_role("tab", name="Rule alerts").click()
    page.get_by_text("active customers trigger at least one alert").first.wait_for()
    wait_app(page)
    screenshot(page, "churn-alerts")

    page.get_by_role("tab", name="Model").click()
    page.get_by_text("Out of time, the model ranks churners").first.wait_for()
    page.get_by_text("Calibration on the test cutoff").first.wait_for()
    wait_app(page)
    _tall(page, 3000)
    screenshot(page, "churn-model")
    body = _main(page)
    assert "Rule: no order for more than 30 days" in body and "Traceback" not in body


def test_churn_page_in_chinese(server, page):
    page.goto(f"{server}/churn?lang=zh")
    page.get_by_role("heading", name="流失风险").first.wait_for()
    wait_app(page)
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=300_000)
    body = _main(page)
    assert "要点" in body and "的活跃客户" in body and "Traceback" not in body
    _tall(page, 2600)
    screenshot(page, "churn-watchlist-zh")
