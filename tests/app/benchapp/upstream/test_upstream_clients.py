"""Every upstream client in every view flavor, through both handlers, on the real stub API:
right answers naming the client, concurrent calls, and each library's failures as 502."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from app_helpers import FLAVOR_CLIENTS, UPSTREAM_DELAYS, AppClient, using_client
from django.test import override_settings

from benchapp.catalog import UpstreamClient, ViewFlavor

pytestmark = pytest.mark.parametrize(("flavor", "name"), FLAVOR_CLIENTS)

# Long enough that serial calls (the sum, 600 ms) cannot pass for concurrent ones (300 ms).
TIMED_DELAYS = (200, 300, 100)

REFUSED: dict[UpstreamClient, str] = {
    "requests": "ConnectionError",
    "aiohttp": "ClientConnectorError",
    "httpx2": "ConnectError",
    "httpx": "ConnectError",
}
"""What each library calls a refused connection: the 502 answer names it."""

TIMED_OUT: dict[UpstreamClient, str] = {
    "requests": "ReadTimeout",
    "aiohttp": "SocketTimeoutError",
    "httpx2": "ReadTimeout",
    "httpx": "ReadTimeout",
}
"""What each library calls an answer slower than the read timeout."""

CONNECT_TIMED_OUT: dict[UpstreamClient, str] = {
    "requests": "ConnectTimeout",
    "aiohttp": "ConnectionTimeoutError",
    "httpx2": "ConnectTimeout",
    "httpx": "ConnectTimeout",
}
"""What each library calls a connection not made within the timeout: where the machine keeps
the client from its connect for longer than the timeout (a busy CI machine), the same timeout
is met there first."""


def test_upstream_names_the_client(
    client: AppClient, flavor: ViewFlavor, name: UpstreamClient
) -> None:
    with using_client(flavor, name):
        answer = client.get(f"/{flavor}/upstream")
    assert answer.status == 200
    assert answer.json() == {
        "workload": "upstream",
        "client": name,
        "calls": [{"delay_ms": ms, "status": 200} for ms in UPSTREAM_DELAYS],
    }


def test_upstream_calls_run_concurrently(
    client: AppClient, flavor: ViewFlavor, name: UpstreamClient
) -> None:
    # At least the longest delay, under the sum of all three (one after another). Serial
    # calls never come in under the sum; concurrent ones may miss it once on a busy machine
    # (another job took the CPU for a moment), so up to three tries, as the harness retries.
    timings = []
    with using_client(flavor, name), override_settings(DJBENCH_UPSTREAM_DELAYS=TIMED_DELAYS):
        assert client.get(f"/{flavor}/upstream").status == 200  # warm: the library imported
        for _ in range(3):
            start = time.perf_counter()
            answer = client.get(f"/{flavor}/upstream")
            timings.append(time.perf_counter() - start)
            assert answer.status == 200
            if timings[-1] < sum(TIMED_DELAYS) / 1000:
                break
    assert all(max(TIMED_DELAYS) / 1000 <= t for t in timings)
    assert timings[-1] < sum(TIMED_DELAYS) / 1000, timings


def test_page_names_the_client(client: AppClient, flavor: ViewFlavor, name: UpstreamClient) -> None:
    with using_client(flavor, name):
        answer = client.get(f"/{flavor}/page")
    assert answer.status == 200
    assert f"Upstream ({UPSTREAM_DELAYS[0]} ms, {name}): #" in answer.body.decode()


@pytest.fixture
def stub_down() -> Iterator[None]:
    """The stub API address points at a loopback port that is bound but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with override_settings(DJBENCH_STUB_URL=f"http://127.0.0.1:{port}"):
            yield


@pytest.mark.parametrize("workload", ["upstream", "page"])
def test_stub_down_is_502(
    client: AppClient, flavor: ViewFlavor, name: UpstreamClient, workload: str, stub_down: None
) -> None:
    with using_client(flavor, name):
        start = time.perf_counter()
        answer = client.get(f"/{flavor}/{workload}")
    assert answer.status == 502
    assert answer.json() == {"error": f"upstream unavailable: {REFUSED[name]}"}
    assert time.perf_counter() - start < 2


def test_stub_timeout_is_502(client: AppClient, flavor: ViewFlavor, name: UpstreamClient) -> None:
    with (
        using_client(flavor, name),
        override_settings(DJBENCH_UPSTREAM_DELAYS=(3000,), DJBENCH_UPSTREAM_TIMEOUT=0.2),
    ):
        start = time.perf_counter()
        answer = client.get(f"/{flavor}/upstream")
    assert answer.status == 502
    timed_out = {TIMED_OUT[name], CONNECT_TIMED_OUT[name]}
    assert answer.json() in [{"error": f"upstream unavailable: {t}"} for t in timed_out]
    assert time.perf_counter() - start < 1.5


def test_stub_error_status_is_502(
    client: AppClient, flavor: ViewFlavor, name: UpstreamClient, stub_url: str
) -> None:
    # Every path under this base answers 404, which the app must not pass off as a success.
    with using_client(flavor, name), override_settings(DJBENCH_STUB_URL=f"{stub_url}/missing"):
        answer = client.get(f"/{flavor}/upstream")
    assert answer.status == 502
    # Whichever call fails first is reported: all three get a 404.
    assert answer.json()["error"].startswith("upstream answered 404 for delay ")
