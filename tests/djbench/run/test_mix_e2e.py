"""A traffic mix measured for real: one step sends each part in its share, every part is
verified first, the step records each part's own latency, and the report shows them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from djbench.backends.local.processes import free_port
from djbench.model.results_file import load_results
from djbench.model.scenario_file import parse_scenario
from djbench.plan.physics import floor_latency_s

pytestmark = pytest.mark.e2e

SCENARIO = """\
name: mix
variants: [gunicorn-gthread]
workloads: [half]
seed_rows: 1000
warmup_s: 1
duration_s: 3
closed: {concurrency: [8]}
open: {rates: [40]}
mix:
  half: {sleep: 0.7, cpu: 0.3}
"""

SENT_TOLERANCE = 4
"""Requests by which a part's count in one step may differ from its share of the step's:
the script's own (``MIX_TOLERANCE``, 2, in any run of consecutive iterations) and as many
again for the VUs that cross into the measured window out of their iterations' order."""


def test_a_mix_sends_its_shares_and_records_each_part(tmp_path: Path) -> None:
    (tmp_path / "mix.yaml").write_text(SCENARIO)
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "run", "--scenario", "mix.yaml", "--out", "out",
         "--port", str(free_port())],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    results = load_results(tmp_path / "out")
    (run,) = results.runs
    assert run.workload == "half" and run.status == "ok"
    assert [s.load_label for s in run.steps] == ["c=8", "40/s"]
    for step in run.steps:
        assert step.status == "ok", step.error
        assert step.parts is not None
        assert [(p.name, p.share) for p in step.parts] == [("sleep", 0.7), ("cpu", 0.3)]
        assert sum(p.requests for p in step.parts) == step.requests
        for part in step.parts:
            assert abs(part.requests - part.share * step.requests) <= SENT_TOLERANCE, step.parts
            assert part.errors == 0
        sleep, cpu = step.parts
        # Each part answers in its own time: the sleep part at least its 100 ms.
        assert sleep.latency_ms.p50 >= 100 > cpu.latency_ms.p50
        assert step.latency_ms.p99 >= sleep.latency_ms.p50
    # Physics: 70 % of requests wait at least 100 ms, so 8 users see at most 8 / 0.07 s.
    closed = run.steps[0]
    floor = floor_latency_s(parse_scenario(SCENARIO, "mix"), "half")
    assert floor == pytest.approx(0.07)
    assert 0.7 * 8 / floor < closed.rps <= 1.05 * 8 / floor
    # The open step served what it was offered.
    assert run.steps[1].rps == pytest.approx(40, rel=0.1)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Parts of the mix (mix: 70% sleep, 30% cpu;" in report
    # At the capacity at SLO: the closed step, which served more than the open step's 40/s.
    assert "| gunicorn-gthread | c=8 | sleep | 70.0% |" in report
