"""A traffic mix in k6 (k6/lib/mix.js): which part each iteration sends, the selectors of the
parts' submetrics, and the harness reading (and merging) each part from the summary."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from k6_probe import run_js

from djbench.backends.kubernetes import merge_client_stats
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, ClientStats, PartStats, parse_summary
from djbench.model.results import Latency

MIX_JS = SCRIPT.parent / "lib" / "mix.js"
SHARES = {"upstream": 0.2, "db-read": 0.5, "cpu": 0.3}

MIX_TOLERANCE = 2
"""Requests by which a part's count in any run of consecutive iterations may differ from its
share of them. Random draws would stray by about √(n·share·(1-share)): 16 in 1,000 at 0.5."""


def _picked(tmp_path: Path, blocks: list[tuple[int, int]]) -> list[dict[str, int]]:
    source = (
        f"import {{ mixParts, partAt }} from '{MIX_JS}';\n"
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  const scenario = { mix: { m: JSON.parse(__ENV.SHARES) }, requests: {\n"
        "    upstream: {}, 'db-read': {}, cpu: {} } };\n"
        "  const parts = mixParts(scenario, 'm');\n"
        "  const counts = JSON.parse(__ENV.BLOCKS).map(([start, n]) => {\n"
        "    const c = {};\n"
        "    for (let i = start; i < start + n; i++) {\n"
        "      const name = partAt(parts, i).name;\n"
        "      c[name] = (c[name] || 0) + 1;\n"
        "    }\n"
        "    return c;\n"
        "  });\n"
        "  return { stdout: JSON.stringify(counts) };\n"
        "}\n"
    )
    env = {"SHARES": json.dumps(SHARES), "BLOCKS": json.dumps(blocks)}
    counts: list[dict[str, int]] = run_js(source, tmp_path, env)
    return counts


def test_every_run_of_iterations_holds_the_shares_within_the_tolerance(tmp_path: Path) -> None:
    # A measured window is a run of consecutive iterations starting anywhere in the step.
    blocks = [(start, n) for start in (0, 777, 123_457) for n in (10, 100, 1_000, 20_000)]
    for (start, n), counts in zip(blocks, _picked(tmp_path, blocks), strict=True):
        assert sum(counts.values()) == n
        for name, share in SHARES.items():
            off = abs(counts.get(name, 0) - share * n)
            assert off <= MIX_TOLERANCE, (start, n, name, counts)


def test_random_draws_would_not_hold_the_tolerance() -> None:
    # Why the script does not draw at random: the tolerance above would fail.
    draw = random.Random(7)
    picks = draw.choices(list(SHARES), weights=list(SHARES.values()), k=1_000)
    assert max(abs(picks.count(n) - s * 1_000) for n, s in SHARES.items()) > MIX_TOLERANCE


def test_a_workload_that_is_no_mix_is_its_own_single_part(tmp_path: Path) -> None:
    source = (
        f"import {{ mixParts, partSelector }} from '{MIX_JS}';\n"
        "export default function () {}\n"
        "export function handleSummary() {\n"
        "  const scenario = { mix: { m: { a: 0.25, b: 0.75 } }, requests: { a: {}, b: {} } };\n"
        "  let unknown = '';\n"
        "  try { mixParts({ mix: { m: { a: 1, z: 1 } }, requests: { a: {} } }, 'm'); }\n"
        "  catch (e) { unknown = e.message; }\n"
        "  return { stdout: JSON.stringify({\n"
        "    alone: mixParts(scenario, 'a').map((p) => [p.name, p.share, p.upTo]),\n"
        "    mix: mixParts(scenario, 'm').map((p) => [p.name, p.share, p.upTo]),\n"
        "    selector: partSelector('db-read'), unknown }) };\n"
        "}\n"
    )
    out = run_js(source, tmp_path, {})
    assert out["alone"] == [["a", 1, 1]]
    assert out["mix"] == [["a", 0.25, 0.25], ["b", 0.75, 1]]
    assert out["unknown"] == "workload z is not in the scenario"
    # The selector is the contract's: the harness reads the submetrics the script asks for.
    assert out["selector"] == contract.part_selector("db-read") == "{phase:measure,name:db-read}"


def test_the_script_tags_each_request_with_its_part() -> None:
    bench = SCRIPT.read_text()
    assert re.search(rf"tags: \{{ {contract.PART_TAG}: part\.name \}}", bench)
    assert "partAt(senders, exec.scenario.iterationInTest)" in bench
    for metric in ("http_req_duration", "http_reqs", "http_req_failed"):
        assert f"out[`{metric}${{selector}}`]" in bench


def _metrics(selector: str, requests: int, failed: int, p50: float) -> dict[str, object]:
    return {
        f"http_reqs{selector}": {"type": "counter", "values": {"count": requests}},
        f"http_req_failed{selector}": {"type": "rate", "values": {"passes": failed}},
        f"http_req_duration{selector}": {
            "type": "trend",
            "values": {"med": p50, "p(90)": p50, "p(95)": p50, "p(99)": 2 * p50, "max": 3 * p50},
        },
    }


def test_parse_summary_reads_each_part_of_a_mix() -> None:
    metrics = {
        **_metrics("{phase:measure}", 100, 3, 50.0),
        **_metrics(contract.part_selector("cpu"), 30, 1, 10.0),
        **_metrics(contract.part_selector("sleep"), 70, 2, 100.0),
    }
    doc = {"startedAtMs": 1_000_000, "metrics": metrics, "step": {"parts": ["cpu", "sleep"]}}
    stats = parse_summary(doc, 1.0, 2.0)
    assert (stats.requests, stats.errors) == (100, 3)
    assert [(p.name, p.requests, p.errors, p.latency.p99) for p in stats.parts] == [
        ("cpu", 30, 1, 20.0),
        ("sleep", 70, 2, 200.0),
    ]
    # A workload that is no mix has no parts (its one part is the step itself).
    alone = {**doc, "step": {"parts": ["cpu"]}}
    assert parse_summary(alone, 1.0, 2.0).parts == ()


def _pod(parts: tuple[PartStats, ...]) -> ClientStats:
    grid = tuple(float(p) for p in contract.QUANTILE_GRID)
    zero = Latency(p50=0, p90=0, p95=0, p99=0, max=0)
    requests = sum(p.requests for p in parts)
    return ClientStats(requests, 0, 0, zero, 100.0, 102.0, quantiles=grid, parts=parts)


def test_the_pods_of_a_step_merge_part_by_part() -> None:
    grid = contract.QUANTILE_GRID
    fast = tuple(float(p) for p in grid)  # part latency = its percent point, in ms
    slow = tuple(10 * float(p) for p in grid)
    lat = Latency(p50=50, p90=90, p95=95, p99=99, max=100)
    one = _pod((PartStats("a", 30, 1, lat, fast), PartStats("b", 70, 0, lat, slow)))
    two = _pod((PartStats("a", 30, 0, lat, fast), PartStats("b", 70, 2, lat, slow)))
    merged = merge_client_stats([one, two])
    assert [(p.name, p.requests, p.errors) for p in merged.parts] == [("a", 60, 1), ("b", 140, 2)]
    # Two pods of the same quantile function merge to it.
    a, b = merged.parts
    assert a.latency.p50 == pytest.approx(50.0) and b.latency.p99 == pytest.approx(990.0)
