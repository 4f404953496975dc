"""Customer 360 page through the router (AppTest) on the 2,000-customer demo."""

from __future__ import annotations

import pytest

from clm_core import customer360, store
from clm_core.formatting import fmt_money
from ui.common import escape_md

PAGE = "pages/customer.py"


def _db(data_dir):
    return data_dir / "demo-retail.duckdb"


def _one(data_dir, sql: str, params: dict | None = None):
    con = store.connect(_db(data_dir))
    try:
        return con.execute(sql, params or {}).fetchone()
    finally:
        con.close()


RUN = 240  # seconds; generous because CI machines are shared


def _open(app):
    app.switch_page(PAGE).run(timeout=RUN)
    assert not app.exception, app.exception
    return app


def _search(app, text: str):
    app.text_input(key="customer_query").input(text).run(timeout=RUN)
    assert not app.exception, app.exception
    return app


def _metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_page_asks_for_a_search_first(app):
    at = _open(app)
    assert at.title[0].value == "Customer 360"
    assert any("Type part of a customer id" in i.value for i in at.info)
    assert not at.metric


def test_search_by_id_shows_summary_and_timeline(app, data_dir):
    (cid,) = _one(
        data_dir,
        "select customer_id from transactions where amount > 0 group by 1 "
        "order by count(*) desc, 1 limit 1",
    )
    at = _search(_open(app), cid)
    assert at.selectbox(key="customer_pick").value == 0
    con = store.connect(_db(data_dir))
    try:
        profile = customer360.customer_profile(con, cid)
        timeline = customer360.customer_timeline(con, cid)
    finally:
        con.close()
    m = _metrics(at)
    assert m["Orders"] == f"{profile.summary['orders']:,}"
    assert m["Net revenue"] == fmt_money(profile.summary["revenue"], "CNY")
    assert m["Days since last purchase"] == str(profile.summary["days_since_last"])
    assert m["Segment"] not in ("", "–") and m["Lifecycle stage"] not in ("", "–")
    record = at.table[0].value["Customer record"]  # the record card: field -> value
    assert record["Customer ID"] == cid and record["Name"] == escape_md(profile.record["name"])
    shown = at.dataframe[-1].value
    assert len(shown) == len(timeline)
    assert set(shown["Type"]) == set(timeline["kind"])
    takeaways = [md.value for md in at.markdown if "Takeaway" in md.value]
    assert any(f"{profile.summary['orders']} orders worth" in t for t in takeaways)
    assert any("P(alive) is now" in t for t in takeaways)


def test_kind_filter_narrows_the_table(app, data_dir):
    (cid,) = _one(data_dir, "select min(customer_id) from feedback where kind = 'complaint'")
    at = _search(_open(app), cid)
    before = len(at.dataframe[-1].value)
    at.multiselect(key="customer_kinds").set_value(["complaint"]).run(timeout=RUN)
    assert not at.exception
    after = at.dataframe[-1].value
    assert 0 < len(after) < before and set(after["Type"]) == {"complaint"}


def test_search_by_phone_with_separators(app, data_dir):
    cid, phone = _one(
        data_dir,
        "select customer_id, phone from customers where regexp_full_match(phone, '1[0-9]{10}') "
        "order by customer_id limit 1",
    )
    at = _search(_open(app), f"{phone[:3]}-{phone[3:7]}-{phone[7:]}")
    options = at.selectbox(key="customer_pick").options
    assert options[0].startswith(cid)


def test_no_match_warns(app):
    at = _search(_open(app), "no such customer anywhere")
    assert any("No customer matches" in w.value for w in at.warning)


def test_prospect_has_no_purchase_cards(app, data_dir):
    (cid,) = _one(
        data_dir,
        "select min(customer_id) from customers c where not exists "
        "(select 1 from transactions t where t.customer_id = c.customer_id)",
    )
    at = _search(_open(app), cid)
    assert any("never bought" in i.value for i in at.info)
    assert "Orders" not in _metrics(at)
    assert len(at.dataframe[-1].value) > 0  # the sign-up events are still on the timeline


def test_chinese_labels(app, data_dir):
    app.session_state["lang"] = "zh"
    at = _search(_open(app), "C000010")
    assert at.title[0].value == "客户360"
    assert "订单数" in _metrics(at) and "净收入" in _metrics(at)
    table = at.dataframe[-1].value
    assert "类型" in table.columns and "时间" in table.columns
    assert "订单" in set(table["类型"])


def test_presenter_mode_masks_pii(app, data_dir):
    name, email, phone = _one(
        data_dir, "select name, email, phone from customers where customer_id = 'C000010'"
    )
    app.session_state["presenter"] = True
    at = _search(_open(app), "C000010")
    label = at.selectbox(key="customer_pick").options[0]
    assert name not in label
    record = at.table[0].value["Customer record"]
    assert record["E-mail"] != email and record["Phone"] != phone
    assert record["Phone"].endswith(phone[-4:]) and record["Name"] != name


def test_names_from_data_render_as_text(app, data_dir):
    evil = "**Bold** <img src=x onerror=alert(1)> [link](http://x)"
    with store.write_dataset(_db(data_dir)) as con:
        con.execute("update customers set name = $n where customer_id = 'C000010'", {"n": evil})
    at = _search(_open(app), "C000010")
    assert (
        at.selectbox(key="customer_pick").options[0]
        == f"C000010 · {evil} · "
        + _one(data_dir, "select region from customers where customer_id = 'C000010'")[0]
    )
    # the record card (st.table reads markdown) shows it escaped, i.e. literally
    assert at.table[0].value["Customer record"]["Name"] == escape_md(evil)
    for md in at.markdown:
        assert "<img" not in md.value and "**Bold**" not in md.value


def test_url_parameter_preselects_a_customer(app):
    app.query_params["customer"] = "C000010"
    at = _open(app)
    assert at.text_input(key="customer_query").value == "C000010"
    assert "Orders" in _metrics(at) or any("never bought" in i.value for i in at.info)


def test_dataset_without_customer_table(app, data_dir):
    path = data_dir / "tx-only.duckdb"
    with store.write_dataset(path, fresh=True) as con:
        con.execute(
            "create table transactions (customer_id varchar, order_id varchar, "
            "order_ts timestamp, amount double, quantity double, product varchar, "
            "category varchar, channel varchar, discount double)"
        )
        rows = [("A1", f"o{i}", f"2024-0{i}-01", 10.0 * i) for i in range(1, 8)] + [
            ("B2", f"p{i}", f"2024-0{i}-15", 5.0) for i in range(1, 4)
        ]
        for cid, oid, ts, amount in rows:
            con.execute(
                "insert into transactions (customer_id, order_id, order_ts, amount) "
                "values ($c, $o, $t, $a)",
                {"c": cid, "o": oid, "t": ts, "a": amount},
            )
    app.run(timeout=RUN)  # the sidebar lists the new file
    app.sidebar.selectbox(key="dataset_path").set_value(str(path)).run(timeout=RUN)
    at = _search(_open(app), "a1")
    assert not at.exception
    assert _metrics(at)["Orders"] == "7"
    assert len(at.dataframe[-1].value) == 7


@pytest.mark.slow
def test_churn_card_after_training(app, data_dir):
    """The churn toggle trains the model once; a risky customer then shows risk and reasons."""
    from clm_core import churn
    from clm_core.formatting import fmt_share

    (active,) = _one(
        data_dir,
        "select customer_id from transactions where amount > 0 group by 1 "
        "having max(order_ts) >= timestamp '2025-11-01' order by 1 limit 1",
    )
    at = _search(_open(app), active)
    at.toggle(key="customer_churn").set_value(True).run(timeout=900)
    assert not at.exception, at.exception
    assert "Churn risk" in _metrics(at)
    con = store.connect(_db(data_dir))
    try:
        assert churn.is_trained(con)  # stored with the dataset: the page trained it once
        wl = churn.watchlist(con)
    finally:
        con.close()
    top = wl[wl["reasons"] != ""].sort_values("churn_probability").iloc[-1]
    at = _search(at, top["customer_id"])
    assert _metrics(at)["Churn risk"] == fmt_share(top["churn_probability"])
    shown = [t.value for t in at.text]
    assert f"• {top['reasons'].split('; ')[0]}" in shown
