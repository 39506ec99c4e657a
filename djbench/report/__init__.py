"""Reports of one results file: ``report.md``, ``report.html`` and the terminal table."""

from __future__ import annotations

from pathlib import Path

from djbench.analysis import Analysis, analyze
from djbench.report.html import render_html
from djbench.report.markdown import render_markdown
from djbench.report.terminal import summary_table
from djbench.results import Results

__all__ = ["render_html", "render_markdown", "render_reports", "summary_table"]


def render_reports(results: Results, out_dir: Path, analysis: Analysis | None = None) -> list[Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir``; return their paths."""
    analysis = analysis or analyze(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.md", render_markdown(analysis)),
        ("report.html", render_html(analysis)),
    ):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
