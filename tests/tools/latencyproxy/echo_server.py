"""A TCP echo server on uvloop, its own process: ``python echo_server.py PORT``.

The upstream of the latency tests: it answers at once, so a round trip through it measures the
network path (direct, or through the proxy). It closes a connection when the client has sent its
EOF; SIGTERM ends it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import uvloop


class Echo(asyncio.Protocol):
    """Writes back what it reads."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=4096, reuse_address=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
