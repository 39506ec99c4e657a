"""What every upstream client shares: its interface, the reply, the URL and the failure mapping."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings

from benchapp.catalog import UpstreamClient
from benchapp.errors import UpstreamError


@dataclass(frozen=True)
class UpstreamReply:
    """One answered call: the client that made it, the delay asked for, the status, the record."""

    client: UpstreamClient
    delay_ms: int
    status: int
    record: dict[str, Any]


class SyncUpstream(Protocol):
    """A client for sync views: one per process, shared by all threads (or greenlets)."""

    name: UpstreamClient

    def get(self, delay_ms: int) -> UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        ...


class AsyncUpstream(Protocol):
    """A client for async views: one per event loop, created and closed inside it."""

    name: UpstreamClient

    async def get(self, delay_ms: int) -> UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        ...

    async def aclose(self) -> None:
        """Close the pooled connections."""
        ...


def url(delay_ms: int) -> str:
    """The stub API's URL for one call."""
    # Built per call (cheap) rather than baked into the client, so settings can change in tests.
    return f"{settings.DJBENCH_STUB_URL}/delay/{delay_ms}"


def timeout() -> float:
    """Seconds each call may take to connect, and to read each part of the answer."""
    return float(settings.DJBENCH_UPSTREAM_TIMEOUT)


def pool_size() -> int:
    """Most connections a client holds, open or kept alive."""
    return int(settings.DJBENCH_UPSTREAM_CONNECTIONS)


def check_status(delay_ms: int, status: int) -> None:
    """Refuse any answer but 200: the app must not pass an upstream error off as a success."""
    if status != 200:
        raise UpstreamError(f"upstream answered {status} for delay {delay_ms} ms")


@contextlib.contextmanager
def failures_of(*failures: type[BaseException]) -> Iterator[None]:
    """Turn a library's own failures (connect errors, timeouts, protocol errors) into one
    ``UpstreamError`` naming the exception type, so every client answers 502 the same way."""
    try:
        yield
    except failures as exc:
        raise UpstreamError(f"upstream unavailable: {type(exc).__name__}") from exc
