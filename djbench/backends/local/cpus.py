"""CPU placement on this machine: the server's CPUs, everyone else's, and the server's CPU
quota (its budget: a whole number of CPUs or a fraction of one)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from djbench.measure.cgroup import throttled_from_cpu_stat
from djbench.model.errors import DjbenchError

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_STAT = Path("/proc/stat")
_PERIOD_US = 100_000
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")
_BUSY_FIELDS = 8
"""/proc/stat's per-CPU fields that count time at work: user, nice, system, (idle and
iowait skipped,) irq, softirq, steal (guest time is inside user already)."""


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

    def pinned(self, budget: float) -> tuple[int, ...]:
        """The server CPUs a budget of ``budget`` CPUs runs on: as many whole CPUs as it
        needs (half a CPU: one CPU, its quota half of that CPU's time)."""
        needed = math.ceil(budget - 1e-9)
        if needed > len(self.server):
            raise DjbenchError(
                f"cpus: {budget:g} needs {needed} CPUs for the server, and this machine gives "
                f"it {len(self.server)} (the others run the load and Postgres)"
            )
        return self.server[:needed]


def plan_cpus(server_cpus: int = 1) -> CpuLayout:
    """Give the server the last ``server_cpus`` usable CPUs and the rest to everything else.

    With a single usable CPU, both share it: the run still works, but the report says so.
    More than one server CPU is only given where one is left for the load.
    """
    usable = sorted(os.sched_getaffinity(0))
    if server_cpus < 1:
        raise DjbenchError("the server needs at least one CPU")
    if server_cpus > 1 and len(usable) <= server_cpus:
        raise DjbenchError(
            f"cpus: {server_cpus} CPUs for the server leave none of this machine's "
            f"{len(usable)} usable CPUs for the load and Postgres"
        )
    if len(usable) <= server_cpus:
        return CpuLayout(server=tuple(usable), infra=tuple(usable))
    return CpuLayout(server=tuple(usable[-server_cpus:]), infra=tuple(usable[:-server_cpus]))


def busy_cpu_s(cpus: tuple[int, ...], stat: Path = PROC_STAT) -> float | None:
    """CPU seconds ``cpus`` spent at work since boot, by everything on them (the kernel's
    own counters): what the server used of them and what anything else did, together. None
    where /proc/stat cannot be read."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    ticks = 0
    for line in lines:
        name, _, rest = line.partition(" ")
        if name in wanted:
            fields = [int(x) for x in rest.split()[:_BUSY_FIELDS]]
            # user nice system idle iowait irq softirq steal
            ticks += sum(fields[:3]) + sum(fields[5:8])
    return ticks * _TICK_S


@contextlib.contextmanager
def placed(cpus: tuple[int, ...]) -> Iterator[None]:
    """Every thread of this process (and any it starts) on ``cpus`` for the block: the
    harness's own sampling and drawing stay off the server's CPU, whose other users the
    outside-load self-check counts."""
    before = os.sched_getaffinity(0)
    tasks = Path("/proc/self/task")

    def place(where: set[int]) -> None:
        for task in tasks.iterdir():
            with contextlib.suppress(OSError, ValueError):
                os.sched_setaffinity(int(task.name), where)

    place(set(cpus))
    try:
        yield
    finally:
        place(before)


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
