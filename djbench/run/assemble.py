"""How the command line's options become a run: the team's project loaded (or read for its
image), the backend made on this machine or the cluster. Said on the console as it goes."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, UPSTREAM_CLIENTS, client_kind
from djbench.backends.base import Backend
from djbench.model.errors import DjbenchError
from djbench.model.results import ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.setup import Setup
from djbench.model.shapes import cpu_budgets, parse_shape, shape_of
from djbench.model.variants import Variant
from djbench.plan.measurement import Plan
from djbench.project.check import Prepared
from djbench.project.config import ProjectDir


def project_scenario(path: Path, scenario: Scenario, source: str) -> tuple[ProjectDir, Scenario]:
    """The project's file, and the scenario with its requests as the workloads; its servers
    checked."""
    from djbench.project.check import check_servers
    from djbench.project.config import load_project

    found = load_project(path)
    scenario = found.project.apply(scenario, f"{found.file} with {source}")
    check_servers()
    return found, scenario


def prepare_project(
    console: Console, found: ProjectDir, variants: list[Variant], database_url: str | None
) -> tuple[Prepared, ProjectInfo]:
    """The project loaded as its servers will load it, and what the results say of it."""
    from djbench.project.check import prepare
    from djbench.project.config import database_note

    prepared = prepare(found, variants)
    info = found.info(
        prepared.entry_points, database_note(database_url), defaulted=list(prepared.defaulted)
    )
    console.print(Text(f"project {info.name} (Django {prepared.django}): {info.database}"))
    for kind in prepared.defaulted:
        made = f"get_{kind}_application()"
        console.print(
            Text(
                f"  {info.name} has no {kind}.py: its {kind.upper()} variants serve Django's "
                f"{made} for {info.settings} ({prepared.entry_points[kind]})"
            ),
            soft_wrap=True,
        )
    return prepared, info


def kubernetes_project(
    console: Console, found: ProjectDir, plan: Plan, database_url: str | None
) -> ProjectInfo:
    """The project as its own image serves it on Kubernetes: nothing of it is loaded here,
    so its entry points are given or Django's conventions."""
    from djbench.project.config import database_note

    if database_url is not None:
        raise DjbenchError(
            "--database-url: on Kubernetes the project uses the cluster's Postgres (`task up`)"
        )
    other = [n for n, r in found.project.requests.items() if r.method not in ("GET", "POST")]
    if other:
        raise DjbenchError(
            f"{found.file}: {other[0]}: on Kubernetes a request is verified through the API "
            "server's proxy, which djbench drives with GET and POST only"
        )
    interfaces = {v.interface for v in plan.variants}
    entry_points = found.project.conventional_entry_points()
    served = {k: v for k, v in entry_points.items() if k in interfaces}
    info = found.info(served, database_note(None, "kubernetes"), built=False)
    console.print(Text(f"project {info.name} in its own image: {info.database}"))
    if found.project.build:
        console.print(
            Text(
                f"  build ({len(found.project.build)} commands in {found.file}): not run on "
                "Kubernetes; the team's image is built with them"
            ),
            soft_wrap=True,
        )
    return info


def local_backend(
    console: Console,
    scenario: Scenario,
    out_dir: Path,
    port: int,
    stamp: str,
    project: Prepared | None = None,
    database_url: str | None = None,
) -> tuple[Backend[Any], str, str]:
    """The local backend on this machine's CPUs, k6's version, and where things run."""
    from djbench.backends.local.backend import LocalBackend
    from djbench.backends.local.cpus import plan_cpus, quota_supported
    from djbench.measure.k6 import find_k6, k6_version

    fractions = [c for c in cpu_budgets(scenario) if not float(c).is_integer()]
    if fractions and not quota_supported():
        raise DjbenchError(
            f"cpus: {fractions[0]:g} is a fraction of a CPU, which only a CPU cgroup quota can "
            "give, and djbench may make none on this machine (it needs root and a CPU controller)"
        )
    k6 = find_k6()
    version = k6_version(k6)
    layout = plan_cpus(math.ceil(max(cpu_budgets(scenario)) - 1e-9))
    backend = LocalBackend(
        scenario, out_dir=out_dir, layout=layout, k6=k6, port=port, run_id=stamp,
        project=project, database_url=database_url,
    )  # fmt: skip
    where = (
        f"server on CPU {layout.server_arg}, load and Postgres on CPU {layout.infra_arg}"
        f"{', 1-CPU quota' if backend.quota else ''}"
    )
    if layout.server == layout.infra:
        console.print(
            Text.assemble(
                ("warning:", "yellow"), " one usable CPU: the load shares it with the server"
            )
        )
    return backend, version, where


def kubernetes_backend(
    scenario: Scenario,
    out_dir: Path,
    namespace: str,
    context: str | None,
    k6_pods: int,
    k6_image: str,
    stamp: str,
    values: list[Path],
    project: ProjectInfo | None = None,
    found: ProjectDir | None = None,
    prometheus: str | None = None,
) -> tuple[Backend[Any], str, str]:
    """The Kubernetes backend on the current (or given) context, the k6 image, and where
    things run."""
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.backends.kubernetes.kube import DEFAULT_PROMETHEUS, Kube, PrometheusRef
    from djbench.project.config import prepare_commands

    prom = DEFAULT_PROMETHEUS if prometheus is None else PrometheusRef.parse(prometheus)
    kube = Kube(namespace, context)
    backend = KubernetesBackend(
        scenario, out_dir=out_dir, kube=kube, run_id=stamp, parallelism=k6_pods,
        k6_image=k6_image, values=values, project=project, prometheus=prom,
        prepare=prepare_commands(found.project.database) if found else None,
    )  # fmt: skip
    reads = f"Prometheus {prom.label}" if prom else "no Prometheus (no cAdvisor cross-check)"
    return backend, k6_image, f"namespace {namespace}, {k6_pods} k6 pod(s) per step, {reads}"


def serve_setup(
    variant: Variant, client: str | None, shape: str | None, calls_upstream: bool
) -> Setup:
    """``djbench serve``'s server: the variant, its views' client (checked against their
    kind) and the shape written on the command line (None: its standard shape)."""
    kind = client_kind(variant.views)
    client = client or DEFAULT_UPSTREAM_CLIENTS[kind]
    if client not in UPSTREAM_CLIENTS[kind]:
        raise DjbenchError(
            f"--client: {variant.name} serves {kind} views; choose from: "
            f"{', '.join(UPSTREAM_CLIENTS[kind])}"
        )
    pod = None if shape is None else shape_of(parse_shape(shape), variant)
    return Setup(variant, client, calls_upstream=calls_upstream, shape=pod)


def serve_until_stopped(
    console: Console,
    scenario: Scenario,
    setup: Setup,
    port: int,
    out_dir: Path,
    prepared: Prepared | None,
    database_url: str | None,
) -> None:
    """``djbench serve``: the infrastructure and one server, each request's URL printed,
    until Ctrl-C (KeyboardInterrupt) or the server exits (an error naming why)."""
    from djbench.backends.local.backend import LocalBackend
    from djbench.backends.local.cpus import plan_cpus
    from djbench.model.requests import path_with_query

    budget = setup.shape.cpus if setup.shape else 1.0
    backend = LocalBackend(
        scenario, out_dir=out_dir, layout=plan_cpus(math.ceil(budget - 1e-9)), k6=Path("k6"),
        port=port, run_id=out_dir.name, project=prepared, database_url=database_url,
    )  # fmt: skip
    what = (
        "the project's database"
        if prepared
        else f"Postgres ({scenario.seed_rows} rows) and the stub API"
    )
    console.print(Text(f"starting {what}…"))
    with backend.infrastructure(), backend.server(setup) as server:
        console.print(
            Text.assemble((setup.label, "green"), f" serves {server.url} (logs in {out_dir}/logs)")
        )
        parts = [part for name in scenario.workloads for part in scenario.parts(name)]
        for name in dict.fromkeys(parts):
            req = scenario.request(name)
            path = path_with_query(req["path"].format(views=setup.variant.views), req["query"])
            console.print(Text(f"  {req['method']:<4} {server.url}{path}"), soft_wrap=True)
        console.print(Text("Ctrl-C to stop."))
        while server.alive():
            time.sleep(0.5)
        raise DjbenchError(server.describe_exit())
