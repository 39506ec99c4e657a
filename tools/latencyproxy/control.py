"""The control endpoint: a tiny HTTP/1.1 server, one request per connection.

    GET /stats     JSON: the settings, the counters, the process's CPU seconds and memory
    GET /metrics   Prometheus text format 0.0.4 (latencyproxy.stats.METRICS)
    GET /healthz   {"status": "ok"}

It listens on its own address, so scrapes never queue behind relayed traffic's accept backlog,
and costs nothing until asked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from http import HTTPStatus

from latencyproxy.settings import Address, Settings
from latencyproxy.stats import CONTENT_TYPE, Stats, render_json, render_metrics

READ_TIMEOUT_S = 10.0
"""How long a client may take to send its request's head."""
MAX_HEAD = 16 * 1024
"""The longest request head read (request line and headers)."""

JSON = b"application/json"
Answer = tuple[HTTPStatus, bytes, bytes]
"""``(status, content type, body)``."""


def routes(stats: Stats, settings: Settings) -> dict[bytes, Callable[[], Answer]]:
    """What each path answers to GET."""
    return {
        b"/stats": lambda: (HTTPStatus.OK, JSON, render_json(stats, settings)),
        b"/metrics": lambda: (HTTPStatus.OK, CONTENT_TYPE, render_metrics(stats, settings)),
        b"/healthz": lambda: (HTTPStatus.OK, JSON, b'{"status": "ok"}'),
    }


def _error(status: HTTPStatus, message: str) -> Answer:
    return status, JSON, json.dumps({"error": message}).encode()


def answer(head: bytes, table: dict[bytes, Callable[[], Answer]]) -> Answer:
    """The answer to a request whose head (request line and headers) is ``head``."""
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _error(HTTPStatus.BAD_REQUEST, "expected an HTTP/1.x request line")
    method, target, _ = parts
    route = table.get(target.partition(b"?")[0])
    if route is None:
        return _error(HTTPStatus.NOT_FOUND, "not found: try /stats, /metrics or /healthz")
    if method != b"GET":
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
    return route()


def _response(status: HTTPStatus, content_type: bytes, body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % (status.value, status.phrase.encode(), content_type, len(body))
    )
    return head + body


async def start_control(address: Address, stats: Stats, settings: Settings) -> asyncio.Server:
    """Serve the control endpoint on ``address``; OSError when it cannot be bound."""
    table = routes(stats, settings)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            writer.write(_response(*answer(head, table)))
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client left, was too slow (TimeoutError is an OSError) or sent too much
        finally:
            writer.close()

    host, port = address
    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD, reuse_address=True)
