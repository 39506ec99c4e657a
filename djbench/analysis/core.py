"""Analysis of a results file: capacity at SLO, knee, verdicts and self-checks.

Reads a ``Results`` and never measures. Every renderer (markdown, HTML, terminal) prints these
numbers, so they cannot disagree with each other.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from djbench.analysis.statistics import (
    EFFECT,
    Comparison,
    Estimate,
    compare,
    median_interval,
    stability_warnings,
)
from djbench.model.errors import DjbenchError
from djbench.model.results import DIRECT, Distance, Results, Run, Step
from djbench.model.scenario import Scenario, Slo
from djbench.plan import physics

RIVAL_MARGIN = 0.10
"""A survey capacity this close to the winner's (1.5–2 s steps, one round) does not rank
below it: such a candidate that no search followed keeps a lead from being called."""
SIGNIFICANT_RATIO = EFFECT
"""A winner/runner-up ratio below this is within run-to-run noise: "≈"."""
KNEE_GAIN = 0.10
"""More concurrency that adds less throughput than this fraction is past the knee."""
MAX_DROPPED_FRACTION = 0.01
"""Open-model steps that dropped more iterations than this did not sustain their rate."""
MIN_REQUESTS = 100
"""Below this a p99 rests on a single sample or none: too noisy to trust."""
LOAD_CPU_LIMIT = 0.8
"""Share of the load CPUs (k6, plus Postgres and the stub API that share them locally) at
which the load side itself may be the bottleneck."""
CPU_SOURCES_AGREE = 0.1
"""cAdvisor's CPU seconds may differ this much (a share of the cgroup's) before a step's CPU
figures are in doubt: its samples are the kubelet's, seconds apart, extrapolated to the edges."""
CPU_SOURCES_SLACK_S = 0.05
"""…plus this many CPU seconds, so an idle step's few milliseconds never warn."""
OUTSIDE_LIMIT = 0.05
"""CPU something other than the server may use on the server's CPUs (a share of one CPU over
the step) before the step says it shared them: about the scheduler's and the harness's own
noise on an idle machine, well below what a compiler or a test run takes."""
INFRA_BUSY = 0.5
"""Postgres + stub API above this share of the load CPUs while the server idles below it:
the step measures the database, not the server."""

WarningKind = Literal[
    "failed-run",
    "failed-step",
    "error-rate",
    "few-requests",
    "few-cycles",
    "load-saturation",
    "proxy-saturation",
    "infra-bound",
    "db-refused",
    "outside-load",
    "physics",
    "cpu-sources",
    "repeats",
]


@dataclass(frozen=True)
class CheckWarning:
    """A self-check that makes a number less trustworthy (pyperf style)."""

    kind: WarningKind
    workload: str
    variant: str
    load: str | None
    """The step's load label, or None for the whole run."""
    message: str

    def __str__(self) -> str:
        where = f"{self.workload} / {self.variant}" + (f" @ {self.load}" if self.load else "")
        return f"{where}: {self.message}"


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
        """Variant name (marked when crossed), with the upstream client when there is one."""
        return self.run.label

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


@dataclass(frozen=True)
class Candidate:
    """One variant (with its upstream client) on one workload, over every round it ran."""

    key: tuple[str, str | None]
    label: str
    capacity: Estimate
    """Median capacity at SLO over its rounds, with its 95 % interval."""
    samples: tuple[float, ...]
    missed: int
    """Rounds in which no step met the SLO (left out of ``samples``)."""
    searched: bool = False
    """True: the samples are searched open-model arrival rates (one search per round); False:
    closed-model throughputs of the best step that met the SLO (the survey's ladder)."""
    lower_bounds: int = 0
    """Rounds whose search met the SLO at every rate it tried: their sample is a lower bound."""
    collapsed: int = 0
    """Rounds whose sample is the passing rate tried because the server served less above it
    (``Searched.collapsed``): rounds that probe the same rates then give the same value."""

    @property
    def censored(self) -> bool:
        """Whether the median itself is a lower bound (most rounds never found a failing
        rate): the candidate may carry more."""
        return self.lower_bounds * 2 > len(self.samples)

    @property
    def capacity_text(self) -> str:
        """``≥409.3 [401.0–415.2]`` or ``407.2 [...]``: the median capacity with its interval,
        marked when it is a lower bound."""
        return ("≥" if self.censored else "") + self.capacity.text()


@dataclass(frozen=True)
class Verdict:
    """Which variant carries the most load within the SLO on one workload at one distance,
    and how sure."""

    workload: str
    slo: Slo
    candidates: tuple[Candidate, ...] = ()
    """Variants that met the SLO, best median capacity first."""
    comparison: Comparison | None = None
    """Winner against runner-up: ratio of medians, its interval and the test."""
    void: str | None = None
    """Why no verdict may be drawn (an infrastructure fault), else None."""
    rivals: tuple[str, ...] = ()
    """Candidates no search followed whose survey capacity came within ``RIVAL_MARGIN`` of
    the winner's: they may carry as much, so no lead is called."""
    distance: Distance = DIRECT
    """The round-trip times added between the servers and what they wait on."""
    lost: tuple[str, ...] = ()
    """Variants that met the SLO in the survey and were followed (searched, confirmed), but
    whose later measurements all failed: no capacity to compare, yet no proof they carry less."""
    missed: tuple[tuple[str, tuple[float, ...]], ...] = ()
    """Variants that met the SLO in the survey and were followed, whose later measurements
    all missed it: each with the rates (req/s) those measurements tried."""
    unsearched: tuple[str, ...] = ()
    """Variants that met the SLO in the survey, where others were followed, that no search
    followed, or whose search met it but no confirmation followed: not compared, and no proof
    they carry less."""
    unmeasured: tuple[tuple[str, int], ...] = ()
    """When no run of the case measured a single step: each cause its runs failed with, and
    how many runs did (most first); empty once any step was measured."""

    @property
    def winner(self) -> str | None:
        return self.candidates[0].key[0] if self.candidates and not self.void else None

    @property
    def winner_label(self) -> str | None:
        return self.candidates[0].label if self.candidates and not self.void else None

    @property
    def winner_rps(self) -> float | None:
        return self.candidates[0].capacity.median if self.winner else None

    @property
    def runner_up(self) -> str | None:
        return self.candidates[1].key[0] if len(self.candidates) > 1 and not self.void else None

    @property
    def runner_up_label(self) -> str | None:
        return self.candidates[1].label if self.runner_up else None

    @property
    def runner_up_rps(self) -> float | None:
        return self.candidates[1].capacity.median if self.runner_up else None

    @property
    def ratio(self) -> float | None:
        """Winner capacity over runner-up capacity, None without two qualifying variants."""
        return self.comparison.ratio.median if self.comparison and not self.void else None

    @property
    def significant(self) -> bool:
        """A lead that passed the test and the effect threshold, over a runner-up whose
        capacity was bounded; False means "≈"."""
        return (
            self.comparison is not None
            and self.comparison.significant
            and not self.void
            and not self.rivals
            and not (len(self.candidates) > 1 and self.candidates[1].censored)
        )

    @property
    def text(self) -> str:
        """One sentence for every renderer: who wins, by how much, with what confidence."""
        if self.void:
            return f"no verdict: {self.void}"
        if self.unmeasured:
            causes = "; ".join(f"{cause} ({runs_text(n)})" for cause, n in self.unmeasured)
            return f"no measurement: {causes}"
        if not self.candidates:
            others = self._others
            return (
                f"no searched variant met the SLO: {others}" if others else "no variant met the SLO"
            )
        slo = f"p99 ≤ {self.slo.p99_ms:g} ms"
        first = self.candidates[0]
        model = " (open model, searched)" if first.searched else ""
        best = f"{first.label} {first.capacity_text} req/s{model} at {slo}"
        if self.comparison is None or len(self.candidates) < 2:
            said = self._others or "no other variant met the SLO"
            return f"{best}, n={first.capacity.n}; {said}"
        second = self.candidates[1]
        c = self.comparison
        n = f"n={c.n_a}" if c.n_a == c.n_b else f"n={c.n_a} vs {c.n_b}"
        ratio = c.ratio.text(".2f", "×")
        if self.significant:
            test = f"Mann-Whitney p={c.p_value:.2g}"
            return f"{best}, {ratio} {second.label}: significant ({test}), {n}"
        why = self.why_not
        # One round each cannot be tested: neither a lead nor a tie is known ("≈" would say
        # the second; remote-db's one round had 1.87× ratios read as "≈").
        mark = "untested:" if c.p_value is None else "≈"
        return (
            f"{mark} {first.label} {first.capacity_text} and {second.label} "
            f"{second.capacity_text} req/s{model} at {slo} ({ratio}; {why}), {n}"
        )

    @property
    def _others(self) -> str:
        """What became of the survey's other variants that met the SLO: missed it later,
        lost their measurements, or were not followed; empty when none did."""
        others = [self._missed_text] if self.missed else []
        if self.lost:
            others.append(
                f"not compared: {', '.join(self.lost)} met the SLO in the survey, but its "
                "later measurements failed"
            )
        if self.unsearched:
            were = "were" if len(self.unsearched) > 1 else "was"
            others.append(
                f"not compared: {', '.join(self.unsearched)} met the SLO in the survey "
                f"and {were} not searched or confirmed"
            )
        return "; ".join(others)

    @property
    def _missed_text(self) -> str:
        return "; ".join(
            f"{label} met the SLO in the survey, but missed it at every rate measured after "
            f"({', '.join(f'{r:,.4g}/s' for r in rates)})"
            for label, rates in self.missed
        )

    @property
    def why_not(self) -> str | None:
        """Why the lead is not significant: the test's reason, or a runner-up whose capacity
        is only a lower bound (it may carry as much as the winner)."""
        if self.comparison is None or self.significant:
            return None
        if self.rivals and self.comparison.significant:
            return (
                f"{', '.join(self.rivals)} came within {RIVAL_MARGIN:.0%} of "
                f"{self.candidates[0].label} in the survey and "
                f"{'were' if len(self.rivals) > 1 else 'was'} not searched"
            )
        if len(self.candidates) > 1 and self.candidates[1].censored:
            return f"{self.candidates[1].label} met the SLO at every rate tried"
        return self.comparison.why_not


@dataclass(frozen=True)
class Analysis:
    """Everything the renderers show, computed once from one ``Results``."""

    results: Results
    scenario: Scenario
    workloads: tuple[str, ...]
    runs: tuple[RunSummary, ...]
    verdicts: tuple[Verdict, ...]
    warnings: tuple[CheckWarning, ...]

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


def _verdict(
    workload: str,
    slo: Slo,
    summaries: Iterable[RunSummary],
    void: str | None = None,
    distance: Distance = DIRECT,
) -> Verdict:
    summaries = list(summaries)
    # Once leaders were confirmed (else searched), they alone are compared: a candidate
    # measured once cannot stand beside repeated ones. The others stay in the tables.
    followed = {s.run.key for s in summaries if s.run.purpose == "confirm"} or {
        s.run.key for s in summaries if s.run.purpose == "search"
    }
    # The candidates are variants with their upstream client: two clients, two candidates.
    by_key: dict[tuple[str, str | None], list[RunSummary]] = {}
    for s in summaries:
        if not followed or s.run.key in followed:
            by_key.setdefault(s.run.key, []).append(s)
    candidates = []
    for key, runs in by_key.items():
        # A candidate is one whose survey met the SLO; its repeats count with their median,
        # never their best.
        if not any(capacity_sample(r) is not None for r in runs if r.run.purpose == "survey"):
            continue
        # Searched rounds (open model) carry the capacity. Without a search, or in a file
        # whose confirmation rounds repeated the closed capacity step (before results v3
        # searched in every round), the closed-model rounds do.
        closed_rounds = any(r.run.purpose == "confirm" and not is_search(r) for r in runs)
        searches = [] if closed_rounds else [r for r in runs if is_search(r)]
        rounds = searches or [r for r in runs if r.run.purpose in ("survey", "confirm")]
        found = [searched_capacity(r) for r in searches]
        samples = [capacity_sample(r) for r in rounds]
        kept = tuple(x for x in samples if x is not None)
        if not kept:
            continue
        candidates.append(
            Candidate(
                key,
                runs[0].label,
                median_interval(kept),
                kept,
                len(samples) - len(kept),
                searched=bool(searches),
                lower_bounds=sum(1 for f in found if f is not None and not f.bounded),
                collapsed=sum(1 for f in found if f is not None and f.collapsed),
            )
        )
    candidates.sort(key=lambda c: -c.capacity.median)  # stable: ties keep results order
    # Followed at any stage (a search that failed leaves no confirmation rounds behind).
    kept_keys = {c.key for c in candidates}
    pursued = {s.run.key for s in summaries if s.run.purpose in ("search", "confirm")}
    dropped = {
        s.run.key: s.label
        for s in summaries
        if s.run.key in pursued - kept_keys
        and s.run.purpose == "survey"
        and capacity_sample(s) is not None
    }
    # Dropped after the survey: its later measurements either missed the SLO (a result) or
    # failed (no result).
    later: dict[tuple[str, str | None], list[tuple[Step, bool]]] = {
        key: [
            (step, not misses)
            for s in summaries
            if s.run.key == key and s.run.purpose in ("search", "confirm")
            for step, misses in zip(s.run.steps, s.slo_misses, strict=True)
            if step.measured
        ]
        for key in dropped
    }
    lost = tuple(label for key, label in dropped.items() if not later[key])
    missed = tuple(
        (label, tuple(step.rate or float(step.concurrency or 0) for step, _ in later[key]))
        for key, label in dropped.items()
        if later[key] and not any(met for _, met in later[key])
    )
    # Searched and met the SLO there, but not confirmed (beyond the leaders confirmed).
    unconfirmed = tuple(
        label for key, label in dropped.items() if any(met for _, met in later[key])
    )
    unsearched = unconfirmed + tuple(
        dict.fromkeys(
            s.label
            for s in summaries
            if pursued
            and s.run.key not in pursued
            and s.run.purpose == "survey"
            and capacity_sample(s) is not None
        )
    )
    comparison = (
        compare(candidates[0].samples, candidates[1].samples)
        if len(candidates) > 1 and candidates[1].capacity.median > 0
        else None
    )
    return Verdict(
        workload,
        slo,
        tuple(candidates),
        comparison,
        void,
        _rivals(summaries),
        distance,
        lost,
        missed,
        unsearched,
        () if any(st.measured for s in summaries for st in s.run.steps) else _causes(summaries),
    )


CAUSE_CHARS = 240
"""The most of one failure's cause a verdict or summary line carries."""


def failure_cause(run: Run) -> str | None:
    """Why a run failed, in one line (its first failed step's error, else the run's own):
    None for a run that did not fail."""
    if run.status != "failed":
        return None
    first = next((s.error for s in run.steps if s.status == "failed" and s.error), None)
    cause = " ".join((first or run.error or "no error recorded").split())
    return cause if len(cause) <= CAUSE_CHARS else cause[: CAUSE_CHARS - 1] + "…"


def _causes(summaries: Iterable[RunSummary]) -> tuple[tuple[str, int], ...]:
    """The causes the runs failed with, each with its count of runs, most first."""
    counted: dict[str, int] = {}
    for s in summaries:
        cause = failure_cause(s.run)
        if cause is not None:
            counted[cause] = counted.get(cause, 0) + 1
    return tuple(sorted(counted.items(), key=lambda t: -t[1]))


def runs_text(n: int) -> str:
    """``1 run``, ``7 runs``."""
    return f"{n} run{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class FailureGroup:
    """The runs that failed with one cause."""

    cause: str
    places: tuple[str, ...]
    """``workload / variant`` of each run, in results order."""


def _rivals(summaries: list[RunSummary]) -> tuple[str, ...]:
    """Survey-only candidates within ``RIVAL_MARGIN`` of the best followed one's survey
    capacity (the followed ones: searched or confirmed)."""
    followed = {s.run.key for s in summaries if s.run.purpose in ("search", "confirm")}
    survey = {
        s.run.key: (s.label, s.capacity_rps)
        for s in summaries
        if s.run.purpose == "survey" and s.capacity_rps is not None
    }
    best = max((rps for key, (_, rps) in survey.items() if key in followed), default=None)
    if best is None:
        return ()
    return tuple(
        label
        for key, (label, rps) in survey.items()
        if key not in followed and rps >= (1 - RIVAL_MARGIN) * best
    )


def outside_share(step: Step) -> float | None:
    """The share of a CPU that something other than the server used on the server's CPUs in
    a step (None where not read, or the step lasted nothing)."""
    if step.outside_cpu_s is None or step.duration_s <= 0:
        return None
    return step.outside_cpu_s / step.duration_s


def _proxy_cpu_s(step: Step) -> float:
    """CPU seconds the step's latency proxies spent (0 without proxies)."""
    return sum(p.cpu_s for p in (step.db_path, step.upstream_path) if p is not None)


def _load_busy(step: Step, load_cpus: int) -> float | None:
    """Share of the load CPUs in use: k6 shares them with Postgres, the stub API and the
    latency proxies (local backend), so all count. None when the load side's CPU was not
    recorded."""
    if step.load_cpu_s is None or step.duration_s <= 0:
        return None
    used = step.load_cpu_s + (step.infra_cpu_s or 0.0) + _proxy_cpu_s(step)
    return used / step.duration_s / max(load_cpus, 1)


def _warnings(summary: RunSummary, load_cpus: int, scenario: Scenario) -> list[CheckWarning]:
    run = summary.run
    found = []

    def warn(kind: WarningKind, load: str | None, message: str) -> None:
        found.append(CheckWarning(kind, run.workload, run.label, load, message))

    if run.status == "failed":
        warn("failed-run", None, f"run failed: {run.error or 'no error recorded'}")
    for step in run.steps:
        load = step.load_label
        if step.db_refused:
            warn(
                "db-refused",
                load,
                f"Postgres refused {step.db_refused:,} connection(s) for want of a free one "
                "(its max_connections reached): the server opened more than the database "
                "allows (a connection per thread, greenlet or request)",
            )
        if step.status == "failed":
            warn("failed-step", load, f"step failed: {step.error or 'no error recorded'}")
        if not step.measured:
            continue  # failed or saturated: its numbers are no measurement to doubt
        outside = outside_share(step)
        if outside is not None and outside > OUTSIDE_LIMIT:
            warn(
                "outside-load",
                load,
                f"something other than the server used {outside:.0%} of a CPU on the "
                "server's CPU during the step (another program, or the machine's host): "
                "the server had less than its budget",
            )
        busy = _load_busy(step, load_cpus)
        shortfall = physics.shortfall(run, step, scenario, busy, LOAD_CPU_LIMIT)
        if shortfall:
            warn("physics", load, shortfall)
        if step.error_rate > summary.slo.max_error_rate:
            warn(
                "error-rate",
                load,
                f"error rate {step.error_rate:.1%} above the SLO's "
                f"{summary.slo.max_error_rate:.1%}",
            )
        if step.cadvisor_cpu_s is not None:
            gap = step.cadvisor_cpu_s - step.cpu_s
            if abs(gap) > CPU_SOURCES_AGREE * step.cpu_s + CPU_SOURCES_SLACK_S:
                warn(
                    "cpu-sources",
                    load,
                    f"cAdvisor saw {step.cadvisor_cpu_s:.2f} CPU-s where the server's cgroup "
                    f"counted {step.cpu_s:.2f} ({gap / step.cpu_s:+.0%})"
                    if step.cpu_s
                    else f"cAdvisor saw {step.cadvisor_cpu_s:.2f} CPU-s where the cgroup counted 0",
                )
        cycle_s = step.latency_ms.p50 / 1000 + scenario.think_time_s(summary.run.workload)
        if (
            step.model == "closed"
            and cycle_s > 0
            and step.duration_s / cycle_s < scenario.min_cycles
        ):
            warn(
                "few-cycles",
                load,
                f"{step.duration_s:g} s measured {step.duration_s / cycle_s:.1f} request cycles "
                f"of {cycle_s * 1000:,.0f} ms (fewer than {scenario.min_cycles})",
            )
        if step.requests < MIN_REQUESTS:
            warn("few-requests", load, f"too few requests for a stable p99 ({step.requests})")
        if busy is not None and step.load_cpu_s is not None:
            infra = step.infra_cpu_s or 0.0
            infra_share = infra / step.duration_s / max(load_cpus, 1)
            if infra_share >= INFRA_BUSY and step.cpu_util < INFRA_BUSY and busy < LOAD_CPU_LIMIT:
                warn(
                    "infra-bound",
                    load,
                    f"Postgres and the stub API used {infra_share:.0%} of the load CPUs while "
                    f"the server used {step.cpu_util:.0%} of its own: the database is the limit",
                )
            if busy >= LOAD_CPU_LIMIT:
                proxies = _proxy_cpu_s(step)
                with_proxies = (
                    f", latency proxies {proxies / step.duration_s:.0%}" if proxies else ""
                )
                warn(
                    "load-saturation",
                    load,
                    f"load side near saturation ({busy:.0%} of its CPUs: k6 "
                    f"{step.load_cpu_s / step.duration_s:.0%}, Postgres and stub API "
                    f"{infra / step.duration_s:.0%}{with_proxies}): the server may not be the "
                    "bottleneck",
                )
        for target, traffic in (("Postgres", step.db_path), ("the stub API", step.upstream_path)):
            # One event loop: a proxy near one whole CPU delays by more than it was asked to.
            if traffic is not None and step.duration_s > 0:
                share = traffic.cpu_s / step.duration_s
                if share >= LOAD_CPU_LIMIT:
                    warn(
                        "proxy-saturation",
                        load,
                        f"the latency proxy to {target} used {share:.0%} of a CPU: its delays "
                        "may exceed the round trip asked for",
                    )
    return found


def analyze(results: Results) -> Analysis:
    """Capacity at SLO, knee, verdict per workload and self-check warnings of one results file."""
    scenario = scenario_of(results)
    summaries = tuple(summarize_run(r, scenario.slo_for(r.workload)) for r in results.runs)
    # Scenario order first; a run of a workload the scenario does not list is still shown.
    ran = [r.workload for r in results.runs]
    workloads = tuple(w for w in dict.fromkeys([*scenario.workloads, *ran]) if w in ran)
    distances = sorted({r.distance for r in results.runs}, key=_nearness)
    verdicts = tuple(
        _verdict(
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
    warnings = [w for s in summaries for w in _warnings(s, load_cpus, scenario)]
    warnings += [w for v in verdicts for w in _repeat_warnings(v)]
    return Analysis(results, scenario, workloads, summaries, verdicts, tuple(warnings))


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
    where = f"{fault.run} / {fault.workload}" + (f" @ {fault.load}" if fault.load else "")
    return f"{fault.message} during {where}; the run stopped there"


def _repeat_warnings(verdict: Verdict) -> list[CheckWarning]:
    """pyperf-style doubts about the repeats of the candidates a verdict compares."""
    found = []
    for candidate in verdict.candidates[:2]:
        doubts = stability_warnings(candidate.samples) if candidate.samples else []
        if candidate.missed:
            doubts.append(f"{candidate.missed} round(s) met the SLO at no step")
        if candidate.lower_bounds:
            doubts.append(
                f"{candidate.lower_bounds} of {len(candidate.samples)} searches met the SLO at "
                "every rate they tried (their capacity is a lower bound)"
            )
        if candidate.collapsed:
            doubts.append(
                f"{candidate.collapsed} of {len(candidate.samples)} searches were served less "
                "at their failing rate than at the passing rate below it (overload collapse): "
                "their capacity is that passing rate, so the interval shows the rates tried, "
                "not the server's spread"
            )
        found += [
            CheckWarning("repeats", verdict.workload, candidate.label, None, doubt)
            for doubt in doubts
        ]
    return found
