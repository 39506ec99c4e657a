"""The plan: setups (a variant with one upstream client each) and the workloads each serves."""

from __future__ import annotations

from djbench.model.pod import Shape
from djbench.model.results import DIRECT, Distance, Step
from djbench.model.scenario_file import load_profile, parse_scenario
from djbench.model.setup import LoadStep
from djbench.plan.measurement import make_plan

CLIENTS = "upstream_clients: {sync: [requests, httpx], async: [aiohttp, httpx2, httpx]}\n"


def test_every_client_of_a_variants_kind_is_a_setup_of_its_own() -> None:
    scenario = parse_scenario(CLIENTS + "closed: {concurrency: [1, 8]}", "x")
    plan = make_plan(scenario, ["gunicorn-gthread", "uvicorn"], ["cpu", "upstream", "page"])
    setups = [(s.variant.name, s.client) for s in plan.setups]
    assert setups == [
        ("gunicorn-gthread", "requests"),
        ("gunicorn-gthread", "httpx"),
        ("uvicorn", "aiohttp"),
        ("uvicorn", "httpx2"),
        ("uvicorn", "httpx"),
    ]
    # The first client serves every workload; the others only those that call upstream.
    assert plan.workloads_for(plan.setups[0]) == ["cpu", "upstream", "page"]
    assert plan.workloads_for(plan.setups[1]) == ["upstream", "page"]
    assert plan.workloads_for(plan.setups[4]) == ["upstream", "page"]
    # 2 variants x 3 workloads + 3 more client runs x 2 workloads, 2 steps each.
    assert plan.total_steps == (2 * 3 + 3 * 2) * 2


def test_without_upstream_workloads_each_variant_starts_once() -> None:
    plan = make_plan(parse_scenario(CLIENTS, "x"), ["uvicorn", "uwsgi"], ["cpu", "db-read"])
    assert [(s.variant.name, s.client) for s in plan.setups] == [
        ("uvicorn", "aiohttp"),
        ("uwsgi", "requests"),
    ]


def _measured(model: str, level: float, rps: float, p50_ms: float) -> Step:
    closed = model == "closed"
    return Step.model_validate(
        {
            "model": model, "concurrency": int(level) if closed else None,
            "rate": None if closed else level, "duration_s": 2, "requests": int(rps * 2),
            "errors": 0, "dropped": 0, "rps": rps,
            "latency_ms": {"p50": p50_ms, "p90": p50_ms, "p95": p50_ms, "p99": p50_ms,
                           "max": p50_ms},
            "cpu_s": 1, "cpu_util": 0.5, "cpu_ms_per_req": 1, "rss_mib": 50,
        }
    )  # fmt: skip


TIMING = "warmup_s: 1\nduration_s: 2\nmin_requests: 300\nmin_cycles: 10\nmax_duration_s: 10"


def test_steps_without_an_estimate_keep_the_scenarios_times() -> None:
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["cpu"])
    step = plan.timed(LoadStep("closed", 1), [], "cpu")
    assert (step.warmup_s, step.duration_s) == (1, 2)


def test_a_first_upstream_step_is_sized_from_the_slowest_call() -> None:
    """c=1 on 300/600/150 ms calls: 1.7 req/s needs 180 s for 300 responses: the cap."""
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["upstream"])
    step = plan.timed(LoadStep("closed", 1), [], "upstream")
    assert (step.warmup_s, step.duration_s) == (1.8, 10)


def test_a_step_is_sized_from_the_one_below() -> None:
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["cpu"])
    below = [_measured("closed", 1, 95.0, 10.5)]
    # 95 req/s at least: 300 responses take 3.2 s; a cycle likely takes the 10.5 ms below.
    step = plan.timed(LoadStep("closed", 8), below, "cpu")
    assert (step.warmup_s, step.duration_s) == (1, 3.2)
    # The upstream floor (600 ms) bounds the cycle from below, whatever the step below says.
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["upstream"])
    step = plan.timed(LoadStep("closed", 32), [_measured("closed", 8, 13.0, 500.0)], "upstream")
    # Warm-up: 3 cycles of 0.6 s, unless the first cycle may take longer: 32 users at the
    # 13 req/s served below take up to 2.5 s to be answered once each.
    assert (step.warmup_s, step.duration_s) == (2.5, 10)


def test_a_step_on_a_warm_server_warms_up_for_one_cycle() -> None:
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["upstream", "cpu"])
    below = [_measured("closed", 8, 13.0, 610.0)]
    assert plan.timed(LoadStep("closed", 16), below, "upstream").warmup_s == 1.8  # 3 cycles
    # One cycle, unless the first may take longer: 16 users at 13 req/s, 1.2 s.
    assert plan.timed(LoadStep("closed", 16), below, "upstream", warm=True).warmup_s == 1.2
    # Never under half a second; an open step's is whole seconds (k6).
    below = [_measured("closed", 8, 95.0, 10.5)]
    assert plan.timed(LoadStep("closed", 32), below, "cpu", warm=True).warmup_s == 0.5
    assert plan.timed(LoadStep("open", 90.0), below, "cpu", warm=True).warmup_s == 1


def test_survey_steps_have_their_own_cap() -> None:
    scenario = parse_scenario(TIMING + "\nsurvey_max_duration_s: 3", "s")
    plan = make_plan(scenario, ["uvicorn"], ["upstream"])
    assert plan.timed(LoadStep("closed", 1), [], "upstream", survey=True).duration_s == 3
    assert plan.timed(LoadStep("closed", 1), [], "upstream").duration_s == 10


def test_a_repeated_step_is_sized_from_its_own_earlier_measurement() -> None:
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["upstream"])
    known = [_measured("closed", 8, 13.0, 610.0), _measured("closed", 32, 52.0, 615.0)]
    step = plan.timed(LoadStep("closed", 32), known, "upstream")
    # 300 / 52 = 5.8 s; 10 cycles of 0.615 s = 6.2 s.
    assert (step.warmup_s, step.duration_s) == (1.8, 6.2)


def test_open_steps_are_sized_by_their_rate() -> None:
    plan = make_plan(parse_scenario(TIMING + "\nopen: {rates: [60]}", "s"), ["uvicorn"], ["cpu"])
    step = plan.timed(LoadStep("open", 60.0), [_measured("closed", 8, 95.0, 80.0)], "cpu")
    assert (step.warmup_s, step.duration_s) == (1, 5)
    # Request cycles are a closed-model matter: 500/s of 600 ms requests holds 300 responses
    # in 0.6 s, so the scenario's 2 s stand (10 cycles would take 6 s).
    plan = make_plan(parse_scenario(TIMING, "s"), ["uvicorn"], ["upstream"])
    step = plan.timed(LoadStep("open", 500.0), [_measured("closed", 128, 210.0, 600.0)], "upstream")
    assert step.duration_s == 2


def test_open_steps_may_hold_one_and_a_half_slo_p99s_of_arrivals_in_flight() -> None:
    scenario = parse_scenario(TIMING + "\nslo: {upstream: {p99_ms: 2000}}", "s")
    plan = make_plan(scenario, ["uvicorn"], ["cpu", "upstream"])
    # 842 req/s x 2 s x 1.5: the 512-VU default of old would have dropped iterations at a
    # rate the server met the SLO at.
    assert plan.timed(LoadStep("open", 842.0), [], "upstream").max_vus == 2526
    assert plan.timed(LoadStep("open", 100.0), [], "cpu").max_vus == 75  # 500 ms SLO
    assert plan.timed(LoadStep("open", 100.0), [], "cpu").vus(scenario) == 75
    # Within the scenario's ceiling; closed steps hold their level.
    capped = make_plan(parse_scenario(TIMING + "\nopen: {max_vus: 50}", "s"), ["uvicorn"], ["cpu"])
    assert capped.timed(LoadStep("open", 100.0), [], "cpu").max_vus == 50
    assert LoadStep("closed", 32.0).vus(scenario) == 32
    assert LoadStep("open", 5.0).vus(scenario) == scenario.open.max_vus


def test_open_steps_allocate_vus_for_twice_the_requests_they_expect_in_flight() -> None:
    scenario = parse_scenario(TIMING + "\nslo: {upstream: {p99_ms: 2000}}", "s")
    plan = make_plan(scenario, ["uvicorn"], ["upstream"])
    below = [_measured("closed", 128, 210.0, 610.0)]
    step = plan.timed(LoadStep("open", 438.0), below, "upstream")
    # 438/s x 0.61 s in flight, twice over: not all 1,314 VUs of the ceiling (each VU keeps
    # its own connection open on the server).
    assert (step.pre_vus(scenario), step.vus(scenario)) == (535, 1314)
    # Never above the ceiling; without an estimate, the SLO's p99 is the latency.
    capped = make_plan(parse_scenario(TIMING + "\nopen: {max_vus: 100}", "s"), ["uvicorn"], ["cpu"])
    step = capped.timed(LoadStep("open", 400.0), [], "cpu")
    assert (step.preallocated, step.max_vus) == (100, 100)
    assert LoadStep("open", 5.0).pre_vus(scenario) == scenario.open.max_vus


def test_a_capacity_search_steps_until_bracketed_then_bisects() -> None:
    from djbench.plan.measurement import next_search_rate

    assert next_search_rate(100.0, [], 6) == 100.0
    # Passing: up by a quarter until a rate fails.
    assert next_search_rate(100.0, [(100.0, True)], 6) == 125.0
    assert next_search_rate(100.0, [(100.0, True), (125.0, True)], 6) == 156.25
    # Failing from the start: down by a fifth until one passes.
    assert next_search_rate(100.0, [(100.0, False)], 6) == 80.0
    # Bracketed: bisect, until the bracket is within 5 % or the steps are spent.
    probes = [(100.0, True), (125.0, False)]
    assert next_search_rate(100.0, probes, 6) == 112.5
    probes += [(112.5, False), (106.25, True), (109.38, False)]
    assert next_search_rate(100.0, probes, 6) is None  # 106.25 .. 109.38: under 5 %
    assert next_search_rate(100.0, [(100.0, True), (125.0, False)], 2) is None
    assert next_search_rate(0.0, [], 6) is None


def test_a_search_with_cpu_to_spare_steps_up_further() -> None:
    from djbench.plan.measurement import next_search_rate

    assert next_search_rate(100.0, [(100.0, True)], 6, headroom=True) == 200.0
    # Once bracketed, headroom changes nothing: bisect.
    assert next_search_rate(100.0, [(100.0, True), (200.0, False)], 6, headroom=True) == 150.0


def test_without_a_cap_steps_keep_the_scenarios_times() -> None:
    """Profiles that do not ask for evidence-sized steps (smoke, clients) keep their times."""
    plan = make_plan(parse_scenario("warmup_s: 1\nduration_s: 2", "s"), ["uvicorn"], ["upstream"])
    step = plan.timed(LoadStep("closed", 1), [], "upstream", survey=True)
    assert (step.warmup_s, step.duration_s) == (1, 2)


def test_each_distance_is_a_setup_of_its_own_and_a_case_of_its_own() -> None:
    scenario = parse_scenario("network: {db_rtt_ms: [0, 100]}\nsearch_steps: 3", "x")
    plan = make_plan(scenario, ["gunicorn-sync", "uvicorn", "granian"], ["db-read", "cpu"])
    near, far = Distance(db_rtt_ms=0), Distance(db_rtt_ms=100)
    assert [(s.variant.name, s.distance) for s in plan.setups] == [
        ("gunicorn-sync", near), ("gunicorn-sync", far),
        ("uvicorn", near), ("uvicorn", far),
        ("granian", near), ("granian", far),
    ]  # fmt: skip
    assert plan.cases == [("db-read", near), ("db-read", far), ("cpu", near), ("cpu", far)]
    # Each case has its own 2 leaders among its 3 candidates (and 1 contender slot).
    assert (plan.leader_slots, plan.contender_slots) == (4 * 2, 4 * 1)
    # No workload here calls upstream: the client plays no part and is not named.
    assert plan.setups[1].label == "gunicorn-sync at db +100 ms"
    assert make_plan(parse_scenario("", "x"), ["uvicorn"]).setups[0].distance == DIRECT


def test_a_distant_database_raises_the_floor_a_first_step_is_sized_from() -> None:
    scenario = parse_scenario("max_duration_s: 30\nclosed: {concurrency: [1, 8]}", "x")
    plan = make_plan(scenario, ["uvicorn"], ["db-read"])
    step = LoadStep("closed", 1.0)
    # No floor without distance: the scenario's times; at 200 ms, 300 responses of one user
    # take 60 s (capped at 30), its warm-up 3 cycles of 0.2 s.
    assert plan.timed(step, [], "db-read").duration_s == scenario.duration_s
    far = plan.timed(step, [], "db-read", distance=Distance(db_rtt_ms=200))
    assert (far.duration_s, far.warmup_s) == (30.0, max(scenario.warmup_s, 0.6))


def test_a_closed_warm_up_lasts_until_every_user_was_answered_once() -> None:
    # One slot at 100 ms of round trip: 9.7 req/s at 8 users. At 32 users the first of
    # each user's requests is answered only after ~3.3 s; a window opening before then
    # credits the start-up burst and reads high (10.9 req/s where 10 is the most possible).
    plan = make_plan(parse_scenario(TIMING, "s"), ["gunicorn-sync"], ["db-write"])
    below = [_measured("closed", 8, 9.7, 825.0)]
    step = plan.timed(LoadStep("closed", 32), below, "db-write", warm=True)
    assert step.warmup_s == 3.3
    # Beyond the cap (a survey's 1.5 s here), up to the request timeout: 32 users at the
    # 4.9 req/s served below (200 ms) are answered once only after 6.5 s.
    survey = make_plan(parse_scenario(TIMING + "\nsurvey_max_duration_s: 1.5", "s"),
                       ["gunicorn-sync"], ["db-write"])  # fmt: skip
    slow = [_measured("closed", 8, 4.9, 1635.0)]
    step = survey.timed(LoadStep("closed", 32), slow, "db-write", survey=True)
    assert (step.warmup_s, step.duration_s) == (6.5, 2)
    timeout = survey.scenario.request_timeout_s
    step = survey.timed(LoadStep("closed", 128), slow, "db-write", survey=True)
    assert step.warmup_s == timeout < 128 / 4.9
    # Measured before at this level: its own rate bounds the first cycle.
    again = plan.timed(LoadStep("closed", 32), [_measured("closed", 32, 10.0, 3200.0)], "db-write")
    assert again.warmup_s == 9.6  # 3 cycles of its own 3.2 s


def test_a_first_closed_step_warms_up_while_its_users_queue_for_the_slots() -> None:
    # Nothing measured yet: 8 users on one slot at 200 ms of round trip wait up to 1.6 s
    # for their first answer; on 32 slots, one round trip.
    plan = make_plan(parse_scenario(TIMING, "s"), ["gunicorn-sync"], ["db-write"])
    far = Distance(db_rtt_ms=200)
    one = plan.timed(LoadStep("closed", 8), [], "db-write", distance=far, slots=1)
    assert one.warmup_s == 1.6
    many = plan.timed(LoadStep("closed", 8), [], "db-write", distance=far, slots=32)
    assert many.warmup_s == 1  # 3 cycles of 0.2 s, under the scenario's second


def test_each_shape_is_a_setup_of_its_own_named_by_it() -> None:
    scenario = parse_scenario("threads: [8, 32]\nworkers: [1, 2]", "x")
    plan = make_plan(scenario, ["gunicorn-gthread", "uvicorn"], ["cpu", "upstream"])
    shapes = [(s.variant.name, s.shape) for s in plan.setups if s.client in ("requests", "aiohttp")]
    assert shapes == [
        ("gunicorn-gthread", Shape(threads=8, workers=1)),
        ("gunicorn-gthread", Shape(threads=8, workers=2)),
        ("gunicorn-gthread", Shape(threads=32, workers=1)),
        ("gunicorn-gthread", Shape(threads=32, workers=2)),
        ("uvicorn", Shape(workers=1)),
        ("uvicorn", Shape(workers=2)),
    ]
    two = next(s for s in plan.setups if s.shape == Shape(threads=8, workers=2))
    assert two.slots == 16
    assert two.label == "gunicorn-gthread ×8 threads · 2 workers · 1 CPU (requests upstream)"


def test_the_shapes_profile_measures_the_shapes_its_question_needs() -> None:
    scenario = load_profile("shapes")
    plan = make_plan(scenario, scenario.variants)
    shapes: dict[str, set[Shape]] = {}
    for setup in plan.setups:
        assert setup.shape is not None
        shapes.setdefault(setup.variant.name, set()).add(setup.shape)
    # gthread and uWSGI at 8, 32 and 128 threads on one worker and one CPU; every variant at
    # 1 and 2 workers on one CPU and at one worker on half a CPU: the set, no product.
    one, two, half = (1, 1.0), (2, 1.0), (1, 0.5)
    pooled = {(8, *one), (32, *one), (128, *one), (32, *two), (32, *half)}
    expected = {
        "gunicorn-gthread": pooled,
        "uwsgi": pooled,
        "gunicorn-sync": {(1, *one), (1, *two), (1, *half)},
        "uvicorn": {(None, *one), (None, *two), (None, *half)},
    }
    assert {n: {(s.threads, s.workers, s.cpus) for s in f} for n, f in shapes.items()} == expected
    assert len(plan.setups) == 16
    # upstream, cpu and the mix of the two, half and half.
    assert plan.workloads == ["upstream", "cpu", "upstream-cpu"]
    assert scenario.parts("upstream-cpu") == {"upstream": 0.5, "cpu": 0.5}
