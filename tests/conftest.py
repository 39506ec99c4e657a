"""Shared fixtures: a real embedded Postgres and the stub API on a real uvicorn for the whole
session, and a loopback Kubernetes API server for the client's reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_servers import serve_in_thread
from loopback_api import Answer, LoopbackApi

from djbench.backends.local.postgres import PostgresInfo, embedded_postgres


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresInfo]:
    """A real Postgres on loopback, started once per test session."""
    log = Path(tmp_path_factory.mktemp("postgres")) / "postgres.log"
    with embedded_postgres(log) as info:
        yield info


@pytest.fixture(scope="session")
def pg_url(pg: PostgresInfo) -> str:
    """postgres:// URL of an empty database (``djbench``) on the session's Postgres."""
    return pg.url()


@pytest.fixture
def loopback_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Answer], LoopbackApi]]:
    """Starts a :class:`LoopbackApi` and points ``KUBECONFIG`` at it; helm and kubectl on PATH
    are stand-ins that fail (``Kube`` finds them; API reads never run them)."""
    started: list[LoopbackApi] = []

    def start(answer: Answer) -> LoopbackApi:
        api = LoopbackApi(answer)
        started.append(api)
        (tmp_path / "kubeconfig").write_text(json.dumps(api.kubeconfig()))
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        for tool in ("helm", "kubectl"):
            (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
            (bin_dir / tool).chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    """Base URL of the stub API, served by a real uvicorn for the whole session (the app's
    tests and the latency proxy's)."""
    from stubapi.app import app

    with serve_in_thread(app) as url:
        yield url
