"""The running server of one setup: started on demand, reused while healthy, restarted (and
why recorded) when not."""

from __future__ import annotations

import contextlib
from typing import Generic

from djbench.backends.base import Backend, ServerT
from djbench.model.errors import DjbenchError
from djbench.model.setup import Setup
from djbench.run.reporting import Progress

SETTLE_S = 5.0
"""How long a server may take to become idle again before the next step gets a fresh one."""


class ServerSlot(Generic[ServerT]):
    """The running server of one setup: started on demand, reused while it is healthy.

    A server still busy with the previous step's abandoned requests (a sync worker with a
    queue of timed-out connections), or one that no longer answers its health path below
    500 (its database connections gone, a worker broken), would pollute or fail the next
    step, so it is restarted fresh; ``restarts`` says why each time.
    """

    def __init__(self, backend: Backend[ServerT], setup: Setup, progress: Progress) -> None:
        self.backend = backend
        self.setup = setup
        self.progress = progress
        self._stack: contextlib.ExitStack | None = None
        self._server: ServerT | None = None
        self.restarts: list[str] = []
        """Why the server was restarted, in order."""
        self.served = False
        """Whether the running server has measured a step since it started."""

    def ready(self) -> ServerT:
        """An idle, healthy running server: the current one if it settles, else a fresh one."""
        server = self._server
        if server is None:
            return self._start(f"starting {self.setup.label}")
        why = (
            self.backend.settle(server, SETTLE_S)
            if server.alive()
            else f"it exited: {' '.join(server.describe_exit().split())}"
        )
        return server if why is None else self.restart(why)

    def restart(self, why: str) -> ServerT:
        """A fresh server in place of the running one, ``why`` recorded."""
        self.restarts.append(why)
        return self._start(f"restarting {self.setup.label}: {why}")

    def _start(self, phase: str) -> ServerT:
        self.close()
        self.progress.phase(phase)
        # Held before entering, so a Ctrl-C inside the start still stops what it started.
        self._stack = contextlib.ExitStack()
        self._server = self._stack.enter_context(self.backend.server(self.setup))
        self.served = False
        return self._server

    def close(self) -> None:
        """Stop the server, if one runs."""
        stack, self._stack, self._server = self._stack, None, None
        if stack is not None:
            stack.close()


class ServerStartError(Exception):
    """The variant's server could not be started (the cause is chained)."""


def ready_server(slot: ServerSlot[ServerT], restart: str | None = None) -> ServerT:
    """The slot's server (a fresh one, ``restart`` recorded as why, when given)."""
    try:
        return slot.ready() if restart is None else slot.restart(restart)
    except DjbenchError as exc:
        raise ServerStartError(str(exc)) from exc
