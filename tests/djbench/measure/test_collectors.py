from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from djbench.measure.cgroup import CgroupCounters
from djbench.measure.collectors import CgroupSampler, Sampler
from djbench.model.errors import DjbenchError

BURN = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"


def test_sampler_measures_cpu_of_a_busy_process_in_a_window() -> None:
    busy = subprocess.Popen([sys.executable, "-c", BURN])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    try:
        sampler = Sampler(
            {
                "busy": lambda: [psutil.Process(busy.pid)] if busy.poll() is None else [],
                "idle": lambda: [psutil.Process(idle.pid)] if idle.poll() is None else [],
            }
        )
        proc = psutil.Process(busy.pid)
        with sampler:
            time.sleep(0.3)
            start, before = time.time(), sum(proc.cpu_times()[:2])
            time.sleep(0.8)
            end, after = time.time(), sum(proc.cpu_times()[:2])
            busy.wait()
        used, rss = sampler.window("busy", start, end)
        idle_used, _ = sampler.window("idle", start, end)
    finally:
        busy.kill()
        idle.kill()
    # What the kernel counted for the spinning process in the window, read at its edges:
    # the sampler's interpolation agrees within its own sampling (50 ms) and the kernel's
    # tick (10 ms), however much of a CPU a busy machine left the process.
    assert after - before > 0.1, "the process ran"
    assert abs(used - (after - before)) < 0.08, (used, after - before)
    assert idle_used < 0.05
    assert rss > 1_000_000


def test_counters_are_sampled_on_the_same_clock() -> None:
    """A cumulative counter (e.g. throttled seconds) gives its growth inside the window."""
    started = time.time()
    sampler = Sampler({}, counters={"clock": lambda: time.time() - started, "none": lambda: None})
    with sampler:
        time.sleep(0.3)
        start = time.time()
        time.sleep(0.5)
        end = time.time()
        time.sleep(0.2)
    grown, _ = sampler.window("clock", start, end)
    assert abs(grown - (end - start)) < 0.02
    assert sampler.has("clock")
    assert not sampler.has("none")


def test_a_gauge_gives_its_peak_in_the_window() -> None:
    """A level (e.g. connections held) peaks inside the window: that peak, not the edges."""
    levels = iter([3, 3, 9, 4] + [2] * 1000)
    sampler = Sampler({}, interval_s=0.05)
    sampler.add_gauge("held", lambda: next(levels))
    sampler.add_gauge("never", lambda: None)
    with sampler:
        start = time.time()
        time.sleep(0.5)
        end = time.time()
    assert sampler.window("held", start, end) == (0.0, 9)
    assert not sampler.has("never")


def _counters(cpu_s: float, rss: int = 100, throttled: float | None = None) -> CgroupCounters:
    quota = None if throttled is None else 0.5
    return CgroupCounters(
        version=2, cpu_s=cpu_s, rss_bytes=rss, quota_cpus=quota, throttled_s=throttled
    )


def test_cgroup_window_interpolates_at_the_edges() -> None:
    sampler = CgroupSampler(lambda: _counters(0.0))
    for t, cpu, rss, throttled in [(0, 0, 10, 0), (10, 5, 50, 1), (20, 10, 30, 3), (30, 15, 5, 3)]:
        sampler.record(t, _counters(cpu, rss, throttled))
    window = sampler.window(5.0, 25.0)
    assert window.cpu_s == pytest.approx(10.0)
    assert window.throttled_s == pytest.approx(2.5)  # 0.5 → 3.0
    assert window.quota_cpus == 0.5
    assert window.rss_bytes == 50  # the readings next to the window count too


def test_cgroup_window_without_a_quota_has_no_throttling() -> None:
    sampler = CgroupSampler(lambda: _counters(0.0))
    sampler.record(0, _counters(0.0))
    sampler.record(10, _counters(4.0))
    window = sampler.window(2.0, 8.0)
    assert (window.cpu_s, window.throttled_s) == (pytest.approx(2.4), None)


def test_cgroup_window_needs_readings_on_both_sides() -> None:
    sampler = CgroupSampler(lambda: _counters(0.0))
    sampler.record(5, _counters(1.0))
    sampler.record(10, _counters(2.0))
    with pytest.raises(DjbenchError, match="no cgroup readings on both sides"):
        sampler.window(0.0, 8.0)
    with pytest.raises(DjbenchError, match="no cgroup readings on both sides"):
        sampler.window(6.0, 12.0)


def test_a_restarted_container_fails_the_window() -> None:
    sampler = CgroupSampler(lambda: _counters(0.0))
    for t, cpu in [(0, 50.0), (5, 52.0), (10, 0.3), (15, 2.0)]:
        sampler.record(t, _counters(cpu))
    with pytest.raises(DjbenchError, match="restarted"):
        sampler.window(1.0, 14.0)


def test_failed_readings_are_skipped_and_named() -> None:
    answers = iter([_counters(1.0), DjbenchError("kubernetes: exec in p/server: 403 Forbidden")])

    def read() -> CgroupCounters:
        answer = next(answers, _counters(2.0))
        if isinstance(answer, Exception):
            raise answer
        return answer

    sampler = CgroupSampler(read, interval_s=0.01)
    with sampler:
        sampler._sample()  # the failing one, whenever the thread took its turn
    assert sampler.failures and "403" in sampler.failures[0]
    with pytest.raises(DjbenchError, match="403 Forbidden"):
        sampler.window(time.time() + 100, time.time() + 200)
