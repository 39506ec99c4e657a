"""Child processes the harness owns: started placed, stopped for sure, never orphaned."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil

from djbench.model.errors import DjbenchError

TAIL_CHARS = 300
"""The most of a process's last output an exit cause carries (it is one line of a result)."""


class ManagedProcess:
    """One child started through the launcher in its own session (so Ctrl-C reaches only us).

    The harness decides when children stop; the kernel's parent-death signal covers the case
    where the harness itself is killed.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        cpus: str = "",
        cgroup: Path | None = None,
        user: str = "",
        stop_signal: signal.Signals = signal.SIGTERM,
        realtime: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.cpus = cpus
        self.cgroup = cgroup
        self.user = user
        self.stop_signal = stop_signal
        self.realtime = realtime
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def pid(self) -> int:
        """Process id of the command (the launcher execs into it)."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self._popen.pid

    def start(self) -> ManagedProcess:
        """Start the command via the launcher; output goes to the log file."""
        launcher = [
            sys.executable, "-m", "djbench.backends.local.launch",
            "--death-signal", self.stop_signal.name, "--parent", str(os.getpid()),
        ]  # fmt: skip
        if self.cpus:
            launcher += ["--cpus", self.cpus]
        if self.cgroup is not None:
            launcher += ["--cgroup", str(self.cgroup)]
        if self.user:
            launcher += ["--user", self.user]
        if self.realtime:
            launcher += ["--realtime"]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # The log is appended to across restarts: this start's output begins here.
            self._log_start = log.tell()
            try:
                self._popen = subprocess.Popen(
                    [*launcher, "--", *self.argv],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DjbenchError(f"cannot start {self.name}: {exc.strerror}") from exc
        return self

    def run(self, timeout: float) -> int:
        """Start, wait for the command to exit and return its status (killed past timeout)."""
        self.start()
        assert self._popen is not None
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise DjbenchError(f"{self.name} did not finish within {timeout:.0f}s") from None
        except BaseException:
            self.stop()  # Ctrl-C while waiting: the child lives in its own session
            raise

    def running(self) -> bool:
        """True while the command has not exited."""
        return self._popen is not None and self._popen.poll() is None

    def returncode(self) -> int | None:
        """Exit status once exited."""
        return None if self._popen is None else self._popen.poll()

    def exit_cause(self, tail_lines: int = 3) -> str | None:
        """One line once the command has exited (``Postgres exited with signal 9 (SIGKILL)``,
        with its last output unless SIGKILL left it no chance to explain); None while it runs
        or before it started."""
        code = self.returncode()
        if code is None:
            return None
        cause = f"{self.name} exited with {exit_status(code)}"
        if code == -signal.SIGKILL:
            return cause
        tail = " | ".join(line.strip() for line in self.log_tail(tail_lines).splitlines())
        if tail:
            cause += f"; last output: {tail[-TAIL_CHARS:]}"
        return cause

    def tree(self) -> list[psutil.Process]:
        """The command and all its descendants that are alive now (none before start, none
        once it was reaped: its pid may belong to another process by then)."""
        if self._popen is None or self._popen.poll() is not None:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def last_error(self) -> str:
        """The error its output since it last started ends with, in one line
        (:func:`last_error`)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                return last_error(log.read().decode(errors="replace"))
        except OSError:
            return "no output"

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the whole session, wait, then kill whatever is left of the tree.

        The kill runs however the wait ends (a timeout, or Ctrl-C in the middle of it).
        """
        if self._popen is None:
            return
        members = self.tree()
        try:
            if self._popen.poll() is None:  # the group leader lives: its pgid is still ours
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout)
        finally:
            # Descendants that left the session (daemonised helpers) are found through the tree.
            leftovers = [p for p in members if _alive(p)] + self.tree()
            for proc in leftovers:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            if self._popen.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(5)
            psutil.wait_procs(leftovers, timeout=5)


def exit_status(code: int) -> str:
    """``status 1``, or ``signal 9 (SIGKILL)`` for a negative status (killed by a signal)."""
    if code >= 0:
        return f"status {code}"
    try:
        return f"signal {-code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"signal {-code}"


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_http(
    url: str,
    proc: ManagedProcess,
    timeout: float = 60.0,
    up: Callable[[int], bool] = lambda status: status == 200,
) -> None:
    """Wait until ``url`` answers a status ``up`` accepts (200 by default), or fail in one
    line: the last status it answered (a server that answers 500 to every probe is up but
    broken) and the error its output ends with, its log named for the rest."""
    deadline = time.monotonic() + timeout
    last: int | None = None
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if (code := proc.returncode()) is not None:
                raise DjbenchError(
                    f"{proc.name} exited with {exit_status(code)} before answering {url}: "
                    f"{proc.last_error()} (log: {proc.log_path})"
                )
            with contextlib.suppress(httpx.HTTPError):
                last = client.get(url).status_code
                if up(last):
                    return
            time.sleep(0.1)
    said = f"answered {url} with {last}" if last is not None else f"did not answer {url}"
    raise DjbenchError(
        f"{proc.name} {said} for {timeout:.0f} s: {proc.last_error()} (log: {proc.log_path})"
    )


def last_error(log: str) -> str:
    """The error a process's output ends with, in one line: the exception line of its last
    traceback (``ValueError: Missing staticfiles manifest entry for 'x.css'``), else its
    last line that is not empty."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        # The exception line is the first one after the traceback that is not indented.
        after = lines[starts[-1] + 1 :]
        found = next((line for line in after if line.strip() and not line[0].isspace()), None)
        if found is not None:
            return " ".join(found.split())[:TAIL_CHARS]
    tail = [line for line in lines if line.strip()]
    return " ".join(tail[-1].split())[:TAIL_CHARS] if tail else "no output"


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Refuse a port something already listens on, before starting anything."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: connections of a stopped server in TIME_WAIT don't block a bind.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise DjbenchError(
                f"port {port} on {host} is in use (needed for {what}); free it or pass --port"
            ) from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def managed(proc: ManagedProcess) -> Iterator[ManagedProcess]:
    """Start a process and stop it however the block ends."""
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
