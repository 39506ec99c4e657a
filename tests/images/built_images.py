"""The images under test: what each is built from, and their local tags once built."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import docker_engine as de

from djbench.measure.k6 import find_k6

DJANGO = de.ImageSpec(
    repository="djbench/django",
    dockerfile=de.REPO / "images/django/Dockerfile",
    context=de.REPO,
    inputs=(".dockerignore", "pyproject.toml", "uv.lock", "app/benchapp", "app/stubapi",
            "app/manage.py"),
)  # fmt: skip
STUBAPI = de.ImageSpec(
    repository="djbench/stubapi",
    dockerfile=de.REPO / "images/stubapi/Dockerfile",
    context=de.REPO,
    inputs=(".dockerignore", "pyproject.toml", "uv.lock", "app/stubapi"),
)
LATENCYPROXY = de.ImageSpec(
    repository="djbench/latencyproxy",
    dockerfile=de.REPO / "images/latencyproxy/Dockerfile",
    context=de.REPO,
    inputs=(".dockerignore", "pyproject.toml", "uv.lock", "tools/latencyproxy"),
)
POSTGRES = de.ImageSpec(
    repository="djbench/test-postgres",
    dockerfile=de.REPO / "tests/images/postgres/Dockerfile",
    context=de.REPO / "tests/images/postgres",
    inputs=("tests/images/postgres",),
    needs_ca=False,
)


@dataclass(frozen=True)
class Images:
    """Local tags of the images under test."""

    base: str
    django: str
    stubapi: str
    latencyproxy: str
    postgres: str
    """The test's stand-in for the official postgres image (see tests/images/postgres)."""
    k6: str
    """The test's stand-in for the official k6 image (see tests/images/k6)."""


def k6_spec(workdir: Path) -> de.ImageSpec:
    """The k6 stand-in: the harness's own k6 binary (the same release) in a small context."""
    k6 = find_k6().resolve()
    context = workdir / "k6-context"
    context.mkdir(parents=True, exist_ok=True)
    target = context / "k6"
    if not target.exists() or target.stat().st_size != k6.stat().st_size:
        target.unlink(missing_ok=True)
        try:
            os.link(k6, target)
        except OSError:
            shutil.copy2(k6, target)
    return de.ImageSpec(
        repository="djbench/test-k6",
        dockerfile=de.REPO / "tests/images/k6/Dockerfile",
        context=context,
        inputs=(k6,),
        needs_ca=False,
    )


def build_all(workdir: Path, base: str = de.BASE_IMAGE) -> Images:
    """Build (or reuse, when their inputs are unchanged) every image on ``base``."""
    return Images(
        base=base,
        django=de.build(DJANGO, base),
        stubapi=de.build(STUBAPI, base),
        # After the stub's: its builder's first layers (uv) are shared.
        latencyproxy=de.build(LATENCYPROXY, base),
        postgres=de.build(POSTGRES, base),
        k6=de.build(k6_spec(workdir), base),
    )
