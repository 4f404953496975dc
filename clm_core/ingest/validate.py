"""Parse and check every row in one DuckDB pass; find the file row of each unusable row.

:func:`stage_sql` builds the statement that reads the source relation (columns ``c0..cN``),
parses every mapped column (:mod:`clm_core.ingest.parse`) and marks each cell that cannot be
used with a reason. The raw text of all columns is kept only for the rows that fail, so a clean
1M-row file costs no more memory than its typed columns.

Reasons: a required column is empty ("missing value"), a date, number or yes/no cannot be read,
a date lies outside 1900-2100, a CSV row has more or fewer values than the header.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clm_core.config import REQUIRED_COLUMNS, SCHEMAS, input_schema
from clm_core.ingest import parse
from clm_core.store import quote_ident

__all__ = [
    "DERIVE_NONE",
    "DERIVE_PRODUCT",
    "ID_COLUMNS",
    "REASONS",
    "Plan",
    "amount_derivation",
    "csv_record_lines",
    "error_columns",
    "stage_params",
    "stage_sql",
]

# Reason texts are data: bound as parameters, shown to users (translated on the page).
REASONS = {
    "r_missing": "missing value",
    "r_date": "not a date",
    "r_range": "date outside 1900-2100",
    "r_number": "not a number",
    "r_bool": "not yes/no",
    "r_sci": "an id in scientific notation (its digits may be lost): export the column as text",
}

ID_COLUMNS = ("customer_id", "order_id")

# How a transaction's amount is found (``Plan.derive``).
DERIVE_NONE = "none"  # a purchase log without money: amount 0, has_amounts false
DERIVE_PRODUCT = "quantity*unit_price"  # a line total from quantity x unit price


@dataclass(frozen=True)
class Plan:
    """How to turn a source into a canonical table.

    ``columns``: the source header names, in order (source column i is ``c{i}`` in SQL).
    ``types``: their DuckDB types (VARCHAR for CSV and XLSX). ``mapping``: canonical -> source.
    """

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    mapping: Mapping[str, str]
    day_first: bool = False
    decimal_comma: bool = False
    required: tuple[str, ...] = field(default=())
    # canonical -> extra parse options decided from the sample (date_order, plain_first)
    options: Mapping[str, Mapping] = field(default_factory=dict)
    # order ids "C<digits>" are cancellations (decided per file: detect_cancel_prefix)
    cancel_prefix: bool = False

    def index(self, canonical: str) -> int:
        return self.columns.index(self.mapping[canonical])

    @property
    def mapped(self) -> list[str]:
        """Mapped canonical and input columns, in schema order."""
        return [c for c in input_schema(self.table) if c in self.mapping]

    @property
    def derive(self) -> str | None:
        return amount_derivation(self.table, self.mapping)

    @property
    def required_columns(self) -> tuple[str, ...]:
        base = self.required or REQUIRED_COLUMNS[self.table]
        if self.table != "transactions":
            return base
        money = {None: ("amount",), DERIVE_PRODUCT: ("quantity", "unit_price")}.get(self.derive, ())
        return tuple(dict.fromkeys(base + money))


def amount_derivation(table: str, mapping: Mapping[str, str]) -> str | None:
    """How a transaction's amount is found: None (a mapped amount column: a line total in the
    file wins), quantity x unit price (:data:`DERIVE_PRODUCT`) or no money at all
    (:data:`DERIVE_NONE`). Other tables: None."""
    if table != "transactions" or "amount" in mapping:
        return None
    if "quantity" in mapping and "unit_price" in mapping:
        return DERIVE_PRODUCT
    return DERIVE_NONE


def error_columns(plan: Plan) -> list[str]:
    """Names of the per-column reason columns in the staged table (``_e_<canonical>``)."""
    return [f"_e_{c}" for c in plan.mapped]


def stage_sql(
    plan: Plan,
    relation: str,
    row_sql: str | None,
    *,
    values: bool = True,
    reasons: bool = False,
    raw: bool = False,
) -> str:
    """SELECT over ``relation``: with ``values`` every canonical column of the table (typed;
    NULL when not mapped), ``_guest`` (no customer id), ``_h`` (a hash of the row's every file
    column, for exact duplicates) and ``_region`` (a line's country or city, when mapped); then
    ``_row`` (when the source knows file rows); with ``reasons`` one ``_e_<canonical>`` reason
    per mapped column; ``_bad``; with ``raw`` the source text of every column as ``_raw<i>``
    (only on bad rows, NULL elsewhere). Parameters: :func:`stage_params`.

    A row without a customer id is a guest row: never bad, left out of the load and counted.
    A transaction's amount is the file's line total, else quantity x unit price, else 0 (a log
    without money); a negative quantity or amount, or an order id marked as a cancellation
    (``退``, or a ``C`` prefix where :attr:`Plan.cancel_prefix` says so), makes it a return
    (negative amount).

    The load writes values + ``_bad`` only; reasons and raw text are computed in a second
    pass, and only for files that have bad rows. Canonical names come from config.SCHEMAS;
    source columns are addressed as c<i> only.
    """
    schema = input_schema(plan.table)
    required = set(plan.required_columns)
    n = len(plan.columns)
    s1 = [f"{row_sql} as _row" if row_sql else None] + [f"c{i}" for i in range(n)]
    s2, s3, bad = [], [], []
    k_of: dict[str, int] = {}
    for k, canonical in enumerate(plan.mapped):
        k_of[canonical] = k
        i = plan.index(canonical)
        ctype, stype = schema[canonical], plan.types[i]
        s1.append(f"{parse.clean_sql(f'c{i}', stype)} as _t{k}")
        opts = {"day_first": plan.day_first, "decimal_comma": plan.decimal_comma,
                **plan.options.get(canonical, {})}  # fmt: skip
        if canonical in ID_COLUMNS:
            s2.append(f"{parse.id_sql(f'_t{k}', stype)} as _p{k}")
        else:
            s2.append(f"{parse.parse_sql(f'_t{k}', ctype, stype, **opts)} as _p{k}")
        s3.append(f"{parse.check_sql(f'_p{k}', ctype)} as _v{k}")
        if reasons:
            invalid = {"TIMESTAMP": f"case when _p{k} is null then $r_date else $r_range end",
                       "DOUBLE": "$r_number", "BOOLEAN": "$r_bool"}.get(ctype)  # fmt: skip
            if canonical in ID_COLUMNS:
                invalid = "$r_sci"
            missing = "$r_missing" if canonical in required else "null"
            when_bad = f" when _v{k} is null then {invalid}" if invalid else ""
            s3.append(f"case when _t{k} is null then {missing}{when_bad} end as _e{k}")
        # unusable: a required cell is empty, or a non-empty cell did not parse
        need = "true" if canonical in required and canonical != "customer_id" else "false"
        bad.append(f"(_v{k} is null and (_t{k} is not null or {need}))")
    guest = f"(_t{k_of['customer_id']} is null)" if "customer_id" in k_of else "false"
    bad_sql = f"(not {guest} and ({' or '.join(bad) or 'false'}))"
    out = []
    if values:
        value = {c: f"_v{k}" for k, c in enumerate(plan.mapped)}
        if plan.table == "transactions":
            value["amount"] = _amount_sql(plan, k_of)
        out += [
            f"cast({value.get(c, 'null')} as {t}) as {quote_ident(c)}"
            for c, t in SCHEMAS[plan.table].items()
        ]
        out.append(f"{guest} as _guest")
        out.append(f"hash({', '.join(f'c{i}' for i in range(n))}) as _h")
        if "region" in k_of and "region" not in SCHEMAS[plan.table]:
            out.append(f"_v{k_of['region']} as _region")
    if row_sql:
        out.append("_row")
    if reasons:
        out += [f"_e{k} as {quote_ident('_e_' + c)}" for k, c in enumerate(plan.mapped)]
    out.append(f"{bad_sql} as _bad")
    if raw:
        out += [f"case when {bad_sql} then cast(c{i} as varchar) end as _raw{i}" for i in range(n)]
    s1 = [x for x in s1 if x]
    return (
        f"with s1 as (select {', '.join(s1)} from {relation}), "
        f"s2 as (select *, {', '.join(s2) or 'null as _none'} from s1), "
        f"s3 as (select *, {', '.join(s3) or 'null as _none3'} from s2) "
        f"select {', '.join(out)} from s3"
    )


def _amount_sql(plan: Plan, k_of: Mapping[str, int]) -> str:
    """A transaction's amount: the line total, quantity x unit price or 0; returns negative."""
    if plan.derive == DERIVE_NONE:
        return "0.0"
    if plan.derive == DERIVE_PRODUCT:
        amount = f"(_v{k_of['quantity']} * _v{k_of['unit_price']})"
    else:
        amount = f"_v{k_of['amount']}"
    returns = [f"{amount} < 0"]
    if "quantity" in k_of:
        returns.append(f"_v{k_of['quantity']} < 0")
    if "order_id" in k_of:
        oid = f"_t{k_of['order_id']}"
        returns.append(f"contains(cast({oid} as varchar), '退')")
        if plan.cancel_prefix:
            returns.append(f"regexp_full_match(cast({oid} as varchar), $p_cancel_prefix)")
    cond = " or ".join(f"coalesce({r}, false)" for r in returns)
    return f"case when {cond} then -abs({amount}) else {amount} end"


def stage_params(sql: str) -> dict:
    """Bound parameters the staging SQL refers to (formats, patterns, reason texts)."""
    params = parse.params_for(sql)
    params.update({k: v for k, v in REASONS.items() if re.search(rf"\${k}\b", sql)})
    return params


def _count_lines(path: Path) -> int:
    """Physical lines, counting a last line without a newline."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def csv_record_lines(
    path: Path,
    *,
    delimiter: str,
    header_row: int,
    width: int,
    records: Iterable[int],
    n_records: int,
    n_structural: int,
) -> tuple[dict[int, int], list[tuple[int, list[str]]]]:
    """File lines of DuckDB's data records, and the rows DuckDB dropped for their width.

    ``records`` are 0-based indexes of the records DuckDB returned (the staged table's rowid).
    When the file has no blank lines, no line breaks inside quotes and no rejected rows, record
    r is simply on line ``header_row + 1 + r``; otherwise the file is re-read with Python's csv
    module (same RFC 4180 quoting) to count physical lines, which only happens when a file has
    errors to report. ``path`` is the UTF-8 file DuckDB read.
    """
    wanted = sorted(set(records))
    if n_structural == 0 and _count_lines(path) == header_row + n_records:
        return {r: header_row + 1 + r for r in wanted}, []
    lines: dict[int, int] = {}
    structural: list[tuple[int, list[str]]] = []
    need = set(wanted)
    csv.field_size_limit(10_000_000)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        for _ in range(header_row):
            fh.readline()
        reader = csv.reader(fh, delimiter=delimiter, quotechar='"')
        rec, prev = 0, 0
        for row in reader:
            start = header_row + prev + 1
            prev = reader.line_num
            if not row:
                continue  # blank line: DuckDB skips it too
            if len(row) != width:
                structural.append((start, row))
            else:
                if rec in need:
                    lines[rec] = start
                    need.discard(rec)
                rec += 1
            if not need and len(structural) >= n_structural:
                break
    return lines, structural
