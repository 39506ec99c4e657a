"""The relay: each direction of each connection delays its chunks, as toxiproxy's latency toxic.

- A direction keeps a queue of ``(due, chunk)``. A chunk read at time t is due at t + delay
  (± uniform jitter), and never before the chunk ahead of it: a chunk waits only its own delay,
  counted from its arrival (delays never pile up), and order is kept.
- A direction asks the clock (latencyproxy.clock: a timerfd, to the microsecond) to wake it
  when the head of its queue is due; then every chunk due goes out in one write. With neither
  delay nor jitter, chunks are written as they arrive.
- The end of a stream travels behind its data, after the same delay: an EOF is passed on as a
  half-close (write_eof), a reset as a reset (SO_LINGER 0, then close). When both directions
  have ended, the connection is closed.
- Flow control: reading from a side pauses while its direction holds more than ``HIGH_WATER``
  bytes queued, or while the receiving side's transport buffers more than it will take; it
  resumes when the queue is down to ``LOW_WATER``. A large payload costs bounded memory.

Protocols and one timerfd, no streams, tasks or timer handles per chunk: hundreds of connections
and thousands of chunks a second cost a fraction of one core.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import socket
import struct
import time
from collections import deque
from typing import cast

from latencyproxy.clock import Clock, best_clock
from latencyproxy.settings import Settings, format_address
from latencyproxy.stats import Stats

HIGH_WATER = 1024 * 1024
"""Bytes queued in a direction above which reading from its source pauses."""
LOW_WATER = HIGH_WATER // 4
"""Bytes queued in a direction at or below which reading from its source resumes."""
CONNECT_TIMEOUT_S = 10.0
"""How long to wait for the upstream to accept, before closing the client's connection."""

_LINGER_NOW = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset

log = logging.getLogger("latencyproxy")


class End(enum.Enum):
    """How a side's stream ended."""

    EOF = "eof"
    RESET = "reset"


def _set_nodelay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY: a delayed chunk goes out at once, not when Nagle's algorithm allows."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reset(transport: asyncio.Transport) -> None:
    """Close with a reset (RST), not a FIN."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NOW)
    transport.abort()


class Direction:
    """What one side (the source) sends, written to the other (the sink) after the delay."""

    __slots__ = (
        "_armed",
        "_clock",
        "_delay_s",
        "_immediate",
        "_jitter_s",
        "_last_due",
        "_link",
        "_queue",
        "_queued",
        "_reading_paused",
        "_sink_full",
        "closed",
        "ended",
        "eof_sent",
        "sink",
        "source",
    )

    def __init__(self, link: Link, delay_s: float, jitter_s: float) -> None:
        self._link = link
        self._clock = link.proxy.clock
        self._delay_s = delay_s
        self._jitter_s = jitter_s
        self._immediate = delay_s == 0 and jitter_s == 0
        self._queue: deque[tuple[float, bytes | End]] = deque()
        self._queued = 0  # bytes in the queue
        self._last_due = 0.0
        self._armed = False  # the clock will wake this direction
        self._reading_paused = False
        self._sink_full = False
        self.source: asyncio.Transport | None = None
        self.sink: asyncio.Transport | None = None  # None until the upstream is connected
        self.ended = False  # the source sent its end: no data follows (a reset still may)
        self.eof_sent = False  # the sink was sent the EOF
        self.closed = False  # nothing more is delivered

    @property
    def finished(self) -> bool:
        """Nothing but a reset can reach the sink any more."""
        return self.eof_sent or self.closed

    def push(self, data: bytes) -> None:
        """Data read from the source."""
        if self.closed:
            return
        sink = self.sink
        if self._immediate and sink is not None and not self._queue:
            if not sink.is_closing():  # else its connection_lost closes this direction soon
                sink.write(data)
            return
        self._enqueue(data)
        self._queued += len(data)
        if self._queued > HIGH_WATER:
            self._pause_source()

    def end(self, end: End) -> None:
        """The source's end, passed on behind the data queued."""
        if self.closed or (self.ended and end is End.EOF):
            return
        self.ended = True
        if self._immediate and self.sink is not None and not self._queue:
            self._link.deliver(self, self.sink, end)
        else:
            self._enqueue(end)

    def attach(self, sink: asyncio.Transport) -> None:
        """The sink is connected: release what is due, arm the timer for the rest."""
        self.sink = sink
        if self._queue and not self.closed:
            self._release()

    def sink_full(self, full: bool) -> None:
        """The sink's transport buffers more than it will take (or no longer does)."""
        self._sink_full = full
        if full:
            self._pause_source()
        elif self._reading_paused and self._queued <= LOW_WATER:
            self._resume_source()

    def close(self) -> None:
        """Deliver nothing more: drop the queue (a wake-up still due finds nothing)."""
        self.closed = True
        self._queue.clear()
        self._queued = 0

    def wake(self) -> None:
        """The head of the queue is due (the clock calls this)."""
        self._armed = False
        self._release()

    def _enqueue(self, item: bytes | End) -> None:
        due = time.monotonic() + self._delay_s
        if self._jitter_s:
            due = max(due + random.uniform(-self._jitter_s, self._jitter_s), self._last_due)
            self._last_due = due
        self._queue.append((due, item))
        # Woken for the head: this item, when the queue was empty.
        if not self._armed and self.sink is not None:
            self._armed = True
            self._clock.wake_at(due, self)

    def _release(self) -> None:
        """Write every chunk due (and pass on an end); be woken for the next one."""
        sink = self.sink
        if self.closed or sink is None or sink.is_closing():
            return  # closed, not connected yet, or about to be lost (and this direction closed)
        queue = self._queue
        horizon = time.monotonic() + self._clock.early_s
        chunks: list[bytes] = []
        size = 0
        while queue and queue[0][0] <= horizon:
            item = queue.popleft()[1]
            if isinstance(item, End):
                self._write(sink, chunks)
                chunks = []
                self._link.deliver(self, sink, item)
                if self.closed:
                    return
            else:
                chunks.append(item)
                size += len(item)
        self._write(sink, chunks)
        self._queued -= size
        if queue and not self._armed:
            self._armed = True
            self._clock.wake_at(queue[0][0], self)
        if self._reading_paused and self._queued <= LOW_WATER and not self._sink_full:
            self._resume_source()

    @staticmethod
    def _write(sink: asyncio.Transport, chunks: list[bytes]) -> None:
        if len(chunks) == 1:
            sink.write(chunks[0])
        elif chunks:
            sink.write(b"".join(chunks))

    def _pause_source(self) -> None:
        if not self._reading_paused and self.source is not None:
            self._reading_paused = True
            self.source.pause_reading()

    def _resume_source(self) -> None:
        self._reading_paused = False
        if self.source is not None:
            self.source.resume_reading()


class Link:
    """One relayed connection: the client's socket, the upstream's, and a Direction each way."""

    __slots__ = (
        "_connecting",
        "_sockets",
        "answered",
        "client",
        "closed",
        "down",
        "loop",
        "proxy",
        "stats",
        "up",
        "upstream",
    )

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.stats = proxy.stats
        self.loop = proxy.loop
        settings = proxy.settings
        self.up = Direction(self, settings.delay_s, settings.jitter_s)  # client → upstream
        self.down = Direction(self, settings.delay_s, settings.jitter_s)  # upstream → client
        self.client: asyncio.Transport | None = None
        self.upstream: asyncio.Transport | None = None
        self.answered = True  # the upstream sent last (or nobody yet): client data is a new turn
        self.closed = False
        self._sockets = 2  # the client's and the upstream's (or its connection attempt)
        self._connecting: asyncio.Task[None] | None = None

    def connect(self) -> None:
        """Connect to the upstream, in the background."""
        self._connecting = self.loop.create_task(self._connect())

    async def _connect(self) -> None:
        host, port = self.proxy.settings.upstream
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self.loop.create_connection(lambda: UpstreamSide(self), host, port)
        except OSError as exc:  # TimeoutError is one
            self.stats.upstream_connect_failures += 1
            log.info("cannot connect to %s: %s", format_address((host, port)), exc)
            self.close()
            self._gone()

    def deliver(self, direction: Direction, sink: asyncio.Transport, end: End) -> None:
        """Pass a source's end on to the sink: a reset ends the connection, an EOF half of it."""
        if end is End.RESET:
            _reset(sink)
            self.close()
            return
        direction.eof_sent = True
        other = self.down if direction is self.up else self.up
        if other.finished or not sink.can_write_eof():
            self.close()
        elif not sink.is_closing():
            sink.write_eof()

    def lost(self, side: Side, exc: Exception | None) -> None:
        """A side's socket is closed: its end goes out behind its data; it receives no more."""
        if not self.closed:
            side.inbound.close()
            side.outbound.end(End.EOF if exc is None else End.RESET)
            if self.up.finished and self.down.finished:
                self.close()
        self._gone()

    def close(self) -> None:
        """Close both sockets (flushing what was written) and stop both directions."""
        if self.closed:
            return
        self.closed = True
        self.up.close()
        self.down.close()
        for transport in (self.client, self.upstream):
            if transport is not None:
                transport.close()

    def _gone(self) -> None:
        self._sockets -= 1
        if self._sockets == 0:
            self.proxy.finished(self)


class Side(asyncio.Protocol):
    """One socket of a link: what it reads goes ``outbound``, ``inbound`` writes to it."""

    __slots__ = ("inbound", "link", "outbound")

    def __init__(self, link: Link, outbound: Direction, inbound: Direction) -> None:
        self.link = link
        self.outbound = outbound
        self.inbound = inbound

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        _set_nodelay(tcp)
        self.outbound.source = tcp
        self.inbound.attach(tcp)

    def eof_received(self) -> bool:
        self.outbound.end(End.EOF)
        return True  # keep the socket open to pass on the other direction

    def connection_lost(self, exc: Exception | None) -> None:
        self.link.lost(self, exc)

    def pause_writing(self) -> None:
        self.inbound.sink_full(True)

    def resume_writing(self) -> None:
        self.inbound.sink_full(False)


class ClientSide(Side):
    """The accepted socket; its arrival starts the link."""

    __slots__ = ()

    def __init__(self, proxy: Proxy) -> None:
        link = Link(proxy)
        super().__init__(link, link.up, link.down)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.link.client = cast(asyncio.Transport, transport)
        super().connection_made(transport)
        self.link.proxy.accepted(self.link)

    def data_received(self, data: bytes) -> None:
        link = self.link
        stats = link.stats
        if link.answered:
            link.answered = False
            stats.round_trips += 1
        stats.bytes_client_to_upstream += len(data)
        self.outbound.push(data)


class UpstreamSide(Side):
    """The socket the proxy opened to the upstream."""

    __slots__ = ()

    def __init__(self, link: Link) -> None:
        super().__init__(link, link.down, link.up)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        self.link.upstream = tcp
        if self.link.closed:  # the proxy is shutting down
            tcp.abort()
            return
        super().connection_made(tcp)

    def data_received(self, data: bytes) -> None:
        link = self.link
        link.answered = True
        link.stats.bytes_upstream_to_client += len(data)
        self.outbound.push(data)


class Proxy:
    """Accepts clients, a link each, and keeps every link open to close them at shutdown."""

    def __init__(
        self,
        settings: Settings,
        stats: Stats,
        loop: asyncio.AbstractEventLoop,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self.loop = loop
        self.clock = best_clock(loop) if clock is None else clock
        self.links: set[Link] = set()

    async def listen(self, backlog: int) -> asyncio.Server:
        """Start accepting on ``settings.listen``; OSError when the address cannot be bound."""
        host, port = self.settings.listen
        return await self.loop.create_server(
            lambda: ClientSide(self), host, port, backlog=backlog, reuse_address=True
        )

    def accepted(self, link: Link) -> None:
        """A client connected."""
        self.stats.opened()
        self.links.add(link)
        link.connect()

    def finished(self, link: Link) -> None:
        """Both sockets of a link are closed."""
        self.stats.closed()
        self.links.discard(link)

    def close(self) -> None:
        """Close every link, stop the clock."""
        for link in list(self.links):
            link.close()
        self.clock.close()
