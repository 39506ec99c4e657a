"""What a run records about the machine and the software: part of every result."""

from __future__ import annotations

import functools
import os
import platform
from importlib import metadata
from pathlib import Path

from benchapp.catalog import UPSTREAM_CLIENTS
from djbench.model.results import Environment
from djbench.model.variants import SERVER_DISTRIBUTIONS

_SERVER_LIBRARIES = ("psycopg", "psycopg-pool", "gevent", "uvicorn-worker", "uvloop", "httptools")
_CLIENT_LIBRARIES = (
    *dict.fromkeys(c for kind in UPSTREAM_CLIENTS.values() for c in kind),
    "httpcore", "httpcore2", "urllib3",
)  # fmt: skip
"""The upstream clients and what they stand on: recorded where a workload calls the stub API."""


@functools.cache
def version_of(dist: str) -> str:
    """The installed version of a distribution, or ``not installed``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what the platform module knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def collect_environment(k6_version: str, upstream: bool = True, **extra: object) -> Environment:
    """Versions (Python, Django, servers, k6, libraries: the upstream clients' only when a
    workload calls the stub API, ``upstream``) plus CPU model and topology (``extra`` may say
    which CPUs are usable: the harness's own affinity may be narrower while it runs)."""
    libraries = (*_SERVER_LIBRARIES, *(_CLIENT_LIBRARIES if upstream else ()))
    return Environment.model_validate(
        {
            "python": platform.python_version(),
            "django": version_of("django"),
            "k6": k6_version,
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count() or 1,
            "servers": {server: version_of(d) for server, d in SERVER_DISTRIBUTIONS.items()},
            "libraries": {dist: version_of(dist) for dist in libraries},
            "platform": platform.platform(),
            "usable_cpus": sorted(os.sched_getaffinity(0)),
            **extra,
        }
    )
