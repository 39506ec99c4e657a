"""Async views (``/async-s2a/...``): the sync ORM functions in ``sync_to_async(thread_sensitive)``.

One thread hop per view for its database work, the way code ported from sync Django often is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse

from benchapp import upstream as upstream_api
from benchapp.items import queries
from benchapp.views import workloads as w
from benchapp.views.async_orm import cpu, upstream

__all__ = ["cpu", "db_read", "db_write", "page", "sleep", "upstream"]

_read_first = sync_to_async(queries.read_first, thread_sensitive=True)
_read_latest = sync_to_async(queries.read_latest, thread_sensitive=True)
_insert_item = sync_to_async(queries.insert_item, thread_sensitive=True)
_sleep_in_db = sync_to_async(queries.sleep_in_db, thread_sensitive=True)


async def db_read(request: Any) -> HttpResponse:
    """Row count and first rows."""
    return w.db_read_answer(await _read_first(w.DB_READ_ROWS))


async def db_write(request: Any) -> HttpResponse:
    """Insert one row from the JSON body."""
    new = w.parse_new_item(request.body)
    return w.db_write_answer(await _insert_item(new.name, new.value))


async def sleep(request: Any) -> HttpResponse:
    """Wait on a timer or in Postgres."""
    wait = w.parse_sleep(request.GET)
    if wait.via == "db":
        await _sleep_in_db(wait.seconds)
    else:
        await asyncio.sleep(wait.seconds)
    return w.sleep_answer(wait)


async def page(request: Any) -> HttpResponse:
    """Two queries, one upstream call, one template."""
    read = await _read_latest(w.PAGE_ROWS)
    reply = await upstream_api.afetch(settings.DJBENCH_UPSTREAM_DELAYS[0])
    return w.page_answer("async-s2a", read, reply)
