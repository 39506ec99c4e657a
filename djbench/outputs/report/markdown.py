"""``report.md``, and the pieces every renderer shares: number formats, table rows, templates.

The HTML and terminal renderers import their formats from here, so a number reads the same
in all three outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import jinja2

from djbench.analysis.core import Analysis
from djbench.model.pod import PodFacts
from djbench.model.results import DIRECT, Environment, ProjectInfo
from djbench.model.scenario import Scenario
from djbench.outputs.report.checks import counts_text, group_warnings
from djbench.outputs.report.formats import (
    DASH,
    fmt_num,
    fmt_pct,
    fmt_plain,
    fmt_ratio,
    md_escape,
    slo_text,
)
from djbench.outputs.report.plots import DISTANCE_FIGURE, plot_files
from djbench.outputs.report.pods_and_mixes import (
    MIX_COLUMNS,
    SHAPE_COLUMNS,
    mix_rows,
    shape_rows,
)
from djbench.plan.judge import (
    KNEE_GAIN,
    MAX_DROPPED_FRACTION,
    RunSummary,
    is_search,
    searched_capacity,
)

TEMPLATES_DIR = Path(__file__).with_name("templates")


STEP_COLUMNS = (
    "variant",
    "model",
    "load",
    "req/s",
    "p50 ms",
    "p99 ms",
    "errors",
    "dropped",
    "CPU util",
    "CPU ms/req",
    "RSS MiB",
    "SLO",
)
"""Header of the per-workload step table (markdown and HTML)."""


UPSTREAM_COLUMNS = (
    "variant",
    "load",
    "calls/s",
    "new connections",
    "connections per call",
    "peak in flight",
)
"""Header of the per-workload table of what the stub API saw (markdown and HTML)."""


PATH_COLUMNS = (
    "variant",
    "path",
    "round trip added",
    "connections",
    "measured p50 ms",
    "measured p99 ms",
    "check",
)
"""Header of the table of round-trip times measured through the latency proxies before each
run (markdown and HTML)."""


PROXY_COLUMNS = (
    "variant",
    "load",
    "path",
    "connections per request",
    "round trips per request",
    "proxy CPU ms/req",
)
"""Header of the table of what the latency proxies relayed in each step (markdown and HTML)."""


SEARCH_COLUMNS = ("variant", "round", "rates tried", "capacity at SLO")
"""Header of the per-workload table of capacity searches, one row per round (markdown and
HTML)."""


HOW_TO_READ = (
    "Each workload opens with its verdict: the variant (with its upstream client, where the "
    "workload calls one) that carries the most throughput within the workload's SLO, its "
    "median over the repeats with a 95% interval, its lead over the runner-up and whether a "
    "test finds that lead significant. Every variant runs one worker on the same CPU budget "
    "and serves the same Django views, unless a run is named by its pod's shape (×threads · "
    "workers · CPUs): then each shape is a candidate of its own. "
    "Where the leaders' capacity was searched, each round's capacity at SLO is the open-model "
    "arrival rate at which the SLO is just met, interpolated between the highest rate that met "
    "it and the lowest rate above that missed it (≥: no rate tried missed it); the searches "
    "table shows every round. A step meets the SLO when its p99 latency and error rate do "
    f"(and an open-model step dropped no more than {MAX_DROPPED_FRACTION:.0%} of its "
    "iterations); ★ marks each run's best such step. "
    "In the plot, filled markers met the SLO and hollow ones missed it; where a throughput "
    "line flattens the server is saturated, and queueing shows as p99 rising. The knee is the "
    f"concurrency after which more concurrent users added less than {KNEE_GAIN:.0%} "
    "throughput. CPU util is the server's "
    "CPU time per wall-clock second over its CPU budget (100% = the budget used up) and CPU "
    "ms/req its CPU cost per request: "
    "lower means more requests per core. Variants marked (crossed) serve the other interface's "
    "views (e.g. an ASGI server running the sync views). Where a workload calls the stub API, "
    "the run names the HTTP client its views called with (variant · client): the client is "
    "part of the result, and the upstream table shows what the stub saw — new connections per "
    "call near 0 mean the client reused its connections, near 1 that it opened one per call. "
    "Read the self-checks before you trust a number: a step with few requests, errors, a "
    "saturated load side, a busy database, or a waiting workload below what its concurrency, "
    "slots and CPU allow (physics) measures less than it seems."
)


def slo_mark(summary: RunSummary, index: int) -> str:
    """SLO column of one step: ★ the capacity step, ✓ meets the SLO, ✗ and why otherwise."""
    misses = summary.slo_misses[index]
    if index == summary.capacity_index:
        return "★ capacity"
    if not misses:
        return "✓"
    if misses in (("failed",), ("saturated",)):
        return misses[0]
    return "✗ " + ", ".join(misses)


def step_rows(summary: RunSummary) -> list[list[str]]:
    """Formatted cells (``STEP_COLUMNS``) of one run: a row per step, one row if it has none."""
    run = summary.run
    if not run.steps:
        return [[summary.label, *[DASH] * (len(STEP_COLUMNS) - 2), run.status]]
    rows = []
    for i, step in enumerate(run.steps):
        # A failed step's numbers are partial: show the count columns, dash the rest.
        ok = step.status == "ok"
        errors = f"{step.errors:,}"
        if step.errors:
            errors += f" ({fmt_pct(step.error_rate, 1)})"
        measured = [
            fmt_num(step.rps),
            fmt_num(step.latency_ms.p50),
            fmt_num(step.latency_ms.p99),
        ]
        server = [fmt_pct(step.cpu_util), fmt_num(step.cpu_ms_per_req, 2), fmt_num(step.rss_mib)]
        rows.append(
            [
                summary.label,
                step.model,
                step.load_label,
                *(measured if ok else [DASH] * 3),
                errors,
                f"{step.dropped:,}" if step.model == "open" else DASH,
                *(server if ok else [DASH] * 3),
                slo_mark(summary, i),
            ]
        )
    return rows


def search_rows(summaries: Iterable[RunSummary]) -> list[list[str]]:
    """Formatted cells (``SEARCH_COLUMNS``) of the runs that searched a capacity: the rates in
    the order tried (✓ met the SLO, ✗ did not) and the capacity that round gives."""
    rows = []
    for summary in summaries:
        if not is_search(summary):
            continue
        tried = [
            f"{step.load_label} {'✗' if misses else '✓'}"
            for step, misses in zip(summary.run.steps, summary.slo_misses, strict=True)
        ]
        found = searched_capacity(summary)
        capacity = DASH if found is None else ("" if found.bounded else "≥") + fmt_num(found.rate)
        rows.append([summary.label, str(summary.run.round), ", ".join(tried), capacity])
    return rows


def upstream_rows(summaries: Iterable[RunSummary]) -> list[list[str]]:
    """Formatted cells (``UPSTREAM_COLUMNS``) of the runs' steps that recorded stub traffic."""
    rows = []
    for summary, step in ((r, s) for r in summaries for s in r.run.steps):
        traffic = step.upstream
        if traffic is None or step.status != "ok" or step.duration_s <= 0:
            continue
        per_call = traffic.connections_per_call
        rows.append(
            [
                summary.label,
                step.load_label,
                fmt_num(traffic.calls / step.duration_s),
                f"{traffic.connections:,}",
                DASH if per_call is None else f"{per_call:.3f}",
                f"{traffic.peak_in_flight:,}",
            ]
        )
    return rows


def path_rows(summaries: Iterable[RunSummary]) -> list[list[str]]:
    """Formatted cells (``PATH_COLUMNS``) of the path checks of runs at a distance; a setup's
    check appears once (every run of one server shares it)."""
    rows: list[list[str]] = []
    for summary in summaries:
        for check in summary.run.paths:
            row = [
                summary.label,
                check.path,
                f"{check.target_ms:g} ms",
                f"{check.connections:,}",
                f"{check.p50_ms:.1f}",
                f"{check.p99_ms:.1f}",
                ("ok" if check.ok else "off target")
                + (f" (attempt {check.attempts})" if check.attempts > 1 else ""),
            ]
            if row not in rows:
                rows.append(row)
    return rows


def proxy_rows(summaries: Iterable[RunSummary]) -> list[list[str]]:
    """Formatted cells (``PROXY_COLUMNS``) of the steps whose latency proxies were counted."""
    rows = []
    for summary in summaries:
        for step in summary.run.steps:
            served = step.requests - step.errors
            for path, traffic in (("db", step.db_path), ("upstream", step.upstream_path)):
                if traffic is None or step.status != "ok" or served <= 0:
                    continue
                per = traffic.per_request(served)
                assert per is not None
                rows.append(
                    [
                        summary.label,
                        step.load_label,
                        path,
                        f"{per[0]:.3f}",
                        f"{per[1]:.2f}",
                        f"{traffic.cpu_s * 1000 / served:.2f}",
                    ]
                )
    return rows


def clients_text(scenario: Scenario) -> str:
    """The upstream clients of a scenario, in words."""
    clients = scenario.upstream_clients
    return (
        f"sync views: {', '.join(clients.sync)}; async views: {', '.join(clients.async_)} "
        f"(pool of {scenario.upstream_pool_size:,} connections each)"
    )


def pod_text(pod: PodFacts) -> str:
    """``pod gthread-7d9c-abcde: Guaranteed, CPU 500m (shares the node's CPUs)``."""
    cpu = f"CPU {pod.cpu_limit}" if pod.cpu_limit else "no CPU limit"
    owns = {
        True: " (may own its CPUs under the static CPU manager)",
        False: " (shares the node's CPUs)",
        None: "",
    }[pod.exclusive_cpus]
    return f"pod {pod.name}: {pod.qos_class or 'QoS unknown'}, {cpu}{owns}"


def knee_text(summary: RunSummary) -> str:
    """Where more concurrency stopped paying off, in words."""
    step = summary.knee_step
    closed = [s for s in summary.run.steps if s.model == "closed" and s.status == "ok"]
    if step is None and len(closed) < 2:
        return "one closed step: no knee to find"
    if step is None:
        return f"no knee within the ladder (every step added ≥ {KNEE_GAIN:.0%})"
    return f"knee at {step.load_label} ({fmt_num(step.rps)} req/s)"


_HEADLINE_ENV = {"python", "django", "k6", "cpu_model", "cpus", "servers"}


def environment_rest(env: Environment) -> list[tuple[str, object]]:
    """Environment facts beyond the headline ones, skipping those not recorded."""
    facts = env.model_dump(exclude=_HEADLINE_ENV)
    return [(k, v) for k, v in facts.items() if v not in (None, [], {}, "")]


@jinja2.pass_eval_context
def _finalize(ctx: jinja2.nodes.EvalContext, value: object) -> object:
    # HTML templates are escaped by Jinja's autoescape; Markdown ones get the same by hand.
    if ctx.autoescape:
        return DASH if value is None else value
    return md_escape(value)


def template_environment() -> jinja2.Environment:
    """Jinja environment of the report templates; every ``{{ }}`` output is escaped."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Escape by default: only the Markdown templates opt out, for ``_finalize``'s escaping.
        autoescape=jinja2.select_autoescape(disabled_extensions=("md.j2",), default=True),
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        plain=fmt_plain,
        num=fmt_num,
        pct=fmt_pct,
        ratio=fmt_ratio,
        load=lambda step: step.load_label,
    )
    env.globals.update(
        STEP_COLUMNS=STEP_COLUMNS,
        UPSTREAM_COLUMNS=UPSTREAM_COLUMNS,
        upstream_rows=upstream_rows,
        SEARCH_COLUMNS=SEARCH_COLUMNS,
        search_rows=search_rows,
        DIRECT=DIRECT,
        DISTANCE_FIGURE=DISTANCE_FIGURE,
        PATH_COLUMNS=PATH_COLUMNS,
        path_rows=path_rows,
        PROXY_COLUMNS=PROXY_COLUMNS,
        SHAPE_COLUMNS=SHAPE_COLUMNS,
        shape_rows=shape_rows,
        MIX_COLUMNS=MIX_COLUMNS,
        mix_rows=mix_rows,
        proxy_rows=proxy_rows,
        clients_text=clients_text,
        HOW_TO_READ=HOW_TO_READ,
        group_warnings=group_warnings,
        counts_text=counts_text,
        entry_points_text=entry_points_text,
        slo_text=slo_text,
        step_rows=step_rows,
        knee_text=knee_text,
        pod_text=pod_text,
        environment_rest=environment_rest,
    )
    return env


def entry_points_text(project: ProjectInfo) -> str:
    """``wsgi: shop.wsgi:application, asgi: shop.asgi:application``."""
    order = sorted(project.entry_points, key=lambda kind: kind != "wsgi")
    return ", ".join(f"{kind}: {project.entry_points[kind]}" for kind in order)


def render_markdown(analysis: Analysis, plots: Mapping[str, str] | None = None) -> str:
    """``report.md`` text of one analysed results file; ``plots`` maps a workload to its
    figure's path relative to the report (by default ``plot_files``: what
    ``render_reports`` writes)."""
    template = template_environment().get_template("report.md.j2")
    return template.render(
        analysis=analysis,
        results=analysis.results,
        s=analysis.scenario,
        plots=plot_files(analysis) if plots is None else plots,
    )
