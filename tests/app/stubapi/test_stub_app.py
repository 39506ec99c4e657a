"""The stub upstream API, served by a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from stubapi.app import BadParameter, parse_delay


def test_delay_sleeps_and_returns_a_record(stub_url: str) -> None:
    start = time.perf_counter()
    response = httpx.get(f"{stub_url}/delay/120")
    elapsed = time.perf_counter() - start

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["delay_ms"] == 120
    assert isinstance(body["id"], int)
    assert body["name"] == f"record-{body['id']}"
    assert 0.12 <= elapsed < 0.5


def test_zero_delay_is_fast(stub_url: str) -> None:
    start = time.perf_counter()
    assert httpx.get(f"{stub_url}/delay/0").status_code == 200
    assert time.perf_counter() - start < 0.1


def test_jitter_stays_within_its_bounds(stub_url: str) -> None:
    with httpx.Client(base_url=stub_url) as client:
        for _ in range(5):
            start = time.perf_counter()
            assert client.get("/delay/100", params={"jitter": 50}).status_code == 200
            assert 0.05 <= time.perf_counter() - start < 0.3


def test_fail_probability(stub_url: str) -> None:
    with httpx.Client(base_url=stub_url) as client:
        failed = client.get("/delay/0", params={"fail": 1})
        assert failed.status_code == 500
        assert failed.json()["error"] == "injected failure"
        assert client.get("/delay/0", params={"fail": 0}).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/delay/abc",
        "/delay/-1",
        "/delay/60001",
        "/delay/1.5",
        "/delay/",
        "/delay/10?jitter=-1",
        "/delay/10?jitter=x",
        "/delay/10?fail=2",
        "/delay/10?fail=nan",
    ],
)
def test_bad_parameters_are_400(stub_url: str, path: str) -> None:
    response = httpx.get(f"{stub_url}{path}")
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize("path", ["/", "/nope", "/delay", "/delays/10"])
def test_unknown_paths_are_404(stub_url: str, path: str) -> None:
    assert httpx.get(f"{stub_url}{path}").status_code == 404


def test_only_get_is_served(stub_url: str) -> None:
    assert httpx.post(f"{stub_url}/delay/0").status_code == 405


def test_healthz(stub_url: str) -> None:
    response = httpx.get(f"{stub_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_delays_overlap(stub_url: str) -> None:
    """The stub serves concurrent calls concurrently: 50 × 300 ms take about 300 ms."""

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(base_url=stub_url, limits=limits) as client:
            responses = await asyncio.gather(*(client.get("/delay/300") for _ in range(50)))
        return [r.status_code for r in responses]

    start = time.perf_counter()
    statuses = asyncio.run(burst())
    assert statuses == [200] * 50
    assert time.perf_counter() - start < 1.5


def test_parse_delay() -> None:
    assert parse_delay("/delay/250", b"") == (250, 0.0, 0.0)
    assert parse_delay("/delay/0", b"jitter=10&fail=0.25") == (0, 10.0, 0.25)
    with pytest.raises(BadParameter, match=r"0\.\.60000"):
        parse_delay("/delay/70000", b"")
    with pytest.raises(BadParameter, match="integer"):
        parse_delay("/delay/²", b"")
