"""The machine's load from outside this test session, counted independently of the harness.

A test that judges the harness's outside-load reading needs to know what the machine really
had: on an idle machine the harness must read (almost) nothing; beside ``stress --cpu 1`` it
must read up to one CPU, and a test that demanded nothing there would fail for the right answer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

# /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice.
# User, nice and system: processes' own time, which is what this session's count can be
# subtracted from; and steal, the hypervisor's (another machine's work, never this session's).
# Interrupt time is left out: it belongs to no process, this session's own packets included.
_PROCESS_FIELDS = slice(0, 3)
_STEAL = 7


def _machine_cpu_s() -> float:
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    steal = fields[_STEAL] if len(fields) > _STEAL else 0
    return (sum(fields[_PROCESS_FIELDS]) + steal) / os.sysconf("SC_CLK_TCK")


def _session_cpu_s() -> float:
    """This process's CPU and that of everything it started, reaped or still running."""
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


@dataclass
class ForeignLoad:
    """CPUs' worth of work done on the machine by processes this session did not start."""

    _start: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))
    share: float = 0.0
    cpu_s: float = 0.0
    """The foreign CPU seconds over the whole window."""

    def start(self) -> None:
        self._start = (time.monotonic(), _machine_cpu_s(), _session_cpu_s())

    def stop(self) -> float:
        wall0, machine0, session0 = self._start
        wall = time.monotonic() - wall0
        foreign = (_machine_cpu_s() - machine0) - (_session_cpu_s() - session0)
        self.cpu_s = max(foreign, 0.0)
        self.share = self.cpu_s / wall if wall > 0 else 0.0
        return self.share
