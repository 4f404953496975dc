"""``python -m clm_core ab [--db PATH] --campaign NAME [--json]``: A/B test analysis of a campaign.

``--json`` prints one object: ``{"campaign", "variants": [{"variant", "customers", "conversions",
"rate", "ci_low", "ci_high", "revenue_per_customer"}], "control", "uplift_abs", "uplift_ci":
[low, high], "p_value", "roi", "srm_p_value"}``. Rates and uplifts are proportions (0.033 =
3.3 points); ``roi`` is a ratio (4.8 = 480%), null when the treatment recorded no cost.

With more than two variants the top-level ``uplift_abs``, ``uplift_ci``, ``p_value`` and ``roi``
describe the best treatment (highest conversion rate) against the control; its ``p_value`` is
Holm-adjusted over all treatment-vs-control tests and ``uplift_ci`` is Bonferroni-widened (see
clm_core.experiments). Without ``--json`` a table of every variant and one verdict per treatment
are printed.
"""

from __future__ import annotations

import json

from clm_core import store
from clm_core.cli import add_db_argument, db_path
from clm_core.experiments import analyze_campaign, display_variant, verdict, verdicts


def add_arguments(parser) -> None:
    add_db_argument(parser)
    parser.add_argument("--campaign", required=True, help="campaign name as in the campaigns table")
    parser.add_argument(
        "--control", default=None, help="control variant (default: detected, e.g. 'control')"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=0.4,
        help="profit margin on incremental revenue for ROI, 0..1 (default 0.4)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _table(result) -> str:
    head = ("variant", "customers", "conversions", "rate", "95% CI", "revenue/customer", "cost")
    rows = [
        (
            display_variant(r.variant)
            + (" (control)" if r.is_control and "control" not in r.variant.lower() else ""),
            f"{r.customers:,}",
            f"{r.conversions:,}",
            f"{r.rate * 100:.2f}%",
            f"[{r.ci_low * 100:.2f}, {r.ci_high * 100:.2f}]",
            f"{r.revenue_per_customer:,.2f}",
            f"{r.cost:,.2f}",
        )
        for r in result.variants.itertuples()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = [
        "  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True))
        for row in [head, *rows]
    ]
    return "\n".join(lines)


def run(args) -> int:
    con = store.connect(db_path(args))
    try:
        result = analyze_campaign(
            con, campaign=args.campaign, control=args.control, margin=args.margin
        )
    finally:
        con.close()
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, allow_nan=False))
        return 0
    print(f"Campaign {result.campaign}")
    print(_table(result))
    print()
    print(verdict(result))
    if len(result.comparisons) > 1:
        for sentence in verdicts(result):
            print(f"  - {sentence}")
    print(f"Sample ratio check: chi-square p={result.srm_p_value:.3f}")
    for note in result.notes:
        print(f"Note: {note}")
    return 0
