"""Waiting on the cluster from its own objects: a k6 Job done, failed or stuck unscheduled,
and any pod of a release that will never become ready (unschedulable, its image not pulled,
its container crashing or a Job's container failed).

Pure functions over API objects in their JSON shape (what ``kubectl get -o json`` prints and
the ``kubernetes`` client serialises), so they are tested against recorded objects; the wait
loop takes the readers as arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from djbench.model.errors import DjbenchError

ApiObject = Mapping[str, Any]
POLL_S = 1.0


def _conditions(obj: ApiObject) -> list[Mapping[str, Any]]:
    status = obj.get("status") or {}
    return [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]


def pod_selector(job: ApiObject) -> str:
    """The label selector of a Job's pods, from the Job's own ``spec.selector`` (as kubectl
    finds them): ``batch.kubernetes.io/controller-uid=…`` on Kubernetes 1.27 and later,
    ``controller-uid=…`` before; ``job-name=NAME`` (set on every version) for a Job that
    shows none."""
    selector = (job.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") or {}
    if labels:
        return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return f"job-name={(job.get('metadata') or {}).get('name', '')}"


Pod = TypeVar("Pod", bound=ApiObject)


def owned_pods(job: ApiObject, pods: Iterable[Pod]) -> list[Pod]:
    """The pods whose controller is this Job (its uid in their owner references): a Job
    deleted and created again under the same name has other pods."""
    uid = (job.get("metadata") or {}).get("uid")
    if not uid:
        return list(pods)
    return [
        pod
        for pod in pods
        if any(
            ref.get("uid") == uid and ref.get("kind") == "Job"
            for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
        )
    ]


def unschedulable(pods: Iterable[ApiObject], what: str = "k6 pod") -> str | None:
    """Why a pod cannot be placed, in the scheduler's words (``k6 pod NAME cannot be
    scheduled: 0/3 nodes are available: …``); None while all can."""
    for pod in pods:
        for condition in _conditions(pod):
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                name = (pod.get("metadata") or {}).get("name", "?")
                message = str(condition.get("message") or "no message").strip()
                return f"{what} {name} cannot be scheduled: {message}"
    return None


STUCK_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
"""Reasons a container waits that do not pass by themselves (a typo'd image, a missing
Secret, a process that exits at once): a wait on its pod can only time out."""


def pod_trouble(pods: Iterable[ApiObject]) -> str | None:
    """Why a pod will not become ready, in the cluster's own words (the scheduler's message,
    the kubelet's waiting reason, a container's exit); None while none is stuck."""
    pods = list(pods)
    stuck = unschedulable(pods, "pod")
    if stuck:
        return stuck
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "?")
        status = pod.get("status") or {}
        statuses = [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
        for container in statuses:
            state = container.get("state") or {}
            waiting = state.get("waiting") or {}
            if waiting.get("reason") in STUCK_WAITING:
                message = str(waiting.get("message") or "").strip()
                return (
                    f"pod {name}: container {container.get('name', '?')} "
                    f"{waiting['reason']}{': ' + message if message else ''}"
                )
            done = state.get("terminated") or {}
            if done and done.get("exitCode") not in (None, 0) and status.get("phase") == "Failed":
                reason = done.get("reason") or "Error"
                return (
                    f"pod {name}: container {container.get('name', '?')} exited with code "
                    f"{done['exitCode']} ({reason})"
                )
    return None


def job_finished(job: ApiObject) -> bool:
    """True once the Job completed; DjbenchError naming the reason once it failed."""
    for condition in _conditions(job):
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True
        if condition.get("type") == "Failed":
            reason = condition.get("reason") or "Failed"
            message = str(condition.get("message") or "").strip()
            name = (job.get("metadata") or {}).get("name", "?")
            raise DjbenchError(
                f"k6 Job {name} failed ({reason}){': ' + message if message else ''}"
            )
    return False


def wait_for_job(
    read_job: Callable[[], ApiObject],
    list_pods: Callable[[], Iterable[ApiObject]],
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once the Job completed; fail at once if it failed or a pod cannot be scheduled,
    and after ``timeout_s`` otherwise."""
    deadline = clock() + timeout_s
    while True:
        if job_finished(read_job()):
            return
        stuck = unschedulable(list_pods())
        if stuck:
            raise DjbenchError(stuck)
        if clock() >= deadline:
            raise DjbenchError(f"k6 Job did not finish within {timeout_s:.0f}s")
        sleep(POLL_S)
