"""The Kubernetes backend's own logic, without a cluster: k6 split across pods and merged."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from djbench.backends.kubernetes import (
    cpu_quantity,
    merge_client_stats,
    step_release,
    summaries_from_logs,
)
from djbench.backends.local.processes import free_port, wait_http
from djbench.backends.local.programs import HOST, stub_api
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, find_k6, parse_summary
from djbench.model.errors import DjbenchError
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import LoadStep

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
        "DJBENCH_WARMUP_S": "1",
        "DJBENCH_DURATION_S": "2",
        "DJBENCH_MAX_VUS": "8",
        "DJBENCH_PRE_VUS": "4",
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
    # Each pod's summary carries its quantile function; only there, so each line stays small.
    assert all(len(p.quantiles) == len(contract.QUANTILE_GRID) for p in parts)
    grid_stat = contract.quantile_stat(contract.QUANTILE_GRID[1])
    assert [m for d in docs for m, v in d["metrics"].items() if grid_stat in v["values"]] == [
        "http_req_duration{phase:measure}"
    ] * 2
    assert max(len(line) for line in logs.splitlines()) < 32_000
    merged = merge_client_stats(parts)
    low, high = sorted(p.latency.p50 for p in parts)
    assert low <= merged.latency.p50 <= high
    assert merged.requests == sum(p.requests for p in parts)
    assert abs(merged.requests - 80) <= 2
    assert merged.errors == 0
    assert merged.duration_s == pytest.approx(2.0)


def test_merging_needs_a_summary() -> None:
    with pytest.raises(DjbenchError, match="no k6 summary"):
        merge_client_stats([])


def test_summaries_ignore_other_log_lines() -> None:
    logs = 'time="x" level=warning msg="Request Failed"\n{"not": "a summary"}\n'
    assert summaries_from_logs(logs) == []


def test_step_release_names_are_dns_safe_and_short() -> None:
    name = step_release("20261122T031500Z", 12)
    assert name == "k6-20261122t031500z-0012"
    assert len(name) <= 53
    assert LoadStep("open", 12.5).label == "12.5/s"


def test_cpu_quantities() -> None:
    assert cpu_quantity("1") == 1.0
    assert cpu_quantity("1500m") == 1.5
    assert cpu_quantity("0.5") == 0.5
    assert cpu_quantity("") is None
    assert cpu_quantity("lots") is None


def test_steps_shorter_than_four_scrapes_are_refused(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.backends.kubernetes.kube import Kube
    from djbench.model.scenario_file import load_profile

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
        return ""

    def service(self, name: str) -> dict[str, object] | None:
        return {"metadata": {"name": name}} if name in ("postgres", "stubapi") else None

    def deployment(self, name: str) -> dict[str, object] | None:
        return {"spec": {"replicas": self.replicas}} if name == "stubapi" else None

    def helm(self, *args: str, **_: object) -> str:
        return ""

    def pods(self, label_selector: str) -> list[dict[str, object]]:
        return []

    def server_version(self) -> str | None:
        return "v1.35.0"

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
    """Records the PromQL queries; answers from ``answers`` by the query's metric function."""

    def __init__(self, samples: float | None) -> None:
        super().__init__(1)
        self.queries: list[str] = []
        self.samples = samples

    def prometheus(self, prom: object, query: str, at: float) -> float | None:
        self.queries.append(query)
        if "count_over_time" in query:
            return self.samples
        if self.samples is None:
            return None
        return 3.3 if "container_cpu_usage_seconds_total" in query else 1e6


def _side(tmp_path: Path, samples: float | None, readings: list[tuple[float, float]]) -> Any:
    from djbench.backends.kubernetes import KubeServer
    from djbench.backends.kubernetes.kube import DEFAULT_PROMETHEUS
    from djbench.backends.kubernetes.server_side import server_side
    from djbench.measure.cgroup import CgroupCounters
    from djbench.measure.collectors import CgroupSampler
    from djbench.measure.k6 import ClientStats
    from djbench.model.results import Latency
    from djbench.model.setup import Setup
    from djbench.model.variants import load_variants

    kube = PromQLKube(samples)
    server = KubeServer(
        setup=Setup(load_variants()["uvicorn"], "aiohttp"), url="http://uvicorn:8000",
        service="uvicorn", kube=kube, cpu_budget=1.0,  # type: ignore[arg-type]
    )  # fmt: skip
    sampler = CgroupSampler(lambda: CgroupCounters(2, 0.0, 0, None, None))
    for t, cpu in readings:
        sampler.record(t, CgroupCounters(2, cpu, 80 << 20, None, None))
    zero = Latency(p50=1, p90=1, p95=1, p99=1, max=1)
    stats = ClientStats(100, 0, 0, zero, window_start=1000.0, window_end=1030.0)
    side, quota = server_side(kube, DEFAULT_PROMETHEUS, server, stats, "r-1", sampler)  # type: ignore[arg-type]
    return side, kube, quota


def test_server_cpu_comes_from_the_cgroup_with_cadvisor_beside_it(tmp_path: Path) -> None:
    side, kube, quota = _side(tmp_path, 16, [(990.0, 10.0), (1040.0, 15.0)])
    assert side.cpu_source == "cgroup"
    assert side.cpu_s == pytest.approx(3.0)
    assert side.rss_bytes == 80 << 20
    assert side.throttled_s is None  # no quota: nothing throttles the container
    assert side.cadvisor_cpu_s == 3.3
    assert quota is False  # the run records it: environment.cpu_quota
    assert any("count_over_time" in q and 'container="server"' in q for q in kube.queries)


def test_cadvisor_with_too_few_samples_is_no_cross_check(tmp_path: Path) -> None:
    side, _, _ = _side(tmp_path, 2, [(990.0, 10.0), (1040.0, 15.0)])
    assert (side.cpu_source, side.cadvisor_cpu_s) == ("cgroup", None)


def test_cadvisor_stands_in_when_no_cgroup_reading_was_taken(tmp_path: Path) -> None:
    side, _, _ = _side(tmp_path, 16, [])
    assert (side.cpu_source, side.cpu_s, side.rss_bytes) == ("cadvisor", 3.3, 1e6)


def test_no_server_cpu_from_either_source_fails_the_step(tmp_path: Path) -> None:
    with pytest.raises(DjbenchError, match=r"no cgroup readings.*Prometheus holds 0 cAdvisor"):
        _side(tmp_path, None, [(1010.0, 10.0)])


def test_the_k6_version_comes_from_its_init_container(tmp_path: Path) -> None:
    """The init container runs `k6 version`; its output here is the harness's real k6's."""
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.backends.kubernetes.pods import k6_version_of
    from djbench.measure.k6 import find_k6, k6_version

    printed = subprocess.run(
        [str(find_k6()), "version"], capture_output=True, text=True, check=True
    ).stdout
    assert k6_version_of(printed) == k6_version(find_k6())
    assert k6_version_of("exec format error") is None
    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=RecordedKube(1), run_id="r")  # type: ignore[arg-type]
    assert backend.environment_extra()["k6"] == "grafana/k6:1.1.0 (version not read yet)"
    backend._k6_version = k6_version_of(printed)
    assert backend.environment_extra()["k6"] == k6_version(find_k6())


def test_the_server_cpu_limit_is_read_from_the_deployment() -> None:
    from djbench.backends.kubernetes.pods import server_cpu_limit

    def deployment(*containers: dict[str, object]) -> dict[str, object]:
        return {"spec": {"template": {"spec": {"containers": list(containers)}}}}

    sidecar = {"name": "proxy", "resources": {"limits": {"cpu": "4"}}}
    server = {"name": "server", "resources": {"limits": {"cpu": "1500m"}}}
    assert server_cpu_limit(deployment(sidecar, server)) == 1.5
    assert server_cpu_limit(deployment(sidecar, {"name": "server"})) is None
    assert server_cpu_limit({}) is None


def test_infrastructure_needs_postgres_and_the_stub(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import KubernetesBackend

    class NoStub(RecordedKube):
        def service(self, name: str) -> dict[str, object] | None:
            return None if name == "stubapi" else super().service(name)

    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=NoStub(1), run_id="r")  # type: ignore[arg-type]
    missing = r"service stubapi not found .* run `task up` first"
    with pytest.raises(DjbenchError, match=missing), backend.infrastructure():
        pass


def test_the_kind_placement_is_recorded(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import PLACEMENT_CONFIGMAP, KubernetesBackend
    from djbench.backends.kubernetes.kube import REPO

    # `task up` writes the ConfigMap this name reads.
    assert f"create configmap {PLACEMENT_CONFIGMAP} " in (REPO / "Taskfile.yml").read_text()
    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=RecordedKube(1), run_id="r")  # type: ignore[arg-type]
    facts = backend.environment_extra()
    assert facts["placement"] == {"sut": "6-7", "load": "3-5", "infra": "0-2"}
