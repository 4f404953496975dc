"""``python -m clm_core clv``: per-customer lifetime value to CSV, fit facts as JSON.

    python -m clm_core clv [--db PATH] [--model bgnbd|pareto|mbgnbd|auto] [--period D|W|M]
        [--as-of YYYY-MM-DD] [--horizon N] [--discount-rate R] [--margin M]
        [--time-budget SECONDS] --out FILE.csv [--json]

The CSV has ``customer_id, frequency, recency, T, monetary_value, p_alive, expected_purchases,
expected_avg_value, clv`` (recency and T in periods, money in the dataset's currency).
``--json`` prints one JSON object with the chosen model and lifetimes' parameter names;
``degenerate`` lists, per fitted model, the parameters at their bound 0 (``{"pareto": {"s":
1.5e-11}}``: the data cannot tell them from 0). Notes (a model that gave up, and why) go to
stderr.
"""

from __future__ import annotations

import json
import math
import sys

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.clv import (
    CSV_COLUMNS,
    DEFAULT_HORIZON,
    DEFAULT_TIME_BUDGET,
    MODELS,
    PERIOD_UNITS,
    default_discount_rate,
    fit_clv,
)
from clm_core.exports import to_csv_bytes


def add_arguments(parser) -> None:
    add_db_argument(parser)
    # choices come from clm_core.clv; the numbers are checked there (UsageError, exit 2)
    parser.add_argument("--model", choices=["auto", *MODELS], default="auto")
    parser.add_argument(
        "--period", choices=list(PERIOD_UNITS), default="W", help="unit of recency, T, horizon"
    )
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument(
        "--horizon", type=int, default=None, help="periods ahead (default: 364 D, 52 W, 12 M)"
    )
    parser.add_argument(
        "--discount-rate",
        type=float,
        default=None,
        help="per period (default: 1%% a week, converted to the period)",
    )
    parser.add_argument("--margin", type=float, default=1.0, help="profit share of revenue")
    parser.add_argument("--penalizer", type=float, default=0.0, help="L2 penalizer of the fit")
    parser.add_argument(
        "--time-budget",
        type=float,
        default=DEFAULT_TIME_BUDGET,
        help="seconds each model may take to fit before it gives up (default: %(default)s)",
    )
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--json", action="store_true", help="print fit facts as one JSON object")


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run(args) -> int:
    horizon = args.horizon if args.horizon is not None else DEFAULT_HORIZON[args.period]
    rate = args.discount_rate
    if rate is None:
        rate = default_discount_rate(args.period)
    con = store.connect(db_path(args))
    try:
        res = fit_clv(
            con,
            model=args.model,
            period=args.period,
            as_of=args.as_of,
            horizon=horizon,
            discount_rate=rate,
            margin=args.margin,
            penalizer=args.penalizer,
            time_budget=args.time_budget,
        )
    finally:
        con.close()
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(res.customers[CSV_COLUMNS]))
    if args.json:
        spend = {k: _number(res.spend_params.get(k, math.nan)) for k in ("p", "q", "v")}
        print(
            json.dumps(
                {
                    "model": res.model,
                    "params": {k: _number(v) for k, v in res.params.items()},
                    "spend_params": spend,
                    "customers": res.n_customers,
                    "log_likelihood": _number(res.log_likelihood),
                    "fit_seconds": round(res.fit_seconds, 3),
                    "degenerate": {
                        model: {k: _number(v) for k, v in params.items()}
                        for model, params in res.degenerate.items()
                    },
                }
            )
        )
    for note in res.notes:  # stderr, so stdout stays one JSON object
        print(f"note: {note}", file=sys.stderr)
    return 0
