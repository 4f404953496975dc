"""``python -m clm_core churn [--db PATH] [--as-of YYYY-MM-DD] [--horizon-days N] --out FILE.csv
[--json]``

Writes the watchlist (customer_id, churn_probability, value_at_risk, reasons; highest value at
risk first; text cells neutralised against spreadsheet formula injection). ``--json`` prints the
out-of-time evaluation: horizon_days, train_cutoff, test_cutoff, roc_auc, pr_auc,
top_decile_lift, baselines {name: {roc_auc, pr_auc, top_decile_lift}}, n_features.
When the models were fitted on a stratified sample (more than ``churn.MAX_TRAIN_ROWS`` active
customers), a note says so on stderr; the JSON keys stay those of the contract. Data without
amounts has no value: value_at_risk is left empty, rows are ranked by churn probability, and a
note on stderr says so.
"""

from __future__ import annotations

import json
import math
import sys

from clm_core import store
from clm_core.churn import fit_churn, metrics_table, watchlist
from clm_core.cli import add_db_argument, db_path
from clm_core.errors import UsageError
from clm_core.exports import to_csv_bytes

CSV_COLUMNS = ["customer_id", "churn_probability", "value_at_risk", "reasons"]


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: last transaction)")
    parser.add_argument(
        "--horizon-days",
        type=int,
        default=None,
        help="churn = no purchase in this many days (default: ~3 median gaps, from the data)",
    )
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--json", action="store_true", help="print model metrics as JSON")


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(float(x), 6)


def run(args) -> int:
    if args.horizon_days is not None and args.horizon_days < 1:
        raise UsageError("--horizon-days must be at least 1")
    con = store.connect(db_path(args))
    try:
        amounts = store.has_amounts(con)
        fit = fit_churn(con, as_of=args.as_of, horizon_days=args.horizon_days)
        wl = watchlist(con, as_of=args.as_of, horizon_days=args.horizon_days)
    finally:
        con.close()
    with open(args.out, "wb") as fh:
        fh.write(to_csv_bytes(wl[CSV_COLUMNS]))
    if not amounts:
        print(
            "note: the data has no amounts: value_at_risk is left empty and customers are "
            "ranked by churn probability.",
            file=sys.stderr,
        )
    if fit.sampled:
        print(
            f"note: each model was fitted on a stratified sample of {fit.n_fit_rows:,} customers "
            f"({fit.n_train:,} active at the training cutoff, {fit.n_test:,} at the test cutoff); "
            f"evaluation and the {len(wl):,} scored customers are complete.",
            file=sys.stderr,
        )
    if args.json:
        table = metrics_table(fit).set_index("method")
        metric = ["roc_auc", "pr_auc", "top_decile_lift"]
        model = table.loc["gradient_boosting"]
        out = {
            "horizon_days": fit.horizon_days,
            "train_cutoff": fit.train_cutoff.isoformat(),
            "test_cutoff": fit.test_cutoff.isoformat(),
            **{m: _num(model[m]) for m in metric},
            "baselines": {
                name: {m: _num(row[m]) for m in metric}
                for name, row in table.iterrows()
                if name != "gradient_boosting"
            },
            "n_features": len(fit.features),
        }
        print(json.dumps(out, indent=2))
    return 0
