"""SQL expressions that turn raw spreadsheet text into typed values, evaluated by DuckDB.

Every function returns an SQL expression over one source column (already quoted by the caller).
Formats, patterns and tokens are module constants passed as bound parameters (:data:`PARAMS`),
so no value is ever formatted into SQL. DuckDB's ``coalesce`` evaluates its later arguments only
for the rows still NULL, so each expression tries the cheap native cast first and the regular
expressions run only on the rows that need them.

Dates: ISO (``2024-01-05``, ``2024-01-05T13:45:00``), ``2024/1/5``, ``2024/1/5 13:45``,
``20240105``, ``05.01.2024`` (day first), ``2024年1月5日``, slashed ``05/01/2024`` (day or month
first, decided per file by :func:`detect_day_first`) and Excel serial day numbers (5 digits,
days since 1899-12-30). Amounts: currency symbols and codes, spaces, thousands separators,
``(12.00)`` for negatives and, when :func:`detect_decimal_comma` says so for the file,
decimal commas (``1 234,50``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "ALL_DATE_FORMATS",
    "DATE_FORMATS",
    "DATE_MAX",
    "DATE_MIN",
    "NULL_TOKENS",
    "PARAMS",
    "boolean_sql",
    "check_sql",
    "clean_sql",
    "id_sql",
    "date_order",
    "detect_cancel_prefix",
    "detect_day_first",
    "detect_slashed",
    "detect_decimal_comma",
    "number_sql",
    "numbers_plain",
    "params_for",
    "parse_sql",
    "timestamp_sql",
]

# Cells that mean "no value" in exported spreadsheets (compared lower-cased, after trimming).
NULL_TOKENS = ("", "null", "none", "nan", "na", "n/a", "#n/a", "-", "--", "nat", "无", "空")

# Tried in order after DuckDB's own ISO cast; the first that matches wins.
DATE_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y%m%d",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d%H%M%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y-%m-%d %H:%M:%S.%f",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
)
SLASH_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y")
SLASH_MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y")

# Dates outside this range are almost always typing errors or wrongly read numbers.
DATE_MIN = "1900-01-01"
DATE_MAX = "2100-12-31"

BOOLEAN_TRUE = ("true", "t", "yes", "y", "1", "1.0", "是", "已转化", "转化", "converted", "x")
BOOLEAN_FALSE = ("false", "f", "no", "n", "0", "0.0", "否", "未转化", "not converted")

# Currency symbols, codes and every kind of space (thin, no-break) a number may carry.
_AMOUNT_NOISE = r"[\s\x{00a0}\x{202f}'¥￥$€£₹₩元]|rmb|cny|usd|eur|gbp|hkd|jpy|aud|cad|sgd"
_DOT_DECIMAL = r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?|[-+]?\.\d+"
_COMMA_DECIMAL = r"[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?|[-+]?,\d+"

_SPACES = ("' '", "chr(9)")  # SQL literals: space and tab

PARAMS: dict[str, object] = {
    "p_null_tokens": list(NULL_TOKENS),
    "p_null_len": max(len(t.encode()) for t in NULL_TOKENS),
    "p_spaces": " \t\u00a0",
    "p_date_formats": list(DATE_FORMATS),
    "p_slash_dmy": list(SLASH_DAY_FIRST),
    "p_slash_mdy": list(SLASH_MONTH_FIRST),
    "p_excel_serial": r"\d{5}(\.\d+)?",
    "p_excel_epoch": "1899-12-30",
    "p_date_min": DATE_MIN,
    "p_date_max": DATE_MAX,
    "p_amount_noise": _AMOUNT_NOISE,
    "p_dot_decimal": _DOT_DECIMAL,
    "p_comma_decimal": _COMMA_DECIMAL,
    "p_id_float": r"[+-]?\d+\.0+",
    "p_id_zeros": r"\.0+$",
    "p_id_sci": r"[+-]?\d+(\.\d+)?[eE][+-]?\d+",
    "p_cancel_prefix": r"[Cc]\d+",
    "p_true": list(BOOLEAN_TRUE),
    "p_false": list(BOOLEAN_FALSE),
}
# Every single format as its own parameter, for the per-file order of :func:`date_order`.
ALL_DATE_FORMATS = DATE_FORMATS + SLASH_DAY_FIRST + SLASH_MONTH_FIRST
PARAMS.update({f"p_fmt_{i}": f for i, f in enumerate(ALL_DATE_FORMATS)})

_TEXT_TYPES = ("VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR", "BLOB", "JSON")
_NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "REAL", "DOUBLE")  # fmt: skip


def _is_text(src_type: str) -> bool:
    return src_type.upper().startswith(_TEXT_TYPES)


def _is_numeric(src_type: str) -> bool:
    t = src_type.upper()
    return t.startswith(_NUMERIC_TYPES) or t.startswith("DECIMAL")


def params_for(sql: str) -> dict[str, object]:
    """The subset of :data:`PARAMS` an SQL text refers to (DuckDB rejects unused parameters)."""
    used = set(re.findall(r"\$(\w+)", sql))
    return {k: v for k, v in PARAMS.items() if k in used}


def clean_sql(col: str, src_type: str = "VARCHAR") -> str:
    """Step 1: trimmed text, NULL for empty cells and :data:`NULL_TOKENS`; typed sources pass.

    Most cells have no surrounding spaces and are longer than any null token, so the common
    path is four cheap prefix/suffix tests and a length test; ``trim`` and ``lower`` (which
    copy the string) run only on the cells that need them. (Written as one flat CASE over the
    trimmed value: a nested CASE made DuckDB 3x slower here.)
    """
    if not _is_text(src_type):
        return col
    padded = " or ".join(f"starts_with({col}, {s}) or ends_with({col}, {s})" for s in _SPACES)
    v = f"(case when {padded} then trim({col}, $p_spaces) else {col} end)"
    return (
        f"case when strlen({v}) <= $p_null_len and list_contains($p_null_tokens, lower({v})) "
        f"then null else {v} end"
    )


def parse_sql(col: str, canonical_type: str, src_type: str = "VARCHAR", **options) -> str:
    """Step 2: the canonical type from a cleaned column; NULL where the text cannot be read.

    ``options`` (decided per file from a sample): ``day_first`` and ``date_order``
    (:func:`date_order`) for dates, ``decimal_comma`` and ``plain_first``
    (:func:`numbers_plain`) for numbers.
    """
    if canonical_type == "TIMESTAMP":
        return timestamp_sql(col, src_type, day_first=options.get("day_first", False),
                             order=options.get("date_order", ()))  # fmt: skip
    if canonical_type == "DOUBLE":
        return number_sql(col, src_type, decimal_comma=options.get("decimal_comma", False),
                          plain_first=options.get("plain_first", True))  # fmt: skip
    if canonical_type == "BOOLEAN":
        return boolean_sql(col, src_type)
    return col if _is_text(src_type) else f"cast({col} as varchar)"


def check_sql(col: str, canonical_type: str) -> str:
    """Step 3: drop values that parsed but cannot be right (infinite numbers, year 1000)."""
    if canonical_type == "TIMESTAMP":
        return (
            f"case when {col} >= cast($p_date_min as timestamp) "
            f"and {col} < cast($p_date_max as timestamp) + interval 1 day then {col} end"
        )
    if canonical_type == "DOUBLE":
        return f"case when isfinite({col}) then {col} end"
    return col


def _date_parser(v: str, parser: str) -> str:
    if parser == "iso":
        return f"try_cast({v} as timestamp)"
    if parser == "serial":
        return (
            f"case when regexp_full_match({v}, $p_excel_serial) then "
            f"cast($p_excel_epoch as timestamp) "
            f"+ to_microseconds(cast(round(cast({v} as double) * 86400000000) as bigint)) end"
        )
    return f"try_strptime({v}, $p_fmt_{ALL_DATE_FORMATS.index(parser)})"


def timestamp_sql(
    col: str, src_type: str = "VARCHAR", *, day_first: bool = False, order: tuple[str, ...] = ()
) -> str:
    """A TIMESTAMP from a cleaned text column (see the module docstring for the formats).

    A failed parse costs about a microsecond, so the parsers the file's sample needs come
    first (``order``: "iso", "serial" or formats from :data:`ALL_DATE_FORMATS`, most used
    first); every other known format is still tried, last, for the odd row.
    """
    t = src_type.upper()
    if t.startswith(("TIMESTAMP", "DATE")):
        return f"cast({col} as timestamp)"
    v = col if _is_text(t) else f"cast({col} as varchar)"
    slash = "$p_slash_dmy" if day_first else "$p_slash_mdy"
    first = [p for p in order if p in ("iso", "serial") or p in ALL_DATE_FORMATS]
    rest = [p for p in ("iso", "serial") if p not in first]
    parts = [_date_parser(v, p) for p in first + rest]
    parts += [f"try_strptime({v}, $p_date_formats)", f"try_strptime({v}, {slash})"]
    return f"coalesce({', '.join(parts)})"


def number_sql(
    col: str, src_type: str = "VARCHAR", *, decimal_comma: bool = False, plain_first: bool = True
) -> str:
    """A DOUBLE from a cleaned text column; ``(12.00)`` is -12.

    ``plain_first``: try DuckDB's cast before the cleaning regular expressions (right when most
    values are plain numbers; a failed cast costs about a microsecond).
    """
    if _is_numeric(src_type):
        return f"cast({col} as double)"
    if src_type.upper() == "BOOLEAN":
        return f"cast(cast({col} as integer) as double)"
    v = col if _is_text(src_type) else f"cast({col} as varchar)"
    bare = f"regexp_replace(lower({v}), $p_amount_noise, '', 'g')"
    bare = f"replace(replace({bare}, '(', ''), ')', '')"
    if decimal_comma:
        value = (
            f"case when regexp_full_match({bare}, $p_comma_decimal) then "
            f"try_cast(replace(replace({bare}, '.', ''), ',', '.') as double) end"
        )
    else:
        slow = (
            f"case when regexp_full_match({bare}, $p_dot_decimal) then "
            f"try_cast(replace({bare}, ',', '') as double) end"
        )
        value = f"coalesce(try_cast({v} as double), {slow})" if plain_first else slow
    return f"case when contains({v}, '(') then -abs({value}) else {value} end"


def id_sql(col: str, src_type: str = "VARCHAR") -> str:
    """An id as people wrote it: ``17850.0`` (a spreadsheet's float) is ``17850``, leading zeros
    stay (``00001``), and ``1.785E+04`` (a number Excel turned into scientific notation, whose
    digits may be lost) is NULL, so the row is refused with a reason instead of mangled."""
    v = col if _is_text(src_type) else f"cast({col} as varchar)"
    return (
        f"case when not (contains({v}, '.') or contains({v}, 'e') or contains({v}, 'E')) "
        f"then {v} "
        f"when regexp_full_match({v}, $p_id_float) then regexp_replace({v}, $p_id_zeros, '') "
        f"when regexp_full_match({v}, $p_id_sci) then null else {v} end"
    )


_CANCEL_ID = re.compile(r"^[Cc]\d+$")
_PLAIN_ID = re.compile(r"^\d+$")


def detect_cancel_prefix(order_ids: Iterable[object]) -> bool:
    """True when the sample's order numbers are digits and some carry a ``C`` prefix: the
    cancellations of UCI Online Retail and many ERP exports (``C536379`` cancels an invoice).
    Ids that all start with a letter (``C000123`` for every order) mark nothing."""
    cancel = plain = 0
    for value in order_ids:
        text = str(value).strip() if value is not None else ""
        if _PLAIN_ID.match(text):
            plain += 1
        elif _CANCEL_ID.match(text):
            cancel += 1
    return cancel > 0 and plain > cancel


def boolean_sql(col: str, src_type: str = "VARCHAR") -> str:
    """TRUE/FALSE from yes/no, 1/0, true/false, 是/否 ...; NULL for anything else."""
    if src_type.upper() == "BOOLEAN":
        return col
    if _is_numeric(src_type):
        return f"case when {col} = 1 then true when {col} = 0 then false end"
    return (
        f"case when list_contains($p_true, lower({col})) then true "
        f"when list_contains($p_false, lower({col})) then false end"
    )


_COMMA_EVIDENCE = re.compile(r"^[-+(]?\d{1,3}(\.\d{3})*,\d{1,2}\)?$|^[-+(]?\d+,\d{1,2}\)?$")
_DOT_EVIDENCE = re.compile(r"^[-+(]?\d{1,3}(,\d{3})*\.\d{1,2}\)?$|^[-+(]?\d+\.\d{1,2}\)?$")
_NOISE = re.compile(r"[\s\u00a0\u202f'¥￥$€£₹₩元]|rmb|cny|usd|eur|gbp|hkd|jpy|aud|cad|sgd", re.I)


def detect_decimal_comma(values: Iterable[object]) -> bool:
    """True when the sample's numbers use a decimal comma (``1 234,50``, ``12,5``).

    Counts values whose last separator is a comma followed by one or two digits against values
    whose last separator is such a dot; ``1,234`` (three digits) says nothing either way.
    """
    comma = dot = 0
    for value in values:
        if value is None:
            continue
        text = _NOISE.sub("", str(value))
        if _COMMA_EVIDENCE.match(text):
            comma += 1
        elif _DOT_EVIDENCE.match(text):
            dot += 1
    return comma > dot


_SLASHED = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/\d{2,4}")


def detect_slashed(values: Iterable[object]) -> bool:
    """True when the sample writes dates with slashes (05/01/2023), in either order."""
    return any(_SLASHED.match(str(v)) for v in values if v is not None)


def detect_day_first(values: Iterable[object]) -> bool:
    """True when slashed dates in the sample put the day first (some first part above 12)."""
    day_first = month_first = 0
    for value in values:
        m = _SLASHED.match(str(value)) if value is not None else None
        if not m:
            continue
        a, b = int(m.group(1)), int(m.group(2))
        if a > 12 >= b:
            day_first += 1
        elif b > 12 >= a:
            month_first += 1
    return day_first > month_first


_ISO = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")


def date_order(values: Iterable[object], *, day_first: bool = False, limit: int = 300) -> tuple:
    """Parsers for :func:`timestamp_sql`, most used by the sample's distinct values first.

    Python's ``strptime`` stands in for DuckDB's here; a wrong guess only costs speed.
    """
    import datetime as _dt

    slash = SLASH_DAY_FIRST if day_first else SLASH_MONTH_FIRST
    counts: dict[str, int] = {}
    seen = 0
    for value in dict.fromkeys(str(v).strip() for v in values if v is not None):
        if seen >= limit:
            break
        seen += 1
        if _ISO.match(value) or value[:4].isdigit() and value[4:5] == "/":
            found = "iso"  # DuckDB's cast also reads 2024/1/5
        elif _SERIAL.match(value):
            found = "serial"
        else:
            found = None
            for fmt in DATE_FORMATS + slash:
                try:
                    _dt.datetime.strptime(value, fmt)
                except ValueError:
                    continue
                found = fmt
                break
        if found:
            counts[found] = counts.get(found, 0) + 1
    return tuple(sorted(counts, key=lambda k: -counts[k]))


def numbers_plain(values: Iterable[object], *, limit: int = 300) -> bool:
    """True when most sampled values are plain numbers DuckDB casts directly (no symbols)."""
    plain = other = 0
    for value in list(dict.fromkeys(str(v).strip() for v in values if v is not None))[:limit]:
        try:
            float(value)
            plain += 1
        except ValueError:
            other += 1
    return plain >= other
