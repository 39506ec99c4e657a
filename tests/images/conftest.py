"""Fixtures of the image tests: the Docker engine and the images, built once per session.

The tests need a running engine and the debootstrapped base image (``bin/docker-setup``).
Without an engine they are skipped on a developer's machine, but fail in CI (``CI=true``),
where ``.ci/run`` must have prepared both.
"""

from __future__ import annotations

import os

import docker_engine as de
import pytest
from built_images import Images, build_all


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "docker: builds images and runs containers with the Docker engine (slow)"
    )


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """A running Docker engine: skip without one, except in CI, where that is a failure."""
    problem = de.engine_problem()
    if problem is None:
        return
    message = f"{problem} (run `bin/docker-setup` as root to install and start it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the Docker engine: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def images(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Images:
    """Both images from the debootstrapped base, plus the Postgres stand-in; built once,
    reused while their build inputs are unchanged (the tag is a hash of them)."""
    try:
        return build_all(tmp_path_factory.mktemp("images"))
    except de.DockerError as exc:
        pytest.fail(str(exc), pytrace=False)
