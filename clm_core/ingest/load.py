"""Load one spreadsheet file into a canonical table of a dataset, atomically.

:func:`prepare` sniffs the file and proposes the column mapping (what the Data page shows for
confirmation); :func:`preview` parses its first rows; :func:`load_file` does the whole load:

1. read the file through DuckDB (:mod:`clm_core.ingest.read`) and parse every mapped column in
   one SQL pass into a temporary staging table (:mod:`clm_core.ingest.validate`);
2. report every unusable row with its file row, column, value and reason;
3. ``on_error="reject"`` (default): if any row is unusable, load nothing and raise
   :class:`LoadRejected`; ``on_error="skip"``: load the good rows and write the bad ones to
   ``<dataset>.<table>.rejected.csv`` next to the dataset;
4. write through :func:`clm_core.store.write_dataset`, so a failed or killed load leaves the
   dataset exactly as it was; ``mode="replace"`` swaps the table, ``"append"`` adds rows;
5. record the load in the dataset's ``load_history`` setting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from clm_core import store
from clm_core.config import SCHEMAS, input_schema
from clm_core.errors import ClmError, DataError, UsageError, first_line
from clm_core.exports import to_csv_bytes
from clm_core.i18n import translate
from clm_core.ingest import parse
from clm_core.ingest.currency import CurrencyGuess, detect_currency
from clm_core.ingest.mapping import (
    Match,
    apply_overrides,
    match_columns,
    name_list,
    required_missing,
)
from clm_core.ingest.read import SourceInfo, open_source, sniff
from clm_core.ingest.validate import (
    DERIVE_NONE,
    DERIVE_PRODUCT,
    Plan,
    amount_derivation,
    csv_record_lines,
    stage_params,
    stage_sql,
)

__all__ = [
    "AMOUNT_COLUMN",
    "DUPLICATES_KEY",
    "HISTORY_KEY",
    "MAX_ERRORS",
    "MODES",
    "ON_ERROR",
    "TS_COLUMN",
    "LoadRejected",
    "LoadResult",
    "Prepared",
    "load_file",
    "prepare",
    "preview",
    "guess_currency",
    "rejected_path_for",
    "saved_recipe",
]

ON_ERROR = ("reject", "skip")
MODES = ("replace", "append")
MAX_ERRORS = 100
HISTORY_KEY = "load_history"
DUPLICATES_KEY = "file_duplicates"  # {table: exact duplicate rows of the loaded files}
HISTORY_KEEP = 50
TS_COLUMN = {"transactions": "order_ts", "customers": "signup_ts", "events": "event_ts",
             "campaigns": "sent_ts", "feedback": "created_ts"}  # fmt: skip
AMOUNT_COLUMN = {"transactions": "amount", "campaigns": "revenue"}
_SAMPLE_ROWS = 5000
NEW_KEYS = ("rows_without_customer", "currency", "currency_reason", "derived", "has_amounts",
            "date_order", "recipe", "columns_changed")  # fmt: skip
_STAGE = "_clm_stage"

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class LoadResult:
    """What a load did. :meth:`to_dict` is the CLI's ``--json`` object."""

    table: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicates: int
    returns: int
    customers: int
    amount_total: float | None
    date_min: str | None
    date_max: str | None
    mapping: dict[str, str]
    errors: tuple[dict, ...] = ()
    errors_total: int = 0
    file: str = ""
    dataset: str = ""
    mode: str = "replace"
    on_error: str = "reject"
    duplicates_dropped: bool = False
    rejected_path: str | None = None
    # Rows without a customer id (guest orders): counted, not loaded, not an error.
    rows_without_customer: int = 0
    # ISO code of the money, and why ("GBP: most lines are from United Kingdom"); None: unknown
    currency: str | None = None
    currency_reason: str | None = None
    # canonical column -> how it was derived ({"amount": "Quantity × UnitPrice"})
    derived: dict[str, str] = field(default_factory=dict)
    has_amounts: bool = True
    # "day first" / "month first" when the file writes dates with slashes, else None
    date_order: str | None = None
    # "applied": the mapping of the table's last file (same columns) was used; "changed": the
    # columns differ from that file's (``columns_changed``: added, missing); None: first load
    recipe: str | None = None
    columns_changed: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        keys = ("table", "rows_read", "rows_loaded", "rows_rejected", "duplicates", "returns",
                "customers", "amount_total", "date_min", "date_max", "mapping")  # fmt: skip
        out = {k: getattr(self, k) for k in keys}
        out["errors"] = [dict(e) for e in self.errors[:MAX_ERRORS]]
        # Added after the first contract: new keys go at the end, old ones never change.
        for k in NEW_KEYS:
            out[k] = getattr(self, k)
        return out


class LoadRejected(DataError):
    """``on_error="reject"`` and some rows cannot be used: nothing was loaded.

    The message names the file and the first bad cell; ``result`` has every count and the
    first :data:`MAX_ERRORS` errors.
    """

    def __init__(self, result: LoadResult) -> None:
        self.result = result
        first = result.errors[0] if result.errors else {}
        super().__init__(
            f"{result.rows_rejected:,} of {result.rows_read:,} rows cannot be used "
            f"({first.get('reason', 'invalid')}); nothing was loaded. "
            "Fix the file or load with on-error 'skip' to load the good rows.",
            file=result.file,
            row=first.get("row"),
            column=first.get("column"),
            value=first.get("value"),
            errors=list(result.errors),
        )


@dataclass(frozen=True)
class Prepared:
    """A sniffed file, its target table and the column mapping that will be used."""

    info: SourceInfo
    table: str
    mapping: dict[str, str]
    auto: dict[str, str] = field(default_factory=dict)
    # how each automatic choice was found, with its confidence (shown in the mapping step)
    matches: dict[str, Match] = field(default_factory=dict)
    # the saved recipe of the table's last load: "applied" (same columns, its mapping used),
    # "changed" (other columns: automatic mapping, differences in ``changes``) or None
    recipe: str | None = None
    changes: dict[str, list[str]] = field(default_factory=dict)
    recipe_currency: str | None = None

    @property
    def missing(self) -> list[str]:
        return required_missing(self.mapping, self.table)

    @property
    def derived(self) -> dict[str, str]:
        """Columns computed from others: ``{"amount": "Quantity × UnitPrice"}``."""
        if amount_derivation(self.table, self.mapping) == DERIVE_PRODUCT:
            return {"amount": f"{self.mapping['quantity']} × {self.mapping['unit_price']}"}
        return {}

    @property
    def has_amounts(self) -> bool:
        """False for a transactions file without money (no amount, no quantity x price)."""
        return amount_derivation(self.table, self.mapping) != DERIVE_NONE


def _check_table(table: str) -> None:
    if table not in SCHEMAS:
        raise UsageError(f"unknown table {table!r}; tables: {', '.join(SCHEMAS)}")


def prepare(
    path: str | Path,
    *,
    table: str = "transactions",
    sheet: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    info: SourceInfo | None = None,
    recipe: Mapping | None = None,
) -> Prepared:
    """Sniff ``path`` and map its columns; ``mapping`` entries override the automatic ones.

    ``recipe``: the table's saved recipe (:func:`saved_recipe`). A file with the same columns
    as the recipe's file takes its confirmed mapping; a file with other columns is mapped
    automatically and ``changes`` says which columns were added and which are missing.
    """
    _check_table(table)
    info = info or sniff(path, sheet=sheet)
    matches = match_columns(info.columns, table)
    auto = {c: m.source for c, m in matches.items()}
    status, changes, currency = None, {}, None
    if recipe and recipe.get("columns"):
        old, new = list(recipe["columns"]), list(info.columns)
        if set(old) == set(new):
            status, currency = "applied", recipe.get("currency")
            auto = {c: s for c, s in recipe.get("mapping", {}).items() if s in new}
        else:
            status = "changed"
            changes = {"added": [c for c in new if c not in old],
                       "missing": [c for c in old if c not in new]}  # fmt: skip
    chosen = apply_overrides(auto, mapping or {}, info.columns, table)
    return Prepared(info, table, chosen, auto, matches, status, changes, currency)


def _recipe_key(table: str) -> str:
    return f"recipe_{table}"


def saved_recipe(db: str | Path, table: str) -> dict | None:
    """The confirmed mapping of the last load into ``table`` of the dataset file ``db``:
    ``{"columns": [...], "mapping": {...}, "currency": ..., "file": ...}``, or None."""
    db = Path(db)
    if not db.exists():
        return None
    try:
        con = store.connect(db)
        try:
            return store.get_setting(con, _recipe_key(table))
        finally:
            con.close()
    except (ClmError, duckdb.Error, ValueError):  # an unreadable dataset has no recipe; the
        return None  # load itself then reports the file


def _plan(prep: Prepared, values: Mapping[str, list]) -> Plan:
    """The parse plan, with day-first, decimal commas and parser order decided from a sample."""
    schema = input_schema(prep.table)
    dates = [v for c, vs in values.items() if schema.get(c) == "TIMESTAMP" for v in vs]
    numbers = [v for c, vs in values.items() if schema.get(c) == "DOUBLE" for v in vs]
    day_first = parse.detect_day_first(dates)
    options = {}
    for c, vs in values.items():
        if schema.get(c) == "TIMESTAMP":
            options[c] = {"date_order": parse.date_order(vs, day_first=day_first)}
        elif schema.get(c) == "DOUBLE":
            options[c] = {"plain_first": parse.numbers_plain(vs)}
    return Plan(
        prep.table,
        prep.info.columns,
        prep.info.types,
        dict(prep.mapping),
        day_first=day_first,
        decimal_comma=parse.detect_decimal_comma(numbers),
        options=options,
        cancel_prefix=parse.detect_cancel_prefix(values.get("order_id", ())),
    )


def _date_order(plan: Plan, values: Mapping[str, list]) -> str | None:
    """Which order slashed dates were read in ("05/01/2023": day first in a UK file), or None
    when the file writes no slashed dates."""
    schema = input_schema(plan.table)
    slashed = any(
        parse.detect_slashed(vs) for c, vs in values.items() if schema.get(c) == "TIMESTAMP"
    )
    if not slashed:
        return None
    return "day first" if plan.day_first else "month first"


def _currency(values: Mapping[str, list]) -> CurrencyGuess | None:
    money = [v for c in ("amount", "unit_price", "revenue", "cost") for v in values.get(c, ())]
    return detect_currency(money, values.get("region", ()))


def guess_currency(prep: Prepared) -> CurrencyGuess | None:
    """The currency the load would detect, from the sniffed rows (for the mapping step)."""
    return _currency(_sample_values(prep))


def _sample_values(prep: Prepared) -> dict[str, list]:
    idx = {c: prep.info.columns.index(s) for c, s in prep.mapping.items()}
    return {c: [r[i] for r in prep.info.sample if i < len(r)] for c, i in idx.items()}


def preview(prep: Prepared, rows: int = 20, *, lang: str = "en") -> pd.DataFrame:
    """The first sampled data rows parsed into the canonical columns, and a ``problem`` column
    naming each unusable cell's source column and reason (in ``lang``)."""
    info = prep.info
    width = len(info.columns)
    sample = [list(r) + [None] * (width - len(r)) for r in info.sample[:rows]]
    frame = pd.DataFrame(sample, columns=[f"c{i}" for i in range(width)], dtype=object)
    plan = _plan(prep, _sample_values(prep))
    plan = dataclasses.replace(plan, types=("VARCHAR",) * width)
    con = duckdb.connect(":memory:")
    try:
        con.register("_preview_src", frame.astype("string") if len(frame) else frame)
        sql = stage_sql(plan, "_preview_src", None, reasons=True)
        out = con.execute(sql, stage_params(sql)).df()
    except duckdb.Error as e:
        raise DataError(f"the preview cannot be built ({e})", file=info.name) from e
    finally:
        con.close()
    errs = [c for c in out.columns if c.startswith("_e_")]
    shown = [c for c in SCHEMAS[prep.table] if c in prep.mapping or c in prep.derived]
    problems = [
        "; ".join(f"{prep.mapping[c[3:]]}: {translate(v, lang)}" for c, v in zip(errs, row, strict=True)
                  if isinstance(v, str))
        for row in out[errs].itertuples(index=False, name=None)
    ]  # fmt: skip
    result = out[shown].copy()
    result["problem"] = problems
    return result


@contextlib.contextmanager
def _progress_poll(con, progress: Progress | None, lo: float, hi: float, label: str) -> Iterator:
    """Report DuckDB's own query progress (0-100) as lo..hi while a statement runs."""
    if progress is None:
        yield
        return
    stop = threading.Event()

    def poll():
        while not stop.wait(0.2):
            with contextlib.suppress(duckdb.Error):
                pct = con.query_progress()
                if pct is not None and pct >= 0:
                    progress(lo + (hi - lo) * min(pct, 100.0) / 100.0, label)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()


def rejected_path_for(db: str | Path, table: str) -> Path:
    """``data/<dataset>.<table>.rejected.csv``: the rejected rows of the last skip-mode load."""
    db = Path(db)
    return db.parent / f"{db.stem}.{table}.rejected.csv"


def _iso(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date().isoformat()


def load_file(
    path: str | Path,
    db: str | Path,
    *,
    table: str = "transactions",
    sheet: str | None = None,
    mapping: Mapping[str, str | None] | None = None,
    on_error: str = "reject",
    mode: str = "replace",
    drop_duplicates: bool = False,
    rejected_path: str | Path | None = None,
    progress: Progress | None = None,
    file_label: str | None = None,
    currency: str | None = None,
    use_recipe: bool = True,
) -> LoadResult:
    """Load ``path`` into ``table`` of the dataset file ``db`` (created when missing).

    ``mapping``: canonical -> source overrides of the automatic mapping (None/"" unmaps).
    ``file_label``: the name shown in messages (the original name of an uploaded file).
    ``currency``: the ISO code of the file's money; by default a symbol in the amounts, else
    the currency of the country most lines come from, else the dataset's setting stays.
    ``use_recipe``: map a file with the same columns as the table's last file the way that
    file was mapped (its saved recipe); ``mapping`` entries still override it.
    Raises UsageError (bad option, unknown column), DataError (missing required column, file
    unreadable, no usable row) and LoadRejected (bad rows with ``on_error="reject"``).
    """
    if on_error not in ON_ERROR:
        raise UsageError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    report = progress or (lambda f, s: None)
    report(0.0, "Reading the file")
    recipe = saved_recipe(db, table) if use_recipe else None
    prep = prepare(path, table=table, sheet=sheet, mapping=mapping, recipe=recipe)
    label = file_label or prep.info.name
    missing = prep.missing
    if missing:
        raise DataError(
            f"required column {missing[0]!r} is not in the file (columns: "
            f"{name_list(prep.info.columns)}); map it with --map {missing[0]}=COLUMN",
            file=label,
            column=missing[0],
            errors=[
                {"row": None, "column": c, "value": None, "reason": "required column not found"}
                for c in missing
            ],  # fmt: skip
        )
    db = Path(db)
    rejected_path = Path(rejected_path) if rejected_path else rejected_path_for(db, table)

    def sub(lo, hi):
        return lambda f, s: report(lo + (hi - lo) * max(0.0, min(f, 1.0)), s)

    with (
        tempfile.TemporaryDirectory(prefix="clm-spill-") as spill,
        store.write_dataset(db) as con,
        open_source(prep.info, progress=sub(0.02, 0.2)) as src,
    ):
        con.execute("set enable_progress_bar = true")
        con.execute("set enable_progress_bar_print = false")
        # Spill files go to the system temp folder, not next to the dataset in data/.
        con.execute("set temp_directory = $d", {"d": str(spill)})
        sampled = _sample_source(con, src, prep)
        plan = _plan(prep, sampled)
        currency = currency or prep.recipe_currency
        guess = _currency(sampled) if not currency else None
        chosen_currency = currency.strip().upper() if currency else (guess.code if guess else None)
        sql = stage_sql(plan, src.relation, src.row_sql)
        # Named as it starts: DuckDB's own progress comes only for statements that run long
        # enough (a 200,000-row file parses in a quarter of a second).
        report(0.2, "Parsing and checking rows")
        try:
            with _progress_poll(con, progress, 0.2, 0.8, "Parsing and checking rows"):
                con.execute(
                    f"create or replace table {_STAGE} as {sql}",
                    {**src.params, **stage_params(sql)},
                )
        except duckdb.Error as e:
            raise DataError(f"the file cannot be read ({first_line(e)})",
                            file=label) from e  # fmt: skip
        report(0.8, "Collecting errors")
        structural = _structural_count(con, src)
        stats = _stats(con, plan, drop_duplicates, structural)
        errors, errors_total, bad_rows, rejected = _collect_errors(
            con, src, prep, plan, on_error, structural
        )
        result = LoadResult(
            table=table,
            rows_read=stats["staged"] + stats["structural"],
            rows_loaded=stats["loaded"],
            rows_rejected=bad_rows,
            duplicates=stats["duplicates"],
            returns=stats["returns"],
            customers=stats["customers"],
            amount_total=stats["amount_total"],
            date_min=stats["date_min"],
            date_max=stats["date_max"],
            mapping=dict(prep.mapping),
            errors=tuple(errors),
            errors_total=errors_total,
            file=label,
            dataset=db.stem,
            mode=mode,
            on_error=on_error,
            duplicates_dropped=drop_duplicates,
            rejected_path=str(rejected_path) if (bad_rows and on_error == "skip") else None,
            rows_without_customer=stats["guests"],
            currency=chosen_currency,
            currency_reason=(guess.reason() if guess else "chosen in the mapping step")
            if chosen_currency
            else None,
            derived=prep.derived,
            has_amounts=prep.has_amounts,
            date_order=_date_order(plan, sampled),
            recipe=prep.recipe,
            columns_changed=prep.changes,
        )
        if bad_rows and on_error == "reject":
            raise LoadRejected(
                dataclasses.replace(
                    result,
                    rows_loaded=0,
                    customers=0,
                    returns=0,
                    amount_total=None,
                    date_min=None,
                    date_max=None,
                )
            )
        if result.rows_loaded == 0:
            why = " (every row lacks a customer id)" if stats["guests"] else ""
            raise DataError(f"the file has no usable data rows{why}; nothing was loaded",
                            file=label)  # fmt: skip
        report(0.85, "Writing the dataset")
        with _progress_poll(con, progress, 0.85, 0.97, "Writing the dataset"):
            _write(con, plan, mode, drop_duplicates, row=src.row_sql is not None)
        _record_settings(con, prep, mode, chosen_currency, duplicates=result.duplicates,
                         drop_duplicates=drop_duplicates)  # fmt: skip
        store.set_setting(con, _recipe_key(table), {"columns": list(prep.info.columns),
                          "mapping": prep.mapping, "currency": chosen_currency, "file": label})  # fmt: skip
        history = store.get_setting(con, HISTORY_KEY, []) or []
        history.append({"at": dt.datetime.now().isoformat(timespec="seconds"), "file": label,
                        "table": table, "mode": mode, "on_error": on_error,
                        "rows_loaded": result.rows_loaded, "rows_rejected": bad_rows,
                        "duplicates": result.duplicates})  # fmt: skip
        store.set_setting(con, HISTORY_KEY, history[-HISTORY_KEEP:])
        report(0.97, "Saving")
    if rejected is not None:
        rejected_path.write_bytes(to_csv_bytes(rejected))
    report(1.0, "Done")
    return result


def _record_settings(
    con, prep: Prepared, mode: str, currency: str | None, *, duplicates: int, drop_duplicates: bool
) -> None:
    """Store what the pages need to know about the data: its currency and whether it has money."""
    if currency:
        store.set_setting(con, "currency", currency)
    # Exact duplicates by the file's every column: the stored table keeps only the mapped
    # columns, where lines of different products may look alike, so the count is kept here.
    dups = dict(store.get_setting(con, DUPLICATES_KEY, {}) or {})
    added = 0 if drop_duplicates else duplicates
    dups[prep.table] = added + (dups.get(prep.table, 0) if mode == "append" else 0)
    store.set_setting(con, DUPLICATES_KEY, dups)
    if prep.table == "transactions":
        had = store.get_setting(con, store.AMOUNTS_KEY, True)
        has = prep.has_amounts if mode == "replace" else (bool(had) and prep.has_amounts)
        store.set_setting(con, store.AMOUNTS_KEY, has)


def _sample_values_sql(con, src, prep: Prepared) -> dict[str, list]:
    idx = {c: prep.info.columns.index(s) for c, s in prep.mapping.items()}
    schema = input_schema(prep.table)
    cols = {c: i for c, i in idx.items()
            if schema[c] in ("TIMESTAMP", "DOUBLE") or c in ("order_id", "region")}  # fmt: skip
    if not cols:
        return {}
    select = ", ".join(f"cast(c{i} as varchar)" for i in cols.values())
    rows = con.execute(
        f"select {select} from {src.relation} limit $n_sample",
        {**src.params, "n_sample": _SAMPLE_ROWS},
    ).fetchall()
    return {c: [r[k] for r in rows] for k, c in enumerate(cols)}


def _sample_source(con, src, prep: Prepared) -> dict[str, list]:
    """Up to 5,000 values of the date and number columns, to decide day-first/decimal comma."""
    try:
        values = _sample_values_sql(con, src, prep)
    except duckdb.Error as e:
        raise DataError(f"the file cannot be read ({first_line(e)})",
                        file=prep.info.name) from e  # fmt: skip
    if src.csv_path is not None:  # the sample scan logged rejects too; the real scan will again
        for t in ("_clm_rejects", "_clm_reject_scans"):
            with contextlib.suppress(duckdb.Error):
                con.execute(f"drop table {t}")
    return values


def _structural_count(con, src) -> int:
    """CSV rows DuckDB set aside because their number of values differs from the header's."""
    if src.csv_path is None:
        return 0
    try:
        return con.execute("select count(*) from _clm_rejects").fetchone()[0]
    except duckdb.Error:
        return 0


def _collect_errors(con, src, prep: Prepared, plan: Plan, on_error: str, n_structural: int):
    """(first errors, total error cells, bad row count, rejected-rows frame or None).

    Runs a second pass over the source for reasons and raw text, only when there are bad rows.
    """
    info = prep.info
    n_staged, n_bad = con.execute(
        f"select count(*), count(*) filter (where _bad) from {_STAGE}"
    ).fetchone()
    if n_bad == 0 and n_structural == 0:
        return [], 0, 0, None
    if n_bad:
        sql = stage_sql(plan, src.relation, src.row_sql, values=False, reasons=True, raw=True)
        con.execute(f"create temp table _clm_errors as {sql}", {**src.params, **stage_params(sql)})
    limit = "" if on_error == "skip" else f"limit {MAX_ERRORS}"
    row_col = "_row" if src.row_sql else "null as _row"
    ecols = ", ".join(store.quote_ident(f"_e_{c}") for c in plan.mapped)
    raws = ", ".join(f"_raw{i}" for i in range(len(info.columns)))
    bad = (
        con.execute(
            f"select rowid, {row_col}, {ecols}, {raws} from _clm_errors where _bad "
            f"order by rowid {limit}"
        ).fetchall()
        if n_bad
        else []
    )
    structural: list[tuple[int, list[str]]] = []
    if src.csv_path is not None:
        lines, structural = csv_record_lines(
            src.csv_path, delimiter=info.delimiter or ",", header_row=info.header_row,
            width=len(info.columns), records=[r[0] for r in bad], n_records=n_staged,
            n_structural=n_structural,
        )  # fmt: skip
        rows = [lines.get(r[0]) for r in bad]
    else:
        rows = [r[1] for r in bad]
    n_map = len(plan.mapped)
    errors, rejected = [], []
    for row, rec in zip(rows, bad, strict=True):
        reasons = rec[2 : 2 + n_map]
        raw = list(rec[2 + n_map :])
        found = []
        for canonical, reason in zip(plan.mapped, reasons, strict=True):
            if reason is None:
                continue
            source = plan.mapping[canonical]
            value = raw[info.columns.index(source)]
            errors.append({"row": row, "column": source, "value": value, "reason": reason})
            found.append(f"{source}: {reason}")
        rejected.append([row, "; ".join(found)] + raw)
    width = len(info.columns)
    for line, fields in structural:
        reason = f"{len(fields)} values where the header has {width}"
        errors.append({"row": line, "column": None, "value": info.delimiter.join(fields)
                       if info.delimiter else None, "reason": reason})  # fmt: skip
        rejected.append([line, reason] + (fields + [None] * width)[:width])
    counts = " + ".join(f"count({store.quote_ident('_e_' + c)})" for c in plan.mapped)
    total = con.execute(f"select {counts or 0} from _clm_errors").fetchone()[0] if n_bad else 0
    total += max(n_structural, len(structural))
    errors.sort(key=lambda e: (e["row"] is None, e["row"] or 0))
    frame = None
    if on_error == "skip":
        frame = pd.DataFrame(rejected, columns=["row", "reason", *info.columns])
        frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
    return errors[:MAX_ERRORS], int(total), n_bad + max(n_structural, len(structural)), frame


_OK = "not _bad and not _guest"  # staged rows that are loaded


def _loaded_sql(plan: Plan, drop_duplicates: bool) -> str:
    """The canonical columns of the good staged rows with a customer; with ``drop_duplicates``
    the first of each set of rows identical in every column of the file."""
    cols = ", ".join(store.quote_ident(c) for c in SCHEMAS[plan.table])
    if not drop_duplicates:
        return f"select {cols} from {_STAGE} where {_OK}"
    return (
        f"select {cols} from {_STAGE} where rowid in "
        f"(select min(rowid) from {_STAGE} where {_OK} group by _h) order by rowid"
    )


def _distinct(hashes: np.ndarray) -> int:
    """Distinct values of a hash column: one numpy sort, then adjacent comparisons."""
    if not len(hashes):
        return 0
    ordered = np.sort(hashes)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


def _stats(con, plan: Plan, drop_duplicates: bool, structural: int) -> dict:
    """Counts for the result: one aggregate scan of the staged table and one hash fetch.

    Exact duplicates (rows identical in every column of the file: ``_h``) and customers are
    counted on 64-bit hashes sorted in numpy: far cheaper than DuckDB's distinct aggregates over
    millions of values. A false match needs a hash collision (~1e-8 for 10M rows), and would
    lower the count by one. Guest rows (no customer id) are counted apart and not loaded.
    """
    table = plan.table
    amount = AMOUNT_COLUMN.get(table)
    if table == "transactions" and plan.derive == DERIVE_NONE:
        amount = None  # a log without money: no total to show, not a total of zero
    ts = store.quote_ident(TS_COLUMN[table])
    amount_q = store.quote_ident(amount) if amount else "null"
    ret = "count(*) filter (where amount < 0)" if amount == "amount" else "0"
    loaded = (
        f"count(*) filter (where {_OK}), count(*) filter (where _guest), "
        f"sum({amount_q}) filter (where {_OK}), "
        f"{ret.replace('where', f'where {_OK} and')}, "
        f"min({ts}) filter (where {_OK}), max({ts}) filter (where {_OK})"
    )
    staged, good, guests, amount_total, returns, date_min, date_max = con.execute(
        f"select count(*), {loaded} from {_STAGE}"
    ).fetchone()
    hashes = con.execute(
        f"select _h as r, hash(customer_id) as c from {_STAGE} where {_OK}"
    ).fetchnumpy()
    distinct = _distinct(np.asarray(hashes["r"]))
    customers = _distinct(np.asarray(hashes["c"]))
    del hashes
    loaded_rows = good
    if drop_duplicates:
        loaded_rows, customers, amount_total, returns, date_min, date_max = con.execute(
            f"select count(*), count(distinct customer_id), sum({amount_q}), {ret}, min({ts}), "
            f"max({ts}) from ({_loaded_sql(plan, True)})"
        ).fetchone()
    total = None if amount_total is None else round(float(amount_total), 2)
    return {"staged": staged, "structural": structural, "loaded": loaded_rows,
            "customers": customers, "amount_total": total, "returns": int(returns or 0),
            "date_min": _iso(date_min), "date_max": _iso(date_max),
            "duplicates": good - distinct, "guests": int(guests or 0)}  # fmt: skip


def _write(con, plan: Plan, mode: str, drop_duplicates: bool, *, row: bool) -> None:
    """Turn the staged table into the canonical one.

    The common case (replace, no duplicate dropping) materialises nothing again: bad rows are
    deleted, helper columns dropped (DuckDB shares the row groups) and the table renamed.
    """
    table = store.quote_ident(plan.table)
    exists = store.has_table(con, plan.table)
    if mode == "append" and exists:
        con.execute(f"insert into {table} by name {_loaded_sql(plan, drop_duplicates)}")
        con.execute(f"drop table {_STAGE}")
        return
    if drop_duplicates:
        con.execute(f"create or replace table {table} as {_loaded_sql(plan, True)}")
        con.execute(f"drop table {_STAGE}")
        return
    con.execute(f"delete from {_STAGE} where _bad or _guest")
    _customers_from_lines(con, plan, mode)
    helpers = [c for c in ("_row", "_bad", "_guest", "_h", "_region")
               if c in store.column_names(con, _STAGE)]  # fmt: skip
    for col in helpers:
        con.execute(f"alter table {_STAGE} drop column {col}")
    if exists:
        con.execute(f"drop table {table}")
    con.execute(f"alter table {_STAGE} rename to {table}")


_LINES_REGION = "customers_from_lines"  # setting: the customers table holds only line regions


def _customers_from_lines(con, plan: Plan, mode: str) -> None:
    """Without a customers table, a line's country or city becomes the customer's region (the
    one most of their lines name). The table is marked, so a later load of transaction lines
    may replace it, while a real customers file is never overwritten."""
    if "_region" not in store.column_names(con, _STAGE) or mode != "replace":
        return
    if store.has_table(con, "customers") and not store.get_setting(con, _LINES_REGION, False):
        return
    cols = ", ".join(
        "customer_id" if c == "customer_id" else
        "mode(_region) as region" if c == "region" else
        f"cast(null as {t}) as {store.quote_ident(c)}"
        for c, t in SCHEMAS["customers"].items()
    )  # fmt: skip
    con.execute(
        f"create or replace table customers as select {cols} from {_STAGE} "
        "group by customer_id order by customer_id"
    )
    store.set_setting(con, _LINES_REGION, True)
