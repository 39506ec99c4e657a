"""Calls to the stub API, with process-wide clients: ``fetch_all`` (sync) / ``afetch_all`` (async).

Sync: one ``httpx.Client`` and one thread pool for the process. Async: one
``httpx.AsyncClient`` per running event loop (see ``loop_local``). Clients live for the process,
not the request, as a production service would keep them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

from benchapp.errors import UpstreamError
from benchapp.loop_local import LoopLocal


@dataclass(frozen=True)
class UpstreamReply:
    """One answered call: the delay asked for, the status and the record returned."""

    delay_ms: int
    status: int
    record: dict[str, Any]


def _limits() -> httpx.Limits:
    size = settings.DJBENCH_UPSTREAM_CONNECTIONS
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def _url(delay_ms: int) -> str:
    # Built per call (cheap) rather than baked into the client, so settings can change in tests.
    return f"{settings.DJBENCH_STUB_URL}/delay/{delay_ms}"


def _reply(delay_ms: int, response: httpx.Response) -> UpstreamReply:
    if response.status_code != 200:
        raise UpstreamError(f"upstream answered {response.status_code} for delay {delay_ms} ms")
    return UpstreamReply(delay_ms, response.status_code, response.json())


_lock = threading.Lock()
_client: httpx.Client | None = None
_executor: ThreadPoolExecutor | None = None


def _sync_client() -> tuple[httpx.Client, ThreadPoolExecutor]:
    global _client, _executor  # process-wide singletons, created on first use
    if _client is None or _executor is None:
        with _lock:
            if _client is None or _executor is None:
                _client = httpx.Client(limits=_limits())
                # Threads start on demand, so a high ceiling costs nothing until it is needed.
                _executor = ThreadPoolExecutor(
                    max_workers=settings.DJBENCH_UPSTREAM_CONNECTIONS,
                    thread_name_prefix="upstream",
                )
    return _client, _executor


def fetch(delay_ms: int) -> UpstreamReply:
    """One call to ``/delay/{delay_ms}``."""
    client, _ = _sync_client()
    response = client.get(_url(delay_ms), timeout=settings.DJBENCH_UPSTREAM_TIMEOUT)
    return _reply(delay_ms, response)


def fetch_all(delays: Sequence[int]) -> list[UpstreamReply]:
    """One call per delay, concurrently on the thread pool; replies in the order of ``delays``."""
    _, executor = _sync_client()
    return list(executor.map(fetch, delays))


async def _open_async_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=_limits())


async def _close_async_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


async_clients: LoopLocal[httpx.AsyncClient] = LoopLocal(_open_async_client, _close_async_client)


async def afetch(delay_ms: int) -> UpstreamReply:
    """Async ``fetch``."""
    client = await async_clients.get()
    response = await client.get(_url(delay_ms), timeout=settings.DJBENCH_UPSTREAM_TIMEOUT)
    return _reply(delay_ms, response)


async def afetch_all(delays: Sequence[int]) -> list[UpstreamReply]:
    """Async ``fetch_all``: the calls run concurrently with ``asyncio.gather``."""
    return list(await asyncio.gather(*(afetch(delay) for delay in delays)))
