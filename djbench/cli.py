"""The ``djbench`` command: run, serve, variants, report, compare, plan, helm-values.

Thin by design: it parses options, builds the pieces and hands over. Every user-facing
problem is a ``DjbenchError``, printed as one ``ERROR:`` line with exit status 1.

Whatever it prints that comes from outside (names, labels, paths, URLs, messages) goes out as
``rich.text.Text``, our styles attached, so brackets in it are never read as rich markup.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS
from djbench.model.errors import DjbenchError
from djbench.model.profiles import profile_names
from djbench.run.outcome import EXIT_ERROR, EXIT_INTERRUPTED

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
        help=f"{', '.join(profile_names())} (default: `default`, or `kubernetes` with "
        "--backend kubernetes)",
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
    from djbench.model.shapes import axes_note
    from djbench.outputs.finish import after_interrupt, finish_run
    from djbench.outputs.progress import RichProgress
    from djbench.plan.measurement import make_plan
    from djbench.run.assemble import (
        kubernetes_backend,
        kubernetes_project,
        local_backend,
        prepare_project,
        project_scenario,
    )
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
        found, chosen = project_scenario(project, chosen, source)
    plan = make_plan(chosen, _split(variants), _split(workloads), source, project=bool(found))
    prepared = None
    if found is not None and backend == "kubernetes":
        plan = dataclasses.replace(
            plan, project=kubernetes_project(console, found, plan, database_url)
        )
    elif found is not None:
        prepared, info = prepare_project(console, found, plan.variants, database_url)
        plan = dataclasses.replace(plan, project=info)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    # Absolute from here on: k6 opens a relative path against its script's folder, and
    # children run in other directories (a project's root).
    out_dir = (out or Path("results") / f"{stamp}-{plan.scenario.name}").resolve()
    if (out_dir / "results.json").exists():
        raise DjbenchError(f"{out_dir} already holds results.json; choose another --out")
    if backend == "local":
        chosen_backend, k6v, where = local_backend(
            console, plan.scenario, out_dir, port, stamp, prepared, database_url
        )
    else:
        chosen_backend, k6v, where = kubernetes_backend(
            plan.scenario, out_dir, namespace, kube_context, k6_pods, k6_image, stamp,
            helm_values or [], plan.project, found, prometheus,
        )  # fmt: skip
    console.print(
        Text(
            f"djbench: {len(plan.variants)} variants × {len(plan.workloads)} workloads, "
            f"{plan.total_steps} steps; {where} → {out_dir}"
        )
    )
    if (note := axes_note(plan.scenario, plan.variants)) is not None:
        console.print(Text(note))
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
        after_interrupt(err_console, out_dir)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    status = finish_run(console, results, out_dir, time.monotonic() - started)
    if status:
        raise typer.Exit(status)


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
    shape: Annotated[
        str | None, typer.Option(help="the pod's shape, as a scenario lists one: workers=2,cpus=1")
    ] = None,
) -> None:
    """Start Postgres, the stub API and one variant; print its URL; run until Ctrl-C. With
    --project: the project's database and the variant serving the project."""
    from djbench.model.scenario import Scenario
    from djbench.model.variants import resolve_variants
    from djbench.run.assemble import (
        prepare_project,
        project_scenario,
        serve_setup,
        serve_until_stopped,
    )

    chosen = resolve_variants([variant])[0]
    if database_url is not None and project is None:
        raise DjbenchError("--database-url is the database of a --project; give --project too")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = (Path("results") / f"serve-{stamp}-{chosen.name}").resolve()
    scenario = Scenario(name="serve", seed_rows=seed_rows)
    prepared = None
    if project is not None:
        found, scenario = project_scenario(project, scenario, "serve")
        if chosen.benchapp_only:
            raise DjbenchError(
                f"{chosen.name} differs from a standard variant only in benchapp's views; "
                "a project serves its own"
            )
        prepared, _ = prepare_project(console, found, [chosen], database_url)
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        serve_until_stopped(
            console, scenario, serve_setup(chosen, client, shape, prepared is None), port,
            out_dir, prepared, database_url,
        )  # fmt: skip
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
    from djbench.outputs.report.terminal import variants_table

    if names:
        for name in load_variants() if include_all else standard_variants():
            typer.echo(name)
        return

    console.print(variants_table(load_variants().values()))


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
    allow_different: Annotated[
        bool,
        typer.Option(
            "--allow-different",
            help="compare files measured unlike (another CPU, backend, server version...)",
        ),
    ] = False,
) -> None:
    """Two results files side by side: capacity at SLO of each variant both measured, B / A
    with its 95 % interval, and whether the change is significant (Mann-Whitney U). Files not
    measured alike are refused (pyperf's rule) unless --allow-different."""
    from djbench.analysis.core import analyze
    from djbench.model.results_file import load_results, stored_schema
    from djbench.outputs.compare import compare_analyses, differences, print_comparison

    ra, rb = load_results(a), load_results(b)
    unlike = differences(ra, rb, (stored_schema(a), stored_schema(b)))
    if unlike and not allow_different:
        raise DjbenchError(
            f"{a} and {b} were not measured alike: {'; '.join(unlike)}; compare them anyway "
            "with --allow-different"
        )
    if unlike:
        console.print(
            Text(f"WARNING: not measured alike: {'; '.join(unlike)}", style="bold yellow"),
            soft_wrap=True,
        )
    found = compare_analyses(analyze(ra), analyze(rb))
    if not found.rows:
        raise DjbenchError(f"{a} and {b} have no variant and workload in common that met the SLO")
    print_comparison(console, f"djbench compare: A = {a}, B = {b}", found)


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
    from djbench.model.results_file import load_results
    from djbench.outputs.capacity_plan import plan_capacity
    from djbench.outputs.capacity_values import print_plan, write_values

    results = load_results(directory)
    plan = plan_capacity(results, target_rps, headroom, p99_ms, max_connections)
    out_dir = out or (directory if directory.is_dir() else directory.parent) / "plan"
    print_plan(console, plan, write_values(plan, out_dir), out_dir)


def main() -> None:
    """Entry point: the one place errors become ``ERROR: …`` and an exit status."""
    try:
        app()
    except DjbenchError as exc:
        err_console.print(f"ERROR: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":
    main()
