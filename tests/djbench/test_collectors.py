from __future__ import annotations

import subprocess
import sys
import time

import psutil

from djbench.collectors import Sampler

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
        with sampler:
            time.sleep(0.3)
            start = time.time()
            time.sleep(0.8)
            end = time.time()
            busy.wait()
        used, rss = sampler.window("busy", start, end)
        idle_used, _ = sampler.window("idle", start, end)
    finally:
        busy.kill()
        idle.kill()
    # A spinning process uses about one CPU-second per second of the window.
    assert 0.5 < used < 1.0, used
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
