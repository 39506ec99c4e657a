"""Before a team's project is measured: djbench's servers installed beside it, and the project
loading the way its servers will load it (``djbench.project.probe``, in a child process).

Each problem is one line naming what to change, before Postgres or any server starts.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement

from djbench.model.errors import DjbenchError
from djbench.model.variants import Interface, Variant
from djbench.project.config import PROJECT_FILE, ProjectDir, database_values, render_env

SERVERS_EXTRA = "servers"
PROBE_TIMEOUT_S = 120
PROBE_DATABASE_URL = "postgres://djbench:probe@127.0.0.1:1/djbench"
"""Settings may parse the URL while they load; nothing connects to it then."""


def missing_servers(distribution: str = "djbench") -> list[str]:
    """What of djbench's ``servers`` extra this environment lacks or holds at a version the
    extra does not allow; empty when all is there (or djbench runs from a checkout without
    its metadata, where the lock file keeps them)."""
    try:
        required = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    problems = []
    for text in required:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        marker = req.marker
        if marker is None or not marker.evaluate({"extra": SERVERS_EXTRA}):
            continue
        try:
            have = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{req.name} is not installed")
            continue
        if not req.specifier.contains(have, prereleases=True):
            problems.append(
                f"{req.name} {have} is installed, djbench's servers need {req.specifier}"
            )
    return problems


def check_servers() -> None:
    """Refuse to run a project without every server: one line saying how to add them."""
    problems = missing_servers()
    if problems:
        raise DjbenchError(
            f"djbench's servers are not all in this environment ({sys.executable}): "
            f"{'; '.join(problems)}. Install them beside the project: "
            f"pip install 'djbench[{SERVERS_EXTRA}]' (or uv add 'djbench[{SERVERS_EXTRA}]')"
        )


def project_env(found: ProjectDir, database_url: str, secret_key: str) -> dict[str, str]:
    """What every process of the project gets beyond the basics (PATH, HOME): its settings
    module, its import root first on the path, and its own ``env`` filled in."""
    values = {
        **database_values(database_url),
        "secret_key": secret_key,
        "allowed_hosts": "127.0.0.1,localhost",
    }
    path = [str(found.root), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {
        **render_env(found.project.env, values),
        "DJANGO_SETTINGS_MODULE": found.project.settings,
        "PYTHONPATH": os.pathsep.join(path),
    }


@dataclass(frozen=True)
class Prepared:
    """A project that loads: its Django version and the entry points its variants serve."""

    found: ProjectDir
    django: str
    entry_points: dict[Interface, str]
    defaulted: tuple[Interface, ...] = ()
    """Interfaces the project has no entry point for: Django's own application for its
    settings serves them (``djbench.project.default_app``)."""


def prepare(found: ProjectDir, variants: list[Variant]) -> Prepared:
    """Load the project in a child process as its servers will; one line on any problem:
    broken settings, DEBUG on, or no entry point for an interface some variant serves."""
    p = found.project
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(found.root)),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        **project_env(found, PROBE_DATABASE_URL, secrets.token_urlsafe(50)),
    }
    argv = [sys.executable, "-m", "djbench.project.probe", "--root", str(found.root)]
    argv += [
        x for kind in ("wsgi", "asgi") if (given := getattr(p, kind)) for x in (f"--{kind}", given)
    ]
    try:
        done = subprocess.run(
            argv, cwd=found.root, env=env, capture_output=True, text=True,
            timeout=PROBE_TIMEOUT_S, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise DjbenchError(
            f"{found.name}: loading settings {p.settings} took over {PROBE_TIMEOUT_S} s"
        ) from exc
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise DjbenchError(f"{found.name}: {lines[-1] if lines else 'the project did not load'}")
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    if probe["debug"]:
        raise DjbenchError(
            f"{found.name}: settings {p.settings} have DEBUG = True; measure the project as it "
            "is deployed (DEBUG off, e.g. through its `env` in " + PROJECT_FILE + ")"
        )
    entry_points: dict[Interface, str] = {}
    defaulted: list[Interface] = []
    for kind in sorted({v.interface for v in variants}):
        found_kind = probe[kind]
        if found_kind["entry"] is None:
            users = ", ".join(v.name for v in variants if v.interface == kind)
            raise DjbenchError(
                f"{found.name}: no {kind.upper()} entry point for {users} (tried "
                f"{found_kind['error']}); give `{kind}: module:callable` in {found.file}, "
                "or leave those variants out (--variants)"
            )
        entry_points[kind] = found_kind["entry"]
        if found_kind.get("defaulted"):
            defaulted.append(kind)
    return Prepared(
        found=found,
        django=str(probe["django"]),
        entry_points=entry_points,
        defaulted=tuple(defaulted),
    )
