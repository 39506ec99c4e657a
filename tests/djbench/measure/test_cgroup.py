"""The cgroup counter parser against what the reader prints on cgroup v1 and v2 (file formats
as the kernel writes them; the reader itself runs in real containers in
tests/images/test_cgroup_reader.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from djbench.measure.cgroup import parse_counters, read_command, throttled_from_cpu_stat
from djbench.model.errors import DjbenchError

V2_QUOTA = """== cpu.stat
usage_usec 2500000
user_usec 2000000
system_usec 500000
nr_periods 40
nr_throttled 12
throttled_usec 750000
== cpu.max
50000 100000
== memory.stat
anon 52428800
file 4096
"""
V2_EXCLUSIVE = """== cpu.stat
usage_usec 1000000
user_usec 900000
system_usec 100000
nr_periods 0
nr_throttled 0
throttled_usec 0
== cpu.max
max 100000
== memory.stat
anon 1048576
"""
V1_QUOTA = """== cpuacct/cpuacct.usage
3000000000
== cpu/cpu.stat
nr_periods 30
nr_throttled 9
throttled_time 1500000000
== cpu/cpu.cfs_quota_us
200000
== cpu/cpu.cfs_period_us
100000
== memory/memory.stat
cache 100
rss 4096
total_rss 8192
"""


def test_v2_with_a_quota() -> None:
    c = parse_counters(V2_QUOTA)
    assert (c.version, c.cpu_s, c.quota_cpus, c.throttled_s) == (2, 2.5, 0.5, 0.75)
    assert c.rss_bytes == 52428800


def test_v2_without_a_quota_has_nothing_to_throttle() -> None:
    c = parse_counters(V2_EXCLUSIVE)
    assert (c.version, c.cpu_s, c.quota_cpus, c.throttled_s) == (2, 1.0, None, None)


def test_v1_with_a_quota_counts_the_whole_hierarchy() -> None:
    c = parse_counters(V1_QUOTA)
    assert (c.version, c.cpu_s, c.quota_cpus, c.throttled_s) == (1, 3.0, 2.0, 1.5)
    assert c.rss_bytes == 8192


def test_v1_without_a_quota() -> None:
    text = V1_QUOTA.replace("== cpu/cpu.cfs_quota_us\n200000", "== cpu/cpu.cfs_quota_us\n-1")
    c = parse_counters(text)
    assert (c.quota_cpus, c.throttled_s) == (None, None)


def test_combined_v1_controller_directory() -> None:
    text = V1_QUOTA.replace("cpuacct/", "cpu,cpuacct/").replace("== cpu/", "== cpu,cpuacct/")
    assert parse_counters(text).throttled_s == 1.5


@pytest.mark.parametrize("text", ["", "sh: 1: cd: can't cd to /sys/fs/cgroup\n", "== x\n1\n"])
def test_no_counters_is_one_line(text: str) -> None:
    with pytest.raises(DjbenchError, match=r"^cgroup: no CPU counters") as info:
        parse_counters(text)
    assert "\n" not in str(info.value)


def test_throttled_from_one_cpu_stat() -> None:
    assert throttled_from_cpu_stat("nr_throttled 2\nthrottled_usec 2500000\n") == 2.5
    assert throttled_from_cpu_stat("throttled_time 2000000000\n") == 2.0
    assert throttled_from_cpu_stat("usage_usec 5\n") is None


def test_the_reader_prints_what_the_parser_reads(tmp_path: Path) -> None:
    """The shell script on a planted tree: every file, the last line without a newline too."""
    (tmp_path / "cpu.stat").write_text("usage_usec 4000000\nthrottled_usec 1000000")
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    (tmp_path / "memory.stat").write_text("anon 123\n")
    out = subprocess.run(
        read_command(str(tmp_path)), capture_output=True, text=True, check=True
    ).stdout
    c = parse_counters(out)
    assert (c.version, c.cpu_s, c.quota_cpus, c.throttled_s, c.rss_bytes) == (2, 4, 1, 1, 123)
