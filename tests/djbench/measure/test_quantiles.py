"""Merging pods' quantile functions (djbench.measure.quantiles) against the pooled samples.

Each pod's quantiles are taken the way k6 takes them: linear between the sorted samples at rank
``p * (n - 1)``, numpy's default ``linear`` method (checked against real k6 in
test_contract.py). The merged percentiles must stay within 1 % of the percentiles k6 would
report for all the samples in one pod.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from djbench.backends.kubernetes import merge_client_stats
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import ClientStats, parse_summary
from djbench.measure.quantiles import merge_quantiles
from djbench.model.errors import DjbenchError
from djbench.model.results import Latency

GRID = contract.QUANTILE_GRID
REPORTED = [50.0, 90.0, 95.0, 99.0]
Rng = np.random.Generator
# A pod's samples (ms) from its index and its sample count.
Sampler = Callable[[Rng, int, int], np.ndarray]

SHAPES: dict[str, Sampler] = {
    "lognormal": lambda rng, _pod, n: rng.lognormal(np.log(20), 0.5, n),
    "wide lognormal": lambda rng, _pod, n: rng.lognormal(np.log(20), 1.5, n),
    "bimodal": lambda rng, _pod, n: np.where(
        rng.random(n) < 0.7, rng.normal(10, 1, n), rng.normal(40, 4, n)
    ).clip(0.1),
    "heavy tail": lambda rng, _pod, n: 5 * (1 + rng.pareto(1.5, n)),
    "rare stalls": lambda rng, _pod, n: np.where(
        rng.random(n) < 0.985, rng.exponential(8, n), 200 + rng.exponential(50, n)
    ),
    "timeouts": lambda rng, _pod, n: np.where(
        rng.random(n) < 0.98, rng.lognormal(np.log(30), 0.6, n), 10_000 + rng.random(n)
    ),
    # Pods that see different latencies (one on a busier node): averaging would be wrong.
    "unequal pods": lambda rng, pod, n: rng.lognormal(np.log(20 * (1 + 0.3 * pod)), 0.3, n),
}


def pods_of(shape: str, seed: int) -> list[np.ndarray]:
    """Two to four pods of unequal sizes, at the sample counts of a measured step."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(20_000, 60_000, int(rng.integers(2, 5)))
    return [SHAPES[shape](rng, pod, int(n)) for pod, n in enumerate(sizes)]


def k6_quantiles(samples: np.ndarray, grid: tuple[float, ...] = GRID) -> list[float]:
    return [float(x) for x in np.percentile(samples, grid)]


def worst_error(pods: list[np.ndarray], grid: tuple[float, ...]) -> float:
    parts = [(len(s), k6_quantiles(s, grid)) for s in pods]
    merged = np.array(merge_quantiles(grid, parts, REPORTED))
    pooled = np.percentile(np.concatenate(pods), REPORTED)
    return float(np.max(np.abs(merged / pooled - 1)))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", SHAPES)
def test_merged_percentiles_are_within_one_percent_of_the_pooled(shape: str, seed: int) -> None:
    assert worst_error(pods_of(shape, seed), GRID) < 0.01


@pytest.mark.parametrize("shape", ["wide lognormal", "heavy tail", "unequal pods"])
def test_a_coarse_grid_misses_by_more(shape: str) -> None:
    """The bound has teeth: a grid of whole percents fails it on the same samples."""
    coarse = tuple(float(p) for p in range(101))
    assert max(worst_error(pods_of(shape, seed), coarse) for seed in range(3)) > 0.01


def test_one_part_gives_its_own_percentiles() -> None:
    samples = np.random.default_rng(7).lognormal(3, 1, 5000)
    own = k6_quantiles(samples)
    assert merge_quantiles(GRID, [(5000, own)], GRID) == pytest.approx(own, rel=1e-12)
    # Parts without samples weigh nothing (their quantiles are k6's zeros).
    assert merge_quantiles(GRID, [(0, [0.0] * len(GRID)), (5000, own)], REPORTED) == (
        pytest.approx(list(np.percentile(samples, REPORTED)), rel=1e-12)
    )


def test_equal_samples_merge_to_their_value() -> None:
    """Many equal samples make a jump in the CDF, not a ramp to the next value."""
    fast = np.full(9000, 5.0)
    slow = np.concatenate([np.full(800, 5.0), np.linspace(6, 20, 200)])
    parts = [(9000, k6_quantiles(fast)), (1000, k6_quantiles(slow))]
    merged = merge_quantiles(GRID, parts, [50, 99])
    assert merged[0] == 5.0
    assert merged[1] == pytest.approx(np.percentile(np.concatenate([fast, slow]), 99), rel=0.01)


def test_parts_need_the_whole_grid() -> None:
    with pytest.raises(ValueError, match="percentiles on the grid"):
        merge_quantiles(GRID, [(10, [1.0, 2.0]), (10, [1.0, 2.0])], REPORTED)
    assert merge_quantiles(GRID, [], REPORTED) == [0.0] * 4


def _stats(samples: np.ndarray, *, grid: bool = True) -> ClientStats:
    p50, p90, p95, p99 = (float(x) for x in np.percentile(samples, REPORTED))
    return ClientStats(
        requests=len(samples), errors=0, dropped=0,
        latency=Latency(p50=p50, p90=p90, p95=p95, p99=p99, max=float(samples.max())),
        window_start=100.0, window_end=110.0,
        quantiles=tuple(k6_quantiles(samples)) if grid else (),
    )  # fmt: skip


def test_merge_client_stats_of_one_pod_keeps_its_values() -> None:
    part = _stats(np.random.default_rng(3).lognormal(3, 0.5, 2000))
    assert merge_client_stats([part]) == part
    # A pod that measured nothing does not change the other's numbers.
    idle = ClientStats(0, 0, 0, Latency(p50=0, p90=0, p95=0, p99=0, max=0), 101.0, 111.0)
    merged = merge_client_stats([idle, part])
    assert merged.latency == part.latency
    assert merged.quantiles == part.quantiles


def test_merge_client_stats_merges_the_pods_quantiles() -> None:
    pods = pods_of("unequal pods", 0)
    merged = merge_client_stats([_stats(s) for s in pods])
    pooled = np.concatenate(pods)
    got = [merged.latency.p50, merged.latency.p90, merged.latency.p95, merged.latency.p99]
    assert got == pytest.approx(list(np.percentile(pooled, REPORTED)), rel=0.01)
    assert merged.latency.max == pooled.max()
    assert merged.requests == len(pooled)
    assert merged.window_start == 100.0
    assert merged.duration_s == 10.0
    assert len(merged.quantiles) == len(GRID)
    assert merged.quantiles[GRID.index(99.0)] == merged.latency.p99


def test_merge_client_stats_refuses_pods_without_the_grid() -> None:
    samples = np.random.default_rng(5).lognormal(3, 0.5, 1000)
    with pytest.raises(DjbenchError, match="lacks the percentile grid"):
        merge_client_stats([_stats(samples), _stats(samples, grid=False)])
    # Alone, an older pod's own percentiles stand.
    assert merge_client_stats([_stats(samples, grid=False)]).latency == _stats(samples).latency


def test_a_summary_without_the_grid_still_parses() -> None:
    doc = {
        "startedAtMs": 1_000_000,
        "metrics": {
            "http_req_duration{phase:measure}": {
                "values": {"med": 5.0, "p(90)": 9.0, "p(95)": 9.5, "p(99)": 9.9, "max": 10.0}
            },
            "http_reqs{phase:measure}": {"values": {"count": 100}},
        },
    }
    stats = parse_summary(doc, 1.0, 2.0)
    assert stats.quantiles == ()
    assert stats.latency.p99 == 9.9
    values = doc["metrics"]["http_req_duration{phase:measure}"]["values"]  # type: ignore[index]
    values.update({contract.quantile_stat(p): p / 10 for p in GRID})
    assert parse_summary(doc, 1.0, 2.0).quantiles == tuple(p / 10 for p in GRID)
    # Some of the grid but not all: no quantile function rather than a wrong one.
    del values[contract.quantile_stat(99.5)]
    assert parse_summary(doc, 1.0, 2.0).quantiles == ()
