"""What a run measures: a server as started (a variant with one upstream client at one
distance) and the load steps it gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from djbench.model.pod import Shape
from djbench.model.results import DIRECT, Distance, load_label
from djbench.model.scenario import Scenario
from djbench.model.variants import Variant


@dataclass(frozen=True)
class LoadStep:
    """One measured step: a load model at one level (VUs for closed, req/s for open)."""

    model: Literal["closed", "open"]
    level: float
    warmup_s: float | None = None
    duration_s: float | None = None
    """The step's own warm-up and measured phase; None: the scenario's (``timed`` sizes them
    by the evidence the step needs)."""
    max_vus: int | None = None
    """Open model: the most VUs k6 may hold in flight (``timed`` sizes it from the rate and
    the SLO); None: the scenario's ``open.max_vus``. Closed steps ignore it."""
    preallocated: int | None = None
    """Open model: VUs allocated before the step starts (``timed`` sizes them from the
    expected requests in flight); None: all of ``max_vus``."""

    def vus(self, scenario: Scenario) -> int:
        """The VU ceiling of an open step (closed steps: their level)."""
        if self.model == "closed":
            return round(self.level)
        return scenario.open.max_vus if self.max_vus is None else self.max_vus

    def pre_vus(self, scenario: Scenario) -> int:
        """VUs an open step allocates up front (closed steps: their level)."""
        if self.model == "closed":
            return round(self.level)
        return min(self.vus(scenario), self.preallocated or self.vus(scenario))

    def times(self, scenario: Scenario) -> tuple[float, float]:
        """Warm-up and measured seconds of this step."""
        warmup = scenario.warmup_s if self.warmup_s is None else self.warmup_s
        duration = scenario.duration_s if self.duration_s is None else self.duration_s
        return warmup, duration

    @property
    def label(self) -> str:
        """``c=32`` or ``150/s``, as the step's result is labelled."""
        return load_label(self.model, self.level)


@dataclass(frozen=True)
class Setup:
    """One server as started: a variant whose views call the stub API with one client."""

    variant: Variant
    client: str
    """The upstream client of the variant's views' kind (``benchapp.catalog.UPSTREAM_CLIENTS``)."""
    distance: Distance = DIRECT
    """Round-trip times the latency proxies add between this server and Postgres / the stub."""
    calls_upstream: bool = True
    """Whether any workload of the plan calls the stub API; else the client plays no part."""
    shape: Shape | None = None
    """The pod's shape it runs in (``djbench.model.shapes``); None: the variant's standard
    shape, one worker of its own threads on one CPU."""

    @property
    def slots(self) -> int | None:
        """Requests the server serves at once (None when unbounded)."""
        return self.variant.slots(self.shape)

    @property
    def label(self) -> str:
        """``uvicorn (aiohttp upstream)`` (the client only when some workload calls it), with
        its shape and distance when it has them."""
        client = f" ({self.client} upstream)" if self.calls_upstream else ""
        shape = f" {self.shape.label}" if self.shape else ""
        text = f"{self.variant.label}{shape}{client}"
        return text if self.distance == DIRECT else f"{text} at {self.distance.label}"
