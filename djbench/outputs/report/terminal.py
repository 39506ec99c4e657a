"""The summary printed after a run and by ``djbench report``.

On a terminal it is a rich table. Without one (CI logs, a pipe, ``| tee``) rich would fit the
table into 80 columns and cut the variant names to ``gunicorn…``, so four gunicorn variants
read alike: there it is plain text, columns as wide as their widest cell, one line per row.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from djbench.analysis.core import Analysis, analyze
from djbench.analysis.verdicts import Verdict, runs_text
from djbench.model.results import DIRECT, Results
from djbench.model.variants import Variant
from djbench.outputs.report.checks import counts_text, group_warnings
from djbench.outputs.report.formats import fmt_num
from djbench.plan.judge import RunSummary

COLUMNS = ("workload", "variant", "best req/s", "req/s at SLO", "p99 ms", "CPU ms/req", "verdict")
_RIGHT = {"best req/s", "req/s at SLO", "p99 ms", "CPU ms/req"}


def _marker(runs: list[RunSummary], verdict: Verdict) -> tuple[str, str]:
    """The verdict cell of a candidate's runs, with its style. Whether a lead is significant
    is the verdict sentence's to say."""
    best = runs[0].label == verdict.winner_label
    if all(r.run.status == "failed" for r in runs) and not best:
        return "failed", "red"
    if runs[0].label in {label for label, _ in verdict.missed}:
        return "missed SLO when searched", "yellow"
    if runs[0].label in verdict.lost:
        return "search failed", "red"
    if not any(r.capacity_rps is not None for r in runs) and not best:
        return "misses SLO", "yellow"
    if any(r.run.status == "failed" for r in runs) and not best:
        return "a run failed", "yellow"
    return ("★ best at SLO", "bold green") if best else ("", "")


def _candidates(analysis: Analysis, workload: str) -> list[list[RunSummary]]:
    """A workload's runs by candidate (variant, client and distance), in results order: one
    row each, whatever its rounds."""
    groups: dict[tuple[object, ...], list[RunSummary]] = {}
    for summary in analysis.runs_for(workload):
        groups.setdefault((summary.run.key, summary.run.distance), []).append(summary)
    return list(groups.values())


def _at_slo(runs: list[RunSummary], verdict: Verdict) -> str:
    """A candidate's capacity at SLO: the verdict's median over its rounds (with their count
    when more than one), else its best step within the SLO."""
    found = next((c for c in verdict.candidates if c.key == runs[0].run.key), None)
    if found is not None:
        mark = "≥" if found.censored else ""
        rounds = f" (n={found.capacity.n})" if found.capacity.n > 1 else ""
        return f"{mark}{fmt_num(found.capacity.median)}{rounds}"
    if runs[0].label in {label for label, _ in verdict.missed} or runs[0].label in verdict.lost:
        return fmt_num(None)  # searched, and the search is what counts: not the survey's rate
    return fmt_num(max((r.capacity_rps for r in runs if r.capacity_rps), default=None))


def _rows(analysis: Analysis) -> list[list[tuple[str, str]]]:
    """Cells (text, style) per workload and candidate; a workload's name on its first row."""
    rows = []
    for w in analysis.workloads:
        for i, runs in enumerate(_candidates(analysis, w)):
            verdict = analysis.verdict_for(w, runs[0].run.distance)
            # The survey's best step within the SLO: the rate, p99 and CPU of one step.
            survey = [r for r in runs if r.run.purpose == "survey"] or runs
            steps = [s for r in survey if (s := r.capacity_step) is not None]
            step = max(steps, key=lambda s: s.rps, default=None)
            cells = [
                w if i == 0 else "",
                runs[0].label,
                fmt_num(max((b for r in runs if (b := r.best_rps) is not None), default=None)),
                _at_slo(runs, verdict),
                fmt_num(step.latency_ms.p99 if step else None),
                fmt_num(step.cpu_ms_per_req if step else None, 2),
            ]
            rows.append([(c, "") for c in cells] + [_marker(runs, verdict)])
    return rows


def _footer(analysis: Analysis, report: Path | None) -> list[str]:
    """The verdict sentences, the failed runs by cause and the self-check counts: a glance is
    enough."""
    lines = [f"warning: {analysis.busy_machine}"] if analysis.busy_machine else []
    lines += [
        f"{v.workload}{'' if v.distance == DIRECT else ' @ ' + v.distance.label} "
        f"(p99 ≤ {fmt_num(analysis.scenario.slo_for(v.workload).p99_ms, 0)} ms): {v.text}"
        for v in analysis.verdicts
    ]
    for group in analysis.failures:
        shown = ", ".join(group.places[:FAILED_PLACES])
        more = len(group.places) - FAILED_PLACES
        lines.append(
            f"failed ({runs_text(len(group.places))}): {group.cause} — {shown}"
            + (f" and {more} more" if more > 0 else "")
        )
    if analysis.warnings:
        where = str(report) if report else "report.md"
        lines.append(
            f"{len(analysis.warnings)} self-check warnings: "
            f"{counts_text(group_warnings(analysis.warnings))}; see {where}"
        )
    return lines


FAILED_PLACES = 6
"""The runs a failure line names before it counts the rest."""


Cell = str | Text
"""A table cell: ``Text`` carries a style; neither is ever read as rich markup."""


def _cell_text(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def rich_table(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    right: Collection[str] = frozenset(),
    footer: Sequence[str] = (),
) -> Table:
    """A rich table for a terminal: a section per value of the first column; a narrow
    terminal folds the second column (the variant) onto more lines, never cuts it."""
    rows = list(rows)
    table = Table(title=Text(title, style="table.title"), title_justify="left")
    for i, header in enumerate(headers):
        table.add_column(
            header,
            justify="right" if header in right else "left",
            overflow="fold" if i == 1 else "ellipsis",
        )
    group = None
    for n, row in enumerate(rows):
        first = _cell_text(row[0])
        if first and first != group:
            if n:
                table.add_section()
            group = first
        table.add_row(*(c if isinstance(c, Text) else Text(c) for c in row))
    if footer:
        table.caption = Text("\n".join(footer))
        table.caption_justify = "left"
    return table


def plain_table(
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    right: Collection[str] = frozenset(),
    footer: Sequence[str] = (),
) -> list[str]:
    """The same table as plain lines: columns as wide as their widest cell, nothing cut."""
    cells = [list(headers)] + [[_cell_text(c) for c in row] for row in rows]
    widths = [max(cell_len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        padded = [
            " " * (w - cell_len(c)) + c if h in right else c + " " * (w - cell_len(c))
            for c, w, h in zip(row, widths, headers, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [title, line(cells[0]), rule, *(line(r) for r in cells[1:])]
    return [*out, "", *footer] if footer else out


def print_table(
    console: Console,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    right: Collection[str] = frozenset(),
    footer: Sequence[str] = (),
) -> None:
    """A rich table on a terminal; without one (a CI log, a pipe) plain lines, never wrapped,
    so every name stays whole."""
    rows = list(rows)
    if console.is_terminal:
        console.print(rich_table(title, headers, rows, right, footer))
        return
    for text in plain_table(title, headers, rows, right, footer):
        console.print(Text(text), soft_wrap=True)


def summary_table(
    results: Results, analysis: Analysis | None = None, report: Path | None = None
) -> Table:
    """Per workload and variant: best req/s, capacity at SLO, its p99 and CPU cost, verdict."""
    analysis = analysis or analyze(results)
    return rich_table(*_summary(analysis, report))


def summary_text(
    results: Results, analysis: Analysis | None = None, report: Path | None = None
) -> str:
    """The summary as plain text: every name whole, one line per row, no line wrapped."""
    analysis = analysis or analyze(results)
    return "\n".join(plain_table(*_summary(analysis, report)))


def _summary(
    analysis: Analysis, report: Path | None
) -> tuple[str, Sequence[str], list[list[Cell]], Collection[str], list[str]]:
    rows: list[list[Cell]] = [
        [text if not style else Text(text, style=style) for text, style in row]
        for row in _rows(analysis)
    ]
    title = f"djbench: {analysis.scenario.name}"
    return title, COLUMNS, rows, _RIGHT, _footer(analysis, report)


def print_summary(
    console: Console,
    results: Results,
    analysis: Analysis | None = None,
    report: Path | None = None,
) -> None:
    """Print the summary: a table on a terminal, plain unwrapped lines otherwise; ``report``
    is the path the self-check line points at."""
    analysis = analysis or analyze(results)
    print_table(console, *_summary(analysis, report))


def variants_table(variants: Iterable[Variant]) -> Table:
    """``djbench variants``: every variant with its server, interface, views, threads and
    line-up, from variants.yaml."""
    table = Table(title="djbench variants (one worker each)")
    for col in ("variant", "server", "interface", "views", "threads", "line-up"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")
    for v in variants:
        cells = (
            v.label, v.server, v.interface, v.views, str(v.threads),
            "standard" if v.standard else "extra", v.description,
        )  # fmt: skip
        table.add_row(*map(Text, cells))
    return table
