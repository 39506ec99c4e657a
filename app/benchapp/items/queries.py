"""ORM access to ``items`` in Django's own pairs: ``read_first`` (sync) / ``aread_first`` (async).

The sync functions serve the ``sync`` views and, wrapped in ``sync_to_async``, the
``async-s2a`` views; the ``a*`` functions use Django's native async ORM for ``async`` views.
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

from django.db import connection

from benchapp.items.models import Item

FIELDS = ("id", "name", "value")


class ItemRow(TypedDict):
    """One item as every flavor returns it."""

    id: int
    name: str
    value: int


class ItemsRead(NamedTuple):
    """The exact row count of the table and some of its rows."""

    row_count: int
    items: list[ItemRow]


def read_first(limit: int) -> ItemsRead:
    """Row count plus the first ``limit`` rows by id."""
    rows = list(Item.objects.order_by("id").values(*FIELDS)[:limit])
    return ItemsRead(Item.objects.count(), rows)


def read_latest(limit: int) -> ItemsRead:
    """Row count plus the ``limit`` newest rows (highest ids first)."""
    rows = list(Item.objects.order_by("-id").values(*FIELDS)[:limit])
    return ItemsRead(Item.objects.count(), rows)


def insert_item(name: str, value: int) -> ItemRow:
    """Insert one row and return it with its new id."""
    item = Item.objects.create(name=name, value=value)
    return {"id": item.id, "name": item.name, "value": item.value}


def sleep_in_db(seconds: float) -> None:
    """Hold a pooled connection while Postgres sleeps (``pg_sleep``)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])


async def aread_first(limit: int) -> ItemsRead:
    """Async ``read_first``."""
    rows = [row async for row in Item.objects.order_by("id").values(*FIELDS)[:limit]]
    return ItemsRead(await Item.objects.acount(), rows)


async def aread_latest(limit: int) -> ItemsRead:
    """Async ``read_latest``."""
    rows = [row async for row in Item.objects.order_by("-id").values(*FIELDS)[:limit]]
    return ItemsRead(await Item.objects.acount(), rows)


async def ainsert_item(name: str, value: int) -> ItemRow:
    """Async ``insert_item``."""
    item = await Item.objects.acreate(name=name, value=value)
    return {"id": item.id, "name": item.name, "value": item.value}


async def asleep_in_db(seconds: float) -> None:
    """Async ``sleep_in_db``: the async ORM has no cursor, so a raw query set carries the SQL."""
    # A raw query set must return the primary key; the one row of pg_sleep() is enough.
    async for _ in Item.objects.raw("SELECT 0 AS id FROM pg_sleep(%s)", [seconds]):
        pass
