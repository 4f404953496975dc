"""Page render times in a real browser (Debian chromium + playwright).

For each page: time to interactive on first load (cold caches), on a second visit (warm), and
after a filter change (channel filter set through the URL). Run: `python -m bench.bench_pages
[--customers N]`; it builds a demo dataset of N customers in a temp folder and starts its own
Streamlit server. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clm_core import demo
from tests.e2e.conftest import CHROMIUM, start_server, wait_app

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


def _visit(page, url: str) -> float:
    t0 = time.perf_counter()
    page.goto(url)
    wait_app(page)
    return time.perf_counter() - t0 - 0.8  # wait_app's settle pause is not render time


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20000)
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        info = demo.build_demo(folder / "demo-retail.duckdb", customers=args.customers, seed=42)
        print(f"demo: {args.customers} customers, {info['transactions']} transactions "
              f"built in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        proc, url = start_server(folder)
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(600_000)
                _visit(page, url)  # warm the server process itself
                for name in PAGES:
                    cold = _visit(page, f"{url}/{name}")
                    warm = _visit(page, f"{url}/{name}")
                    filtered = _visit(page, f"{url}/{name}?channel=app")
                    rows.append((name, cold, warm, filtered))
                    print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s, filter {filtered:.2f} s",
                          flush=True)  # fmt: skip
                browser.close()
        finally:
            proc.terminate()
    print(f"\n| page ({args.customers:,} customers) | first load s | revisit s | filter change s |")
    print("|---|---|---|---|")
    for name, cold, warm, filtered in rows:
        print(f"| {name} | {cold:.2f} | {warm:.2f} | {filtered:.2f} |")


if __name__ == "__main__":
    main()
