"""The cluster reads of ``Kube`` through the real ``kubernetes`` client, against a loopback API
server that answers with recorded objects (fixtures/k8s)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from loopback_api import NOT_FOUND, Answer, LoopbackApi

from djbench.backends.kubernetes.kube import Kube
from djbench.model.errors import DjbenchError

RECORDED = Path(__file__).parents[2] / "fixtures" / "k8s"
JOB = "k6-20261126t070000z-0003"


def _object(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((RECORDED / f"{name}.json").read_text())
    return loaded


def recorded(path: str, query: dict[str, list[str]]) -> tuple[int, object]:
    """The Job's status and its pods, the placement ConfigMap; anything else is a 404."""
    if path == f"/apis/batch/v1/namespaces/djbench/jobs/{JOB}/status":
        return 200, _object("job-complete")
    if path == "/api/v1/namespaces/djbench/configmaps/djbench-placement":
        placement = {"host-cpus": "8", "sut": "6-7", "load": "3-5", "infra": "0-2"}
        return 200, {"kind": "ConfigMap", "metadata": {"name": "djbench-placement"},
                     "data": placement}  # fmt: skip
    if path == "/api/v1/namespaces/djbench/pods":
        return 200, _pod_list(query, [_object("pod-unschedulable"), _object("pod-running")])
    return NOT_FOUND


def _pod_list(query: dict[str, list[str]], pods: list[dict[str, object]]) -> dict[str, object]:
    """The pods whose labels match the query's selector (``key=value,...``), as the API
    server lists them."""
    selector = query.get("labelSelector", [""])[0]
    wanted = dict(term.split("=", 1) for term in selector.split(",") if term)

    def labels(pod: dict[str, object]) -> dict[str, str]:
        meta = pod["metadata"]
        assert isinstance(meta, dict)
        found: dict[str, str] = meta.get("labels") or {}
        return found

    items = [p for p in pods if wanted and wanted.items() <= labels(p).items()]
    return {"apiVersion": "v1", "kind": "PodList", "items": items}


@pytest.fixture
def kube(loopback_api: Callable[[Answer], LoopbackApi]) -> Kube:
    loopback_api(recorded)
    return Kube("djbench", context="rec")


def test_a_job_and_its_pods_read_as_api_objects(kube: Kube) -> None:
    job = kube.job(JOB)
    assert job["kind"] == "Job"
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    pods = kube.job_pods(JOB)
    assert [p["metadata"]["name"] for p in pods] == [
        "k6-20261126t070000z-0003-0-x7k2p",
        "k6-20261126t070000z-0003-1-m9q4z",
    ]
    condition = pods[0]["status"]["conditions"][0]
    assert (condition["type"], condition["reason"]) == ("PodScheduled", "Unschedulable")


def test_a_job_s_pods_are_found_on_a_cluster_older_than_1_27(
    loopback_api: Callable[[Answer], LoopbackApi],
) -> None:
    """Kubernetes 1.24 labels a Job's pods with `controller-uid` and `job-name` only (no
    `batch.kubernetes.io/` labels): the Job's own selector finds them, and a pod left by an
    earlier Job of the same name (deleted, created again) is not its own."""
    pod = _object("pod-running-v1.24")
    stale = copy.deepcopy(pod)
    stale["metadata"]["name"] = f"{JOB}-0-old11"  # type: ignore[index]
    earlier = {"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "uid": "an-earlier-job"}
    stale["metadata"]["ownerReferences"] = [earlier]  # type: ignore[index]
    selectors: list[str] = []

    def old_cluster(path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        if path == f"/apis/batch/v1/namespaces/djbench/jobs/{JOB}/status":
            return 200, _object("job-complete-v1.24")
        if path == "/api/v1/namespaces/djbench/pods":
            selectors.append(query["labelSelector"][0])
            return 200, _pod_list(query, [pod, stale])
        return NOT_FOUND

    loopback_api(old_cluster)
    pods = Kube("djbench", context="rec").job_pods(JOB)
    assert [p["metadata"]["name"] for p in pods] == [f"{JOB}-0-q8w3n"]
    assert selectors == ["controller-uid=0b9e6a52-7d1c-4f3e-8a21-6c4d2e9f1b70"]


def test_a_missing_job_is_one_line(kube: Kube) -> None:
    with pytest.raises(DjbenchError, match=r"^kubernetes: reading job nope: 404 "):
        kube.job("nope")


def test_a_config_map_or_none(kube: Kube) -> None:
    placement = kube.config_map("djbench-placement")
    assert placement == {"host-cpus": "8", "sut": "6-7", "load": "3-5", "infra": "0-2"}
    assert kube.config_map("absent") is None


def _server_pod(cpu: str, qos: str) -> dict[str, object]:
    """A variant's server pod: the recorded Postgres pod's object with a server container of
    ``cpu`` (requests = limits) and the QoS class the API server gave it."""
    pod = copy.deepcopy(_object("pod-postgres-ready"))
    resources = {"cpu": cpu, "memory": "512Mi"}
    pod["metadata"]["name"] = "gunicorn-gthread-7d9c-abcde"  # type: ignore[index]
    pod["spec"]["containers"] = [  # type: ignore[index]
        {"name": "server", "image": "djbench/django:test",
         "resources": {"requests": resources, "limits": dict(resources)}}
    ]  # fmt: skip
    pod["status"]["qosClass"] = qos  # type: ignore[index]
    return pod


@pytest.mark.parametrize(
    ("cpu", "qos", "exclusive"),
    [("1", "Guaranteed", True), ("500m", "Guaranteed", False), ("2", "Burstable", False)],
)
def test_the_server_s_pod_is_recorded_with_its_qos_and_whether_it_may_own_its_cpus(
    loopback_api: Callable[[Answer], LoopbackApi], cpu: str, qos: str, exclusive: bool
) -> None:
    from djbench.backends.kubernetes.pods import instance_selector, server_pod

    def answer(path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        if path == "/api/v1/namespaces/djbench/pods":
            assert query["labelSelector"] == [instance_selector("gunicorn-gthread")]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": [_server_pod(cpu, qos)]}  # fmt: skip
        return NOT_FOUND

    loopback_api(answer)
    pods = Kube("djbench", context="rec").pods(instance_selector("gunicorn-gthread"))
    facts = server_pod(pods)
    assert facts is not None
    assert (facts.name, facts.qos_class) == ("gunicorn-gthread-7d9c-abcde", qos)
    assert (facts.cpu_request, facts.cpu_limit) == (cpu, cpu)
    # Only a Guaranteed pod of whole CPUs may get CPUs of its own from the static policy.
    assert facts.exclusive_cpus is exclusive
    assert server_pod([]) is None
