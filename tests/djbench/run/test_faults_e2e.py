"""Infrastructure that dies mid-run, for real: the local backend's Postgres and stub API are
SIGKILLed, and the fault is named and voids the step (issue 8: a killed Postgres once read as
"database pool exhausted" in the next variant's steps)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from djbench.backends.local.backend import LocalBackend
from djbench.backends.local.cpus import plan_cpus
from djbench.backends.local.processes import free_port
from djbench.measure.k6 import find_k6
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import load_variants

pytestmark = pytest.mark.e2e

SCENARIO = "name: faults\nworkloads: [db-read]\nseed_rows: 1000\nwarmup_s: 0\nduration_s: 3\n"
STEP = LoadStep("closed", 4)
POSTGRES_KILLED = "Postgres exited with signal 9 (SIGKILL)"


def _backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(
        parse_scenario(SCENARIO, "faults"), out_dir=tmp_path, layout=plan_cpus(),
        k6=find_k6(), port=free_port(), run_id="faults",
    )  # fmt: skip


def _uvicorn() -> Setup:
    return Setup(load_variants()["uvicorn"], "aiohttp")


def _fault(backend: LocalBackend, timeout: float = 10.0) -> str | None:
    deadline = time.monotonic() + timeout
    while (fault := backend.infrastructure_fault()) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return fault


def test_postgres_killed_mid_step_voids_the_step_with_its_cause(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    with backend.infrastructure(), backend.server(_uvicorn()) as server:
        assert backend.infrastructure_fault() is None
        healthy = backend.measure(server, "db-read", STEP)
        assert (healthy.status, healthy.error) == ("ok", None)
        assert healthy.requests > 0
        assert backend.postgres is not None
        postmaster = backend.postgres.process.pid
        # Killed in the middle of the next step's measured phase: the server answers errors
        # (its pool cannot reach the database), but the step is void for the real cause.
        killer = threading.Timer(1.5, os.kill, (postmaster, signal.SIGKILL))
        killer.start()
        try:
            during = backend.measure(server, "db-read", STEP)
        finally:
            killer.join()
        assert (during.status, during.error, during.requests) == ("failed", POSTGRES_KILLED, 0)
        assert _fault(backend) == POSTGRES_KILLED
        # The server lives on; every later step fails at once with the same cause.
        assert server.alive()
        started = time.monotonic()
        after = backend.measure(server, "db-read", STEP)
        assert (after.status, after.error) == ("failed", POSTGRES_KILLED)
        assert time.monotonic() - started < 1.0  # no k6 run against a dead database
    # Stopped on purpose at the end: no longer a fault.
    assert backend.infrastructure_fault() is None


def test_the_stub_api_killed_is_named(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    with backend.infrastructure(), backend.server(_uvicorn()) as server:
        assert backend.infrastructure_fault() is None
        stub = backend._infra[1]
        os.kill(stub.pid, signal.SIGKILL)
        assert _fault(backend) == "the stub API exited with signal 9 (SIGKILL)"
        step = backend.measure(server, "db-read", STEP)
        assert (step.status, step.error) == (
            "failed",
            "the stub API exited with signal 9 (SIGKILL)",
        )
