"""The programs the local backend starts beside its servers, and the environment each child
gets: the stub API, a project's commands, found beside this Python first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from djbench.backends.local.processes import ManagedProcess

HOST = "127.0.0.1"
BIN_DIR = Path(sys.executable).parent
STUB_API_ARGV = [
    sys.executable, "-m", "stubapi", "--host", HOST, "--port", "{port}",
    "--log-level", "warning", "--backlog", "4096",
]  # fmt: skip


def basic_env(home: Path) -> dict[str, str]:
    """What every child process of a run gets: this Python's programs first on its PATH."""
    return {
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(home)),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def stub_api(port: int, env: dict[str, str], cpus: str, log_path: Path) -> ManagedProcess:
    """The stub API process (not yet started) on loopback."""
    argv = [in_venv(a.format(port=port)) for a in STUB_API_ARGV]
    return ManagedProcess("the stub API", argv, log_path=log_path, env=env, cpus=cpus)


def in_venv(program: str) -> str:
    """Prefer the program installed beside this Python (the project's environment)."""
    candidate = BIN_DIR / program
    return str(candidate) if candidate.is_file() else program
