"""Shared fixtures: a real embedded Postgres for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from djbench.local.postgres import PostgresInfo, embedded_postgres


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
