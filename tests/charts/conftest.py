"""Fixtures of the chart tests: helm and a resolved scenario file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helm_render import helm_binary

from djbench.model.scenario_file import load_profile


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary (.tools/bin/helm; bin/k8s-tools installs it when missing)."""
    return helm_binary()


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The resolved smoke scenario as JSON: what the harness passes to the loadtest chart."""
    path = tmp_path_factory.mktemp("scenario") / "scenario.json"
    path.write_text(json.dumps(load_profile("smoke").resolved(), indent=2))
    return path
