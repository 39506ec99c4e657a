"""What a server's pod is: the shape it was started in (workers, threads, CPU budget) and, on
Kubernetes, what the cluster made of it (its QoS class and CPU resources)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from djbench.model.strict import Strict

Threads = Annotated[int, Field(ge=1, le=1024)]
Workers = Annotated[int, Field(ge=1, le=64)]
Cpus = Annotated[float, Field(gt=0, le=64, multiple_of=0.001)]
"""What a scenario may ask of a pod: threads per worker, worker processes, its CPU budget."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Shape(_Frozen):
    """The shape of the pod a server ran in: its worker processes, each worker's threads and
    the CPU budget they share."""

    threads: int | None = Field(default=None, ge=1)
    """Threads per worker where the worker's concurrency is a thread pool; None: it holds
    requests otherwise (an event loop, greenlets)."""
    workers: int = Field(default=1, ge=1)
    cpus: float = Field(default=1.0, gt=0)
    """The CPU budget: locally the cgroup quota (and the CPUs it is pinned to), on
    Kubernetes the container's CPU request = limit."""

    @property
    def slots(self) -> int | None:
        """Requests the pod works on at once: workers × threads (None when unbounded)."""
        return None if self.threads is None else self.workers * self.threads

    @property
    def label(self) -> str:
        """``×32 threads · 1 worker · 1 CPU`` or ``2 workers · 0.5 CPU``."""
        return self.label_without()

    def label_without(self, part: Literal["threads", "workers"] | None = None) -> str:
        """The label with one part left out: what is held while that part varies
        (``label_without("workers")``: ``×32 threads · 1 CPU``)."""
        parts = []
        if self.threads is not None and part != "threads":
            parts.append(f"×{self.threads} thread{'s' if self.threads != 1 else ''}")
        if part != "workers":
            parts.append(f"{self.workers} worker{'s' if self.workers != 1 else ''}")
        parts.append(f"{self.cpus:g} CPU{'s' if self.cpus > 1 else ''}")
        return " · ".join(parts)


class ShapeSpec(Strict):
    """One pod shape a scenario lists (``shapes:``): what it sets of threads, workers and
    CPUs; what it leaves out is the variant's standard (its own threads, one worker, one
    CPU)."""

    threads: Threads | None = None
    """Threads per worker, for the variants whose thread pool their command line sizes."""
    workers: Workers | None = None
    cpus: Cpus | None = None

    @property
    def label(self) -> str:
        """``threads 8``, ``workers 2 · CPUs 0.5``; ``standard`` when it sets nothing."""
        given = [
            f"{name} {value:g}"
            for name, value in (("threads", self.threads), ("workers", self.workers),
                                ("CPUs", self.cpus))
            if value is not None
        ]  # fmt: skip
        return " · ".join(given) or "standard"


class PodFacts(_Frozen):
    """The measured server's pod as the Kubernetes API shows it once it is ready."""

    name: str
    qos_class: str | None = None
    """``Guaranteed`` (requests = limits on every container), ``Burstable`` or ``BestEffort``."""
    cpu_request: str | None = None
    cpu_limit: str | None = None
    """The server container's CPU as written (``1``, ``500m``)."""
    exclusive_cpus: bool | None = None
    """Whether the kubelet's static CPU manager policy would give it CPUs of its own:
    Guaranteed with a whole number of CPUs. A fraction always shares the node's pool. The
    policy itself is the kubelet's and not visible through the API: True says eligible."""
