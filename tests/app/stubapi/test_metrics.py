"""The stub API's /metrics, scraped from a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stubapi import metrics
from stubapi.metrics import METRICS

DECLARED = {name: kind for name, kind, _ in METRICS}
SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^{}]*\})? (?P<value>\S+)")


def parse(text: str) -> dict[str, float]:
    """``{'name{labels}': value}``; asserts every sample belongs to a family declared before it."""
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split(" ", 3)[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helps, f"TYPE before HELP: {line}"
            types[name] = kind
        else:
            m = SAMPLE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            assert m["name"] in types, f"no TYPE for {line!r}"
            key = m["name"] + (m["labels"] or "")
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = float(m["value"])
    assert types == DECLARED
    return samples


def scrape(client: httpx.Client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


def test_metrics_text_format(stub_url: str) -> None:
    response = httpx.get(f"{stub_url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.text.endswith("\n")
    samples = parse(response.text)
    assert {f'djbench_stub_requests_total{{status="{s}"}}' for s in (200, 400, 404, 500)} <= set(
        samples
    )
    # The reference parser agrees (it names a counter family without `_total`).
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families == {
        name.removesuffix("_total") if kind == "counter" else name: kind
        for name, kind in DECLARED.items()
    }


def test_counters_increase_by_status(stub_url: str) -> None:
    with httpx.Client(base_url=stub_url) as client:
        before = scrape(client)
        assert client.get("/delay/20").status_code == 200
        assert client.get("/healthz").status_code == 200
        assert client.get("/delay/abc").status_code == 400
        assert client.get("/nope").status_code == 404
        assert client.post("/delay/0").status_code == 405
        assert client.get("/delay/30", params={"fail": 1}).status_code == 500
        after = scrape(client)
    statuses = (re.fullmatch(r'djbench_stub_requests_total\{status="(\d+)"\}', k) for k in after)
    increase = {int(m[1]): after[m[0]] - before[m[0]] for m in statuses if m}
    assert increase == {200: 2, 400: 1, 404: 1, 405: 1, 500: 1}, "scrapes are not counted"
    delay = after["djbench_stub_delay_seconds_total"] - before["djbench_stub_delay_seconds_total"]
    assert delay == pytest.approx(0.05)


def test_in_flight_counts_sleeping_requests(stub_url: str) -> None:
    async def observe() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=stub_url) as client:

            async def in_flight() -> float:
                response = await client.get("/metrics")
                return parse(response.text)["djbench_stub_in_flight"]

            slow = asyncio.create_task(client.get("/delay/500"))
            seen = 0.0
            deadline = time.monotonic() + 0.4
            while seen < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
                seen = await in_flight()
            assert (await slow).status_code == 200
            return seen, await in_flight()

    during, after = asyncio.run(observe())
    assert during == 1
    assert after == 0


def test_process_metrics(stub_url: str) -> None:
    samples = parse(httpx.get(f"{stub_url}/metrics").text)
    assert samples["process_cpu_seconds_total"] > 0
    assert samples["process_resident_memory_bytes"] > 1_000_000


def test_process_metrics_without_proc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where there is no /proc: the CPU time from the OS, the peak RSS from getrusage."""
    monkeypatch.setattr(metrics, "_PROC_SELF", tmp_path / "absent")
    cpu = metrics.process_cpu_seconds()
    assert isinstance(cpu, float) and cpu > 0
    assert metrics.process_resident_memory_bytes() > 1_000_000
