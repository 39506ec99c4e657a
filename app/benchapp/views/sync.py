"""Sync views (``/sync/...``): Django's ORM on its psycopg pool, upstream calls on threads."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http import HttpResponse

from benchapp import upstream as upstream_api
from benchapp.cpu import cpu_burn
from benchapp.items import queries
from benchapp.views import workloads as w


def cpu(request: Any) -> HttpResponse:
    """Pure-Python CPU work."""
    n = w.parse_cpu(request.GET)
    return w.cpu_answer(n, cpu_burn(n))


def db_read(request: Any) -> HttpResponse:
    """Row count and first rows."""
    return w.db_read_answer(queries.read_first(w.DB_READ_ROWS))


def db_write(request: Any) -> HttpResponse:
    """Insert one row from the JSON body."""
    new = w.parse_new_item(request.body)
    return w.db_write_answer(queries.insert_item(new.name, new.value))


def upstream(request: Any) -> HttpResponse:
    """Concurrent calls to the stub API."""
    return w.upstream_answer(upstream_api.fetch_all(settings.DJBENCH_UPSTREAM_DELAYS))


def sleep(request: Any) -> HttpResponse:
    """Wait on a timer or in Postgres."""
    wait = w.parse_sleep(request.GET)
    if wait.via == "db":
        queries.sleep_in_db(wait.seconds)
    else:
        time.sleep(wait.seconds)
    return w.sleep_answer(wait)


def page(request: Any) -> HttpResponse:
    """Two queries, one upstream call, one template."""
    read = queries.read_latest(w.PAGE_ROWS)
    reply = upstream_api.fetch(settings.DJBENCH_UPSTREAM_DELAYS[0])
    return w.page_answer("sync", read, reply)
