"""The shipped profiles: scenarios named by their file in this folder (``smoke.yaml`` is
``--profile smoke``), read by ``djbench.model.scenario_file.load_profile``."""

from __future__ import annotations

from pathlib import Path

PROFILES_DIR = Path(__file__).parent


def profile_names() -> list[str]:
    """The shipped profiles' names, in order."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
