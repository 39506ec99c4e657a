"""``httpx`` 0.28: a client for each kind of view (its pool is quadratic in the calls in flight:
encode/httpcore#1035; kept to measure that)."""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

import httpx

from benchapp.catalog import UpstreamClient
from benchapp.upstream.httpx_family import AsyncHttpxFamilyClient, SyncHttpxFamilyClient


class HttpxClient(SyncHttpxFamilyClient):
    """One ``httpx.Client``, shared by every thread (or greenlet) of the process."""

    name: ClassVar[UpstreamClient] = "httpx"
    library: ClassVar[ModuleType] = httpx


class AsyncHttpxClient(AsyncHttpxFamilyClient):
    """One ``httpx.AsyncClient`` per event loop."""

    name: ClassVar[UpstreamClient] = "httpx"
    library: ClassVar[ModuleType] = httpx
