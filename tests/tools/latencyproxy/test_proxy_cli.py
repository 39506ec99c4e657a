"""``python -m latencyproxy``: its options, its exit codes, a clean stop on SIGTERM and SIGINT."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from live_servers import HOST, bound_socket
from proxy_helpers import free_ports

from latencyproxy.__main__ import parse_args

REQUIRED = ["--listen", "127.0.0.1:6000", "--upstream", "db:5432", "--delay-ms", "10"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "latencyproxy", *args], capture_output=True, text=True, timeout=60
    )


def test_options() -> None:
    args = parse_args([*REQUIRED, "--jitter-ms", "2.5", "--stats", "[::1]:9100"])
    assert vars(args) == {
        "listen": ("127.0.0.1", 6000),
        "upstream": ("db", 5432),
        "delay_ms": 10.0,
        "jitter_ms": 2.5,
        "stats": ("::1", 9100),
        "backlog": 4096,
        "log_level": "warning",
    }


def test_help_says_the_round_trip_grows_by_twice_the_delay() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # unwrapped
    assert "delay added to EACH direction, in ms: the round trip grows by 2*D" in text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (REQUIRED[:4], "the following arguments are required: --delay-ms"),
        (["--listen", "6000", *REQUIRED[2:]], "expected HOST:PORT, got '6000'"),
        (["--listen", "h:70000", *REQUIRED[2:]], "expected a port in 1..65535"),
        ([*REQUIRED[:5], "-1"], "expected 0..60000 ms, got '-1'"),
        ([*REQUIRED[:5], "nan"], "expected 0..60000 ms, got 'nan'"),
        ([*REQUIRED, "--jitter-ms", "11"], "--jitter-ms (11) must not exceed --delay-ms (10)"),
        ([*REQUIRED, "--backlog", "0"], "--backlog must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_error_line(args: list[str], error: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith("python -m latencyproxy: error: ")
    assert error in errors[0]
    assert result.stderr.splitlines()[-1] == errors[0]


@pytest.mark.parametrize("taken", ["--listen", "--stats"])
def test_an_address_in_use_exits_3_with_one_line(taken: str) -> None:
    with bound_socket() as busy:
        busy.listen()
        port = busy.getsockname()[1]
        other, upstream = free_ports(2)
        addresses = {"--listen": f"{HOST}:{other}", "--stats": f"{HOST}:{other}"}
        addresses[taken] = f"{HOST}:{port}"  # the other one is free
        result = run_cli(
            "--listen", addresses["--listen"], "--stats", addresses["--stats"],
            "--upstream", f"{HOST}:{upstream}", "--delay-ms", "1",
        )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("latencyproxy: cannot listen for ")
    assert f"on {HOST}:{port}: " in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly_with_connections_open(
    signum: signal.Signals, tmp_path: Path
) -> None:
    """Exit 0, and the relayed connection is closed (the client reads EOF)."""
    with bound_socket() as upstream:
        upstream.listen()
        upstream.settimeout(10)
        port, control = free_ports(2)
        log = tmp_path / "latencyproxy.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "latencyproxy", "--listen", f"{HOST}:{port}",
                 "--upstream", f"{HOST}:{upstream.getsockname()[1]}", "--delay-ms", "1",
                 "--stats", f"{HOST}:{control}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, log.read_text()
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"http://{HOST}:{control}/healthz", timeout=1).is_success:
                        break
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            with socket.create_connection((HOST, port), timeout=10) as client:
                relayed, _ = upstream.accept()
                with relayed:
                    proc.send_signal(signum)
                    assert proc.wait(10) == 0, log.read_text()
                    assert client.recv(1) == b""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert log.read_text() == ""
