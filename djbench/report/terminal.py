"""The summary table printed after a run and by ``djbench report``."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from djbench.analysis import Analysis, RunSummary, Verdict, analyze
from djbench.report.markdown import fmt_num
from djbench.results import Results


def _marker(summary: RunSummary, verdict: Verdict) -> Text:
    # A run with a failed step still has the capacity its good steps showed: verdict first.
    ranked = summary.label in (verdict.winner_label, verdict.runner_up_label)
    if summary.run.status == "failed" and not ranked:
        return Text("failed", style="red")
    if summary.capacity_rps is None:
        return Text("misses SLO", style="yellow")
    if not ranked:
        return Text("")
    if not verdict.significant:
        return Text("≈ tie", style="yellow")
    if summary.label == verdict.winner_label:
        return Text("★ winner", style="bold green")
    return Text("runner-up")


def summary_table(results: Results, analysis: Analysis | None = None) -> Table:
    """Per workload and variant: best req/s, capacity at SLO, its p99 and CPU cost, verdict."""
    analysis = analysis or analyze(results)
    # Text, not str, for every name from the results file: none is read as rich markup.
    title = Text(f"djbench: {analysis.scenario.name}", style="table.title")
    table = Table(title=title, title_justify="left")
    table.add_column("workload")
    # Whole names even without a terminal (CI logs, a pipe): four gunicorn variants and their
    # clients must stay apart.
    table.add_column("variant", no_wrap=True)
    for header in ("best req/s", "req/s at SLO", "p99 ms", "CPU ms/req"):
        table.add_column(header, justify="right")
    table.add_column("verdict")
    for w in analysis.workloads:
        verdict = analysis.verdict_for(w)
        for i, summary in enumerate(analysis.runs_for(w)):
            step = summary.capacity_step
            table.add_row(
                Text(w if i == 0 else ""),
                Text(summary.label),
                fmt_num(summary.best_rps),
                fmt_num(summary.capacity_rps),
                fmt_num(step.latency_ms.p99 if step else None),
                fmt_num(step.cpu_ms_per_req if step else None, 2),
                _marker(summary, verdict),
            )
        table.add_section()
    # The verdict sentences and the warning count travel with the table, so a glance is enough.
    lines = [
        f"{v.workload} (p99 ≤ {fmt_num(v.slo.p99_ms, 0)} ms): {v.text}" for v in analysis.verdicts
    ]
    if analysis.warnings:
        lines.append(f"{len(analysis.warnings)} self-check warning(s): see report.md")
    table.caption = Text("\n".join(lines))
    table.caption_justify = "left"
    return table
