"""Real-world shapes with hand-checked answers: line items (quantity x unit price), cancellations,
ids the way spreadsheets write them, guests, exact duplicates, logs without money, currency."""

from __future__ import annotations

import pytest

from clm_core import store
from clm_core.errors import DataError
from clm_core.ingest import load_file, prepare, preview
from clm_core.ingest.parse import detect_cancel_prefix
from tests.ingest_files import table, write_parquet, write_text

# A UK shop's invoice lines, as UCI Online Retail writes them: no line total, ids as floats,
# a cancelled invoice (C prefix, negative quantity), a guest line and an exact duplicate.
LINES = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,France
536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,,United Kingdom
536369,21756,BATH BUILDING BLOCK WORD,3,2010-12-01 08:35:00,5.95,13047.0,France
536370,22728,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0,United Kingdom
"""


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "data" / "shop.duckdb"


def test_line_items_derive_amount_and_keep_every_line(tmp_path, db):
    path = write_text(tmp_path / "Online Retail.csv", LINES)
    res = load_file(path, db)
    assert res.derived == {"amount": "Quantity × UnitPrice"}
    # 9 lines: 1 guest left out; the duplicate is kept (as in the file) and counted
    assert (res.rows_read, res.rows_loaded, res.rows_without_customer) == (9, 8, 1)
    assert (res.rows_rejected, res.duplicates, res.returns, res.customers) == (0, 1, 1, 4)
    # 15.30 + 2 x 20.34 + 11.10 - 27.50 + 54.08 + 17.85 + 90.00
    assert res.amount_total == pytest.approx(15.30 + 2 * 20.34 + 11.10 - 27.50 + 54.08 + 17.85 + 90)
    got = table(db, order="order_id, product")
    assert sorted(set(got["customer_id"])) == ["12583", "13047", "14527", "17850"]
    cancel = got[got["order_id"] == "C536379"].iloc[0]
    assert (cancel["amount"], cancel["quantity"]) == (-27.5, -1.0)
    assert got["product"].str.contains("LANTERN").sum() == 2
    # orders are counted by order id: 17850 bought twice (536365, 536366)
    assert got[got["customer_id"] == "17850"]["order_id"].nunique() == 2
    # the line's country becomes the customer's region (no customers table)
    cust = table(db, "customers", order="customer_id").set_index("customer_id")["region"]
    assert cust.to_dict() == {"12583": "United Kingdom", "13047": "France",
                              "14527": "United Kingdom", "17850": "United Kingdom"}  # fmt: skip
    con = store.connect(db)
    try:
        assert store.get_setting(con, "currency") == "GBP"
        assert store.has_amounts(con)
    finally:
        con.close()
    assert res.currency_reason == "GBP: most lines are from United Kingdom"


def test_drop_duplicates_means_identical_in_every_file_column(tmp_path, db):
    text = LINES + "536370,22729,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0,UK\n"
    res = load_file(write_text(tmp_path / "d.csv", text), db, drop_duplicates=True)
    # the new line differs from 536370's only in StockCode and Country: not a duplicate
    assert (res.duplicates, res.rows_loaded) == (1, 8)


def test_line_total_in_the_file_wins(tmp_path, db):
    text = "order,customer,date,qty,price,total\nA1,7,2024-01-05,2,3.00,5.00\n"
    res = load_file(write_text(tmp_path / "t.csv", text), db)
    assert res.derived == {} and res.mapping["amount"] == "total"
    assert table(db)["amount"].tolist() == [5.0]


@pytest.mark.parametrize(
    ("rows", "amounts"),
    [
        ("A1,1,2024-01-05,-2,3.00\nA2,1,2024-01-06,2,3.00\n", [-6.0, 6.0]),  # negative quantity
        ("退A1,1,2024-01-05,2,3.00\nA2,1,2024-01-06,2,3.00\n", [-6.0, 6.0]),  # return marker
    ],
    ids=["negative-quantity", "return-marker"],
)
def test_returns_get_negative_amounts(tmp_path, db, rows, amounts):
    res = load_file(write_text(tmp_path / "r.csv", "单号,会员ID,日期,数量,单价\n" + rows), db)
    assert sorted(table(db)["amount"]) == amounts and res.returns == 1


def test_cancel_prefix_only_where_plain_numbers_are_the_rule():
    assert detect_cancel_prefix(["536365", "536366", "C536379"])
    assert not detect_cancel_prefix(["C000123", "C000124"])  # every order starts with C
    assert not detect_cancel_prefix(["A1", "A2"])


def test_ids_the_way_people_wrote_them(tmp_path, db):
    text = "customer_id,order_ts,amount\n17850.0,2024-01-05,1\n00001,2024-01-05,2\n007.00,2024-01-06,3\n"
    load_file(write_text(tmp_path / "i.csv", text), db)
    assert sorted(table(db)["customer_id"]) == ["00001", "007", "17850"]


def test_float_ids_from_parquet(tmp_path, db):
    pq = write_parquet(tmp_path / "f.parquet", "select * from (values (17850.0, '2024-01-05', 1.0)) "
                       "t(customer_id, order_ts, amount)")  # fmt: skip
    load_file(pq, db)
    assert table(db)["customer_id"].tolist() == ["17850"]


def test_log_without_money_loads_and_says_so(tmp_path, db):
    res = load_file(
        write_text(tmp_path / "elog.csv", "cust,date\n1,2006-01-01\n2,2006-01-01\n1,2006-02-03\n"),
        db,
    )
    assert (res.rows_loaded, res.customers, res.has_amounts, res.amount_total) == (
        3,
        2,
        False,
        None,
    )
    assert res.to_dict()["has_amounts"] is False
    con = store.connect(db)
    try:
        assert not store.has_amounts(con)
    finally:
        con.close()
    # lines are stored with amount 0 so purchases count; the setting tells the pages
    assert table(db)["amount"].tolist() == [0.0, 0.0, 0.0]
    # a later file with money replaces the flag
    load_file(write_text(tmp_path / "m.csv", "cust,date,amount\n1,2006-01-01,5\n"), db)
    con = store.connect(db)
    try:
        assert store.has_amounts(con)
    finally:
        con.close()


def test_currency_symbol_beats_country_and_choice_beats_both(tmp_path, db):
    text = "customer,date,amount,country\n1,2024-01-05,€5.00,United Kingdom\n"
    assert load_file(write_text(tmp_path / "e.csv", text), db).currency == "EUR"
    res = load_file(write_text(tmp_path / "e.csv", text), db, currency="chf")
    assert res.currency == "CHF"


def test_mapping_step_shows_the_derivation(tmp_path):
    prep = prepare(write_text(tmp_path / "Online Retail.csv", LINES))
    assert prep.derived == {"amount": "Quantity × UnitPrice"}
    assert prep.matches["customer_id"].how == "exact"
    shown = preview(prep)
    assert shown["amount"].round(2).tolist()[:2] == [15.3, 20.34]
    assert shown["customer_id"].tolist()[0] == "17850"


def test_unmappable_wide_file_names_at_most_20_columns(tmp_path, db):
    header = ",".join(f"col{i}" for i in range(10_000))
    path = write_text(tmp_path / "wide.csv", header + "\n" + ",".join("1" * 10_000) + "\n")
    with pytest.raises(DataError) as info:
        load_file(path, db)
    message = str(info.value)
    assert "col19 and 9,980 more" in message and "col20," not in message


def test_recipe_maps_next_months_file_without_remapping(tmp_path, db):
    first = "who,when,paid,memo\n1,2024-01-05,5,x\n"
    res = load_file(write_text(tmp_path / "jan.csv", first), db,
                    mapping={"customer_id": "who", "order_ts": "when", "amount": "paid"},
                    currency="GBP")  # fmt: skip
    assert res.recipe is None
    # same columns in another order: the confirmed mapping and currency are reused
    nxt = "memo,paid,when,who\ny,7,2024-02-05,2\n"
    res = load_file(write_text(tmp_path / "feb.csv", nxt), db, mode="append")
    assert res.recipe == "applied" and res.currency == "GBP"
    assert res.mapping == {"customer_id": "who", "order_ts": "when", "amount": "paid"}
    assert sorted(table(db)["amount"]) == [5.0, 7.0]
    # other columns: mapped afresh, and the differences from the last file (feb) are named
    other = "customer,date,amount\n3,2024-03-05,9\n"
    res = load_file(write_text(tmp_path / "mar.csv", other), db, mode="append")
    assert res.recipe == "changed"
    assert res.columns_changed == {"added": ["customer", "date", "amount"],
                                   "missing": ["memo", "paid", "when", "who"]}  # fmt: skip
    # a recipe is not used when asked not to
    res = load_file(write_text(tmp_path / "apr.csv", other), db, use_recipe=False)
    assert res.recipe is None


def test_quality_report_counts_duplicates_as_the_load_did(tmp_path, db):
    """Two lines of one invoice that differ only in StockCode are not duplicates, although the
    stored columns (without StockCode) look alike; the quality report agrees with the load."""
    from clm_core.ingest import quality

    text = LINES + "536370,22729,ALARM CLOCK BAKELIKE PINK,24,2010-12-01 08:45:00,3.75,12583.0,UK\n"
    res = load_file(write_text(tmp_path / "d.csv", text), db)
    load_file(write_text(tmp_path / "e.csv", LINES), db, mode="append", use_recipe=False)
    con = store.connect(db)
    try:
        overview = quality.table_overview(con).set_index("table")
    finally:
        con.close()
    assert res.duplicates == 1
    assert overview.loc["transactions", "duplicates"] == 2  # 1 + the appended file's 1


def test_day_first_dates_decided_from_the_values_and_said(tmp_path, db):
    text = "CustomerID,InvoiceDate,Amount\n1,05/01/2023 17:27,2\n1,25/01/2023 09:00,3\n"
    res = load_file(write_text(tmp_path / "uk.csv", text), db)
    assert res.date_order == "day first"
    assert [str(t) for t in table(db)["order_ts"]] == ["2023-01-05 17:27:00", "2023-01-25 09:00:00"]
    text = "CustomerID,InvoiceDate,Amount\n1,01/05/2023,2\n1,01/25/2023,3\n"
    assert load_file(write_text(tmp_path / "us.csv", text), db).date_order == "month first"
    text = "CustomerID,InvoiceDate,Amount\n1,20230105,2\n"  # compact dates: no order to choose
    res = load_file(write_text(tmp_path / "c.csv", text), db)
    assert res.date_order is None and res.date_min == "2023-01-05"
