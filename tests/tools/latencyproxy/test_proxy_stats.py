"""The proxy's counters on /stats and /metrics, after a known pattern of traffic."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_servers import HOST, bound_socket
from prometheus_client.parser import text_string_to_metric_families
from proxy_helpers import MESSAGE, RunningProxy, ping_pong, proxy_process

from latencyproxy import stats as proxy_stats
from latencyproxy.stats import METRICS

DECLARED = {name: kind for name, kind, _ in METRICS}
SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^{}]*\})? (?P<value>\S+)")


@pytest.fixture(scope="module")
def proxy(echo_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """A proxy (5 ms each way) in front of the echo server; its traffic is ours alone."""
    with proxy_process(echo_port, 5, tmp_path_factory.mktemp("proxy")) as running:
        yield running


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}``; asserts every sample belongs to a family declared before it."""
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        else:
            m = SAMPLE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            assert m["name"] in types, f"no TYPE for {line!r}"
            samples[m["name"] + (m["labels"] or "")] = float(m["value"])
    assert types == DECLARED
    return samples


def test_round_trips_connections_and_bytes(proxy: RunningProxy) -> None:
    """7 ping-pongs on each of 5 connections open at once: 35 round trips."""
    before = proxy.wait_closed()
    rtts = ping_pong(proxy.port, connections=5, rounds=7, period_s=0.02)
    after = proxy.wait_closed()
    assert len(rtts) == 5 * 6  # the first of each connection is a warm-up
    counters = (
        "connections", "connections_open", "upstream_connect_failures", "round_trips",
        "bytes_client_to_upstream", "bytes_upstream_to_client",
    )  # fmt: skip
    assert {key: after[key] - before[key] for key in counters} == {
        "connections": 5,
        "connections_open": 0,
        "upstream_connect_failures": 0,
        "round_trips": 35,
        "bytes_client_to_upstream": 35 * len(MESSAGE),
        "bytes_upstream_to_client": 35 * len(MESSAGE),
    }
    assert after["connections_open_peak"] >= 5
    assert after["cpu_seconds"] >= before["cpu_seconds"] > 0
    assert after["peak_resident_memory_bytes"] >= after["resident_memory_bytes"] > 1_000_000
    assert (after["delay_ms"], after["jitter_ms"]) == (5, 0)
    assert after["listen"] == f"{HOST}:{proxy.port}"


def test_several_requests_before_an_answer_are_one_round_trip(
    echo_port: int, tmp_path: Path
) -> None:
    """A turn is the client speaking after the upstream did: pipelined writes count once."""

    async def pipelined(port: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        for _ in range(3):  # separate chunks, all sent well before the first echo is back
            writer.write(MESSAGE)
            await writer.drain()
            await asyncio.sleep(0.002)
        assert await reader.readexactly(3 * len(MESSAGE)) == 3 * MESSAGE
        writer.write(MESSAGE)  # after the answer: a second turn
        assert await reader.readexactly(len(MESSAGE)) == MESSAGE
        writer.close()

    with proxy_process(echo_port, 100, tmp_path) as slow:
        asyncio.run(asyncio.wait_for(pipelined(slow.port), 30))
        stats = slow.wait_closed()
    assert (stats["round_trips"], stats["bytes_client_to_upstream"]) == (2, 4 * len(MESSAGE))


def test_metrics_match_stats(proxy: RunningProxy) -> None:
    ping_pong(proxy.port, connections=2, rounds=3, period_s=0.02)
    stats = proxy.wait_closed()
    response = httpx.get(f"{proxy.control}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.text)
    assert {
        "djbench_proxy_connections_total": stats["connections"],
        "djbench_proxy_connections_open": 0,
        "djbench_proxy_connections_open_peak": stats["connections_open_peak"],
        "djbench_proxy_upstream_connect_failures_total": 0,
        "djbench_proxy_round_trips_total": stats["round_trips"],
        'djbench_proxy_bytes_total{direction="client_to_upstream"}': stats[
            "bytes_client_to_upstream"
        ],
        'djbench_proxy_bytes_total{direction="upstream_to_client"}': stats[
            "bytes_upstream_to_client"
        ],
        "djbench_proxy_delay_seconds": 0.005,
        "djbench_proxy_jitter_seconds": 0,
    }.items() <= samples.items()
    assert samples["process_cpu_seconds_total"] > 0
    assert samples["process_resident_memory_bytes"] > 1_000_000
    # The reference parser agrees (it names a counter family without `_total`).
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families == {
        name.removesuffix("_total") if kind == "counter" else name: kind
        for name, kind in DECLARED.items()
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/healthz", 200), ("GET", "/nope", 404), ("POST", "/stats", 405)],
)
def test_control_routes(proxy: RunningProxy, method: str, path: str, status: int) -> None:
    response = httpx.request(method, f"{proxy.control}{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert ("error" in response.json()) == (status != 200)


def test_upstream_down_closes_the_client_and_is_counted(tmp_path: Path) -> None:
    async def refused(port: int) -> bytes:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            return await reader.read()
        finally:
            writer.close()

    with (
        bound_socket() as nobody,  # bound, never listening: connections are refused
        proxy_process(nobody.getsockname()[1], 5, tmp_path) as down,
    ):
        assert asyncio.run(asyncio.wait_for(refused(down.port), 30)) == b""
        stats = down.wait_closed()
    assert (stats["connections"], stats["upstream_connect_failures"]) == (1, 1)
    assert stats["round_trips"] == 0


def test_process_figures_without_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where there is no /proc: the CPU time from the OS, memory from getrusage."""
    monkeypatch.setattr(proxy_stats, "_PROC_SELF", tmp_path / "absent")
    cpu = proxy_stats.process_cpu_seconds()
    assert isinstance(cpu, float) and cpu > 0
    assert proxy_stats.process_resident_memory_bytes() > 1_000_000
    assert proxy_stats.peak_resident_memory_bytes() > 1_000_000


def test_peak_memory_is_this_process_s_own() -> None:
    """VmHWM, not ru_maxrss (which Linux keeps across exec: a parent's size at the fork)."""
    assert proxy_stats.peak_resident_memory_bytes() >= proxy_stats.process_resident_memory_bytes()
