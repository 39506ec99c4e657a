"""Embedded Postgres as the local backend watches it: gone, or restarted after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from djbench.backends.local.postgres import crash_restart, embedded_postgres

# Recorded from the embedded Postgres 18 (log_min_messages=warning) after a SIGKILL of one
# client backend: the postmaster lives on, every connection is dropped and it recovers.
RESTART_LOG = """\
2026-11-26 09:11:36.070 UTC [5123] LOG:  database system is ready to accept connections
2026-11-26 09:11:36.205 UTC [5123] LOG:  client backend (PID 5160) was terminated by signal 9: Killed
2026-11-26 09:11:36.205 UTC [5123] DETAIL:  Failed process was running: select pg_backend_pid()
2026-11-26 09:11:36.205 UTC [5123] LOG:  terminating any other active server processes
2026-11-26 09:11:36.207 UTC [5123] LOG:  all server processes terminated; reinitializing
2026-11-26 09:11:36.232 UTC [5177] LOG:  database system was interrupted; last known up at 2026-11-26 09:11:36 UTC
2026-11-26 09:11:36.399 UTC [5123] LOG:  database system is ready to accept connections
"""  # noqa: E501


def test_a_restart_of_every_server_process_is_named_with_its_crash() -> None:
    assert crash_restart(RESTART_LOG) == (
        "Postgres restarted every server process after "
        "client backend (PID 5160) was terminated by signal 9: Killed"
    )
    assert crash_restart(RESTART_LOG.split("LOG:  client backend")[0]) is None
    lone = (
        "2026-11-26 09:11:36.207 UTC [5123] LOG:  all server processes terminated; reinitializing"
    )
    assert crash_restart(lone) == "Postgres restarted every server process"


def test_a_killed_backend_or_postmaster_is_a_fault(tmp_path: Path) -> None:
    log = tmp_path / "postgres.log"
    log.write_text("an earlier run's crash:\n" + RESTART_LOG)  # the log is appended to
    with embedded_postgres(log) as pg:
        assert pg.fault() is None
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            os.kill(int(row[0]), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pg.fault() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pg.fault() == (
            "Postgres restarted every server process after "
            f"client backend (PID {row[0]}) was terminated by signal 9: Killed"
        )
        os.kill(pg.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pg.process.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pg.fault() == "Postgres exited with signal 9 (SIGKILL)"


def test_every_server_can_start_from_the_database_as_prepared(tmp_path: Path) -> None:
    from djbench.backends.local.postgres import keep_prepared, restore_prepared

    with embedded_postgres(tmp_path / "pg.log") as pg:
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1), (2)")
        keep_prepared(pg)
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
            # A connection still open (a server's pool) does not stop the restore.
            restore_prepared(pg)
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            count = conn.execute("SELECT count(*) FROM t").fetchone()
        assert count == (2,)


def test_binaries_a_private_directory_hides_from_postgres_s_user_run_from_a_copy(
    tmp_path: Path,
) -> None:
    import shutil

    from djbench.backends.local import postgres

    if os.geteuid() != 0:
        return  # only root hands Postgres to another user
    # A virtual environment under a 0700 directory, as /root or pytest's tmp_path are.
    private = tmp_path / "private"
    site = private / "site-packages"
    real = postgres._bin_dir()
    for part in (real.parent, real.parents[2] / "embedded_postgres.libs"):
        shutil.copytree(part, site / part.relative_to(real.parents[2]), symlinks=True)
    private.chmod(0o700)
    work = Path(tempfile.mkdtemp(prefix="djbench-pg-test-"))
    try:
        work.chmod(0o755)
        user = postgres._prepare_system_user()
        found = postgres._reachable(site / real.relative_to(real.parents[2]), user, work)
        assert found.is_relative_to(work)
        done = subprocess.run(
            [str(found / "postgres"), "--version"], user=user, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0 and "PostgreSQL" in done.stdout, done.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_connections_refused_at_max_connections_are_counted(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path / "pg.log", max_connections=4) as pg:
        since = pg.log_position()
        held, refused = [], 0
        try:
            for _ in range(6):
                try:
                    held.append(psycopg.connect(pg.url(), connect_timeout=5))
                except psycopg.OperationalError:
                    refused += 1
        finally:
            for conn in held:
                conn.close()
        assert refused == 2
        deadline = time.monotonic() + 5
        while pg.refusals(since) < refused and time.monotonic() < deadline:
            time.sleep(0.05)  # the postmaster's log lags its answer
        assert pg.refusals(since) == refused
        assert pg.refusals(pg.log_position()) == 0
