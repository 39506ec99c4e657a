"""Reports of one results file: ``report.md``, ``report.html`` and the terminal summary."""

from __future__ import annotations

from pathlib import Path

from djbench.analysis.core import Analysis, analyze
from djbench.model.results import Results
from djbench.outputs.report.html import render_html
from djbench.outputs.report.markdown import render_markdown
from djbench.outputs.report.plots import plot_files, workload_svgs
from djbench.outputs.report.terminal import print_summary, summary_table, summary_text

__all__ = [
    "print_summary",
    "render_html",
    "render_markdown",
    "render_reports",
    "summary_table",
    "summary_text",
]


def render_reports(results: Results, out_dir: Path, analysis: Analysis | None = None) -> list[Path]:
    """Write ``report.md`` (with its figures under ``plots/``) and ``report.html`` into
    ``out_dir``; return the two reports' paths."""
    analysis = analysis or analyze(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    svgs = workload_svgs(analysis)
    files = {w: f for w, f in plot_files(analysis).items() if w in svgs}
    for w, name in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svgs[w], encoding="utf-8")
    written = []
    for name, text in (
        ("report.md", render_markdown(analysis, files)),
        ("report.html", render_html(analysis, svgs)),
    ):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
