"""Every workload of every view flavor, through both Django handlers, on the real Postgres."""

from __future__ import annotations

import time

import pytest
from app_helpers import SEED_ROWS, UPSTREAM_DELAYS, AppClient

from benchapp.catalog import (
    CPU_DEFAULT_N,
    DEFAULT_UPSTREAM_CLIENTS,
    VIEW_FLAVORS,
    WORKLOADS,
    ViewFlavor,
    client_kind,
)

pytestmark = pytest.mark.parametrize("flavor", VIEW_FLAVORS)


def item_count() -> int:
    from benchapp.items.models import Item

    return int(Item.objects.count())


def test_cpu(client: AppClient, flavor: str) -> None:
    answer = client.get(f"/{flavor}/cpu")
    assert answer.status == 200
    body = answer.json()
    assert body["workload"] == "cpu"
    assert body["n"] == CPU_DEFAULT_N
    assert isinstance(body["result"], int)


def test_cpu_result_is_the_same_in_every_flavor(client: AppClient, flavor: str) -> None:
    assert client.get(f"/{flavor}/cpu?n=1000").json() == client.get("/sync/cpu?n=1000").json()


def test_db_read(client: AppClient, flavor: str) -> None:
    answer = client.get(f"/{flavor}/db-read")
    assert answer.status == 200
    body = answer.json()
    assert body["workload"] == "db-read"
    assert body["count"] == item_count()
    assert [item["id"] for item in body["items"]] == list(range(1, 26))
    assert body["items"][0] == {"id": 1, "name": "item-1", "value": 7919}


def test_db_read_is_the_same_in_every_flavor(client: AppClient, flavor: str) -> None:
    assert client.get(f"/{flavor}/db-read").json() == client.get("/sync/db-read").json()


def test_db_write(client: AppClient, flavor: str) -> None:
    before = item_count()
    answer = client.post(f"/{flavor}/db-write", {"name": f"from {flavor}", "value": -7})
    assert answer.status == 201
    body = answer.json()
    assert body["workload"] == "db-write"
    item = body["item"]
    assert item["name"] == f"from {flavor}"
    assert item["value"] == -7
    assert item["id"] > SEED_ROWS
    assert item_count() == before + 1


def test_upstream(client: AppClient, flavor: ViewFlavor) -> None:
    start = time.perf_counter()
    answer = client.get(f"/{flavor}/upstream")
    elapsed = time.perf_counter() - start
    assert answer.status == 200
    assert answer.json() == {
        "workload": "upstream",
        "client": DEFAULT_UPSTREAM_CLIENTS[client_kind(flavor)],
        "calls": [{"delay_ms": ms, "status": 200} for ms in UPSTREAM_DELAYS],
    }
    # Concurrent calls: about the longest delay, not the sum of all three.
    assert max(UPSTREAM_DELAYS) / 1000 <= elapsed < sum(UPSTREAM_DELAYS) / 1000 + 0.5


@pytest.mark.parametrize("via", ["timer", "db"])
def test_sleep(client: AppClient, flavor: str, via: str) -> None:
    start = time.perf_counter()
    answer = client.get(f"/{flavor}/sleep?ms=150&via={via}")
    elapsed = time.perf_counter() - start
    assert answer.status == 200
    assert answer.json() == {"workload": "sleep", "ms": 150, "via": via}
    assert 0.15 <= elapsed < 1.0


def test_sleep_defaults_to_100_ms_on_a_timer(client: AppClient, flavor: str) -> None:
    assert client.get(f"/{flavor}/sleep").json() == {"workload": "sleep", "ms": 100, "via": "timer"}


def test_page(client: AppClient, flavor: ViewFlavor) -> None:
    answer = client.get(f"/{flavor}/page")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    html = answer.body.decode()
    assert f"{flavor} views" in html
    assert f"({item_count()} in total" in html
    assert html.count("<tr><td>") == 10
    client_name = DEFAULT_UPSTREAM_CLIENTS[client_kind(flavor)]
    assert f"Upstream ({UPSTREAM_DELAYS[0]} ms, {client_name}): #" in html


def test_every_catalog_workload_is_served(client: AppClient, flavor: ViewFlavor) -> None:
    for workload in WORKLOADS.values():
        if workload.method == "GET":
            answer = client.get(workload.path(flavor))
        else:
            answer = client.post(workload.path(flavor), workload.body)
        assert answer.status in (200, 201), (workload.name, answer.body)
