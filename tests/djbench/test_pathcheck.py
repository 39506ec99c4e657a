"""The path check for real: the stub API behind a real latency proxy, pinged straight and
through it (Postgres's SSLRequest ping is exercised end to end in test_distance_e2e)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from djbench.backends.local import stub_api
from djbench.errors import DjbenchError
from djbench.local.processes import free_port, wait_http
from djbench.local.proxies import latency_proxy, started
from djbench.pathcheck import MAX_CHECK_CONNECTIONS, check_path, describe, path_connections
from djbench.scenario import parse_scenario

HOST = "127.0.0.1"


@contextlib.contextmanager
def _stub(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = free_port(HOST)
    stub = stub_api(port, {"PATH": "/usr/bin:/bin"}, "", tmp_path / "stub.log")
    stub.start()
    try:
        wait_http(f"http://{HOST}:{port}/healthz", stub, timeout=30)
        yield HOST, port
    finally:
        stub.stop()


def test_a_proxy_adding_its_round_trip_passes_and_one_adding_another_fails(
    tmp_path: Path,
) -> None:
    with (
        _stub(tmp_path) as target,
        started([latency_proxy("upstream", 20.0, target, 0.0, "", tmp_path)]) as [proxy],
    ):
        check = check_path("upstream", 20.0, target, proxy.address, connections=16)
        assert check.ok, check
        assert abs(check.p50_ms - 20.0) <= 2.0
        assert check.connections == 16
        # The same proxy judged against 40 ms: measured again, and still off target.
        wrong = check_path("upstream", 40.0, target, proxy.address, connections=4)
    assert (wrong.ok, wrong.attempts) == (False, 3)
    assert describe(wrong).startswith("upstream path: added round trip p50 ")
    assert describe(wrong).endswith("(target 40 ms ± 1 ms + 5%; attempt 3)")


def test_an_unreachable_target_is_one_line() -> None:
    closed = (HOST, free_port(HOST))
    with pytest.raises(DjbenchError, match=r"^upstream path check failed: ") as info:
        check_path("upstream", 0.0, closed, closed, connections=2, attempts=1)
    assert "\n" not in str(info.value)


def test_a_check_opens_the_connections_the_server_may_hold() -> None:
    scenario = parse_scenario("db_pool: {max_size: 24}\nclosed: {concurrency: [8]}", "x")
    assert path_connections(scenario, "db") == 24
    # 8 users making 3 upstream calls each; a bigger peak is held to the most a check opens.
    assert path_connections(scenario, "upstream") == 24
    big = parse_scenario("closed: {concurrency: [128]}", "x")
    assert path_connections(big, "upstream") == MAX_CHECK_CONNECTIONS
