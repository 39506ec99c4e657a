"""Async views (``/async/...``): Django's native async ORM, upstream calls with ``gather``.

``cpu``, ``upstream`` and the timer ``sleep`` touch no database, so the other async flavors
reuse them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.http import HttpResponse

from benchapp import upstream as upstream_api
from benchapp.cpu import cpu_burn
from benchapp.items import queries
from benchapp.views import workloads as w


async def cpu(request: Any) -> HttpResponse:
    """Pure-Python CPU work (it holds the event loop, as CPU work in an async view does)."""
    n = w.parse_cpu(request.GET)
    return w.cpu_answer(n, cpu_burn(n))


async def db_read(request: Any) -> HttpResponse:
    """Row count and first rows."""
    return w.db_read_answer(await queries.aread_first(w.DB_READ_ROWS))


async def db_write(request: Any) -> HttpResponse:
    """Insert one row from the JSON body."""
    new = w.parse_new_item(request.body)
    return w.db_write_answer(await queries.ainsert_item(new.name, new.value))


async def upstream(request: Any) -> HttpResponse:
    """Concurrent calls to the stub API."""
    return w.upstream_answer(await upstream_api.afetch_all(settings.DJBENCH_UPSTREAM_DELAYS))


async def sleep(request: Any) -> HttpResponse:
    """Wait on a timer or in Postgres."""
    wait = w.parse_sleep(request.GET)
    if wait.via == "db":
        await queries.asleep_in_db(wait.seconds)
    else:
        await asyncio.sleep(wait.seconds)
    return w.sleep_answer(wait)


async def page(request: Any) -> HttpResponse:
    """Two queries, one upstream call, one template."""
    read = await queries.aread_latest(w.PAGE_ROWS)
    reply = await upstream_api.afetch(settings.DJBENCH_UPSTREAM_DELAYS[0])
    return w.page_answer("async", read, reply)
