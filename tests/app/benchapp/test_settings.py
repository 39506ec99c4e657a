"""Settings come from ``DJBENCH_*`` variables; bad or missing values fail with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from benchapp import env
from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, UPSTREAM_CLIENTS, UPSTREAM_DELAYS_MS


def settings_in_subprocess(
    variables: dict[str, str], expression: str
) -> subprocess.CompletedProcess[str]:
    """Load ``benchapp.settings`` in a fresh interpreter with only ``variables`` set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJBENCH_", "DJANGO_"))}
    code = (
        "import django; django.setup(); from django.conf import settings; "
        f"print(repr(({expression})))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "benchapp.settings", **variables},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_missing_secret_key_fails_with_one_line() -> None:
    done = settings_in_subprocess({}, "settings.SECRET_KEY")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "django.core.exceptions.ImproperlyConfigured: DJBENCH_SECRET_KEY is not set"
        " (set it, or DJBENCH_DEV_MODE=1 for a random key)"
    )


def test_debug_stays_off_whatever_the_environment() -> None:
    done = settings_in_subprocess(
        {"DJBENCH_SECRET_KEY": "k", "DJBENCH_DEBUG": "1", "DEBUG": "1", "DJANGO_DEBUG": "1"},
        "settings.DEBUG, settings.SECRET_KEY",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(False, 'k')"


def test_secret_key() -> None:
    assert env.secret_key({"DJBENCH_SECRET_KEY": "s3cret"}) == "s3cret"
    dev = env.secret_key({"DJBENCH_DEV_MODE": "1"})
    assert len(dev) >= 50
    assert dev != env.secret_key({"DJBENCH_DEV_MODE": "1"})
    with pytest.raises(ImproperlyConfigured, match="DJBENCH_SECRET_KEY is not set"):
        env.secret_key({"DJBENCH_DEV_MODE": "0"})


def test_database_url_is_parsed_with_pool_options() -> None:
    database = env.database(
        "postgres://bench%40user:p%40ss%2Fword@db.example:6543/bench?sslmode=disable",
        pool_min=2, pool_max=16, pool_timeout=2.0,
    )  # fmt: skip
    assert database == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "bench",
        "USER": "bench@user",
        "PASSWORD": "p@ss/word",
        "HOST": "db.example",
        "PORT": "6543",
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            "sslmode": "disable",
            "pool": {"min_size": 2, "max_size": 16, "timeout": 2.0},
        },
    }
    assert env.conninfo(database) == {
        "dbname": "bench",
        "user": "bench@user",
        "password": "p@ss/word",
        "host": "db.example",
        "port": "6543",
        "sslmode": "disable",
    }


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgres://u@h:5432", "postgres://u@h:99999/db", "nonsense"]
)
def test_bad_database_url(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DJBENCH_DATABASE_URL"):
        env.database(url, pool_min=1, pool_max=1, pool_timeout=1)


def test_pool_min_above_max_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="DB_POOL_MIN"):
        env.database("postgres://u@h/db", pool_min=5, pool_max=2, pool_timeout=1)


def test_numbers_and_lists() -> None:
    assert env.integer({}, "DB_POOL_MAX", 16) == 16
    assert env.integer({"DJBENCH_DB_POOL_MAX": "4"}, "DB_POOL_MAX", 16) == 4
    with pytest.raises(ImproperlyConfigured, match="DJBENCH_DB_POOL_MAX must be an integer"):
        env.integer({"DJBENCH_DB_POOL_MAX": "many"}, "DB_POOL_MAX", 16)
    with pytest.raises(ImproperlyConfigured, match=">= 1"):
        env.integer({"DJBENCH_DB_POOL_MAX": "0"}, "DB_POOL_MAX", 16, minimum=1)
    assert env.seconds({"DJBENCH_DB_POOL_TIMEOUT": "0.5"}, "DB_POOL_TIMEOUT", 2) == 0.5
    with pytest.raises(ImproperlyConfigured, match="> 0 seconds"):
        env.seconds({"DJBENCH_DB_POOL_TIMEOUT": "0"}, "DB_POOL_TIMEOUT", 2)
    assert env.csv({"DJBENCH_ALLOWED_HOSTS": " a, b ,,"}, "ALLOWED_HOSTS", "x") == ["a", "b"]
    assert env.csv({}, "ALLOWED_HOSTS", "127.0.0.1,localhost") == ["127.0.0.1", "localhost"]


def test_upstream_delays() -> None:
    assert env.milliseconds_list({}, "UPSTREAM_DELAYS", UPSTREAM_DELAYS_MS) == (300, 600, 150)
    assert env.milliseconds_list({"DJBENCH_UPSTREAM_DELAYS": "10, 20"}, "UPSTREAM_DELAYS", ()) == (
        10,
        20,
    )
    for bad in ("x", "-1", "70000"):
        with pytest.raises(ImproperlyConfigured, match="DJBENCH_UPSTREAM_DELAYS"):
            env.milliseconds_list({"DJBENCH_UPSTREAM_DELAYS": bad}, "UPSTREAM_DELAYS", (1,))


def test_upstream_clients() -> None:
    for kind in ("sync", "async"):
        assert env.upstream_client({}, kind) == DEFAULT_UPSTREAM_CLIENTS[kind]
        for name in UPSTREAM_CLIENTS[kind]:
            variable = f"DJBENCH_UPSTREAM_{kind.upper()}_CLIENT"
            assert env.upstream_client({variable: name}, kind) == name
    with pytest.raises(ImproperlyConfigured) as refused:
        env.upstream_client({"DJBENCH_UPSTREAM_SYNC_CLIENT": "aiohttp"}, "sync")
    assert str(refused.value) == (
        "DJBENCH_UPSTREAM_SYNC_CLIENT must be one of requests, httpx2, httpx, got 'aiohttp'"
    )


@pytest.mark.parametrize(
    ("variable", "value", "choices"),
    [
        ("DJBENCH_UPSTREAM_SYNC_CLIENT", "urllib3", "requests, httpx2, httpx"),
        ("DJBENCH_UPSTREAM_ASYNC_CLIENT", "requests", "aiohttp, httpx2, httpx"),
        ("DJBENCH_UPSTREAM_ASYNC_CLIENT", "HTTPX", "aiohttp, httpx2, httpx"),
    ],
)
def test_bad_upstream_client_fails_with_one_line(variable: str, value: str, choices: str) -> None:
    done = settings_in_subprocess(
        {"DJBENCH_SECRET_KEY": "k", variable: value}, "settings.DJBENCH_UPSTREAM_SYNC_CLIENT"
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {variable} must be one of {choices},"
        f" got {value!r}"
    )


def test_upstream_clients_reach_the_settings() -> None:
    done = settings_in_subprocess(
        {"DJBENCH_SECRET_KEY": "k", "DJBENCH_UPSTREAM_ASYNC_CLIENT": "httpx2"},
        "settings.DJBENCH_UPSTREAM_SYNC_CLIENT, settings.DJBENCH_UPSTREAM_ASYNC_CLIENT",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('requests', 'httpx2')"
