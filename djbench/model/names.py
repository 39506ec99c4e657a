"""How runs and candidates are named on every page: one place for the display names that
results themselves do not store (they hold the data: variant, crossed, client, distance)."""

from __future__ import annotations

from djbench.model.pod import Shape
from djbench.model.results import DIRECT, Distance, Fault, Run


def candidate_name(
    variant: str, crossed: bool, client: str | None, shape: Shape | None = None
) -> str:
    """``uvicorn · aiohttp``, ``uvicorn-syncviews (crossed) · requests``,
    ``gunicorn-gthread ×64 threads · 1 worker · 1 CPU``: the variant, marked when crossed,
    with its pod's shape when the shape was an axis and its upstream client when there is
    one."""
    name = f"{variant} (crossed)" if crossed else variant
    if shape is not None:
        name += f" {shape.label}" if shape.threads is not None else f" · {shape.label}"
    return f"{name} · {client}" if client else name


def with_distance(name: str, distance: Distance) -> str:
    """A name with its distance when it is not direct (``uvicorn · aiohttp @ db +100 ms``)."""
    return name if distance == DIRECT else f"{name} @ {distance.label}"


def run_name(run: Run) -> str:
    """The candidate a run measured, wherever it was measured."""
    client = run.client.name if run.client else None
    return candidate_name(run.variant, run.crossed, client, run.shape)


def run_label(run: Run) -> str:
    """The candidate a run measured, at its distance."""
    return with_distance(run_name(run), run.distance)


def fault_place(fault: Fault) -> str:
    """Where a fault was noticed: ``granian · aiohttp / upstream @ c=32``."""
    name = candidate_name(fault.variant, False, fault.client, fault.shape)
    name = with_distance(name, fault.distance)
    return f"{name} / {fault.workload}" + (f" @ {fault.load}" if fault.load else "")
