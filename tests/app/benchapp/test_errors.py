"""Errors are answers: 400 for bad input, 405 for a wrong method.

The 502s of a failing stub API are tested per upstream client, in upstream/test_upstream_clients.py.
"""

from __future__ import annotations

import pytest
from app_helpers import AppClient

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
