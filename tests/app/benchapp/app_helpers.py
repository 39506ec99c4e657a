"""Helpers of the Django app tests: constants, an environment patch, a two-handler client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from django.test import override_settings

from benchapp.catalog import (
    UPSTREAM_CLIENTS,
    VIEW_FLAVORS,
    UpstreamClient,
    ViewFlavor,
    client_kind,
)

SEED_ROWS = 60
UPSTREAM_DELAYS = (30, 60, 15)
Handler = Literal["wsgi", "asgi"]

FLAVOR_CLIENTS = [
    pytest.param(flavor, name, id=f"{flavor}-{name}")
    for flavor in VIEW_FLAVORS
    for name in UPSTREAM_CLIENTS[client_kind(flavor)]
]
"""``(flavor, upstream client)``: every client each view flavor can call with."""


def using_client(flavor: ViewFlavor, name: UpstreamClient) -> override_settings:
    """Settings under which views of ``flavor`` call upstream with the client ``name``."""
    kind = client_kind(flavor)
    return override_settings(**{f"DJBENCH_UPSTREAM_{kind.upper()}_CLIENT": name})


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block only."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@dataclass
class Answer:
    """What a request returned, whichever handler served it."""

    status: int
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class AppClient:
    """Requests through Django's WSGI-style handler (``Client``) or ASGI handler (``AsyncClient``).

    Async requests run on a fresh loop per call, like a test should; the loop's clients and pools
    are closed before it ends.
    """

    handler: Handler

    def request(self, method: str, path: str, body: Any = None, **extra: Any) -> Answer:
        """Send one request; ``body`` is sent as JSON (or as is, if bytes)."""
        from django.test import AsyncClient, Client

        data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
        kwargs: dict[str, Any] = {"content_type": "application/json", **extra}
        if data is not None:
            kwargs["data"] = data
        if self.handler == "wsgi":
            response = Client().generic(method, path, **kwargs)
        else:
            response = asyncio.run(self._arequest(AsyncClient(), method, path, kwargs))
        return Answer(response.status_code, response.content, dict(response.items()))

    @staticmethod
    async def _arequest(client: Any, method: str, path: str, kwargs: dict[str, Any]) -> Any:
        from benchapp.loop_local import aclose_all

        try:
            return await client.generic(method, path, **kwargs)
        finally:
            await aclose_all()

    def get(self, path: str, **extra: Any) -> Answer:
        """GET ``path``."""
        return self.request("GET", path, **extra)

    def post(self, path: str, body: Any, **extra: Any) -> Answer:
        """POST ``body`` as JSON to ``path``."""
        return self.request("POST", path, body, **extra)
