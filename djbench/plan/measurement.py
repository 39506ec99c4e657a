"""The measurement plan: which servers run (a variant with one upstream client each), which
workloads each serves, and which load steps each run gets."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from benchapp.catalog import client_kind
from djbench.model.errors import DjbenchError
from djbench.model.results import DIRECT, Distance, ProjectInfo, Step
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import revalidate
from djbench.model.setup import LoadStep, Setup
from djbench.model.shapes import shapes_for
from djbench.model.variants import Variant, resolve_variants, standard_variants
from djbench.plan.physics import floor_latency_s

SEARCH_UP = 1.25


SEARCH_FAR = 2.0


SEARCH_DOWN = 0.8
"""How far a capacity search steps from its last rate while it has no bracket (far: when,
at the last passing rate, the server used under ``SEARCH_HEADROOM`` of its CPU budget and
the step under that share of its SLO: ``plan.judge.slo_load``)."""


SEARCH_HEADROOM = 0.5


SEARCH_RESOLUTION = 0.05
"""A bracket this narrow (relative to its lower end) ends the search."""


CAPPED_START = 0.7
"""A search from a survey step the ladder's top may have capped (it met the SLO with every
user busy: Little's law, not the server, set its rate) starts at this share of where the
server's CPU would run out at that step's CPU per request, when that is higher."""


CONFIRM_START = 0.9
"""A confirmation round's search starts at this share of the capacity round 0 found (or of
its lower bound, when every rate it tried met the SLO): one step up (``SEARCH_UP``) then
brackets it within about ±12 %. Starting at round 0's own passing rate instead probed the
same two rates every round, and past an overload collapse every round gave that rate."""


WARMUP_CYCLES = 3
"""Request cycles of warm-up: connections open, pools filled, caches and JITs warm."""


WARM_CYCLES = 1


WARM_MIN_S = 0.5
"""Warm-up of a step that follows one of the same workload on the same server: that server is
warm, only the new load has to settle (one request cycle, at least this long)."""


VU_HEADROOM = 1.5
"""An open step may hold this many times (rate × the SLO's p99) requests in flight. With
that many in flight at a constant arrival rate, the oldest is 1.5 × the SLO's p99 old, so an
iteration k6 drops for want of a VU can only fall where the step misses the SLO anyway: the
VU ceiling never decides a capacity."""


PREALLOCATED_IN_FLIGHT = 2.0
"""An open step allocates VUs for this many times the requests it expects in flight (rate ×
expected latency) before it starts; k6 adds more up to the ceiling only when all are busy.
Not the whole ceiling: k6 cycles through every VU it has, each with its own keep-alive
connection, so idle VUs would hold hundreds of idle connections open on the server (a
gevent worker serves at most 1000)."""


@dataclass(frozen=True)
class Plan:
    """Setups × workloads, with the closed ladder known up front."""

    scenario: Scenario
    variants: list[Variant]
    workloads: list[str]
    project: ProjectInfo | None = None
    """A team's project served in place of benchapp (its requests are the workloads)."""

    @property
    def closed_steps(self) -> list[LoadStep]:
        """The concurrency ladder, identical for every run."""
        return [LoadStep("closed", float(c)) for c in self.scenario.closed.concurrency]

    @property
    def steps_per_run(self) -> int:
        """Closed plus open steps of one run (for progress)."""
        o = self.scenario.open
        return len(self.closed_steps) + len(o.capacity_fractions) + len(o.rates)

    @property
    def setups(self) -> list[Setup]:
        """Every server to start, variant by variant: one per shape of the pod, upstream
        client of its kind and distance of the scenario's network.

        A variant's further clients are only started when some workload calls upstream.
        """
        calls_upstream = any(self.scenario.kind(w).touches_upstream for w in self.workloads)
        found = []
        for variant in self.variants:
            clients = self.scenario.upstream_clients.of(client_kind(variant.views))
            found += [
                Setup(variant, c, d, calls_upstream, shape)
                for shape in shapes_for(self.scenario, variant)
                for d in self.scenario.network.distances()
                for c in (clients if calls_upstream else clients[:1])
            ]
        return found

    def workloads_for(self, setup: Setup) -> list[str]:
        """The workloads one setup serves: all with the variant's first client; with the
        others only those that call upstream (elsewhere the client plays no part)."""
        first = self.scenario.upstream_clients.of(client_kind(setup.variant.views))[0]
        if setup.client == first:
            return list(self.workloads)
        return [w for w in self.workloads if self.scenario.kind(w).touches_upstream]

    @property
    def survey_steps(self) -> int:
        """Every step of the survey round (every candidate, the whole ladder)."""
        runs = sum(len(self.workloads_for(s)) for s in self.setups)
        return runs * self.steps_per_run

    @property
    def distances(self) -> list[Distance]:
        """The network's distances: each workload gets a verdict at each."""
        return self.scenario.network.distances()

    @property
    def cases(self) -> list[tuple[str, Distance]]:
        """What a verdict is drawn for: each workload at each distance."""
        return [(w, d) for w in self.workloads for d in self.distances]

    @property
    def _candidates_per_case(self) -> int:
        return len(self.setups) // len(self.distances)

    @property
    def leader_slots(self) -> int:
        """Leaders of all cases together, at most."""
        return len(self.cases) * min(self.scenario.leaders, self._candidates_per_case)

    @property
    def steps_per_leader(self) -> int:
        """A leader's search and confirmation steps, at most."""
        s = self.scenario
        return s.search_steps + (s.repeats - 1) * s.confirm_steps

    @property
    def contender_slots(self) -> int:
        """Candidates beyond the leaders that may join round 0's search (the survey could not
        rank them: ``plan.judge.leaders``), all cases together, at most."""
        if not self.scenario.search_steps:
            return 0
        k = self.scenario.leaders
        return len(self.cases) * max(0, min(2 * k, self._candidates_per_case) - k)

    @property
    def total_steps(self) -> int:
        """Every step of the whole plan, the leaders' searches and confirmations at most."""
        return (
            self.survey_steps
            + self.leader_slots * self.steps_per_leader
            + self.contender_slots * self.scenario.search_steps
        )

    def order(self, setups: list[Setup], round_: int) -> list[Setup]:
        """The setups of one round in their shuffled order: the same for one seed and round,
        different from round to round, so no variant always runs first (or right after
        another)."""
        shuffled = list(setups)
        random.Random(f"{self.scenario.seed}/{round_}").shuffle(shuffled)
        return shuffled

    def timed(
        self,
        step: LoadStep,
        known: list[Step],
        workload: str,
        survey: bool = False,
        warm: bool = False,
        distance: Distance = DIRECT,
        slots: int | None = None,
    ) -> LoadStep:
        """The step with a warm-up and measured phase sized by the evidence it needs: at least
        ``min_requests`` responses and (closed steps) ``min_cycles`` request cycles (a user's
        request plus think time), within ``duration_s`` … ``max_duration_s`` (without a cap: the
        scenario's times).

        Rates and latencies are estimated from steps already measured (the same step in an
        earlier round, else the closed step just below it, whose rate is a lower bound), else
        from the workload's physical floor; without any, the scenario's times stand. A
        ``warm`` step (the same server just measured the same workload) warms up for
        ``WARM_CYCLES``, not ``WARMUP_CYCLES``; a closed step at least until each of its
        users could have been answered once (``_first_cycle_bound``).
        """
        s = self.scenario
        rate, cycle = _estimate(step, known, s, workload, distance)
        if step.model == "open":
            ceiling = open_vus(s, workload, step.level)
            expected = step.level * (cycle or s.slo_for(workload).p99_ms / 1000)
            ahead = max(1, min(ceiling, math.ceil(expected * PREALLOCATED_IN_FLIGHT)))
            step = replace(step, max_vus=ceiling, preallocated=ahead)
        cap = s.survey_max_duration_s if survey and s.survey_max_duration_s else s.max_duration_s
        if cap is None or rate is None or cycle is None:
            return replace(step, warmup_s=s.warmup_s, duration_s=s.duration_s)
        # Cycles matter to a closed step (its users' requests come in whole cycles); an open
        # step's arrivals are paced, and it counts the requests started in its window.
        cycles = s.min_cycles * cycle if step.model == "closed" else 0.0
        need = max(s.duration_s, s.min_requests / rate, cycles)
        duration = max(s.duration_s, min(need, cap))
        if warm:
            warmup = max(min(s.warmup_s, WARM_MIN_S), min(WARM_CYCLES * cycle, cap))
        else:
            warmup = max(s.warmup_s, min(WARMUP_CYCLES * cycle, cap))
        if step.model == "closed":
            # Every user's first request must be answered before the window opens: until
            # then the window sees the start-up burst, and crediting responses by their share
            # in it overstates throughput (1 slot, 32 users, 3.3 s each: +9 % with a 1 s
            # warm-up). The step below bounds that first cycle: c / its throughput. Not held
            # to the cap, which only trades evidence for time (gunicorn-sync, 8 users on
            # 0.6 s calls, warmed 1.5 s of a 4.8 s first cycle: 2.08 req/s where 1.67 are
            # possible), but to the request timeout: beyond it the users time out anyway.
            bound = _first_cycle_bound(step, known, floor_latency_s(s, workload, distance), slots)
            warmup = max(warmup, min(bound or 0.0, s.request_timeout_s))
        if step.model == "open" and 0 < warmup < 1:
            warmup = 1.0  # k6's arrival-rate executors start whole seconds
        return replace(step, warmup_s=round(warmup, 1), duration_s=round(duration, 1))

    def open_steps(self, closed: list[Step]) -> list[LoadStep]:
        """Arrival-rate steps: fractions of the best closed throughput, then absolute rates."""
        o = self.scenario.open
        capacity = max((s.rps for s in closed if s.status == "ok"), default=0.0)
        steps = [
            LoadStep("open", round(capacity * f, 2)) for f in o.capacity_fractions if capacity > 0
        ]
        steps += [LoadStep("open", r) for r in o.rates]
        return steps


def make_plan(
    scenario: Scenario,
    variants: list[str] | None = None,
    workloads: list[str] | None = None,
    source: str = "scenario",
    project: bool = False,
) -> Plan:
    """Resolve names (command-line choices win over the scenario's) into a plan; for a team's
    ``project``, of variants that serve its own views (``Plan.project`` is set once it
    loaded)."""
    try:
        chosen = resolve_variants(variants or scenario.variants or None)
    except DjbenchError as exc:
        raise DjbenchError(f"{'--variants' if variants else source + ': variants'}: {exc}") from exc
    names = list(dict.fromkeys(workloads or scenario.workloads))
    # Re-validated through the same model, so a bad name reads as in a scenario file; the
    # stored scenario then says exactly what ran.
    overrides: dict[str, object] = {"workloads": names, "variants": [v.name for v in chosen]}
    if scenario.seed is None:
        # Drawn once and stored with the scenario, so the results say which order ran.
        overrides["seed"] = random.SystemRandom().randrange(2**31)
    scenario = revalidate(scenario, overrides, "--workloads")
    if project and (others := [v.name for v in chosen if v.benchapp_only]):
        raise DjbenchError(
            f"{'--variants' if variants else source + ': variants'}: {', '.join(others)} "
            "differ from a standard variant only in benchapp's views; a project serves its "
            f"own (choose from: {', '.join(standard_variants())})"
        )
    return Plan(scenario=scenario, variants=chosen, workloads=names)


def open_vus(scenario: Scenario, workload: str, rate: float) -> int:
    """VUs an open step at ``rate`` may hold: ``VU_HEADROOM`` × rate × the SLO's p99, within
    the scenario's ``open.max_vus``."""
    need = math.ceil(rate * scenario.slo_for(workload).p99_ms / 1000 * VU_HEADROOM)
    return max(1, min(scenario.open.max_vus, need))


def _estimate(
    step: LoadStep, known: list[Step], scenario: Scenario, workload: str, distance: Distance
) -> tuple[float | None, float | None]:
    """Expected successful responses per second and seconds per request cycle of a step."""
    think = scenario.think_time_s(workload)
    ok = [k for k in known if k.status == "ok" and k.rps > 0]
    same = [k for k in ok if k.model == step.model and k.load_label == step.label]
    below = sorted(
        (k for k in ok if k.model == "closed" and (k.concurrency or 0) <= step.level),
        key=lambda k: k.concurrency or 0,
    )
    floor = floor_latency_s(scenario, workload, distance)
    if same:
        latency = same[-1].latency_ms.p50 / 1000
        return same[-1].rps, latency + think
    if step.model == "open":
        nearest = below[-1].latency_ms.p50 / 1000 if below else floor
        return step.level, None if nearest is None else nearest + think
    if below:
        # The rate below is a lower bound (more users serve no fewer); its latency, or the
        # floor, the likeliest cycle until the knee (Little's law with that lower bound
        # would size every step past it to the cap).
        latency = below[-1].latency_ms.p50 / 1000
        return below[-1].rps, max(latency, floor or 0.0) + think
    if floor is not None:
        return step.level / (floor + think), floor + think
    return None, None


def _first_cycle_bound(
    step: LoadStep, known: list[Step], floor: float | None, slots: int | None
) -> float | None:
    """The longest a closed step's first request cycle can take: its users over the
    throughput of the closed step below (Little's law; more users serve no fewer), or its own
    measured cycle when it ran before; without either, its users waiting their turn for the
    server's ``slots``, each for the workload's physical ``floor``. None without any."""
    ok = [k for k in known if k.status == "ok" and k.rps > 0 and k.model == "closed"]
    same = [k for k in ok if k.load_label == step.label]
    if same:
        return step.level / same[-1].rps
    below = [k for k in ok if (k.concurrency or 0) < step.level]
    if below:
        return step.level / max(below, key=lambda k: k.concurrency or 0).rps
    if floor is None or slots is None:
        return None
    return math.ceil(step.level / slots) * floor


def next_search_rate(
    start: float, probes: list[tuple[float, bool]], limit: int, headroom: bool = False
) -> float | None:
    """The next arrival rate of a capacity search, or None when it is done.

    ``probes`` are the rates tried so far and whether each met the SLO. From ``start`` the
    search steps up (``SEARCH_UP``; ``SEARCH_FAR`` while ``headroom`` says the last passing
    step left most of the server's CPU unused) while rates pass and down while they fail,
    until a passing rate lies below a failing one; then it bisects that bracket until it is
    narrower than ``SEARCH_RESOLUTION`` or ``limit`` steps are spent.
    """
    if len(probes) >= limit or start <= 0:
        return None
    if not probes:
        return round(start, 2)
    passed = [r for r, ok in probes if ok]
    lo = max(passed, default=None)
    failed = [r for r, ok in probes if not ok and (lo is None or r > lo)]
    hi = min(failed, default=None)
    if lo is None:
        return round(min(r for r, _ in probes) * SEARCH_DOWN, 2)
    if hi is None:
        return round(lo * (SEARCH_FAR if headroom else SEARCH_UP), 2)
    if (hi - lo) / lo <= SEARCH_RESOLUTION:
        return None
    return round((lo + hi) / 2, 2)
