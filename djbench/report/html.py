"""``report.html``: the markdown report's content plus plots, in one self-contained file.

plotly.js is embedded inline exactly once; the figures only call it, so the report opens
offline and never reaches a CDN.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go
from markupsafe import Markup
from plotly.colors import qualitative
from plotly.offline import get_plotlyjs

from djbench.analysis import Analysis, RunSummary
from djbench.report.markdown import template_environment
from djbench.results import Step

_PALETTE: list[str] = list(qualitative.Plotly)


@dataclass(frozen=True)
class _Plot:
    title: str
    x_title: str
    y_title: str
    model: str | None
    """Steps of this load model only; None for both."""
    x: Callable[[Step], float | None]
    ys: tuple[tuple[str, Callable[[Step], float]], ...]
    """(series suffix, value) pairs: one line per variant and series."""
    log_x: bool = False
    log_y: bool = False


_PLOTS = (
    _Plot(
        "Throughput vs concurrency (closed model)",
        "concurrent users",
        "req/s",
        "closed",
        lambda s: s.concurrency,
        (("", lambda s: s.rps),),
        log_x=True,
    ),
    _Plot(
        "Latency vs concurrency (closed model)",
        "concurrent users",
        "ms",
        "closed",
        lambda s: s.concurrency,
        (("p50", lambda s: s.latency_ms.p50), ("p99", lambda s: s.latency_ms.p99)),
        log_x=True,
        log_y=True,  # latencies span milliseconds to the request timeout
    ),
    _Plot(
        "Latency vs arrival rate (open model)",
        "arrival rate (req/s)",
        "ms",
        "open",
        lambda s: s.rate,
        (("p50", lambda s: s.latency_ms.p50), ("p99", lambda s: s.latency_ms.p99)),
        log_y=True,
    ),
    _Plot(
        "CPU per request vs throughput (both models)",
        "achieved req/s",
        "server CPU ms per request",
        None,
        lambda s: s.rps,
        (("", lambda s: s.cpu_ms_per_req),),
    ),
)


def _points(summary: RunSummary, plot: _Plot) -> list[tuple[float, Step]]:
    points = []
    for step in summary.run.steps:
        x = plot.x(step)
        # Failed steps have partial numbers: plotting them would draw a false cliff.
        if step.status == "ok" and x is not None and plot.model in (None, step.model):
            points.append((x, step))
    return sorted(points, key=lambda p: p[0])


def _figure(plot: _Plot, summaries: tuple[RunSummary, ...], colors: dict[str, str]) -> go.Figure:
    fig = go.Figure()
    for summary in summaries:
        points = _points(summary, plot)
        if not points:
            continue
        # plotly renders trace names as HTML-like text: escape what came from the results.
        name = html.escape(summary.label)
        for suffix, y in plot.ys:
            fig.add_trace(
                go.Scatter(
                    x=[x for x, _ in points],
                    y=[y(step) for _, step in points],
                    name=f"{name} {suffix}".strip(),
                    legendgroup=name,
                    mode="lines+markers",
                    line={
                        "color": colors[summary.label],
                        "dash": "dot" if suffix == "p50" else "solid",
                    },
                )
            )
    fig.update_layout(
        title=plot.title,
        xaxis_title=plot.x_title,
        yaxis_title=plot.y_title,
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    if plot.log_x:
        fig.update_xaxes(type="log")
    if plot.log_y:
        fig.update_yaxes(type="log")
    return fig


def _figures_html(analysis: Analysis) -> dict[str, list[Markup]]:
    """HTML snippets of every workload's plots (plots without data are left out)."""
    labels = list(dict.fromkeys(s.label for s in analysis.runs))
    # One color per variant (with its client) across every plot, so a line is recognisable
    # from plot to plot.
    colors = {v: _PALETTE[i % len(_PALETTE)] for i, v in enumerate(labels)}
    out: dict[str, list[Markup]] = {}
    for n, workload in enumerate(analysis.workloads):
        summaries = analysis.runs_for(workload)
        snippets = []
        for k, plot in enumerate(_PLOTS):
            fig = _figure(plot, summaries, colors)
            if not fig.data:
                continue
            snippet = fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"plot-{n}-{k}",  # stable ids: the same results give the same file
                config={"displaylogo": False, "responsive": True},
            )
            # plotly serialises the figure with <, > and / escaped, so it is safe inline.
            snippets.append(Markup(snippet))  # noqa: S704
        out[workload] = snippets
    return out


def render_html(analysis: Analysis) -> str:
    """``report.html`` text of one analysed results file: self-contained, no network."""
    template = template_environment().get_template("report.html.j2")
    return template.render(
        analysis=analysis,
        results=analysis.results,
        s=analysis.scenario,
        plotly_js=Markup(get_plotlyjs()),  # noqa: S704 - plotly's own bundle, written to be inlined
        figures=_figures_html(analysis),
    )
