"""Customer value page in a real browser: every tab draws its charts and says what they show."""

from __future__ import annotations

from tests.e2e.conftest import screenshot, wait_app


def _settle(page, text: str, timeout: int = 300_000) -> None:
    """Wait for ``text`` and for the script to finish (first runs fit and validate models)."""
    page.get_by_text(text).first.wait_for(timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )
    wait_app(page)


def _tab(page, name: str, text: str) -> str:
    page.get_by_role("tab", name=name).click()
    _settle(page, text)
    return page.inner_text("body")


def _visible_charts(page) -> int:
    return page.locator(".js-plotly-plot:visible").count()


def test_customer_value_tabs(server, page):
    # Streamlit scrolls inside its own container: a tall window puts a whole tab on the shot.
    page.set_viewport_size({"width": 1400, "height": 3400})
    page.goto(server + "/clv")
    _settle(page, "top 20% of customers hold")
    body = page.inner_text("body")
    assert page.locator("h1").first.inner_text() == "Customer value"
    assert "Traceback" not in body and "Exception" not in body
    assert "Expected future value (52 weeks)" in body
    assert _visible_charts(page) == 3  # distribution, Lorenz, by group
    screenshot(page, "clv-value")

    body = _tab(page, "Alive or gone", "silent but probably alive")
    assert "more likely gone than alive" in body
    assert _visible_charts(page) == 3  # P(alive) matrix, expected purchases, stage x P(alive)
    screenshot(page, "clv-alive")

    body = _tab(page, "LTV/CAC", "rule of thumb")
    assert _visible_charts(page) == 1
    screenshot(page, "clv-ltv-cac")

    body = _tab(page, "Validation", "cumulative repeat purchases against")
    assert "Best on the holdout" in body and "Pareto/NBD" in body
    assert _visible_charts(page) == 3
    screenshot(page, "clv-validation")

    body = _tab(page, "Engine check", "Model engine verified on CDNow")
    assert "13 of 13 published estimates reproduced" in body
    screenshot(page, "clv-engine")

    _tab(page, "Cohort fits", "One model per")
    page.get_by_text("Fit per-cohort models").click()
    _settle(page, "for one pooled model")
    assert _visible_charts(page) == 1
    screenshot(page, "clv-cohorts")


def test_customer_value_in_chinese(server, page):
    page.set_viewport_size({"width": 1400, "height": 3400})
    page.goto(server + "/clv?lang=zh")
    _settle(page, "前 20% 的客户")
    body = page.inner_text("body")
    assert "客户价值" in body and "Traceback" not in body
    screenshot(page, "clv-value-zh")
