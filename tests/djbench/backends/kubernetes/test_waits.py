"""Waits on the cluster say why they would never end: a release's pods read through the real
``kubernetes`` client from a loopback API server (recorded objects' shapes) while helm, a
stand-in that waits as `helm install --wait` does, runs; the prepare Job's resources rendered
by the real helm; no prepare Job left behind however a run ends."""

from __future__ import annotations

import contextlib
import copy
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from loopback_api import NOT_FOUND, Answer, LoopbackApi

from djbench.backends.kubernetes import KubernetesBackend, variant_install_args
from djbench.backends.kubernetes.jobwatch import pod_trouble
from djbench.backends.kubernetes.kube import Kube
from djbench.model.errors import DjbenchError
from djbench.model.scenario_file import parse_scenario
from djbench.model.setup import Setup
from djbench.model.variants import load_variants

RECORDED = Path(__file__).parents[2] / "fixtures" / "k8s"
SCHEDULER = (
    "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


def _prepare_pod(**status: Any) -> dict[str, Any]:
    """The prepare Job's pod of release uvicorn, as the API serves it, with ``status``."""
    pod: dict[str, Any] = json.loads((RECORDED / "pod-unschedulable.json").read_text())
    pod = copy.deepcopy(pod)
    pod["metadata"] = {
        "name": "uvicorn-prepare-x2k9q",
        "namespace": "djbench",
        "labels": {
            "app.kubernetes.io/instance": "uvicorn",
            "app.kubernetes.io/component": "prepare",
            "job-name": "uvicorn-prepare",
        },
    }
    pod["status"] = status
    return pod


UNSCHEDULABLE = _prepare_pod(
    phase="Pending",
    conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": SCHEDULER},
    ],
)  # fmt: skip


def _waiting_helm(tmp_path: Path) -> Path:
    """A helm that waits for a minute, as `helm install --wait` on a pod that never becomes
    ready, noting its pid."""
    helm = tmp_path / "bin" / "helm"
    helm.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'helm.pid'}\nexec sleep 60\n")
    helm.chmod(0o755)
    return helm


def test_an_unschedulable_prepare_job_is_named_within_seconds(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path
) -> None:
    def cluster(path: str, query: dict[str, list[str]]) -> tuple[int, object]:
        if path == "/api/v1/namespaces/djbench/pods":
            assert query["labelSelector"] == ["app.kubernetes.io/instance=uvicorn"]
            return 200, {"apiVersion": "v1", "kind": "PodList", "items": [UNSCHEDULABLE]}
        return NOT_FOUND

    loopback_api(cluster)
    _waiting_helm(tmp_path)
    kube = Kube("djbench", context="rec")
    started = time.monotonic()
    with pytest.raises(DjbenchError) as info:
        kube.helm("upgrade", "--install", "uvicorn", "chart", "--wait", watch="uvicorn",
                  timeout=1800)  # fmt: skip
    assert time.monotonic() - started < 15
    assert str(info.value) == (
        f"uvicorn will not become ready: pod uvicorn-prepare-x2k9q cannot be scheduled: {SCHEDULER}"
    )
    # helm was stopped, not left waiting.
    pid = int((tmp_path / "helm.pid").read_text())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_wait_has_a_stated_limit(
    loopback_api: Callable[[Answer], LoopbackApi], tmp_path: Path
) -> None:
    loopback_api(lambda path, query: (200, {"apiVersion": "v1", "kind": "PodList", "items": []}))
    _waiting_helm(tmp_path)
    with pytest.raises(DjbenchError, match=r"^uvicorn was not ready within 3 s \(kubectl "):
        Kube("djbench", context="rec").helm("upgrade", watch="uvicorn", timeout=3)


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (
            {"phase": "Pending", "containerStatuses": [{"name": "server", "state": {"waiting": {
                "reason": "ImagePullBackOff",
                "message": 'Back-off pulling image "registry.example.com/shop:1.4-djbench"'}}}]},
            'pod uvicorn-prepare-x2k9q: container server ImagePullBackOff: Back-off pulling '
            'image "registry.example.com/shop:1.4-djbench"',
        ),
        (
            {"phase": "Failed", "containerStatuses": [{"name": "prepare-0", "state": {
                "terminated": {"exitCode": 1, "reason": "Error"}}}]},
            "pod uvicorn-prepare-x2k9q: container prepare-0 exited with code 1 (Error)",
        ),
        (
            {"phase": "Running", "containerStatuses": [{"name": "server", "ready": False,
             "state": {"running": {"startedAt": "2026-12-07T10:00:00Z"}}}]},
            None,
        ),
    ],
)  # fmt: skip
def test_pods_that_will_never_be_ready_are_told_from_those_starting(
    status: dict[str, Any], said: str | None
) -> None:
    assert pod_trouble([_prepare_pod(**status)]) == said


def test_the_prepare_job_has_resources_of_its_own(helm: Path) -> None:
    setup = Setup(load_variants()["gunicorn-gthread"], "requests")
    scenario = parse_scenario("duration_s: 30", "x")
    args = variant_install_args(setup, scenario, None, [["python", "manage.py", "migrate"]])
    done = subprocess.run(
        [str(helm), "template", *args[2:], "--namespace", "djbench"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    (job,) = [o for o in objects if o["kind"] == "Job"]
    (server,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    # Small, and no CPU limit: beside its server's whole CPU on the server's node it fits.
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"},
    }  # fmt: skip
    server_resources = server["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert server_resources["requests"]["cpu"] == "1"


class Recorded:
    """helm and kubectl recorded; the cluster's reads answered as a ready release."""

    namespace = "djbench"

    def __init__(self, fail_install: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.fail_install = fail_install

    def helm(self, *args: str, **_: object) -> str:
        self.calls.append(("helm", *args))
        if self.fail_install and args[:2] == ("upgrade", "--install"):
            raise DjbenchError("uvicorn will not become ready: pod uvicorn-prepare-x2k9q …")
        return ""

    def kubectl(self, *args: str, **_: object) -> str:
        self.calls.append(("kubectl", *args))
        return "prepare-0 migrating…\n" if args[0] == "logs" else ""

    def deployment(self, name: str) -> dict[str, object]:
        return {}

    def pods(self, label_selector: str) -> list[dict[str, object]]:
        return []


@pytest.mark.parametrize("ending", ["done", "install failed", "interrupted"])
def test_no_prepare_job_is_left_behind(tmp_path: Path, ending: str) -> None:
    kube = Recorded(fail_install=ending == "install failed")
    backend = KubernetesBackend(
        parse_scenario("duration_s: 30", "x"), out_dir=tmp_path, kube=kube,  # type: ignore[arg-type]
        run_id="r", prepare=[["python", "manage.py", "migrate"]],
    )  # fmt: skip
    setup = Setup(load_variants()["uvicorn"], "aiohttp")
    expected = pytest.raises((DjbenchError, KeyboardInterrupt))
    ends = expected if ending != "done" else contextlib.nullcontext()
    with ends, backend.server(setup):
        if ending == "interrupted":
            raise KeyboardInterrupt
    selector = "app.kubernetes.io/instance=uvicorn,app.kubernetes.io/component=prepare"
    deleted = [c for c in kube.calls if c[:3] == ("kubectl", "delete", "job")]
    assert deleted == [
        ("kubectl", "delete", "job", "--selector", selector, "--ignore-not-found",
         "--cascade=foreground", "--wait=false"),
    ]  # fmt: skip
    # Its logs first, into the run's folder: a failed Job said why there.
    assert (tmp_path / "logs" / "uvicorn-prepare.log").read_text() == "prepare-0 migrating…\n"
    assert ("helm", "uninstall", "uvicorn", "--wait") in kube.calls
