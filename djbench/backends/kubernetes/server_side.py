"""The server's side of a Kubernetes step: the release as a server, its container's cgroup read
through exec while the step runs, and cAdvisor's figures in Prometheus beside them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from djbench.backends.kubernetes.kube import Kube, PrometheusRef
from djbench.backends.kubernetes.promql import selector, usage_queries
from djbench.backends.kubernetes.releases import K6_CONTAINER, SERVER_CONTAINER
from djbench.backends.steps import ServerSide
from djbench.measure.cgroup import parse_counters, read_command
from djbench.measure.collectors import CgroupSampler
from djbench.measure.k6 import ClientStats
from djbench.measure.proxy_traffic import ProxyStats
from djbench.model.errors import DjbenchError
from djbench.model.pod import PodFacts
from djbench.model.results import PathCheck
from djbench.model.setup import Setup
from djbench.model.variants import Variant

CGROUP_INTERVAL_S = 1.0
"""Between two readings of the server's cgroup: each is one short shell in its container."""


CGROUP_READ_TIMEOUT_S = 10.0


CADVISOR_MIN_SAMPLES = 4
"""cAdvisor samples of the server a window needs before its figure is worth comparing."""


@dataclass
class KubeServer:
    """A variant running as a helm release."""

    setup: Setup
    url: str
    service: str
    kube: Kube
    cpu_budget: float = 1.0
    """The server container's CPU limit, in CPUs."""
    paths: list[PathCheck] = field(default_factory=list)
    """The added round-trip times measured through its latency proxies (none: direct)."""
    proxies: list[ProxyStats] = field(default_factory=list)
    """The counters of the latency proxies between it and Postgres / the stub API."""
    pod: PodFacts | None = None
    """Its pod as the cluster made it, read once it was ready."""

    @property
    def variant(self) -> Variant:
        """The variant this release runs."""
        return self.setup.variant

    def alive(self) -> bool:
        """True while the variant's Deployment has a ready pod."""
        try:
            found = self.kube.deployment(self.service)
        except DjbenchError:
            return False
        return bool(found and (found.get("status") or {}).get("readyReplicas"))

    def describe_exit(self) -> str:
        """The pod's last log lines."""
        try:
            pod = self.kube.running_pod(self.service)
            tail = self.kube.pod_log(pod, SERVER_CONTAINER, tail=5)
        except DjbenchError as exc:
            tail = str(exc)
        return f"{self.variant.name} has no ready pod: {tail.strip()}"


def cgroup_sampler(kube: Kube, server: KubeServer) -> CgroupSampler:
    """Readings of the server container's cgroup through exec (the pod of this step: a
    restarted pod has a new name)."""
    pod = kube.running_pod(server.service)
    command = read_command()
    return CgroupSampler(
        lambda: parse_counters(
            kube.exec(pod, SERVER_CONTAINER, command, timeout=CGROUP_READ_TIMEOUT_S)
        ),
        interval_s=CGROUP_INTERVAL_S,
    )


def server_side(
    kube: Kube,
    prometheus: PrometheusRef | None,
    server: KubeServer,
    stats: ClientStats,
    release: str,
    sampler: CgroupSampler,
) -> tuple[ServerSide, bool | None]:
    """The cgroup's figures for the window, with cAdvisor's beside them when Prometheus
    holds enough samples; cAdvisor alone only when no cgroup reading could be taken. Also
    whether the container has a CFS quota (None: no cgroup reading said)."""
    ns = kube.namespace
    window = f"{stats.duration_s:.0f}s"
    at = stats.window_end
    # Deployment pods are <release>-<replicaset hash>-<suffix>: a bare prefix would also
    # match longer variant names (uvicorn vs uvicorn-s2a).
    pods = selector(
        namespace=ns, pod=f"{server.service}-[a-z0-9]+-[a-z0-9]+", container=SERVER_CONTAINER
    )
    # container= keeps cAdvisor's pod-level series (container="") out of the sums.
    k6_pods = selector(namespace=ns, pod=f"{release}-[0-9]+-[a-z0-9]+", container=K6_CONTAINER)
    found: dict[str, float | None] = {}
    with contextlib.suppress(DjbenchError):  # Prometheus is a cross-check, not a need
        found = {
            k: _query(kube, prometheus, q, at)
            for k, q in usage_queries(pods, k6_pods, window).items()
        }
    samples = found.get("cpu_samples")
    cadvisor = found.get("cpu_s") if (samples or 0) >= CADVISOR_MIN_SAMPLES else None
    try:
        cgroup = sampler.window(stats.window_start, stats.window_end)
    except DjbenchError as exc:
        rss = found.get("rss")
        if cadvisor is None or rss is None:
            raise DjbenchError(
                f"no server CPU for the step: {exc}; and Prometheus holds "
                f"{samples or 0:.0f} cAdvisor samples of {pods} in it"
            ) from exc
        side = ServerSide(
            cpu_s=cadvisor, rss_bytes=rss, cpu_budget=server.cpu_budget,
            load_cpu_s=found.get("load_cpu_s"), throttled_s=found.get("throttled_s"),
            cpu_source="cadvisor",
        )  # fmt: skip
        return side, None
    side = ServerSide(
        cpu_s=cgroup.cpu_s, rss_bytes=cgroup.rss_bytes, cpu_budget=server.cpu_budget,
        load_cpu_s=found.get("load_cpu_s"), throttled_s=cgroup.throttled_s,
        cpu_source="cgroup", cadvisor_cpu_s=cadvisor,
    )  # fmt: skip
    return side, cgroup.quota_cpus is not None


def _query(kube: Kube, prometheus: PrometheusRef | None, promql: str, at: float) -> float | None:
    if prometheus is None:
        raise DjbenchError("no Prometheus (--prometheus none)")
    return kube.prometheus(prometheus, promql, at)
