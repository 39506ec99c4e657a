"""How a run ends on the console: its reports written, the summary, the exit status said (or,
interrupted, what was kept)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console
from rich.text import Text

from djbench.analysis.core import analyze
from djbench.model.errors import DjbenchError
from djbench.model.results import Results
from djbench.model.results_file import load_results
from djbench.outputs.report import print_summary, render_reports
from djbench.run.outcome import outcome


def finish_run(console: Console, results: Results, out_dir: Path, took_s: float) -> int:
    """The reports and the summary; returns the exit status that says how the run ended
    (said in a line when it is not 0)."""
    analysis = analyze(results)
    paths = render_reports(results, out_dir, analysis)
    print_summary(console, results, analysis, paths[0])
    done = f"done in {took_s:.0f}s: " + ", ".join(map(str, paths))
    console.print(Text(done), soft_wrap=True)  # paths whole: no wrap at 80 columns in a log
    ended = outcome(results)
    if ended.status:
        line = f"exit status {ended.status}: {ended.message}; logs in {out_dir / 'logs'}"
        console.print(Text(line, style="yellow"), soft_wrap=True)
    return ended.status


def after_interrupt(console: Console, out_dir: Path) -> None:
    """Said after Ctrl-C: every process stopped, the steps measured so far kept and rendered."""
    console.print(Text("interrupted: every process was stopped"))
    with contextlib.suppress(DjbenchError):
        results = load_results(out_dir)
        steps = sum(len(r.steps) for r in results.runs)
        paths = render_reports(results, out_dir)
        console.print(Text(f"kept {steps} measured steps: {', '.join(map(str, paths))}"))
