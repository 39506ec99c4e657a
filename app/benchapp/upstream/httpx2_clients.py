"""``httpx2`` (pydantic's maintained fork of httpx, with its pool fixes): a client for each
kind of view."""

from __future__ import annotations

from types import ModuleType
from typing import ClassVar

import httpx2

from benchapp.catalog import UpstreamClient
from benchapp.upstream.httpx_family import AsyncHttpxFamilyClient, SyncHttpxFamilyClient


class Httpx2Client(SyncHttpxFamilyClient):
    """One ``httpx2.Client``, shared by every thread (or greenlet) of the process."""

    name: ClassVar[UpstreamClient] = "httpx2"
    library: ClassVar[ModuleType] = httpx2


class AsyncHttpx2Client(AsyncHttpxFamilyClient):
    """One ``httpx2.AsyncClient`` per event loop."""

    name: ClassVar[UpstreamClient] = "httpx2"
    library: ClassVar[ModuleType] = httpx2
