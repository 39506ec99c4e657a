"""The plan: which servers run (a variant with one upstream client each), which workloads each
serves, and which load steps each run gets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from benchapp.catalog import WORKLOADS, client_kind
from djbench.errors import DjbenchError
from djbench.results import Step
from djbench.scenario import Scenario, revalidate
from djbench.variants import Variant, resolve_variants


@dataclass(frozen=True)
class LoadStep:
    """One measured step: a load model at one level (VUs for closed, req/s for open)."""

    model: Literal["closed", "open"]
    level: float

    @property
    def label(self) -> str:
        """Short text for progress lines: ``c=32`` or ``r=120.0/s``."""
        return f"c={self.level:g}" if self.model == "closed" else f"r={self.level:.1f}/s"


@dataclass(frozen=True)
class Setup:
    """One server as started: a variant whose views call the stub API with one client."""

    variant: Variant
    client: str
    """The upstream client of the variant's views' kind (``benchapp.catalog.UPSTREAM_CLIENTS``)."""


@dataclass(frozen=True)
class Plan:
    """Setups × workloads, with the closed ladder known up front."""

    scenario: Scenario
    variants: list[Variant]
    workloads: list[str]

    @property
    def closed_steps(self) -> list[LoadStep]:
        """The concurrency ladder, identical for every run."""
        return [LoadStep("closed", float(c)) for c in self.scenario.closed.concurrency]

    @property
    def steps_per_run(self) -> int:
        """Closed plus open steps of one run (for progress)."""
        o = self.scenario.open
        return len(self.closed_steps) + len(o.capacity_fractions) + len(o.rates)

    @property
    def setups(self) -> list[Setup]:
        """Every server to start, variant by variant: one per upstream client of its kind.

        A variant's further clients are only started when some workload calls upstream.
        """
        calls_upstream = any(WORKLOADS[w].touches_upstream for w in self.workloads)
        found = []
        for variant in self.variants:
            clients = self.scenario.upstream_clients.of(client_kind(variant.views))
            found += [Setup(variant, c) for c in (clients if calls_upstream else clients[:1])]
        return found

    def workloads_for(self, setup: Setup) -> list[str]:
        """The workloads one setup serves: all with the variant's first client; with the
        others only those that call upstream (elsewhere the client plays no part)."""
        first = self.scenario.upstream_clients.of(client_kind(setup.variant.views))[0]
        if setup.client == first:
            return list(self.workloads)
        return [w for w in self.workloads if WORKLOADS[w].touches_upstream]

    @property
    def total_steps(self) -> int:
        """Every step of the whole plan."""
        runs = sum(len(self.workloads_for(s)) for s in self.setups)
        return runs * self.steps_per_run

    def open_steps(self, closed: list[Step]) -> list[LoadStep]:
        """Arrival-rate steps: fractions of the best closed throughput, then absolute rates."""
        o = self.scenario.open
        capacity = max((s.rps for s in closed if s.status == "ok"), default=0.0)
        steps = [
            LoadStep("open", round(capacity * f, 2)) for f in o.capacity_fractions if capacity > 0
        ]
        steps += [LoadStep("open", r) for r in o.rates]
        return steps


def make_plan(
    scenario: Scenario,
    variants: list[str] | None = None,
    workloads: list[str] | None = None,
    source: str = "scenario",
) -> Plan:
    """Resolve names (command-line choices win over the scenario's) into a plan."""
    try:
        chosen = resolve_variants(variants or scenario.variants or None)
    except DjbenchError as exc:
        raise DjbenchError(f"{'--variants' if variants else source + ': variants'}: {exc}") from exc
    names = list(dict.fromkeys(workloads or scenario.workloads))
    # Re-validated through the same model, so a bad name reads as in a scenario file; the
    # stored scenario then says exactly what ran.
    overrides = {"workloads": names, "variants": [v.name for v in chosen]}
    scenario = revalidate(scenario, overrides, "--workloads")
    return Plan(scenario=scenario, variants=chosen, workloads=names)
