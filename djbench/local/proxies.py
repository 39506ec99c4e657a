"""Latency proxies (``python -m latencyproxy``) between the server and Postgres or the stub API.

One proxy per side that a setup's distance names, started with the server and stopped with it,
on the load CPUs like Postgres and the stub API. Each delays both directions by half the
round-trip time asked for. Its counters (``GET /stats``) are read by the step's sampler, so a
step records the connections and round trips the server made through it in its window.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from djbench.errors import DjbenchError
from djbench.local.processes import ManagedProcess, free_port, wait_http

HOST = "127.0.0.1"
PathName = Literal["db", "upstream"]
PROXY_ARGV = [
    sys.executable, "-m", "latencyproxy", "--listen", "{listen}", "--upstream", "{target}",
    "--delay-ms", "{delay_ms}", "--jitter-ms", "{jitter_ms}", "--stats", "{stats}",
]  # fmt: skip
NAMES: dict[PathName, str] = {
    "db": "the latency proxy to Postgres",
    "upstream": "the latency proxy to the stub API",
}
COUNTERS = ("connections", "round_trips")
"""The cumulative counters of ``/stats`` a step differences over its window."""
FRESH_S = 0.02
"""Counter reads this close together share one ``/stats`` request."""


@dataclass
class Proxy:
    """One running latency proxy: where the server connects, and where it forwards to."""

    path: PathName
    rtt_ms: float
    port: int
    target: tuple[str, int]
    stats_url: str
    process: ManagedProcess
    _cache: tuple[float, dict[str, float]] | None = field(default=None, repr=False)

    @property
    def address(self) -> tuple[str, int]:
        """Host and port the server connects to instead of the target."""
        return HOST, self.port

    def counters(self) -> dict[str, float] | None:
        """The proxy's cumulative counters (``COUNTERS``), None when it does not answer."""
        now = time.monotonic()
        if self._cache is not None and now - self._cache[0] < FRESH_S:
            return self._cache[1]
        try:
            doc = json.loads(httpx.get(self.stats_url, timeout=1.0).text)
            values = {name: float(doc[name]) for name in COUNTERS}
        except (httpx.HTTPError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        self._cache = (now, values)
        return values

    def counter(self, name: str) -> float | None:
        """One counter, for the sampler (the read is shared with the others)."""
        values = self.counters()
        return None if values is None else values[name]


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
