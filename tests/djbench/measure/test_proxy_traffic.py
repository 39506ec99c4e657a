"""A step's proxy traffic from a real latency proxy's /stats, sampled while connections and
requests cross it (the stub API behind it)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from djbench.backends.local.processes import free_port, wait_http
from djbench.backends.local.programs import stub_api
from djbench.backends.local.proxies import latency_proxy, started
from djbench.measure.collectors import Sampler
from djbench.measure.proxy_traffic import ProxyStats, proxy_traffic
from djbench.model.errors import DjbenchError

HOST = "127.0.0.1"


def test_a_window_counts_the_connections_and_round_trips_that_crossed_it(
    tmp_path: Path,
) -> None:
    port = free_port(HOST)
    stub = stub_api(port, {"PATH": "/usr/bin:/bin"}, "", tmp_path / "stub.log").start()
    try:
        wait_http(f"http://{HOST}:{port}/healthz", stub, timeout=30)
        proxy = latency_proxy("upstream", 0.0, (HOST, port), 0.0, "", tmp_path)
        with started([proxy]), Sampler({}, proxy.stats.sampled(), interval_s=0.05) as sampler:
            time.sleep(0.2)
            # Quiet around both edges: the sampler interpolates between its readings.
            start = time.time()
            time.sleep(0.2)
            # 3 connections, 4 requests each: 3 connections and 12 round trips in the window.
            for _ in range(3):
                with httpx.Client(base_url=f"http://{HOST}:{proxy.port}") as client:
                    for _ in range(4):
                        client.get("/healthz").raise_for_status()
            time.sleep(0.2)
            end = time.time()
            time.sleep(0.2)
    finally:
        stub.stop()
    traffic = proxy_traffic(sampler, "upstream", start, end)
    assert traffic is not None
    assert (traffic.connections, traffic.round_trips) == (3, 12)
    assert 0 <= traffic.cpu_s < 0.5  # /proc counts 10 ms ticks: a dozen requests may be 0


def test_a_proxy_that_never_answered_has_no_traffic() -> None:
    def unreachable() -> str:
        raise DjbenchError("the latency proxy to Postgres: /stats: refused")

    stats = ProxyStats("db", unreachable)
    assert stats.counters() is None
    with Sampler({}, stats.sampled(), interval_s=0.05) as sampler:
        time.sleep(0.1)
    assert proxy_traffic(sampler, "db", 0.0, time.time()) is None
