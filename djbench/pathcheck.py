"""The round-trip time a latency proxy adds, measured before a run at the run's concurrency.

Each path is pinged the way its protocol allows without side effects, once straight to the
target and once through the proxy, with the same number of connections at once:

- Postgres: a fresh connection per ping; the ping is an SSLRequest, which the server answers
  with one byte before any authentication (``N``: no TLS), then the connection is dropped.
  Each ping waits ``SETTLE_S`` after connecting: Postgres forks a backend per connection
  (a few milliseconds), and through the proxy that fork would hide inside the added delay
  while a direct ping waited for it, understating the added time.
- the stub API: keep-alive connections, each sending ``GET /healthz`` in turn.

Each worker pings straight, then through the proxy, in turns: the added time is the percentile
of those paired differences. A path whose p50 or p99 is off its target by more than
``TOLERANCE_MS`` + ``TOLERANCE`` of it fails the check: the run would otherwise be measured at
a distance nobody asked for.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time
from typing import Literal

import numpy as np

from djbench.errors import DjbenchError
from djbench.results import PathCheck
from djbench.scenario import Scenario

TOLERANCE_MS = 1.0
TOLERANCE = 0.05
"""How far a measured added round-trip time may be from its target: 1 ms + 5 %."""
PINGS_PER_CONNECTION = 8
MIN_PAIRS = 256
ATTEMPTS = 3
PING_RATE = 400.0
"""Pings per second of all a check's workers together, each side."""
TIMEOUT_S = 60.0
SETTLE_S = 0.03
"""After connecting to Postgres and before pinging it: its backend process is ready by then."""

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
"""PostgreSQL's SSLRequest: length 8, then the request code 1234.5679."""


class _Channel:
    """Pings one address the way its protocol allows; ``close`` ends what it keeps open."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def ping(self) -> float:
        """One round trip, in seconds."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop whatever connection the channel keeps."""


class _Postgres(_Channel):
    """A fresh connection per ping, pinged with an SSLRequest once its backend is ready."""

    async def ping(self) -> float:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            await asyncio.sleep(SETTLE_S)
            started = time.perf_counter()
            writer.write(SSL_REQUEST)
            await writer.drain()
            answer = await reader.readexactly(1)
            elapsed = time.perf_counter() - started
        finally:
            writer.close()
        if answer not in (b"N", b"S"):
            raise DjbenchError(
                f"{self.host}:{self.port} does not answer like Postgres ({answer!r})"
            )
        return elapsed


class _Http(_Channel):
    """One keep-alive connection, pinged with ``GET /healthz``."""

    _stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def ping(self) -> float:
        if self._stream is None:
            self._stream = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._stream
        started = time.perf_counter()
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        await reader.readexactly(length)
        elapsed = time.perf_counter() - started
        if not head.startswith(b"HTTP/1.1 200"):
            raise DjbenchError(f"{self.host}:{self.port}/healthz answered {head.splitlines()[0]!r}")
        return elapsed

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()


CHANNELS: dict[str, type[_Channel]] = {"db": _Postgres, "upstream": _Http}


async def _pings(
    path: str,
    direct: tuple[str, int],
    proxied: tuple[str, int],
    connections: int,
    pings: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Round trips (ms) straight to the target and through the proxy, taken in turns by each
    of ``connections`` workers at a paced, random rate (``PING_RATE`` in all): both sides see
    the same moments, and the check itself never queues in the proxy."""
    pace = connections / PING_RATE
    rng = random.Random(connections)  # seeded: the same check pings alike every time
    pairs: list[tuple[float, float]] = []

    async def worker(delays: list[float]) -> None:
        near, far = CHANNELS[path](*direct), CHANNELS[path](*proxied)
        try:
            for delay in delays:
                await asyncio.sleep(delay)
                pairs.append((await near.ping(), await far.ping()))
        finally:
            near.close()
            far.close()

    plans = [[rng.uniform(0, 2 * pace) for _ in range(pings)] for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*(worker(p) for p in plans)), TIMEOUT_S)
    both = np.array(pairs) * 1000
    return both[:, 0], both[:, 1]


def within(measured_ms: float, target_ms: float) -> bool:
    """Whether an added round-trip time is close enough to its target."""
    return abs(measured_ms - target_ms) <= TOLERANCE_MS + TOLERANCE * target_ms


def check_path(
    path: Literal["db", "upstream"],
    target_ms: float,
    direct: tuple[str, int],
    proxied: tuple[str, int],
    connections: int,
    pings: int = PINGS_PER_CONNECTION,
    attempts: int = ATTEMPTS,
) -> PathCheck:
    """The added round-trip time of one path at ``connections`` at once, measured again (up
    to ``attempts`` times) while it is off target: a moment's noise passes on the next
    attempt, a proxy that adds the wrong time does not (``PathCheck.ok`` says which). Errors
    reaching either end are one-line errors."""
    # Enough pairs that the p99 is not the one slowest: at least MIN_PAIRS in all.
    pings = max(pings, math.ceil(MIN_PAIRS / connections))
    for attempt in range(1, attempts + 1):
        try:
            straight, through = asyncio.run(_pings(path, direct, proxied, connections, pings))
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            what = exc.__class__.__name__ if not str(exc) else str(exc)
            raise DjbenchError(f"{path} path check failed: {what}") from exc
        # Each proxied ping against the direct one taken just before it by the same worker:
        # what the moment added (a busy CPU, a slow wake-up) counts on both sides and cancels.
        added = through - straight
        p50, p99 = (float(np.percentile(added, q)) for q in (50, 99))
        check = PathCheck(
            path=path,
            target_ms=target_ms,
            connections=connections,
            p50_ms=round(p50, 3),
            p99_ms=round(p99, 3),
            ok=within(p50, target_ms) and within(p99, target_ms),
            attempts=attempt,
        )
        if check.ok:
            break
    return check


def describe(check: PathCheck) -> str:
    """``db path: added round trip p50 101.2 ms, p99 103.9 ms at 16 connections (target 100)``."""
    return (
        f"{check.path} path: added round trip p50 {check.p50_ms:.1f} ms, p99 "
        f"{check.p99_ms:.1f} ms at {check.connections} connections (target {check.target_ms:g} "
        f"ms ± {TOLERANCE_MS:g} ms + {TOLERANCE:.0%}"
        + (f"; attempt {check.attempts})" if check.attempts > 1 else ")")
    )


MAX_CHECK_CONNECTIONS = 128


def path_connections(scenario: Scenario, path: Literal["db", "upstream"]) -> int:
    """Connections a server may hold on one side at once, as many as the check opens: its
    database pool's limit, or the upstream calls of its peak requests in flight (at most
    ``MAX_CHECK_CONNECTIONS``: more only lengthen the check, whose pings are paced anyway)."""
    if path == "db":
        return scenario.db_pool.max_size
    calls = scenario.peak_in_flight * len(scenario.upstream_delays_ms)
    return max(1, min(calls, MAX_CHECK_CONNECTIONS))
