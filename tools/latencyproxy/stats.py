"""What the proxy did: cumulative counters, served as JSON (/stats) and Prometheus text (/metrics).

Plain ints on one object, updated without locks: the proxy is one process with one event loop.
Rendering (text exposition format 0.0.4) only happens when a scraper asks. The proxy image has
no prometheus_client, so the text is kept by hand, like the stub API's (stubapi.metrics).
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path
from typing import Any

from latencyproxy.settings import Settings

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

DIRECTIONS = ("client_to_upstream", "upstream_to_client")
"""The ``direction`` label of ``djbench_proxy_bytes_total``."""

# (series name, type, help): what /metrics serves, in this order; the one definition of the names.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("djbench_proxy_connections_total", "counter", "Client connections accepted."),
    (
        "djbench_proxy_connections_open",
        "gauge",
        "Relayed connections open now (accepted, not yet closed on both sides).",
    ),
    ("djbench_proxy_connections_open_peak", "gauge", "The most relayed connections open at once."),
    (
        "djbench_proxy_upstream_connect_failures_total",
        "counter",
        "Client connections closed because the upstream could not be connected.",
    ),
    (
        "djbench_proxy_round_trips_total",
        "counter",
        "Turns: client data arriving first on a connection or after upstream data.",
    ),
    ("djbench_proxy_bytes_total", "counter", "Bytes received by the proxy, by direction."),
    (
        "djbench_proxy_delay_seconds",
        "gauge",
        "Delay added to each direction (the round trip grows by twice this).",
    ),
    ("djbench_proxy_jitter_seconds", "gauge", "Jitter of the delay: uniform within ± this."),
    ("process_cpu_seconds_total", "counter", "User + system CPU time of the process, in seconds."),
    ("process_resident_memory_bytes", "gauge", "Resident memory of the process, in bytes."),
)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = resource.getpagesize()
_PROC_SELF = Path("/proc/self")


class Stats:
    """Cumulative counters of one proxy process."""

    __slots__ = (
        "bytes_client_to_upstream",
        "bytes_upstream_to_client",
        "connections",
        "connections_open",
        "connections_open_peak",
        "round_trips",
        "upstream_connect_failures",
    )

    def __init__(self) -> None:
        self.connections = 0  # client connections accepted (as the stub API's /stats names them)
        self.connections_open = 0  # accepted, not yet closed on both sides
        self.connections_open_peak = 0
        self.upstream_connect_failures = 0  # each closed the client's connection
        self.round_trips = 0  # turns: a client's first data, and each after upstream data
        self.bytes_client_to_upstream = 0  # received, counted on arrival
        self.bytes_upstream_to_client = 0

    def opened(self) -> None:
        """A client connection was accepted."""
        self.connections += 1
        self.connections_open += 1
        if self.connections_open > self.connections_open_peak:
            self.connections_open_peak = self.connections_open

    def closed(self) -> None:
        """A relayed connection is closed on both sides."""
        self.connections_open -= 1


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process (/proc/self/stat, like prometheus_client)."""
    try:
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = _PROC_SELF.joinpath("stat").read_bytes().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return time.process_time()


def peak_resident_memory_bytes() -> int:
    """The most resident memory the process has held (VmHWM of /proc/self/status).

    Not getrusage's ru_maxrss where there is /proc: Linux keeps that across exec, so a proxy
    started by a big process would report its parent's size at the fork.
    """
    try:
        for line in _PROC_SELF.joinpath("status").read_bytes().splitlines():
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, IndexError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def process_resident_memory_bytes() -> int:
    """Resident set size now (/proc/self/statm); the peak where there is no /proc."""
    try:
        return int(_PROC_SELF.joinpath("statm").read_bytes().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def snapshot(stats: Stats, settings: Settings) -> dict[str, Any]:
    """The body of ``GET /stats``: the settings, the counters, the process's CPU and memory."""
    return {
        **settings.describe(),
        **{name: getattr(stats, name) for name in sorted(Stats.__slots__)},
        "cpu_seconds": process_cpu_seconds(),
        "resident_memory_bytes": process_resident_memory_bytes(),
        "peak_resident_memory_bytes": peak_resident_memory_bytes(),
    }


def render_json(stats: Stats, settings: Settings) -> bytes:
    """``snapshot`` as JSON."""
    return json.dumps(snapshot(stats, settings)).encode()


def _samples(stats: Stats, settings: Settings) -> dict[str, list[tuple[str, float]]]:
    """``(labels, value)`` of each metric's samples, read now."""
    by_direction = (stats.bytes_client_to_upstream, stats.bytes_upstream_to_client)
    return {
        "djbench_proxy_connections_total": [("", stats.connections)],
        "djbench_proxy_connections_open": [("", stats.connections_open)],
        "djbench_proxy_connections_open_peak": [("", stats.connections_open_peak)],
        "djbench_proxy_upstream_connect_failures_total": [("", stats.upstream_connect_failures)],
        "djbench_proxy_round_trips_total": [("", stats.round_trips)],
        "djbench_proxy_bytes_total": [
            (f'{{direction="{d}"}}', n) for d, n in zip(DIRECTIONS, by_direction, strict=True)
        ],
        "djbench_proxy_delay_seconds": [("", settings.delay_s)],
        "djbench_proxy_jitter_seconds": [("", settings.jitter_s)],
        "process_cpu_seconds_total": [("", process_cpu_seconds())],
        "process_resident_memory_bytes": [("", process_resident_memory_bytes())],
    }


def render_metrics(stats: Stats, settings: Settings) -> bytes:
    """The exposition text of every metric in ``METRICS``."""
    samples = _samples(stats, settings)
    lines: list[str] = []
    for name, kind, help_text in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {value!r}" for labels, value in samples[name]]
    return ("\n".join(lines) + "\n").encode()
