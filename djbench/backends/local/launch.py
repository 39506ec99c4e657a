"""Exec trampoline: place this process, then become the given command.

``python -m djbench.backends.local.launch --cpus 1 --cgroup DIR --user NAME -- cmd ...`` pins the
process to CPUs, joins a CPU-quota cgroup, optionally takes a real-time priority
(``--realtime``), drops root to a system user, asks the kernel to
signal it when the harness dies (so a crashed or killed harness leaves no orphans), then
``exec``s the command. Everything the child later spawns inherits all of it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _drop_to(user: str) -> None:
    entry = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    os.environ["HOME"] = entry.pw_dir
    os.environ["USER"] = user


def main(argv: list[str] | None = None) -> None:
    """Parse the placement options, apply them, and exec the command."""
    parser = argparse.ArgumentParser(prog="djbench.backends.local.launch")
    parser.add_argument("--cpus", default="", help="comma-separated CPU ids")
    parser.add_argument("--cgroup", default="", help="cgroup directory to join")
    parser.add_argument("--user", default="", help="system user to run as (when root)")
    parser.add_argument("--death-signal", default="SIGTERM", help="signal on harness death")
    parser.add_argument("--parent", type=int, default=0, help="harness pid to watch")
    parser.add_argument(
        "--realtime", action="store_true", help="SCHED_FIFO priority 1, where permitted"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    if args.realtime:
        # Set before dropping root (only root may). Where refused, the command runs under
        # the normal scheduler: the caller's measurements say what that cost.
        with contextlib.suppress(PermissionError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    if args.cgroup:
        # cgroup v1 wants the pid in `tasks`/`cgroup.procs`; v2 only knows `cgroup.procs`.
        (Path(args.cgroup) / "cgroup.procs").write_text(str(os.getpid()))
    if args.user and os.geteuid() == 0:
        _drop_to(args.user)
    # Set after dropping privileges: a credential change clears the parent-death signal.
    _set_parent_death_signal(signal.Signals[args.death_signal].value)
    if args.parent and os.getppid() != args.parent:
        sys.exit(1)  # the harness died before we could arm the signal
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
