"""Physics for waiting workloads: what a closed step of ``upstream`` or ``sleep`` must reach.

A request that waits ``floor`` seconds (its slowest upstream call, or its sleep) lets ``c``
closed-model users make at most ``c / floor`` requests per second; a server with ``slots``
(workers × threads: a one-thread worker serves 1 / floor, times its workers) at most
``slots / floor``; and its CPU at most its budget over the CPU one request
costs at light load. A step far below the least of these has found a limit the benchmark did
not mean to measure (an HTTP client's pool, a queue, the load side), so the analysis says so
and names the likely one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from djbench.model.results import DIRECT, Distance, Run, Step
from djbench.model.scenario import Scenario

PHYSICS_SHARE = 0.8
"""A closed step of a waiting workload below this share of what physics allows is suspect."""
LIGHT_LOAD_CPU_S = 0.1
"""CPU seconds (ten clock ticks) the lightest steps must hold before their CPU per request is
trusted as the light-load cost."""
LIGHT_LOAD_UTIL = 0.5
"""Steps whose server CPU util reached this are not light load."""
CPU_SATURATED = 0.9
"""Server CPU util at which the server's CPU is used up."""


def floor_latency_s(
    scenario: Scenario,
    workload: str,
    distance: Distance = DIRECT,
    db_round_trips: float = 1.0,
) -> float | None:
    """The least time a request of a waiting workload takes: its slowest upstream call, or
    its sleep, plus the round-trip times the distance adds (one per upstream call, made at
    once; ``db_round_trips`` to the database, one after the other). None for workloads whose
    time is not a wait. A traffic mix's: its parts' floors weighted by their shares (a part
    whose time is no wait counts as none), the least its mean request can take."""
    if workload in scenario.mix:
        floors = {
            part: floor_latency_s(scenario, part, distance, db_round_trips)
            for part in scenario.mix[workload]
        }
        if all(f is None for f in floors.values()):
            return None
        return sum(share * (floors[p] or 0.0) for p, share in scenario.mix[workload].items())
    base: float | None = None
    benchapp = scenario.benchapp_workload(workload) is not None
    if benchapp and workload == "upstream":
        base = max(scenario.upstream_delays_ms) / 1000
    elif benchapp and workload == "sleep":
        try:
            base = float(scenario.request("sleep")["query"]["ms"]) / 1000
        except (KeyError, ValueError):
            base = None
    kind = scenario.kind(workload)
    added = 0.0
    if kind.touches_upstream and distance.upstream_rtt_ms:
        added += distance.upstream_rtt_ms / 1000
    if kind.touches_db and distance.db_rtt_ms:
        added += max(1.0, db_round_trips) * distance.db_rtt_ms / 1000
    if base is None and not added:
        return None
    return (base or 0.0) + added


def db_round_trips(run: Run, step: Step | None = None) -> float:
    """Round trips to the database per request, as the proxy counted them: in ``step`` when
    given and counted (a step that opened new connections counts their set-up too), else
    over the run's measured steps; 1 where nothing was counted (every request of a database
    workload makes at least one)."""
    steps = [step] if step is not None and step.db_path is not None else run.steps
    counted = [s for s in steps if s.db_path is not None]
    requests = sum(s.requests - s.errors for s in counted)
    trips = sum(s.db_path.round_trips for s in counted if s.db_path is not None)
    return trips / requests if requests > 0 and trips > 0 else 1.0


def _successes(step: Step) -> int:
    return step.requests - step.errors


def light_load_cpu_ms(run: Run) -> float | None:
    """Server CPU ms per successful request at light load: the lightest closed steps whose
    CPU was not used up, pooled until they hold enough CPU time to trust."""
    light = sorted(
        (
            s
            for s in run.steps
            if s.model == "closed"
            and s.status == "ok"
            and _successes(s) > 0
            and s.cpu_util < LIGHT_LOAD_UTIL
        ),
        key=lambda s: s.concurrency or 0,
    )
    cpu_s, served = 0.0, 0
    for step in light:
        cpu_s += step.cpu_s
        served += _successes(step)
        if cpu_s >= LIGHT_LOAD_CPU_S:
            return cpu_s * 1000 / served
    return None  # too little CPU time measured to trust


def _cpu_budget(run: Run) -> float:
    """CPUs the server could use (cpu_util's denominator), from its busiest step: the one
    whose rounded util is the most precise."""
    busiest = max(
        (s for s in run.steps if s.cpu_util > 0 and s.duration_s > 0),
        key=lambda s: s.cpu_util,
        default=None,
    )
    return busiest.cpu_s / busiest.duration_s / busiest.cpu_util if busiest else 1.0


def _database_slots(scenario: Scenario, workload: str, distance: Distance = DIRECT) -> int | None:
    """Requests that wait holding a pooled database connection, bounded by the pool:
    ``sleep?via=db``, and a database workload at a distance (each round trip holds it)."""
    if scenario.requests:
        return None  # a project's pool (or persistent connections) is its settings' own
    if scenario.kind(workload).touches_db and distance.db_rtt_ms:
        return scenario.db_pool.max_size
    if workload != "sleep" or scenario.request("sleep")["query"].get("via") != "db":
        return None
    return scenario.db_pool.max_size


def calls_in_flight(scenario: Scenario, workload: str) -> float:
    """Upstream calls one request in progress has in flight on average: its calls run at once
    and end as their delays do (3 calls of 300, 600, 150 ms average 1.75 over the 600 ms)."""
    if workload != "upstream":
        return 1.0
    delays = scenario.upstream_delays_ms
    return sum(delays) / max(delays) if max(delays) > 0 else float(len(delays))


@dataclass(frozen=True)
class Expectation:
    """What physics allows a closed step of a waiting workload, and why."""

    rate: float
    """min(concurrency / (floor + think time), slots / floor, CPU ceiling), in req/s."""
    floor_s: float
    slots: int | None
    """The server's slots, or the database pool where that is fewer; None when unbounded."""
    ceiling: float | None
    """req/s the CPU budget allows at the light-load CPU cost; None when unknown."""
    light_cpu_ms: float | None
    bound: str = ""
    """Which term is the least, in words (``the database pool's 16 connections``)."""

    @property
    def text(self) -> str:
        """The terms of the minimum, in words."""
        slots = "unbounded" if self.slots is None else str(self.slots)
        cpu = (
            f"CPU ceiling {self.ceiling:,.1f} req/s from {self.light_cpu_ms:.1f} ms per request "
            "at light load"
            if self.ceiling is not None and self.light_cpu_ms is not None
            else "CPU ceiling unknown"
        )
        return f"floor {self.floor_s:.2f} s, slots {slots}, {cpu}"

    @property
    def limit_text(self) -> str:
        """``at most 80.0 req/s: the database pool's 16 connections over 0.20 s each``."""
        per = "" if self.bound == "the server's CPU" else f" over {self.floor_s:.2f} s each"
        return f"at most {self.rate:,.1f} req/s: {self.bound}{per}"


def expected_rate(run: Run, step: Step, scenario: Scenario) -> Expectation | None:
    """Physics for one closed step of a waiting workload (``upstream``, ``sleep``): what the
    concurrency, the server's slots and its CPU allow; None where physics says nothing."""
    floor = floor_latency_s(scenario, run.workload, run.distance, db_round_trips(run, step))
    if floor is None or floor <= 0 or step.model != "closed" or not step.concurrency:
        return None
    cycle = floor + scenario.think_time_s(run.workload)
    light = light_load_cpu_ms(run)
    ceiling = _cpu_budget(run) * 1000 / light if light else None
    pool = _database_slots(scenario, run.workload, run.distance)
    if pool is not None and run.shape is not None:
        pool *= run.shape.workers  # each worker has a pool of its own
    bounds = [b for b in (run.slots, pool) if b is not None]
    slots = min(bounds, default=None)
    named = {
        f"{step.concurrency} users": step.concurrency / cycle,
        (
            f"the database pool's {slots} connections"
            if slots is not None and slots == pool and slots != run.slots
            else f"the server's {slots} slot(s)"
        ): math.inf if slots is None else slots / floor,
        "the server's CPU": ceiling if ceiling is not None else math.inf,
    }
    bound = min(named, key=lambda k: named[k])
    return Expectation(named[bound], floor, slots, ceiling, light, bound)


def _likely_limit(
    run: Run,
    step: Step,
    expected: Expectation,
    scenario: Scenario,
    busy: float | None,
    load_limit: float,
) -> str:
    """The part most likely holding a step below physics: load side, client or server."""
    timeout_s = scenario.request_timeout_s
    if busy is not None and busy >= load_limit:
        return f"the load side ({busy:.0%} of its CPUs busy)"
    client = f"the HTTP client ({run.client.name})" if run.client else None
    if step.cpu_util >= CPU_SATURATED:
        light = expected.light_cpu_ms
        served = _successes(step) > 0
        cost = f"{step.cpu_ms_per_req:,.1f} ms per request" if served else "nothing served"
        against = f" against {light:.1f} ms at light load" if light else ""
        # Each request costing far more CPU than at light load: something in the process
        # does more work per request as calls pile up (an HTTP client's pool, typically).
        grew = not served or (light is not None and step.cpu_ms_per_req > 2 * light)
        what = client if client and grew else "the server"
        return f"{what}: the server's CPU is used up ({cost}{against})"
    if client and step.upstream is not None and step.concurrency:
        in_progress = (
            step.concurrency
            * expected.floor_s
            / (expected.floor_s + scenario.think_time_s(run.workload))
        )
        want = min(in_progress, expected.slots or in_progress)
        want *= calls_in_flight(scenario, run.workload)
        if step.upstream.peak_in_flight < PHYSICS_SHARE * want:
            return (
                f"{client}: at most {step.upstream.peak_in_flight} upstream calls were in flight "
                f"where about {want:.0f} are on average (a pool or thread limit)"
            )
    slots = expected.slots
    if slots is not None and step.concurrency and step.concurrency > slots:
        queued_s = step.concurrency / slots * expected.floor_s
        if queued_s > timeout_s:
            return (
                f"the server's {slots} slot(s): {step.concurrency} requests queue for about "
                f"{queued_s:.0f} s, past the {timeout_s:g} s request timeout, so requests time out "
                "while queued and the server works on ones the client gave up"
            )
    kind = scenario.kind(run.workload)
    opened = step.db_path.connections if step.db_path is not None else 0
    if kind.touches_db and run.distance.db_rtt_ms and opened:
        # A pool still growing: each new connection costs its start-up's round trips at the
        # distance, and requests wait for it (remote-db's first step after a server start).
        return (
            f"the database pool: it opened {opened} connection(s) in the window, each several "
            f"round trips at +{run.distance.db_rtt_ms:g} ms, while requests waited for one "
            f"(they took {step.latency_ms.p50:,.0f} ms at the median against "
            f"{expected.floor_s * 1000:,.0f} ms of round trips)"
        )
    if kind.touches_db and run.distance.db_rtt_ms:
        return (
            f"the database: requests took {step.latency_ms.p50:,.0f} ms at the median against "
            f"{expected.floor_s * 1000:,.0f} ms of round trips; its own time per query (or a "
            "queue before it) adds to the distance"
        )
    return (
        "the server: its CPU was not used up and the upstream was not kept busy "
        "(a concurrency limit or a queue in the server)"
    )


def shortfall(
    run: Run, step: Step, scenario: Scenario, busy: float | None, load_limit: float
) -> str | None:
    """The warning for a step below ``PHYSICS_SHARE`` of what physics allows, else None.

    ``busy``: the share of the load side's CPUs in use (None when not recorded), and
    ``load_limit`` the share at which the load side itself is the likely limit.
    """
    expected = expected_rate(run, step, scenario)
    if expected is None or step.rps >= PHYSICS_SHARE * expected.rate:
        return None
    limit = _likely_limit(run, step, expected, scenario, busy, load_limit)
    return (
        f"{step.rps:,.1f} req/s is {step.rps / expected.rate:.0%} of the {expected.rate:,.1f} "
        f"req/s physics allows ({expected.text}); likely limit: {limit}"
    )
