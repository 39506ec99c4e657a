"""The results contract: v2 round trip, and v1 files still readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from djbench.analysis import scenario_of
from djbench.errors import DjbenchError
from djbench.results import SCHEMA, load_results, write_results

FIXTURES = Path(__file__).parent / "fixtures"


def test_v2_round_trips(tmp_path: Path) -> None:
    results = load_results(FIXTURES / "results-small.json")
    assert results.schema_ == SCHEMA == "djbench/results/v2"
    again = load_results(write_results(results, tmp_path))
    assert again == results
    upstream = next(r for r in again.runs if r.variant == "uvicorn" and r.workload == "upstream")
    assert upstream.client is not None
    assert (upstream.client.name, upstream.client.max_connections) == ("aiohttp", 384)
    assert upstream.label == "uvicorn · aiohttp"
    assert upstream.steps[0].upstream is not None


def test_a_v1_file_reads_as_made_with_httpx() -> None:
    results = load_results(FIXTURES / "results-small-v1.json")
    assert results.schema_ == SCHEMA
    by = {(r.variant, r.workload): r for r in results.runs}
    upstream = by["uvicorn", "upstream"]
    assert upstream.client is not None
    assert (upstream.client.name, upstream.client.max_connections) == ("httpx", 1000)
    assert upstream.client.version == results.environment.libraries.get("httpx", "unknown")
    assert upstream.label == "uvicorn · httpx"
    # The scenario as run says so too, so reports of v1 files name httpx, not today's defaults.
    scenario = scenario_of(results)
    assert (
        scenario.upstream_clients.of("sync") == scenario.upstream_clients.of("async") == ["httpx"]
    )
    assert scenario.upstream_pool_size == 1000
    # Workloads without upstream calls have no client; slots come from the variant definitions.
    assert by["uvicorn", "cpu"].client is None
    assert by["gunicorn-sync", "cpu"].slots == 1
    assert by["uvicorn", "cpu"].slots is None
    assert all(s.upstream is None for r in results.runs for s in r.steps)


def test_an_unknown_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "djbench/results/v9"}))
    with pytest.raises(DjbenchError, match="unsupported results schema 'djbench/results/v9'"):
        load_results(path)
