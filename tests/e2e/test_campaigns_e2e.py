"""Campaigns page in a real browser: every tab renders its charts; the target list downloads."""

from __future__ import annotations

import csv
import re
import time

from tests.e2e.conftest import screenshot

# The sample-ratio takeaway is the last line the result tab writes.
SRM_EN = re.compile("split matches the plan|Sample ratio mismatch")
SRM_ZH = re.compile("分组比例与计划一致|样本比例不匹配")


def _settle(page, text, timeout: int = 300_000) -> None:
    """Wait until ``text`` is on the page and the script has finished; generous because the
    planner's first churn-model fit and a loaded CI machine can take minutes."""
    page.get_by_text(text).first.wait_for(timeout=timeout)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')",
        timeout=timeout,
    )
    page.wait_for_timeout(500)


def _tab(page, name: str, text: str) -> None:
    page.get_by_role("tab", name=name).click()
    _settle(page, text)


def _charts(page, expected: int | None = None) -> int:
    """Visible Plotly charts; with ``expected``, first give them up to a minute to draw (the
    first page of a cold server loads the Plotly bundle while the script has already ended)."""
    if expected is not None:
        deadline = time.time() + 60
        while page.locator(".js-plotly-plot:visible").count() < expected and time.time() < deadline:
            page.wait_for_timeout(250)
    return page.locator(".js-plotly-plot:visible").count()


def _shot(page, name: str) -> None:
    # Streamlit scrolls inside its own container: a tall viewport captures the whole tab.
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_timeout(800)
    screenshot(page, name)
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_campaigns_tabs(server, page):
    page.goto(server + "/campaigns")
    _settle(page, SRM_EN)
    assert page.locator("h1").first.inner_text() == "Campaigns"
    body = page.inner_text("body")
    assert re.search(r"Treatment [AB].*p[=<]0\.\d+", body) and "Takeaway" in body
    assert _charts(page, 4) == 4
    assert "Exception" not in body and "Traceback" not in body
    _shot(page, "campaigns-result")

    _tab(page, "After the campaign", "vs control [")  # the value takeaway comes last
    assert _charts(page, 4) == 4
    assert "Converted customers bought" in page.inner_text("body")
    _shot(page, "campaigns-after")

    _tab(page, "Channels", "highest response rate")
    assert _charts(page, 1) == 1
    assert "highest response rate" in page.inner_text("body")
    _shot(page, "campaigns-channels")

    _tab(page, "Next test", "customers per group")
    assert _charts(page, 1) == 1
    assert "customers per group" in page.inner_text("body")
    _shot(page, "campaigns-next-test")


def test_planner_exports_targets(server, page, tmp_path):
    page.goto(server + "/campaigns")
    _settle(page, SRM_EN)
    _tab(page, "Intervention planner", "Customers targeted")
    body = page.inner_text("body")
    assert "Customers targeted" in body and "Expected saved value" in body
    assert _charts(page, 1) == 1
    _shot(page, "campaigns-planner")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download CSV").last.click()
    rows = list(csv.DictReader(open(dl.value.path(), encoding="utf-8-sig")))
    assert rows and {"customer_id", "intervention", "cost", "expected_net_value"} <= set(rows[0])
    assert all(float(r["roi"]) >= 2.0 - 1e-9 for r in rows)


def test_campaigns_in_chinese(server, page):
    page.goto(server + "/campaigns?lang=zh")
    _settle(page, SRM_ZH)
    assert page.locator("h1").first.inner_text() == "营销活动"
    body = page.inner_text("body")
    assert "要点" in body and "Takeaway" not in body
    assert "转化率" in body
    _shot(page, "campaigns-zh")
