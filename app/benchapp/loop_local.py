"""Process-wide async resources, one per running event loop.

An async upstream client (an aiohttp ``ClientSession``, an ``httpx.AsyncClient``) or a psycopg
``AsyncConnectionPool`` belongs to the loop it was first used on. Under an ASGI server there is
one loop for the life of the process, so each resource is created once. Under a WSGI server
Django runs every async view on a fresh loop, so the resources of that loop are closed when the
request ends (``aclose_all``), never leaked; entries of loops that closed without that are
dropped the next time a resource is opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

_CLOSERS: list[Callable[[], Awaitable[None]]] = []


class LoopLocal(Generic[T]):
    """A resource opened on first use in each event loop and reused for that loop's life."""

    def __init__(
        self, open_: Callable[[], Awaitable[T]], close: Callable[[T], Awaitable[None]]
    ) -> None:
        self._open = open_
        self._close = close
        # Not a WeakKeyDictionary: each opening task refers to its loop, so weak keys would
        # never die anyway. Entries are removed explicitly (aclose, or _forget_closed_loops).
        self._tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[T]] = {}
        _CLOSERS.append(self.aclose)

    async def get(self) -> T:
        """The current loop's resource, opening it if this loop has none (or its opening failed)."""
        loop = asyncio.get_running_loop()
        task = self._tasks.get(loop)
        if task is not None and task.done() and not task.cancelled() and not task.exception():
            return task.result()
        if task is None or task.done():
            self._forget_closed_loops()
            # Concurrent first requests share one opening task instead of racing to open two.
            task = loop.create_task(self._invoke_open())
            self._tasks[loop] = task
        # shield: one waiter being cancelled must not cancel the opening others wait for.
        return await asyncio.shield(task)

    def _forget_closed_loops(self) -> None:
        # A closed loop cannot run a close any more: drop the reference so memory is freed.
        # list() snapshots the keys atomically; other threads may add their loops meanwhile.
        for loop in list(self._tasks):
            if loop.is_closed():
                self._tasks.pop(loop, None)

    def __len__(self) -> int:
        """How many loops hold (or are opening) this resource now."""
        return len(self._tasks)

    async def _invoke_open(self) -> T:
        return await self._open()

    async def aclose(self) -> None:
        """Close the current loop's resource, if it has one."""
        task = self._tasks.pop(asyncio.get_running_loop(), None)
        if task is None:
            return
        try:
            value = await task
        except Exception:
            return  # opening failed: nothing to close
        await self._close(value)


async def aclose_all() -> None:
    """Close every ``LoopLocal`` resource of the current loop (its end is near)."""
    for aclose in _CLOSERS:
        await aclose()
