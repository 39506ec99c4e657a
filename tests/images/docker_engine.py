"""The Docker engine as the image tests use it: one CLI wrapper, builds keyed by content.

The client is Debian's (``/usr/bin/docker`` from docker.io, as ``bin/docker-setup`` installs
it) when present: it drives BuildKit with ``DOCKER_BUILDKIT=1``, whereas a newer client found
first on PATH wants the buildx plugin for that. ``DJBENCH_DOCKER`` overrides the choice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("DJBENCH_BASE_IMAGE", "djbench/debian-base:bookworm")
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LABEL = "djbench.test"
"""Every container and network the tests create carries this label (for cleanup)."""


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and its stderr."""


def docker_cli() -> str:
    """Path of the docker client to use."""
    override = os.environ.get("DJBENCH_DOCKER")
    if override:
        return override
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    return shutil.which("docker") or "docker"


def docker(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS``; raise DockerError on a non-zero exit when ``check``."""
    full_env = {**os.environ, "DOCKER_BUILDKIT": "1", **(env or {})}
    cmd = [docker_cli(), *args]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=full_env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DockerError(f"docker {' '.join(args[:3])} timed out after {timeout:.0f}s") from exc
    if check and done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
        raise DockerError(f"docker {' '.join(args[:3])} exited {done.returncode}:\n{tail}")
    return done


def engine_problem() -> str | None:
    """None when the engine answers ``docker info``, else why not (one line)."""
    try:
        done = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except (OSError, DockerError) as exc:
        return f"docker is not usable: {exc}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"docker info failed: {lines[-1] if lines else 'no output'}"
    return None


def image_id(ref: str) -> str | None:
    """The image's ID, or None when the engine does not have it."""
    done = docker("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def content_hash(files: Iterable[Path], *extra: str) -> str:
    """A short hash of file paths and contents (plus extra strings): the image's cache key."""
    digest = hashlib.sha256()
    for path in sorted(files):
        name = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
        digest.update(str(name).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:12]


def tree(*roots: str | Path) -> list[Path]:
    """Every file under the given paths (relative: to the repository), bytecode caches left
    out."""
    found: list[Path] = []
    for root in roots:
        path = REPO / root
        candidates = [path] if path.is_file() else path.rglob("*")
        found += [
            p
            for p in candidates
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return found


@dataclass(frozen=True)
class ImageSpec:
    """One image to build: its Dockerfile, context and the files that make up its content."""

    repository: str
    dockerfile: Path
    context: Path
    inputs: tuple[str | Path, ...]
    """Paths (relative: to the repository) whose contents decide the image, besides the
    Dockerfile."""
    needs_ca: bool = True
    """Whether the build reaches PyPI and needs the machine's CA bundle as a secret."""
    build_args: Mapping[str, str] = field(default_factory=dict)


def build(spec: ImageSpec, base_image: str) -> str:
    """Build the image unless one built from the same content exists; return its tag."""
    base_id = image_id(base_image)
    if base_id is None:
        raise DockerError(
            f"base image {base_image} is missing: run `bin/docker-setup` (as root) first"
        )
    files = [spec.dockerfile, *tree(*spec.inputs)]
    key = content_hash(files, base_id, repr(sorted(spec.build_args.items())))
    tag = f"{spec.repository}:test-{key}"
    if image_id(tag) is not None:
        return tag
    args = [
        "build", "--quiet", "--file", str(spec.dockerfile), "--tag", tag,
        "--build-arg", f"BASE_IMAGE={base_image}", "--label", f"{LABEL}=1",
    ]  # fmt: skip
    for key, value in spec.build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if spec.needs_ca and CA_BUNDLE.is_file():
        args += ["--secret", f"id=cacert,src={CA_BUNDLE}"]
    docker(*args, str(spec.context), timeout=900)
    prune_older(spec.repository, keep=tag)
    return tag


def prune_older(repository: str, keep: str) -> None:
    """Remove the tests' earlier builds of a repository (best effort: one in use stays)."""
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository, check=False)
    old = [t for t in listed.stdout.split() if ":test-" in t and t != keep]
    if old:
        docker("rmi", *old, check=False)


def unique(prefix: str) -> str:
    """A name no other test run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def network(prefix: str = "djbench-test") -> Iterator[str]:
    """A user-defined bridge network (its DNS resolves aliases); removed afterwards."""
    name = unique(prefix)
    docker("network", "create", "--label", f"{LABEL}=1", name)
    try:
        yield name
    finally:
        remove_containers_on(name)
        docker("network", "rm", name, check=False)


def remove_containers_on(net: str) -> None:
    """Force-remove every container attached to a network, and their anonymous volumes."""
    done = docker("ps", "-aq", "--filter", f"network={net}", check=False)
    ids = done.stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False, timeout=60)


def remove(*containers: str) -> None:
    """Force-remove containers (and their anonymous volumes), ignoring missing ones."""
    if containers:
        docker("rm", "-f", "-v", *containers, check=False, timeout=60)


def logs(container: str, lines: int = 40) -> str:
    """The last lines of a container's output, for failure messages."""
    done = docker("logs", "--tail", str(lines), container, check=False)
    return (done.stdout + done.stderr).strip()
