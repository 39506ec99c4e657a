"""Django settings for the app under test, read from ``DJBENCH_*`` environment variables.

    DJBENCH_SECRET_KEY        required, unless DJBENCH_DEV_MODE=1 (then random per process)
    DJBENCH_ALLOWED_HOSTS     comma list (127.0.0.1,localhost)
    DJBENCH_DATABASE_URL      postgres://user:pass@host:port/db
                              (postgres://postgres@127.0.0.1:5432/djbench)
    DJBENCH_DB_POOL_MIN / _MAX / _TIMEOUT    pool per process: 2 / 16 connections, 2 s wait
    DJBENCH_STUB_URL          base URL of the stub API (http://127.0.0.1:8081)
    DJBENCH_UPSTREAM_DELAYS   comma list of ms, one concurrent call each (300,600,150)
    DJBENCH_UPSTREAM_TIMEOUT  connect and read timeout of each upstream call, seconds (5)
    DJBENCH_UPSTREAM_SYNC_CLIENT   HTTP client of sync views: requests, httpx2 or httpx (requests)
    DJBENCH_UPSTREAM_ASYNC_CLIENT  HTTP client of async views: aiohttp, httpx2 or httpx (aiohttp)
    DJBENCH_UPSTREAM_CONNECTIONS   pool limit of every upstream client, per process (and per
                              event loop for async clients): max connections = max keep-alive
                              connections; also the size of the sync fan-out thread pool (1000)

Deliberately minimal: no sessions, auth, admin, CSRF or CommonMiddleware, so every server
variant measures the same small request path. ``DEBUG`` is off always.
"""

from __future__ import annotations

import os
from pathlib import Path

from benchapp import env
from benchapp.catalog import UPSTREAM_DELAYS_MS

_ENV = os.environ

SECRET_KEY = env.secret_key(_ENV)
# Never from the environment: a benchmark must not measure debug-mode overhead or leak tracebacks.
DEBUG = False
ALLOWED_HOSTS = env.csv(_ENV, "ALLOWED_HOSTS", "127.0.0.1,localhost")

INSTALLED_APPS = ["benchapp.items"]
MIDDLEWARE = ["benchapp.middleware.observe"]
ROOT_URLCONF = "benchapp.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).with_name("templates")],
        "APP_DIRS": False,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {
    "default": env.database(
        env.text(_ENV, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/djbench"),
        pool_min=env.integer(_ENV, "DB_POOL_MIN", 2),
        pool_max=env.integer(_ENV, "DB_POOL_MAX", 16, minimum=1),
        pool_timeout=env.seconds(_ENV, "DB_POOL_TIMEOUT", 2.0),
    )
}

# The stub API that plays the slow upstream service.
DJBENCH_STUB_URL = env.text(_ENV, "STUB_URL", "http://127.0.0.1:8081").rstrip("/")
DJBENCH_UPSTREAM_DELAYS = env.milliseconds_list(_ENV, "UPSTREAM_DELAYS", UPSTREAM_DELAYS_MS)
DJBENCH_UPSTREAM_TIMEOUT = env.seconds(_ENV, "UPSTREAM_TIMEOUT", 5.0)
# Which library makes the upstream calls is a measured axis (catalog.UPSTREAM_CLIENTS).
DJBENCH_UPSTREAM_SYNC_CLIENT = env.upstream_client(_ENV, "sync")
DJBENCH_UPSTREAM_ASYNC_CLIENT = env.upstream_client(_ENV, "async")
# Upper bound on concurrent upstream calls per process (HTTP connections and, for sync views,
# threads); high so a gevent worker with 1000 connections is not throttled by the client.
DJBENCH_UPSTREAM_CONNECTIONS = env.integer(_ENV, "UPSTREAM_CONNECTIONS", 1000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tracebacks_only": {"()": "benchapp.logs.TracebacksOnly"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    "root": {"handlers": ["stderr"], "level": "ERROR"},
    "loggers": {
        # django.request logs every 4xx/5xx response; keep only real exceptions, so answered
        # errors (400/502/503 under overload) cost no log line per request.
        "django.request": {
            "handlers": ["stderr"],
            "level": "ERROR",
            "filters": ["tracebacks_only"],
            "propagate": False,
        },
        "django": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
