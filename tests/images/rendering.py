"""The charts, rendered by the chart tests' helper (tests/charts/helm_render.py).

The helper is not a package: it is imported by path under its own module name, so the chart
tests and these share one module when both run in a session.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import docker_engine as de

HELPER = de.REPO / "tests" / "charts" / "helm_render.py"


def helm_render() -> ModuleType:
    """tests/charts/helm_render.py as a module."""
    if "helm_render" in sys.modules:
        return sys.modules["helm_render"]
    spec = importlib.util.spec_from_file_location("helm_render", HELPER)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {HELPER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
