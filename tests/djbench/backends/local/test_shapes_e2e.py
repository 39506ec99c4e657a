"""A pod's shape on the local backend, for real: its workers serve at once and its CPU
budget is a quota (gunicorn sync: one thread per worker, so workers alone set its slots)."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from djbench.backends.local.backend import LocalBackend
from djbench.backends.local.cpus import plan_cpus, quota_supported
from djbench.backends.local.processes import free_port
from djbench.measure.k6 import find_k6
from djbench.model.pod import Shape
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import load_variants

pytestmark = pytest.mark.e2e

# One 100 ms upstream call: a one-thread worker serves at most 10 req/s, two of them 20.
SCENARIO = (
    "name: shapes\nworkloads: [upstream, cpu]\nseed_rows: 1000\nwarmup_s: 1\nduration_s: 4\n"
    "upstream_delays_ms: [100]\nworkers: [1, 2]\ncpus: [0.5, 1]\n"
)


def test_workers_multiply_a_one_thread_worker_and_half_a_cpu_is_half(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO, "shapes")
    backend = LocalBackend(
        scenario, out_dir=tmp_path, layout=plan_cpus(), k6=find_k6(), port=free_port(),
        run_id="shapes",
    )  # fmt: skip
    sync = load_variants()["gunicorn-sync"]
    rates = {}
    with backend.infrastructure():
        for workers in (1, 2):
            setup = Setup(sync, "requests", shape=Shape(threads=1, workers=workers, cpus=1.0))
            with backend.server(setup) as server:
                tree = psutil.Process(server.process.pid).children(recursive=True)
                assert len([p for p in tree if "gunicorn" in " ".join(p.cmdline())]) >= workers
                step = backend.measure(server, "upstream", LoadStep("closed", 8))
                assert step.status == "ok", step.error
                rates[workers] = step.rps
        if quota_supported():
            half = Setup(sync, "requests", shape=Shape(threads=1, workers=1, cpus=0.5))
            with backend.server(half) as server:
                busy = backend.measure(server, "cpu", LoadStep("closed", 4))
            assert busy.status == "ok", busy.error
            # The quota holds the server to half a CPU's time, and says it throttled it.
            assert busy.cpu_s / busy.duration_s < 0.5 * 1.1
            assert busy.cpu_util > 0.8
            assert busy.throttled_s is not None and busy.throttled_s > 0
    # 1 / 0.1 s per worker, less the server's own time per request.
    assert 7 < rates[1] <= 10.5
    assert 14 < rates[2] <= 21
    assert rates[2] / rates[1] == pytest.approx(2, rel=0.15)
