"""Offline exports: chart images (PNG/SVG via kaleido + local Chromium) and one-file reports.

Nothing here touches the network: plotly.js is inlined into the HTML report, images are
rendered by kaleido driving the machine's Chromium (Debian ``chromium``), and the PDF is printed
by the same Chromium from the HTML file.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from clm_core.errors import ClmError

__all__ = ["ReportSection", "chromium_path", "figure_image", "html_report", "pdf_report"]

_CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    for candidate in (os.environ.get("BROWSER_PATH"), *_CHROMIUM_CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def figure_image(
    fig: go.Figure, fmt: str = "png", *, width: int = 1200, height: int = 600
) -> bytes:
    """The figure as PNG or SVG bytes, rendered offline."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"format must be png or svg, not {fmt!r}")
    browser = chromium_path()
    if browser is None:
        raise ClmError("Chart export needs Chromium (Debian package 'chromium').")
    os.environ.setdefault("BROWSER_PATH", browser)
    return pio.to_image(fig, format=fmt, width=width, height=height, scale=2 if fmt == "png" else 1)


@dataclass(frozen=True)
class ReportSection:
    title: str
    takeaway: str
    figure: go.Figure | None = None


_CSS = """
body { font-family: 'Noto Sans CJK SC', 'Noto Sans', Arial, sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1e293b; }
h1 { margin-bottom: 0.2rem; } .meta { color: #64748b; margin-bottom: 2rem; }
section { page-break-inside: avoid; margin-bottom: 2.5rem; }
.takeaway { font-size: 1.05rem; background: #f1f5f9; padding: 0.6rem 0.9rem; border-radius: 6px; }
"""


def html_report(title: str, sections: list[ReportSection], *, subtitle: str = "") -> str:
    """A self-contained HTML document (plotly.js inlined once) that opens with no network."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<div class='meta'>{html.escape(subtitle)} · "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</div>",
    ]
    for i, sec in enumerate(sections):
        parts.append(f"<section><h2>{html.escape(sec.title)}</h2>")
        if sec.takeaway:
            parts.append(f"<p class='takeaway'>{html.escape(sec.takeaway)}</p>")
        if sec.figure is not None:
            parts.append(
                pio.to_html(
                    sec.figure,
                    include_plotlyjs=False,
                    full_html=False,
                    div_id=f"chart-{i}",
                    config={"displaylogo": False},
                )
            )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def pdf_report(html_text: str, *, timeout: float = 120) -> bytes:
    """Print the HTML report to PDF with headless Chromium (offline)."""
    browser = chromium_path()
    if browser is None:
        raise ClmError("PDF export needs Chromium (Debian package 'chromium').")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.html"
        out = Path(tmp) / "report.pdf"
        src.write_text(html_text, encoding="utf-8")
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp}/profile", "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=10000", "--no-pdf-header-footer",
            f"--print-to-pdf={out}", src.as_uri(),
        ]  # fmt: skip
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise ClmError("PDF export timed out.") from e
        if not out.exists():
            raise ClmError("PDF export failed: Chromium produced no file.")
        return out.read_bytes()
