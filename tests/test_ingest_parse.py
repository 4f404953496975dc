"""Value parsing in SQL: dates, amounts, yes/no, with hand-checked answers and properties."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clm_core.ingest import parse


def _run(values, ctype, **opts):
    """Parse ``values`` (text) through clean -> parse -> check, as the loader does."""
    con = duckdb.connect()
    con.execute("create table t (i integer, s varchar)")
    con.executemany("insert into t values (?, ?)", list(enumerate(values)))
    c = parse.clean_sql("s")
    p = parse.parse_sql("c", ctype, **opts)
    v = parse.check_sql("p", ctype)
    sql = f"select {v} from (select i, {p} as p from (select i, {c} as c from t)) order by i"
    out = [r[0] for r in con.execute(sql, parse.params_for(sql)).fetchall()]
    con.close()
    return out


D = dt.datetime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05", D(2024, 1, 5)),
        ("2024-01-05 13:45:10", D(2024, 1, 5, 13, 45, 10)),
        ("2024-01-05T13:45:10", D(2024, 1, 5, 13, 45, 10)),
        ("2024/1/5", D(2024, 1, 5)),
        ("2024/1/5 13:45", D(2024, 1, 5, 13, 45)),
        ("2024/01/05 13:45:10", D(2024, 1, 5, 13, 45, 10)),
        ("20240105", D(2024, 1, 5)),
        ("05.01.2024", D(2024, 1, 5)),
        ("05.01.2024 08:30", D(2024, 1, 5, 8, 30)),
        ("2024年1月5日", D(2024, 1, 5)),
        ("45296", D(2024, 1, 5)),
        ("45296.75", D(2024, 1, 5, 18, 0)),
        (" 2024-01-05 ", D(2024, 1, 5)),
        ("01/05/2024", D(2024, 1, 5)),
    ],
    ids=["iso", "iso-time", "iso-T", "slash", "slash-time", "slash-padded-sec", "compact",
         "dotted", "dotted-time", "chinese", "excel-serial", "excel-serial-time", "spaces",
         "us-slash"],
)  # fmt: skip
def test_dates(text, expected):
    assert _run([text], "TIMESTAMP") == [expected]


def test_slashed_dates_day_first_when_the_file_says_so():
    assert _run(["05/01/2024", "31/12/2023"], "TIMESTAMP", day_first=True) == [
        D(2024, 1, 5),
        D(2023, 12, 31),
    ]
    assert parse.detect_day_first(["05/01/2024", "31/12/2023", "01/02/2024"]) is True
    assert parse.detect_day_first(["12/31/2023", "01/05/2024"]) is False


@pytest.mark.parametrize(
    "text",
    ["abc", "2024-13-45", "0001-01-01", "2024/02/30", "123", "31/31/2024", "99999999"],
    ids=["word", "bad-month", "year-1", "feb-30", "short-number", "bad-slash", "bad-compact"],
)
def test_dates_that_are_not_dates(text):
    assert _run([text], "TIMESTAMP") == [None]


def test_null_tokens_are_missing_not_errors():
    assert _run(["", "  ", "NULL", "n/a", "-", None], "TIMESTAMP") == [None] * 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.50", 1234.5),
        ("¥1,234.50", 1234.5),
        ("￥1,234.50", 1234.5),
        ("$ 12.00", 12.0),
        ("USD 1,000", 1000.0),
        ("12元", 12.0),
        ("-5", -5.0),
        ("-¥3.50", -3.5),
        ("(12.00)", -12.0),
        ("$(1,200.00)", -1200.0),
        ("1\u00a0234.5", 1234.5),
        ("0", 0.0),
    ],
    ids=["plain", "yuan", "fullwidth-yuan", "dollar-space", "code", "chinese-unit", "negative",
         "negative-symbol", "parens", "dollar-parens", "nbsp", "zero"],
)  # fmt: skip
def test_amounts_decimal_point(text, expected):
    assert _run([text], "DOUBLE") == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 234,50", 1234.5), ("1.234,50", 1234.5), ("12,5", 12.5), ("€ 3,99", 3.99), ("-7,25", -7.25),
     ("1234", 1234.0)],
    ids=["space-thousands", "dot-thousands", "short", "euro", "negative", "integer"],
)  # fmt: skip
def test_amounts_decimal_comma(text, expected):
    assert _run([text], "DOUBLE", decimal_comma=True) == [expected]


@pytest.mark.parametrize("text", ["abc", "1,2,3", "inf", "nan", "12 34 x", "1.2.3", "--5"])
def test_amounts_that_are_not_numbers(text):
    assert _run([text], "DOUBLE") == [None]


def test_decimal_comma_detection():
    assert parse.detect_decimal_comma(["1 234,50", "12,00", "3,5"]) is True
    assert parse.detect_decimal_comma(["1,234.50", "12.00", "3"]) is False
    # "1,234" alone is ambiguous and must not flip a file to decimal commas
    assert parse.detect_decimal_comma(["1,234", "2,000", "5.50"]) is False


def test_booleans():
    values = ["yes", "No", "1", "0", "是", "否", "TRUE", "maybe", ""]
    assert _run(values, "BOOLEAN") == [True, False, True, False, True, False, True, None, None]


@settings(max_examples=60, deadline=None)
@given(
    day=st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 12, 31)),
    fmt=st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%d.%m.%Y", "%Y年%m月%d日"]),
)
def test_dates_round_trip(day, fmt):
    assert _run([day.strftime(fmt)], "TIMESTAMP") == [D(day.year, day.month, day.day)]


@settings(max_examples=60, deadline=None)
@given(
    cents=st.integers(min_value=-(10**11), max_value=10**11),
    symbol=st.sampled_from(["", "¥", "$ "]),
)
def test_amounts_round_trip_with_thousands(cents, symbol):
    value = cents / 100
    text = f"{symbol}{value:,.2f}"
    comma = f"{value:,.2f}".replace(",", " ").replace(".", ",")
    assert _run([text], "DOUBLE") == [pytest.approx(value)]
    assert _run([comma], "DOUBLE", decimal_comma=True) == [pytest.approx(value)]


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_any_text_parses_to_a_value_or_null_never_an_error(texts):
    """Whatever a cell holds, the parsers give a value or NULL (reported as a bad cell)."""
    amounts = _run(texts, "DOUBLE")
    assert len(amounts) == len(texts)
    assert all(a is None or (isinstance(a, float) and a == a and abs(a) != float("inf"))
               for a in amounts)  # fmt: skip
    dates = _run(texts, "TIMESTAMP")
    assert all(d is None or isinstance(d, dt.datetime) for d in dates)


@settings(max_examples=80, deadline=None)
@given(
    headers=st.lists(
        st.one_of(
            st.text(max_size=20),
            st.sampled_from(["客户ID", "订单号", "下单时间", "实付金额(元)", "amount", "Order Date",
                             "customer_id", "渠道", "'; drop table t; --", '"x"']),
        ),
        max_size=12,
    )
)  # fmt: skip
def test_column_mapper_on_any_headers(headers):
    """Every proposal names a real header, never uses a header twice, and is stable."""
    from clm_core.config import SCHEMAS
    from clm_core.ingest import mapping

    for table in SCHEMAS:
        proposal = mapping.auto_map(headers, table)
        assert set(proposal) <= set(SCHEMAS[table])
        assert set(proposal.values()) <= set(headers)
        assert len(set(proposal.values())) == len(proposal)
        assert mapping.auto_map(headers, table) == proposal
