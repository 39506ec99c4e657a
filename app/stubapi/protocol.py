"""uvicorn's httptools protocol, counting the connections it accepts (``--http`` takes a class)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stubapi.traffic import TRAFFIC


class CountingHttpToolsProtocol(HttpToolsProtocol):
    """One instance per TCP connection: ``connection_made`` is its accept."""

    # Narrowed to Transport like uvicorn's own override (asyncio.Protocol takes a BaseTransport).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        TRAFFIC.connection_made()
        super().connection_made(transport)
