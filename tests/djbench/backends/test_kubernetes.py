"""The Kubernetes backend's own logic, without a cluster: k6 split across pods and merged."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from djbench.backends.kubernetes import (
    cpu_quantity,
    merge_client_stats,
    step_release,
    summaries_from_logs,
)
from djbench.backends.local import HOST, stub_api
from djbench.errors import DjbenchError
from djbench.load.k6 import SCRIPT, find_k6, parse_summary
from djbench.local.processes import free_port, wait_http
from djbench.plan import LoadStep
from djbench.scenario import parse_scenario

RATE = 40.0


@pytest.fixture(scope="module")
def stub_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("stub") / "stub.log"
    proc = stub_api(port, {"PATH": os.environ["PATH"]}, "", log).start()
    try:
        wait_http(f"http://{HOST}:{port}/healthz", proc, timeout=30)
        yield f"http://{HOST}:{port}"
    finally:
        proc.stop()


def _k6_pod(scenario: Path, target: str, index: int, pods: int) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DJBENCH_SCENARIO": str(scenario),
        "DJBENCH_TARGET": target,
        "DJBENCH_VIEWS": "none",  # the stub path has no {views} part
        "DJBENCH_WORKLOAD": "stub",
        "DJBENCH_MODEL": "open",
        "DJBENCH_LEVEL": f"{RATE:g}",
        "DJBENCH_PARALLELISM": str(pods),
        "JOB_COMPLETION_INDEX": str(index),
    }
    return subprocess.Popen(
        [str(find_k6()), "run", "--quiet", "--no-usage-report", str(SCRIPT)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_one_step_split_over_two_pods_adds_up(stub_url: str, tmp_path: Path) -> None:
    """Two k6 processes with the Job's completion indexes share one arrival rate exactly."""
    scenario = parse_scenario("warmup_s: 1\nduration_s: 2\nopen: {rates: [40]}", "s")
    doc = scenario.resolved()
    doc["requests"] = {"stub": {"method": "GET", "path": "/delay/20", "query": {}, "body": None}}
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(doc))
    pods = [_k6_pod(path, stub_url, i, 2) for i in range(2)]
    logs = "\n".join(p.communicate(timeout=60)[0] for p in pods)
    docs = summaries_from_logs(logs)
    assert len(docs) == 2
    assert {d["segment"] for d in docs} == {"0:1/2", "1/2:1"}
    parts = [parse_summary(d, scenario.warmup_s, scenario.duration_s) for d in docs]
    # Each pod drives half the rate (k6 may start one more iteration at the phase's edge):
    # together the scenario's 40 req/s for 2 s.
    assert all(abs(p.requests - 40) <= 1 for p in parts), [p.requests for p in parts]
    latency = parts[0].latency  # stands in for Prometheus' merged histogram here
    merged = merge_client_stats(parts, latency)
    assert merged.requests == sum(p.requests for p in parts)
    assert abs(merged.requests - 80) <= 2
    assert merged.errors == 0
    assert merged.duration_s == pytest.approx(2.0)


def test_merging_needs_the_merged_histogram_for_several_pods() -> None:
    with pytest.raises(DjbenchError, match="no k6 summary"):
        merge_client_stats([], None)


def test_summaries_ignore_other_log_lines() -> None:
    logs = 'time="x" level=warning msg="Request Failed"\n{"not": "a summary"}\n'
    assert summaries_from_logs(logs) == []


def test_step_release_names_are_dns_safe_and_short() -> None:
    name = step_release("20261122T031500Z", 12)
    assert name == "k6-20261122t031500z-0012"
    assert len(name) <= 53
    assert LoadStep("open", 12.5).label == "r=12.5/s"


def test_cpu_quantities() -> None:
    assert cpu_quantity("1") == 1.0
    assert cpu_quantity("1500m") == 1.5
    assert cpu_quantity("0.5") == 0.5
    assert cpu_quantity("") is None
    assert cpu_quantity("lots") is None


def test_steps_shorter_than_four_scrapes_are_refused(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.kube import Kube
    from djbench.scenario import load_profile

    with pytest.raises(DjbenchError, match="at least 20s"):
        KubernetesBackend(
            load_profile("default"), out_dir=tmp_path, kube=Kube("djbench"), run_id="r"
        )
    KubernetesBackend(
        load_profile("kubernetes"), out_dir=tmp_path, kube=Kube("djbench"), run_id="r"
    )


class RecordedKube:
    """Answers kubectl/helm as a cluster whose stub API runs ``replicas`` pods."""

    namespace = "djbench"

    def __init__(self, replicas: int) -> None:
        self.replicas = replicas
        self.proxied: list[tuple[str, int, str]] = []

    def kubectl(self, *args: str, **_: object) -> str:
        if args[:3] == ("get", "deployment", "stubapi"):
            return str(self.replicas)
        return "service/x"

    def helm(self, *args: str, **_: object) -> str:
        return ""

    def config_map(self, name: str) -> dict[str, str] | None:
        return (
            {"sut": "6-7", "load": "3-5", "infra": "0-2"} if name == "djbench-placement" else None
        )

    def service_get(self, service: str, port: int, path: str) -> str:
        self.proxied.append((service, port, path))
        return '{"connections": 2, "calls": 90, "peak_in_flight": 24, "resolution_s": 0.1}'


@pytest.mark.parametrize(("replicas", "counted"), [(1, True), (2, False)])
def test_stub_traffic_is_read_only_from_a_single_stub(
    tmp_path: Path, replicas: int, counted: bool
) -> None:
    from djbench.backends.kubernetes import KubernetesBackend

    kube = RecordedKube(replicas)
    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=kube, run_id="r")  # type: ignore[arg-type]
    with backend.infrastructure():
        assert backend._stub_counts is counted
    traffic = backend._stub_traffic(1000.0, 1030.0)
    assert (traffic.connections, traffic.calls, traffic.peak_in_flight) == (2, 90, 24)
    assert kube.proxied == [("stubapi", 8080, "/stats?from=1000.000&to=1030.000")]


class PromQLKube(RecordedKube):
    """Records the PromQL queries and answers each with one value."""

    def __init__(self) -> None:
        super().__init__(1)
        self.queries: list[str] = []

    def prometheus(self, prom: object, query: str, at: float) -> float | None:
        self.queries.append(query)
        return 0.25


@pytest.mark.parametrize("level", [32.0, 12.5, 1234567.0, 12.3456789])
def test_merged_latency_selects_the_tags_k6_sets(tmp_path: Path, level: float) -> None:
    """The selector is contract.step_tags plus the measured phase: the tags the script sets
    (tests/djbench/load/test_contract.py runs k6 to check that)."""
    import time

    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.load import contract
    from djbench.plan import Setup
    from djbench.variants import load_variants

    kube = PromQLKube()
    backend = KubernetesBackend(
        parse_scenario("duration_s: 30", "x"),
        out_dir=tmp_path,
        kube=kube,
        run_id="run-1",  # type: ignore[arg-type]
    )
    setup = Setup(load_variants()["uvicorn"], "aiohttp")
    latency = backend._merged_latency(setup, "cpu", LoadStep("open", level), time.time() - 60)
    assert latency.p99 == 250.0
    tags = contract.step_tags(
        run="run-1", variant="uvicorn", client="aiohttp", workload="cpu", model="open", level=level
    )
    matchers = {**tags, contract.PHASE_TAG: contract.MEASURE_PHASE}
    for query in kube.queries:
        sel = query[query.index("{") + 1 : query.index("}")]
        assert dict(re.findall(r'(\w+)="([^"]*)"', sel)) == matchers, query


def test_the_kind_placement_is_recorded(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import PLACEMENT_CONFIGMAP, KubernetesBackend
    from djbench.kube import REPO

    # `task up` writes the ConfigMap this name reads.
    assert f"create configmap {PLACEMENT_CONFIGMAP} " in (REPO / "Taskfile.yml").read_text()
    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=RecordedKube(1), run_id="r")  # type: ignore[arg-type]
    facts = backend.environment_extra()
    assert facts["placement"] == {"sut": "6-7", "load": "3-5", "infra": "0-2"}
