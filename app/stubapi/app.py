"""The stub upstream API: a raw ASGI app (no framework, so it stays cheap under load).

    GET /delay/{ms}?jitter=J&fail=P   sleep ms ± uniform(J) ms, fail with 500 at probability P
    GET /stats?from=F&to=T            traffic between epoch seconds F and T (stubapi.traffic):
                                      {"from", "to", "connections", "calls", "peak_in_flight",
                                       "resolution_s"}
    GET /healthz                      {"status": "ok"}
    GET /metrics                      Prometheus text format (stubapi.metrics)

Run: ``python -m stubapi`` (stubapi.__main__), which also counts accepted connections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from stubapi import metrics
from stubapi.traffic import RESOLUTION_S, TRAFFIC, WindowError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_DELAY_MS = 60_000
_DELAY_PREFIX = "/delay/"
_ids = itertools.count(1)


class BadParameter(ValueError):
    """A parameter the stub cannot honour (400)."""


async def _send(send: Send, status: int, content_type: bytes, payload: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _respond(send: Send, status: int, body: dict[str, Any]) -> None:
    metrics.responses[status] += 1
    await _send(send, status, b"application/json", json.dumps(body).encode())


def _number(raw: str, name: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:  # also rejects NaN
        raise BadParameter(f"{name} must be in {low:g}..{high:g}, got {raw}")
    return value


def parse_delay(path: str, query_string: bytes) -> tuple[int, float, float]:
    """``(delay_ms, jitter_ms, fail_probability)`` from ``/delay/{ms}?jitter=&fail=``."""
    raw_ms = path.removeprefix(_DELAY_PREFIX)
    if not (raw_ms.isascii() and raw_ms.isdigit()):
        raise BadParameter(f"delay must be an integer number of ms, got {raw_ms!r}")
    ms = int(raw_ms)
    if ms > MAX_DELAY_MS:
        raise BadParameter(f"delay must be in 0..{MAX_DELAY_MS} ms, got {ms}")
    query = dict(parse_qsl(query_string.decode("latin-1")))
    jitter = _number(query["jitter"], "jitter", 0, MAX_DELAY_MS) if "jitter" in query else 0.0
    fail = _number(query["fail"], "fail", 0, 1) if "fail" in query else 0.0
    return ms, jitter, fail


def parse_window(query_string: bytes) -> tuple[float, float]:
    """``(from, to)`` in epoch seconds from ``?from=&to=``."""
    query = dict(parse_qsl(query_string.decode("latin-1")))
    bounds: list[float] = []
    for name in ("from", "to"):
        if name not in query:
            raise BadParameter(f"{name} is required (epoch seconds)")
        try:
            value = float(query[name])
        except ValueError:
            raise BadParameter(f"{name} must be a number, got {query[name]!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise BadParameter(f"{name} must be epoch seconds, got {query[name]}")
        bounds.append(value)
    start, end = bounds
    if start > end:
        raise BadParameter(f"from must not be after to, got {start} > {end}")
    return start, end


async def _stats(scope: Scope, send: Send) -> None:
    try:
        start, end = parse_window(scope["query_string"])
        window = TRAFFIC.window(start, end)
    except (BadParameter, WindowError) as exc:
        await _respond(send, 400, {"error": str(exc)})
        return
    body = {"from": start, "to": end, **dataclasses.asdict(window), "resolution_s": RESOLUTION_S}
    await _respond(send, 200, body)


async def _delay(scope: Scope, send: Send) -> None:
    try:
        ms, jitter, fail = parse_delay(scope["path"], scope["query_string"])
    except BadParameter as exc:
        await _respond(send, 400, {"error": str(exc)})
        return
    wait_ms = max(0.0, ms + random.uniform(-jitter, jitter)) if jitter else ms
    wait = wait_ms / 1000
    metrics.delay_seconds += wait
    TRAFFIC.call_started()
    try:
        await asyncio.sleep(wait)
    finally:
        TRAFFIC.call_finished()
    if fail and random.random() < fail:
        await _respond(send, 500, {"error": "injected failure", "delay_ms": ms})
        return
    record_id = next(_ids)
    await _respond(send, 200, {"delay_ms": ms, "id": record_id, "name": f"record-{record_id}"})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return  # websockets are not served: the server closes the connection
    path: str = scope["path"]
    if scope["method"] not in ("GET", "HEAD"):
        await _respond(send, 405, {"error": "only GET is served"})
    elif path.startswith(_DELAY_PREFIX):
        await _delay(scope, send)
    elif path == "/stats":
        await _stats(scope, send)
    elif path == "/healthz":
        await _respond(send, 200, {"status": "ok"})
    elif path == "/metrics":
        await _send(send, 200, metrics.CONTENT_TYPE, metrics.render())
    else:
        await _respond(send, 404, {"error": f"no route for {path}"})
