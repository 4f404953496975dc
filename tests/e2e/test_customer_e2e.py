"""Customer 360 in a real browser: search a customer, see their timeline."""

from __future__ import annotations

from clm_core import store
from tests.e2e.conftest import screenshot, wait_app


def _customer(e2e_data) -> tuple[str, str, int]:
    """An active repeat customer with a complaint: id, name and number of orders."""
    con = store.connect(e2e_data / "demo-retail.duckdb")
    try:
        return con.execute(
            """
            select c.customer_id, c.name, count(distinct t.order_id)
            from customers c join transactions t using (customer_id)
            where t.amount > 0 and exists (select 1 from feedback f
                where f.customer_id = c.customer_id and f.kind = 'complaint')
            group by all having max(t.order_ts) >= timestamp '2025-09-01'
            order by 3 desc, 1 limit 1
            """
        ).fetchone()
    finally:
        con.close()


def _tall(page, height: int = 3400) -> None:
    """Grow the window so one screenshot holds the whole page (Streamlit scrolls inside)."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.wait_for_timeout(1500)


def _open(server, page):
    page.goto(server + "/customer")
    wait_app(page)
    assert page.locator("h1").first.inner_text() == "Customer 360"


def test_search_shows_timeline(server, page, e2e_data):
    cid, name, orders = _customer(e2e_data)
    _open(server, page)
    box = page.get_by_label("Search")
    box.fill(name)
    box.press("Enter")
    wait_app(page)
    # the name may be shared: pick this customer in the result list
    page.get_by_test_id("stSelectbox").filter(has_text="Customer").click()
    page.get_by_role("option", name=cid).first.click()
    wait_app(page)
    page.wait_for_selector(".js-plotly-plot")
    metrics = page.get_by_test_id("stMetric").filter(has_text="Orders")
    assert metrics.first.get_by_test_id("stMetricValue").inner_text() == f"{orders:,}"
    body = page.inner_text("body")
    assert "Customer timeline" in body and f"{orders} orders worth" in body
    assert "complaint(s)" in body
    assert page.locator(".js-plotly-plot").count() >= 2  # P(alive) history and timeline
    # the timeline has one lane per kind of touchpoint
    _tall(page)
    screenshot(page, "customer-360-en")
    lanes = (
        page.locator(".js-plotly-plot")
        .last.locator(".yaxislayer-above text")
        .evaluate_all("els => els.map(e => e.textContent)")
    )
    assert {"Order", "Complaint", "Login"} <= set(lanes)


def test_search_by_phone_in_chinese(server, page, e2e_data):
    cid, _, orders = _customer(e2e_data)
    con = store.connect(e2e_data / "demo-retail.duckdb")
    try:
        (phone,) = con.execute(
            "select phone from customers where customer_id = $c", {"c": cid}
        ).fetchone()
    finally:
        con.close()
    digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
    page.goto(server + f"/customer?lang=zh&customer={digits[:3]}-{digits[3:7]}-{digits[7:]}")
    wait_app(page)
    assert page.locator("h1").first.inner_text() == "客户360"
    page.wait_for_selector(".js-plotly-plot")
    _tall(page)
    screenshot(page, "customer-360-zh")
    metrics = page.get_by_test_id("stMetric").filter(has_text="订单数")
    assert metrics.first.get_by_test_id("stMetricValue").inner_text() == f"{orders:,}"
    assert f"共 {orders} 笔订单" in page.inner_text("body")
    body = page.inner_text("body")
    assert "订单数" in body and "投诉" in body
