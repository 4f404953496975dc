"""``python -m clm_core COMMAND ...``: argument parsing and printing only.

Each command lives in ``clm_core/cli/<command>.py`` with ``add_arguments(parser)`` and
``run(args) -> int``; it is imported only when chosen. Exit codes: 0 success, 1 data error,
2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from clm_core.errors import ClmError, DataError, UsageError

COMMANDS = {
    "demo": "build the built-in demo datasets",
    "load": "load a spreadsheet into a dataset",
    "summary": "per-customer summary (frequency, recency, T, monetary value...)",
    "segments": "RFM scores, named segments, value tiers",
    "cohorts": "cohort retention table",
    "stages": "lifecycle stage of every customer",
    "clv": "customer lifetime value per customer",
    "churn": "churn probability and value at risk per customer",
    "ab": "A/B test analysis of a campaign",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 with a one-line message
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m clm_core", description="CLM Lens command line")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    argv = sys.argv[1:] if argv is None else argv
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    modules = {}
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            modules[name] = importlib.import_module(f"clm_core.cli.{name}")
            modules[name].add_arguments(p)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ClmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
