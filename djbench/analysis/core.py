"""Analysis of a results file: capacity at SLO, knee, verdicts and self-checks.

Reads a ``Results`` and never measures. Every renderer (markdown, HTML, terminal) prints these
numbers, so they cannot disagree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from djbench.analysis.checks import (
    OUTSIDE_LIMIT,
    CheckWarning,
    outside_share,
    repeat_warnings,
    run_warnings,
)
from djbench.analysis.efficiency import MemoryCost, ShapeEfficiency, memory_costs, shape_efficiency
from djbench.analysis.mix import PartRow, mix_rows
from djbench.analysis.verdicts import FailureGroup, Verdict, failure_cause, verdict_of
from djbench.model.errors import DjbenchError
from djbench.model.names import fault_place
from djbench.model.results import DIRECT, Distance, Results
from djbench.model.scenario import Scenario
from djbench.plan.judge import RunSummary, summarize_run
from djbench.plan.physics import expected_rate


@dataclass(frozen=True)
class Analysis:
    """Everything the renderers show, computed once from one ``Results``."""

    results: Results
    scenario: Scenario
    workloads: tuple[str, ...]
    runs: tuple[RunSummary, ...]
    verdicts: tuple[Verdict, ...]
    warnings: tuple[CheckWarning, ...]
    limits: tuple[str | None, ...] = ()
    """Per run (as ``runs``): what physics allows its highest closed step, against what it
    served (waiting workloads only; None elsewhere)."""

    def limit_of(self, summary: RunSummary) -> str | None:
        """The physics line of one of ``runs``."""
        return self.limits[self.runs.index(summary)] if self.limits else None

    @property
    def failures(self) -> tuple[FailureGroup, ...]:
        """The failed runs grouped by cause, the most common first."""
        groups: dict[str, list[str]] = {}
        for s in self.runs:
            cause = failure_cause(s.run)
            if cause is not None:
                groups.setdefault(cause, []).append(f"{s.workload} / {s.label}")
        ranked = sorted(groups.items(), key=lambda t: -len(t[1]))
        return tuple(FailureGroup(cause, tuple(places)) for cause, places in ranked)

    @property
    def busy_machine(self) -> str | None:
        """One sentence when the run was measured on a busy machine (outside load on the
        server's CPU above ``OUTSIDE_LIMIT`` in some step), else None."""
        steps = [st for s in self.runs for st in s.run.steps if st.measured]
        shares = [x for st in steps if (x := outside_share(st)) is not None]
        busy = [x for x in shares if x > OUTSIDE_LIMIT]
        if not busy:
            return None
        return (
            f"measured on a busy machine: in {len(busy)} of {len(shares)} steps something "
            f"other than the server used more than {OUTSIDE_LIMIT:.0%} of a CPU on the "
            f"server's CPU (up to {max(busy):.0%}); those steps read low"
        )

    def runs_for(self, workload: str, distance: Distance | None = None) -> tuple[RunSummary, ...]:
        """Runs of one workload (at one distance, or at all), in results order."""
        return tuple(
            r for r in self.runs if r.workload == workload and distance in (None, r.run.distance)
        )

    def verdict_for(self, workload: str, distance: Distance = DIRECT) -> Verdict:
        """The verdict of one workload at one distance."""
        return next(v for v in self.verdicts if (v.workload, v.distance) == (workload, distance))

    def efficiency_of(self, verdict: Verdict) -> tuple[ShapeEfficiency, ...]:
        """Each shaped candidate of a verdict's case: req/s at SLO per pod, CPU and GiB."""
        return shape_efficiency(self.runs_for(verdict.workload, verdict.distance), verdict)

    def memory_costs_of(self, workload: str) -> tuple[MemoryCost, ...]:
        """The memory one more thread and one more worker took on a workload, per variant."""
        return memory_costs(self.runs_for(workload))

    def mix_parts_of(self, workload: str) -> tuple[PartRow, ...]:
        """Each part of a traffic mix at each survey run's capacity step (none: no mix)."""
        return mix_rows(self.runs_for(workload)) if workload in self.scenario.mix else ()

    def verdicts_for(self, workload: str) -> tuple[Verdict, ...]:
        """The verdicts of one workload, nearest distance first."""
        return tuple(v for v in self.verdicts if v.workload == workload)


def scenario_of(results: Results) -> Scenario:
    """The ``Scenario`` a results file was run with: benchapp's resolved requests left out
    (the catalog defines them), a project's kept (they are its workloads)."""
    doc = dict(results.scenario)
    if results.project is None:
        doc.pop("requests", None)
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DjbenchError(f"results: invalid scenario at {where}: {first['msg']}") from exc


def analyze(results: Results) -> Analysis:
    """Capacity at SLO, knee, verdict per workload and self-check warnings of one results file."""
    scenario = scenario_of(results)
    summaries = tuple(summarize_run(r, scenario.slo_for(r.workload)) for r in results.runs)
    # Scenario order first; a run of a workload the scenario does not list is still shown.
    ran = [r.workload for r in results.runs]
    workloads = tuple(w for w in dict.fromkeys([*scenario.workloads, *ran]) if w in ran)
    distances = sorted({r.distance for r in results.runs}, key=_nearness)
    verdicts = tuple(
        verdict_of(
            w,
            scenario.slo_for(w),
            (s for s in summaries if (s.workload, s.run.distance) == (w, d)),
            _void(results, w),
            d,
        )
        for w in workloads
        for d in distances
        if any((r.workload, r.distance) == (w, d) for r in results.runs)
    )
    load_cpus = len(results.environment.load_cpus) or 1
    warnings = [w for s in summaries for w in run_warnings(s, load_cpus, scenario)]
    warnings += [w for v in verdicts for w in repeat_warnings(v)]
    limits = tuple(physics_limit(s, scenario) for s in summaries)
    return Analysis(results, scenario, workloads, summaries, verdicts, tuple(warnings), limits)


def _nearness(distance: Distance) -> tuple[float, float]:
    """Direct sides first, then the shortest round trips: the database's, then upstream's."""
    return (
        -1.0 if distance.db_rtt_ms is None else distance.db_rtt_ms,
        -1.0 if distance.upstream_rtt_ms is None else distance.upstream_rtt_ms,
    )


def _void(results: Results, workload: str) -> str | None:
    """Why no verdict may be drawn on a workload: an infrastructure fault stopped the run, so
    some of its candidates were measured without the infrastructure, or never."""
    if not results.faults:
        return None
    fault = results.faults[0]
    return f"{fault.message} during {fault_place(fault)}; the run stopped there"


def physics_limit(summary: RunSummary, scenario: Scenario) -> str | None:
    """What physics allows the run's highest closed step and what bounds it, against what it
    served (waiting workloads only: None elsewhere)."""
    closed = [s for s in summary.run.steps if s.model == "closed" and s.measured]
    if not closed:
        return None
    top = max(closed, key=lambda s: s.concurrency or 0)
    expected = expected_rate(summary.run, top, scenario)
    if expected is None:
        return None
    return f"physics at {top.load_label}: {expected.limit_text}; served {top.rps:,.1f} req/s"
