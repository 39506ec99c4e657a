"""What a release's pods say, read from their API objects: a container's CPU, the server's
QoS class, restarts since the run began (a fault), readiness, k6's version in its log."""

from __future__ import annotations

from typing import Any

from djbench.backends.kubernetes.releases import (
    SERVER_CONTAINER,
    cpu_quantity,
)
from djbench.model.pod import PodFacts


def server_cpu_limit(deployment: dict[str, Any]) -> float | None:
    """The server container's CPU limit in a Deployment object, in CPUs (None without one)."""
    found = container_cpu(deployment, SERVER_CONTAINER, "limits")
    return None if found is None else cpu_quantity(found)


def server_pod(pods: list[dict[str, Any]]) -> PodFacts | None:
    """The server's pod as the cluster made it: its QoS class, its container's CPU, and
    whether the static CPU manager could pin it (Guaranteed, whole CPUs); None without a
    running pod (a rollout's leaving one is skipped)."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if not live:
        return None
    pod = live[0]
    request = limit = None
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == SERVER_CONTAINER:
            resources = container.get("resources") or {}
            request = (resources.get("requests") or {}).get("cpu")
            limit = (resources.get("limits") or {}).get("cpu")
    qos = (pod.get("status") or {}).get("qosClass")
    cpus = cpu_quantity(str(limit)) if limit is not None else None
    whole = cpus is not None and cpus > 0 and float(cpus).is_integer()
    return PodFacts(
        name=pod["metadata"]["name"],
        qos_class=qos,
        cpu_request=None if request is None else str(request),
        cpu_limit=None if limit is None else str(limit),
        exclusive_cpus=None if qos is None else (qos == "Guaranteed" and whole),
    )


def container_cpu(deployment: dict[str, Any], name: str, kind: str) -> str | None:
    """One container's CPU ``requests`` or ``limits`` in a Deployment object, as written
    (``200m``, ``1``); None without one."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in containers.get("containers") or []:
        if container.get("name") == name:
            found = ((container.get("resources") or {}).get(kind) or {}).get("cpu")
            return None if found in (None, "") else str(found)
    return None


def restart_counts(pods: list[dict[str, Any]]) -> dict[str, int]:
    """Each container's restarts, keyed ``pod uid/container`` (a replaced pod has a new uid)."""
    return {
        _container_key(pod, c): int(c.get("restartCount") or 0)
        for pod in pods
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    }


def instance_selector(release: str) -> str:
    """The label selector of a release's pods (our charts' ``app.kubernetes.io/instance``)."""
    return f"app.kubernetes.io/instance={release}"


def _container_key(pod: dict[str, Any], container: dict[str, Any]) -> str:
    return f"{pod['metadata'].get('uid')}/{container['name']}"


def pods_fault(what: str, pods: list[dict[str, Any]], began: dict[str, int] | None) -> str | None:
    """Why ``what``'s pods are not as the run began with them (``began``: their restart
    counts then; None: not known, only readiness is checked); None when nothing is wrong."""
    if not pods:
        return f"{what} has no pod"
    for pod in pods:
        name = f"{what} pod {pod['metadata']['name']}"
        if pod["metadata"].get("deletionTimestamp"):
            return f"{name} is being deleted"
        status = pod.get("status") or {}
        if began is not None and (restarted := _restarted(name, pod, began)) is not None:
            return restarted
        conditions = status.get("conditions") or []
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            return f"{name} is not ready: {_unready(status, ready)}"
    return None


def _restarted(name: str, pod: dict[str, Any], began: dict[str, int]) -> str | None:
    """A container of the pod that restarted since ``began``, or the pod is new."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        before = began.get(_container_key(pod, container))
        restarts = int(container.get("restartCount") or 0)
        if before is None:
            return f"{name} was replaced since the run began"
        if restarts > before:
            return (
                f"{name} restarted since the run began: container {container['name']}, "
                f"{restarts - before} restart(s){_last_exit(container)}"
            )
    return None


def _last_exit(container: dict[str, Any]) -> str:
    """``, last exit OOMKilled (exit code 137, signal 9)`` from a container's last state."""
    ended = (container.get("lastState") or {}).get("terminated")
    if not ended:
        return ""
    code = ended.get("exitCode")
    signal = f", signal {code - 128}" if isinstance(code, int) and code > 128 else ""
    return f", last exit {ended.get('reason') or 'unknown'} (exit code {code}{signal})"


def _unready(status: dict[str, Any], ready: dict[str, Any]) -> str:
    """``container postgres waiting (CrashLoopBackOff)``, else what the Ready condition says,
    else the pod's phase."""
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return f"container {c['name']} waiting ({waiting.get('reason') or 'no reason'})"
    said = ready.get("message") or ready.get("reason")
    return str(said) if said else f"phase {status.get('phase') or 'unknown'}"


def k6_version_of(log: str) -> str | None:
    """The version in ``k6 version``'s output (``k6 v1.1.0 (go1.24.4, linux/amd64)``)."""
    words = log.split()
    return words[1] if len(words) > 1 and words[0] == "k6" else None
