"""The runner's bookkeeping, driven through a scripted backend (no measurement is claimed:
the real backends are exercised end to end in test_run_e2e and tests/djbench/backends)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from djbench.backends.steps import ServerSide, measured_step
from djbench.measure.k6 import ClientStats
from djbench.model.errors import DjbenchError
from djbench.model.pod import PodFacts, Shape
from djbench.model.results import DIRECT, Environment, Latency, PathCheck, Results, Step
from djbench.model.results_file import load_results
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import Variant
from djbench.plan.measurement import make_plan
from djbench.run.runner import execute

LATENCY = Latency(p50=1, p90=1, p95=1, p99=1, max=1)


@dataclass
class ScriptedServer:
    setup: Setup
    url: str = "http://scripted"
    up: bool = True
    paths: list[PathCheck] = field(default_factory=list)
    pod: PodFacts | None = None
    served: int = 0
    """Steps this server measured."""

    @property
    def variant(self) -> Variant:
        return self.setup.variant

    def alive(self) -> bool:
        return self.up

    def describe_exit(self) -> str:
        return f"{self.variant.name} is gone"


@dataclass
class ScriptedBackend:
    """Starts fail for `broken` variants; `busy` steps leave the server unsettled."""

    broken: set[str] = field(default_factory=set)
    busy_after: set[float] = field(default_factory=set)
    starts: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)
    """Requests per second of each variant (10 when not named), whatever the load."""
    fault_after: int | None = None
    """Infrastructure gone after this many measured steps."""
    silent_from: float | None = None
    """Closed steps from this many users up get no successful response (all time out)."""
    slow_from: float | None = None
    """Closed steps from this many users up answer with a p99 of 100 ms."""
    sick_after: set[float] = field(default_factory=set)
    """After a step at one of these levels the server's health path answers 500."""
    poisoned: set[str] = field(default_factory=set)
    """Variants whose server, once it measured a step, answers every request with 500."""
    capacities: dict[str, float] = field(default_factory=dict)
    """Arrival rates each variant carries within the SLO (its `rates` when not named)."""
    measured: list[tuple[str, str, LoadStep]] = field(default_factory=list)
    shapes: list[Shape | None] = field(default_factory=list)
    """The shape of each server started."""
    name: Literal["local"] = "local"
    _last_level: float = 0.0

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def server(self, setup: Setup) -> Iterator[ScriptedServer]:
        self.starts.append(setup.variant.name)
        self.shapes.append(setup.shape)
        if setup.variant.name in self.broken:
            raise DjbenchError("address already in use")
        yield ScriptedServer(setup)

    def settle(self, server: ScriptedServer, timeout: float) -> str | None:
        if server.served and self._last_level in self.sick_after:
            return "/healthz answered 500: Server Error (500)"
        return "still busy" if self._last_level in self.busy_after else None

    def load_average(self) -> tuple[float, float, float] | None:
        return (0.5, 0.4, 0.3)

    def verify(self, server: ScriptedServer, workload: str) -> str | None:
        if server.variant.name in self.poisoned and server.served:
            return f"verify: GET /{workload} answered 500 (expected 200): Server Error (500)"
        return None

    def measure(self, server: ScriptedServer, workload: str, step: LoadStep) -> Step:
        self._last_level = step.level
        server.served += 1
        self.measured.append((server.variant.name, workload, step))
        # Each worker of a shape serves the variant's rate.
        workers = server.setup.shape.workers if server.setup.shape else 1
        rate = round(self.rates.get(server.variant.name, 10.0) * workers * (1 + 0.01 * step.level))
        latency = LATENCY
        if step.model == "open":
            # Arrivals beyond the variant's rate queue up: p99 far past any SLO.
            name = server.variant.name
            capacity = workers * self.capacities.get(name, self.rates.get(name, 10.0))
            rate = round(min(step.level, capacity))
            if step.level > capacity:
                latency = Latency(p50=5000, p90=9000, p95=9500, p99=9900, max=9999)
        client = ClientStats(rate, 0, 0, latency, 0.0, 1.0)
        if step.model == "closed" and self.slow_from and step.level >= self.slow_from:
            latency = Latency(p50=60, p90=80, p95=90, p99=100, max=120)
            client = ClientStats(rate, 0, 0, latency, 0.0, 1.0)
        if step.model == "closed" and self.silent_from and step.level >= self.silent_from:
            client = ClientStats(3, 3, 0, latency, 0.0, 1.0)
        return measured_step(step, client, ServerSide(0.5, 1 << 20, 1.0))

    def infrastructure_fault(self) -> str | None:
        if self.fault_after is not None and len(self.measured) >= self.fault_after:
            return "Postgres exited with signal 9 (SIGKILL)"
        return None

    def environment_extra(self) -> dict[str, object]:
        return {}


class Quiet:
    def phase(self, text: str) -> None: ...
    def step_started(self, variant: str, workload: str, step: LoadStep) -> None: ...
    def step_done(self, variant: str, workload: str, step: Step) -> None: ...
    def skipped(self, count: int) -> None: ...
    def run_failed(self, run: str, workload: str, error: str) -> None: ...


def _env() -> Environment:
    return Environment(python="3", django="5", k6="v1", cpu_model="x", cpus=2, servers={})


def test_a_variant_that_cannot_start_is_recorded_and_the_run_goes_on(tmp_path: Path) -> None:
    scenario = parse_scenario("closed: {concurrency: [1, 2]}\nworkloads: [cpu, sleep]", "s")
    plan = make_plan(scenario, ["uvicorn", "granian"])
    backend = ScriptedBackend(broken={"uvicorn"})
    results = execute(plan, backend, tmp_path, _env, Quiet())
    by = {(r.variant, r.workload): r for r in results.runs}
    assert by["uvicorn", "cpu"].status == "failed"
    assert "address already in use" in (by["uvicorn", "sleep"].error or "")
    assert by["granian", "cpu"].status == "ok"
    assert [len(by["granian", w].steps) for w in ("cpu", "sleep")] == [2, 2]
    assert load_results(tmp_path).finished_at is not None


def test_a_server_that_does_not_settle_is_restarted_fresh(tmp_path: Path) -> None:
    scenario = parse_scenario("closed: {concurrency: [1, 32, 2]}\nworkloads: [cpu]", "s")
    backend = ScriptedBackend(busy_after={32.0})
    execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    # Started once, then once more after the step that left it busy.
    assert backend.starts == ["uvicorn", "uvicorn"]


def test_a_server_whose_health_path_answers_500_is_restarted_and_says_why(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario("closed: {concurrency: [1, 8]}\nworkloads: [cpu, sleep]", "s")
    backend = ScriptedBackend(sick_after={8.0})
    results = execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    # After cpu's c=8 the health path answered 500: a fresh server for sleep, which measured.
    assert backend.starts == ["uvicorn", "uvicorn"]
    by = {r.workload: r for r in results.runs}
    assert by["sleep"].restarts[0] == "/healthz answered 500: Server Error (500)"
    assert by["cpu"].restarts == []
    assert by["sleep"].status == "ok" and len(by["sleep"].steps) == 2
    assert by["cpu"].load_average == (0.5, 0.4, 0.3)


def test_a_request_that_fails_on_a_used_server_is_verified_again_on_a_fresh_one(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario("closed: {concurrency: [1]}\nworkloads: [cpu, sleep]", "s")
    backend = ScriptedBackend(poisoned={"uvicorn"})
    results = execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    by = {r.workload: r for r in results.runs}
    # sleep's verification failed on the server cpu had used: a fresh one answered it.
    assert by["sleep"].status == "ok", by["sleep"].error
    assert by["sleep"].restarts == [
        "before sleep: verify: GET /sleep answered 500 (expected 200): Server Error (500)"
    ]
    assert backend.starts == ["uvicorn", "uvicorn"]


def test_overload_at_the_ladder_s_top_leaves_the_verdict_and_the_plan_to_the_steps_below(
    tmp_path: Path,
) -> None:
    from djbench.analysis.core import analyze
    from djbench.outputs.capacity_plan import plan_capacity

    scenario = parse_scenario("closed: {concurrency: [8, 32, 128]}\nworkloads: [cpu]", "s")
    backend = ScriptedBackend(silent_from=128.0, rates={"uvicorn": 100.0, "granian": 50.0})
    results = execute(make_plan(scenario, ["uvicorn", "granian"]), backend, tmp_path, _env,
                      Quiet())  # fmt: skip
    for run in results.runs:
        # Every request at 128 users timed out: a result, the run ok with the steps below.
        assert run.status == "ok"
        assert [s.status for s in run.steps] == ["ok", "ok", "saturated"]
    verdict = analyze(results).verdict_for("cpu")
    # uvicorn 100 x (1 + 0.32) at c=32: its best step within the SLO.
    assert verdict.winner == "uvicorn" and verdict.winner_rps == 132
    plan = plan_capacity(results, target_rps=1000)
    best = plan.best("cpu", DIRECT)
    assert best is not None and (best.variant, best.planned_rps, best.pods) == ("uvicorn", 132, 8)


def test_a_leader_whose_search_never_met_the_slo_is_not_planned_on_its_survey(
    tmp_path: Path,
) -> None:
    from djbench.analysis.core import analyze
    from djbench.outputs.capacity_plan import plan_capacity
    from djbench.outputs.capacity_values import plan_rows

    scenario = parse_scenario(
        "closed: {concurrency: [8, 32, 128]}\nworkloads: [cpu]\nsearch_steps: 2\n"
        "slo: {cpu: {p99_ms: 50}}",
        "s",
    )
    # The closed survey reads 10/s and 9/s (x 1.32 at c=32; c=128 misses the SLO), but the
    # open model carries only 5/s and 4/s: every rate their searches try misses the SLO.
    # gunicorn-sync, not a leader, is only surveyed.
    backend = ScriptedBackend(
        rates={"uvicorn": 10.0, "granian": 9.0, "gunicorn-sync": 4.0},
        capacities={"uvicorn": 5.0, "granian": 4.0},
        slow_from=128.0,
    )
    plan_ = make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync"])
    results = execute(plan_, backend, tmp_path, _env, Quiet())
    verdict = analyze(results).verdict_for("cpu")
    assert verdict.candidates == ()
    assert verdict.text.startswith("no searched variant met the SLO: ")
    assert verdict.text.endswith(
        "not compared: gunicorn-sync met the SLO in the survey and was not searched or confirmed"
    )
    # Searched from 13 req/s (its c=32), then 20 % lower: both above the 5/s it carries.
    said = (
        "uvicorn met the SLO in the survey, but missed it at every rate measured after "
        "(13/s, 10.4/s)"
    )
    assert said in verdict.text
    plan = plan_capacity(results, target_rps=100)
    unfit = {u.label: u.reason for u in plan.unfit}
    assert unfit["uvicorn"] == (
        "its open-model search missed the SLO at every rate it measured (13, 10.4/s)"
    )
    assert "granian" in unfit
    # Planned where no search ran, and marked so.
    (row,) = plan_rows(plan, "cpu", DIRECT)
    assert row[:2] == ("gunicorn-sync", "1 (survey)")


THREE_RATES = {"uvicorn": 300.0, "granian": 200.0, "gunicorn-sync": 50.0}


def _searched_run(tmp_path: Path, ladder: str, seed: int) -> tuple[ScriptedBackend, Results]:
    """uvicorn, granian and gunicorn-sync on cpu: 3 rounds, searches of up to 6 steps."""
    scenario = parse_scenario(
        f"closed: {{concurrency: [{ladder}]}}\nworkloads: [cpu]\nrepeats: 3\n"
        f"search_steps: 6\nseed: {seed}",
        "s",
    )
    backend = ScriptedBackend(rates=THREE_RATES)
    plan = make_plan(scenario, list(THREE_RATES))
    return backend, execute(plan, backend, tmp_path, _env, Quiet())


def test_rounds_search_each_workloads_leaders_again_on_fresh_servers(tmp_path: Path) -> None:
    backend, results = _searched_run(tmp_path, "1, 8, 32", seed=7)
    survey = [r for r in results.runs if r.purpose == "survey"]
    assert sorted(r.variant for r in survey) == ["granian", "gunicorn-sync", "uvicorn"]
    assert all(len(r.steps) == 3 for r in survey)
    searches = [r for r in results.runs if r.purpose == "search"]
    # All three met the SLO at the ladder's top (c=32), which may have capped them: tied,
    # every one is searched in round 0.
    assert sorted((r.variant, r.round) for r in searches) == [
        ("granian", 0), ("gunicorn-sync", 0), ("uvicorn", 0),
    ]  # fmt: skip
    confirmations = [r for r in results.runs if r.purpose == "confirm"]
    # The two best searched, once per further round, each a search of confirm_steps steps.
    assert sorted((r.variant, r.round) for r in confirmations) == [
        ("granian", 1), ("granian", 2), ("uvicorn", 1), ("uvicorn", 2),
    ]  # fmt: skip
    assert all(len(r.steps) == 2 and {s.model for s in r.steps} == {"open"} for r in confirmations)
    # The verdict stands on the confirmed two; gunicorn-sync's single search stays a row.
    from djbench.analysis.core import analyze

    verdict = analyze(results).verdict_for("cpu")
    assert sorted(c.label for c in verdict.candidates) == ["granian", "uvicorn"]
    # Every round of one leader starts at the same rate: repeats of one measurement.
    firsts = {(r.variant, r.steps[0].rate) for r in confirmations}
    assert len(firsts) == 2
    # Each round starts each leader afresh: 3 survey starts, 3 searches, 2 per further round.
    assert len(backend.starts) == 10
    # The seed is recorded and fixes the order: the same plan runs the same way again.
    assert results.scenario["seed"] == 7
    again, _ = _searched_run(tmp_path / "again", "1, 8, 32", seed=7)
    assert again.starts == backend.starts


def test_round_orders_differ_between_rounds() -> None:
    scenario = parse_scenario("workloads: [cpu]\nseed: 3", "s")
    plan = make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync", "gunicorn-gthread"])
    orders = {tuple(s.variant.name for s in plan.order(plan.setups, r)) for r in range(6)}
    assert len(orders) > 1


def test_an_infrastructure_fault_fails_its_step_and_stops_the_run(tmp_path: Path) -> None:
    from djbench.analysis.core import analyze

    scenario = parse_scenario("closed: {concurrency: [1, 2]}\nworkloads: [cpu, sleep]", "s")
    plan = make_plan(scenario, ["uvicorn", "granian"])
    backend = ScriptedBackend(fault_after=3)
    results = execute(plan, backend, tmp_path, _env, Quiet())
    assert len(backend.measured) == 3  # nothing measured after the fault
    failed = [s for r in results.runs for s in r.steps if s.status == "failed"]
    assert [s.error for s in failed] == ["Postgres exited with signal 9 (SIGKILL)"]
    [fault] = results.faults
    assert fault.message == "Postgres exited with signal 9 (SIGKILL)"
    assert load_results(tmp_path).faults == results.faults
    for verdict in analyze(results).verdicts:
        assert verdict.winner is None
        assert verdict.text.startswith("no verdict: Postgres exited with signal 9")


def test_a_search_brackets_each_leaders_capacity_then_rounds_search_near_it(
    tmp_path: Path,
) -> None:
    from djbench.analysis.core import analyze, scenario_of
    from djbench.plan.judge import searched_capacity, summarize_run

    _, results = _searched_run(tmp_path, "1, 8", seed=1)
    search = {r.variant: r for r in results.runs if r.purpose == "search"}
    assert sorted(search) == ["granian", "gunicorn-sync", "uvicorn"]  # tied at the top, c=8
    # uvicorn's survey capacity was 324 req/s at c=8 (300 x 1.08), the ladder's top, at 50 %
    # of its CPU: its search starts at 70 % of the 648 req/s its CPU would carry, fails,
    # steps down by 20 % (fails again), then passes and bisects towards 300.
    rates = [s.rate for s in search["uvicorn"].steps]
    assert rates[:3] == [453.6, 362.88, 290.3]
    assert len(rates) <= 6
    slo = scenario_of(results).slo_for("cpu")
    found = searched_capacity(summarize_run(search["uvicorn"], slo))
    assert found is not None and found.bounded
    assert 290 < found.rate < 310  # between the last passing and failing rates, near 300
    # Confirmation rounds start at 90 % of it and step up once: 2 open steps.
    confirms = [r for r in results.runs if r.purpose == "confirm" and r.variant == "uvicorn"]
    assert [[s.rate for s in r.steps] for r in confirms] == [
        [round(found.rate * 0.9, 2), round(round(found.rate * 0.9, 2) * 1.25, 2)]
    ] * 2
    verdict = analyze(results).verdict_for("cpu")
    assert verdict.winner == "uvicorn"
    first = verdict.candidates[0]
    assert first.searched and first.lower_bounds == 0
    assert [c.capacity.n for c in verdict.candidates] == [3, 3]
    # The samples are the three searches' capacities: round 0's, then each round's.
    rounds = [search["uvicorn"], *confirms]
    assert first.samples == tuple(
        f.rate for r in rounds if (f := searched_capacity(summarize_run(r, slo)))
    )
    assert "req/s (open model, searched) at p99 ≤ 500 ms" in verdict.text


def test_only_a_runs_first_step_warms_up_a_cold_server(tmp_path: Path) -> None:
    scenario = parse_scenario(
        "closed: {concurrency: [1, 8, 32]}\nworkloads: [cpu]\nmax_duration_s: 4\n"
        "warmup_s: 1\nduration_s: 1",
        "s",
    )
    backend = ScriptedBackend(busy_after={8.0})
    execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    warmups = [step.warmup_s for _, _, step in backend.measured]
    # Cold start: the scenario's second; then warm (until the 8 users were each answered
    # once at the rate served at c=1: 0.8 s); then a fresh server (the one at c=8 did not
    # settle): cold again, until 32 users were answered once (2.9 s).
    assert warmups == [1, 0.8, 2.9]


def test_a_ladder_stops_at_a_step_without_one_response(tmp_path: Path) -> None:
    scenario = parse_scenario("closed: {concurrency: [1, 8, 32, 128]}\nworkloads: [cpu]", "s")
    backend = ScriptedBackend(silent_from=8.0)
    results = execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    # c=8 timed out entirely: 32 and 128 users could only queue longer, so they never run.
    assert [step.level for _, _, step in backend.measured] == [1.0, 8.0]
    [run] = results.runs
    # Above a measured step, overload is a result: the run stays ok with the step below.
    assert [s.status for s in run.steps] == ["ok", "saturated"]
    assert run.status == "ok" and run.error is None
    assert run.steps[1].error == "no successful responses in the measured window"


def test_a_step_whose_server_ran_postgres_out_of_connections_stays_failed(
    tmp_path: Path,
) -> None:
    from djbench.backends.steps import NO_SUCCESS, refused_cause

    scenario = parse_scenario("closed: {concurrency: [1, 8, 32]}\nworkloads: [cpu]", "s")
    backend = ScriptedBackend(silent_from=8.0)
    measure = backend.measure

    def refusing(server: ScriptedServer, workload: str, step: LoadStep) -> Step:
        got = measure(server, workload, step)
        if got.status == "failed":
            return got.model_copy(update={"error": f"{refused_cause(259)}; {NO_SUCCESS}"})
        return got

    backend.measure = refusing  # type: ignore[method-assign]
    results = execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Quiet())
    # The server's setup broke it, not the load: failed, named so; the ladder stops there.
    [run] = results.runs
    assert [s.status for s in run.steps] == ["ok", "failed"]
    assert run.status == "failed" and "Postgres refused 259 connection(s)" in (run.error or "")
    assert [step.level for _, _, step in backend.measured] == [1.0, 8.0]


def test_a_first_step_without_one_response_fails_the_run(tmp_path: Path) -> None:
    scenario = parse_scenario("closed: {concurrency: [8, 32]}\nworkloads: [cpu]", "s")
    backend = ScriptedBackend(silent_from=8.0)
    failures: list[tuple[str, str, str]] = []

    class Told(Quiet):
        def run_failed(self, run: str, workload: str, error: str) -> None:
            failures.append((run, workload, error))

    results = execute(make_plan(scenario, ["uvicorn"]), backend, tmp_path, _env, Told())
    [run] = results.runs
    # Nothing below it was measured: no overload to speak of, only a failure.
    assert [s.status for s in run.steps] == ["failed"]
    assert run.status == "failed"
    error = "1 of 1 steps failed: no successful responses in the measured window"
    assert failures == [("uvicorn", "cpu", error)]


def test_leaders_below_the_ladders_top_are_searched_alone(tmp_path: Path) -> None:
    from djbench.analysis.core import analyze

    scenario = parse_scenario(
        "closed: {concurrency: [1, 8, 32]}\nworkloads: [cpu]\nrepeats: 2\nsearch_steps: 2\n"
        "slo: {cpu: {p99_ms: 50}}",
        "s",
    )
    # Every variant misses a 50 ms p99 at 32 users: the ladder's top set no capacity.
    backend = ScriptedBackend(rates={"uvicorn": 300.0, "granian": 200.0, "gunicorn-sync": 50.0})
    backend.slow_from = 32.0
    results = execute(make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync"]), backend,
                      tmp_path, _env, Quiet())  # fmt: skip
    searched = sorted(r.variant for r in results.runs if r.purpose == "search")
    assert searched == ["granian", "uvicorn"]
    # The verdict compares the confirmed leaders only.
    verdict = analyze(results).verdict_for("cpu")
    assert [c.label for c in verdict.candidates] == ["uvicorn", "granian"]


def test_each_shape_is_a_candidate_searched_and_confirmed_in_its_own_shape(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(
        "closed: {concurrency: [1, 8]}\nworkloads: [cpu]\nrepeats: 2\nsearch_steps: 4\n"
        "workers: [1, 2, 4]\nseed: 3",
        "s",
    )
    backend = ScriptedBackend(rates={"gunicorn-sync": 10.0})
    results = execute(make_plan(scenario, ["gunicorn-sync"]), backend, tmp_path, _env, Quiet())
    survey = {r.shape: r for r in results.runs if r.purpose == "survey"}
    assert set(survey) == {Shape(threads=1, workers=w) for w in (1, 2, 4)}
    assert {s: r.slots for s, r in survey.items()} == {s: s.workers for s in survey}
    # The two best shapes are confirmed, each on a server started in its own shape.
    confirmed = {r.shape for r in results.runs if r.purpose == "confirm"}
    assert confirmed == {Shape(threads=1, workers=4), Shape(threads=1, workers=2)}
    assert backend.shapes.count(Shape(threads=1, workers=4)) == 3  # survey, search, confirm
    from djbench.analysis.core import analyze

    verdict = analyze(results).verdict_for("cpu")
    assert [c.label for c in verdict.candidates] == [
        "gunicorn-sync ×1 thread · 4 workers · 1 CPU",
        "gunicorn-sync ×1 thread · 2 workers · 1 CPU",
    ]
    assert load_results(tmp_path).runs == results.runs
