"""Calls to the stub API with the client the settings name: ``fetch``/``fetch_all`` for sync
views, ``afetch``/``afetch_all`` for async views.

The client is a measured axis (``catalog.UPSTREAM_CLIENTS``): ``DJBENCH_UPSTREAM_SYNC_CLIENT``
and ``DJBENCH_UPSTREAM_ASYNC_CLIENT`` choose it. A sync client is created once per process, an
async one once per running event loop (see ``loop_local``), each on first use: clients live for
the process, not the request, as a production service would keep them. Each client's module is
imported only then, so a server carries (and its memory shows) only the library it uses.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from benchapp.catalog import UPSTREAM_CLIENTS, ClientKind, UpstreamClient
from benchapp.loop_local import LoopLocal
from benchapp.upstream.base import AsyncUpstream, SyncUpstream, UpstreamReply

__all__ = [
    "ASYNC_CLIENTS",
    "SYNC_CLIENTS",
    "UpstreamReply",
    "afetch",
    "afetch_all",
    "async_clients",
    "fetch",
    "fetch_all",
    "load",
    "sync_client",
]

SYNC_CLIENTS: dict[UpstreamClient, str] = {
    "requests": "benchapp.upstream.requests_client:RequestsClient",
    "httpx2": "benchapp.upstream.httpx2_clients:Httpx2Client",
    "httpx": "benchapp.upstream.httpx_clients:HttpxClient",
}
ASYNC_CLIENTS: dict[UpstreamClient, str] = {
    "aiohttp": "benchapp.upstream.aiohttp_client:AiohttpClient",
    "httpx2": "benchapp.upstream.httpx2_clients:AsyncHttpx2Client",
    "httpx": "benchapp.upstream.httpx_clients:AsyncHttpxClient",
}
"""Each client name of the catalog, as the import string of its class (uvicorn's lazy style)."""


def check_registry(kind: ClientKind, registry: dict[UpstreamClient, str]) -> None:
    """Fail unless every client of the catalog has an implementation, and nothing else does."""
    if set(registry) != set(UPSTREAM_CLIENTS[kind]):
        raise ImproperlyConfigured(
            f"{kind} upstream clients {sorted(registry)} != catalog {UPSTREAM_CLIENTS[kind]}"
        )
    for name, target in registry.items():
        module = target.partition(":")[0]
        if importlib.util.find_spec(module) is None:  # finds the file, imports no library
            raise ImproperlyConfigured(f"{kind} upstream client {name!r}: no module {module}")


# At import, like urls.py with the views: a client in the catalog without an implementation
# fails here rather than in the middle of a benchmark.
check_registry("sync", SYNC_CLIENTS)
check_registry("async", ASYNC_CLIENTS)


def load(target: str) -> Callable[[], Any]:
    """The class an import string names (importing its module, hence its library)."""
    module, _, attribute = target.partition(":")
    return cast(Callable[[], Any], getattr(importlib.import_module(module), attribute))


_lock = threading.Lock()
_sync_clients: dict[UpstreamClient, SyncUpstream] = {}
_executor: ThreadPoolExecutor | None = None


def sync_client() -> SyncUpstream:
    """The process's client of the configured name, created on first use."""
    name: UpstreamClient = settings.DJBENCH_UPSTREAM_SYNC_CLIENT
    client = _sync_clients.get(name)
    if client is None:
        with _lock:
            client = _sync_clients.get(name)
            if client is None:
                client = _sync_clients[name] = cast(SyncUpstream, load(SYNC_CLIENTS[name])())
    return client


def _fan_out() -> ThreadPoolExecutor:
    global _executor  # process-wide, created on first use
    if _executor is None:
        with _lock:
            if _executor is None:
                # Threads start on demand, so a high ceiling costs nothing until it is needed;
                # under gevent's monkey patching they are greenlets.
                _executor = ThreadPoolExecutor(
                    max_workers=settings.DJBENCH_UPSTREAM_CONNECTIONS,
                    thread_name_prefix="upstream",
                )
    return _executor


def fetch(delay_ms: int) -> UpstreamReply:
    """One call to ``/delay/{delay_ms}``."""
    return sync_client().get(delay_ms)


def fetch_all(delays: Sequence[int]) -> list[UpstreamReply]:
    """One call per delay, concurrently on the thread pool; replies in the order of ``delays``."""
    return list(_fan_out().map(fetch, delays))


def _opener(name: UpstreamClient) -> Callable[[], Awaitable[AsyncUpstream]]:
    async def open_() -> AsyncUpstream:
        # Inside the running loop: aiohttp binds its session to the loop it is created in.
        return cast(AsyncUpstream, load(ASYNC_CLIENTS[name])())

    return open_


async def _close(client: AsyncUpstream) -> None:
    await client.aclose()


async_clients: dict[UpstreamClient, LoopLocal[AsyncUpstream]] = {
    name: LoopLocal(_opener(name), _close) for name in ASYNC_CLIENTS
}
"""Each async client, opened in a loop only when that loop calls with it."""


async def afetch(delay_ms: int) -> UpstreamReply:
    """Async ``fetch``."""
    client = await async_clients[settings.DJBENCH_UPSTREAM_ASYNC_CLIENT].get()
    return await client.get(delay_ms)


async def afetch_all(delays: Sequence[int]) -> list[UpstreamReply]:
    """Async ``fetch_all``: the calls run concurrently with ``asyncio.gather``."""
    return list(await asyncio.gather(*(afetch(delay) for delay in delays)))
