"""Helpers of the latency proxy tests: the proxy and an echo server as real processes, and
sequential ping-pongs on many connections that measure round trips."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvloop
from live_servers import HOST, bound_socket, free_port

ECHO_SERVER = Path(__file__).with_name("echo_server.py")
MESSAGE = b"ping-pong 16 B.."
"""What each ping sends and each pong returns."""
LINGER_NOW = struct.pack("ii", 1, 0)


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports, free right now."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def realtime(pid: int = 0) -> bool:
    """SCHED_FIFO (priority 1) for process ``pid`` (0: this thread), where permitted (root).

    A measurement's processes then wake without waiting behind the machine's other load (other
    test runs, builds): the round trips measured are the proxy's, not the scheduler's. They
    only ever wait on sockets and timers, so they cannot starve the machine.
    """
    with contextlib.suppress(PermissionError):
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
        return True
    return False


@contextlib.contextmanager
def realtime_here() -> Iterator[bool]:
    """This thread under SCHED_FIFO while inside (if permitted); yields whether it is."""
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield realtime()
    finally:
        os.sched_setscheduler(0, policy, param)


@contextlib.contextmanager
def started(
    argv: list[str], log: Path, ready: Callable[[], bool], timeout: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """A process running ``argv``, once ``ready()``; stopped (SIGTERM, then SIGKILL) afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"{argv[1:3]} exited {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[1:3]} did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answers(url: str) -> bool:
    """True once ``url`` answers 200."""
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(url, timeout=1).status_code == 200
    return False


def accepts(port: int) -> bool:
    """True once a TCP connection to ``port`` on loopback succeeds."""
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1):
        return True
    return False


@dataclass(frozen=True)
class RunningProxy:
    """A ``python -m latencyproxy`` process."""

    port: int
    """Where clients connect."""
    control: str
    """Base URL of its /stats, /metrics and /healthz."""
    pid: int

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.control}/stats", timeout=10)
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def wait_closed(self, timeout: float = 10) -> dict[str, Any]:
        """/stats once no relayed connection is open any more."""
        deadline = time.monotonic() + timeout
        while (stats := self.stats())["connections_open"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stats["connections_open"] == 0, stats
        return stats


@contextlib.contextmanager
def proxy_process(
    upstream_port: int, delay_ms: float, log_dir: Path, jitter_ms: float = 0
) -> Iterator[RunningProxy]:
    """``python -m latencyproxy`` in front of ``upstream_port``, with /stats; stopped afterwards.

    Run as the stub API's tests run it: this interpreter, this environment (``app/`` is on the
    path through the editable install)."""
    port, control_port = free_ports(2)
    argv = [
        sys.executable, "-m", "latencyproxy", "--listen", f"{HOST}:{port}",
        "--upstream", f"{HOST}:{upstream_port}", "--delay-ms", str(delay_ms),
        "--jitter-ms", str(jitter_ms), "--stats", f"{HOST}:{control_port}",
    ]  # fmt: skip
    control = f"http://{HOST}:{control_port}"
    log = log_dir / f"latencyproxy-{port}.log"
    with started(argv, log, lambda: answers(f"{control}/healthz")) as proc:
        yield RunningProxy(port, control, proc.pid)


@contextlib.contextmanager
def echo_process(log_dir: Path) -> Iterator[tuple[int, int]]:
    """The echo server (echo_server.py) in its own process; yields its port and pid."""
    port = free_port()
    argv = [sys.executable, str(ECHO_SERVER), str(port)]
    with started(argv, log_dir / "echo.log", lambda: accepts(port)) as proc:
        yield port, proc.pid


@contextlib.contextmanager
def listening_socket() -> Iterator[socket.socket]:
    """A listening loopback socket, for an upstream served later by an event loop."""
    sock = bound_socket()
    sock.listen(64)
    with contextlib.closing(sock):
        yield sock


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a reset: SO_LINGER 0, then close."""
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_NOW)
    writer.transport.abort()


def percentile(values: list[float], q: int) -> float:
    """The ``q``-th percentile (1..99)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class _Pongs(asyncio.Protocol):
    """Resolves ``pong`` with the time the whole echo of MESSAGE arrived."""

    def __init__(self) -> None:
        self.pong: asyncio.Future[float] | None = None
        self._received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._received >= len(MESSAGE) and self.pong is not None and not self.pong.done():
            self._received -= len(MESSAGE)
            self.pong.set_result(time.perf_counter())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pong is not None and not self.pong.done():
            self.pong.set_exception(ConnectionError(f"closed before the pong: {exc}"))


async def _pinger(
    pongs: _Pongs, first: float, period_s: float, rounds: int, rtts: list[float]
) -> None:
    """``rounds`` pings, one every ``period_s`` from loop time ``first`` (or on the pong, if
    later); the first round trip is a warm-up, left out."""
    loop = asyncio.get_running_loop()
    for i in range(rounds):
        wait = first + i * period_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        pongs.pong = loop.create_future()
        sent = time.perf_counter()
        pongs.transport.write(MESSAGE)
        received = await pongs.pong
        if i:
            rtts.append(received - sent)


async def _ping_pong(port: int, connections: int, rounds: int, period_s: float) -> list[float]:
    loop = asyncio.get_running_loop()
    clients = [(await loop.create_connection(_Pongs, HOST, port))[1] for _ in range(connections)]
    rtts: list[float] = []
    start = loop.time() + 0.1
    try:
        async with asyncio.timeout(rounds * period_s + 60):
            await asyncio.gather(
                *(_pinger(c, start + random.random() * period_s, period_s, rounds, rtts)
                  for c in clients)
            )  # fmt: skip
    finally:
        for client in clients:
            client.transport.close()
    return rtts


def ping_pong(port: int, connections: int, rounds: int, period_s: float) -> list[float]:
    """Round trips in seconds of MESSAGE on ``connections`` connections, each pinging every
    ``period_s`` at a random phase, ``rounds`` times (the first, a warm-up, is left out): an
    open schedule, the same load whatever the round trip, as long as it is under the period."""
    return uvloop.run(_ping_pong(port, connections, rounds, period_s))
