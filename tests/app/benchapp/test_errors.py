"""Errors are answers: 400 for bad input, 405 for a wrong method, 502 when the stub fails."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from app_helpers import AppClient
from django.test import override_settings

from benchapp.catalog import VIEW_FLAVORS

pytestmark = pytest.mark.parametrize("flavor", VIEW_FLAVORS)


@pytest.mark.parametrize(
    "query",
    ["n=0", "n=10000001", "n=abc", "n="],
)
def test_bad_cpu_parameter(client: AppClient, flavor: str, query: str) -> None:
    answer = client.get(f"/{flavor}/cpu?{query}")
    assert answer.status == 400
    assert "n must be" in answer.json()["error"]


@pytest.mark.parametrize("query", ["ms=-1", "ms=10001", "ms=1.5", "via=disk"])
def test_bad_sleep_parameter(client: AppClient, flavor: str, query: str) -> None:
    answer = client.get(f"/{flavor}/sleep?{query}")
    assert answer.status == 400
    assert answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body must be JSON"),
        (b"\xff\xfe", "body must be JSON"),
        ([1, 2], "JSON object"),
        ({"value": 1}, "name must be"),
        ({"name": "", "value": 1}, "name must be"),
        ({"name": "x" * 101, "value": 1}, "name must be"),
        ({"name": 5, "value": 1}, "name must be"),
        ({"name": "x"}, "value must be"),
        ({"name": "x", "value": "1"}, "value must be"),
        ({"name": "x", "value": True}, "value must be"),
        ({"name": "x", "value": 1.5}, "value must be"),
        ({"name": "x", "value": 2**31}, "value must be"),
    ],
)
def test_bad_db_write_body(client: AppClient, flavor: str, body: object, message: str) -> None:
    answer = client.post(f"/{flavor}/db-write", body)
    assert answer.status == 400
    assert message in answer.json()["error"]


def test_wrong_method_is_405(client: AppClient, flavor: str) -> None:
    answer = client.get(f"/{flavor}/db-write")
    assert answer.status == 405
    assert answer.headers["Allow"] == "POST"
    assert client.post(f"/{flavor}/cpu", {}).status == 405


@pytest.fixture
def stub_down() -> Iterator[None]:
    """The stub API address points at a loopback port that is bound but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with override_settings(DJBENCH_STUB_URL=f"http://127.0.0.1:{port}"):
            yield


@pytest.mark.parametrize("workload", ["upstream", "page"])
def test_stub_down_is_502(client: AppClient, flavor: str, workload: str, stub_down: None) -> None:
    start = time.perf_counter()
    answer = client.get(f"/{flavor}/{workload}")
    assert answer.status == 502
    assert answer.json() == {"error": "upstream unavailable: ConnectError"}
    assert time.perf_counter() - start < 2


def test_stub_timeout_is_502(client: AppClient, flavor: str) -> None:
    with override_settings(DJBENCH_UPSTREAM_DELAYS=(3000,), DJBENCH_UPSTREAM_TIMEOUT=0.2):
        start = time.perf_counter()
        answer = client.get(f"/{flavor}/upstream")
    assert answer.status == 502
    assert answer.json() == {"error": "upstream unavailable: ReadTimeout"}
    assert time.perf_counter() - start < 1.5


def test_stub_error_status_is_502(client: AppClient, flavor: str, stub_url: str) -> None:
    # Every path under this base answers 404, which the app must not pass off as a success.
    with override_settings(DJBENCH_STUB_URL=f"{stub_url}/missing"):
        answer = client.get(f"/{flavor}/upstream")
    assert answer.status == 502
    assert "upstream answered 404" in answer.json()["error"]
