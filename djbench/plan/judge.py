"""Judging measured steps against the SLO, as the runner's search and the analysis both do:
why a step does not count, how near it came, a search's capacity, the survey's leaders.

Read by the runner (which rates to try next, which candidates to follow) and by the analysis
(capacities, verdicts): one judgement for both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

from djbench.model.names import run_label
from djbench.model.results import Run, Step
from djbench.model.scenario import Slo

KNEE_GAIN = 0.10
"""More concurrency that adds less throughput than this fraction is past the knee."""


MAX_DROPPED_FRACTION = 0.01
"""Open-model steps that dropped more iterations than this did not sustain their rate."""


@dataclass(frozen=True)
class RunSummary:
    """One run with its SLO outcome per step, capacity at SLO and knee."""

    run: Run
    slo: Slo
    slo_misses: tuple[tuple[str, ...], ...]
    """Per step (same order as ``run.steps``): why it does not count; empty when it does."""
    capacity_index: int | None
    knee_index: int | None

    @property
    def variant(self) -> str:
        return self.run.variant

    @property
    def workload(self) -> str:
        return self.run.workload

    @property
    def label(self) -> str:
        """Variant name (marked when crossed), with the upstream client when there is one,
        and the distance when not direct."""
        return run_label(self.run)

    @property
    def capacity_step(self) -> Step | None:
        return None if self.capacity_index is None else self.run.steps[self.capacity_index]

    @property
    def capacity_rps(self) -> float | None:
        """Highest throughput of a step that met the SLO, None when none did."""
        step = self.capacity_step
        return None if step is None else step.rps

    @property
    def knee_step(self) -> Step | None:
        return None if self.knee_index is None else self.run.steps[self.knee_index]

    @property
    def best_rps(self) -> float | None:
        """Highest throughput of any completed step, SLO or not."""
        return max((s.rps for s in self.run.steps if s.status == "ok"), default=None)


@dataclass(frozen=True)
class Searched:
    """One search's capacity at SLO (one round of one candidate on the open model)."""

    rate: float
    """Requests per second: interpolated where the SLO is reached, or the best passing rate."""
    bounded: bool
    """False when every rate the search tried met the SLO: ``rate`` is a lower bound."""
    collapsed: bool = False
    """True when the failing rate above was served at less than the passing rate below it
    (overload collapse): ``rate`` is then the passing rate tried, a probe, not a crossing."""


def slo_misses(step: Step, slo: Slo) -> tuple[str, ...]:
    """Why a step does not count towards capacity at SLO; empty when it does."""
    if step.status == "saturated":
        return ("saturated",)
    if step.status != "ok":
        return ("failed",)
    if step.requests == 0:
        return ("no requests",)
    misses = []
    if step.latency_ms.p99 > slo.p99_ms:
        misses.append("p99")
    if step.error_rate > slo.max_error_rate:
        misses.append("errors")
    # A dropped iteration is a request the open model wanted to send and could not.
    if step.model == "open" and step.dropped > MAX_DROPPED_FRACTION * step.requests:
        misses.append("dropped")
    return tuple(misses)


def slo_load(step: Step, slo: Slo) -> float:
    """How close a step came to its SLO: the largest of p99 over the SLO's p99, the error rate
    over the allowed one and the dropped share over ``MAX_DROPPED_FRACTION``. At most 1 meets
    the SLO (as ``slo_misses`` says); a failed or empty step is infinitely far."""
    if step.status != "ok" or step.requests == 0:
        return math.inf

    def share(value: float, limit: float) -> float:
        return value / limit if limit > 0 else (math.inf if value > 0 else 0.0)

    dropped = step.dropped / step.requests if step.model == "open" else 0.0
    return max(
        step.latency_ms.p99 / slo.p99_ms,
        share(step.error_rate, slo.max_error_rate),
        share(dropped, MAX_DROPPED_FRACTION),
    )


def searched_capacity(summary: RunSummary) -> Searched | None:
    """The capacity at SLO one open-model search found, None when no rate met the SLO.

    Between the highest rate that met the SLO and the lowest rate above it that did not, the
    rate where ``slo_load`` reaches 1, interpolated on the log of the load (a chord: where
    the true crossing lies in the bracket is not measured), but never above the throughput
    the failing rate was actually served at (the server's ceiling); the best passing rate
    itself when the rate above failed outright, and as a lower bound when no rate above it
    failed.
    """
    tried = [
        (step, not miss)
        for step, miss in zip(summary.run.steps, summary.slo_misses, strict=True)
        if step.model == "open" and step.rate
    ]
    passed = [step for step, ok in tried if ok]
    if not passed:
        return None
    lo = max(passed, key=lambda s: s.rate or 0.0)
    low_rate = lo.rate or 0.0
    above = [step for step, ok in tried if not ok and (step.rate or 0.0) > low_rate]
    if not above:
        return Searched(low_rate, bounded=False)
    hi = min(above, key=lambda s: s.rate or 0.0)
    near, far = max(slo_load(lo, summary.slo), 1e-9), slo_load(hi, summary.slo)
    if not math.isfinite(far) or far <= 1:
        return Searched(low_rate, bounded=True)
    share = -math.log(near) / (math.log(far) - math.log(near))
    chord = low_rate + share * ((hi.rate or 0.0) - low_rate)
    # Physics over the chord: where the server served less than it was offered, what it
    # served is the most it can carry, within the SLO or not.
    served = hi.rps if 0 < hi.rps < (hi.rate or 0.0) else chord
    return Searched(min(chord, max(low_rate, served)), bounded=True, collapsed=served < low_rate)


def _knee_index(steps: list[Step]) -> int | None:
    closed = sorted(
        (i for i, s in enumerate(steps) if s.model == "closed" and s.status == "ok"),
        key=lambda i: steps[i].concurrency or 0,
    )
    for here, after in itertools.pairwise(closed):
        if steps[after].rps < steps[here].rps * (1 + KNEE_GAIN):
            return here
    return None


def summarize_run(run: Run, slo: Slo) -> RunSummary:
    """SLO outcome per step, capacity at SLO and knee of one run."""
    misses = tuple(slo_misses(s, slo) for s in run.steps)
    qualifying = [i for i, m in enumerate(misses) if not m]
    capacity = max(qualifying, key=lambda i: run.steps[i].rps, default=None)
    return RunSummary(run, slo, misses, capacity, _knee_index(run.steps))


def capacity_sample(summary: RunSummary) -> float | None:
    """The run's capacity at SLO as one round sees it (None when no step met the SLO): a
    search's interpolated rate, else the throughput of the best step that met the SLO."""
    if is_search(summary):
        found = searched_capacity(summary)
        return None if found is None else found.rate
    return summary.capacity_rps


def is_search(summary: RunSummary) -> bool:
    """Whether a run is an open-model capacity search: round 0's (``search``) or a
    confirmation round's."""
    return summary.run.purpose in ("search", "confirm") and any(
        s.model == "open" for s in summary.run.steps
    )


def leaders(
    summaries: Iterable[RunSummary], k: int, top: float | None = None
) -> list[tuple[RunSummary, Step]]:
    """The ``k`` best survey runs of one workload by capacity at SLO, each with the step its
    capacity came from: what the searches and confirmation rounds follow.

    With ``top`` (the ladder's highest concurrency): when a leader's capacity came from that
    step, the ladder, not the server, may have set it (Little's law caps a closed step at
    users / latency), and every other run whose capacity came from it is tied with it: they
    join too, up to ``2 k`` in all, and a search ranks them.
    """
    ranked = [
        (summary, step)
        for summary in summaries
        if summary.run.purpose == "survey" and (step := summary.capacity_step) is not None
    ]
    ranked.sort(key=lambda t: -t[1].rps)
    chosen = ranked[:k]

    def capped(step: Step) -> bool:
        return top is not None and step.model == "closed" and step.concurrency == top

    if any(capped(step) for _, step in chosen):
        chosen += [t for t in ranked[k:] if capped(t[1])]
    return chosen[: 2 * k]
