"""Verdicts: per workload and distance, which variant carries the most within the SLO, its
repeats' median and interval against the runner-up's, the test, and what became of the
others; and the failed runs' causes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from djbench.analysis.statistics import (
    EFFECT,
    Comparison,
    Estimate,
    compare,
    median_interval,
)
from djbench.model.results import DIRECT, CandidateKey, Distance, Run, Step
from djbench.model.scenario import Slo
from djbench.plan.judge import (
    RunSummary,
    capacity_sample,
    is_search,
    searched_capacity,
)

RIVAL_MARGIN = 0.10
"""A survey capacity this close to the winner's (1.5–2 s steps, one round) does not rank
below it: such a candidate that no search followed keeps a lead from being called."""


SIGNIFICANT_RATIO = EFFECT
"""A winner/runner-up ratio below this is within run-to-run noise: "≈"."""


@dataclass(frozen=True)
class Candidate:
    """One variant (with its upstream client) on one workload, over every round it ran."""

    key: CandidateKey
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


def verdict_of(
    workload: str,
    slo: Slo,
    summaries: Iterable[RunSummary],
    void: str | None = None,
    distance: Distance = DIRECT,
) -> Verdict:
    """The verdict of one case (a workload at a distance) from its runs' summaries (``void``:
    why none may be drawn)."""
    summaries = list(summaries)
    # Once leaders were confirmed (else searched), they alone are compared: a candidate
    # measured once cannot stand beside repeated ones. The others stay in the tables.
    followed = {s.run.key for s in summaries if s.run.purpose == "confirm"} or {
        s.run.key for s in summaries if s.run.purpose == "search"
    }
    # The candidates are variants with their upstream client: two clients, two candidates.
    by_key: dict[CandidateKey, list[RunSummary]] = {}
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
    later: dict[CandidateKey, list[tuple[Step, bool]]] = {
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
