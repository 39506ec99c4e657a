"""Efficiency per pod shape: req/s at SLO per CPU and per GiB, and the memory of one more
thread or worker, from runs measured in shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from djbench.analysis.core import analyze
from djbench.model.pod import Shape
from djbench.model.results import Results, Run
from djbench.model.results_file import load_results

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-small.json"


def _in_shape(run: Run, shape: Shape, rps: float, rss: float) -> Run:
    """``run`` measured in ``shape``: each step's throughput scaled to ``rps`` at its best
    and every step at ``rss`` MiB."""
    best = max(s.rps for s in run.steps)
    steps = [s.model_copy(update={"rps": s.rps * rps / best, "rss_mib": rss}) for s in run.steps]
    return run.model_copy(update={"shape": shape, "steps": steps})


def _shaped() -> Results:
    results = load_results(FIXTURE)
    cpu = next(r for r in results.runs if (r.variant, r.workload) == ("gunicorn-sync", "cpu"))
    # Its best step within p99 <= 500 ms is c=8 (98.0 req/s): scaled to `rps`.
    runs = [
        _in_shape(cpu, Shape(threads=8, workers=1, cpus=1.0), 100.0, 60.0),
        _in_shape(cpu, Shape(threads=32, workers=1, cpus=1.0), 100.0, 66.0),
        _in_shape(cpu, Shape(threads=128, workers=1, cpus=1.0), 100.0, 90.0),
        _in_shape(cpu, Shape(threads=8, workers=2, cpus=1.0), 100.0, 120.0),
        _in_shape(cpu, Shape(threads=8, workers=1, cpus=0.5), 50.0, 60.0),
    ]
    return results.model_copy(update={"runs": runs})


def test_each_shape_carries_its_capacity_per_cpu_and_per_gib() -> None:
    analysis = analyze(_shaped())
    shapes = analysis.efficiency_of(analysis.verdict_for("cpu"))
    by = {e.shape: e for e in shapes}
    half = by[Shape(threads=8, workers=1, cpus=0.5)]
    one = by[Shape(threads=8, workers=1, cpus=1.0)]
    # The capacity is the verdict's: the median of its one survey round, its best step
    # within the SLO.
    assert one.compared and one.capacity == pytest.approx(100.0)
    assert half.per_cpu == pytest.approx(one.per_cpu or 0, rel=1e-3)  # half the rate, half a CPU
    assert one.per_gib == pytest.approx((one.capacity or 0) / (60 / 1024))
    two = by[Shape(threads=8, workers=2, cpus=1.0)]
    assert two.per_gib == pytest.approx((one.per_gib or 0) / 2)
    # Most req/s per CPU first: the three thread counts and the half CPU tie, two workers too.
    assert shapes[0].per_cpu == pytest.approx(max(e.per_cpu or 0 for e in shapes))


def test_the_memory_of_one_more_thread_and_worker_is_the_slope_of_peak_rss() -> None:
    costs = {(c.variant, c.axis): c for c in analyze(_shaped()).memory_costs_of("cpu")}
    thread = costs["gunicorn-sync", "thread"]
    # 60, 66, 90 MiB at 8, 32, 128 threads: least squares slope 0.25 MiB per thread.
    assert thread.values == (8, 32, 128)
    assert thread.mib == pytest.approx(0.25, abs=1e-9)
    assert thread.text == "gunicorn-sync: +0.2 MiB per thread (8 → 128 threads, 1 worker · 1 CPU)"
    worker = costs["gunicorn-sync", "worker"]
    assert (worker.values, worker.mib) == ((1, 2), pytest.approx(60.0))
    assert worker.held == "×8 threads · 1 CPU"


def test_a_file_without_shapes_has_no_efficiency_table() -> None:
    analysis = analyze(load_results(FIXTURE))
    assert all(not analysis.efficiency_of(v) for v in analysis.verdicts)
    assert not analysis.memory_costs_of("cpu")
