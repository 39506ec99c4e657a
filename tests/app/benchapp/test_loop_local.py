"""Async clients and pools: one per event loop, reused within it, closed with a WSGI request."""

from __future__ import annotations

import asyncio

import pytest
from app_helpers import AppClient, using_client

from benchapp.catalog import UPSTREAM_CLIENTS, UpstreamClient
from benchapp.loop_local import LoopLocal, aclose_all


class Resource:
    """Something opened and closed, counting both."""

    opened = 0

    def __init__(self) -> None:
        Resource.opened += 1
        self.closed = False


async def open_resource() -> Resource:
    await asyncio.sleep(0.01)  # let concurrent first users overlap
    return Resource()


async def close_resource(resource: Resource) -> None:
    resource.closed = True


def test_one_resource_per_loop_opened_once() -> None:
    local = LoopLocal(open_resource, close_resource)

    async def users() -> list[Resource]:
        return list(await asyncio.gather(*(local.get() for _ in range(10))))

    before = Resource.opened
    first = asyncio.run(users())
    assert len({id(r) for r in first}) == 1
    second = asyncio.run(users())
    assert second[0] is not first[0]
    assert Resource.opened == before + 2


def test_aclose_closes_and_next_get_reopens() -> None:
    local = LoopLocal(open_resource, close_resource)

    async def scenario() -> None:
        resource = await local.get()
        assert len(local) == 1
        await aclose_all()
        assert resource.closed
        assert len(local) == 0
        assert await local.get() is not resource
        await local.aclose()

    asyncio.run(scenario())


def test_failed_opening_is_retried() -> None:
    attempts = []

    async def flaky() -> Resource:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("not yet")
        return Resource()

    local = LoopLocal(flaky, close_resource)

    async def scenario() -> Resource:
        with pytest.raises(ConnectionError):
            await local.get()
        return await local.get()

    assert isinstance(asyncio.run(scenario()), Resource)
    assert len(attempts) == 2


@pytest.mark.parametrize("workload", ["upstream", "db-read"])
def test_wsgi_request_closes_its_loop_resources(django_app: None, workload: str) -> None:
    from benchapp.items.raw_queries import pools
    from benchapp.upstream import async_clients

    assert AppClient("wsgi").get(f"/async-raw/{workload}").status == 200
    assert all(len(clients) == 0 for clients in async_clients.values())
    assert len(pools) == 0


@pytest.mark.parametrize("name", UPSTREAM_CLIENTS["async"])
def test_asgi_requests_share_the_loop_client(django_app: None, name: UpstreamClient) -> None:
    from django.test import AsyncClient

    from benchapp.upstream import async_clients

    clients = async_clients[name]

    async def two_requests() -> list[int]:
        client = AsyncClient()
        statuses = []
        for _ in range(2):
            statuses.append((await client.get("/async/upstream")).status_code)
            assert len(clients) == 1
        first = await clients.get()
        assert await clients.get() is first
        assert first.name == name
        await aclose_all()
        return statuses

    with using_client("async", name):
        assert asyncio.run(two_requests()) == [200, 200]


def test_loops_closed_without_aclose_are_forgotten() -> None:
    local = LoopLocal(open_resource, close_resource)
    asyncio.run(local.get())  # this loop ends without aclose()
    assert len(local) == 1
    asyncio.run(local.get())  # opening in a new loop drops the closed one
    assert len(local) == 1
