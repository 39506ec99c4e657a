"""Network distance for real: the local backend puts latency proxies between a server and
Postgres / the stub API, checks the round trip they add, counts what crosses them, and names a
proxy that dies mid-step (issue 9)."""

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
from djbench.measure.pathcheck import within
from djbench.model.results import Distance
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import load_variants

pytestmark = pytest.mark.e2e

SCENARIO = (
    "name: distance\nworkloads: [db-read, upstream]\nseed_rows: 1000\nwarmup_s: 1\n"
    "duration_s: 3\nclosed: {concurrency: [4]}\nupstream_delays_ms: [50]\n"
    "network: {db_rtt_ms: [40], upstream_rtt_ms: [20]}\n"
)
FAR = Distance(db_rtt_ms=40, upstream_rtt_ms=20)
STEP = LoadStep("closed", 4)
PROXY_KILLED = "the latency proxy to Postgres exited with signal 9 (SIGKILL)"


def _backend(tmp_path: Path) -> LocalBackend:
    return LocalBackend(
        parse_scenario(SCENARIO, "distance"), out_dir=tmp_path, layout=plan_cpus(),
        k6=find_k6(), port=free_port(), run_id="distance",
    )  # fmt: skip


def _setup(variant: str, client: str) -> Setup:
    return Setup(load_variants()[variant], client, FAR)


def test_a_server_at_a_distance_pays_its_round_trips(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    with backend.infrastructure(), backend.server(_setup("gunicorn-sync", "requests")) as server:
        # The added round trips were measured before the server started, on target.
        assert [(c.path, c.target_ms) for c in server.paths] == [("db", 40), ("upstream", 20)]
        assert all(c.ok and within(c.p50_ms, c.target_ms) for c in server.paths), server.paths
        db = backend.measure(server, "db-read", STEP)
        assert (db.status, db.error) == ("ok", None)
        assert db.db_path is not None and db.upstream_path is not None
        served = db.requests - db.errors
        per = db.db_path.per_request(served)
        assert per is not None
        connections, round_trips = per
        # Django's connection persists across requests; each request queries at least once.
        assert connections < 0.2
        assert round_trips >= 1
        # One sync worker waits out every round trip: at most 1 / (round trips x 40 ms).
        ceiling = 1 / (round_trips * 0.040)
        assert db.rps <= ceiling * 1.05, (db.rps, ceiling)
        assert db.latency_ms.p50 >= round_trips * 40 * 0.95
        assert db.db_path.cpu_s > 0
        # db-read never calls upstream: nothing crossed that proxy.
        assert db.upstream_path.round_trips == 0
        up = backend.measure(server, "upstream", STEP)
        assert up.status == "ok"
        assert up.upstream_path is not None
        # The 50 ms call plus one 20 ms round trip at least.
        assert up.latency_ms.p50 >= 70
    assert backend.infrastructure_fault() is None  # stopped on purpose: no fault


def test_a_proxy_killed_mid_step_is_named_and_voids_the_step(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    with backend.infrastructure(), backend.server(_setup("uvicorn", "aiohttp")) as server:
        proxy = next(p for p in server.proxies if p.path == "db")
        killer = threading.Timer(2.0, os.kill, (proxy.process.pid, signal.SIGKILL))
        killer.start()
        try:
            during = backend.measure(server, "db-read", STEP)
        finally:
            killer.join()
        assert (during.status, during.error) == ("failed", PROXY_KILLED)
        deadline = time.monotonic() + 10
        while backend.infrastructure_fault() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert backend.infrastructure_fault() == PROXY_KILLED
    assert backend.infrastructure_fault() is None
