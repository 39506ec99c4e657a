"""The path check for real: the stub API behind a real latency proxy, pinged straight and
through it, in this process and through the proxy's own ping command (as in a pod on
Kubernetes). Postgres's SSLRequest ping is exercised end to end in test_distance_e2e."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from djbench.backends.local.processes import free_port, wait_http
from djbench.backends.local.programs import stub_api
from djbench.backends.local.proxies import latency_proxy, started
from djbench.measure.pathcheck import (
    MAX_CHECK_CONNECTIONS,
    check_path,
    describe,
    local_pinger,
    parse_pairs,
    path_connections,
    ping_command,
)
from djbench.model.errors import DjbenchError
from djbench.model.scenario_file import parse_scenario

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
        ping = local_pinger("upstream", target, proxy.address, 16)
        check = check_path("upstream", 20.0, 16, ping)
        assert check.ok, check
        assert abs(check.p50_ms - 20.0) <= 2.0
        assert check.connections == 16
        # The same proxy judged against 40 ms: measured again, and still off target.
        ping = local_pinger("upstream", target, proxy.address, 4)
        wrong = check_path("upstream", 40.0, 4, ping, pause_s=0.1)
    assert (wrong.ok, wrong.attempts) == (False, 3)
    said = describe(wrong)
    assert said.startswith("upstream path: added round trip p50 ")
    assert said.endswith("; attempt 3)")
    # A busy machine's own spread widens the p99's tolerance, and the line says by how much.
    allowed = "(target 40 ms ± 1 ms + 5%"
    if wrong.noise_ms is not None:
        allowed += f"; p99 also ± the straight path's own {wrong.noise_ms:.1f} ms"
    assert allowed + "; attempt 3)" in said


def test_the_proxys_ping_command_measures_the_same_path(tmp_path: Path) -> None:
    """What the Kubernetes backend runs in the proxy's pod, run here as a process: its pairs
    judged like the in-process ones."""

    def command(pings: int) -> Sequence[tuple[float, float]]:
        argv = ping_command("upstream", target, proxy.address, 8, pings)
        assert argv[:3] == ["python", "-m", "latencyproxy.ping"]
        done = subprocess.run(
            [sys.executable, *argv[1:]], capture_output=True, text=True, check=True
        )
        return parse_pairs(done.stdout)

    with (
        _stub(tmp_path) as target,
        started([latency_proxy("upstream", 30.0, target, 0.0, "", tmp_path)]) as [proxy],
    ):
        check = check_path("upstream", 30.0, 8, command)
    assert check.ok, describe(check)
    assert abs(check.p50_ms - 30.0) <= 2.0


def test_an_unreachable_target_is_one_line() -> None:
    closed = (HOST, free_port(HOST))
    with pytest.raises(DjbenchError, match=r"^upstream path check failed: ") as info:
        check_path("upstream", 0.0, 2, local_pinger("upstream", closed, closed, 2), attempts=1)
    assert "\n" not in str(info.value)


def test_unreadable_ping_output_is_one_line() -> None:
    assert parse_pairs('{"pairs_ms": [[1.5, 21.5]]}') == [(1.5, 21.5)]
    with pytest.raises(DjbenchError, match=r"^path check: unreadable ping output: 'oops'$"):
        parse_pairs("oops")


def test_a_check_opens_the_connections_the_server_may_hold() -> None:
    scenario = parse_scenario("db_pool: {max_size: 24}\nclosed: {concurrency: [8]}", "x")
    assert path_connections(scenario, "db") == 24
    # 8 users making 3 upstream calls each; a bigger peak is held to the most a check opens.
    assert path_connections(scenario, "upstream") == 24
    big = parse_scenario("closed: {concurrency: [128]}", "x")
    assert path_connections(big, "upstream") == MAX_CHECK_CONNECTIONS


def _pod_network(
    target_ms: float, late_ms: tuple[float, float] = (2.0, 4.0), seed: int = 11
) -> list[tuple[float, float]]:
    """Pairs as a cluster's pod network gives them: a 0.3 ms hop with a tail of its own (3 %
    of pings ``late_ms`` late), crossed by the straight ping and, independently, by the
    proxied one. Shaped as issue 21's cluster measured it: a straight p99 ~3 ms above its p50
    at 0 ms, a proxied p99 of 106.6 ms at 100 ms."""
    import numpy as np

    rng = np.random.default_rng(seed)

    def hop(n: int) -> np.ndarray:
        late = rng.random(n) < 0.03
        return 0.3 + rng.exponential(0.05, n) + late * rng.uniform(*late_ms, n)

    n = 16 * 16
    return list(zip(hop(n).tolist(), (hop(n) + target_ms).tolist(), strict=True))


@pytest.mark.parametrize(("target_ms", "late_ms"), [(0.0, (2.0, 4.0)), (100.0, (6.0, 9.0))])
def test_pod_networking_s_own_tail_is_not_charged_to_the_proxy(
    target_ms: float, late_ms: tuple[float, float]
) -> None:
    pairs = _pod_network(target_ms, late_ms)
    # Held as strictly as on loopback, pod networking's tail fails a correct proxy.
    strict = check_path("db", target_ms, 16, lambda _: pairs, attempts=1, noise="none")
    assert not strict.ok, describe(strict)
    check = check_path("db", target_ms, 16, lambda _: pairs, attempts=1, noise="network")
    assert check.ok, describe(check)
    assert check.noise_ms is not None and check.noise_ms > late_ms[0]


def test_a_proxy_adding_ten_percent_too_much_fails_on_a_noisy_network() -> None:
    pairs = _pod_network(110.0, (6.0, 9.0))  # asked for 100 ms
    check = check_path(
        "db", 100.0, 16, lambda _: pairs, attempts=1, noise="network", proxy_cpu="200m"
    )
    assert not check.ok
    assert describe(check).startswith("db path: added round trip p50 110.")
    assert "p99 also ± the straight path's own" in describe(check)
    assert "the proxy on 200m CPU" in describe(check)


def test_an_idle_machine_is_held_as_strictly_as_ever_and_a_busy_one_by_its_noise() -> None:
    """Locally the straight path's spread counts only beyond the 1 ms already allowed: on an
    idle loopback (a spread of a fraction of a millisecond) nothing changes; a machine busy
    enough to spread its straight pings by 5 ms allows a p99 off by that, its p50 held."""
    from djbench.measure.pathcheck import allowance

    assert allowance("machine", 0.3) == 0.0
    assert allowance("machine", 5.0) == 4.0
    assert allowance("network", 3.0) == 3.0
    assert allowance("none", 9.0) == 0.0
    busy = _pod_network(20.0, (4.0, 6.0))
    assert check_path("db", 20.0, 16, lambda _: busy, attempts=1).ok
    assert not check_path("db", 20.0, 16, lambda _: busy, attempts=1, noise="none").ok
    late = _pod_network(25.0, (4.0, 6.0))  # 25 ms where 20 were asked: the p50 says so
    assert not check_path("db", 20.0, 16, lambda _: late, attempts=1).ok
