"""Server-side numbers sampled during each step: CPU seconds and RSS of process trees (local
runs), and a container's cgroup counters (pods)."""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import psutil

from djbench.measure.cgroup import CgroupCounters
from djbench.model.errors import DjbenchError

Tree = Callable[[], list[psutil.Process]]
Counter = Callable[[], float | None]
_INTERVAL_S = 0.05


@dataclass
class _Series:
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)


def tree_usage(procs: list[psutil.Process]) -> tuple[float, int]:
    """CPU seconds (user + system) and resident bytes summed over a process tree."""
    cpu, rss = 0.0, 0
    for proc in procs:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system
                rss += proc.memory_info().rss
        except psutil.Error:
            continue  # exited between listing and reading
    return cpu, rss


class _Periodic:
    """Calls ``_sample`` on entry, every ``interval_s`` in a background thread, and on exit."""

    def __init__(self, interval_s: float, name: str) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._sample()

    def _sample(self) -> None:
        raise NotImplementedError


class Sampler(_Periodic):
    """Samples named process trees and cumulative counters (every 50 ms unless told) in a
    background thread.

    Steps are aligned afterwards to the wall-clock window k6 reports, so the sampler never
    has to know when a phase starts.
    """

    def __init__(
        self,
        trees: dict[str, Tree],
        counters: dict[str, Counter] | None = None,
        interval_s: float = _INTERVAL_S,
    ) -> None:
        super().__init__(interval_s, "djbench-sampler")
        self._trees = trees
        # Cumulative counters (e.g. cgroup throttled time) sampled on the same clock.
        self._counters = counters or {}
        # Levels whose peak a window reports (e.g. connections held), in the RSS slot.
        self._gauges: dict[str, Callable[[], int | None]] = {}
        self._series = {name: _Series() for name in [*trees, *self._counters]}

    def add_gauge(self, name: str, gauge: Callable[[], int | None]) -> None:
        """Sample one more gauge (before the sampler starts)."""
        self._gauges[name] = gauge
        self._series[name] = _Series()

    def _sample(self) -> None:
        now = time.time()
        for name, tree in self._trees.items():
            procs = tree()
            if not procs:
                continue  # not started yet, or gone: no sample beats a false zero
            self._record(name, now, *tree_usage(procs))
        for name, counter in self._counters.items():
            value = counter()
            if value is not None:
                self._record(name, now, value, 0)
        for name, gauge in self._gauges.items():
            level = gauge()
            if level is not None:
                self._record(name, now, 0.0, level)

    def _record(self, name: str, now: float, value: float, rss: int) -> None:
        with self._lock:
            series = self._series[name]
            series.times.append(now)
            series.cpu.append(value)
            series.rss.append(rss)

    def has(self, name: str) -> bool:
        """Whether any sample of ``name`` was taken."""
        with self._lock:
            return bool(self._series[name].times)

    def window(self, name: str, start: float, end: float) -> tuple[float, int]:
        """CPU seconds spent and peak resident bytes of one tree between two wall-clock times
        (for a counter: how much it grew, and 0; for a gauge: 0, and its peak)."""
        with self._lock:
            s = self._series[name]
            times, cpu, rss = list(s.times), list(s.cpu), list(s.rss)
        if not times:
            return 0.0, 0
        used = max(_at(times, cpu, end) - _at(times, cpu, start), 0.0)
        lo = max(bisect.bisect_left(times, start) - 1, 0)
        hi = bisect.bisect_right(times, end) + 1
        return used, max(rss[lo:hi], default=0)


def _at(times: list[float], values: list[float], t: float) -> float:
    """Cumulative value at time ``t``, interpolated between the surrounding samples."""
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return values[0]
    if i >= len(times):
        return values[-1]
    t0, t1 = times[i - 1], times[i]
    frac = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
    return values[i - 1] + frac * (values[i] - values[i - 1])


@dataclass(frozen=True)
class CgroupWindow:
    """What a container's cgroup counters say about one window."""

    cpu_s: float
    rss_bytes: int
    """The most anonymous memory of any reading in (or next to) the window."""
    quota_cpus: float | None
    throttled_s: float | None
    """None without a CFS quota: nothing can throttle the container."""


class CgroupSampler(_Periodic):
    """Reads a container's cgroup counters every ``interval_s`` in a background thread.

    Each reading is stamped with the wall-clock middle of the call that took it; a window's
    CPU and throttled time are interpolated at its edges, as :class:`Sampler` does. A reading
    that fails is skipped: only a window without readings on both sides has no answer.
    """

    def __init__(self, read: Callable[[], CgroupCounters], interval_s: float = 1.0) -> None:
        super().__init__(interval_s, "djbench-cgroup")
        self._read = read
        self._readings: list[tuple[float, CgroupCounters]] = []
        self.failures: list[str] = []

    def _sample(self) -> None:
        before = time.time()
        try:
            counters = self._read()
        except DjbenchError as exc:
            with self._lock:
                self.failures.append(str(exc))
            return
        self.record((before + time.time()) / 2, counters)

    def record(self, at: float, counters: CgroupCounters) -> None:
        """Keep one reading taken at wall-clock time ``at`` (readings come in time order)."""
        with self._lock:
            self._readings.append((at, counters))

    def window(self, start: float, end: float) -> CgroupWindow:
        """The counters' growth between two wall-clock times; an error when the readings do
        not reach past both edges or the container restarted (its counters began again)."""
        with self._lock:
            readings = list(self._readings)
            failures = list(self.failures)
        times = [t for t, _ in readings]
        if not readings or times[0] > start or times[-1] < end:
            why = f" ({failures[-1]})" if failures else ""
            raise DjbenchError(f"no cgroup readings on both sides of the step{why}")
        lo = max(bisect.bisect_left(times, start) - 1, 0)
        hi = bisect.bisect_right(times, end) + 1
        inside = [c for _, c in readings[lo:hi]]
        cpu = [c.cpu_s for c in inside]
        if any(b < a for a, b in itertools.pairwise(cpu)):
            raise DjbenchError("the server container restarted during the step")
        span = times[lo:hi]
        used = _at(span, cpu, end) - _at(span, cpu, start)
        quota = inside[-1].quota_cpus
        throttled = None
        if quota is not None and all(c.throttled_s is not None for c in inside):
            series = [float(c.throttled_s or 0.0) for c in inside]
            throttled = _at(span, series, end) - _at(span, series, start)
        return CgroupWindow(
            cpu_s=max(used, 0.0),
            rss_bytes=max(c.rss_bytes for c in inside),
            quota_cpus=quota,
            throttled_s=None if throttled is None else max(throttled, 0.0),
        )
