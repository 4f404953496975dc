"""What the benchmarks share: one result line per measurement, fresh child processes, peaks.

Each benchmark prints its own detailed markdown table and, for every size it measured, one
``RESULT {json}`` line through :func:`emit`; ``bench/run_all.py`` collects those lines into the
summary table of ``bench/README.md``. Each measurement runs in a child process of its own
(:func:`run_child`), so that its time and peak memory belong to it alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFIX = "RESULT "
ROOT = Path(__file__).resolve().parent.parent


def run_child(module: str, args: list[str], label: str, timeout: float | None = None) -> dict:
    """Run ``python -m module *args`` from the repository root in a fresh process and return
    the JSON object its last output line prints. A failure raises with the end of its stderr
    (named by ``label``); past ``timeout`` seconds ``subprocess.TimeoutExpired`` is raised."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same_parquet(a: Path, b: Path, *, check_dtype: bool = True) -> bool:
    """Whether two parquet files hold equal frames."""
    import pandas as pd
    from pandas.testing import assert_frame_equal

    try:
        assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_dtype=check_dtype)
    except AssertionError:
        return False
    return True


# --- query against ledger: bench_stages and bench_funnels ---------------------------------


def ledger_args(argv, cases: list[str]) -> argparse.Namespace:
    """The command line of a query-against-ledger benchmark (sizes; the child's options)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="100000,1000000", help="comma-separated sizes")
    ap.add_argument("--workdir", default=None, help="folder for the temporary datasets")
    ap.add_argument("--child", choices=["query", "ledger"], help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--case", choices=cases, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def query_against_ledger(
    module: str, args: argparse.Namespace, cases: list[str], *, rows: str, what: str,
    check_dtype: bool = True,
) -> list[dict]:  # fmt: skip
    """For each size, build the demo dataset once and measure every case twice in fresh
    processes (``module --child query|ledger``, each writing its answer to parquet), checking
    that both answers are equal. ``rows``: the demo table whose row count sizes the data
    ("transactions", "events"); ``what``: the answer's name in the progress lines."""
    from clm_core import demo

    results = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        for customers in (int(x) for x in args.customers.split(",")):
            db = workdir / f"demo-{customers}.duckdb"
            t0 = time.perf_counter()
            info = demo.build_demo(db, customers=customers, seed=42)
            print(f"demo: {customers:,} customers, {info[rows]:,} {rows}, built in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
            for case in cases:
                got = {}
                for kind in ("query", "ledger"):
                    out = workdir / f"{kind}.parquet"
                    got[kind] = run_child(
                        module, ["--child", kind, "--db", str(db), "--case", case,
                                 "--out", str(out)], kind,
                    )  # fmt: skip
                same = same_parquet(workdir / "query.parquet", workdir / "ledger.parquet",
                                    check_dtype=check_dtype)  # fmt: skip
                print(f"  {case}: query {got['query']['seconds']:.2f} s, ledger "
                      f"{got['ledger']['seconds']:.2f} s (built in {got['ledger']['build']:.2f} "
                      f"s), same {what}: {same}", file=sys.stderr)  # fmt: skip
                results.append({"customers": customers, rows: info[rows], "case": case,
                                **got, "same": same})  # fmt: skip
            db.unlink(missing_ok=True)
    return results


def cpu_seconds() -> float:
    """CPU seconds of this process, all threads (DuckDB's included): fairer than wall time on a
    shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def reset_peak() -> None:
    """Start the process's peak RSS afresh (Linux: writing 5 to clear_refs resets VmHWM), so
    that :func:`peak_mib` measures one step alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_mib() -> float:
    """Peak RSS in MiB since :func:`reset_peak` (VmHWM), else since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def emit(
    bench: str,
    size: str,
    ours_s: float,
    ours_mib: float | None,
    peer: str,
    peer_s: float | None,
    peer_mib: float | None,
    note: str = "",
) -> None:
    """Print one result line: our time and peak memory next to the peer's in the same run."""
    row = {"bench": bench, "size": size, "ours_s": ours_s, "ours_mib": ours_mib, "peer": peer,
           "peer_s": peer_s, "peer_mib": peer_mib, "note": note}  # fmt: skip
    print(PREFIX + json.dumps(row), flush=True)


def parse(text: str) -> list[dict]:
    """The result rows printed by :func:`emit` in ``text``."""
    return [
        json.loads(line[len(PREFIX) :]) for line in text.splitlines() if line.startswith(PREFIX)
    ]


def _num(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


def table(rows: list[dict]) -> str:
    """The one markdown table of bench/README.md."""
    lines = [
        "| benchmark | size | CLM Lens s | CLM Lens peak MiB | peer (same run) | peer s "
        "| peer peak MiB | peer s / ours s | note |",
        "|---|---|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = f"{r['peer_s'] / r['ours_s']:.1f}x" if r["peer_s"] and r["ours_s"] else "–"
        lines.append(
            f"| {r['bench']} | {r['size']} | {_num(r['ours_s'], '.2f')} "
            f"| {_num(r['ours_mib'], ',.0f')} | {r['peer']} | {_num(r['peer_s'], '.2f')} "
            f"| {_num(r['peer_mib'], ',.0f')} | {ratio} | {r['note']} |"
        )
    return "\n".join(lines)
