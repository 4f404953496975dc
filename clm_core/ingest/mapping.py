"""Column mapping: which file column feeds which canonical column, from English/Chinese synonyms.

A mapping is ``{canonical: source}`` (canonical names from :data:`clm_core.config.SCHEMAS`, source
names as the file's header shows them). :func:`auto_map` proposes one; the user confirms it on
the Data page or overrides entries with ``--map canonical=source``. Synonyms are data: pass
``synonyms=`` to use your own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from clm_core.config import REQUIRED_COLUMNS, input_schema
from clm_core.errors import UsageError

__all__ = [
    "COMMON_SYNONYMS",
    "SYNONYMS",
    "Match",
    "apply_overrides",
    "auto_map",
    "match_columns",
    "name_list",
    "normalize",
    "parse_map_args",
    "required_missing",
]

# Synonyms shared by every table (earlier entries win ties).
COMMON_SYNONYMS: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customer_id", "customer id", "customerid", "cust_id", "custid", "cust", "cust no",
        "customer no",
        "customer number", "customer_no", "customer code", "client_id", "client id", "member_id",
        "member id", "member no", "user_id", "user id", "userid", "buyer_id", "account_id",
        "contact_id", "shopper_id", "household_id", "household key", "cid", "uid", "customer",
        "client", "member", "buyer", "shopper", "household",
        "客户编号", "客户id", "客户号", "客户代码", "客户编码", "会员号", "会员编号", "会员id",
        "会员卡号", "用户id", "用户编号", "用户号", "买家id", "买家昵称", "买家账号", "顾客编号",
        "顾客id", "客户",
        "会员", "用户", "买家", "顾客",
    ),
    "channel": (
        "channel", "sales channel", "order channel", "source", "platform", "medium",
        "渠道", "销售渠道", "下单渠道", "订单渠道", "来源", "平台", "触达渠道",
    ),
}  # fmt: skip

SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "transactions": {
        "customer_id": COMMON_SYNONYMS["customer_id"],
        "order_id": (
            "order_id",
            "order id",
            "orderid",
            "order no",
            "order number",
            "order_no",
            "transaction_id",
            "transaction id",
            "txn_id",
            "invoice",
            "invoice no",
            "invoice number",
            "invoice_id",
            "receipt no",
            "receipt",
            "bill no",
            "basket id",
            "订单号",
            "订单编号",
            "订单id",
            "单号",
            "交易号",
            "交易编号",
            "流水号",
            "发票号",
            "小票号",
            "单据号",
            "单据编号",
            "订单编码",
        ),
        "order_ts": (
            "order_ts",
            "order date",
            "order_date",
            "order time",
            "order_time",
            "orderdate",
            "purchase date",
            "purchase_date",
            "transaction date",
            "transaction_date",
            "txn_date",
            "invoice date",
            "timestamp",
            "datetime",
            "date",
            "time",
            "created_at",
            "paid_at",
            "下单时间",
            "订单日期",
            "交易日期",
            "交易时间",
            "购买日期",
            "购买时间",
            "支付时间",
            "付款时间",
            "订单时间",
            "下单日期",
            "成交时间",
            "日期",
            "时间",
        ),
        "amount": (
            "amount",
            "revenue",
            "sales",
            "net amount",
            "net_amount",
            "paid amount",
            "paid_amount",
            "total",
            "order total",
            "order_total",
            "total amount",
            "value",
            "price paid",
            "gmv",
            "spend",
            "payment",
            "line total",
            "line amount",
            "dollar value",
            "dollars",
            "小计",
            "金额小计",
            "实付金额",
            "实收金额",
            "支付金额",
            "付款金额",
            "订单金额",
            "成交金额",
            "交易金额",
            "销售额",
            "销售金额",
            "金额",
            "实付",
            "营业额",
            "收入",
        ),
        "quantity": (
            "quantity",
            "qty",
            "units",
            "count",
            "items",
            "pieces",
            "number of items",
            "number of units",
            "number of cds",
            "数量",
            "件数",
            "购买数量",
            "商品数量",
            "销量",
        ),
        "product": (
            "product",
            "product name",
            "product_name",
            "item",
            "item name",
            "sku",
            "product_id",
            "description",
            "item description",
            "stockcode",
            "stock code",
            "goods",
            "商品",
            "商品名称",
            "商品编码",
            "商品编号",
            "货号",
            "产品",
            "产品名称",
            "品名",
            "货品",
            "sku编码",
        ),
        "category": (
            "category",
            "product category",
            "product_category",
            "department",
            "class",
            "品类",
            "类目",
            "商品类目",
            "分类",
            "商品分类",
            "类别",
        ),
        "channel": COMMON_SYNONYMS["channel"],
        "discount": (
            "discount",
            "discount amount",
            "discount_amount",
            "coupon",
            "promo",
            "rebate",
            "折扣",
            "优惠",
            "优惠金额",
            "折扣金额",
            "优惠券",
            "券",
            "让利",
        ),
        "unit_price": (
            "unit_price",
            "unit price",
            "unitprice",
            "price",
            "price each",
            "item price",
            "sale price",
            "selling price",
            "unit cost",
            "单价",
            "成交单价",
            "商品单价",
            "销售单价",
            "售价",
            "价格",
            "成交价",
        ),
        "region": (
            "country",
            "region",
            "city",
            "province",
            "state",
            "ship country",
            "shipping country",
            "国家",
            "地区",
            "区域",
            "城市",
            "省份",
            "收货省份",
            "收货城市",
        ),
    },
    "customers": {
        "customer_id": COMMON_SYNONYMS["customer_id"],
        "signup_ts": (
            "signup_ts",
            "signup date",
            "signup_date",
            "sign up date",
            "registered",
            "registration date",
            "register_date",
            "join date",
            "joined",
            "created_at",
            "first seen",
            "date",
            "注册时间",
            "注册日期",
            "入会时间",
            "入会日期",
            "开卡日期",
            "加入日期",
            "创建时间",
            "首次时间",
        ),
        "acquisition_channel": (
            "acquisition_channel",
            "acquisition channel",
            "source",
            "signup channel",
            "utm_source",
            "channel",
            "获客渠道",
            "来源渠道",
            "注册渠道",
            "渠道",
            "来源",
        ),
        "acquisition_cost": (
            "acquisition_cost",
            "acquisition cost",
            "cac",
            "cost",
            "获客成本",
            "拉新成本",
            "成本",
        ),
        "region": (
            "region",
            "city",
            "province",
            "state",
            "country",
            "area",
            "location",
            "地区",
            "区域",
            "城市",
            "省份",
            "省",
            "地域",
            "所在地",
        ),
        "name": (
            "name",
            "customer name",
            "customer_name",
            "full name",
            "full_name",
            "contact",
            "姓名",
            "客户名称",
            "客户姓名",
            "名称",
            "会员姓名",
            "联系人",
        ),
        "email": ("email", "e-mail", "email address", "mail", "邮箱", "电子邮箱", "电子邮件"),
        "phone": (
            "phone",
            "phone number",
            "mobile",
            "mobile phone",
            "telephone",
            "tel",
            "cell",
            "手机",
            "手机号",
            "手机号码",
            "电话",
            "联系电话",
            "联系方式",
        ),
        "owner": (
            "owner",
            "account manager",
            "account_manager",
            "sales rep",
            "salesperson",
            "rep",
            "客户经理",
            "负责人",
            "销售",
            "归属人",
            "专属顾问",
        ),
    },
    "events": {
        "customer_id": COMMON_SYNONYMS["customer_id"],
        "event_name": (
            "event_name",
            "event",
            "event name",
            "action",
            "event type",
            "event_type",
            "step",
            "activity",
            "事件",
            "事件名称",
            "行为",
            "行为类型",
            "动作",
            "步骤",
        ),
        "event_ts": (
            "event_ts",
            "event time",
            "event_time",
            "timestamp",
            "datetime",
            "date",
            "time",
            "occurred_at",
            "created_at",
            "事件时间",
            "发生时间",
            "行为时间",
            "时间",
            "日期",
        ),
        "channel": COMMON_SYNONYMS["channel"] + ("device", "设备", "终端"),
    },
    "campaigns": {
        "customer_id": COMMON_SYNONYMS["customer_id"],
        "campaign": (
            "campaign",
            "campaign name",
            "campaign_name",
            "campaign_id",
            "activity",
            "promotion",
            "活动",
            "活动名称",
            "营销活动",
            "活动编号",
        ),
        "variant": (
            "variant",
            "group",
            "arm",
            "test group",
            "treatment",
            "cell",
            "版本",
            "分组",
            "组别",
            "实验组",
            "测试组",
        ),
        "sent_ts": (
            "sent_ts",
            "sent at",
            "sent_at",
            "send date",
            "send time",
            "sent date",
            "date",
            "time",
            "发送时间",
            "触达时间",
            "发送日期",
            "推送时间",
            "日期",
            "时间",
        ),
        "channel": COMMON_SYNONYMS["channel"],
        "cost": ("cost", "campaign cost", "spend", "成本", "费用", "花费", "投入"),
        "converted": (
            "converted",
            "conversion",
            "is_converted",
            "purchased",
            "responded",
            "response",
            "是否转化",
            "转化",
            "是否购买",
            "是否响应",
            "响应",
        ),
        "revenue": (
            "revenue",
            "conversion revenue",
            "sales",
            "amount",
            "value",
            "收入",
            "转化金额",
            "销售额",
            "金额",
            "营收",
        ),
    },
    "feedback": {
        "customer_id": COMMON_SYNONYMS["customer_id"],
        "created_ts": (
            "created_ts",
            "created at",
            "created_at",
            "date",
            "time",
            "submitted",
            "timestamp",
            "反馈时间",
            "提交时间",
            "创建时间",
            "投诉时间",
            "日期",
            "时间",
        ),
        "kind": (
            "kind",
            "type",
            "category",
            "feedback type",
            "feedback_type",
            "类型",
            "反馈类型",
            "类别",
            "种类",
        ),
        "score": (
            "score",
            "rating",
            "csat",
            "nps",
            "satisfaction",
            "stars",
            "评分",
            "分数",
            "满意度",
            "打分",
            "星级",
        ),
        "text": (
            "text",
            "comment",
            "comments",
            "feedback",
            "message",
            "content",
            "review",
            "remark",
            "内容",
            "反馈内容",
            "评价",
            "评论",
            "意见",
            "备注",
            "投诉内容",
        ),
    },
}

_DROP = re.compile(r"[\s_\-./:：·()（）\[\]【】]+")


def normalize(name: object) -> str:
    """Header text for matching: NFKC (full-width to half-width), lower case, no spaces/_-./()."""
    text = unicodedata.normalize("NFKC", str(name)).strip().lower().lstrip("\ufeff")
    return _DROP.sub("", text)


@dataclass(frozen=True)
class Match:
    """Why a file column was proposed for a canonical column.

    ``how``: "exact" (the header is a synonym, after :func:`normalize`), "contains" (the header
    contains a synonym: "实付金额(元)") or "similar" (a near spelling: "Custmer ID").
    ``confidence`` in 0..1, shown to the analyst who confirms the mapping.
    """

    source: str
    how: str
    confidence: float
    synonym: str


_FUZZY_CUTOFF = 85.0  # rapidfuzz ratio (0-100) for a near spelling


def _match(norm: str, words: list[str]) -> tuple[float, str, float, str] | None:
    """(score, how, confidence, synonym) of the best synonym for one normalised header."""
    best = None
    for rank, word in enumerate(words):
        if not word:
            continue
        if norm == word:
            found = (1000.0 - rank, "exact", 1.0, word)
        elif len(word) >= (4 if word.isascii() else 2) and word in norm:
            # Longer synonyms contained in the header are stronger evidence.
            found = (
                500.0 + 10 * len(word) - rank,
                "contains",
                round(min(0.9, 0.5 + len(word) / len(norm) / 2), 2),
                word,
            )
        else:
            continue
        if best is None or found[0] > best[0]:
            best = found
    if best is not None or not norm.isascii() or len(norm) < 4:
        return best
    from rapidfuzz import fuzz, process

    hit = process.extractOne(norm, [w for w in words if w.isascii() and len(w) >= 4],
                             scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)  # fmt: skip
    if hit is None:
        return None
    return 100.0 + hit[1], "similar", round(hit[1] / 100 * 0.8, 2), hit[0]


def match_columns(
    columns: Iterable[str],
    table: str = "transactions",
    *,
    synonyms: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> dict[str, Match]:
    """Propose ``{canonical: Match}`` for the file's ``columns``.

    An exact (normalized) match beats a header that merely contains a synonym, which beats a
    near spelling (rapidfuzz ratio >= 85, ASCII headers); among equals the synonym listed first
    wins. Each source column is used once, for the best-scoring canonical column.
    """
    table_syn = (synonyms or SYNONYMS)[table]
    order = list(input_schema(table))
    words = {c: [normalize(w) for w in ws] for c, ws in table_syn.items() if c in order}
    candidates = []  # (-score, canonical order, column order, canonical, Match)
    for c_idx, column in enumerate(columns):
        norm = normalize(column)
        if not norm:
            continue
        for canonical, ws in words.items():
            found = _match(norm, ws)
            if found:
                score, how, confidence, word = found
                candidates.append((-score, order.index(canonical), c_idx, canonical,
                                   Match(column, how, confidence, word)))  # fmt: skip
    out: dict[str, Match] = {}
    used: set[str] = set()
    for *_, canonical, match in sorted(candidates, key=lambda c: c[:3]):
        if canonical in out or match.source in used:
            continue
        out[canonical] = match
        used.add(match.source)
    return {c: out[c] for c in order if c in out}


def auto_map(
    columns: Iterable[str],
    table: str = "transactions",
    *,
    synonyms: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> dict[str, str]:
    """Propose ``{canonical: source}`` for the file's ``columns`` (see :func:`match_columns`)."""
    return {c: m.source for c, m in match_columns(columns, table, synonyms=synonyms).items()}


def name_list(names: Iterable[str], limit: int = 20) -> str:
    """Names for a message: the first ``limit``, then "and N more" (a file may have 10,000)."""
    names = list(names)
    shown = ", ".join(str(n) for n in names[:limit])
    return f"{shown} and {len(names) - limit:,} more" if len(names) > limit else shown


def parse_map_args(items: Iterable[str] | None) -> dict[str, str]:
    """``["amount=实付金额", ...]`` from ``--map`` into ``{"amount": "实付金额"}``."""
    out: dict[str, str] = {}
    for item in items or ():
        canonical, sep, source = str(item).partition("=")
        if not sep or not canonical.strip():
            raise UsageError(f"--map takes canonical=source, not {item!r}")
        out[canonical.strip()] = source.strip()
    return out


def apply_overrides(
    mapping: Mapping[str, str],
    overrides: Mapping[str, str | None],
    columns: Iterable[str],
    table: str,
) -> dict[str, str]:
    """The mapping with the user's choices applied; an empty source unmaps the column.

    Raises UsageError for an unknown canonical column or a source the file does not have.
    A source chosen explicitly is taken away from any column auto-mapping gave it to.
    """
    columns = list(columns)
    schema = input_schema(table)
    out = dict(mapping)
    for canonical, source in overrides.items():
        if canonical not in schema:
            raise UsageError(
                f"{canonical!r} is not a column of {table}; columns: {name_list(schema)}"
            )
        if not source:
            out.pop(canonical, None)
            continue
        if source not in columns:
            raise UsageError(
                f"the file has no column {source!r} (for {canonical}); columns: {name_list(columns)}"
            )
        for other, src in list(out.items()):
            if src == source and other != canonical and other not in overrides:
                del out[other]
        out[canonical] = source
    return {c: out[c] for c in schema if c in out}


def required_missing(mapping: Mapping[str, str], table: str) -> list[str]:
    """Required canonical columns (config.REQUIRED_COLUMNS) the mapping does not provide."""
    return [c for c in REQUIRED_COLUMNS[table] if c not in mapping]
