"""Fixtures for the Django app: configured once per session against the real Postgres.

Django reads ``DJBENCH_*`` only when its settings load, so the variables are set around
``django.setup()`` and then removed again: other test packages see an untouched environment.
"""

from __future__ import annotations

import io

import pytest
from app_helpers import SEED_ROWS, UPSTREAM_DELAYS, AppClient, Handler, patched_environ


@pytest.fixture(scope="session")
def app_env(pg_url: str, stub_url: str) -> dict[str, str]:
    """The environment every app process of the tests gets (in-process Django and servers)."""
    return {
        "DJANGO_SETTINGS_MODULE": "benchapp.settings",
        "DJBENCH_DATABASE_URL": pg_url,
        "DJBENCH_STUB_URL": stub_url,
        "DJBENCH_DEV_MODE": "1",
        "DJBENCH_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJBENCH_UPSTREAM_DELAYS": ",".join(str(ms) for ms in UPSTREAM_DELAYS),
    }


@pytest.fixture(scope="session")
def django_app(app_env: dict[str, str]) -> None:
    """Django set up in this process against the session's Postgres, seeded with a few rows."""
    import django
    from django.core.management import call_command

    with patched_environ(app_env):
        django.setup()
    call_command("seed", rows=SEED_ROWS, stdout=io.StringIO())


@pytest.fixture(params=["wsgi", "asgi"])
def client(request: pytest.FixtureRequest, django_app: None) -> AppClient:
    """A client of the in-process app, once per handler kind (WSGI, ASGI)."""
    handler: Handler = request.param
    return AppClient(handler)
