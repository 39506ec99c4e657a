"""The round-trip time a latency proxy adds, measured before a run at the run's concurrency.

The pings themselves are the proxy's own (``latencyproxy.ping``: how each protocol is pinged,
paced, in pairs), so they run wherever the proxy does: in this process beside a local proxy,
or in the proxy's pod on Kubernetes (``ping_command``, through ``kubectl exec``). Here they are
judged: the added time is the percentile of the paired differences (each proxied ping against
the straight one its worker took just before it). A path whose p50 or p99 is off its target by
more than ``TOLERANCE_MS`` + ``TOLERANCE`` of it fails the check: the run would otherwise be
measured at a distance nobody asked for.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from djbench.model.errors import DjbenchError
from djbench.model.results import PathCheck
from djbench.model.scenario import Scenario
from latencyproxy.ping import PathName, PingError, paired_pings
from latencyproxy.settings import Address, format_address

TOLERANCE_MS = 1.0
TOLERANCE = 0.05
"""How far a measured added round-trip time may be from its target: 1 ms + 5 %."""
PINGS_PER_CONNECTION = 8
MIN_PAIRS = 256
ATTEMPTS = 3
RETRY_PAUSE_S = 2.0
"""Before attempt n + 1, n times this: a busy moment (Postgres vacuuming after a write-heavy
run, the last server's connections closing) passes instead of spanning every attempt."""

Pinger = Callable[[int], Sequence[tuple[float, float]]]
"""Given pings per connection, the (straight, through) round trips in ms; a path that cannot
be pinged raises ``DjbenchError`` with one line."""


def local_pinger(path: PathName, straight: Address, through: Address, connections: int) -> Pinger:
    """Pings taken by this process (the proxy and its target on addresses it reaches)."""

    def ping(pings: int) -> Sequence[tuple[float, float]]:
        try:
            return paired_pings(path, straight, through, connections, pings)
        except PingError as exc:
            raise DjbenchError(f"{path} path check failed: {exc}") from exc

    return ping


def ping_command(
    path: PathName, straight: Address, through: Address, connections: int, pings: int
) -> list[str]:
    """``python -m latencyproxy.ping`` for the same pings where the proxy runs (its image)."""
    return [
        "python", "-m", "latencyproxy.ping", "--path", path,
        "--straight", format_address(straight), "--through", format_address(through),
        "--connections", str(connections), "--pings", str(pings),
    ]  # fmt: skip


def parse_pairs(text: str) -> list[tuple[float, float]]:
    """The pairs ``ping_command`` printed."""
    try:
        pairs = json.loads(text)["pairs_ms"]
        return [(float(s), float(t)) for s, t in pairs]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DjbenchError(f"path check: unreadable ping output: {text[:120]!r}") from exc


Noise = Literal["network", "machine", "none"]
"""What of the straight path's own p99 spread a check allows on top of its tolerance."""


def allowance(noise: Noise, spread_ms: float) -> float:
    """The p99 tolerance a straight path's spread adds (``check_path``)."""
    if noise == "network":
        return max(spread_ms, 0.0)
    if noise == "machine":
        return max(spread_ms - TOLERANCE_MS, 0.0)
    return 0.0


def within(measured_ms: float, target_ms: float, noise_ms: float = 0.0) -> bool:
    """Whether an added round-trip time is close enough to its target (``noise_ms``: the
    straight path's own spread, allowed on top where the network has one)."""
    return abs(measured_ms - target_ms) <= TOLERANCE_MS + TOLERANCE * target_ms + noise_ms


def check_path(
    path: PathName,
    target_ms: float,
    connections: int,
    ping: Pinger,
    pings: int = PINGS_PER_CONNECTION,
    attempts: int = ATTEMPTS,
    pause_s: float | None = None,
    noise: Noise = "machine",
    proxy_cpu: str | None = None,
) -> PathCheck:
    """The added round-trip time of one path at ``connections`` at once, measured again (up
    to ``attempts`` times) while it is off target: a moment's noise passes on the next
    attempt, a proxy that adds the wrong time does not (``PathCheck.ok`` says which). Errors
    reaching either end are one-line errors.

    The p99 may also be off by the straight path's own spread (its p99 less its p50,
    measured in the same pings): that tail is the network's or the machine's, which a
    proxied ping crosses too, not the proxy's (``noise``: ``network``, pod networking: all
    of it; ``machine``, loopback: what exceeds ``TOLERANCE_MS``, so an idle machine is held
    exactly as strictly as before and a busy one by its measured scheduling noise; ``none``:
    nothing). The p50 is held as strictly as ever, so a proxy adding the wrong delay still
    fails. ``proxy_cpu``: the CPU the proxy was given, recorded with the check."""
    # Enough pairs that the p99 is not the one slowest: at least MIN_PAIRS in all.
    pings = max(pings, math.ceil(MIN_PAIRS / connections))
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep((RETRY_PAUSE_S if pause_s is None else pause_s) * (attempt - 1))
        pairs = np.array(ping(pings))
        # What the moment added (a busy CPU, a slow wake-up) counts on both sides and cancels.
        added = pairs[:, 1] - pairs[:, 0]
        p50, p99 = (float(np.percentile(added, q)) for q in (50, 99))
        straight_p50, straight_p99 = (float(np.percentile(pairs[:, 0], q)) for q in (50, 99))
        extra = allowance(noise, straight_p99 - straight_p50)
        check = PathCheck(
            path=path,
            target_ms=target_ms,
            connections=connections,
            p50_ms=round(p50, 3),
            p99_ms=round(p99, 3),
            ok=within(p50, target_ms) and within(p99, target_ms, extra),
            attempts=attempt,
            noise_ms=round(extra, 3) if extra else None,
            proxy_cpu=proxy_cpu,
        )
        if check.ok:
            break
    return check


def describe(check: PathCheck) -> str:
    """``db path: added round trip p50 101.2 ms, p99 103.9 ms at 16 connections (target 100)``."""
    noise = (
        f"; p99 also ± the straight path's own {check.noise_ms:.1f} ms"
        if check.noise_ms is not None
        else ""
    )
    cpu = f"; the proxy on {check.proxy_cpu} CPU" if check.proxy_cpu else ""
    return (
        f"{check.path} path: added round trip p50 {check.p50_ms:.1f} ms, p99 "
        f"{check.p99_ms:.1f} ms at {check.connections} connections (target {check.target_ms:g} "
        f"ms ± {TOLERANCE_MS:g} ms + {TOLERANCE:.0%}{noise}{cpu}"
        + (f"; attempt {check.attempts})" if check.attempts > 1 else ")")
    )


MAX_CHECK_CONNECTIONS = 128


def path_connections(scenario: Scenario, path: PathName) -> int:
    """Connections the check opens at once on one side: the most any server may hold there,
    its database pool's limit (a server with fewer slots holds fewer: ``DbPool.for_slots``;
    more connections only load the proxy more, and one connection's 256 pairs at 200 ms
    would take a minute), or the upstream calls of its peak requests in flight (at most
    ``MAX_CHECK_CONNECTIONS``: more only lengthen the check, whose pings are paced anyway)."""
    if path == "db":
        return scenario.db_pool.max_size
    calls = scenario.peak_in_flight * len(scenario.upstream_delays_ms)
    return max(1, min(calls, MAX_CHECK_CONNECTIONS))
