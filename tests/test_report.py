"""Offline report and chart export."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from clm_core.report import ReportSection, chromium_path, figure_image, html_report, pdf_report

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="chromium not installed")


def _fig():
    return go.Figure(go.Bar(x=["新客户", "流失"], y=[3, 1]), layout={"title": "阶段 stages"})


def test_html_report_is_self_contained_and_escapes():
    doc = html_report(
        "Report <b>", [ReportSection("Sizes", "<script>alert(1)</script>", _fig())] * 2
    )
    assert "<script src=" not in doc and "<link" not in doc  # nothing fetched from the network
    assert doc.count("Plotly.newPlot") == 2
    assert "<script>alert(1)</script>" not in doc and "&lt;script&gt;" in doc
    assert "Report &lt;b&gt;" in doc


@needs_chromium
def test_png_and_svg_render_offline():
    png = figure_image(_fig(), "png", width=400, height=300)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = figure_image(_fig(), "svg", width=400, height=300)
    assert b"<svg" in svg[:500]


@needs_chromium
def test_pdf_report():
    pdf = pdf_report(html_report("R", [ReportSection("S", "t", _fig())]))
    assert pdf[:5] == b"%PDF-"


def test_bad_format():
    with pytest.raises(ValueError):
        figure_image(_fig(), "gif")
