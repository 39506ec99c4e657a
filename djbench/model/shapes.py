"""The pod's shape as measured axes: a scenario's ``threads``, ``workers`` and ``cpus``, each
value its own setup (like upstream clients and distances), expanded per variant; or its
``shapes``, a list of shapes measured as listed rather than multiplied.

A scenario that sets none of them measures every variant in its standard shape (one worker of
its own threads on one CPU: the mission's central comparison), and its runs record no shape.
"""

from __future__ import annotations

import itertools

from pydantic import ValidationError

from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape, ShapeSpec
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import format_error
from djbench.model.variants import Variant


def shaped(scenario: Scenario) -> bool:
    """Whether the scenario makes the pod's shape an axis (a list of shapes, or any of
    threads, workers, cpus)."""
    axes = (scenario.shapes, scenario.threads, scenario.workers, scenario.cpus)
    return any(axis is not None for axis in axes)


STANDARD = Shape()
"""What a shape leaves out: one worker on one CPU (threads: the variant's own)."""


def listed_shapes(scenario: Scenario) -> list[ShapeSpec]:
    """The shapes the scenario asks for: its ``shapes``, else its axes' product (an axis it
    does not give left to the standard)."""
    if scenario.shapes is not None:
        return list(scenario.shapes)
    none: list[None] = [None]
    axes = (scenario.threads or none, scenario.workers or none, scenario.cpus or none)
    return [ShapeSpec(threads=t, workers=w, cpus=c) for t, w, c in itertools.product(*axes)]


def shape_of(spec: ShapeSpec, variant: Variant) -> Shape:
    """The shape ``variant`` runs in for one asked: what it leaves out the standard, its
    threads only where the variant's thread pool is sized on its command line."""
    threads = spec.threads if spec.threads and variant.sized_pool else variant.standard_threads
    return Shape(threads=threads, **spec.model_dump(exclude_none=True, exclude={"threads"}))


def shapes_for(scenario: Scenario, variant: Variant) -> list[Shape | None]:
    """Each shape the scenario measures ``variant`` in, in its order, those alike for this
    variant (threads where they do not apply) once; ``[None]`` when the scenario has no
    shape axis."""
    if not shaped(scenario):
        return [None]
    return list(dict.fromkeys(shape_of(spec, variant) for spec in listed_shapes(scenario)))


def parse_shape(text: str) -> ShapeSpec:
    """A shape written on a command line (``threads=128,workers=2,cpus=0.5``), or a one-line
    error naming what is wrong."""
    fields: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() in fields:
            raise DjbenchError(
                f"--shape: {item!r}: give each of threads, workers, cpus once, as NAME=VALUE"
            )
        fields[key.strip()] = value.strip()
    try:
        return ShapeSpec.model_validate(fields)
    except ValidationError as exc:
        raise DjbenchError(format_error("--shape", exc, ShapeSpec)) from None


def cpu_budgets(scenario: Scenario) -> list[float]:
    """The pods' CPU budgets the scenario measures, each once (one CPU when none is set)."""
    return list(dict.fromkeys(s.cpus or STANDARD.cpus for s in listed_shapes(scenario)))


def threads_ignored(scenario: Scenario, variants: list[Variant]) -> list[str]:
    """The variants a ``threads`` axis (or a listed shape's threads) does not apply to, said
    once, not per run: their concurrency is no thread pool their command line sizes."""
    if not any(s.threads for s in listed_shapes(scenario)):
        return []
    return [v.name for v in variants if not v.sized_pool]


def axes_note(scenario: Scenario, variants: list[Variant]) -> str | None:
    """One line on the shapes a run measures (and the variants its threads skip), said once
    when it starts; None without shape axes."""
    if not shaped(scenario):
        return None
    if scenario.shapes is not None:
        note = "pod shapes: " + "; ".join(spec.label for spec in scenario.shapes)
        note += " (what a shape leaves out: the variant's own threads, 1 worker, 1 CPU)"
    else:
        note = "pod shapes: " + " × ".join(_axes(scenario))
    skipped = threads_ignored(scenario, variants)
    if skipped:
        note += (
            f"; threads do not apply to {', '.join(skipped)} (no thread pool their command "
            "line sizes: each runs its own)"
        )
    return note


def _axes(scenario: Scenario) -> list[str]:
    return [
        f"{name} {', '.join(f'{v:g}' for v in values)}"
        for name, values in (
            ("threads", scenario.threads),
            ("workers", scenario.workers or [1]),
            ("CPUs", scenario.cpus or [1.0]),
        )
        if values
    ]
