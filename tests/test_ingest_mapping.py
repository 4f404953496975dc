"""Column auto-mapping from English and Chinese headers, and user overrides."""

from __future__ import annotations

import pytest

from clm_core.config import SCHEMAS, input_schema
from clm_core.errors import UsageError
from clm_core.ingest.mapping import (
    SYNONYMS,
    apply_overrides,
    auto_map,
    match_columns,
    name_list,
    normalize,
    parse_map_args,
    required_missing,
)


def test_chinese_headers():
    cols = ["客户编号", "订单号", "下单时间", "实付金额", "渠道", "数量", "商品名称", "优惠金额"]
    assert auto_map(cols) == {
        "customer_id": "客户编号",
        "order_id": "订单号",
        "order_ts": "下单时间",
        "amount": "实付金额",
        "quantity": "数量",
        "product": "商品名称",
        "channel": "渠道",
        "discount": "优惠金额",
    }


@pytest.mark.parametrize(
    ("cols", "expected"),
    [
        (["Customer ID", "Order Date", "Revenue"],
         {"customer_id": "Customer ID", "order_ts": "Order Date", "amount": "Revenue"}),
        (["会员号", "交易日期", "销售额"],
         {"customer_id": "会员号", "order_ts": "交易日期", "amount": "销售额"}),
        (["客户ID", "订单日期", "金额"],
         {"customer_id": "客户ID", "order_ts": "订单日期", "amount": "金额"}),
        (["customer", "date", "amount", "channel", "qty"],
         {"customer_id": "customer", "order_ts": "date", "amount": "amount",
          "quantity": "qty", "channel": "channel"}),
    ],
    ids=["english", "member-chinese", "id-chinese", "short-english"],
)  # fmt: skip
def test_common_headers(cols, expected):
    assert auto_map(cols) == expected


def test_exact_beats_contains_and_each_source_used_once():
    # "实付金额(元)" only contains a synonym; "金额" is one exactly
    cols = ["客户编号", "下单时间", "金额", "实付金额(元)"]
    assert auto_map(cols)["amount"] == "金额"
    assert auto_map(["客户编号", "下单时间", "实付金额(元)"])["amount"] == "实付金额(元)"
    # one source column never feeds two canonical columns
    m = auto_map(["客户", "日期", "金额", "优惠金额"])
    assert m["discount"] == "优惠金额" and m["amount"] == "金额"
    cols = ["客户编号", "下单时间", "实付金额", "金额"]
    assert auto_map(cols)["amount"] == "实付金额"


def test_full_width_and_spacing_normalised():
    assert normalize("  Customer_ID ") == normalize("customer id") == "customerid"
    assert normalize("（实付金额）") == "实付金额"
    assert (
        auto_map(["ＣＵＳＴＯＭＥＲ＿ＩＤ", "ORDER-DATE", "Amount"])["customer_id"]
        == "ＣＵＳＴＯＭＥＲ＿ＩＤ"
    )


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_every_canonical_column_has_synonyms_and_maps_to_itself(table):
    assert set(SYNONYMS[table]) == set(input_schema(table))
    cols = list(input_schema(table))
    assert auto_map(cols, table) == {c: c for c in cols}


@pytest.mark.parametrize(
    ("table", "cols", "expected"),
    [
        ("customers", ["会员号", "注册时间", "获客渠道", "获客成本", "城市", "姓名", "邮箱", "手机号", "客户经理"],
         ["customer_id", "signup_ts", "acquisition_channel", "acquisition_cost", "region", "name",
          "email", "phone", "owner"]),
        ("events", ["用户ID", "事件", "发生时间", "渠道"],
         ["customer_id", "event_name", "event_ts", "channel"]),
        ("campaigns", ["客户编号", "活动名称", "分组", "发送时间", "渠道", "成本", "是否转化", "转化金额"],
         ["customer_id", "campaign", "variant", "sent_ts", "channel", "cost", "converted",
          "revenue"]),
        ("feedback", ["客户编号", "反馈时间", "反馈类型", "评分", "反馈内容"],
         ["customer_id", "created_ts", "kind", "score", "text"]),
    ],
    ids=["customers", "events", "campaigns", "feedback"],
)  # fmt: skip
def test_chinese_headers_other_tables(table, cols, expected):
    assert auto_map(cols, table) == dict(zip(expected, cols, strict=True))


def test_overrides():
    cols = ["klant", "when", "paid", "amount"]
    auto = auto_map(cols)
    assert "customer_id" not in auto
    m = apply_overrides(auto, {"customer_id": "klant", "order_ts": "when", "amount": "paid"}, cols,
                        "transactions")  # fmt: skip
    assert m == {"customer_id": "klant", "order_ts": "when", "amount": "paid"}
    assert apply_overrides(m, {"order_ts": None}, cols, "transactions") == {
        "customer_id": "klant",
        "amount": "paid",
    }
    # money is optional: a purchase log of customer and date loads
    assert required_missing({"customer_id": "cust"}, "transactions") == ["order_ts"]


def test_bad_overrides_are_usage_errors():
    with pytest.raises(UsageError, match="not a column of transactions"):
        apply_overrides({}, {"amout": "x"}, ["x"], "transactions")
    with pytest.raises(UsageError, match="no column 'nope'"):
        apply_overrides({}, {"amount": "nope"}, ["x"], "transactions")
    with pytest.raises(UsageError, match="canonical=source"):
        parse_map_args(["amount"])
    assert parse_map_args(["amount=实付 金额", "customer_id = 会员号"]) == {
        "amount": "实付 金额",
        "customer_id": "会员号",
    }


@pytest.mark.parametrize(
    ("header", "canonical"),
    [("cust", "customer_id"), ("Customer ID", "customer_id"), ("会员ID", "customer_id"),
     ("买家ID", "customer_id"), ("用户ID", "customer_id"), ("Invoice", "order_id"),
     ("InvoiceNo", "order_id"), ("InvoiceDate", "order_ts"), ("UnitPrice", "unit_price"),
     ("Unit Price", "unit_price"), ("Price", "unit_price"), ("单价", "unit_price"),
     ("成交单价", "unit_price"), ("商品单价", "unit_price"), ("Description", "product"),
     ("StockCode", "product"), ("商品名称", "product"), ("商品编码", "product"),
     ("Country", "region"), ("dollar_value", "amount"), ("number_of_cds", "quantity")],
)  # fmt: skip
def test_real_world_headers(header, canonical):
    assert auto_map([header]) == {canonical: header}


def test_online_retail_header_maps_whole_line_items():
    cols = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    assert auto_map(cols.split(",")) == {
        "customer_id": "CustomerID", "order_id": "InvoiceNo", "order_ts": "InvoiceDate",
        "quantity": "Quantity", "product": "Description", "unit_price": "UnitPrice",
        "region": "Country",
    }  # fmt: skip


def test_match_confidence_exact_contains_similar():
    found = match_columns(["Cusotmer Id", "Ordr Date", "实付金额(元)"])
    assert found["customer_id"].how == "similar" and 0.6 < found["customer_id"].confidence < 0.8
    assert found["order_ts"].how == "contains" and found["order_ts"].synonym == "date"
    assert found["amount"].how == "contains" and found["amount"].confidence == 0.9
    assert match_columns(["CustomerID"])["customer_id"].confidence == 1.0
    # nothing alike: no guess
    assert match_columns(["zzzz", "qqqq"]) == {}


def test_name_list_caps_long_column_lists():
    assert name_list(["a", "b"]) == "a, b"
    text = name_list([f"c{i}" for i in range(10_000)])
    assert text.startswith("c0, c1, ") and text.endswith("c19 and 9,980 more")
