"""Page render times in a real browser (Debian chromium + playwright).

For each page: time until the page is interactive (script finished, no spinner) on first load
(cold caches), on a second visit (warm caches), and after a filter change (the channel filter
set through the URL: a full page load with a filter value no cache has seen, so an upper bound
for changing the filter in the sidebar). Run: `python -m bench.bench_pages [--customers N,M]`;
for each size it builds a demo dataset in a temp folder and starts its own Streamlit server.
Targets (issue 8): interactive within 2 s after the first load and filter changes within 1 s at
20k customers; within 5 s at 1M. The Churn risk page's first load includes training the churn
model (shown with a progress bar), which is cached per dataset version afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import emit
from clm_core import demo
from tests.e2e.conftest import CHROMIUM, start_server

PAGES = [
    "overview",
    "data",
    "segments",
    "lifecycle",
    "funnels",
    "clv",
    "churn",
    "campaigns",
    "customer",
]


_BUSY = (
    '() => !!document.querySelector(\'[data-testid="stStatusWidget"], '
    '[data-testid="stSkeleton"], [data-testid*="Spinner"]\')'
)


def _visit(page, url: str, quiet: float = 1.5) -> float:
    """Seconds from navigation until the page last showed it was busy (script running, skeleton
    or spinner), once it has then stayed quiet for ``quiet`` seconds with a title on screen."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector('[data-testid="stMain"] h1')
    last_busy = time.perf_counter()
    while time.perf_counter() - last_busy < quiet:
        if page.evaluate(_BUSY):
            last_busy = time.perf_counter()
        time.sleep(0.05)
    return last_busy - t0


def _peak_mib(pid: int) -> float | None:
    """The Streamlit server's peak RSS so far (Linux VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measure(customers: int) -> list[tuple]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        info = demo.build_demo(folder / "demo-retail.duckdb", customers=customers, seed=42)
        print(f"demo: {customers:,} customers, {info['transactions']:,} transactions "
              f"built in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
        proc, url = start_server(folder)
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(1_800_000)
                _visit(page, url + "/data")  # warm the server process itself
                for name in PAGES:
                    cold = _visit(page, f"{url}/{name}")
                    warm = _visit(page, f"{url}/{name}")
                    filtered = _visit(page, f"{url}/{name}?channel=app")
                    rows.append((name, cold, warm, filtered, _peak_mib(proc.pid)))
                    print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s, filter {filtered:.2f} s",
                          flush=True)  # fmt: skip
                browser.close()
        finally:
            proc.terminate()
    return rows, info["transactions"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", default="20000", help="comma-separated sizes: 20000,1000000")
    args = ap.parse_args(argv)
    for customers in (int(x) for x in args.customers.split(",")):
        rows, n_tx = measure(customers)
        # issue 8: 2 s / 1 s at 20k customers, 5 s at 1M; no target in between
        target = {20_000: (2.0, 1.0), 1_000_000: (5.0, 5.0)}.get(customers, (None, None))
        print(f"\n| page ({customers:,} customers, {n_tx:,} transactions) | first load s "
              "| revisit s | filter change s |")  # fmt: skip
        print("|---|---:|---:|---:|")
        for name, cold, warm, filtered, peak in rows:
            print(f"| {name} | {cold:.2f} | {warm:.2f} | {filtered:.2f} |")
            size = f"{customers:,} customers ({n_tx:,} transactions)"
            peer = "target" if target[0] else "no target at this size"
            emit(f"page {name}: revisit", size, warm, peak, peer, target[0], None,
                 "peak = server process so far")  # fmt: skip
            emit(f"page {name}: filter change", size, filtered, peak, peer, target[1], None,
                 f"first load {cold:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
