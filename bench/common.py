"""One result line per measurement, so `make bench` can put every benchmark in one table.

Each benchmark prints its own detailed markdown table and, for every size it measured, one
``RESULT {json}`` line through :func:`emit`; ``bench/run_all.py`` collects those lines into the
summary table of ``bench/README.md``.
"""

from __future__ import annotations

import json
import resource
from pathlib import Path

PREFIX = "RESULT "


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
