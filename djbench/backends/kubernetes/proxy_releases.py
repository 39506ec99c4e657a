"""A Kubernetes server's latency proxies: a release per side its distance names, ready, its added
round trip checked in its own pod before the variant exists, watched while it serves."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

from djbench.backends.kubernetes.kube import Kube
from djbench.backends.kubernetes.pods import container_cpu, instance_selector, restart_counts
from djbench.backends.kubernetes.releases import (
    INSTALL_TIMEOUT_S,
    PROXY_CONTAINER,
    PROXY_STATS_PORT,
    PROXY_TARGETS,
    WATCH_SLACK_S,
    proxy_install_args,
    proxy_release,
    proxy_sides,
)
from djbench.measure.pathcheck import (
    Pinger,
    check_path,
    describe,
    parse_pairs,
    path_connections,
    ping_command,
)
from djbench.measure.proxy_traffic import NAMES, ProxyStats
from djbench.model.errors import DjbenchError
from djbench.model.results import PathCheck
from djbench.model.scenario import Scenario
from djbench.model.setup import Setup
from latencyproxy.ping import PathName

PING_TIMEOUT_S = 120.0
"""For one path check's pings in the proxy's pod (a few seconds at 200 ms)."""


def install_proxies(
    kube: Kube,
    scenario: Scenario,
    setup: Setup,
    stack: contextlib.ExitStack,
    values_args: list[str],
    restarts: dict[PathName, dict[str, int]],
    uninstall: Callable[[str], None],
) -> tuple[list[PathCheck], list[ProxyStats]]:
    """A proxy's release for each side the setup's distance names, ready, and its added
    round trip checked at the connections a server may hold, before the variant exists
    (nothing else crosses it yet); each is uninstalled (``uninstall``), no longer watched
    (``restarts``: the restarts each proxy's pod began with), on the way out."""
    checks, proxies = [], []
    for path, rtt_ms in proxy_sides(setup.distance):
        release = proxy_release(path)
        stack.callback(uninstall, release)
        stack.callback(restarts.pop, path, None)
        try:
            kube.helm(
                *proxy_install_args(path, rtt_ms, scenario.network.jitter_ms),
                *values_args,
                "--wait", "--timeout", f"{INSTALL_TIMEOUT_S}s",
                watch=release, timeout=INSTALL_TIMEOUT_S + WATCH_SLACK_S,
            )  # fmt: skip
            pod = kube.running_pod(release)
        except DjbenchError as exc:
            raise DjbenchError(f"{NAMES[path]} did not start: {exc}") from exc
        restarts[path] = restart_counts(kube.pods(instance_selector(release)))
        connections = path_connections(scenario, path)
        # Pod networking has a tail of its own, which the straight pings measure.
        check = check_path(
            path, rtt_ms, connections, _pinger(kube, pod, path, connections),
            noise="network",
            proxy_cpu=container_cpu(kube.deployment(release) or {}, PROXY_CONTAINER,
                                    "requests"),
        )  # fmt: skip
        if not check.ok:
            raise DjbenchError(describe(check))
        checks.append(check)
        proxies.append(ProxyStats(path, functools.partial(_proxy_stats, kube, release)))
    return checks, proxies


def _pinger(kube: Kube, pod: str, path: PathName, connections: int) -> Pinger:
    """Pings taken inside the proxy's pod: its target straight, and itself on loopback
    (the harness cannot reach Postgres; the pod reaches both)."""
    target = PROXY_TARGETS[path]
    through = ("127.0.0.1", target[1])  # the chart's listenPort is the target's port

    def ping(pings: int) -> list[tuple[float, float]]:
        command = ping_command(path, target, through, connections, pings)
        out = kube.exec(pod, PROXY_CONTAINER, command, timeout=PING_TIMEOUT_S)
        return parse_pairs(out)

    return ping


def _proxy_stats(kube: Kube, release: str) -> str:
    """A proxy's GET /stats through the API server's service proxy."""
    return kube.service_get(release, PROXY_STATS_PORT, "/stats")
