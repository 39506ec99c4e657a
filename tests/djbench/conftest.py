"""Fixtures of the harness's tests: the helm binary that renders our charts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from djbench.backends.kubernetes.kube import REPO, TOOLS_BIN


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary (.tools/bin/helm; bin/k8s-tools installs it when missing)."""
    binary = TOOLS_BIN / "helm"
    if not binary.is_file():
        subprocess.run([str(REPO / "bin" / "k8s-tools")], check=True, capture_output=True)
    return binary
