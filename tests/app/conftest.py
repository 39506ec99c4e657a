"""Fixtures for the app under test: the stub API on a real uvicorn for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from live_servers import serve_in_thread


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    """Base URL of the stub API, served by a real uvicorn for the whole session."""
    from stubapi.app import app

    with serve_in_thread(app) as url:
        yield url
