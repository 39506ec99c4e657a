"""The plan: which (variant, workload) runs, and which load steps each gets."""

from __future__ import annotations

from dataclasses import dataclass

from djbench.backends.base import LoadStep
from djbench.errors import DjbenchError
from djbench.results import Step
from djbench.scenario import Scenario, revalidate
from djbench.variants import Variant, resolve_variants


@dataclass(frozen=True)
class Plan:
    """Variants × workloads, with the closed ladder known up front."""

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
    def total_steps(self) -> int:
        """Every step of the whole plan."""
        return len(self.variants) * len(self.workloads) * self.steps_per_run

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
