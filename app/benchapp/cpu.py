"""The CPU workload's function: pure Python, no Django import, so it can be timed anywhere.

python -m benchapp.cpu     # prints the time of CPU_DEFAULT_N iterations on this machine
"""

from __future__ import annotations

import statistics
import time

from benchapp.catalog import CPU_DEFAULT_N


def cpu_burn(n: int) -> int:
    """``n`` rounds of pure-Python integer mixing (xorshift); deterministic, bounded to 32 bits."""
    x = 2463534242
    acc = 0
    for i in range(1, n + 1):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        acc = (acc + x % i) & 0xFFFFFFFF
    return acc


def median_seconds(n: int = CPU_DEFAULT_N, repeats: int = 30) -> float:
    """Median wall time of ``cpu_burn(n)`` in this process."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        cpu_burn(n)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    seconds = median_seconds()
    print(
        f"cpu_burn({CPU_DEFAULT_N}): {seconds * 1000:.2f} ms median;"
        f" ~10 ms needs n = {round(CPU_DEFAULT_N * 0.010 / seconds, -3):.0f}"
    )
