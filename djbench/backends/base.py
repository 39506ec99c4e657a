"""What every backend provides: infrastructure, one server at a time, one measured step."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from djbench.results import Step
from djbench.variants import Variant


@dataclass(frozen=True)
class LoadStep:
    """One measured step: a load model at one level (VUs for closed, req/s for open)."""

    model: Literal["closed", "open"]
    level: float

    @property
    def label(self) -> str:
        """Short text for progress lines: ``c=32`` or ``r=120.0/s``."""
        return f"c={self.level:g}" if self.model == "closed" else f"r={self.level:.1f}/s"


class Server(Protocol):
    """A running variant the load can be pointed at."""

    variant: Variant
    url: str

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

    def server(self, variant: Variant) -> AbstractContextManager[ServerT]:
        """Start one variant, wait until healthy, stop it when the block ends."""
        ...

    def settle(self, server: ServerT, timeout: float) -> bool:
        """True once the server answers /healthz promptly (idle); False if not within timeout."""
        ...

    def verify(self, server: ServerT, workload: str) -> str | None:
        """One checked request before any number is taken: None if the answer is right."""
        ...

    def measure(self, server: ServerT, workload: str, step: LoadStep) -> Step:
        """Warm up and measure one step; a failure is a Step with status ``failed``."""
        ...

    def environment_extra(self) -> dict[str, object]:
        """Backend facts worth recording with the results (CPU layout, quotas...)."""
        ...
