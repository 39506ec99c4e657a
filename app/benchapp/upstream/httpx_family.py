"""Clients over httpx's API, which ``httpx`` 0.28 and its maintained fork ``httpx2`` share: one
implementation, the library a class attribute."""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

from benchapp.catalog import UpstreamClient
from benchapp.upstream import base


def _client_options(library: ModuleType) -> dict[str, Any]:
    size = base.pool_size()
    return {
        "limits": library.Limits(max_connections=size, max_keepalive_connections=size),
        # No proxies or .netrc from the environment: the same for every client.
        "trust_env": False,
    }


class SyncHttpxFamilyClient:
    """One ``Client``, shared by every thread (or greenlet) of the process."""

    name: ClassVar[UpstreamClient]
    library: ClassVar[ModuleType]

    def __init__(self) -> None:
        self._client = self.library.Client(**_client_options(self.library))

    def get(self, delay_ms: int) -> base.UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        # ValueError: a body that is not JSON, which requests reports as one of its own errors.
        with base.failures_of(self.library.HTTPError, ValueError):
            response = self._client.get(base.url(delay_ms), timeout=base.timeout())
            base.check_status(delay_ms, response.status_code)
            return base.UpstreamReply(self.name, delay_ms, response.status_code, response.json())


class AsyncHttpxFamilyClient:
    """One ``AsyncClient`` per event loop."""

    name: ClassVar[UpstreamClient]
    library: ClassVar[ModuleType]

    def __init__(self) -> None:
        self._client = self.library.AsyncClient(**_client_options(self.library))

    async def get(self, delay_ms: int) -> base.UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        with base.failures_of(self.library.HTTPError, ValueError):
            response = await self._client.get(base.url(delay_ms), timeout=base.timeout())
            base.check_status(delay_ms, response.status_code)
            return base.UpstreamReply(self.name, delay_ms, response.status_code, response.json())

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()
