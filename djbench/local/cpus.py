"""CPU placement on this machine: the server's CPU, everyone else's, and a 1-CPU quota."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from djbench.cgroup import throttled_from_cpu_stat
from djbench.errors import DjbenchError

CGROUP_ROOT = Path("/sys/fs/cgroup")
_PERIOD_US = 100_000


@dataclass(frozen=True)
class CpuLayout:
    """Which CPUs run the server under test and which run everything else (k6, Postgres...)."""

    server: tuple[int, ...]
    infra: tuple[int, ...]

    @property
    def server_arg(self) -> str:
        """The server CPUs as a comma-separated list for the launcher."""
        return ",".join(map(str, self.server))

    @property
    def infra_arg(self) -> str:
        """The other CPUs as a comma-separated list for the launcher."""
        return ",".join(map(str, self.infra))


def plan_cpus(server_cpus: int = 1) -> CpuLayout:
    """Give the server the last ``server_cpus`` usable CPUs and the rest to everything else.

    With a single usable CPU, both share it: the run still works, but the report says so.
    """
    usable = sorted(os.sched_getaffinity(0))
    if server_cpus < 1:
        raise DjbenchError("the server needs at least one CPU")
    if len(usable) <= server_cpus:
        return CpuLayout(server=tuple(usable), infra=tuple(usable))
    return CpuLayout(server=tuple(usable[-server_cpus:]), infra=tuple(usable[:-server_cpus]))


def _cpu_controller_dir() -> tuple[Path, int] | None:
    """The directory under which CPU cgroups can be made, and the cgroup version."""
    v1 = CGROUP_ROOT / "cpu"
    if (v1 / "cpu.cfs_quota_us").exists():
        return v1, 1
    controllers = CGROUP_ROOT / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return CGROUP_ROOT, 2
    return None


@contextlib.contextmanager
def cpu_quota(name: str, cpus: float) -> Iterator[Path | None]:
    """A cgroup limited to ``cpus`` CPUs of time, removed afterwards; None where not permitted.

    Pinning alone already bounds the server to its CPU; the quota makes the budget explicit
    and mirrors a Kubernetes CPU limit, so throttling shows up the same way.
    """
    found = _cpu_controller_dir()
    group: Path | None = None
    if found is not None:
        base, version = found
        group = base / f"djbench-{os.getpid()}-{name}"
        quota = int(_PERIOD_US * cpus)
        try:
            group.mkdir()
            if version == 1:
                (group / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
            else:
                (group / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            group = None
    try:
        yield group
    finally:
        if group is not None:
            with contextlib.suppress(OSError):
                group.rmdir()


def throttled_s(group: Path | None) -> float | None:
    """Seconds the group spent throttled so far (None without a quota cgroup)."""
    if group is None:
        return None
    with contextlib.suppress(OSError):
        return throttled_from_cpu_stat((group / "cpu.stat").read_text())
    return None


def quota_supported() -> bool:
    """Whether this machine lets us create a CPU-quota cgroup (root, writable cgroupfs)."""
    with cpu_quota("probe", 1.0) as group:
        return group is not None
