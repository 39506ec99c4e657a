"""The stub as it is served everywhere, ``python -m stubapi``: connections and calls on /stats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from live_servers import free_port, run_process
from prometheus_client.parser import text_string_to_metric_families

from stubapi.__main__ import parse_args
from stubapi.traffic import RESOLUTION_S


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m stubapi`` with its default options but the port; its traffic is ours alone."""
    port = free_port()
    log = tmp_path_factory.mktemp("stubapi") / "stubapi.log"
    with run_process(["python", "-m", "stubapi", "--port", str(port)], port, {}, log) as url:
        yield url


def stats_around(stub: str, work: Callable[[], None]) -> dict[str, Any]:
    """``/stats`` for a window around ``work()``, asked on a connection made before it."""
    with httpx.Client(base_url=stub) as stats:
        assert stats.get("/healthz").status_code == 200
        # Let this connection (and earlier tests' traffic) fall into buckets before the window.
        time.sleep(2 * RESOLUTION_S)
        start = time.time()
        # The window counts the buckets that start in it: begin the work in the next one.
        time.sleep(RESOLUTION_S)
        work()
        end = time.time()
        response = stats.get("/stats", params={"from": start, "to": end})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert (body["from"], body["to"], body["resolution_s"]) == (start, end, RESOLUTION_S)
    return body


def test_keep_alive_connections_are_counted_once(stub: str) -> None:
    def twelve_calls_on_three_connections() -> None:
        clients = [httpx.Client(base_url=stub) for _ in range(3)]
        for _ in range(4):
            for client in clients:
                assert client.get("/delay/0").status_code == 200
        for client in clients:
            client.close()

    body = stats_around(stub, twelve_calls_on_three_connections)
    assert (body["connections"], body["calls"], body["peak_in_flight"]) == (3, 12, 1)


def test_a_connection_per_call(stub: str) -> None:
    def five_fresh_connections() -> None:
        for _ in range(5):
            assert httpx.get(f"{stub}/delay/0").status_code == 200

    body = stats_around(stub, five_fresh_connections)
    assert (body["connections"], body["calls"]) == (5, 5)


def test_peak_in_flight_counts_concurrent_calls(stub: str) -> None:
    async def eight_at_once() -> None:
        async with httpx.AsyncClient(base_url=stub) as client:
            responses = await asyncio.gather(*(client.get("/delay/300") for _ in range(8)))
        assert [r.status_code for r in responses] == [200] * 8

    body = stats_around(stub, lambda: asyncio.run(eight_at_once()))
    assert (body["connections"], body["calls"], body["peak_in_flight"]) == (8, 8, 8)


def connections_total(client: httpx.Client) -> float:
    families = text_string_to_metric_families(client.get("/metrics").text)
    return next(f.samples[0].value for f in families if f.name == "djbench_stub_connections")


def test_connections_total_metric(stub: str) -> None:
    with httpx.Client(base_url=stub) as scraper:
        before = connections_total(scraper)
        for _ in range(3):
            assert httpx.get(f"{stub}/healthz").status_code == 200
        assert connections_total(scraper) - before == 3


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("", "from is required"),
        ("from=1700000000", "to is required"),
        ("from=x&to=1700000000", "from must be a number"),
        ("from=nan&to=1700000000", "from must be epoch seconds"),
        ("from=1700000000&to=inf", "to must be epoch seconds"),
        ("from=-1&to=1700000000", "from must be epoch seconds"),
        ("from=1700000001&to=1700000000", "from must not be after to"),
        ("from=1000&to=1001", "the stub keeps the last 900 s"),
    ],
)
def test_bad_windows_are_400(stub: str, query: str, error: str) -> None:
    response = httpx.get(f"{stub}/stats?{query}")
    assert response.status_code == 400
    assert error in response.json()["error"]


def test_default_options() -> None:
    expected = {"host": "127.0.0.1", "port": 8081, "log_level": "warning", "backlog": 4096}
    assert vars(parse_args([])) == expected
