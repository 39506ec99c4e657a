"""Throughput from completions credited to the measured window (k6/lib/credit.js).

The credit arithmetic runs in real k6; the harness reads the credited count from the summary
(falling back to successes started in the window for an older script's summary), sums it
across the pods of a step, and divides it by the window for ``rps``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from k6_probe import run_js

from djbench.backends.kubernetes import merge_client_stats
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, ClientStats, parse_summary
from djbench.model.results import Latency

CREDIT_JS = SCRIPT.parent / "lib" / "credit.js"
ZERO = Latency(p50=0, p90=0, p95=0, p99=0, max=0)
WINDOW = (1000, 3000)  # ms: a 2 s measured window

# (request start, request end, credit): edges included on the window's start, not its end.
CASES = [
    ("wholly inside", 1200, 1800, 1.0),
    ("on both edges", 1000, 3000, 1.0),
    ("straddling the start", 700, 1300, 0.5),
    ("straddling the end", 2900, 3300, 0.25),
    ("spanning the whole window", 0, 4000, 0.5),
    ("before", 200, 900, 0.0),
    ("ending on the start", 400, 1000, 0.0),
    ("starting on the end", 3000, 3600, 0.0),
    ("after", 3100, 3700, 0.0),
    ("instant inside", 1500, 1500, 1.0),
    ("instant on the start", 1000, 1000, 1.0),
    ("instant on the end", 3000, 3000, 0.0),
]


def _credits(tmp_path: Path, requests: list[tuple[int, int]], window: tuple[int, int]) -> Any:
    source = (
        f"import {{ windowCredit, measuredWindow, COMPLETED_METRIC }} from '{CREDIT_JS}';\n"
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  const [startMs, endMs] = JSON.parse(__ENV.WINDOW);\n"
        "  const credits = JSON.parse(__ENV.REQUESTS).map(([s, e]) =>\n"
        "    windowCredit(s, e, { startMs, endMs }));\n"
        "  const step = { scenario: { warmup_s: 1.5, duration_s: 2 } };\n"
        "  const window = measuredWindow(step, 1000);\n"
        "  return { stdout: JSON.stringify({ credits, window, name: COMPLETED_METRIC }) };\n"
        "}\n"
    )
    env = {"REQUESTS": json.dumps(requests), "WINDOW": json.dumps(window)}
    return run_js(source, tmp_path, env)


def test_window_credit_edge_cases(tmp_path: Path) -> None:
    out = _credits(tmp_path, [(start, end) for _, start, end, _ in CASES], WINDOW)
    got = dict(zip((name for name, *_ in CASES), out["credits"], strict=True))
    assert got == {name: pytest.approx(credit) for name, _, _, credit in CASES}
    # The window the script credits: warm-up after setup(), then the measured phase.
    assert out["window"] == {"startMs": 2500, "endMs": 4500}
    assert out["name"] == contract.COMPLETED_METRIC


def test_a_closed_loop_earns_window_over_cycle(tmp_path: Path) -> None:
    """32 VUs in phase (k6 starts them together), back-to-back 600 ms requests, a 2 s window.

    Requests started in the window: 3 cycles each, 96 (48 req/s). Credits: 32 × 2 / 0.6.
    """
    requests = [(vu + k * 600, vu + (k + 1) * 600) for vu in range(32) for k in range(-2, 8)]
    out = _credits(tmp_path, requests, WINDOW)
    assert sum(out["credits"]) == pytest.approx(32 * 2 / 0.6)
    assert sum(1 for s, _ in requests if WINDOW[0] <= s < WINDOW[1]) == 96


def _summary(*, completed: float | None) -> dict[str, object]:
    metrics: dict[str, object] = {
        "http_reqs{phase:measure}": {"type": "counter", "values": {"count": 100, "rate": 50}},
        "http_req_failed{phase:measure}": {"type": "rate", "values": {"passes": 4, "rate": 0.04}},
    }
    if completed is not None:
        metrics[contract.COMPLETED_METRIC] = {
            "type": "counter",
            "values": {"count": completed, "rate": completed / 3},
        }
    return {"startedAtMs": 1_000_000, "metrics": metrics}


def test_parse_summary_reads_the_credited_completions() -> None:
    stats = parse_summary(_summary(completed=105.25), 1.0, 2.0)
    assert (stats.requests, stats.errors) == (100, 4)
    assert stats.completed == 105.25
    assert stats.completions == 105.25


def test_an_older_summary_falls_back_to_successes_started_in_the_window() -> None:
    stats = parse_summary(_summary(completed=None), 1.0, 2.0)
    assert stats.completed is None
    assert stats.completions == 96.0


def _pod(requests: int, completed: float | None) -> ClientStats:
    grid = tuple(float(p) for p in contract.QUANTILE_GRID)  # any quantile function will do
    return ClientStats(requests, 0, 0, ZERO, 100.0, 102.0, quantiles=grid, completed=completed)


def test_merge_sums_the_pods_credited_completions() -> None:
    merged = merge_client_stats([_pod(48, 52.5), _pod(50, 53.25)])
    assert merged.completed == pytest.approx(105.75)
    assert merged.requests == 98
    # A pod of an older script counts its successes started in the window.
    assert merge_client_stats([_pod(48, 52.5), _pod(50, None)]).completed == 102.5
    assert merge_client_stats([_pod(48, None), _pod(50, None)]).completed is None
