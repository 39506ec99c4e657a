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
        client = ClientStats(10, 0, 0, LATENCY, 0.0, 1.0)
        return measured_step(step, client, ServerSide(0.5, 1 << 20, 1.0))

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
