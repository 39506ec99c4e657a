"""The results contract: v4 round trip, and v7, v6, v3, v2 and v1 files still readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from djbench.analysis.core import scenario_of
from djbench.model.errors import DjbenchError
from djbench.model.names import run_label
from djbench.model.pod import Shape
from djbench.model.results import DIRECT, SCHEMA, Distance, Part, PathCheck, ProxyTraffic
from djbench.model.results_file import load_results, write_results

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_a_v4_file_reads_as_v8_and_round_trips(tmp_path: Path) -> None:
    assert json.loads((FIXTURES / "results-small.json").read_text())["schema"].endswith("/v4")
    results = load_results(FIXTURES / "results-small.json")
    assert results.schema_ == SCHEMA == "djbench/results/v8"
    # Before v8 no step had parts (there were no mixes).
    assert all(s.parts is None for r in results.runs for s in r.steps)
    # Before v7 every run had its variant's standard shape.
    assert all(r.shape is None for r in results.runs)
    assert all(f.shape is None for f in results.faults)
    assert results.project is None  # benchapp, as every run before v5
    # Before v6 nothing was read of outside load, load averages or restarts.
    assert all(r.load_average is None and r.restarts == [] for r in results.runs)
    assert all(s.outside_cpu_s is None for r in results.runs for s in r.steps)
    assert {s.status for r in results.runs for s in r.steps} <= {"ok", "failed"}
    again = load_results(write_results(results, tmp_path))
    assert again == results
    upstream = next(r for r in again.runs if r.variant == "uvicorn" and r.workload == "upstream")
    assert upstream.client is not None
    assert (upstream.client.name, upstream.client.max_connections) == ("aiohttp", 384)
    assert run_label(upstream) == "uvicorn · aiohttp"
    assert upstream.steps[0].upstream is not None


@pytest.mark.parametrize(
    ("backend", "source"), [("local", "process-tree"), ("kubernetes", "cadvisor")]
)
def test_a_v2_file_names_the_cpu_source_its_backend_used(
    tmp_path: Path, backend: str, source: str
) -> None:
    raw = json.loads((FIXTURES / "results-small-v2.json").read_text())
    assert raw["schema"] == "djbench/results/v2"
    raw["backend"] = backend
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    results = load_results(path)
    assert results.schema_ == SCHEMA
    steps = [s for r in results.runs for s in r.steps]
    assert steps and all(s.cpu_source == source for s in steps if s.status == "ok")
    assert all(s.cadvisor_cpu_s is None for s in steps)


def test_a_v1_file_reads_as_made_with_httpx() -> None:
    results = load_results(FIXTURES / "results-small-v1.json")
    assert results.schema_ == SCHEMA
    by = {(r.variant, r.workload): r for r in results.runs}
    upstream = by["uvicorn", "upstream"]
    assert upstream.client is not None
    assert (upstream.client.name, upstream.client.max_connections) == ("httpx", 1000)
    assert upstream.client.version == results.environment.libraries.get("httpx", "unknown")
    assert run_label(upstream) == "uvicorn · httpx"
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
    measured = [s for r in results.runs for s in r.steps if s.status == "ok"]
    assert measured and all(s.cpu_source == "process-tree" for s in measured)


def test_an_unknown_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "djbench/results/v9"}))
    with pytest.raises(DjbenchError, match="unsupported results schema 'djbench/results/v9'"):
        load_results(path)


def test_a_run_at_a_distance_round_trips_with_its_paths_and_proxy_traffic(tmp_path: Path) -> None:
    results = load_results(FIXTURES / "results-small.json")
    run = results.runs[0]
    far = run.model_copy(
        update={
            "distance": Distance(db_rtt_ms=100),
            "paths": [
                PathCheck(
                    path="db", target_ms=100, connections=16, p50_ms=100.4, p99_ms=101.9, ok=True
                )
            ],
            "steps": [
                s.model_copy(
                    update={"db_path": ProxyTraffic(connections=2, round_trips=40, cpu_s=0.1)}
                )
                for s in run.steps
            ],
        }
    )
    again = load_results(write_results(results.model_copy(update={"runs": [far]}), tmp_path))
    assert again.runs == [far]
    assert run_label(again.runs[0]) == f"{run_label(run)} @ db +100 ms"
    assert far.steps[0].db_path is not None
    assert far.steps[0].db_path.per_request(20) == (0.1, 2.0)


def test_a_v3_file_reads_as_measured_direct() -> None:
    raw = json.loads((FIXTURES / "results-small-v3.json").read_text())
    assert raw["schema"] == "djbench/results/v3"
    results = load_results(FIXTURES / "results-small-v3.json")
    assert results.schema_ == SCHEMA
    assert results.runs and all(r.distance == DIRECT and not r.paths for r in results.runs)
    steps = [s for r in results.runs for s in r.steps]
    assert all(s.db_path is None and s.upstream_path is None for s in steps)
    assert run_label(results.runs[0]) == "gunicorn-sync · requests"


def test_a_v5_fault_keeps_the_label_it_recorded(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "results-small.json").read_text())
    raw["schema"] = "djbench/results/v5"
    raw["faults"] = [
        {"message": "Postgres exited with signal 9 (SIGKILL)", "workload": "cpu",
         "run": "uvicorn · aiohttp", "load": "c=8"}
    ]  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    (fault,) = load_results(path).faults
    assert (fault.variant, fault.client, fault.load) == ("uvicorn · aiohttp", None, "c=8")
    from djbench.model.names import fault_place

    assert fault_place(fault) == "uvicorn · aiohttp / cpu @ c=8"


def test_a_v6_file_reads_as_every_run_in_its_standard_shape(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "results-small.json").read_text())
    raw["schema"] = "djbench/results/v6"
    raw["faults"] = [
        {"message": "Postgres exited", "workload": "cpu", "variant": "uvicorn", "load": "c=8"}
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    results = load_results(path)
    assert results.schema_ == SCHEMA
    assert all(r.shape is None for r in results.runs)
    assert results.faults[0].shape is None
    by = {(r.variant, r.workload): r for r in results.runs}
    assert run_label(by["uvicorn", "cpu"]) == "uvicorn"


def test_a_v7_file_reads_as_steps_of_no_mix_and_a_mix_s_parts_round_trip(tmp_path: Path) -> None:
    raw = json.loads((FIXTURES / "results-small.json").read_text())
    raw["schema"] = "djbench/results/v7"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    results = load_results(path)
    assert results.schema_ == SCHEMA
    assert all(s.parts is None for r in results.runs for s in r.steps)
    run = results.runs[0]
    lat = run.steps[0].latency_ms
    parts = [
        Part(name="cpu", share=0.3, requests=30, errors=0, latency_ms=lat),
        Part(name="sleep", share=0.7, requests=70, errors=1, latency_ms=lat),
    ]
    step = run.steps[0].model_copy(update={"parts": parts})
    mixed = results.model_copy(update={"runs": [run.model_copy(update={"steps": [step]})]})
    again = load_results(write_results(mixed, tmp_path / "again"))
    assert again.runs[0].steps[0].parts == parts


def test_a_run_in_a_shape_round_trips_named_by_it(tmp_path: Path) -> None:
    results = load_results(FIXTURES / "results-small.json")
    by = {(r.variant, r.workload): r for r in results.runs}
    gthread = by["gunicorn-sync", "cpu"].model_copy(
        update={"shape": Shape(threads=64, workers=2, cpus=0.5), "slots": 128}
    )
    uvicorn = by["uvicorn", "upstream"].model_copy(update={"shape": Shape(workers=1, cpus=2)})
    again = load_results(
        write_results(results.model_copy(update={"runs": [gthread, uvicorn]}), tmp_path)
    )
    assert again.runs == [gthread, uvicorn]
    assert run_label(again.runs[0]) == "gunicorn-sync ×64 threads · 2 workers · 0.5 CPU"
    assert run_label(again.runs[1]) == "uvicorn · 1 worker · 2 CPUs · aiohttp"
    assert again.runs[0].key != by["gunicorn-sync", "cpu"].key
    assert Shape(threads=1).label == "×1 thread · 1 worker · 1 CPU"
    assert Shape(threads=64, workers=2).slots == 128 and Shape(workers=2).slots is None
