"""Waiting for a k6 Job from the cluster's own objects: done, failed, or stuck unscheduled.

Pure functions over API objects in their JSON shape (what ``kubectl get -o json`` prints and
the ``kubernetes`` client serialises), so they are tested against recorded objects; the wait
loop takes the readers as arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from djbench.errors import DjbenchError

ApiObject = Mapping[str, Any]
POLL_S = 1.0


def _conditions(obj: ApiObject) -> list[Mapping[str, Any]]:
    status = obj.get("status") or {}
    return [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]


def unschedulable(pods: Iterable[ApiObject]) -> str | None:
    """Why a pod of the Job cannot be placed, in the scheduler's words; None while all can."""
    for pod in pods:
        for condition in _conditions(pod):
            if (
                condition.get("type") == "PodScheduled"
                and condition.get("status") == "False"
                and condition.get("reason") == "Unschedulable"
            ):
                name = (pod.get("metadata") or {}).get("name", "?")
                message = str(condition.get("message") or "no message").strip()
                return f"k6 pod {name} cannot be scheduled: {message}"
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
