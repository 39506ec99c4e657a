"""Self-check warnings grouped by kind: a count and the places it fired, not one line each.

A default run fires dozens of warnings, most of a few kinds (few requests at the lightest
loads, physics on the waiting workloads): listed one by one they bury the one that matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from djbench.analysis.checks import CheckWarning

KIND_ABOUT: dict[str, str] = {
    "failed-run": "runs that failed: only the steps measured before the failure count",
    "failed-step": "steps that failed: their numbers are partial and count for nothing",
    "error-rate": "steps whose error rate is above the SLO's",
    "few-requests": "steps with too few requests for a stable p99",
    "load-saturation": "steps whose load side (k6, Postgres, stub API) was near saturation: "
    "the server may not have been the limit",
    "proxy-saturation": "steps whose latency proxy (one event loop) was near a whole CPU: "
    "it may have added more than the round trip asked for",
    "infra-bound": "steps where Postgres and the stub API were busy while the server idled: "
    "the database was the limit",
    "db-refused": "steps in which Postgres refused connections: its max_connections were in use",
    "outside-load": "steps in which something other than the server used its CPU: another "
    "program or the machine's host took time the server's budget counts on",
    "physics": "steps of a waiting workload below what their concurrency, slots and CPU allow",
    "cpu-sources": "steps whose server CPU seconds cAdvisor and the cgroup disagree on",
    "few-cycles": "closed steps shorter than the scenario's request cycles: their rate is "
    "an early sample of a longer cycle",
    "repeats": "candidates whose repeats are too few, too spread or have far extremes "
    "(pyperf-style)",
}
"""What each kind of warning means, in a line; a kind not listed shows its first message."""


@dataclass(frozen=True)
class WarningGroup:
    """Every warning of one kind."""

    kind: str
    warnings: tuple[CheckWarning, ...]

    @property
    def count(self) -> int:
        return len(self.warnings)

    @property
    def about(self) -> str:
        return KIND_ABOUT.get(self.kind, self.warnings[0].message)

    @property
    def heading(self) -> str:
        """``few-requests ×24``."""
        return f"{self.kind} ×{self.count}"

    @property
    def places(self) -> list[str]:
        """Where it fired, one entry per run: ``upstream / uvicorn · aiohttp @ c=1, c=8``."""
        loads: dict[tuple[str, str], list[str]] = {}
        for w in self.warnings:
            here = loads.setdefault((w.workload, w.variant), [])
            if w.load is not None and w.load not in here:
                here.append(w.load)
        return [
            f"{workload} / {variant}" + (f" @ {', '.join(at)}" if at else "")
            for (workload, variant), at in loads.items()
        ]


def group_warnings(
    warnings: Iterable[CheckWarning], workload: str | None = None
) -> list[WarningGroup]:
    """The warnings (of one workload, or all) by kind: known kinds in ``KIND_ABOUT`` order,
    then any other by name."""
    by_kind: dict[str, list[CheckWarning]] = {}
    for w in warnings:
        if workload is None or w.workload == workload:
            by_kind.setdefault(w.kind, []).append(w)
    order = list(KIND_ABOUT)
    kinds = sorted(by_kind, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [WarningGroup(k, tuple(by_kind[k])) for k in kinds]


def counts_text(groups: Iterable[WarningGroup]) -> str:
    """``few-requests ×24, physics ×3``; empty without warnings."""
    return ", ".join(g.heading for g in groups)
