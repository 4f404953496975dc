"""Data page through the router: load by path, mapping, errors, new dataset, quality report."""

from __future__ import annotations

import hashlib

import pytest

from clm_core import store
from tests.ingest_files import CN_CSV, write_text

PAGE = "pages/data.py"


@pytest.fixture()
def at(app):
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    return app


def _by_path(at, name: str):
    at.radio(key="data_source").set_value("path").run()
    at.text_input(key="data_path").input(name).run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    return " ".join(m.value for m in at.markdown) + " ".join(str(e.value) for e in at.error)


def test_load_by_path_replaces_transactions_and_reports_quality(at, data_dir):
    write_text(data_dir / "orders.csv", CN_CSV, "gbk")
    _by_path(at, "orders.csv")
    assert at.selectbox(key=_map_key(at, "amount")).value == "实付金额"
    assert "CSV file, header on row 1, 6 columns. Encoding: gb18030." in [
        c.value for c in at.caption
    ]
    at.button(key="data_load").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Loaded 3 of 3 rows into transactions of demo-retail."]
    con = store.connect(data_dir / "demo-retail.duckdb")
    assert con.execute("select count(*), sum(amount) from transactions").fetchone() == (3, 1314.0)
    con.close()
    # the quality report now describes the new transactions
    assert (
        "3 transactions from 2024-01-05 to 2024-01-07; 0 exact duplicate rows; 1 returns"
        in _texts(at)
    )


def _map_key(at, canonical: str) -> str:
    """Key of the mapping selectbox of a canonical column (keys also carry a file token)."""
    keys = [w.key for w in at.selectbox if w.key and w.key.startswith("data_map_")]
    return next(k for k in keys if k.endswith(f"_{canonical}"))


def test_mapping_can_be_changed_before_loading(at, data_dir):
    write_text(
        data_dir / "o.csv", "who,when,paid,list_price\nC1,2024-01-05,10,12\nC2,2024-01-06,20,25\n"
    )
    _by_path(at, "o.csv")
    assert at.button(
        key="data_load"
    ).disabled  # nothing maps to customer_id / order_ts / amount yet
    for canonical, source in [
        ("customer_id", "who"),
        ("order_ts", "when"),
        ("amount", "list_price"),
    ]:
        at.selectbox(key=_map_key(at, canonical)).set_value(source).run()
    assert not at.button(key="data_load").disabled
    at.button(key="data_load").click().run()
    con = store.connect(data_dir / "demo-retail.duckdb")
    assert con.execute("select sum(amount) from transactions").fetchone() == (37.0,)
    con.close()


def test_failed_load_shows_the_cell_and_keeps_the_data(at, data_dir):
    db = data_dir / "demo-retail.duckdb"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    write_text(
        data_dir / "bad.csv", "标题\n客户编号,下单时间,实付金额\nC1,2024-01-05,1\nC2,明天,2\n"
    )
    _by_path(at, "bad.csv")
    at.button(key="data_load").click().run()
    assert not at.exception, at.exception
    assert at.error[0].value == (
        "File: bad.csv · Row: 4 · Column: 下单时间 · Cell value: 明天 — 1 of 2 rows cannot be used "
        "(not a date); nothing was loaded."
    )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    # skip mode loads the good row and offers the rejected rows
    at.radio(key="data_on_error").set_value("skip").run()
    at.button(key="data_load").click().run()
    assert [s.value for s in at.success] == ["Loaded 1 of 2 rows into transactions of demo-retail."]
    assert (data_dir / "demo-retail.transactions.rejected.csv").exists()


def test_path_outside_data_folder_is_refused(at, tmp_path):
    write_text(tmp_path / "secret.csv", "customer_id,order_ts,amount\nC1,2024-01-05,1\n")
    at.radio(key="data_source").set_value("path").run()
    at.text_input(key="data_path").input("../secret.csv").run()
    assert not at.exception
    assert "outside the data folder" in at.error[0].value
    assert not [b for b in at.button if b.key == "data_load"]


def test_load_into_new_dataset_and_open_it(at, data_dir):
    write_text(data_dir / "orders.csv", CN_CSV, "utf-8-sig")
    _by_path(at, "orders.csv")
    at.radio(key="data_target").set_value("new").run()
    at.text_input(key="data_new_name").input("shop-2024").run()
    at.button(key="data_load").click().run()
    assert (data_dir / "shop-2024.duckdb").exists()
    assert [s.value for s in at.success] == ["Loaded 3 of 3 rows into transactions of shop-2024."]
    at.button(key="data_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["dataset_path"] == str(data_dir / "shop-2024.duckdb")
    assert at.header[-1].value == "Data quality of shop-2024"


def test_quality_report_of_demo_data_in_chinese(at):
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.header[-1].value == "demo-retail 的数据质量"
    texts = _texts(at)
    assert "对客户编号看起来是同一个人" in texts
    assert "客户最多的渠道是" in texts
    assert len(at.dataframe) >= 3


def test_xlsx_sheet_picker_and_title_rows(at, data_dir):
    from tests.ingest_files import write_xlsx

    write_xlsx(data_dir / "book.xlsx", {
        "封面": [["2024 年报"]],
        "会员": [["会员名单"], [None], ["会员号", "注册时间", "姓名", "手机号"],
                 ["M1", "2024/1/5", "王伟", "13800138000"], ["M2", "2024/2/1", "李娜", "13900139000"]],
    })  # fmt: skip
    _by_path(at, "book.xlsx")
    at.selectbox(key="data_table").set_value("customers").run()
    assert at.selectbox(key="data_sheet").options == ["封面", "会员"]
    at.selectbox(key="data_sheet").set_value("会员").run()
    assert not at.exception, at.exception
    assert "XLSX file, header on row 3, 4 columns." in [c.value for c in at.caption]
    assert at.selectbox(key=_map_key(at, "phone")).value == "手机号"
    at.button(key="data_load").click().run()
    assert [s.value for s in at.success] == ["Loaded 2 of 2 rows into customers of demo-retail."]
    con = store.connect(data_dir / "demo-retail.duckdb")
    assert con.execute("select customer_id, name from customers order by 1").fetchall() == [
        ("M1", "王伟"),
        ("M2", "李娜"),
    ]
    con.close()


def test_duplicate_matching_of_a_large_dataset_runs_on_request(app, monkeypatch):
    """Above DUPLICATES_AUTO_MAX customers the page offers a button instead of minutes of
    fuzzy matching on every first visit; after the click the pairs show (and stay)."""
    from clm_core.ingest import quality

    calls = []
    real = quality.duplicate_customers

    def counted(con, *args, **kwargs):
        calls.append(1)
        return real(con, *args, **kwargs)

    monkeypatch.setattr(quality, "DUPLICATES_AUTO_MAX", 10)
    monkeypatch.setattr(quality, "duplicate_customers", counted)
    app.switch_page(PAGE).run()
    assert not app.exception, app.exception
    assert not calls
    assert "customer records takes a few minutes" in _texts(app)
    app.button(key="data_dups_run").click().run()
    assert not app.exception, app.exception
    assert calls == [1]
    assert "pairs of customer ids look like the same person" in _texts(app)
    app.run()  # a later rerun keeps showing them, from the cache
    assert "pairs of customer ids look like the same person" in _texts(app)
    assert calls == [1]


def test_quality_report_ignores_the_sidebar_filters(at, data_dir):
    from clm_core.ingest import quality

    con = store.connect(data_dir / "demo-retail.duckdb")
    try:
        rows = int(quality.table_overview(con).set_index("table").loc["transactions", "rows"])
    finally:
        con.close()
    before = _texts(at)
    assert f"{rows:,} transactions from" in before
    box = at.multiselect(key="f_regions")
    box.set_value([box.options[0]]).run()
    assert not at.exception, at.exception
    assert f"{rows:,} transactions from" in _texts(at)
    assert any("quality report covers the whole dataset" in c.value for c in at.caption)


def test_multiselect_placeholders_are_translated(at):
    """Streamlit's default placeholder ("Choose options") is English; ours follow the language."""
    at.radio(key="lang").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="f_regions").proto.placeholder == "全部"


def test_line_items_show_the_derived_amount_currency_and_guests(at, data_dir):
    from tests.test_ingest_line_items import LINES

    write_text(data_dir / "retail.csv", LINES)
    _by_path(at, "retail.csv")
    assert at.selectbox(key=_map_key(at, "unit_price")).value == "UnitPrice"
    assert at.selectbox(key=_map_key(at, "amount")).value == "—"
    infos = [i.value for i in at.info]
    assert "amount = Quantity × UnitPrice (the file has no line total)." in infos
    currency = next(w for w in at.selectbox if w.key and w.key.startswith("data_currency_"))
    assert currency.value == "GBP"
    assert "GBP: most lines are from United Kingdom." in [c.value for c in at.caption]
    at.button(key="data_load").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Guest rows (no customer id)"] == "1"
    assert metrics["Returns"] == "1" and metrics["Customers"] == "4"
    con = store.connect(data_dir / "demo-retail.duckdb")
    try:
        assert store.get_setting(con, "currency") == "GBP"
    finally:
        con.close()


def test_a_similar_header_shows_its_confidence(at, data_dir):
    write_text(data_dir / "typo.csv", "Cusotmer Id,date,amount\n1,2024-01-05,3\n")
    _by_path(at, "typo.csv")
    box = at.selectbox(key=_map_key(at, "customer_id"))
    assert box.value == "Cusotmer Id" and box.label.endswith("· 72%")
