"""Page render times in a real browser (Debian chromium + playwright).

For each page: time until the page is interactive (script finished, no spinner) on first load
(cold caches), on a second visit (warm caches), and after filter changes as a user makes them: on
the loaded page, pick a region in the sidebar's Region filter and wait until the page is quiet
again. Two filter changes: a region on the unfiltered page (a customer filter: per-customer
results select the region's rows) and a region on top of a channel filter set through the URL
(the channel filter changes what each customer bought, so everything is recomputed; the URL load
itself is timed too). Last, the page opened by a URL with a date range (the last year or so of
data; dates pick transactions, events, campaigns and feedback), and on that page a new start
date typed into the sidebar's date range (a filter change: committed when the field loses
focus, checked in the URL). Every page gets a channel set, regions and date ranges no cache has
seen. Run:
`python -m bench.bench_pages [--customers N,M]`; for each size it builds a demo dataset in a temp
folder and starts its own Streamlit server.
Targets (issue 8): interactive within 2 s after the first load and filter changes within 1 s at
20k customers; within 5 s at 1M. The Churn risk page's first load includes training the churn
model (shown with a progress bar), which is cached per dataset version afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import tempfile
import time
from pathlib import Path

from bench.common import emit
from clm_core import demo, store
from clm_core.filters import filter_options
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


# Busy: the script is running (Streamlit's own test attribute on stApp), the status widget, a
# skeleton (a chart still loading) or a spinner, or an element left from the previous run that
# this run has not redrawn yet (data-stale). The status widget alone misses runs: it appears only
# after 500 ms of running, and a rerun after a widget change can run for seconds without it.
_BUSY = (
    "() => !!document.querySelector('"
    '[data-testid="stApp"][data-test-script-state="running"], '
    '[data-testid="stApp"][data-test-script-state="rerunRequested"], '
    '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-testid*="Spinner"], '
    '[data-stale="true"]\')'
)


def _until_quiet(page, t0: float, quiet: float) -> float:
    """Seconds from ``t0`` until the page last showed it was busy (script running, skeleton or
    spinner), once it has then stayed quiet for ``quiet`` seconds."""
    last_busy = time.perf_counter()
    while time.perf_counter() - last_busy < quiet:
        if page.evaluate(_BUSY):
            last_busy = time.perf_counter()
        time.sleep(0.05)
    return last_busy - t0


def _visit(page, url: str, quiet: float = 1.5) -> float:
    """Seconds from navigation until the page is quiet with a title on screen."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector('[data-testid="stMain"] h1')
    return _until_quiet(page, t0, quiet)


def _shown(page, widget):
    """``widget`` (a locator in the sidebar's Filters expander), the expander opened if it is
    closed (a page load closes it)."""
    if not widget.is_visible():
        expander = page.get_by_test_id("stSidebar").get_by_test_id("stExpander")
        expander.filter(has_text="Filters").get_by_text("Filters", exact=True).click()
        widget.wait_for()
        page.wait_for_timeout(500)  # the expander's animation; a click during it is lost
    return widget


def _pick_filter(page, label: str, value: str, quiet: float = 1.5) -> float:
    """Seconds from choosing ``value`` in the sidebar multiselect ``label`` (on the loaded page)
    until the page is quiet again: the rerun under the new filter, as a user sees it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    sidebar = page.get_by_test_id("stSidebar")
    box = _shown(page, sidebar.get_by_test_id("stMultiSelect").filter(has_text=label))
    option = page.get_by_role("option", name=value, exact=True)
    for attempt in range(3):
        box.locator("input").click()
        try:
            option.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    t0 = time.perf_counter()
    option.click()
    took = _until_quiet(page, t0, quiet)
    page.keyboard.press("Escape")
    return took


def _type_start_date(page, day: dt.date, quiet: float = 1.5) -> float:
    """Seconds from committing ``day`` as the start of the sidebar's date range (typed into the
    field, committed when the field loses focus) until the page is quiet again."""
    box = _shown(page, page.get_by_test_id("stSidebar").get_by_test_id("stDateInput"))
    box.get_by_role("spinbutton", name="year, Date range start date").click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    t0 = time.perf_counter()
    page.locator('[data-testid="stMain"] h1').click()  # focus leaves the field: committed
    took = _until_quiet(page, t0, quiet)
    if f"from={day.isoformat()}" not in page.url:
        raise RuntimeError(f"the typed start date did not reach the URL: {page.url}")
    return took


def _peak_mib(pid: int) -> float | None:
    """The Streamlit server's peak RSS so far (Linux VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _filter_values(path: Path) -> list[tuple[tuple[str, ...], str, str, str, dt.date]]:
    """One (channel set, region, region alone, date range, start date) per page, each channel
    set used once (singles, then pairs) and each date range too (by URL the last 365 days, 366,
    ...; typed in the sidebar from 200, 201, ... days back), so every page's filter is one no
    cache has seen."""
    con = store.connect(path)
    try:
        opts = filter_options(store.cursor(con))
    finally:
        con.close()
    channels, regions, last = opts["channels"], opts["regions"], opts["dates"][1]
    sets = [(c,) for c in channels] + list(itertools.combinations(channels, 2))
    return [
        (sets[i], regions[i % len(regions)], regions[(i + 1) % len(regions)],
         f"from={(last - dt.timedelta(days=365 + i)).isoformat()}&to={last.isoformat()}",
         last - dt.timedelta(days=200 + i))
        for i in range(len(PAGES))
    ]  # fmt: skip


def measure(customers: int) -> list[tuple]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        folder.mkdir()
        t0 = time.perf_counter()
        info = demo.build_demo(folder / "demo-retail.duckdb", customers=customers, seed=42)
        print(f"demo: {customers:,} customers, {info['transactions']:,} transactions "
              f"built in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
        values = _filter_values(folder / "demo-retail.duckdb")
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
                for name, (channels, region, alone, dates, start) in zip(
                    PAGES, values, strict=True
                ):
                    path = "" if name == "overview" else name  # the default page is "/"
                    cold = _visit(page, f"{url}/{path}")
                    warm = _visit(page, f"{url}/{path}")
                    by_customer = _pick_filter(page, "Region", alone)
                    by_url = _visit(page, f"{url}/{path}?channel={','.join(channels)}")
                    changed = _pick_filter(page, "Region", region)
                    by_date = _visit(page, f"{url}/{path}?{dates}")
                    typed = _type_start_date(page, start)
                    rows.append((name, cold, warm, by_customer, changed, by_url, by_date, typed,
                                 _peak_mib(proc.pid)))  # fmt: skip
                    print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s, region filter "
                          f"{by_customer:.2f} s (region {alone}), filter change {changed:.2f} s "
                          f"(region {region} on channel {'+'.join(channels)}), "
                          f"filter by URL {by_url:.2f} s, date range by URL {by_date:.2f} s "
                          f"({dates}), start date typed in the sidebar {typed:.2f} s "
                          f"({start})", flush=True)  # fmt: skip
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
              "| revisit s | region filter s | region on a channel filter s "
              "| channel filter by URL (page load) s | date range by URL (page load) s "
              "| date range typed in the sidebar s |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, cold, warm, by_customer, filtered, by_url, by_date, typed, peak in rows:
            print(f"| {name} | {cold:.2f} | {warm:.2f} | {by_customer:.2f} | {filtered:.2f} "
                  f"| {by_url:.2f} | {by_date:.2f} | {typed:.2f} |")  # fmt: skip
            size = f"{customers:,} customers ({n_tx:,} transactions)"
            peer = "target" if target[0] else "no target at this size"
            emit(f"page {name}: revisit", size, warm, peak, peer, target[0], None,
                 "peak = server process so far")  # fmt: skip
            emit(f"page {name}: region filter", size, by_customer, peak, peer, target[1], None,
                 "sidebar widget, on the unfiltered page")  # fmt: skip
            emit(f"page {name}: filter change", size, filtered, peak, peer, target[1], None,
                 f"region on a channel filter; first load {cold:.2f} s, by URL "
                 f"{by_url:.2f} s")  # fmt: skip
            emit(f"page {name}: channel filter by URL", size, by_url, peak, peer, target[0],
                 None, "page load with a new channel filter in the URL")  # fmt: skip
            emit(f"page {name}: date range by URL", size, by_date, peak, peer, target[0], None,
                 "page load with a new date range in the URL")  # fmt: skip
            emit(f"page {name}: date range in the sidebar", size, typed, peak, peer, target[1],
                 None, "a new start date typed in the sidebar, on a date-filtered page")  # fmt: skip


if __name__ == "__main__":
    main()
