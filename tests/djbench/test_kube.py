"""The cluster reads of ``Kube`` through the real ``kubernetes`` client, against a loopback API
server that answers with recorded objects (fixtures/k8s)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from loopback_api import NOT_FOUND, Answer, LoopbackApi

from djbench.errors import DjbenchError
from djbench.kube import Kube

RECORDED = Path(__file__).parent / "fixtures" / "k8s"
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
        selector = query.get("labelSelector", [""])[0]
        items = [_object("pod-unschedulable"), _object("pod-running")]
        if selector != f"batch.kubernetes.io/job-name={JOB}":
            items = []
        return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
    return NOT_FOUND


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


def test_a_missing_job_is_one_line(kube: Kube) -> None:
    with pytest.raises(DjbenchError, match=r"^kubernetes: reading job nope: 404 "):
        kube.job("nope")


def test_a_config_map_or_none(kube: Kube) -> None:
    placement = kube.config_map("djbench-placement")
    assert placement == {"host-cpus": "8", "sut": "6-7", "load": "3-5", "infra": "0-2"}
    assert kube.config_map("absent") is None
