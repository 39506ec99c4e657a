"""Server-side numbers: CPU seconds and RSS of process trees, sampled during each step."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

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


class Sampler:
    """Samples named process trees every 50 ms in a background thread.

    Steps are aligned afterwards to the wall-clock window k6 reports, so the sampler never
    has to know when a phase starts.
    """

    def __init__(self, trees: dict[str, Tree], counters: dict[str, Counter] | None = None) -> None:
        self._trees = trees
        # Cumulative counters (e.g. cgroup throttled time) sampled on the same clock.
        self._counters = counters or {}
        self._series = {name: _Series() for name in [*trees, *self._counters]}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="djbench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(_INTERVAL_S):
            self._sample()

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
        (for a counter: how much it grew, and 0)."""
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
