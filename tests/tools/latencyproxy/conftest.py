"""Fixtures of the latency proxy tests: the echo server they relay to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proxy_helpers import echo_process


@pytest.fixture(scope="session")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """Port and pid of the echo server (echo_server.py), its own process for the session."""
    with echo_process(tmp_path_factory.mktemp("echo")) as running:
        yield running


@pytest.fixture(scope="session")
def echo_port(echo_server: tuple[int, int]) -> int:
    """Port of the echo server."""
    return echo_server[0]
