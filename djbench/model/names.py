"""How runs and candidates are named on every page: one place for the display names that
results themselves do not store (they hold the data: variant, crossed, client, distance)."""

from __future__ import annotations

from djbench.model.results import DIRECT, Distance, Fault, Run


def candidate_name(variant: str, crossed: bool, client: str | None) -> str:
    """``uvicorn · aiohttp``, ``uvicorn-syncviews (crossed) · requests``: the variant, marked
    when crossed, with its upstream client when there is one."""
    name = f"{variant} (crossed)" if crossed else variant
    return f"{name} · {client}" if client else name


def with_distance(name: str, distance: Distance) -> str:
    """A name with its distance when it is not direct (``uvicorn · aiohttp @ db +100 ms``)."""
    return name if distance == DIRECT else f"{name} @ {distance.label}"


def run_name(run: Run) -> str:
    """The candidate a run measured, wherever it was measured."""
    return candidate_name(run.variant, run.crossed, run.client.name if run.client else None)


def run_label(run: Run) -> str:
    """The candidate a run measured, at its distance."""
    return with_distance(run_name(run), run.distance)


def fault_place(fault: Fault) -> str:
    """Where a fault was noticed: ``granian · aiohttp / upstream @ c=32``."""
    name = with_distance(candidate_name(fault.variant, False, fault.client), fault.distance)
    return f"{name} / {fault.workload}" + (f" @ {fault.load}" if fault.load else "")
