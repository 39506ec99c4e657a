"""Async views (``/async-raw/...``): hand-written SQL on a psycopg ``AsyncConnectionPool``."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.http import HttpResponse

from benchapp import upstream as upstream_api
from benchapp.items import raw_queries
from benchapp.views import workloads as w
from benchapp.views.async_orm import cpu, upstream

__all__ = ["cpu", "db_read", "db_write", "page", "sleep", "upstream"]


async def db_read(request: Any) -> HttpResponse:
    """Row count and first rows."""
    return w.db_read_answer(await raw_queries.aread_first(w.DB_READ_ROWS))


async def db_write(request: Any) -> HttpResponse:
    """Insert one row from the JSON body."""
    new = w.parse_new_item(request.body)
    return w.db_write_answer(await raw_queries.ainsert_item(new.name, new.value))


async def sleep(request: Any) -> HttpResponse:
    """Wait on a timer or in Postgres."""
    wait = w.parse_sleep(request.GET)
    if wait.via == "db":
        await raw_queries.asleep_in_db(wait.seconds)
    else:
        await asyncio.sleep(wait.seconds)
    return w.sleep_answer(wait)


async def page(request: Any) -> HttpResponse:
    """Two queries, one upstream call, one template."""
    read = await raw_queries.aread_latest(w.PAGE_ROWS)
    reply = await upstream_api.afetch(settings.DJBENCH_UPSTREAM_DELAYS[0])
    return w.page_answer("async-raw", read, reply)
