"""Two results files side by side, like pyperf's ``compare_to``: per workload and candidate
(variant with its upstream client) in both, capacity at SLO in each, their ratio with its
95 % interval, and whether the difference is significant.

Reads two ``Results``; never measures. Each side's samples are its candidate's capacity per
round (:func:`djbench.plan.judge.capacity_sample`), as its own verdicts use them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from djbench.analysis.core import Analysis
from djbench.analysis.statistics import Comparison, compare
from djbench.analysis.verdicts import Candidate
from djbench.model.results import CandidateKey, Distance, Results
from djbench.outputs.report.terminal import print_table


@dataclass(frozen=True)
class Row:
    """One candidate on one workload, measured in both files."""

    workload: str
    label: str
    a: Candidate
    b: Candidate
    change: Comparison | None
    """B against A (ratio B / A); None when A's capacity is 0."""

    @property
    def verdict(self) -> str:
        """``faster``, ``slower`` or ``≈`` (B relative to A); ``untested`` when a side has
        one sample (no test can tell a change from noise)."""
        c = self.change
        if c is None:
            return "≈"
        if c.p_value is None:
            return "untested"
        if c.significant:
            return "faster"
        # The test is symmetric: a significant drop is a ratio whose inverse passes.
        inverse = compare(self.a.samples, self.b.samples) if self.b.capacity.median > 0 else None
        if inverse is not None and inverse.significant:
            return "slower"
        return "≈"


@dataclass(frozen=True)
class Comparisons:
    """What two analyses have in common, and what only one of them has."""

    rows: tuple[Row, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    """``workload / label`` of candidates measured in one file only (or not meeting the SLO)."""


def _candidates(
    analysis: Analysis,
) -> dict[tuple[str, Distance, CandidateKey], Candidate]:
    return {(v.workload, v.distance, c.key): c for v in analysis.verdicts for c in v.candidates}


def compare_analyses(a: Analysis, b: Analysis) -> Comparisons:
    """Every candidate that met the SLO in both files, B against A."""
    in_a, in_b = _candidates(a), _candidates(b)
    rows = []
    for key, first in in_a.items():
        second = in_b.get(key)
        if second is None:
            continue
        change = compare(second.samples, first.samples) if first.capacity.median > 0 else None
        rows.append(Row(key[0], first.label, first, second, change))
    only_a = tuple(f"{key[0]} / {c.label}" for key, c in in_a.items() if key not in in_b)
    only_b = tuple(f"{key[0]} / {c.label}" for key, c in in_b.items() if key not in in_a)
    return Comparisons(tuple(rows), only_a, only_b)


def row_cells(row: Row) -> list[str]:
    """The cells of one row: workload, candidate, A, B, B / A, verdict (with the test)."""
    c = row.change
    ratio = c.ratio.text(".2f", "×") if c else "–"
    why = ""
    if c is not None:
        why = f" (p={c.p_value:.2g})" if c.p_value is not None else f" ({c.why_not})"
    return [
        row.workload,
        row.label,
        row.a.capacity.text(),
        row.b.capacity.text(),
        ratio,
        row.verdict + why,
    ]


HEADERS = ("workload", "variant", "A req/s at SLO", "B req/s at SLO", "B / A", "B is")


def differences(a: Results, b: Results, schemas: tuple[str, str]) -> list[str]:
    """What two results files were not measured alike in (pyperf refuses to compare such
    runs): backend, CPU model, the server's CPU budget and quota, results version, server
    versions; empty when they agree. ``schemas``: each file's version as stored."""
    ea, eb = a.environment, b.environment
    pairs = {
        "backend": (a.backend, b.backend),
        "cpu_model": (ea.cpu_model, eb.cpu_model),
        "server CPUs": (len(ea.server_cpus), len(eb.server_cpus)),
        "cpu_quota": (ea.cpu_quota, eb.cpu_quota),
        "results version": schemas,
        **{
            f"{server} version": (ea.servers.get(server), eb.servers.get(server))
            for server in sorted({*ea.servers, *eb.servers})
        },
    }
    return [f"{key} {x!r} vs {y!r}" for key, (x, y) in pairs.items() if x != y]


def print_comparison(console: Console, title: str, found: Comparisons) -> None:
    """The comparison as a table (``print_table``), then what only one side has."""
    print_table(
        console,
        title,
        HEADERS,
        [row_cells(r) for r in found.rows],
        right={"A req/s at SLO", "B req/s at SLO", "B / A"},
    )
    for side, names in (("A", found.only_a), ("B", found.only_b)):
        if names:
            console.print(Text(f"only in {side}: {', '.join(names)}"), soft_wrap=True)
