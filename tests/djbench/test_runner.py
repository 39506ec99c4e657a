"""The runner's bookkeeping, driven through a scripted backend (no measurement is claimed:
the real backends are exercised end to end in test_run_e2e and tests/djbench/backends)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from djbench.backends.steps import ServerSide, measured_step
from djbench.errors import DjbenchError
from djbench.load.k6 import ClientStats
from djbench.plan import LoadStep, Setup, make_plan
from djbench.results import Environment, Latency, Step, load_results
from djbench.runner import execute
from djbench.scenario import parse_scenario
from djbench.variants import Variant

LATENCY = Latency(p50=1, p90=1, p95=1, p99=1, max=1)


@dataclass
class ScriptedServer:
    setup: Setup
    url: str = "http://scripted"
    up: bool = True

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
    measured: list[tuple[str, str, LoadStep]] = field(default_factory=list)
    name: Literal["local"] = "local"
    _last_level: float = 0.0

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def server(self, setup: Setup) -> Iterator[ScriptedServer]:
        self.starts.append(setup.variant.name)
        if setup.variant.name in self.broken:
            raise DjbenchError("address already in use")
        yield ScriptedServer(setup)

    def settle(self, server: ScriptedServer, timeout: float) -> bool:
        return self._last_level not in self.busy_after

    def verify(self, server: ScriptedServer, workload: str) -> str | None:
        return None

    def measure(self, server: ScriptedServer, workload: str, step: LoadStep) -> Step:
        self._last_level = step.level
        self.measured.append((server.variant.name, workload, step))
        rate = round(self.rates.get(server.variant.name, 10.0) * (1 + 0.01 * step.level))
        latency = LATENCY
        if step.model == "open":
            # Arrivals beyond the variant's rate queue up: p99 far past any SLO.
            capacity = self.rates.get(server.variant.name, 10.0)
            rate = round(min(step.level, capacity))
            if step.level > capacity:
                latency = Latency(p50=5000, p90=9000, p95=9500, p99=9900, max=9999)
        client = ClientStats(rate, 0, 0, latency, 0.0, 1.0)
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


def test_rounds_confirm_each_workloads_leaders_on_fresh_servers(tmp_path: Path) -> None:
    scenario = parse_scenario(
        "closed: {concurrency: [1, 8, 32]}\nworkloads: [cpu]\nrepeats: 3\nseed: 7", "s"
    )
    plan = make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync"])
    backend = ScriptedBackend(rates={"uvicorn": 300.0, "granian": 200.0, "gunicorn-sync": 50.0})
    results = execute(plan, backend, tmp_path, _env, Quiet())
    survey = [r for r in results.runs if r.round == 0]
    assert sorted(r.variant for r in survey) == ["granian", "gunicorn-sync", "uvicorn"]
    assert all(len(r.steps) == 3 for r in survey)
    confirmations = [r for r in results.runs if r.round > 0]
    # The two leaders, once per further round, at their capacity step (the top: c=32).
    assert sorted((r.variant, r.round) for r in confirmations) == [
        ("granian", 1), ("granian", 2), ("uvicorn", 1), ("uvicorn", 2),
    ]  # fmt: skip
    assert all([s.concurrency for s in r.steps] == [32] for r in confirmations)
    # Each round starts each leader afresh: 3 survey starts, 2 per further round.
    assert len(backend.starts) == 7
    # The seed is recorded and fixes the order: the same plan runs the same way again.
    assert results.scenario["seed"] == 7
    again = ScriptedBackend(rates=backend.rates)
    execute(plan, again, tmp_path / "again", _env, Quiet())
    assert again.starts == backend.starts


def test_round_orders_differ_between_rounds() -> None:
    scenario = parse_scenario("workloads: [cpu]\nseed: 3", "s")
    plan = make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync", "gunicorn-gthread"])
    orders = {tuple(s.variant.name for s in plan.order(plan.setups, r)) for r in range(6)}
    assert len(orders) > 1


def test_an_infrastructure_fault_fails_its_step_and_stops_the_run(tmp_path: Path) -> None:
    from djbench.analysis import analyze

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


def test_a_search_brackets_each_leaders_capacity_then_rounds_confirm_it(tmp_path: Path) -> None:
    from djbench.analysis import analyze

    scenario = parse_scenario(
        "closed: {concurrency: [1, 8]}\nworkloads: [cpu]\nrepeats: 3\nsearch_steps: 6\nseed: 1",
        "s",
    )
    plan = make_plan(scenario, ["uvicorn", "granian", "gunicorn-sync"])
    backend = ScriptedBackend(rates={"uvicorn": 300.0, "granian": 200.0, "gunicorn-sync": 50.0})
    results = execute(plan, backend, tmp_path, _env, Quiet())
    search = {r.variant: r for r in results.runs if r.purpose == "search"}
    assert sorted(search) == ["granian", "uvicorn"]
    # uvicorn's survey capacity was 324 req/s at c=8 (300 x 1.08): its search starts there,
    # fails, steps down to 259.2 (passes), then bisects towards 300.
    rates = [s.rate for s in search["uvicorn"].steps]
    assert rates[:2] == [324.0, 259.2]
    assert len(rates) <= 6
    confirms = [r for r in results.runs if r.purpose == "confirm"]
    assert sorted((r.variant, r.round) for r in confirms) == [
        ("granian", 1), ("granian", 2), ("uvicorn", 1), ("uvicorn", 2),
    ]  # fmt: skip
    # Rounds repeat the closed capacity step (the server sets its throughput; an open step's
    # is the rate asked for): c=8, the top of this ladder.
    assert all([s.concurrency for s in r.steps] == [8] for r in confirms)
    verdict = analyze(results).verdict_for("cpu")
    assert verdict.winner == "uvicorn"
    assert [c.capacity.n for c in verdict.candidates] == [3, 3]
    # The searched capacity: the throughput of the best rate that met the SLO.
    best = max(s.rps for s in search["uvicorn"].steps if s.latency_ms.p99 < 500)
    first = verdict.candidates[0]
    assert (first.searched, first.bracketed) == (best, True)
    assert f"open-model capacity at SLO (searched, n=1): uvicorn {best:,.1f}" in verdict.text
