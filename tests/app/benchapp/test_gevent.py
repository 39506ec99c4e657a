"""psycopg 3 cooperates with gevent: DB waits in a gevent worker overlap instead of queueing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from live_servers import HOST, free_port, run_process

from djbench.variants import load_variants

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
