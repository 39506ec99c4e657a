"""Physics of waiting workloads: floors, slots and the CPU ceiling (the warnings it drives are
tested through the analysis, in test_analysis)."""

from __future__ import annotations

import pytest

from djbench.model.pod import Shape
from djbench.model.results import Distance, Latency, ProxyTraffic, Run, Step
from djbench.model.scenario_file import parse_scenario
from djbench.plan.physics import (
    calls_in_flight,
    db_round_trips,
    expected_rate,
    floor_latency_s,
    light_load_cpu_ms,
    shortfall,
)

SCENARIO = parse_scenario("upstream_delays_ms: [100, 400, 50]\nparams: {sleep: {ms: '250'}}", "x")


def step(c: int, rps: float, cpu_util: float, cpu_s: float) -> Step:
    return Step(
        model="closed", concurrency=c, rate=None, duration_s=2.0, requests=round(rps * 2),
        errors=0, dropped=0, rps=rps, latency_ms=Latency(p50=1, p90=1, p95=1, p99=1, max=1),
        cpu_s=cpu_s, cpu_util=cpu_util, cpu_ms_per_req=0.0, rss_mib=50.0,
    )  # fmt: skip


def run(workload: str, steps: list[Step], slots: int | None) -> Run:
    return Run(
        variant="v", server="gunicorn", interface="wsgi", views="sync", workload=workload,
        status="ok", error=None, slots=slots, steps=steps,
    )  # fmt: skip


def test_floors_are_the_slowest_call_or_the_sleep() -> None:
    assert floor_latency_s(SCENARIO, "upstream") == 0.4
    assert floor_latency_s(SCENARIO, "sleep") == 0.25
    assert floor_latency_s(SCENARIO, "cpu") is None


def test_distance_adds_a_round_trip_per_call_and_per_query() -> None:
    far = Distance(db_rtt_ms=100, upstream_rtt_ms=20)
    # The upstream calls are made at once: one round trip on top of the slowest.
    assert floor_latency_s(SCENARIO, "upstream", far) == pytest.approx(0.42)
    # Database queries wait one after the other: at least one, else as many as counted.
    assert floor_latency_s(SCENARIO, "db-read", far) == pytest.approx(0.1)
    assert floor_latency_s(SCENARIO, "db-read", far, db_round_trips=3) == pytest.approx(0.3)
    assert floor_latency_s(SCENARIO, "cpu", far) is None
    assert floor_latency_s(SCENARIO, "db-read", Distance(db_rtt_ms=0)) is None


def test_round_trips_per_request_are_counted_by_the_proxy() -> None:
    counted = step(1, 10, 0.1, 0.1).model_copy(
        update={"db_path": ProxyTraffic(connections=1, round_trips=60, cpu_s=0.01)}
    )
    assert db_round_trips(run("db-read", [counted], slots=1)) == 3.0  # 20 served
    assert db_round_trips(run("db-read", [step(1, 10, 0.1, 0.1)], slots=1)) == 1.0
    # A step's own count, where it has one: the run's lightest steps paid connection set-up.
    busy = step(8, 40, 0.1, 0.1).model_copy(
        update={"db_path": ProxyTraffic(connections=0, round_trips=160, cpu_s=0.01)}
    )
    both = run("db-read", [counted, busy], slots=1)
    assert db_round_trips(both, busy) == 2.0
    assert db_round_trips(both) == pytest.approx(220 / 100)


def test_a_one_slot_server_at_a_distance_is_bounded_by_its_round_trips() -> None:
    # gunicorn-sync at 100 ms and 2 round trips per request: 1 / (2 x 0.1) = 5 req/s.
    counted = step(8, 4.9, 0.05, 0.05).model_copy(
        update={"db_path": ProxyTraffic(connections=1, round_trips=20, cpu_s=0.01)}
    )
    far = run("db-read", [counted], slots=1).model_copy(
        update={"distance": Distance(db_rtt_ms=100)}
    )
    expected = expected_rate(far, counted, SCENARIO)
    assert expected is not None
    assert expected.rate == pytest.approx(5.0)


def test_light_load_pools_the_lightest_unsaturated_steps() -> None:
    # c=1 holds 0.02 s of CPU (too little to trust alone), c=8 brings it past 0.1 s; the
    # saturated c=32 step never counts.
    steps = [step(32, 60.0, 0.95, 1.9), step(8, 20.0, 0.05, 0.1), step(1, 2.5, 0.01, 0.02)]
    assert light_load_cpu_ms(run("upstream", steps, None)) == pytest.approx(120 / 45)


def test_the_least_of_concurrency_slots_and_cpu() -> None:
    light = step(1, 2.5, 0.05, 0.1)  # 20 ms per request at 1 CPU: a 50 req/s ceiling
    threads = run("upstream", [light, step(32, 10.0, 0.5, 1.0)], slots=8)
    expected = expected_rate(threads, threads.steps[1], SCENARIO)
    assert expected is not None
    assert expected.rate == pytest.approx(8 / 0.4)  # 8 threads, 0.4 s each: 20 req/s
    unbounded = threads.model_copy(update={"slots": None})
    expected = expected_rate(unbounded, unbounded.steps[1], SCENARIO)
    assert expected is not None
    assert expected.rate == pytest.approx(50.0)  # 32 / 0.4 = 80, but the CPU allows 50
    assert expected.text == (
        "floor 0.40 s, slots unbounded, CPU ceiling 50.0 req/s from 20.0 ms per request at "
        "light load"
    )
    assert expected_rate(threads.model_copy(update={"workload": "cpu"}), light, SCENARIO) is None


def test_sleeping_in_the_database_is_bounded_by_its_pool() -> None:
    scenario = parse_scenario("params: {sleep: {ms: '100', via: db}}\ndb_pool: {max_size: 4}", "x")
    sleepy = run("sleep", [step(32, 5.0, 0.05, 0.1)], slots=None)
    expected = expected_rate(sleepy, sleepy.steps[0], scenario)
    assert expected is not None
    assert (expected.slots, expected.rate) == (4, pytest.approx(40.0))  # 4 connections / 0.1 s


def test_calls_in_flight_average_over_the_longest_call() -> None:
    assert calls_in_flight(SCENARIO, "upstream") == pytest.approx(550 / 400)
    assert calls_in_flight(SCENARIO, "sleep") == 1.0


def test_a_distant_database_slower_than_its_round_trips_is_named() -> None:
    # 16 users at 50 ms of round trips allow 320 req/s; 200 served at a 80 ms median.
    slow = step(16, 200, 0.1, 0.4).model_copy(
        update={"latency_ms": Latency(p50=80, p90=90, p95=95, p99=99, max=120)}
    )
    far = run("db-write", [slow], slots=None).model_copy(
        update={"distance": Distance(db_rtt_ms=50)}
    )
    found = shortfall(far, slow, SCENARIO, busy=0.3, load_limit=0.9)
    assert found is not None
    assert found.endswith(
        "likely limit: the database: requests took 80 ms at the median against 50 ms of round "
        "trips; its own time per query (or a queue before it) adds to the distance"
    )
    # The pool still opening connections in the window (remote-db's first step at 200 ms:
    # 0.07 new connections per request, one round trip each counted): what requests waited for.
    growing = slow.model_copy(
        update={"db_path": ProxyTraffic(connections=14, round_trips=400, cpu_s=0.5)}
    )
    found = shortfall(far, growing, SCENARIO, busy=0.3, load_limit=0.9)
    assert found is not None
    assert found.endswith(
        "likely limit: the database pool: it opened 14 connection(s) in the window, each "
        "several round trips at +50 ms, while requests waited for one (they took 80 ms at the "
        "median against 50 ms of round trips)"
    )


def test_a_pooled_server_at_a_distance_is_bounded_by_its_pool_and_says_so() -> None:
    # An async server (no slot limit) at 100 ms and 2 round trips: 16 pooled connections
    # over 0.2 s each allow 80 req/s, whatever the 128 users would.
    counted = step(128, 79.0, 0.1, 0.4).model_copy(
        update={"db_path": ProxyTraffic(connections=1, round_trips=316, cpu_s=0.01)}
    )
    far = run("db-read", [counted], slots=None).model_copy(
        update={"distance": Distance(db_rtt_ms=100)}
    )
    expected = expected_rate(far, counted, SCENARIO)
    assert expected is not None
    assert expected.rate == pytest.approx(80.0)
    assert expected.limit_text == (
        "at most 80.0 req/s: the database pool's 16 connections over 0.20 s each"
    )
    # The same step direct: no round trips to wait on, no physics.
    assert expected_rate(far.model_copy(update={"distance": Distance()}), counted, SCENARIO) is None


def test_a_pod_s_shape_bounds_it_by_workers_times_threads_and_its_cpu_budget() -> None:
    # Two one-thread workers: twice a one-thread worker's 1 / floor.
    light = step(1, 2.5, 0.05, 0.1)  # 20 ms per request on 1 CPU
    sync = run("upstream", [light, step(32, 4.0, 0.2, 0.4)], slots=2).model_copy(
        update={"shape": Shape(threads=1, workers=2, cpus=1.0)}
    )
    expected = expected_rate(sync, sync.steps[1], SCENARIO)
    assert expected is not None
    assert (expected.slots, expected.rate) == (2, pytest.approx(2 / 0.4))
    # Half a CPU: the same CPU per request allows half the rate (cpu_util is over 0.5).
    half = run("upstream", [step(1, 2.5, 0.1, 0.1), step(32, 10.0, 0.9, 0.9)], slots=None)
    expected = expected_rate(half, half.steps[1], SCENARIO)
    assert expected is not None
    assert expected.ceiling == pytest.approx(25.0)
    # Each worker has a pool of its own: two workers hold twice the connections.
    scenario = parse_scenario("params: {sleep: {ms: '100', via: db}}\ndb_pool: {max_size: 4}", "x")
    sleepy = run("sleep", [step(32, 5.0, 0.05, 0.1)], slots=None).model_copy(
        update={"shape": Shape(workers=2)}
    )
    expected = expected_rate(sleepy, sleepy.steps[0], scenario)
    assert expected is not None
    assert (expected.slots, expected.rate) == (8, pytest.approx(80.0))
