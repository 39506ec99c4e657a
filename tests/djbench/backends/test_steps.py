from __future__ import annotations

from djbench.backends.steps import ServerSide, failed_step, measured_step
from djbench.measure.k6 import ClientStats
from djbench.model.results import Latency
from djbench.model.setup import LoadStep

LATENCY = Latency(p50=10, p90=20, p95=25, p99=40, max=90)


def test_derived_rates_count_successful_responses() -> None:
    client = ClientStats(
        requests=110, errors=10, dropped=3, latency=LATENCY, window_start=100.0, window_end=102.0
    )
    side = ServerSide(cpu_s=1.5, rss_bytes=64 * 1024 * 1024, cpu_budget=1.0, load_cpu_s=0.2)
    step = measured_step(LoadStep("open", 55.0), client, side)
    assert step.rps == 50.0  # 100 successful responses in 2 s
    assert step.cpu_util == 0.75
    assert step.cpu_ms_per_req == 15.0
    assert step.rss_mib == 64.0
    assert (step.concurrency, step.rate) == (None, 55.0)
    assert step.status == "ok"
    assert step.infra_cpu_s is None


def test_a_dead_server_fails_the_step_but_keeps_the_numbers() -> None:
    client = ClientStats(
        requests=5, errors=5, dropped=0, latency=LATENCY, window_start=0.0, window_end=1.0
    )
    step = measured_step(
        LoadStep("closed", 8), client, ServerSide(0.1, 0, 1.0), error="exited with 1"
    )
    assert step.status == "failed"
    assert step.cpu_ms_per_req == 0.0
    assert step.requests == 5


def test_failed_step_has_no_numbers() -> None:
    step = failed_step(LoadStep("closed", 32), "k6 exited with status 99")
    assert (step.model, step.concurrency, step.requests, step.status) == ("closed", 32, 0, "failed")
    assert step.error == "k6 exited with status 99"


def test_a_step_without_one_successful_response_is_never_ok() -> None:
    """gunicorn-gevent at 128 VUs once recorded 0 requests as ok; every request failing is no
    better."""
    side = ServerSide(0.1, 0, 1.0)
    nothing = ClientStats(0, 0, 0, LATENCY, window_start=0.0, window_end=2.0)
    all_failed = ClientStats(40, 40, 0, LATENCY, window_start=0.0, window_end=2.0)
    for client in (nothing, all_failed):
        step = measured_step(LoadStep("closed", 128), client, side)
        assert (step.status, step.error) == (
            "failed",
            "no successful responses in the measured window",
        )
        assert (step.requests, step.rps) == (client.requests, 0.0)
    timed_out = measured_step(LoadStep("closed", 128), nothing, side, error="k6: timed out")
    assert (timed_out.status, timed_out.error) == ("failed", "k6: timed out")
    one = ClientStats(1, 0, 0, LATENCY, window_start=0.0, window_end=2.0)
    assert measured_step(LoadStep("closed", 1), one, side).status == "ok"


def test_rps_counts_completions_credited_to_the_window() -> None:
    """32 VUs of 600 ms cycles in 2 s: 96 requests started (48 req/s), 106.67 served."""
    side = ServerSide(0.5, 0, 1.0)
    credited = ClientStats(96, 0, 0, LATENCY, 0.0, 2.0, completed=32 * 2 / 0.6)
    step = measured_step(LoadStep("closed", 32), credited, side)
    assert step.rps == 53.333
    assert (step.requests, step.errors) == (96, 0)
    # An older summary without the credited count: successes started in the window.
    older = ClientStats(96, 6, 0, LATENCY, 0.0, 2.0)
    assert measured_step(LoadStep("closed", 32), older, side).rps == 45.0
