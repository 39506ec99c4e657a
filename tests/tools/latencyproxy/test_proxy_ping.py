"""``python -m latencyproxy.ping``: what it prints, and one line and exit 1 for a path it cannot
ping (its pairs judged against a real proxy are in tests/djbench/test_pathcheck.py)."""

from __future__ import annotations

import subprocess
import sys

from proxy_helpers import free_ports


def _ping(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "latencyproxy.ping", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_refused_path_is_one_line_and_exit_1() -> None:
    (closed,) = free_ports(1)
    address = f"127.0.0.1:{closed}"
    done = _ping("--path", "db", "--straight", address, "--through", address)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("db path: "), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_server_that_is_not_postgres_is_named(echo_port: int) -> None:
    """The echo server sends the SSLRequest's first byte back: not Postgres's N or S."""
    address = f"127.0.0.1:{echo_port}"
    done = _ping("--path", "db", "--straight", address, "--through", address, "--pings", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"db path: 127.0.0.1:{echo_port} does not answer like Postgres (b'\\x00')"
    )


def test_bad_arguments_exit_2() -> None:
    done = _ping("--path", "db", "--straight", "nowhere", "--through", "127.0.0.1:1")
    assert done.returncode == 2
    assert "expected HOST:PORT, got 'nowhere'" in done.stderr
    done = _ping("--path", "db", "--straight", "h:1", "--through", "h:2", "--connections", "0")
    assert done.returncode == 2
    assert "--connections and --pings must be at least 1" in done.stderr
