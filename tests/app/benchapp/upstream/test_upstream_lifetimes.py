"""The client registry, and each client's life: once per process (sync) or per event loop
(async), closed with a WSGI request's loop, and holding calls past its pool limit."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from app_helpers import AppClient, using_client
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from benchapp import upstream
from benchapp.catalog import UPSTREAM_CLIENTS, UpstreamClient
from benchapp.loop_local import aclose_all

SYNC = UPSTREAM_CLIENTS["sync"]
ASYNC = UPSTREAM_CLIENTS["async"]
load = upstream.load  # the real one, whatever a fixture patches


def test_every_catalog_client_has_a_class_of_its_kind() -> None:
    for kind, registry in (("sync", upstream.SYNC_CLIENTS), ("async", upstream.ASYNC_CLIENTS)):
        assert tuple(registry) == UPSTREAM_CLIENTS[kind]
        for name, target in registry.items():
            cls: Any = upstream.load(target)
            assert cls.name == name
            assert asyncio.iscoroutinefunction(cls.get) == (kind == "async")
            assert hasattr(cls, "aclose") == (kind == "async")


def test_a_client_without_an_implementation_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"sync upstream clients \['requests'\]"):
        upstream.check_registry("sync", {"requests": upstream.SYNC_CLIENTS["requests"]})
    missing = {**upstream.ASYNC_CLIENTS, "aiohttp": "benchapp.upstream.nowhere:Client"}
    with pytest.raises(
        ImproperlyConfigured, match=r"'aiohttp': no module benchapp\.upstream\.nowhere"
    ):
        upstream.check_registry("async", missing)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every client class loaded (hence instantiated) by ``benchapp.upstream`` from now on."""
    seen: list[str] = []

    def counting(target: str) -> Callable[[], Any]:
        seen.append(target)
        return load(target)

    monkeypatch.setattr(upstream, "load", counting)
    monkeypatch.setattr(upstream, "_sync_clients", {})  # as in a fresh process
    return seen


@pytest.mark.parametrize("name", SYNC)
def test_sync_client_is_created_once_per_process(
    django_app: None, loads: list[str], name: UpstreamClient
) -> None:
    barrier = threading.Barrier(16)

    def first_use(_: int) -> object:
        barrier.wait()  # every thread asks at once
        return upstream.sync_client()

    with using_client("sync", name):
        with ThreadPoolExecutor(16) as pool:
            clients = set(map(id, pool.map(first_use, range(16))))
        for _ in range(2):
            assert AppClient("wsgi").get("/sync/upstream").json()["client"] == name
    assert len(clients) == 1
    assert loads == [upstream.SYNC_CLIENTS[name]]


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every async client closed from now on."""
    seen: list[object] = []
    for target in upstream.ASYNC_CLIENTS.values():
        cls: Any = load(target)

        async def spy(self: Any, real: Any = cls.aclose) -> None:
            seen.append(self)
            await real(self)

        monkeypatch.setattr(cls, "aclose", spy)
    return seen


@pytest.mark.parametrize("name", ASYNC)
def test_async_client_is_created_once_per_loop(
    django_app: None, loads: list[str], closed: list[object], name: UpstreamClient
) -> None:
    async def requests_in_one_loop() -> object:
        replies = await asyncio.gather(*(upstream.afetch_all([10, 20]) for _ in range(5)))
        assert {reply.client for batch in replies for reply in batch} == {name}
        client = await upstream.async_clients[name].get()
        await aclose_all()
        return client

    with using_client("async", name):
        first = asyncio.run(requests_in_one_loop())
        second = asyncio.run(requests_in_one_loop())
    assert first is not second
    assert closed == [first, second]
    assert loads == [upstream.ASYNC_CLIENTS[name]] * 2


@pytest.mark.parametrize("name", ASYNC)
def test_wsgi_request_opens_and_closes_its_loop_client(
    django_app: None, loads: list[str], closed: list[object], name: UpstreamClient
) -> None:
    with using_client("async", name):
        for _ in range(2):
            assert AppClient("wsgi").get("/async/upstream").json()["client"] == name
    assert len(closed) == 2
    assert len(loads) == 2
    assert len(upstream.async_clients[name]) == 0


CALL_MS = 200


def four_sync_calls(name: UpstreamClient) -> float:
    """Wall time of four concurrent calls through a new sync client."""
    client: Any = upstream.load(upstream.SYNC_CLIENTS[name])()
    with ThreadPoolExecutor(4) as pool:
        start = time.perf_counter()
        replies = list(pool.map(client.get, [CALL_MS] * 4))
        elapsed = time.perf_counter() - start
    assert [reply.status for reply in replies] == [200] * 4
    return elapsed


def four_async_calls(name: UpstreamClient) -> float:
    """Wall time of four concurrent calls through a new async client."""

    async def calls() -> float:
        client: Any = upstream.load(upstream.ASYNC_CLIENTS[name])()
        try:
            start = time.perf_counter()
            replies = await asyncio.gather(*(client.get(CALL_MS) for _ in range(4)))
            elapsed = time.perf_counter() - start
        finally:
            await client.aclose()
        assert [reply.status for reply in replies] == [200] * 4
        return elapsed

    return asyncio.run(calls())


@pytest.mark.parametrize(
    ("name", "four_calls"),
    [*((name, four_sync_calls) for name in SYNC), *((name, four_async_calls) for name in ASYNC)],
)
def test_pool_limit_is_the_connections_setting(
    django_app: None, name: UpstreamClient, four_calls: Callable[[UpstreamClient], float]
) -> None:
    with override_settings(DJBENCH_UPSTREAM_CONNECTIONS=2):
        two_rounds = four_calls(name)  # two calls wait for a pooled connection
    with override_settings(DJBENCH_UPSTREAM_CONNECTIONS=4):
        one_round = four_calls(name)
    assert 2 * CALL_MS / 1000 <= two_rounds < 3 * CALL_MS / 1000
    assert CALL_MS / 1000 <= one_round < 2 * CALL_MS / 1000
