"""``python -m clm_core load FILE [--db PATH] [--table T] [--sheet NAME] [--map canonical=source ...]
[--on-error reject|skip] [--mode replace|append] [--drop-duplicates] [--currency CODE] [--no-recipe]
[--json]``

Exit 0 when loaded, 1 when the data cannot be loaded (message on stderr names file, row and
column), 2 on a usage error. With ``--json`` stdout is exactly one JSON object, also when the
load is rejected (then ``rows_loaded`` is 0 and ``errors`` lists the first 100 problems).
"""

from __future__ import annotations

import json
import sys

from clm_core.cli import add_db_argument, db_path
from clm_core.config import TABLES
from clm_core.errors import DataError
from clm_core.ingest.load import MODES, ON_ERROR, LoadRejected, load_file
from clm_core.ingest.mapping import parse_map_args


def add_arguments(parser) -> None:
    parser.add_argument("file", help="CSV/TSV/TXT, XLSX or Parquet file")
    add_db_argument(parser)
    parser.add_argument("--table", choices=TABLES, default="transactions")
    parser.add_argument("--sheet", default=None, help="XLSX sheet name (default: the first)")
    parser.add_argument("--map", nargs="+", action="extend", default=[], metavar="CANONICAL=SOURCE",
                        help="use file column SOURCE for canonical column CANONICAL")  # fmt: skip
    parser.add_argument("--on-error", choices=ON_ERROR, default="reject")
    parser.add_argument("--mode", choices=MODES, default="replace")
    parser.add_argument("--drop-duplicates", action="store_true",
                        help="load only one of each exact duplicate row")  # fmt: skip
    parser.add_argument("--currency", default=None, metavar="CODE",
                        help="ISO code of the money (default: a symbol in the amounts, else the "
                        "country most lines come from)")  # fmt: skip
    parser.add_argument("--no-recipe", action="store_true",
                        help="map the columns afresh instead of reusing the table's last mapping")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _empty(table: str) -> dict:
    """The JSON object of a load that read nothing (the file could not be used at all)."""
    return {"table": table, "rows_read": 0, "rows_loaded": 0, "rows_rejected": 0, "duplicates": 0,
            "returns": 0, "customers": 0, "amount_total": None, "date_min": None,
            "date_max": None, "mapping": {}, "errors": [], "rows_without_customer": 0,
            "currency": None, "currency_reason": None, "derived": {}, "has_amounts": None,
            "date_order": None, "recipe": None, "columns_changed": {}}  # fmt: skip


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def run(args) -> int:
    try:
        result = load_file(
            args.file,
            db_path(args),
            table=args.table,
            sheet=args.sheet,
            mapping=parse_map_args(args.map),
            on_error=args.on_error,
            mode=args.mode,
            drop_duplicates=args.drop_duplicates,
            currency=args.currency,
            use_recipe=not args.no_recipe,
        )
    except LoadRejected as e:
        if args.json:
            _print_json(e.result.to_dict())
        raise
    except DataError as e:
        if args.json:
            errors = e.errors or [{"row": e.row, "column": e.column, "value": e.value,
                                   "reason": e.reason}]  # fmt: skip
            _print_json(_empty(args.table) | {"errors": errors[:100]})
        raise
    if args.json:
        _print_json(result.to_dict())
    else:
        print(
            f"Loaded {result.rows_loaded:,} of {result.rows_read:,} rows into {result.table} "
            f"({result.dataset}): {result.customers:,} customers, {result.duplicates:,} duplicate "
            f"rows, {result.returns:,} returns, {result.date_min} to {result.date_max}."
        )
        if result.recipe == "applied":
            print("Same columns as the last file of this table: its mapping was used.")
        elif result.recipe == "changed":
            added = ", ".join(result.columns_changed.get("added", [])[:20]) or "none"
            missing = ", ".join(result.columns_changed.get("missing", [])[:20]) or "none"
            print(f"The columns differ from the last file of this table (new: {added}; "
                  f"missing: {missing}); they were mapped afresh.")  # fmt: skip
        if result.rows_without_customer:
            print(
                f"{result.rows_without_customer:,} guest rows without a customer id were left out."
            )
        for column, how in result.derived.items():
            print(f"{column} = {how}")
        if not result.has_amounts:
            print(
                "The file has no amounts: counts, stages and purchase models work; money views do not."
            )
        if result.currency:
            print(f"Currency {result.currency_reason}.")
        if result.rows_rejected:
            print(f"{result.rows_rejected:,} rows rejected; see {result.rejected_path}")
    return 0
