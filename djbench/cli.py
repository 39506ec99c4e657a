"""The ``djbench`` command: run, serve, variants, report, compare, plan, helm-values.

Thin by design: it parses options, builds the pieces and hands over. Every user-facing
problem is a ``DjbenchError``, printed as one ``ERROR:`` line with exit status 1.

Whatever it prints that comes from outside (names, labels, paths, URLs, messages) goes out as
``rich.text.Text``, our styles attached, so brackets in it are never read as rich markup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS
from djbench.model.errors import DjbenchError
from djbench.run.outcome import EXIT_ERROR, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from djbench.model.results import ProjectInfo, Results
    from djbench.model.scenario import Scenario
    from djbench.model.variants import Variant
    from djbench.plan.measurement import Plan
    from djbench.project.check import Prepared
    from djbench.project.config import ProjectDir

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Benchmark one Django app across WSGI and ASGI servers, one worker each.",
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="smoke, default, clients, full or kubernetes (default: `default`, or `kubernetes` "
        "with --backend kubernetes)",
    ),
]
ScenarioOpt = Annotated[
    Path | None, typer.Option("--scenario", "-s", help="scenario YAML file (overrides --profile)")
]
VariantsOpt = Annotated[
    str | None, typer.Option(help="comma-separated variant names, or 'all' (see `variants`)")
]
WorkloadsOpt = Annotated[str | None, typer.Option(help="comma-separated workload names")]
PortOpt = Annotated[
    int, typer.Option(min=1, max=65535, help="loopback port of the server under test")
]


BackendOpt = Annotated[str, typer.Option(help="local (processes here) or kubernetes (helm)")]


@app.command()
def run(
    profile: ProfileOpt = None,
    scenario: ScenarioOpt = None,
    variants: VariantsOpt = None,
    workloads: WorkloadsOpt = None,
    out: Annotated[Path | None, typer.Option(help="output directory")] = None,
    port: PortOpt = 8000,
    backend: BackendOpt = "local",
    namespace: Annotated[str, typer.Option(help="kubernetes: namespace of `task up`")] = "djbench",
    kube_context: Annotated[str | None, typer.Option(help="kubernetes: kubectl context")] = None,
    k6_pods: Annotated[int, typer.Option(min=1, help="kubernetes: k6 pods per step")] = 1,
    k6_image: Annotated[
        str, typer.Option(help="kubernetes: k6 image, recorded as the k6 version")
    ] = "grafana/k6:1.1.0",
    helm_values: Annotated[
        list[Path] | None,
        typer.Option(
            help="kubernetes: cluster values file, a section per chart (`django-variant:` for "
            "the variants, `loadtest:` for k6, `global:` for both; repeatable)"
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            help="kubernetes: the cluster's Prometheus as NAMESPACE/SERVICE[:PORT] (k6 "
            "remote-writes there; cAdvisor's figures are read from it), or none (default: "
            "the one `task up` installs, monitoring/monitoring-prometheus:9090)"
        ),
    ] = None,
    project: ProjectOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Run the benchmark: locally (Postgres, stub API, each variant on its own CPU, k6) or on
    Kubernetes (each variant a helm release, each step a k6 Job)."""
    from djbench.measure.environment import collect_environment
    from djbench.model.scenario_file import load_profile, load_scenario
    from djbench.outputs.progress import RichProgress
    from djbench.plan.measurement import make_plan
    from djbench.run.runner import execute

    if backend not in ("local", "kubernetes"):
        raise DjbenchError(f"unknown backend {backend!r}; choose local or kubernetes")
    profile = profile or ("kubernetes" if backend == "kubernetes" else "default")
    chosen = load_scenario(scenario) if scenario else load_profile(profile)
    source = str(scenario) if scenario else f"profile {profile}"
    if database_url is not None and project is None:
        raise DjbenchError("--database-url is the database of a --project; give --project too")
    if prometheus is not None and backend != "kubernetes":
        raise DjbenchError("--prometheus is the cluster's: it goes with --backend kubernetes")
    found = None
    if project is not None:
        found, chosen = _project_scenario(project, chosen, source)
    plan = make_plan(chosen, _split(variants), _split(workloads), source, project=bool(found))
    prepared = None
    if found is not None and backend == "kubernetes":
        plan = dataclasses.replace(plan, project=_kubernetes_project(found, plan, database_url))
    elif found is not None:
        prepared, info = _prepare_project(found, plan.variants, database_url)
        plan = dataclasses.replace(plan, project=info)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    # Absolute from here on: k6 opens a relative path against its script's folder, and
    # children run in other directories (a project's root).
    out_dir = (out or Path("results") / f"{stamp}-{plan.scenario.name}").resolve()
    if (out_dir / "results.json").exists():
        raise DjbenchError(f"{out_dir} already holds results.json; choose another --out")
    if backend == "local":
        chosen_backend, k6v, where = _local(
            plan.scenario, out_dir, port, stamp, prepared, database_url
        )
    else:
        chosen_backend, k6v, where = _kubernetes(
            plan.scenario, out_dir, namespace, kube_context, k6_pods, k6_image, stamp,
            helm_values or [], plan.project, found, prometheus,
        )  # fmt: skip
    console.print(
        Text(
            f"djbench: {len(plan.variants)} variants × {len(plan.workloads)} workloads, "
            f"{plan.total_steps} steps; {where} → {out_dir}"
        )
    )
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    started = time.monotonic()
    try:
        with RichProgress(console, plan.total_steps) as progress:
            results = execute(
                plan,
                chosen_backend,
                out_dir,
                lambda: collect_environment(
                    k6v, plan.scenario.calls_upstream, **chosen_backend.environment_extra()
                ),
                progress,
            )
    except KeyboardInterrupt:
        _after_interrupt(out_dir)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _finish(results, out_dir, started)


ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        help="a Django project to run in place of benchapp: its directory (holding "
        "djbench.yaml) or that file; its named requests are the workloads"
    ),
]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        envvar="DJBENCH_PROJECT_DATABASE_URL",
        help="with --project: the project's own Postgres (postgres://...), used as it is "
        "instead of an embedded one djbench migrates and seeds",
    ),
]


def _project_scenario(path: Path, scenario: Scenario, source: str) -> tuple[ProjectDir, Scenario]:
    """The project's file, and the scenario with its requests as the workloads; its servers
    checked."""
    from djbench.project.check import check_servers
    from djbench.project.config import load_project

    found = load_project(path)
    scenario = found.project.apply(scenario, f"{found.file} with {source}")
    check_servers()
    return found, scenario


def _prepare_project(
    found: ProjectDir, variants: list[Variant], database_url: str | None
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


def _kubernetes_project(found: ProjectDir, plan: Plan, database_url: str | None) -> ProjectInfo:
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


def _local(
    scenario: Scenario,
    out_dir: Path,
    port: int,
    stamp: str,
    project: Prepared | None = None,
    database_url: str | None = None,
) -> tuple[Any, str, str]:
    from djbench.backends.local.backend import LocalBackend
    from djbench.backends.local.cpus import plan_cpus
    from djbench.measure.k6 import find_k6, k6_version

    k6 = find_k6()
    version = k6_version(k6)
    layout = plan_cpus()
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


def _kubernetes(
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
) -> tuple[Any, str, str]:
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


def _finish(results: Results, out_dir: Path, started: float) -> None:
    """The reports and the summary; then the exit status says how the run ended."""
    from djbench.analysis.core import analyze
    from djbench.outputs.report import print_summary, render_reports
    from djbench.run.outcome import outcome

    analysis = analyze(results)
    paths = render_reports(results, out_dir, analysis)
    print_summary(console, results, analysis, paths[0])
    done = f"done in {time.monotonic() - started:.0f}s: " + ", ".join(map(str, paths))
    console.print(Text(done), soft_wrap=True)  # paths whole: no wrap at 80 columns in a log
    ended = outcome(results)
    if ended.status:
        line = f"exit status {ended.status}: {ended.message}; logs in {out_dir / 'logs'}"
        console.print(Text(line, style="yellow"), soft_wrap=True)
        raise typer.Exit(ended.status)


def _after_interrupt(out_dir: Path) -> None:
    from djbench.model.results_file import load_results
    from djbench.outputs.report import render_reports

    err_console.print(Text("interrupted: every process was stopped"))
    with contextlib.suppress(DjbenchError):
        results = load_results(out_dir)
        steps = sum(len(r.steps) for r in results.runs)
        paths = render_reports(results, out_dir)
        err_console.print(Text(f"kept {steps} measured steps: {', '.join(map(str, paths))}"))


@app.command()
def serve(
    variant: Annotated[str, typer.Argument(help="variant name (see `djbench variants`)")],
    port: PortOpt = 8000,
    seed_rows: Annotated[int, typer.Option(min=25, help="rows to seed")] = 10_000,
    client: Annotated[
        str | None,
        typer.Option(
            help="upstream HTTP client of the variant's views (default: "
            f"{DEFAULT_UPSTREAM_CLIENTS['sync']} for sync views, "
            f"{DEFAULT_UPSTREAM_CLIENTS['async']} for async ones)"
        ),
    ] = None,
    project: ProjectOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Start Postgres, the stub API and one variant; print its URL; run until Ctrl-C. With
    --project: the project's database and the variant serving the project."""
    from benchapp.catalog import UPSTREAM_CLIENTS, client_kind
    from djbench.backends.local.backend import LocalBackend
    from djbench.backends.local.cpus import plan_cpus
    from djbench.model.requests import path_with_query
    from djbench.model.scenario import Scenario
    from djbench.model.setup import Setup
    from djbench.model.variants import resolve_variants

    chosen = resolve_variants([variant])[0]
    kind = client_kind(chosen.views)
    client = client or DEFAULT_UPSTREAM_CLIENTS[kind]
    if client not in UPSTREAM_CLIENTS[kind]:
        raise DjbenchError(
            f"--client: {chosen.name} serves {kind} views; choose from: "
            f"{', '.join(UPSTREAM_CLIENTS[kind])}"
        )
    if database_url is not None and project is None:
        raise DjbenchError("--database-url is the database of a --project; give --project too")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = (Path("results") / f"serve-{stamp}-{chosen.name}").resolve()
    scenario = Scenario(name="serve", seed_rows=seed_rows)
    prepared = None
    if project is not None:
        found, scenario = _project_scenario(project, scenario, "serve")
        if chosen.benchapp_only:
            raise DjbenchError(
                f"{chosen.name} differs from a standard variant only in benchapp's views; "
                "a project serves its own"
            )
        prepared, _ = _prepare_project(found, [chosen], database_url)
    backend = LocalBackend(
        scenario, out_dir=out_dir, layout=plan_cpus(), k6=Path("k6"), port=port, run_id=stamp,
        project=prepared, database_url=database_url,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        what = (
            "the project's database"
            if prepared
            else f"Postgres ({seed_rows} rows) and the stub API"
        )
        console.print(Text(f"starting {what}…"))
        setup = Setup(chosen, client, calls_upstream=prepared is None)
        with backend.infrastructure(), backend.server(setup) as server:
            console.print(
                Text.assemble(
                    (setup.label, "green"), f" serves {server.url} (logs in {out_dir}/logs)"
                )
            )
            for name in scenario.workloads:
                req = scenario.request(name)
                path = path_with_query(req["path"].format(views=chosen.views), req["query"])
                console.print(Text(f"  {req['method']:<4} {server.url}{path}"), soft_wrap=True)
            console.print(Text("Ctrl-C to stop."))
            while server.alive():
                time.sleep(0.5)
            raise DjbenchError(server.describe_exit())
    except KeyboardInterrupt:
        err_console.print(Text("stopped"))


@app.command("variants")
def list_variants(
    names: Annotated[bool, typer.Option("--names", help="only the names, one per line")] = False,
    include_all: Annotated[
        bool, typer.Option("--all", help="with --names: every variant, not the standard seven")
    ] = False,
) -> None:
    """List the server variants."""
    from djbench.model.variants import load_variants, standard_variants

    if names:
        for name in load_variants() if include_all else standard_variants():
            typer.echo(name)
        return

    table = Table(title="djbench variants (one worker each)")
    for col in ("variant", "server", "interface", "views", "threads", "line-up"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")
    for v in load_variants().values():
        cells = (
            v.label, v.server, v.interface, v.views, str(v.threads),
            "standard" if v.standard else "extra", v.description,
        )  # fmt: skip
        table.add_row(*map(Text, cells))
    console.print(table)


@app.command("helm-values")
def helm_values(
    file: Annotated[Path, typer.Argument(help="cluster values file: a section per chart")],
    chart: Annotated[
        str,
        typer.Argument(
            help="postgres, stubapi, latencyproxy, django-variant, loadtest or dashboards"
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file, not stdout")
    ] = None,
) -> None:
    """One chart's values from a cluster values file (its section, `global:` under it), for
    `helm upgrade --install ... -f`."""
    from djbench.contracts.chart_values import chart_values, dump, write_chart_values

    if output is None:
        typer.echo(dump(chart_values([file], chart)), nl=False)
    else:
        write_chart_values([file], chart, output)


@app.command()
def report(
    directory: Annotated[Path, typer.Argument(help="a run directory holding results.json")],
) -> None:
    """Re-render report.md and report.html from results.json (never re-measures)."""
    from djbench.model.results_file import load_results
    from djbench.outputs.report import print_summary, render_reports

    results = load_results(directory)
    out_dir = directory if directory.is_dir() else directory.parent
    paths = render_reports(results, out_dir)
    print_summary(console, results, report=paths[0])
    console.print(Text("wrote " + ", ".join(map(str, paths))), soft_wrap=True)


@app.command("compare")
def compare_results(
    a: Annotated[Path, typer.Argument(help="results.json (or its run directory): the baseline")],
    b: Annotated[Path, typer.Argument(help="results.json (or its run directory) to compare")],
) -> None:
    """Two results files side by side: capacity at SLO of each variant both measured, B / A
    with its 95 % interval, and whether the change is significant (Mann-Whitney U)."""
    from djbench.analysis.core import analyze
    from djbench.model.results_file import load_results
    from djbench.outputs.compare import HEADERS, compare_analyses, row_cells
    from djbench.outputs.report.terminal import print_table

    found = compare_analyses(analyze(load_results(a)), analyze(load_results(b)))
    if not found.rows:
        raise DjbenchError(f"{a} and {b} have no variant and workload in common that met the SLO")
    print_table(
        console,
        f"djbench compare: A = {a}, B = {b}",
        HEADERS,
        [row_cells(r) for r in found.rows],
        right={"A req/s at SLO", "B req/s at SLO", "B / A"},
    )
    for side, names in (("A", found.only_a), ("B", found.only_b)):
        if names:
            console.print(Text(f"only in {side}: {', '.join(names)}"), soft_wrap=True)


@app.command("plan")
def plan_pods(
    directory: Annotated[Path, typer.Argument(help="a run directory holding results.json")],
    target_rps: Annotated[
        float, typer.Option("--target-rps", min=0.001, help="requests per second to carry")
    ],
    headroom: Annotated[
        float, typer.Option(min=1.0, help="factor on the target (1.25: 25 % spare capacity)")
    ] = 1.25,
    p99_ms: Annotated[
        float | None,
        typer.Option("--p99-ms", min=0.001, help="SLO p99 for every workload (default: the run's)"),
    ] = None,
    max_connections: Annotated[
        int, typer.Option(min=1, help="Postgres max_connections the pods' pools must fit in")
    ] = 100,
    out: Annotated[
        Path | None, typer.Option(help="where the values files go (default: DIRECTORY/plan)")
    ] = None,
) -> None:
    """Pods, CPU, memory and database connections per variant for a target rate, from the
    capacity intervals' low ends; a values file per variant for charts/django-variant."""
    from djbench.model.results import DIRECT
    from djbench.model.results_file import load_results
    from djbench.outputs.capacity_plan import plan_capacity
    from djbench.outputs.capacity_values import HEADERS, RIGHT, plan_rows, write_values
    from djbench.outputs.report.terminal import print_table

    results = load_results(directory)
    plan = plan_capacity(results, target_rps, headroom, p99_ms, max_connections)
    out_dir = out or (directory if directory.is_dir() else directory.parent) / "plan"
    written = write_values(plan, out_dir)
    for verdict in plan.verdicts:
        case, distance = verdict.workload, verdict.distance
        where = "" if distance == DIRECT else f" at {distance.label}"
        title = (
            f"{case}{where}: {target_rps:g} req/s × {headroom:g}, SLO p99 ≤ "
            f"{verdict.slo.p99_ms:,.0f} ms"
        )
        print_table(console, title, HEADERS, plan_rows(plan, case, distance), right=RIGHT)
        for unfit in plan.unfit:
            if (unfit.workload, unfit.distance) == (case, distance):
                line = f"  {unfit.label} cannot meet the SLO: {unfit.reason}"
                console.print(Text(line), soft_wrap=True)
    if plan.project is not None:
        note = (
            f"{plan.project.name} sizes its database connections in its own settings: per pod, "
            "the most its server held at once in any step (— where not measured); the values "
            "files carry its settings, entry points and environment for its image"
        )
        console.print(Text(note), soft_wrap=True)
    console.print(
        Text(
            "pods are planned on the low end of each capacity's 95 % interval (a single "
            f"sample: itself); wrote {len(written)} values files under {out_dir}"
        ),
        soft_wrap=True,
    )


def main() -> None:
    """Entry point: the one place errors become ``ERROR: …`` and an exit status."""
    try:
        app()
    except DjbenchError as exc:
        err_console.print(f"ERROR: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
