"""`djbench run --profile smoke` for real: Postgres, the stub API, every variant, k6."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from live_servers import ctrl_c_as_at_a_terminal
from machine_load import ForeignLoad

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, WORKLOADS, client_kind
from djbench.model.names import run_label
from djbench.model.results import SCHEMA, Run
from djbench.model.results_file import load_results
from djbench.model.variants import standard_variants

pytestmark = pytest.mark.e2e

STEP_KEYS = {
    "model", "concurrency", "rate", "duration_s", "requests", "errors", "dropped", "rps",
    "latency_ms", "cpu_s", "cpu_util", "cpu_ms_per_req", "rss_mib", "upstream",
}  # fmt: skip
RUN_KEYS = {
    "variant", "server", "interface", "views", "workload", "status", "error", "steps", "client",
    "slots",
}  # fmt: skip
ENV_KEYS = {"python", "django", "k6", "cpu_model", "cpus", "servers"}
TICK_S = 0.01
"""/proc/stat's resolution (USER_HZ 100): a step's outside load is read to a tick."""


def _djbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "djbench", *args]


@pytest.fixture(scope="module")
def smoke_load() -> ForeignLoad:
    """The load that processes outside this test session put on the machine during the smoke
    run (filled in by ``smoke_run``)."""
    return ForeignLoad()


@pytest.fixture(scope="module")
def smoke_run(
    tmp_path_factory: pytest.TempPathFactory, smoke_load: ForeignLoad
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("smoke")
    smoke_load.start()
    done = subprocess.run(
        _djbench("run", "--profile", "smoke", "--out", str(out), "--port", "18765"),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "160"},
    )
    smoke_load.stop()
    return out, done


def test_smoke_run_succeeds_with_every_variant_and_workload(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, done = smoke_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("results.json", "report.md", "report.html"):
        assert (out / name).is_file(), name
    results = load_results(out)
    seen = {(r.variant, r.workload): r for r in results.runs}
    assert set(seen) == {(v, w) for v in standard_variants() for w in WORKLOADS}
    failed = {k: r.error for k, r in seen.items() if r.status != "ok"}
    assert not failed
    for run in results.runs:
        assert run.steps, run
        for step in run.steps:
            assert step.status == "ok"
            assert step.requests > 0, (run.variant, run.workload)
            assert step.rps > 0, (run.variant, run.workload)
            # Waiting workloads may spend less than one clock tick (10 ms) of CPU in a 1 s step.
            assert step.cpu_s > 0 or run.workload in ("upstream", "sleep", "page")
            if run.workload == "cpu":
                # The server kept its CPU busy: its own share, and whatever else took the rest.
                outside = (step.outside_cpu_s or 0.0) / step.duration_s
                assert step.cpu_util + outside > 0.5, (run.variant, step.cpu_util, outside)
            assert step.rss_mib > 10, (run.variant, run.workload)
            assert step.latency_ms.p50 <= step.latency_ms.p99 <= step.latency_ms.max
        _check_upstream(run)


def _check_upstream(run: Run) -> None:
    """Runs that call the stub API name their (default) client, and the stub's own count of
    each step agrees with k6's: about the calls the successful requests made, never more in
    flight than 8 VUs can hold."""
    if not WORKLOADS[run.workload].touches_upstream:
        assert run.client is None
        assert all(step.upstream is None for step in run.steps)
        return
    assert run.client is not None
    assert run.client.name == DEFAULT_UPSTREAM_CLIENTS[client_kind(run.views)]
    calls = 3 if run.workload == "upstream" else 1
    for step in run.steps:
        traffic = step.upstream
        assert traffic is not None, (run.variant, run.workload)
        served = (step.requests - step.errors) * calls
        assert 0.5 * served <= traffic.calls <= 1.5 * served + calls, (
            run_label(run),
            traffic,
            served,
        )
        assert 0 < traffic.peak_in_flight <= 8 * calls, (run_label(run), traffic)


def test_results_match_the_contract(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = smoke_run
    raw = json.loads((out / "results.json").read_text())
    assert raw["schema"] == SCHEMA
    assert raw["backend"] == "local"
    assert raw["started_at"].endswith("+00:00")
    assert set(raw["environment"]) >= ENV_KEYS
    assert set(raw["environment"]["servers"]) == {"gunicorn", "uwsgi", "uvicorn", "granian"}
    assert raw["environment"]["k6"].startswith("v")
    assert raw["scenario"]["name"] == "smoke"
    for run in raw["runs"]:
        assert set(run) >= RUN_KEYS
        assert run["interface"] in ("wsgi", "asgi")
        for step in run["steps"]:
            assert set(step) >= STEP_KEYS
            assert set(step["latency_ms"]) >= {"p50", "p90", "p95", "p99", "max"}
            assert (step["concurrency"] is None) == (step["model"] == "open")


def test_report_names_every_variant(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, done = smoke_run
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for variant in standard_variants():
        assert variant in md
        assert variant in html
        assert variant in done.stdout
    assert '<script src="http' not in html


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_ctrl_c_keeps_measured_steps_and_leaves_no_process(tmp_path: Path) -> None:
    scenario = tmp_path / "long.yaml"
    scenario.write_text(
        "name: interrupt\nworkloads: [sleep, cpu]\nseed_rows: 1000\nwarmup_s: 0\n"
        "duration_s: 1\nclosed: {concurrency: [1, 2, 4, 8, 16, 32]}\n"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _djbench("run", "--scenario", str(scenario), "--variants", "uvicorn,gunicorn-gthread",
                 "--out", str(out), "--port", "18766"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            results = out / "results.json"
            if results.exists() and sum(len(r.steps) for r in load_results(out).runs) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no step was measured in time")
        children = _descendants(proc.pid)
        assert any("postgres" in " ".join(c.cmdline()) for c in children)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [c.cmdline() for c in alive]
    kept = load_results(out)
    assert sum(len(r.steps) for r in kept.runs) >= 2
    assert any(r.error and "interrupted" in r.error for r in kept.runs)
    assert (out / "report.md").is_file()


def test_outside_load_reads_what_the_machine_had(
    smoke_run: tuple[Path, subprocess.CompletedProcess[str]], smoke_load: ForeignLoad
) -> None:
    """On an idle machine the harness reads no outside load (its own k6, Postgres and stub
    are not charged to the server); beside another job it reads no more than that job's CPU,
    as counted by this session independently of the harness."""
    from djbench.analysis.checks import OUTSIDE_LIMIT
    from djbench.analysis.core import analyze

    out, _ = smoke_run
    results = load_results(out)
    steps = [s for r in results.runs for s in r.steps if s.measured and s.outside_cpu_s is not None]
    assert steps, "the server's CPU was read in every measured step"
    shares = [(s.outside_cpu_s or 0.0) / s.duration_s for s in steps]
    # Each step within the self-check's own limit, but for the foreign CPU time this session
    # counted: one step may find all of it (a cron job's second on the server's CPU, or
    # another job moving between CPUs), and over the steps the harness reads no more of it
    # than there was. With nothing foreign, every step is held to the limit as strictly as the
    # self-check holds it (the tick of /proc/stat aside).
    assert max(shares) < 1 + OUTSIDE_LIMIT, sorted(shares)[-5:]
    excess = sum(max((s.outside_cpu_s or 0.0) - OUTSIDE_LIMIT * s.duration_s, 0.0) for s in steps)
    assert excess <= 1.1 * smoke_load.cpu_s + TICK_S, (sorted(shares)[-5:], smoke_load)
    busy = analyze(results).busy_machine
    assert (busy is None) == (max(shares) <= OUTSIDE_LIMIT), busy
    assert all(r.load_average is not None for r in results.runs)


def test_a_busy_loop_on_the_server_s_cpu_is_named(tmp_path: Path) -> None:
    from djbench.backends.local.cpus import plan_cpus

    layout = plan_cpus()
    if layout.server == layout.infra:
        pytest.skip("one usable CPU: the load shares it with the server anyway")
    scenario = tmp_path / "busy.yaml"
    scenario.write_text(
        "name: busy\nworkloads: [cpu]\nseed_rows: 100\nwarmup_s: 0.5\nduration_s: 2\n"
        "closed: {concurrency: [4]}\n"
    )
    spin = subprocess.Popen(
        ["taskset", "-c", layout.server_arg, sys.executable, "-c", "while True: pass"]
    )
    try:
        out = tmp_path / "out"
        done = subprocess.run(
            _djbench("run", "--scenario", str(scenario), "--variants", "gunicorn-sync",
                     "--out", str(out), "--port", "18767"),
            capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
    finally:
        spin.kill()
        spin.wait()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (step,) = load_results(out).runs[0].steps
    # The loop took about half the server's CPU (the scheduler shares it between the two).
    assert step.outside_cpu_s is not None and step.outside_cpu_s / step.duration_s > 0.25
    assert "warning: measured on a busy machine" in done.stdout
    assert "outside-load ×1" in done.stdout
    first = (out / "report.md").read_text().splitlines()[2]
    assert first.startswith("**Warning: measured on a busy machine"), first
