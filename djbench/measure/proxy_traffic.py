"""What a latency proxy relayed in a step, from its cumulative ``GET /stats`` counters.

Both backends read the same counters (a local proxy over loopback, a proxy's pod through the
API server's service proxy) on a sampler's clock; a step differences them over its window.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from djbench.measure.collectors import Counter, Sampler
from djbench.model.errors import DjbenchError
from djbench.model.results import ProxyTraffic
from latencyproxy.ping import PathName

NAMES: dict[PathName, str] = {
    "db": "the latency proxy to Postgres",
    "upstream": "the latency proxy to the stub API",
}
COUNTERS = ("connections", "round_trips", "cpu_seconds")
"""The cumulative counters of ``/stats`` a step differences over its window."""
FRESH_S = 0.02
"""Counter reads this close together share one ``/stats`` request."""


@dataclass
class ProxyStats:
    """One proxy's counters, read through ``read`` (the body of its ``/stats``); reads close
    together share one request."""

    path: PathName
    read: Callable[[], str]
    _cache: tuple[float, dict[str, float]] | None = field(default=None, repr=False)

    def counters(self) -> dict[str, float] | None:
        """The cumulative ``COUNTERS``, None when the proxy does not answer."""
        if self._cache is not None and time.monotonic() - self._cache[0] < FRESH_S:
            return self._cache[1]
        try:
            doc = json.loads(self.read())
            values = {name: float(doc[name]) for name in COUNTERS}
        except (DjbenchError, OSError, json.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        # Fresh from when the answer came: a read through the API server takes longer than
        # FRESH_S, and the sampler's next counter must not read again.
        self._cache = (time.monotonic(), values)
        return values

    def counter(self, name: str) -> float | None:
        """One counter, for a sampler (the read is shared with the others)."""
        values = self.counters()
        return None if values is None else values[name]

    def sampled(self) -> dict[str, Counter]:
        """The sampler's counters of this proxy: ``proxy:PATH:NAME``."""
        return {_series(self.path, n): functools.partial(self.counter, n) for n in COUNTERS}


def _series(path: str, name: str) -> str:
    return f"proxy:{path}:{name}"


def proxy_traffic(sampler: Sampler, path: str, start: float, end: float) -> ProxyTraffic | None:
    """What one proxy relayed between two wall-clock times, None when its counters could not
    be read."""
    names = [_series(path, name) for name in COUNTERS]
    if not all(sampler.has(name) for name in names):
        return None
    connections, round_trips, cpu_s = (sampler.window(name, start, end)[0] for name in names)
    return ProxyTraffic(
        connections=round(connections), round_trips=round(round_trips), cpu_s=round(cpu_s, 4)
    )
