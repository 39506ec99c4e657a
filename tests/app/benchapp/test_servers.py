"""The app under real servers: 503 on an exhausted pool, health without a database, every variant.

Servers run as subprocesses on loopback with the session's Postgres and stub API.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from live_servers import HOST, free_port, run_process

from benchapp.catalog import VIEW_FLAVORS, WORKLOADS
from djbench.model.pod import Shape
from djbench.model.variants import load_variants

TIGHT_POOL = {
    "DJBENCH_DB_POOL_MIN": "1",
    "DJBENCH_DB_POOL_MAX": "1",
    "DJBENCH_DB_POOL_TIMEOUT": "0.5",
}


@contextlib.contextmanager
def variant_server(
    name: str, app_env: dict[str, str], log_dir: Path, threads: int | None = None, **env: str
) -> Iterator[str]:
    """One server variant from ``variants.yaml``, started with its own command line."""
    port = free_port()
    argv = load_variants()[name].command(HOST, port, Shape(threads=threads) if threads else None)
    with run_process(argv, port, {**app_env, **env}, log_dir / f"{name}.log") as url:
        yield url


@pytest.fixture(scope="module")
def tight_pool_servers(
    app_env: dict[str, str], django_app: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A WSGI (gthread, 4 threads) and an ASGI (uvicorn) server whose DB pool holds 1 connection."""
    logs = tmp_path_factory.mktemp("tight-pool")
    with (
        variant_server("gunicorn-gthread", {**app_env, **TIGHT_POOL}, logs, threads=4) as wsgi,
        variant_server("uvicorn", {**app_env, **TIGHT_POOL}, logs) as asgi,
    ):
        yield {"wsgi": wsgi, "asgi": asgi}


def wait_for_pg_sleep(pg_url: str) -> None:
    """Return once some session of the database is inside ``pg_sleep``."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        " AND query LIKE '%%pg_sleep%%' AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 5
    with psycopg.connect(pg_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.02)
    pytest.fail("no request reached pg_sleep")


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
@pytest.mark.parametrize("flavor", VIEW_FLAVORS)
def test_exhausted_pool_is_503(
    tight_pool_servers: dict[str, str], pg_url: str, interface: str, flavor: str
) -> None:
    if (interface, flavor) == ("wsgi", "async-raw"):
        pytest.skip("under WSGI each async request runs on its own loop, hence its own raw pool")
    url = tight_pool_servers[interface]
    holder: list[httpx.Response] = []
    hold = threading.Thread(
        target=lambda: holder.append(
            httpx.get(f"{url}/{flavor}/sleep", params={"ms": 1200, "via": "db"}, timeout=10)
        )
    )
    hold.start()
    try:
        wait_for_pg_sleep(pg_url)
        start = time.perf_counter()
        answer = httpx.get(f"{url}/{flavor}/db-read", timeout=10)
        elapsed = time.perf_counter() - start
    finally:
        hold.join()
    assert answer.status_code == 503
    assert answer.json() == {"error": "database pool exhausted"}
    assert elapsed < 1.5  # the 0.5 s pool timeout, not the 1.2 s sleep
    assert holder[0].status_code == 200
    assert httpx.get(f"{url}/{flavor}/db-read", timeout=10).status_code == 200


def test_health_needs_no_database(
    app_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    with socket.socket() as nobody:  # bound, never listening: connections are refused
        nobody.bind((HOST, 0))
        down = f"postgres://nobody:x@{HOST}:{nobody.getsockname()[1]}/none"
        logs = tmp_path_factory.mktemp("db-down")
        with variant_server(
            "uvicorn", app_env, logs, DJBENCH_DATABASE_URL=down, DJBENCH_DB_POOL_TIMEOUT="0.5"
        ) as url:
            assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
            for flavor in VIEW_FLAVORS:
                start = time.perf_counter()
                answer = httpx.get(f"{url}/{flavor}/db-read", timeout=10)
                assert answer.status_code == 503, (flavor, answer.text)
                assert time.perf_counter() - start < 2


@pytest.mark.e2e
@pytest.mark.parametrize("variant", list(load_variants()))
def test_every_variant_serves_every_workload(
    variant: str, app_env: dict[str, str], django_app: None, tmp_path: Path
) -> None:
    flavor = load_variants()[variant].views
    with variant_server(variant, app_env, tmp_path) as url, httpx.Client(base_url=url) as client:
        for workload in WORKLOADS.values():
            if workload.method == "GET":
                answer = client.get(workload.path(flavor), params=workload.query)
            else:
                answer = client.post(workload.path(flavor), json=workload.body)
            assert answer.status_code in (200, 201), (workload.name, answer.text)
        metrics = client.get("/metrics").text
        assert f'route="{flavor}/db-read",status="200"' in metrics
