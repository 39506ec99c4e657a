"""What each part of a traffic mix got: the share of requests k6 sent of it, and its own
latency, at the step each run's capacity at SLO was measured in (its best step where none met
the SLO). The mix's SLO is judged on all its requests together (``djbench.plan.judge``); the
parts show which of them spends the p99.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from djbench.model.results import Part, Step
from djbench.plan.judge import RunSummary


@dataclass(frozen=True)
class PartRow:
    """One part of a mix in one run's capacity step."""

    label: str
    load: str
    part: Part
    sent: float
    """The part's share of the step's requests, as sent."""
    at_slo: bool
    """Whether the step met the SLO (else it is the run's best step)."""


def mix_rows(summaries: Iterable[RunSummary]) -> tuple[PartRow, ...]:
    """Each part of each survey run of a mix, in results order then the mix's order."""
    rows: list[PartRow] = []
    for summary in summaries:
        if summary.run.purpose != "survey":
            continue
        step = summary.capacity_step or _best(summary.run.steps)
        if step is None or not step.parts:
            continue
        total = sum(p.requests for p in step.parts)
        rows += [
            PartRow(
                label=summary.label,
                load=step.load_label,
                part=part,
                sent=part.requests / total if total else 0.0,
                at_slo=summary.capacity_step is not None,
            )
            for part in step.parts
        ]
    return tuple(rows)


def _best(steps: list[Step]) -> Step | None:
    measured = [s for s in steps if s.measured]
    return max(measured, key=lambda s: s.rps, default=None)
