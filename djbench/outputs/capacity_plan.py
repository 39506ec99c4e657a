"""A capacity plan from a results file: how many pods of each variant (in each shape it was
measured in) carry a target rate within the SLO, with what CPU, memory and database
connections.

Every variant was measured as one pod — one worker on one CPU budget, or the shape its run
records — so its capacity at SLO is one pod's. A plan divides the target (times the
headroom factor) by the **low end of the 95 % interval** of that capacity, not its median,
so the pod count holds in most rounds, not in half of them; a variant measured once (the
survey only) has no interval and plans on its one sample, which the ladder's top step may
have capped (a lower bound again). Memory is the
peak resident set the variant reached in any step of those runs, with ``MEMORY_MARGIN`` and
rounded up to ``MEMORY_STEP_MIB``; CPU the budget it was measured with.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from djbench.analysis.core import analyze
from djbench.analysis.statistics import Estimate, median_interval
from djbench.analysis.verdicts import Verdict, failure_cause
from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.results import CandidateKey, Distance, ProjectInfo, Results
from djbench.model.scenario import DbPool, Scenario
from djbench.plan.judge import RunSummary, capacity_sample, is_search, searched_capacity

MEMORY_MARGIN = 1.25
"""Memory request per pod: the peak RSS measured, plus a quarter (a longer life than a step
grows caches, and a container at its limit is killed)."""


MEMORY_STEP_MIB = 32


DEFAULT_MAX_CONNECTIONS = 100
"""Postgres' own default ``max_connections``."""


@dataclass(frozen=True)
class PodPlan:
    """Pods of one variant (with its upstream client) for one workload at one distance."""

    workload: str
    distance: Distance
    label: str
    variant: str
    client: str | None
    shape: Shape | None
    """The pod's shape it was measured in (None: the variant's standard shape)."""
    capacity: Estimate
    """One pod's capacity at SLO (req/s): the median of its rounds with its 95 % interval."""
    lower_bound: bool
    """The median is a lower bound: most searches never found a failing rate, or only the
    survey measured it and the ladder's top step (which may have capped it) met the SLO."""
    pods: int
    cpu: float
    """CPUs per pod: the budget its server was measured with."""
    memory_mib: int
    """Memory request (= limit) per pod."""
    db_connections: int | None
    """Database connections at peak: ``pool_max`` × pods (None: no database, or not known)."""
    pool_max: int
    """Connections per pod: the pool's ``max_size`` (never above the server's slots:
    ``DbPool.for_slots``); for a team's project, the most its server held at once in a step
    at or below the planned rate (measured: its settings size its connections)."""
    surveyed: bool = False
    """Planned on the survey's closed ladder alone (no search or repeat followed it): one
    sample, the survey's best step within the SLO."""

    @property
    def planned_rps(self) -> float:
        """What one pod is planned to carry: the low end of its capacity's interval."""
        return self.capacity.low

    @property
    def total_cpu(self) -> float:
        return self.pods * self.cpu


@dataclass(frozen=True)
class Unfit:
    """A variant that met the SLO at no load it was given, and why."""

    workload: str
    distance: Distance
    label: str
    reason: str


@dataclass(frozen=True)
class WorkerScaling:
    """Pods of one variant that carry less than linearly more with more workers on the same
    CPU budget: the measured ratio against the linear one."""

    workload: str
    distance: Distance
    variant: str
    held: str
    """The rest of the shape, e.g. ``×1 thread · 1 CPU``."""
    workers: tuple[int, int]
    ratio: float
    """Capacity with ``workers[1]`` workers over that with ``workers[0]`` (medians)."""

    @property
    def text(self) -> str:
        """``gunicorn-sync ×1 thread · 1 CPU: 2 workers carry 1.02× what 1 does (linear:
        2×)``."""
        low, high = self.workers
        return (
            f"{self.variant} {self.held}: {high} workers carry {self.ratio:.2f}× what {low} "
            f"{'does' if low == 1 else 'do'} (linear: {high / low:g}×)"
        )


SUBLINEAR = 0.9
"""More workers that carry less than this share of the linear gain are named."""


@dataclass(frozen=True)
class CapacityPlan:
    """Pods per variant and workload for a target rate, the least total CPU first."""

    target_rps: float
    headroom: float
    max_connections: int
    scenario: Scenario
    """The results' scenario (its pool and threads go into the values files)."""
    project: ProjectInfo | None
    verdicts: tuple[Verdict, ...]
    plans: tuple[PodPlan, ...]
    unfit: tuple[Unfit, ...]
    scaling: tuple[WorkerScaling, ...] = ()
    """Shapes whose capacity grew less than linearly with their workers on one CPU budget."""

    def best(self, workload: str, distance: Distance) -> PodPlan | None:
        """The plan with the least total CPU (then total memory, then fewest pods) for one
        case: with one shape for every variant, the fewest pods."""
        found = [p for p in self.plans if (p.workload, p.distance) == (workload, distance)]
        return found[0] if found else None


def pods_needed(target_rps: float, headroom: float, per_pod_rps: float) -> int:
    """Pods that carry ``target_rps`` × ``headroom`` at ``per_pod_rps`` each (at least one)."""
    return max(1, math.ceil(target_rps * headroom / per_pod_rps - 1e-9))


def memory_request_mib(peak_rss_mib: float) -> int:
    """A pod's memory request from the peak RSS measured (``MEMORY_MARGIN``, rounded up)."""
    return math.ceil(peak_rss_mib * MEMORY_MARGIN / MEMORY_STEP_MIB) * MEMORY_STEP_MIB


def plan_capacity(
    results: Results,
    target_rps: float,
    headroom: float = 1.0,
    p99_ms: float | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> CapacityPlan:
    """The plan for carrying ``target_rps`` on each workload the results hold (``p99_ms``:
    judge every step against this SLO instead of the run's)."""
    if not (target_rps > 0 and math.isfinite(target_rps)):
        raise DjbenchError(f"target rate must be a positive req/s, not {target_rps:g}")
    if not (headroom >= 1 and math.isfinite(headroom)):
        raise DjbenchError(
            f"headroom is a factor of at least 1 (1.25: 25 % spare), not {headroom:g}"
        )
    if p99_ms is not None:
        results = _with_slo(results, p99_ms)
    analysis = analyze(results)
    pool = analysis.scenario.db_pool
    top = max(analysis.scenario.closed.concurrency)
    plans: list[PodPlan] = []
    unfit: list[Unfit] = []
    for verdict in analysis.verdicts:
        case = (verdict.workload, verdict.distance)
        summaries = [s for s in analysis.runs if (s.workload, s.run.distance) == case]
        estimates: dict[CandidateKey, tuple[Estimate | None, bool]] = {
            c.key: (c.capacity, c.censored) for c in verdict.candidates
        }
        by_key: dict[CandidateKey, list[RunSummary]] = {}
        for s in summaries:
            by_key.setdefault(s.run.key, []).append(s)
        found: list[PodPlan] = []
        searched = {s.run.key for s in summaries if is_search(s)}
        for key, runs in by_key.items():
            if verdict.void:
                # A fault stopped the run: its numbers are no ground for a deployment.
                unfit.append(Unfit(*case, runs[0].label, f"no plan: {verdict.void}"))
                continue
            if key in estimates:
                estimate, lower_bound = estimates[key]
                if all(r.run.purpose == "survey" for r in runs):
                    # The survey's best at the ladder's top may be the load's limit, not its.
                    lower_bound = lower_bound or _survey_estimate(runs, top)[1]
            elif key in searched:
                # The verdict's measure, not the survey's: its searches' capacities (searched,
                # not confirmed), and a search that never met the SLO says it cannot be planned.
                estimate, lower_bound = _search_estimate(runs)
                if estimate is None:
                    unfit.append(Unfit(*case, runs[0].label, _why_search_unfit(runs)))
                    continue
            else:
                estimate, lower_bound = _survey_estimate(runs, top)
            if estimate is None or estimate.low <= 0:
                unfit.append(Unfit(*case, runs[0].label, _why_unfit(runs)))
                continue
            scenario = analysis.scenario
            pods = pods_needed(target_rps, headroom, estimate.low)
            # A team's project sizes its connections in its own settings: what its server
            # held at most, up to the rate planned, is what a pod needs; benchapp's pool is
            # known.
            per_pod = (
                _peak_connections(runs, estimate.low)
                if scenario.requests
                else _pool_connections(pool, runs[0].run.slots, runs[0].run.shape)
            )
            touches_db = scenario.kind(verdict.workload).touches_db and per_pod is not None
            found.append(
                PodPlan(
                    workload=verdict.workload,
                    distance=verdict.distance,
                    label=runs[0].label,
                    variant=key[0],
                    client=key[1],
                    shape=key[2],
                    capacity=estimate,
                    lower_bound=lower_bound,
                    pods=pods,
                    cpu=_cpu_budget(runs),
                    memory_mib=memory_request_mib(_peak_rss_mib(runs)),
                    db_connections=pods * per_pod if touches_db and per_pod else None,
                    pool_max=per_pod or 0,
                    surveyed=all(r.run.purpose == "survey" for r in runs),
                )
            )
        found.sort(
            key=lambda p: (round(p.total_cpu, 3), p.pods * p.memory_mib, p.pods, -p.capacity.low)
        )
        plans += found
    return CapacityPlan(
        target_rps,
        headroom,
        max_connections,
        analysis.scenario,
        results.project,
        analysis.verdicts,
        tuple(plans),
        tuple(unfit),
        worker_scaling(plans),
    )


def worker_scaling(plans: list[PodPlan]) -> tuple[WorkerScaling, ...]:
    """Each variant of each case whose pods carried less than ``SUBLINEAR`` of the linear gain
    from more workers, the rest of the shape (threads, CPUs) and the client alike. A capacity
    that is a lower bound with more workers (the load's ladder may have capped it) proves no
    shortfall and is left out."""
    groups: dict[tuple[str, Distance, str, str | None, Shape], dict[int, PodPlan]] = {}
    for p in plans:
        if p.shape is not None:
            rest = p.shape.model_copy(update={"workers": 1})
            group = groups.setdefault((p.workload, p.distance, p.variant, p.client, rest), {})
            group[p.shape.workers] = p
    found = []
    for (workload, distance, variant, _, rest), by_workers in groups.items():
        counts = sorted(by_workers)
        for low, high in itertools.pairwise(counts):
            if by_workers[high].lower_bound:
                continue
            ratio = by_workers[high].capacity.median / by_workers[low].capacity.median
            if ratio < SUBLINEAR * high / low:
                held = rest.label_without("workers")
                found.append(WorkerScaling(workload, distance, variant, held, (low, high), ratio))
    return tuple(found)


def _with_slo(results: Results, p99_ms: float) -> Results:
    """The results judged against one SLO on every workload (the error-rate limit kept)."""
    if not (p99_ms > 0 and math.isfinite(p99_ms)):
        raise DjbenchError(f"SLO p99 must be a positive number of ms, not {p99_ms:g}")
    scenario = dict(results.scenario)
    default = dict(scenario.get("default_slo") or {})
    scenario["default_slo"] = {**default, "p99_ms": p99_ms}
    scenario["slo"] = {}
    return results.model_copy(update={"scenario": scenario})


def _survey_estimate(runs: list[RunSummary], top: int) -> tuple[Estimate | None, bool]:
    """A capacity from the survey alone (no search or repeat followed it): one sample, and
    whether it is a lower bound (its best step was the ladder's top, ``top`` users: Little's
    law may have capped it there)."""
    found = [
        (x, r.capacity_step)
        for r in runs
        if r.run.purpose == "survey" and (x := capacity_sample(r))
    ]
    if not found:
        return None, False
    best, step = max(found, key=lambda t: t[0])
    capped = step is not None and step.model == "closed" and step.concurrency == top
    return Estimate(median=best, low=best, high=best, n=1), capped


def _search_estimate(runs: list[RunSummary]) -> tuple[Estimate | None, bool]:
    """A capacity from a variant's searches alone (none confirmed them), and whether it is a
    lower bound (most of them met the SLO at every rate they tried)."""
    found = [f for r in runs if is_search(r) and (f := searched_capacity(r)) is not None]
    if not found:
        return None, False
    unbounded = sum(1 for f in found if not f.bounded)
    return median_interval([f.rate for f in found]), unbounded * 2 > len(found)


def _why_unfit(runs: list[RunSummary]) -> str:
    """What its lightest completed load missed of the SLO, or why no step completed."""
    for summary in runs:
        slo = summary.slo
        for step, misses in zip(summary.run.steps, summary.slo_misses, strict=True):
            if step.status != "ok" or not misses:
                continue
            said = {
                "p99": f"p99 {step.latency_ms.p99:,.0f} ms > {slo.p99_ms:,.0f} ms",
                "errors": f"errors {step.error_rate:.1%} > {slo.max_error_rate:.1%}",
                "dropped": f"{step.dropped} arrivals dropped",
                "no requests": "no requests",
            }
            return f"at its lightest load ({step.load_label}): " + ", ".join(
                said.get(m, m) for m in misses
            )
    failed = next((c for r in runs if (c := failure_cause(r.run))), None)
    return f"no step completed: {failed}" if failed else "no step completed"


def _why_search_unfit(runs: list[RunSummary]) -> str:
    """Why a variant whose capacity was searched has none: the rates its searches measured,
    all missing the SLO, or why they measured nothing."""
    rates = [
        step.rate
        for r in runs
        if is_search(r)
        for step in r.run.steps
        if step.measured and step.rate is not None
    ]
    if rates:
        tried = ", ".join(f"{rate:,.4g}" for rate in rates)
        return f"its open-model search missed the SLO at every rate it measured ({tried}/s)"
    failed = next((c for r in runs if is_search(r) and (c := failure_cause(r.run))), None)
    return f"its open-model search measured nothing: {failed or 'no step completed'}"


def _peak_connections(runs: list[RunSummary], planned_rps: float) -> int | None:
    """The most database connections the server held at once in a step within the SLO at or
    below the rate a pod is planned to carry (the lightest measured step when none is): steps
    of overload hold more than the pod will (None: never read, as on Kubernetes or the team's
    own database)."""
    read = [
        (s.rate if s.model == "open" and s.rate else s.rps, not misses, s.db_connections)
        for r in runs
        for s, misses in zip(r.run.steps, r.slo_misses, strict=True)
        if s.measured and s.db_connections is not None
    ]
    if not read:
        return None
    # A closed step of overload can serve no more than the planned rate while holding every
    # user's connection: only steps within the SLO, at or below the rate, are a pod's load.
    within = [held for rate, met, held in read if met and rate <= planned_rps * (1 + 1e-9)]
    return max(within) if within else min((rate, held) for rate, _, held in read)[1]


def _pool_connections(pool: DbPool, slots: int | None, shape: Shape | None) -> int:
    """Connections one pod holds at most: each worker's pool, sized for its own threads."""
    workers = shape.workers if shape else 1
    return workers * pool.for_slots(slots // workers if slots else None).max_size


def _cpu_budget(runs: list[RunSummary]) -> float:
    """The CPUs the server was given: its shape's budget where the shape was an axis, else
    read back from its steps (CPU seconds over duration over utilisation); 1 when no step
    used any."""
    shape = runs[0].run.shape if runs else None
    if shape is not None:
        return shape.cpus
    budgets = [
        s.cpu_s / s.duration_s / s.cpu_util
        for r in runs
        for s in r.run.steps
        if s.status == "ok" and s.cpu_util > 0 and s.duration_s > 0
    ]
    return round(sorted(budgets)[len(budgets) // 2], 2) if budgets else 1.0


def _peak_rss_mib(runs: list[RunSummary]) -> float:
    return max((s.rss_mib for r in runs for s in r.run.steps if s.measured), default=0.0)
