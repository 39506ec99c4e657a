"""What every backend provides: infrastructure, one server at a time, one measured step."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, Protocol, TypeVar

from djbench.model.pod import PodFacts
from djbench.model.results import PathCheck, Step
from djbench.model.setup import LoadStep, Setup


class Server(Protocol):
    """A running variant the load can be pointed at."""

    setup: Setup
    url: str
    paths: list[PathCheck]
    """The added round-trip times measured through its latency proxies (none: direct)."""
    pod: PodFacts | None
    """Its pod as the cluster made it (Kubernetes); None where there is none (locally)."""

    def alive(self) -> bool:
        """False once the server has exited (it will fail every further step)."""
        ...

    def describe_exit(self) -> str:
        """Why the server is gone, with its last output."""
        ...


ServerT = TypeVar("ServerT", bound=Server)


class Backend(Protocol[ServerT]):
    """Local processes or Kubernetes: the runner drives either the same way."""

    @property
    def name(self) -> Literal["local", "kubernetes"]:
        """Recorded as ``backend`` in the results."""
        ...

    def infrastructure(self) -> AbstractContextManager[None]:
        """Postgres (seeded), the stub API and anything else shared by all variants."""
        ...

    def server(self, setup: Setup) -> AbstractContextManager[ServerT]:
        """Start one variant with its upstream client, wait until healthy, stop it at the end."""
        ...

    def settle(self, server: ServerT, timeout: float) -> str | None:
        """None once the server answers its health path promptly (idle) and healthily (below
        500 for a project, 200 for benchapp); else, after at most ``timeout``, why not (one
        line: ``/up/ answered 500: Server Error (500)``, ``still busy after 5 s``)."""
        ...

    def verify(self, server: ServerT, workload: str) -> str | None:
        """One checked request before any number is taken: None if the answer is right."""
        ...

    def measure(self, server: ServerT, workload: str, step: LoadStep) -> Step:
        """Warm up and measure one step; a failure is a Step with status ``failed``."""
        ...

    def infrastructure_fault(self) -> str | None:
        """A one-line cause when a piece of infrastructure (Postgres, the stub API) is gone or
        was restarted since the run began (``Postgres exited with signal 9 (SIGKILL)``), else
        None. Asked after every step: a step measured meanwhile is void."""
        ...

    def load_average(self) -> tuple[float, float, float] | None:
        """The load average (1, 5, 15 min) of the machine the servers run on, None where
        not read: how busy it was, recorded with each run."""
        ...

    def environment_extra(self) -> dict[str, object]:
        """Backend facts worth recording with the results (CPU layout, quotas...)."""
        ...
