"""Browser tests: a real Streamlit server on a free port and Debian's headless Chromium.

When CLM_REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails the tests instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "tests" / "e2e" / "screenshots"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need_browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CLM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian chromium with CI=true")
        pytest.skip("Debian chromium not installed")


def start_server(data_folder: Path, extra_env: dict | None = None):
    """Start `streamlit run app.py` on a free port; returns (process, url)."""
    port = _free_port()
    env = dict(os.environ)
    env.update(CLM_DATA_DIR=str(data_folder), CLM_DB=str(data_folder / "demo-retail.duckdb"))
    env.update(extra_env or {})  # may name another dataset as CLM_DB
    log = open(data_folder.parent / f"streamlit-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
         "--server.port", str(port), "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log.name}")


@pytest.fixture(scope="session")
def e2e_data(tmp_path_factory, demo_template) -> Path:
    folder = tmp_path_factory.mktemp("e2e") / "data"
    folder.mkdir()
    shutil.copyfile(demo_template, folder / "demo-retail.duckdb")
    return folder


@pytest.fixture(scope="session")
def server(e2e_data):
    _need_browser()
    proc, url = start_server(e2e_data)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"],
        )  # fmt: skip
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()


def wait_app(page) -> None:
    """Wait until Streamlit has finished running the script (no 'Running' indicator)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        """() => document.querySelector('[data-testid="stMain"] h1')
             && !document.querySelector('[data-testid="stSkeleton"]')
             && !document.querySelector('[data-testid="stStatusWidget"]')""",
        timeout=90_000,
    )
    page.wait_for_timeout(800)


def screenshot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
