"""A capacity plan shown and deployed: its table per case, and a values file per planned variant
for charts/django-variant (replicas and Guaranteed resources)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, client_kind
from djbench.contracts.chart_values import dump
from djbench.contracts.server import cpu_quantity, server_values
from djbench.model.errors import DjbenchError
from djbench.model.results import DIRECT, Distance, ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.setup import Setup
from djbench.model.variants import load_variants
from djbench.outputs.capacity_plan import CapacityPlan, PodPlan
from djbench.outputs.report.terminal import print_table

HEADERS = (
    "variant",
    "rounds",
    "req/s per pod at SLO",
    "planned per pod",
    "pods",
    "CPU per pod",
    "total CPU",
    "memory per pod",
    "DB connections",
)


RIGHT = frozenset(HEADERS[1:])


def plan_rows(plan: CapacityPlan, workload: str, distance: Distance) -> list[tuple[str, ...]]:
    """One case's table: a row per variant (and shape) that meets the SLO, the least total
    CPU first."""
    rows: list[tuple[str, ...]] = []
    for p in plan.plans:
        if (p.workload, p.distance) != (workload, distance):
            continue
        connections = "—"
        if p.db_connections is not None:
            over = " (over max_connections)" if p.db_connections > plan.max_connections else ""
            connections = f"{p.db_connections:,} = {p.pods} × {p.pool_max}{over}"
        rows.append(
            (
                p.label,
                f"{p.capacity.n}" + (" (survey)" if p.surveyed else ""),
                ("≥" if p.lower_bound else "") + p.capacity.text(),
                f"{p.planned_rps:,.1f}",
                f"{p.pods:,}",
                f"{p.cpu:g}",
                f"{p.total_cpu:,.4g}",
                f"{p.memory_mib} Mi",
                connections,
            )
        )
    return rows


def plan_values(
    plan: PodPlan, scenario: Scenario, project: ProjectInfo | None = None
) -> dict[str, Any]:
    """Values of charts/django-variant that deploy the plan: the measured server's settings
    (``server_values``: a team's project's too), its pods and their resources (requests =
    limits: Guaranteed QoS)."""
    variants = load_variants()
    if plan.variant not in variants:
        raise DjbenchError(f"variant {plan.variant} of the results is not defined here")
    variant = variants[plan.variant]
    client = plan.client or DEFAULT_UPSTREAM_CLIENTS[client_kind(variant.views)]
    resources = {"cpu": cpu_quantity(plan.cpu), "memory": f"{plan.memory_mib}Mi"}
    return {
        **server_values(Setup(variant, client, shape=plan.shape), scenario, project),
        "replicas": plan.pods,
        "resources": {"requests": resources, "limits": dict(resources)},
    }


def write_values(plan: CapacityPlan, out_dir: Path) -> list[Path]:
    """A values file per planned variant: ``OUT/<workload>[ at <distance>]/<variant>.yaml``."""
    written = []
    for p in plan.plans:
        case = p.workload if p.distance == DIRECT else f"{p.workload} at {p.distance.label}"
        name = p.variant if p.client is None else f"{p.variant}.{p.client}"
        if p.shape is not None:
            name += f" {p.shape.label}"
        path = out_dir / _file_name(case) / f"{_file_name(name)}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        head = (
            f"# djbench plan: {p.label} for {case}, {plan.target_rps:g} req/s x headroom "
            f"{plan.headroom:g}: {p.pods} pods of {p.planned_rps:,.1f} req/s each (the low end "
            f"of {p.capacity.text()})\n"
        )
        path.write_text(head + dump(plan_values(p, plan.scenario, plan.project)))
        written.append(path)
    return written


def _file_name(text: str) -> str:
    """``db-read-db-100-ms``: a label as a file name."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def print_plan(console: Console, plan: CapacityPlan, written: list[Path], out_dir: Path) -> None:
    """The plan on the console: a table per case, the variants that cannot meet its SLO, and
    where the values files went."""
    for verdict in plan.verdicts:
        case, distance = verdict.workload, verdict.distance
        where = "" if distance == DIRECT else f" at {distance.label}"
        title = (
            f"{case}{where}: {plan.target_rps:g} req/s × {plan.headroom:g}, SLO p99 ≤ "
            f"{verdict.slo.p99_ms:,.0f} ms"
        )
        print_table(console, title, HEADERS, plan_rows(plan, case, distance), right=RIGHT)
        for unfit in plan.unfit:
            if (unfit.workload, unfit.distance) == (case, distance):
                line = f"  {unfit.label} cannot meet the SLO: {unfit.reason}"
                console.print(Text(line), soft_wrap=True)
        for scaling in plan.scaling:
            if (scaling.workload, scaling.distance) == (case, distance):
                console.print(Text(f"  {scaling.text}"), soft_wrap=True)
    if plan.project is not None:
        note = (
            f"{plan.project.name} sizes its database connections in its own settings: per pod, "
            "the most its server held at once in a step within the SLO at or below the planned "
            "rate (— where not measured); the values files carry its settings, entry points and "
            "environment for its image"
        )
        console.print(Text(note), soft_wrap=True)
    console.print(
        Text(
            "pods are planned on the low end of each capacity's 95 % interval (a single "
            f"sample: itself); wrote {len(written)} values files under {out_dir}"
        ),
        soft_wrap=True,
    )
