"""Paired pings of a path, straight to its target and through a latency proxy:
``python -m latencyproxy.ping --path db --straight H:P --through H:P --connections N``.

The harness judges a proxy's added round-trip time from these pairs before a run
(``djbench.measure.pathcheck``). It lives with the proxy so that it runs wherever the proxy does: on
loopback beside the harness, or inside the proxy's pod on Kubernetes (``kubectl exec``), where
the harness cannot reach Postgres itself. Each path is pinged the way its protocol allows
without side effects:

- ``db`` (Postgres): a fresh connection per ping; the ping is an SSLRequest, which the server
  answers with one byte before any authentication (``N``: no TLS), then the connection is
  dropped. Each ping waits ``SETTLE_S`` after connecting: Postgres forks a backend per
  connection (a few milliseconds), and through the proxy that fork would hide inside the added
  delay while a straight ping waited for it, understating the added time.
- ``upstream`` (the stub API): keep-alive connections, each sending ``GET /healthz`` in turn.

Each of ``connections`` workers pings straight, then through the proxy, in turns, at a paced
random rate (``PING_RATE`` in all): both sides see the same moments, and the pings never queue
in the proxy. The command prints ``{"pairs_ms": [[straight, through], ...]}``; a path that
cannot be pinged exits 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import struct
import sys
import time
from collections.abc import Sequence
from typing import Literal

from latencyproxy.settings import Address, address

PathName = Literal["db", "upstream"]
PING_RATE = 400.0
"""Pings per second of all a check's workers together, each side."""
TIMEOUT_S = 60.0
SETTLE_S = 0.03
"""After connecting to Postgres and before pinging it: its backend process is ready by then."""
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
"""PostgreSQL's SSLRequest: length 8, then the request code 1234.5679."""


class PingError(Exception):
    """A path that cannot be pinged (refused, reset, timed out, or the wrong kind of server)."""


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
            raise PingError(f"{self.host}:{self.port} does not answer like Postgres ({answer!r})")
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
            first = head.splitlines()[0].decode(errors="replace")
            raise PingError(f"{self.host}:{self.port}/healthz answered {first!r}")
        return elapsed

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()


CHANNELS: dict[PathName, type[_Channel]] = {"db": _Postgres, "upstream": _Http}


async def _paired(
    path: PathName, straight: Address, through: Address, connections: int, pings: int
) -> list[tuple[float, float]]:
    pace = connections / PING_RATE
    rng = random.Random(connections)  # seeded: the same check pings alike every time
    pairs: list[tuple[float, float]] = []

    async def worker(delays: list[float]) -> None:
        near, far = CHANNELS[path](*straight), CHANNELS[path](*through)
        try:
            for delay in delays:
                await asyncio.sleep(delay)
                pairs.append((await near.ping() * 1000, await far.ping() * 1000))
        finally:
            near.close()
            far.close()

    plans = [[rng.uniform(0, 2 * pace) for _ in range(pings)] for _ in range(connections)]
    await asyncio.wait_for(asyncio.gather(*(worker(p) for p in plans)), TIMEOUT_S)
    return pairs


def paired_pings(
    path: PathName, straight: Address, through: Address, connections: int, pings: int
) -> list[tuple[float, float]]:
    """Round trips (ms) straight to the target and through the proxy, ``pings`` pairs by each
    of ``connections`` workers at once; a path that cannot be pinged raises ``PingError``
    with one line."""
    try:
        return asyncio.run(_paired(path, straight, through, connections, pings))
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as e:
        raise PingError(e.__class__.__name__ if not str(e) else str(e)) from e


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m latencyproxy.ping",
        description="Ping a path straight and through a latency proxy, in pairs (JSON out).",
    )
    parser.add_argument("--path", choices=list(CHANNELS), required=True)
    parser.add_argument("--straight", type=address, metavar="HOST:PORT", required=True)
    parser.add_argument("--through", type=address, metavar="HOST:PORT", required=True)
    parser.add_argument("--connections", type=int, default=1, help="workers at once")
    parser.add_argument("--pings", type=int, default=8, help="pairs per worker")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.pings < 1:
        parser.error("--connections and --pings must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Print the pairs as JSON; exit 1 with one line when the path cannot be pinged."""
    args = parse_args(argv)
    try:
        pairs = paired_pings(args.path, args.straight, args.through, args.connections, args.pings)
    except PingError as exc:
        print(f"{args.path} path: {exc}", file=sys.stderr)
        return 1
    json.dump({"pairs_ms": [[round(s, 4), round(t, 4)] for s, t in pairs]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
