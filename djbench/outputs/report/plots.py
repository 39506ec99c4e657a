"""One figure per workload, as SVG: throughput and p99 latency against concurrent users.

The closed-model ladder is what every variant ran alike, so both panels share its x axis
(log 2, ticked at the ladder's own levels with plain numbers). Filled markers met the SLO,
hollow ones missed it; the SLO's p99 is a dashed line. Repeats of a variant (rounds) show
as their median with a bar from lowest to highest. The legend sits below the panels, inside
the figure; tick labels that would overlap are thinned until none do.

matplotlib's object API only (no pyplot): no global figure state, no GUI backend.
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.axis import Axis, Tick
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter

from djbench.analysis.core import Analysis
from djbench.model.names import run_name
from djbench.plan.judge import RunSummary

_COLORS: tuple[str, ...] = tuple(f"C{i}" for i in range(10))
"""The default cycle (tab10): a color per variant label, the same in every figure."""
_MARKERS = "osD^vPX<>"


def _svg_style() -> contextlib.AbstractContextManager[None]:
    """Reproducible SVG (a fixed hash salt, text as paths) in a 9-point font."""
    return mpl.rc_context({"svg.hashsalt": "djbench", "svg.fonttype": "path", "font.size": 9.0})


"""A fixed salt for the SVG ids and text as paths: the same results give the same file,
and the figure looks the same without any font installed."""
FIG_SIZE = (10.0, 4.6)
"""Inches: two panels side by side, the legend below them."""


@dataclass(frozen=True)
class Series:
    """One variant (with its client) on one workload: a point per concurrency level."""

    label: str
    concurrency: tuple[int, ...]
    rps: tuple[float, ...]
    rps_range: tuple[tuple[float, float], ...]
    p99_ms: tuple[float, ...]
    p99_range: tuple[tuple[float, float], ...]
    met_slo: tuple[bool, ...]


def series(summaries: Iterable[RunSummary]) -> list[Series]:
    """Closed-model points per variant label: the median over its runs at each level (failed
    steps left out: their numbers are partial and would draw a false cliff)."""
    samples: dict[str, dict[int, list[tuple[float, float, bool]]]] = {}
    for summary in summaries:
        levels = samples.setdefault(summary.label, {})
        for step, misses in zip(summary.run.steps, summary.slo_misses, strict=True):
            if step.model != "closed" or step.status != "ok" or step.concurrency is None:
                continue
            point = (step.rps, step.latency_ms.p99, not misses)
            levels.setdefault(step.concurrency, []).append(point)
    out = []
    for label, levels in samples.items():
        if not levels:
            continue
        cs = sorted(levels)
        pts = [levels[c] for c in cs]
        out.append(
            Series(
                label=label,
                concurrency=tuple(cs),
                rps=tuple(statistics.median(p[0] for p in ps) for ps in pts),
                rps_range=tuple((min(p[0] for p in ps), max(p[0] for p in ps)) for ps in pts),
                p99_ms=tuple(statistics.median(p[1] for p in ps) for ps in pts),
                p99_range=tuple((min(p[1] for p in ps), max(p[1] for p in ps)) for ps in pts),
                # Met the SLO in most of its repeats.
                met_slo=tuple(2 * sum(p[2] for p in ps) > len(ps) for ps in pts),
            )
        )
    return out


def _text(value: str) -> str:
    """Text from the results, shown literally: ``$`` would start mathtext."""
    return value.replace("$", r"\$")


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def shown_ticks(axis: Axis) -> list[Tick]:
    """The major ticks whose labels are drawn: visible, labelled and within the view (the
    locator also places ticks beyond it, which are never drawn)."""
    low, high = sorted(axis.get_view_interval())
    return [
        t
        for t in axis.get_major_ticks()
        if t.get_visible()
        and t.label1.get_visible()
        and t.label1.get_text()
        and low <= t.get_loc() <= high
    ]


def _visible_labels(axis: Axis, canvas: FigureCanvasAgg) -> list[tuple[float, float, float, float]]:
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    boxes = []
    for tick in shown_ticks(axis):
        box = tick.label1.get_window_extent(renderer)
        boxes.append((box.x0, box.y0, box.x1, box.y1))
    return boxes


def _overlap(boxes: Sequence[tuple[float, float, float, float]], pad: float = 2.0) -> bool:
    """Whether any two boxes (x0, y0, x1, y1) come closer than ``pad`` pixels."""
    return any(
        a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
    )


def _thin_ticks(canvas: FigureCanvasAgg, axes: Iterable[Axes]) -> None:
    """Hide every other major tick label of an axis until its labels no longer overlap."""
    for axis in (a for ax in axes for a in (ax.xaxis, ax.yaxis)):
        for _ in range(8):
            canvas.draw()  # type: ignore[no-untyped-call]
            if not _overlap(_visible_labels(axis, canvas)):
                break
            for tick in shown_ticks(axis)[1::2]:
                tick.label1.set_visible(False)


def _style(index: int) -> tuple[str, str]:
    return _COLORS[index % len(_COLORS)], _MARKERS[index % len(_MARKERS)]


def _draw(
    ax: Axes,
    s: Series,
    ys: Sequence[float],
    ranges: Sequence[tuple[float, float]],
    color: str,
    marker: str,
) -> None:
    ax.plot(s.concurrency, ys, color=color, linewidth=1.5)
    for x, y, (low, high), met in zip(s.concurrency, ys, ranges, s.met_slo, strict=True):
        if high > low:
            ax.vlines(x, low, high, color=color, linewidth=1.0, alpha=0.6)
        ax.plot(
            [x], [y], marker=marker, markersize=6, color=color, markeredgewidth=1.3,
            markerfacecolor=color if met else "white", linestyle="none",
        )  # fmt: skip


_LEGEND_COLUMNS = 3


def _blank() -> Line2D:
    return Line2D([], [], linestyle="none", label=" ")


def _row_major(handles: list[Line2D], columns: int) -> list[Line2D]:
    """Legends fill column by column: reorder so they read row by row."""
    padded = handles + [_blank()] * (-len(handles) % columns)
    rows = len(padded) // columns
    return [padded[r * columns + c] for c in range(columns) for r in range(rows)]


def _legend(
    fig: Figure, canvas: FigureCanvasAgg, variants: list[Line2D], key: list[Line2D]
) -> None:
    """The legend below the panels: the variants, then the key to the markers on a row of its
    own; as few columns as it takes to fit the figure's width."""
    for columns in range(_LEGEND_COLUMNS, 0, -1):
        handles = variants + [_blank()] * (-len(variants) % columns) + key
        legend = fig.legend(
            handles=_row_major(handles, columns), loc="outside lower center", ncols=columns,
            frameon=False,
        )  # fmt: skip
        canvas.draw()  # type: ignore[no-untyped-call]
        if legend.get_window_extent().width <= fig.bbox.width or columns == 1:
            return
        legend.remove()


def workload_figure(
    workload: str,
    summaries: Sequence[RunSummary],
    slo_p99_ms: float,
    styles: dict[str, int],
) -> Figure | None:
    """The workload's figure, or None when no closed-model step completed.

    ``styles`` maps each variant label to its color and marker index, the same in every
    workload's figure.
    """
    lines = series(summaries)
    if not lines:
        return None
    fig = Figure(figsize=FIG_SIZE, layout="constrained")
    canvas = FigureCanvasAgg(fig)  # measures text, so overlapping tick labels can be found
    tput, lat = fig.subplots(1, 2, sharex=True)
    levels = sorted({c for s in lines for c in s.concurrency})
    for s in lines:
        color, marker = _style(styles.get(s.label, len(styles)))
        _draw(tput, s, s.rps, s.rps_range, color, marker)
        _draw(lat, s, s.p99_ms, s.p99_range, color, marker)
    lat.axhline(slo_p99_ms, color="0.25", linestyle="--", linewidth=1.0)

    tput.set_xscale("log", base=2)
    tput.xaxis.set_major_locator(FixedLocator(levels))
    tput.xaxis.set_major_formatter(FuncFormatter(_plain))
    tput.xaxis.set_minor_formatter(NullFormatter())
    if len(levels) == 1:  # one level: give the log axis some room around it
        tput.set_xlim(levels[0] / 2, levels[0] * 2)
    tput.set_ylim(bottom=0)
    tput.yaxis.set_major_formatter(FuncFormatter(_plain))
    tput.set_ylabel("throughput (req/s)")
    tput.set_title("Throughput")

    lat.set_yscale("log")
    lat.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    lat.yaxis.set_major_formatter(FuncFormatter(_plain))
    lat.yaxis.set_minor_formatter(NullFormatter())
    lat.set_ylabel("p99 latency (ms, log scale)")
    lat.set_title("p99 latency")
    for ax in (tput, lat):
        ax.set_xlabel("concurrent users (closed model, log scale)")
        ax.grid(True, which="major", color="0.9", linewidth=0.8)
        ax.set_axisbelow(True)
        ax.spines[["top", "right"]].set_visible(False)

    variants = [
        Line2D([], [], color=c, marker=m, label=_text(s.label))
        for s in lines
        for c, m in [_style(styles.get(s.label, len(styles)))]
    ]
    key = [
        Line2D([], [], color="0.3", marker="o", linestyle="none", label="met the SLO"),
        Line2D(
            [],
            [],
            color="0.3",
            marker="o",
            markerfacecolor="white",
            linestyle="none",
            label="missed the SLO",
        ),
        Line2D([], [], color="0.25", linestyle="--", label=f"SLO: p99 ≤ {slo_p99_ms:,.0f} ms"),
    ]
    _legend(fig, canvas, variants, key)
    fig.suptitle(f"{_text(workload)}: throughput and p99 latency vs concurrent users")
    _thin_ticks(canvas, (tput, lat))
    return fig


def svg(fig: Figure) -> str:
    """The figure as SVG text, the same bytes for the same figure."""
    buf = io.StringIO()
    with _svg_style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


DISTANCE_FIGURE = "{workload} by distance"
"""The key (and file stem) of a workload's capacity-against-round-trip figure."""


def capacity_by_distance(
    analysis: Analysis, workload: str
) -> tuple[str, dict[str, list[tuple[float, float]]]] | None:
    """Capacity at SLO against the round trip added, per candidate name: the side whose
    round trip varies (the database's first) and, per name, (round trip ms, req/s) points;
    None unless the workload ran at two or more round trips on one side and some candidate
    has a capacity at one of them. A candidate's point
    is its verdict's median where it was compared, else its best survey capacity."""
    verdicts = analysis.verdicts_for(workload)
    sides = {
        "db": {v.distance.db_rtt_ms for v in verdicts} - {None},
        "upstream": {v.distance.upstream_rtt_ms for v in verdicts} - {None},
    }
    side = next((name for name, values in sides.items() if len(values) > 1), None)
    if side is None:
        return None
    points: dict[str, list[tuple[float, float]]] = {}
    for verdict in verdicts:
        rtt = verdict.distance.db_rtt_ms if side == "db" else verdict.distance.upstream_rtt_ms
        if rtt is None:
            continue
        compared = {c.key: c.capacity.median for c in verdict.candidates}
        best: dict[str, float] = {}
        for summary in analysis.runs_for(workload, verdict.distance):
            value = compared.get(summary.run.key, summary.capacity_rps)
            if value is not None:
                best[run_name(summary.run)] = max(value, best.get(run_name(summary.run), 0.0))
        for name, value in best.items():
            points.setdefault(name, []).append((rtt, value))
    if not points:
        return None  # no candidate met the SLO at any distance: nothing to draw
    return side, {name: sorted(p) for name, p in points.items()}


def distance_figure(analysis: Analysis, workload: str, styles: dict[str, int]) -> Figure | None:
    """Capacity at SLO against the added round trip, a line per candidate (None when the
    workload did not vary a round trip)."""
    found = capacity_by_distance(analysis, workload)
    if found is None:
        return None
    side, points = found
    fig = Figure(figsize=FIG_SIZE, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rtts = sorted({x for p in points.values() for x, _ in p})
    if rtts[-1] > 20 * min((x for x in rtts if x > 0), default=rtts[-1]):
        ax.set_xscale("symlog", linthresh=max(1.0, min(x for x in rtts if x > 0)))
    handles = []
    for name, pts in points.items():
        i = styles.setdefault(name, len(styles))
        (line,) = ax.plot(
            [x for x, _ in pts], [y for _, y in pts], color=_COLORS[i % len(_COLORS)],
            marker=_MARKERS[i % len(_MARKERS)], label=_text(name),
        )  # fmt: skip
        handles.append(line)
    ax.xaxis.set_major_locator(FixedLocator(rtts))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"round trip added to the {'database' if side == 'db' else 'upstream API'} (ms)")
    ax.set_ylabel("capacity at SLO (req/s)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend(fig, canvas, handles, [])
    fig.suptitle(f"{_text(workload)}: capacity at SLO vs round-trip time")
    _thin_ticks(canvas, (ax,))
    return fig


def figures(analysis: Analysis) -> dict[str, Figure]:
    """Every workload's figure (workloads without a completed closed step have none), and
    its capacity-against-distance figure where it ran at several round trips."""
    labels = list(dict.fromkeys(s.label for s in analysis.runs))
    styles = {label: i for i, label in enumerate(labels)}
    names = {
        name: i for i, name in enumerate(dict.fromkeys(run_name(s.run) for s in analysis.runs))
    }
    out = {}
    with _svg_style():
        for w in analysis.workloads:
            fig = workload_figure(
                w, analysis.runs_for(w), analysis.scenario.slo_for(w).p99_ms, styles
            )
            if fig is not None:
                out[w] = fig
            far = distance_figure(analysis, w, names)
            if far is not None:
                out[DISTANCE_FIGURE.format(workload=w)] = far
    return out


def workload_svgs(analysis: Analysis) -> dict[str, str]:
    """Every workload's figure as SVG text."""
    return {w: svg(fig) for w, fig in figures(analysis).items()}


def plot_files(analysis: Analysis) -> dict[str, str]:
    """Where each workload's figure goes, relative to the report: ``plots/<workload>.svg``
    (a safe file name, unique), for the workloads that have a figure."""
    keys = [w for w in analysis.workloads if series(analysis.runs_for(w))]
    keys += [
        DISTANCE_FIGURE.format(workload=w)
        for w in analysis.workloads
        if capacity_by_distance(analysis, w) is not None
    ]
    out: dict[str, str] = {}
    for w in keys:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", w).strip("-.") or "workload"
        name, n = stem, 1
        while f"plots/{name}.svg" in out.values():
            n += 1
            name = f"{stem}-{n}"
        out[w] = f"plots/{name}.svg"
    return out
