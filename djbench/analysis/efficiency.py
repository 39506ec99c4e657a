"""What a pod's shape costs for what it carries: capacity at SLO per pod, per CPU and per GiB
of resident memory, and the memory one more thread or one more worker takes.

Only runs measured in a shape (``runs[].shape``) have one; a results file without shape axes
has no efficiency table. The capacity is the verdict's (the median of a compared candidate's
rounds), else the best step within the SLO of the candidate's runs (the survey's ladder).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from djbench.analysis.verdicts import Verdict
from djbench.model.pod import Shape
from djbench.model.results import CandidateKey
from djbench.plan.judge import RunSummary

MIB_PER_GIB = 1024

_PART: dict[str, Literal["threads", "workers"]] = {"thread": "threads", "worker": "workers"}
"""The shape's field each memory-cost axis varies."""


@dataclass(frozen=True)
class ShapeEfficiency:
    """One candidate in its shape on one workload: what it carries and what it holds."""

    label: str
    variant: str
    shape: Shape
    capacity: float | None
    """req/s at SLO of one pod; None: no step met the SLO."""
    compared: bool
    """Whether ``capacity`` is the verdict's median over its rounds (else the survey's best)."""
    rss_mib: float
    """The most resident memory its server's process tree held in a measured step."""

    @property
    def per_cpu(self) -> float | None:
        """req/s at SLO per CPU of the pod's budget."""
        return None if self.capacity is None else self.capacity / self.shape.cpus

    @property
    def per_gib(self) -> float | None:
        """req/s at SLO per GiB of resident memory."""
        if self.capacity is None or self.rss_mib <= 0:
            return None
        return self.capacity / (self.rss_mib / MIB_PER_GIB)


@dataclass(frozen=True)
class MemoryCost:
    """Resident memory one more thread (or worker) of a variant takes, on one workload: the
    slope of peak RSS over the axis, the other two parts of the shape held."""

    variant: str
    axis: Literal["thread", "worker"]
    mib: float
    values: tuple[int, ...]
    """The axis values it was fitted over (at least two)."""
    held: str
    """The rest of the shape, e.g. ``1 worker · 1 CPU`` or ``×32 threads · 1 CPU``."""

    @property
    def text(self) -> str:
        """``gunicorn-gthread: +0.4 MiB per thread (8 → 128 threads, 1 worker · 1 CPU)``."""
        span = f"{self.values[0]} → {self.values[-1]} {self.axis}s"
        return f"{self.variant}: {self.mib:+,.1f} MiB per {self.axis} ({span}, {self.held})"


def shape_efficiency(
    summaries: Iterable[RunSummary], verdict: Verdict
) -> tuple[ShapeEfficiency, ...]:
    """Each shaped candidate of one case (its runs' summaries and its verdict), the most
    req/s per CPU first (those without a capacity last)."""
    compared = {c.key: c.capacity.median for c in verdict.candidates}
    by_key: dict[CandidateKey, list[RunSummary]] = {}
    for s in summaries:
        if s.run.shape is not None:
            by_key.setdefault(s.run.key, []).append(s)
    found = []
    for key, runs in by_key.items():
        shape = runs[0].run.shape
        assert shape is not None  # only shaped runs were grouped
        best = [r.capacity_rps for r in runs if r.capacity_rps is not None]
        capacity = compared.get(key, max(best, default=None))
        rss = max((st.rss_mib for r in runs for st in r.run.steps if st.measured), default=0.0)
        found.append(ShapeEfficiency(runs[0].label, key[0], shape, capacity, key in compared, rss))
    return tuple(sorted(found, key=lambda e: (e.per_cpu is None, -(e.per_cpu or 0.0))))


def memory_costs(summaries: Iterable[RunSummary]) -> tuple[MemoryCost, ...]:
    """The memory one more thread and one more worker take, per variant, wherever the run
    measured it at two or more values of that axis with the rest of the shape alike."""
    peaks: dict[tuple[str, Shape], float] = {}
    for s in summaries:
        shape = s.run.shape
        rss = [st.rss_mib for st in s.run.steps if st.measured]
        if shape is not None and rss:
            key = (s.variant, shape)
            peaks[key] = max(peaks.get(key, 0.0), max(rss))
    costs = []
    for axis in ("thread", "worker"):
        groups: dict[tuple[str, Shape], dict[int, float]] = {}
        for (variant, shape), peak in peaks.items():
            if axis == "thread" and shape.threads is None:
                continue
            value = shape.threads if axis == "thread" else shape.workers
            rest = shape.model_copy(update={_PART[axis]: 1})
            groups.setdefault((variant, rest), {})[value or 1] = peak
        for (variant, rest), by_value in groups.items():
            if len(by_value) < 2:
                continue
            xs = sorted(by_value)
            slope, _ = statistics.linear_regression(xs, [by_value[x] for x in xs])
            costs.append(
                MemoryCost(
                    variant,
                    axis,
                    slope,
                    tuple(xs),
                    rest.label_without(_PART[axis]),
                )
            )
    return tuple(costs)
