"""``aiohttp``, for async views: one ``ClientSession`` with a ``TCPConnector`` per event loop."""

from __future__ import annotations

import aiohttp

from benchapp.catalog import UpstreamClient
from benchapp.upstream import base


class AiohttpClient:
    """One ``aiohttp.ClientSession``; create it inside the loop that will use it."""

    name: UpstreamClient = "aiohttp"

    def __init__(self) -> None:
        size = base.pool_size()
        # limit: connections in all (default 100, which would cap the pool); limit_per_host: to
        # any one host (default 0, none of its own). Both, so the one upstream host gets `size`.
        connector = aiohttp.TCPConnector(limit=size, limit_per_host=size, force_close=False)
        self._session = aiohttp.ClientSession(connector=connector)

    async def get(self, delay_ms: int) -> base.UpstreamReply:
        """One call to ``/delay/{delay_ms}``."""
        # Per-operation timeouts like httpx's and requests': `connect` covers the wait for a
        # pooled connection and the connect, `sock_read` each read; no limit on the total.
        seconds = base.timeout()
        timeout = aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)
        # TimeoutError too: not every timeout aiohttp raises is a ClientError (`total`'s is not);
        # ValueError: a body that is not JSON, as requests' own JSONDecodeError is one.
        with base.failures_of(aiohttp.ClientError, TimeoutError, ValueError):
            async with self._session.get(base.url(delay_ms), timeout=timeout) as response:
                base.check_status(delay_ms, response.status)
                record = await response.json()
        return base.UpstreamReply(self.name, delay_ms, response.status, record)

    async def aclose(self) -> None:
        """Close the session and its connector (it waits for the sockets to close)."""
        await self._session.close()
