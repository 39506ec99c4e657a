from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from djbench.backends.local.processes import (
    ManagedProcess,
    ensure_port_free,
    exit_status,
    free_port,
    wait_http,
)
from djbench.model.errors import DjbenchError

# A parent that forks a child which forks a grandchild, all sleeping.
TREE = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"  # noqa: E501


def _wait_for(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_stop_ends_the_whole_tree(tmp_path: Path) -> None:
    proc = ManagedProcess("tree", [sys.executable, "-c", TREE], log_path=tmp_path / "log").start()
    assert _wait_for(lambda: len(proc.tree()) == 2)
    members = proc.tree()
    proc.stop(timeout=5)
    assert not proc.running()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in members)


def test_placement_on_a_cpu(tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    proc = ManagedProcess(
        "pinned", [sys.executable, "-c", "import time; time.sleep(30)"],
        log_path=tmp_path / "log", cpus=str(cpu),
    ).start()  # fmt: skip
    try:
        assert _wait_for(lambda: psutil.Process(proc.pid).cpu_affinity() == [cpu])
    finally:
        proc.stop()


def test_children_die_with_a_killed_harness(tmp_path: Path) -> None:
    """The parent-death signal: SIGKILL the harness, its managed child must not survive."""
    pidfile = tmp_path / "child.pid"
    harness = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from djbench.backends.local.processes import ManagedProcess
        p = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                           log_path=Path({str(tmp_path / "log")!r})).start()
        Path({str(pidfile)!r}).write_text(str(p.pid))
        time.sleep(60)
        """
    )
    outer = subprocess.Popen([sys.executable, "-c", harness])
    try:
        assert _wait_for(pidfile.exists)
        child = psutil.Process(int(pidfile.read_text()))
        assert _wait_for(lambda: child.cmdline()[-1] == "import time; time.sleep(60)")
        outer.kill()
        outer.wait()
        assert _wait_for(lambda: not child.is_running() or child.status() == "zombie")
    finally:
        outer.kill()


def test_wait_http_reports_an_early_exit(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "broken", [sys.executable, "-c", "print('boom: address in use'); raise SystemExit(3)"],
        log_path=tmp_path / "log",
    ).start()  # fmt: skip
    with pytest.raises(DjbenchError, match="exited with status 3") as info:
        wait_http(f"http://127.0.0.1:{free_port()}/healthz", proc, timeout=10)
    assert "boom: address in use" in str(info.value)


def test_port_in_use_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(DjbenchError, match=f"port {port} on 127.0.0.1 is in use"):
            ensure_port_free("127.0.0.1", port, "test")


SAYS_READY_THEN_SLEEPS = "print('ready', flush=True); import time; time.sleep(60)"
FAILS = "print('starting'); print('OSError: no memory'); raise SystemExit(3)"


def test_an_exit_is_one_line_naming_the_signal_or_status(tmp_path: Path) -> None:
    sleeper = ManagedProcess(
        "Postgres",
        [sys.executable, "-c", SAYS_READY_THEN_SLEEPS],
        log_path=tmp_path / "sleeper.log",
    )
    assert sleeper.exit_cause() is None  # not started
    sleeper.start()
    try:
        assert sleeper.exit_cause() is None
        os.kill(sleeper.pid, signal.SIGKILL)
        assert _wait_for(lambda: sleeper.exit_cause() is not None)
        # Its last output ("ready") says nothing of a SIGKILL: left out.
        assert sleeper.exit_cause() == "Postgres exited with signal 9 (SIGKILL)"
    finally:
        sleeper.stop()
    failing = ManagedProcess(
        "the stub API", [sys.executable, "-c", FAILS], log_path=tmp_path / "failing.log"
    )
    assert failing.run(timeout=30) == 3
    assert failing.exit_cause() == (
        "the stub API exited with status 3; last output: starting | OSError: no memory"
    )
    assert exit_status(-15) == "signal 15 (SIGTERM)"
    assert exit_status(-99) == "signal 99"


def test_the_error_a_log_ends_with_is_its_last_traceback_s_exception() -> None:
    from djbench.backends.local.processes import last_error

    log = (
        "[INFO] Booting worker\n"
        "Internal Server Error: /\n"
        "Traceback (most recent call last):\n"
        '  File "/x/django/core/handlers/exception.py", line 55, in inner\n'
        "    response = get_response(request)\n"
        "ValueError: Missing staticfiles manifest entry for 'site.css'\n"
        "[INFO] 127.0.0.1 GET / 500\n"
    )
    assert last_error(log) == "ValueError: Missing staticfiles manifest entry for 'site.css'"
    assert last_error("starting\nlistening on 8000\n\n") == "listening on 8000"
    assert last_error("") == "no output"


BROKEN_SERVER = """
import http.server, sys, traceback
class Broken(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            raise ValueError("Missing staticfiles manifest entry for 'site.css'")
        except ValueError:
            traceback.print_exc()
            sys.stderr.flush()
        self.send_response(500)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Broken).serve_forever()
"""


def test_a_server_that_answers_only_500_is_named_with_its_error(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-u", "-c", BROKEN_SERVER, str(port)]
    proc = ManagedProcess("shop", argv, log_path=tmp_path / "shop.log").start()
    try:
        with pytest.raises(DjbenchError) as info:
            wait_http(f"http://127.0.0.1:{port}/", proc, timeout=3)
    finally:
        proc.stop()
    # Up, but broken: the status it kept answering and why, not "did not answer".
    assert str(info.value) == (
        f"shop answered http://127.0.0.1:{port}/ with 500 for 3 s: ValueError: Missing "
        f"staticfiles manifest entry for 'site.css' (log: {tmp_path / 'shop.log'})"
    )
