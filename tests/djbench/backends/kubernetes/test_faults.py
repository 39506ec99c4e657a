"""Postgres, the stub API and the latency proxies watched on a cluster: their pods read through
the real ``kubernetes`` client from a loopback API server that answers with pod objects in the
API's shape (fixtures/k8s/pod-*.json); helm and exec recorded."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loopback_api import NOT_FOUND, Answer, LoopbackApi

from djbench.backends.kubernetes import KubernetesBackend
from djbench.backends.kubernetes.backend import INFRASTRUCTURE_PODS
from djbench.backends.kubernetes.kube import Kube
from djbench.backends.kubernetes.pods import pods_fault, restart_counts
from djbench.model.errors import DjbenchError
from djbench.model.results import Distance
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import Setup
from djbench.model.variants import load_variants

RECORDED = Path(__file__).parents[2] / "fixtures" / "k8s"
POSTGRES = INFRASTRUCTURE_PODS["Postgres"]
STUB = INFRASTRUCTURE_PODS["the stub API"]


def _pod(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((RECORDED / f"{name}.json").read_text())
    return loaded


def test_pods_as_the_run_began_are_no_fault() -> None:
    pods = [_pod("pod-postgres-ready")]
    assert pods_fault("Postgres", pods, restart_counts(pods)) is None
    assert pods_fault("Postgres", pods, None) is None


def test_a_restarted_container_is_named_with_its_last_exit() -> None:
    began = restart_counts([_pod("pod-postgres-ready")])
    assert pods_fault("Postgres", [_pod("pod-postgres-restarted")], began) == (
        "Postgres pod postgres-0 restarted since the run began: container postgres, "
        "1 restart(s), last exit OOMKilled (exit code 137, signal 9)"
    )


def test_a_pod_that_is_not_ready_or_gone_is_a_fault() -> None:
    ready, unready = _pod("pod-stubapi-ready"), _pod("pod-stubapi-unready")
    began = restart_counts([ready])
    assert pods_fault("the stub API", [unready], began) == (
        "the stub API pod stubapi-6d5f7c9b8-k2v7q is not ready: "
        "containers with unready status: [stubapi]"
    )
    crashing = copy.deepcopy(unready)
    crashing["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting"}
    }
    assert pods_fault("the stub API", [crashing], began) == (
        "the stub API pod stubapi-6d5f7c9b8-k2v7q is not ready: "
        "container stubapi waiting (CrashLoopBackOff)"
    )
    assert pods_fault("the stub API", [], began) == "the stub API has no pod"
    deleting = copy.deepcopy(ready)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-26T07:05:00Z"
    assert pods_fault("the stub API", [deleting], began) == (
        "the stub API pod stubapi-6d5f7c9b8-k2v7q is being deleted"
    )


def test_a_replaced_pod_is_a_fault_even_under_the_same_name() -> None:
    """A StatefulSet's replacement pod keeps the name (postgres-0), not the uid."""
    began = restart_counts([_pod("pod-postgres-ready")])
    replaced = _pod("pod-postgres-ready")
    replaced["metadata"]["uid"] = "11111111-2222-4333-8444-555555555555"
    assert pods_fault("Postgres", [replaced], began) == (
        "Postgres pod postgres-0 was replaced since the run began"
    )


class Cluster:
    """Pods by label selector from ``pods``; the two Services exist; anything else is 404."""

    def __init__(self) -> None:
        self.pods: dict[str, list[dict[str, Any]]] = {
            POSTGRES: [_pod("pod-postgres-ready")],
            STUB: [_pod("pod-stubapi-ready")],
        }
        self.selectors: list[str] = []

    def __call__(self, path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        if path == "/api/v1/namespaces/djbench/pods":
            selector = query.get("labelSelector", [""])[0]
            self.selectors.append(selector)
            items = self.pods.get(selector, [])
            return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
        if path in (
            "/api/v1/namespaces/djbench/services/postgres",
            "/api/v1/namespaces/djbench/services/stubapi",
        ):
            return 200, {"kind": "Service", "metadata": {"name": path.rsplit("/", 1)[1]}}
        return NOT_FOUND


class NoHelm(Kube):
    """The cluster's API for real; helm (re-seeding Postgres) answers nothing."""

    def helm(self, *args: str, **_: object) -> str:
        return ""


def test_a_restart_during_the_run_is_found_through_the_api(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path
) -> None:
    cluster = Cluster()
    api = loopback_api(cluster)
    kube = NoHelm("djbench", context="rec")
    scenario = parse_scenario("duration_s: 30", "x")
    backend = KubernetesBackend(scenario, out_dir=tmp_path, kube=kube, run_id="r")
    with backend.infrastructure():
        # The selectors the charts' pods carry: the StatefulSet's, not the seed Job's.
        assert cluster.selectors == [
            "app.kubernetes.io/instance=postgres,app.kubernetes.io/component=database",
            "app.kubernetes.io/instance=stubapi",
        ]
        assert backend.infrastructure_fault() is None
        cluster.pods[POSTGRES] = [_pod("pod-postgres-restarted")]
        assert backend.infrastructure_fault() == (
            "Postgres pod postgres-0 restarted since the run began: container postgres, "
            "1 restart(s), last exit OOMKilled (exit code 137, signal 9)"
        )
        cluster.pods[POSTGRES] = [_pod("pod-postgres-ready")]
        cluster.pods[STUB] = [_pod("pod-stubapi-unready")]
        assert (backend.infrastructure_fault() or "").startswith(
            "the stub API pod stubapi-6d5f7c9b8-k2v7q is not ready"
        )
        # An API server that does not answer is no evidence of a fault (the next question
        # still sees a restart: it stays in restartCount).
        api.stop()
        assert backend.infrastructure_fault() is None


PROXY = "app.kubernetes.io/instance=latencyproxy-db"
PROXY_POD = "latencyproxy-db-7c9f8d6b5-x4k2p"


class ProxiedKube(Kube):
    """The cluster's API for real; helm and exec recorded, the pings exec'd in a proxy's pod
    answered as by a proxy adding ``added_ms`` to each round trip."""

    def __init__(self, added_ms: float) -> None:
        super().__init__("djbench", context="rec")
        self.added_ms = added_ms
        self.calls: list[tuple[str, ...]] = []

    def helm(self, *args: str, **_: object) -> str:
        self.calls.append(("helm", *args))
        return ""

    def exec(self, pod: str, container: str, command: list[str], timeout: float = 30) -> str:
        self.calls.append(("exec", pod, container, *command))
        option = dict(zip(command[3::2], command[4::2], strict=True))
        count = int(option["--connections"]) * int(option["--pings"])
        straight = [1.0 + (i % 5) / 10 for i in range(count)]
        return json.dumps({"pairs_ms": [[s, s + self.added_ms] for s in straight]})


def _restarted_proxy() -> dict[str, Any]:
    pod = _pod("pod-latencyproxy-db-ready")
    status = pod["status"]["containerStatuses"][0]
    status["restartCount"] = 1
    status["lastState"] = {"terminated": {"reason": "Error", "exitCode": 1}}
    return pod


def _distant_backend(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path, added_ms: float
) -> tuple[KubernetesBackend, ProxiedKube, Cluster]:
    cluster = Cluster()
    cluster.pods[PROXY] = [_pod("pod-latencyproxy-db-ready")]
    loopback_api(cluster)
    kube = ProxiedKube(added_ms)
    scenario = parse_scenario("duration_s: 30\nnetwork: {db_rtt_ms: [100]}", "x")
    return KubernetesBackend(scenario, out_dir=tmp_path, kube=kube, run_id="r"), kube, cluster


def _setup() -> Setup:
    return Setup(load_variants()["gunicorn-gthread"], "httpx2", Distance(db_rtt_ms=100))


def test_a_variant_at_a_distance_sits_behind_its_checked_and_watched_proxy(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path
) -> None:
    backend, kube, cluster = _distant_backend(loopback_api, tmp_path, added_ms=100.0)
    with backend.infrastructure():
        with backend.server(_setup()) as server:
            assert [(c.path, c.connections, c.p50_ms, c.ok) for c in server.paths] == [
                ("db", 16, 100.0, True)  # the scenario's pool: 16 connections at most
            ]
            assert [p.path for p in server.proxies] == ["db"]
            assert backend.infrastructure_fault() is None
            cluster.pods[PROXY] = [_restarted_proxy()]
            assert backend.infrastructure_fault() == (
                f"the latency proxy to Postgres pod {PROXY_POD} restarted since the run began: "
                "container latencyproxy, 1 restart(s), last exit Error (exit code 1)"
            )
        # Uninstalled with the variant: no longer watched.
        assert backend.infrastructure_fault() is None
    installs = [c[3] for c in kube.calls if c[:3] == ("helm", "upgrade", "--install")]
    assert installs == ["latencyproxy-db", "gunicorn-gthread"]
    # The pings ran in the proxy's pod: Postgres straight, the proxy itself on loopback.
    (ping,) = [c for c in kube.calls if c[0] == "exec"]
    assert ping[1:7] == (PROXY_POD, "latencyproxy", "python", "-m", "latencyproxy.ping", "--path")
    assert ping[7:12] == ("db", "--straight", "postgres:5432", "--through", "127.0.0.1:5432")
    variant = next(
        c for c in kube.calls if c[:4] == ("helm", "upgrade", "--install", "gunicorn-gthread")
    )
    assert "database.host=latencyproxy-db" in variant
    uninstalls = [c[2] for c in kube.calls if c[:2] == ("helm", "uninstall")]
    assert uninstalls == ["gunicorn-gthread", "latencyproxy-db"]


def test_a_proxy_off_its_target_fails_the_start_before_the_variant(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("djbench.measure.pathcheck.RETRY_PAUSE_S", 0.0)
    backend, kube, _ = _distant_backend(loopback_api, tmp_path, added_ms=60.0)
    off = (
        r"^db path: added round trip p50 60\.0 ms, p99 60\.0 ms at 16 connections "
        r"\(target 100 ms ± 1 ms \+ 5%; p99 also ± the straight path's own 0\.2 ms; "
        r"attempt 3\)$"
    )
    with (
        backend.infrastructure(),
        pytest.raises(DjbenchError, match=off),
        backend.server(_setup()),
    ):
        pass
    installs = [c[3] for c in kube.calls if c[:3] == ("helm", "upgrade", "--install")]
    assert installs == ["latencyproxy-db"]
    assert [c[2] for c in kube.calls if c[:2] == ("helm", "uninstall")] == ["latencyproxy-db"]
    assert backend.infrastructure_fault() is None
