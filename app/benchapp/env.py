"""Reading ``DJBENCH_*`` environment variables into typed values: pure, no Django settings.

Every reader takes the environment as an argument so tests pass a plain dict, and every bad
value raises ``ImproperlyConfigured`` with a one-line message naming the variable.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, UPSTREAM_CLIENTS, ClientKind, UpstreamClient

PREFIX = "DJBENCH_"
Environ = Mapping[str, str]


def text(env: Environ, name: str, default: str) -> str:
    """The variable ``DJBENCH_<name>``, or ``default`` when it is unset or empty."""
    return env.get(PREFIX + name) or default


def integer(env: Environ, name: str, default: int, *, minimum: int = 0) -> int:
    """An integer variable of at least ``minimum``."""
    raw = text(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be >= {minimum}, got {value}")
    return value


def seconds(env: Environ, name: str, default: float) -> float:
    """A positive duration in seconds (a float)."""
    raw = text(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ImproperlyConfigured(f"{PREFIX}{name} must be > 0 seconds, got {raw!r}")
    return value


def csv(env: Environ, name: str, default: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [part.strip() for part in text(env, name, default).split(",") if part.strip()]


def milliseconds_list(env: Environ, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """A non-empty comma-separated list of delays in milliseconds (each 0..60000)."""
    parts = csv(env, name, ",".join(str(ms) for ms in default))
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        raise ImproperlyConfigured(
            f"{PREFIX}{name} must be comma-separated integers, got {parts!r}"
        ) from None
    if not values or any(not 0 <= ms <= 60_000 for ms in values):
        raise ImproperlyConfigured(f"{PREFIX}{name} needs 1+ delays in 0..60000 ms")
    return values


def upstream_client(env: Environ, kind: ClientKind) -> UpstreamClient:
    """``DJBENCH_UPSTREAM_<KIND>_CLIENT``: one of ``UPSTREAM_CLIENTS[kind]``, by default
    ``DEFAULT_UPSTREAM_CLIENTS[kind]``."""
    name = f"UPSTREAM_{kind.upper()}_CLIENT"
    raw = text(env, name, DEFAULT_UPSTREAM_CLIENTS[kind])
    for client in UPSTREAM_CLIENTS[kind]:
        if raw == client:
            return client
    choices = ", ".join(UPSTREAM_CLIENTS[kind])
    raise ImproperlyConfigured(f"{PREFIX}{name} must be one of {choices}, got {raw!r}")


def secret_key(env: Environ) -> str:
    """``DJBENCH_SECRET_KEY``; required unless ``DJBENCH_DEV_MODE=1`` (then random per process)."""
    key = text(env, "SECRET_KEY", "")
    if key:
        return key
    if text(env, "DEV_MODE", "0") == "1":
        return secrets.token_urlsafe(50)
    raise ImproperlyConfigured(
        f"{PREFIX}SECRET_KEY is not set (set it, or {PREFIX}DEV_MODE=1 for a random key)"
    )


def database(url: str, *, pool_min: int, pool_max: int, pool_timeout: float) -> dict[str, Any]:
    """Django's ``DATABASES["default"]`` for a ``postgres://user:pass@host:port/db`` URL.

    Query parameters (e.g. ``?sslmode=disable``) are passed to libpq as options.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("postgres", "postgresql") or not parts.path.strip("/") or port == -1:
        raise ImproperlyConfigured(
            f"{PREFIX}DATABASE_URL must look like postgres://user:pass@host:port/db, got {url!r}"
        )
    if pool_min > pool_max:
        raise ImproperlyConfigured(
            f"{PREFIX}DB_POOL_MIN ({pool_min}) must not exceed {PREFIX}DB_POOL_MAX ({pool_max})"
        )
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    options["pool"] = {"min_size": pool_min, "max_size": pool_max, "timeout": pool_timeout}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port or ""),
        # Django's pool refuses persistent connections: each request borrows and returns.
        "CONN_MAX_AGE": 0,
        "OPTIONS": options,
    }


def conninfo(database_settings: Mapping[str, Any]) -> dict[str, Any]:
    """psycopg ``connect()`` keyword arguments for the same database, without Django's pool."""
    options = {k: v for k, v in database_settings["OPTIONS"].items() if k != "pool"}
    params = {
        "dbname": database_settings["NAME"],
        "user": database_settings["USER"],
        "password": database_settings["PASSWORD"],
        "host": database_settings["HOST"],
        "port": database_settings["PORT"],
    }
    return {k: v for k, v in params.items() if v} | options
