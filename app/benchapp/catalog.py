"""The workloads the app serves and the view flavors that serve them: the one definition.

Pure data with no Django import, so the harness (``djbench``) reads the same definition the
URL configuration is built from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Method = Literal["GET", "POST"]
ViewFlavor = Literal["sync", "async", "async-s2a", "async-raw"]

VIEW_FLAVORS: tuple[ViewFlavor, ...] = ("sync", "async", "async-s2a", "async-raw")
"""``sync``: plain Django views. ``async``: native async ORM (``a*`` methods).
``async-s2a``: ``sync_to_async(thread_sensitive=True)`` around the sync ORM.
``async-raw``: psycopg ``AsyncConnectionPool`` with hand-written SQL (true async I/O)."""

FLAVOR_DESCRIPTIONS: dict[ViewFlavor, str] = {
    "sync": "sync views, Django's psycopg pool",
    "async": "async views, native async ORM",
    "async-s2a": "async views, sync_to_async around the sync ORM",
    "async-raw": "async views, raw psycopg AsyncConnectionPool",
}

ClientKind = Literal["sync", "async"]
"""Which interface an upstream client serves: sync views (threads, greenlets) or async views."""
UpstreamClient = Literal["requests", "aiohttp", "httpx2", "httpx"]

UPSTREAM_CLIENTS: dict[ClientKind, tuple[UpstreamClient, ...]] = {
    "sync": ("requests", "httpx2", "httpx"),
    "async": ("aiohttp", "httpx2", "httpx"),
}
"""The HTTP clients a view of each kind can make its upstream calls with. ``requests`` uses
urllib3's pool, ``aiohttp`` a ``ClientSession`` with a ``TCPConnector``; ``httpx2`` (pydantic's
maintained fork) and ``httpx`` (0.28) have a client of each kind. Each name is also the
distribution whose version is recorded with a run."""

DEFAULT_UPSTREAM_CLIENTS: dict[ClientKind, UpstreamClient] = {
    "sync": "requests",
    "async": "aiohttp",
}
"""The client each kind uses unless a scenario says otherwise: the one that does not distort
the sync-versus-async comparison (measured: see the README's findings)."""


def client_kind(flavor: ViewFlavor) -> ClientKind:
    """The kind of upstream client a view flavor calls with."""
    return "sync" if flavor == "sync" else "async"


UPSTREAM_DELAYS_MS: tuple[int, ...] = (300, 600, 150)
"""Three concurrent calls to the stub API, as in the best-known sync-or-async article."""

CPU_DEFAULT_N = 45_000
"""Iterations of the CPU loop that take about 10 ms on the 2-core reference machines."""


@dataclass(frozen=True)
class Workload:
    """One kind of work, served at ``/<flavor>/<name>`` by every view flavor."""

    name: str
    method: Method
    description: str
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, object] | None = None
    touches_db: bool = False
    touches_upstream: bool = False

    def path(self, flavor: ViewFlavor) -> str:
        """URL path of this workload for one view flavor."""
        return f"/{flavor}/{self.name}"


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("cpu", "GET", "pure-Python CPU work (?n= iterations, ~10 ms by default)"),
        Workload(
            "db-read",
            "GET",
            "first 25 rows of the seeded table plus its row count",
            touches_db=True,
        ),
        Workload(
            "db-write",
            "POST",
            "insert one row from a validated JSON body and return it",
            body={"name": "k6", "value": 42},
            touches_db=True,
        ),
        Workload(
            "upstream",
            "GET",
            "three concurrent calls to the stub API (300, 600 and 150 ms)",
            touches_upstream=True,
        ),
        Workload("sleep", "GET", "wait ?ms= without CPU (default 100 ms)", query={"ms": "100"}),
        Workload(
            "page",
            "GET",
            "two ORM queries, one upstream call and a template render",
            touches_db=True,
            touches_upstream=True,
        ),
    )
}
