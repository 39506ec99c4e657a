"""Hand-written SQL on ``items`` over a psycopg ``AsyncConnectionPool``: the ``async-raw`` flavor.

Same function names and results as the ``a*`` functions of ``queries``. The pool is one per
running event loop (an async pool is bound to its loop), opened lazily and sized from the same
``DJBENCH_DB_POOL_*`` variables as Django's pool.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from benchapp import env
from benchapp.items.queries import ItemRow, ItemsRead
from benchapp.loop_local import LoopLocal

Pool = AsyncConnectionPool[AsyncConnection[Any]]

# The table is models.TABLE; spelled out so each statement reads as the SQL sent.
_COUNT = "SELECT count(*) FROM items"
_FIRST = "SELECT id, name, value FROM items ORDER BY id LIMIT %s"
_LATEST = "SELECT id, name, value FROM items ORDER BY id DESC LIMIT %s"
_INSERT = "INSERT INTO items (name, value) VALUES (%s, %s) RETURNING id, name, value"


async def _open_pool() -> Pool:
    database = settings.DATABASES["default"]
    sizes = database["OPTIONS"]["pool"]
    kwargs = env.conninfo(database) | {
        # Like Django: autocommit (no BEGIN/COMMIT round trips) and no server-side prepared
        # statements, so flavors differ in how they wait for I/O, not in the SQL protocol.
        "autocommit": True,
        "prepare_threshold": None,
    }
    pool: Pool = AsyncConnectionPool(
        kwargs=kwargs,
        min_size=sizes["min_size"],
        max_size=sizes["max_size"],
        timeout=sizes["timeout"],
        open=False,
    )
    await pool.open()
    return pool


async def _close_pool(pool: Pool) -> None:
    await pool.close()


pools: LoopLocal[Pool] = LoopLocal(_open_pool, _close_pool)


async def _read(query: str, limit: int) -> ItemsRead:
    pool = await pools.get()
    async with pool.connection() as conn:
        count_row = await (await conn.execute(_COUNT)).fetchone()
        rows = await (await conn.execute(query, (limit,))).fetchall()
    count = count_row[0] if count_row else 0
    return ItemsRead(count, [{"id": i, "name": n, "value": v} for i, n, v in rows])


async def aread_first(limit: int) -> ItemsRead:
    """Row count plus the first ``limit`` rows by id."""
    return await _read(_FIRST, limit)


async def aread_latest(limit: int) -> ItemsRead:
    """Row count plus the ``limit`` newest rows (highest ids first)."""
    return await _read(_LATEST, limit)


async def ainsert_item(name: str, value: int) -> ItemRow:
    """Insert one row and return it with its new id."""
    pool = await pools.get()
    async with pool.connection() as conn:
        row = await (await conn.execute(_INSERT, (name, value))).fetchone()
    assert row is not None  # INSERT … RETURNING always yields the row
    return {"id": row[0], "name": row[1], "value": row[2]}


async def asleep_in_db(seconds: float) -> None:
    """Hold a pooled connection while Postgres sleeps (``pg_sleep``)."""
    pool = await pools.get()
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_sleep(%s)", (seconds,))
