"""gevent's worker overlaps waits instead of queueing them: psycopg 3's database waits, and the
upstream calls of the `requests` client (its sockets and fan-out threads become greenlets)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import httpx
from live_servers import HOST, free_port, run_process

from djbench.model.variants import load_variants

REQUESTS = 5
SLEEP_MS = 500


def five_db_sleeps(variant: str, app_env: dict[str, str], log: Path) -> float:
    """Wall time of 5 concurrent ``/sync/sleep?via=db`` requests to a one-worker server."""
    port = free_port()
    argv = load_variants()[variant].command(HOST, port)
    with run_process(argv, port, app_env, log) as url, httpx.Client(base_url=url) as client:
        assert client.get("/sync/db-read").status_code == 200  # warm: pool open, code loaded
        params: dict[str, str | int] = {"ms": SLEEP_MS, "via": "db"}
        with ThreadPoolExecutor(REQUESTS) as pool:
            start = time.perf_counter()
            statuses = list(
                pool.map(
                    lambda _: client.get("/sync/sleep", params=params, timeout=30).status_code,
                    range(REQUESTS),
                )
            )
            elapsed = time.perf_counter() - start
    assert statuses == [200] * REQUESTS
    return elapsed


def test_gevent_worker_overlaps_database_waits(
    app_env: dict[str, str], django_app: None, tmp_path: Path
) -> None:
    elapsed = five_db_sleeps("gunicorn-gevent", app_env, tmp_path / "gevent.log")
    assert elapsed < 2 * SLEEP_MS / 1000  # serialised would be 5 × 0.5 s = 2.5 s


def test_sync_worker_serialises_them(
    app_env: dict[str, str], django_app: None, tmp_path: Path
) -> None:
    """The control: one sync worker must take about 5 × 0.5 s, or the check above proves nothing."""
    elapsed = five_db_sleeps("gunicorn-sync", app_env, tmp_path / "sync.log")
    assert elapsed >= REQUESTS * SLEEP_MS / 1000


CONCURRENT = 128
FAN_OUT_MS = (150, 300, 75)


async def concurrent_upstream(url: str) -> tuple[float, Counter[tuple[int, str]]]:
    """Wall time and (status, client) of ``CONCURRENT`` simultaneous ``/sync/upstream``."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> tuple[int, str]:
            async with session.get(f"{url}/sync/upstream") as response:
                return response.status, (await response.json()).get("client", "")

        start = time.perf_counter()
        answers = await asyncio.gather(*(one() for _ in range(CONCURRENT)))
        return time.perf_counter() - start, Counter(answers)


def test_gevent_worker_overlaps_upstream_calls(
    app_env: dict[str, str], django_app: None, tmp_path: Path
) -> None:
    # A stub of its own, in another process: the session's shares this process (and its GIL)
    # with the load generator, and 384 calls at once would measure that instead.
    stub_port, port = free_port(), free_port()
    stub_argv = ["uvicorn", "stubapi.app:app", "--host", HOST, "--port", str(stub_port),
                 "--log-level", "warning", "--no-access-log", "--backlog", "2048"]  # fmt: skip
    env = {
        **app_env,
        "DJBENCH_UPSTREAM_SYNC_CLIENT": "requests",
        "DJBENCH_UPSTREAM_DELAYS": ",".join(map(str, FAN_OUT_MS)),
    }
    argv = load_variants()["gunicorn-gevent"].command(HOST, port)
    with (
        run_process(stub_argv, stub_port, {}, tmp_path / "stub.log") as stub,
        run_process(argv, port, {**env, "DJBENCH_STUB_URL": stub}, tmp_path / "gevent.log") as url,
    ):
        asyncio.run(concurrent_upstream(url))  # warm: code loaded, connections pooled
        elapsed, answers = asyncio.run(concurrent_upstream(url))
    assert answers == Counter({(200, "requests"): CONCURRENT})
    # About one fan-out (300 ms) plus the worker's CPU time; serialised it would be 38 s.
    assert elapsed < 1.5
