"""The cgroup reader in the server image's real containers: the command the Kubernetes backend
execs, run with ``docker exec``, on the cgroup v1 and v2 paths of this machine's kernel.

On a hybrid host (cgroup v1 controllers plus the unified v2 tree, as Docker runs here) both
layouts are real: v1 at the container's /sys/fs/cgroup, v2 through the unified tree mounted
in. A pure v2 host only has v2; a pure v1 host only v1.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker_engine as de
import pytest
from built_images import Images

from djbench.measure.cgroup import CgroupCounters, parse_counters, read_command

pytestmark = pytest.mark.docker
UNIFIED = Path("/sys/fs/cgroup/unified")
"""Where a hybrid host mounts the v2 tree."""
PURE_V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
# A busy loop holding 64 MiB of written (so resident) memory.
BURN = "b = bytearray(b'x') * (64 << 20)\nwhile True: pass"


@pytest.fixture()
def burner(images: Images) -> Iterator[tuple[str, str]]:
    """A container of the server image spinning on half a CPU (a CFS quota), and its name."""
    name = f"djbench-cgroup-{uuid.uuid4().hex[:8]}"
    mounts = ["--volume", f"{UNIFIED}:/cgroup2:ro"] if UNIFIED.is_dir() else []
    de.docker(
        "run", "--detach", "--name", name, "--label", f"{de.LABEL}=1", "--cpus", "0.5",
        *mounts, "--entrypoint", "python3", images.django, "-c", BURN,
    )  # fmt: skip
    try:
        yield name, images.django
    finally:
        de.docker("rm", "--force", name, check=False)


def _read(name: str, root: str | None = None) -> CgroupCounters:
    command = read_command(root) if root else read_command()
    return parse_counters(de.docker("exec", name, *command).stdout)


def _two_readings(name: str, root: str | None = None) -> tuple[CgroupCounters, CgroupCounters]:
    time.sleep(1.0)  # past the start, memory written
    first = _read(name, root)
    time.sleep(2.0)
    return first, _read(name, root)


@pytest.mark.skipif(PURE_V2, reason="a pure cgroup v2 host has no v1 hierarchy")
def test_v1_paths_in_a_real_container(burner: tuple[str, str]) -> None:
    a, b = _two_readings(burner[0])
    assert (a.version, a.quota_cpus) == (1, 0.5)
    # Half a CPU for two seconds, give or take the readings' own timing.
    assert 0.7 <= b.cpu_s - a.cpu_s <= 1.3
    assert a.throttled_s is not None and b.throttled_s is not None
    assert b.throttled_s - a.throttled_s > 0.3  # a busy loop on half a CPU waits half the time
    assert b.rss_bytes >= 64 << 20


def test_v2_paths_in_a_real_container(burner: tuple[str, str]) -> None:
    name = burner[0]
    if PURE_V2:
        root = None  # the container's own cgroup namespace
    elif UNIFIED.is_dir():
        own = de.docker("exec", name, "cat", "/proc/1/cgroup").stdout
        path = next(line[3:] for line in own.splitlines() if line.startswith("0::"))
        root = f"/cgroup2{path}"
    else:
        pytest.skip("no cgroup v2 tree on this host")
    a, b = _two_readings(name, root)
    assert a.version == 2
    assert 0.7 <= b.cpu_s - a.cpu_s <= 1.3
    if PURE_V2:
        assert a.quota_cpus == 0.5 and a.throttled_s is not None
        assert b.rss_bytes >= 64 << 20
    else:
        # On a hybrid host the cpu controller stays on v1: the v2 tree has no cpu.max.
        assert (a.quota_cpus, a.throttled_s) == (None, None)
