"""Latency proxies (``python -m latencyproxy``) between the server and Postgres or the stub API.

One proxy per side that a setup's distance names, started with the server and stopped with it,
on the load CPUs like Postgres and the stub API. Each delays both directions by half the
round-trip time asked for. Its counters (``GET /stats``) are read by the step's sampler, so a
step records the connections and round trips the server made through it in its window.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from djbench.backends.local.processes import ManagedProcess, free_port, wait_http
from djbench.measure.pathcheck import check_path, describe, local_pinger, path_connections
from djbench.measure.proxy_traffic import NAMES, ProxyStats
from djbench.model.errors import DjbenchError
from djbench.model.results import PathCheck
from djbench.model.scenario import Scenario
from latencyproxy.ping import PathName

HOST = "127.0.0.1"
PROXY_ARGV = [
    sys.executable, "-m", "latencyproxy", "--listen", "{listen}", "--upstream", "{target}",
    "--delay-ms", "{delay_ms}", "--jitter-ms", "{jitter_ms}", "--stats", "{stats}",
]  # fmt: skip


@dataclass
class Proxy:
    """One running latency proxy: where the server connects, and where it forwards to."""

    path: PathName
    rtt_ms: float
    port: int
    target: tuple[str, int]
    stats_url: str
    process: ManagedProcess
    stats: ProxyStats = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.stats = ProxyStats(self.path, self._read_stats)

    @property
    def address(self) -> tuple[str, int]:
        """Host and port the server connects to instead of the target."""
        return HOST, self.port

    def _read_stats(self) -> str:
        try:
            return httpx.get(self.stats_url, timeout=1.0).text
        except httpx.HTTPError as exc:
            raise DjbenchError(f"{NAMES[self.path]}: /stats: {exc}") from exc


def latency_proxy(
    path: PathName, rtt_ms: float, target: tuple[str, int], jitter_ms: float, cpus: str, logs: Path
) -> Proxy:
    """A proxy (not yet started) adding ``rtt_ms`` to every round trip towards ``target``."""
    port, stats = free_port(HOST), free_port(HOST)
    values = {
        "listen": f"{HOST}:{port}",
        "target": f"{target[0]}:{target[1]}",
        # Each direction waits half: a request and its answer together wait the round trip.
        "delay_ms": f"{rtt_ms / 2:g}",
        "jitter_ms": f"{jitter_ms:g}",
        "stats": f"{HOST}:{stats}",
    }
    argv = [a.format(**values) for a in PROXY_ARGV]
    # Real-time priority: it shares the load CPUs with k6 and Postgres, and a delay released
    # late because k6 held the CPU would be distance nobody asked for. It only waits on
    # sockets and timers (~35 µs of CPU per round trip), so it cannot starve them.
    process = ManagedProcess(
        NAMES[path], argv, log_path=logs / f"proxy-{path}.log", cpus=cpus, realtime=True
    )
    return Proxy(path, rtt_ms, port, target, f"http://{HOST}:{stats}/stats", process)


@contextlib.contextmanager
def started(proxies: list[Proxy]) -> Iterator[list[Proxy]]:
    """Start every proxy and wait until each answers; all are stopped on the way out."""
    with contextlib.ExitStack() as stack:
        for proxy in proxies:
            stack.callback(proxy.process.stop)
            proxy.process.start()
        for proxy in proxies:
            try:
                wait_http(proxy.stats_url, proxy.process, timeout=30)
            except DjbenchError as exc:
                raise DjbenchError(f"{NAMES[proxy.path]} did not start: {exc}") from exc
        yield proxies


def check_paths(scenario: Scenario, proxies: list[Proxy]) -> list[PathCheck]:
    """Each proxy's added round-trip time at the connections a server may hold on that side
    (pinged from here: locally the harness reaches both ends); a path off its target is a
    one-line error."""
    checks = []
    for proxy in proxies:
        connections = path_connections(scenario, proxy.path)
        ping = local_pinger(proxy.path, proxy.target, proxy.address, connections)
        check = check_path(proxy.path, proxy.rtt_ms, connections, ping)
        if not check.ok:
            raise DjbenchError(describe(check))
        checks.append(check)
    return checks
