"""What the proxy relays: every byte, in order, under flow control; ends and resets both ways.

The upstreams here are asyncio servers in the test's own event loop, on a socket that listens
before the proxy starts; the proxy is ``python -m latencyproxy``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from live_servers import HOST
from proxy_helpers import listening_socket, proxy_process, reset

DELAY_MS = 10
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def run_with_upstream(
    handler: Handler,
    client: Callable[[int], Awaitable[None]],
    tmp_path: Path,
    delay_ms: float = DELAY_MS,
) -> dict[str, object]:
    """``client(proxy port)`` against ``handler`` behind a proxy; /stats once all is closed."""

    async def scenario(sock: socket.socket, port: int) -> None:
        server = await asyncio.start_server(handler, sock=sock)
        async with server, asyncio.timeout(60):
            await client(port)

    with (
        listening_socket() as sock,
        proxy_process(sock.getsockname()[1], delay_ms, tmp_path) as proxy,
    ):
        asyncio.run(scenario(sock, proxy.port))
        return proxy.wait_closed()


async def sha256_until_eof(reader: asyncio.StreamReader) -> tuple[int, str]:
    """Bytes read until EOF: how many, and their sha256."""
    digest = hashlib.sha256()
    size = 0
    while chunk := await reader.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def send_and_eof(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(payload)
    await writer.drain()
    writer.write_eof()


def test_large_payloads_both_ways_are_byte_exact_in_bounded_memory(tmp_path: Path) -> None:
    """32 MiB each way at once, the upstream not reading for its first half second: the proxy
    stops reading from the client instead of buffering, so its memory stays far below that."""
    size = 32 << 20
    to_upstream, to_client = os.urandom(size), os.urandom(size)
    upstream_got: list[tuple[int, str]] = []
    upstream_done = asyncio.Event()

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sending = asyncio.create_task(send_and_eof(writer, to_client))
        await asyncio.sleep(0.5)
        upstream_got.append(await sha256_until_eof(reader))
        await sending
        writer.close()
        upstream_done.set()

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        sending = asyncio.create_task(send_and_eof(writer, to_upstream))
        got = await sha256_until_eof(reader)
        await sending
        await upstream_done.wait()
        writer.close()
        assert got == (size, hashlib.sha256(to_client).hexdigest())

    with (
        listening_socket() as sock,
        proxy_process(sock.getsockname()[1], 5, tmp_path) as proxy,
    ):
        before = proxy.stats()

        async def scenario() -> None:
            server = await asyncio.start_server(upstream, sock=sock)
            async with server, asyncio.timeout(120):
                await client(proxy.port)

        asyncio.run(scenario())
        after = proxy.wait_closed()
    assert upstream_got == [(size, hashlib.sha256(to_upstream).hexdigest())]
    assert after["bytes_client_to_upstream"] == after["bytes_upstream_to_client"] == size
    grown = after["peak_resident_memory_bytes"] - before["resident_memory_bytes"]
    print(f"\n2 x 32 MiB relayed: the proxy's peak RSS grew {grown / 2**20:.1f} MiB")
    assert grown < size // 2


def test_client_half_close_reaches_the_upstream_which_can_still_answer(tmp_path: Path) -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        question = await reader.read()  # until the client's EOF
        writer.write(b"answer to " + question)
        await writer.drain()
        writer.close()

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"the question")
        writer.write_eof()
        assert await reader.read() == b"answer to the question"  # then EOF
        writer.close()

    stats = run_with_upstream(upstream, client, tmp_path)
    assert stats["connections"] == 1


def test_upstream_close_reaches_the_client(tmp_path: Path) -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye")
        await writer.drain()
        writer.close()

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        start = time.perf_counter()
        assert await reader.read() == b"bye"  # then EOF
        assert reader.at_eof()
        assert time.perf_counter() - start >= DELAY_MS / 1000 - 0.002
        writer.close()

    run_with_upstream(upstream, client, tmp_path)


def test_client_reset_reaches_the_upstream_after_the_delay(tmp_path: Path) -> None:
    connected, ended = asyncio.Event(), asyncio.Event()
    seen: list[tuple[str, float]] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(5) == b"hello"
        connected.set()
        try:
            seen.append((f"read {await reader.read()!r}", time.perf_counter()))
        except ConnectionResetError:
            seen.append(("reset", time.perf_counter()))
        ended.set()
        writer.close()

    async def client(port: int) -> None:
        _, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"hello")
        await connected.wait()
        start = time.perf_counter()
        reset(writer)
        await ended.wait()
        assert seen[0][1] - start >= DELAY_MS / 1000 - 0.002

    run_with_upstream(upstream, client, tmp_path)
    assert seen[0][0] == "reset"


def test_upstream_reset_reaches_the_client_after_the_delay(tmp_path: Path) -> None:
    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(5) == b"hello"
        reset(writer)

    async def client(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        start = time.perf_counter()
        writer.write(b"hello")
        with pytest.raises(ConnectionResetError):
            await reader.read()
        # The hello went up (D), the reset came down (D).
        assert time.perf_counter() - start >= 2 * DELAY_MS / 1000 - 0.002
        writer.close()

    run_with_upstream(upstream, client, tmp_path)


def test_jitter_keeps_the_order(echo_port: int, tmp_path: Path) -> None:
    """Numbered messages, each its own chunk, echoed through 5 ± 5 ms each way: all in order."""
    count = 400

    async def numbered(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        for n in range(count):
            writer.write(struct.pack(">I", n))
            await asyncio.sleep(0.0005)
        echoed = await reader.readexactly(4 * count)
        assert list(struct.unpack(f">{count}I", echoed)) == list(range(count))
        writer.close()

    with proxy_process(echo_port, 5, tmp_path, jitter_ms=5) as proxy:
        asyncio.run(asyncio.wait_for(numbered(proxy.port), 60))
        assert proxy.wait_closed()["bytes_upstream_to_client"] == 4 * count
