"""A container's own cgroup counters, read from inside it: CPU time, throttled time, the CPU
quota and anonymous memory, on cgroup v1 or v2.

The same reading serves a pod (an exec into the server container) and the tests (``docker
exec``): one command prints the counter files, :func:`parse_counters` reads what it printed.
Inside a container the runtime mounts the container's own cgroup at ``/sys/fs/cgroup`` (v2:
a cgroup namespace; v1: its directory of each controller), so the paths are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from djbench.model.errors import DjbenchError

ROOT = "/sys/fs/cgroup"
V2_FILES = ("cpu.stat", "cpu.max", "memory.stat")
V1_FILES = (
    "cpuacct/cpuacct.usage",
    "cpu,cpuacct/cpuacct.usage",
    "cpu/cpu.stat",
    "cpu,cpuacct/cpu.stat",
    "cpu/cpu.cfs_quota_us",
    "cpu,cpuacct/cpu.cfs_quota_us",
    "cpu/cpu.cfs_period_us",
    "cpu,cpuacct/cpu.cfs_period_us",
    "memory/memory.stat",
)
MARK = "== "
# Shell builtins only (read, echo): one short-lived process in the server's cgroup per reading,
# which is all the CPU the reading itself costs the server.
_SCRIPT = f"""cd "${{1:-{ROOT}}}" || exit 3
for f in {" ".join(V2_FILES + V1_FILES)}; do
  [ -r "$f" ] || continue
  echo "{MARK}$f"
  while IFS= read -r line || [ -n "$line" ]; do echo "$line"; done < "$f"
done
"""


def read_command(root: str = ROOT) -> list[str]:
    """The command that prints the counter files under ``root`` (needs ``sh`` in the image)."""
    return ["sh", "-c", _SCRIPT, "sh", root]


@dataclass(frozen=True)
class CgroupCounters:
    """One reading of a container's cgroup: cumulative counters and the current memory."""

    version: Literal[1, 2]
    cpu_s: float
    """CPU seconds the container's processes used so far (user + system)."""
    rss_bytes: int
    """Anonymous memory (cAdvisor's ``container_memory_rss``): the processes' heaps and stacks."""
    quota_cpus: float | None
    """The CFS quota in CPUs; None without one (e.g. exclusive CPUs of the static CPU manager)."""
    throttled_s: float | None
    """Seconds the quota held the container back so far; None without a quota."""


def _split(text: str) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK):
            current = files.setdefault(line[len(MARK) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return files


def _keyed(lines: list[str]) -> dict[str, int]:
    """``key value`` lines (cpu.stat, memory.stat) as integers."""
    found = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            found[key] = int(value)
    return found


def _first(files: dict[str, list[str]], *names: str) -> list[str] | None:
    return next((files[n] for n in names if n in files), None)


def parse_counters(text: str) -> CgroupCounters:
    """What :func:`read_command` printed, as counters; a one-line error when it is not there."""
    files = _split(text)
    try:
        if "cpu.stat" in files and "usage_usec" in _keyed(files["cpu.stat"]):
            return _v2(files)
        usage = _first(files, "cpuacct/cpuacct.usage", "cpu,cpuacct/cpuacct.usage")
        if usage:
            return _v1(files, int(usage[0]))
    except (ValueError, IndexError) as exc:
        raise DjbenchError(f"cgroup: unreadable counters ({exc})") from exc
    seen = ", ".join(files) or "none"
    raise DjbenchError(f"cgroup: no CPU counters in the container (files found: {seen})")


def _v2(files: dict[str, list[str]]) -> CgroupCounters:
    cpu = _keyed(files["cpu.stat"])
    quota: float | None = None
    if files.get("cpu.max"):
        limit, _, period = files["cpu.max"][0].partition(" ")
        if limit != "max":
            quota = int(limit) / int(period or "100000")
    memory = _keyed(files.get("memory.stat", []))
    return CgroupCounters(
        version=2,
        cpu_s=cpu["usage_usec"] / 1e6,
        rss_bytes=memory.get("anon", 0),
        quota_cpus=quota,
        throttled_s=cpu.get("throttled_usec", 0) / 1e6 if quota is not None else None,
    )


def _v1(files: dict[str, list[str]], usage_ns: int) -> CgroupCounters:
    quota_us = _first(files, "cpu/cpu.cfs_quota_us", "cpu,cpuacct/cpu.cfs_quota_us")
    period_us = _first(files, "cpu/cpu.cfs_period_us", "cpu,cpuacct/cpu.cfs_period_us")
    quota: float | None = None
    if quota_us and int(quota_us[0]) > 0:
        quota = int(quota_us[0]) / int(period_us[0] if period_us else 100000)
    stat = _keyed(_first(files, "cpu/cpu.stat", "cpu,cpuacct/cpu.stat") or [])
    memory = _keyed(files.get("memory/memory.stat", []))
    return CgroupCounters(
        version=1,
        cpu_s=usage_ns / 1e9,
        # total_rss counts the container's whole hierarchy; rss only its own cgroup.
        rss_bytes=memory.get("total_rss", memory.get("rss", 0)),
        quota_cpus=quota,
        throttled_s=stat.get("throttled_time", 0) / 1e9 if quota is not None else None,
    )


def throttled_from_cpu_stat(text: str) -> float | None:
    """Seconds throttled so far, from one ``cpu.stat`` file (v1 or v2); None without the key."""
    stat = _keyed(text.splitlines())
    if "throttled_usec" in stat:
        return stat["throttled_usec"] / 1e6
    if "throttled_time" in stat:
        return stat["throttled_time"] / 1e9
    return None
