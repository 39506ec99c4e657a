"""The stub API's Prometheus metrics, kept by hand (the stub image has no prometheus_client).

Plain module-level counters, updated without locks: the stub is one process with one event
loop. Rendering (text exposition format 0.0.4) only happens when /metrics is scraped.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from stubapi.traffic import TRAFFIC

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

# (series name, type, help): what /metrics serves, in this order. The dashboards' tests read
# this table too (tests/grafana/metric_sources.py), so it is the one definition of the names.
METRICS: tuple[tuple[str, str, str], ...] = (
    (
        "djbench_stub_requests_total",
        "counter",
        "Responses of the stub API by HTTP status (every route but /metrics).",
    ),
    ("djbench_stub_in_flight", "gauge", "Requests to /delay/{ms} sleeping right now."),
    (
        "djbench_stub_connections_total",
        "counter",
        "TCP connections accepted (counted when served by python -m stubapi).",
    ),
    (
        "djbench_stub_delay_seconds_total",
        "counter",
        "Delay slept by /delay/{ms} requests (the requested ms, jitter applied), in seconds.",
    ),
    ("process_cpu_seconds_total", "counter", "User + system CPU time of the process, in seconds."),
    ("process_resident_memory_bytes", "gauge", "Resident memory of the process, in bytes."),
)

# Every status the stub answers with, present from the start so rate() sees the first call.
responses: dict[int, int] = dict.fromkeys((200, 400, 404, 405, 500), 0)
delay_seconds = 0.0

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = resource.getpagesize()
_PROC_SELF = Path("/proc/self")


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process (/proc/self/stat, like prometheus_client)."""
    try:
        # The fields after the command name, which is in parentheses and may hold spaces.
        fields = _PROC_SELF.joinpath("stat").read_bytes().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime
    except (OSError, IndexError, ValueError):
        return time.process_time()


def process_resident_memory_bytes() -> int:
    """Resident set size now (/proc/self/statm); peak RSS where there is no /proc."""
    try:
        return int(_PROC_SELF.joinpath("statm").read_bytes().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _samples() -> dict[str, list[tuple[str, float]]]:
    """``(labels, value)`` of each metric's samples, read now."""
    return {
        "djbench_stub_requests_total": [(f'{{status="{s}"}}', n) for s, n in responses.items()],
        "djbench_stub_in_flight": [("", TRAFFIC.in_flight)],
        "djbench_stub_connections_total": [("", TRAFFIC.connections_total)],
        "djbench_stub_delay_seconds_total": [("", delay_seconds)],
        "process_cpu_seconds_total": [("", process_cpu_seconds())],
        "process_resident_memory_bytes": [("", process_resident_memory_bytes())],
    }


def render() -> bytes:
    """The exposition text of every metric in ``METRICS``."""
    samples = _samples()
    lines: list[str] = []
    for name, kind, help_text in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{labels} {value!r}" for labels, value in samples[name]]
    return ("\n".join(lines) + "\n").encode()
