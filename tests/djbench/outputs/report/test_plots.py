"""Each workload's figure is readable: titled, labelled with units, its legend inside the
figure and no two tick labels on top of each other (measured with matplotlib's extents)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from djbench.analysis.core import Analysis, analyze
from djbench.model.results import Results, Run
from djbench.model.results_file import load_results
from djbench.outputs.report.plots import figures, plot_files, series, shown_ticks, svg

FIXTURE = Path(__file__).parents[2] / "fixtures" / "results-small.json"
DENSE = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]


@pytest.fixture(scope="module")
def results() -> Results:
    return load_results(FIXTURE)


def with_ladder(results: Results, levels: list[int], name: str) -> Results:
    """Every closed run of the fixture stretched to ``levels``, under a longer name."""
    runs = []
    for run in results.runs:
        closed = [s for s in run.steps if s.model == "closed" and s.status == "ok"]
        if not closed:
            continue
        steps = [
            closed[0].model_copy(update={"concurrency": c, "rps": 10.0 * i + 1})
            for i, c in enumerate(levels)
        ]
        runs.append(run.model_copy(update={"steps": steps, "variant": f"{run.variant}-{name}"}))
    return results.model_copy(update={"runs": runs})


def rendered(fig: Figure) -> FigureCanvasAgg:
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()  # type: ignore[no-untyped-call]
    return canvas


def assert_readable(fig: Figure) -> None:
    canvas = rendered(fig)
    renderer = canvas.get_renderer()  # type: ignore[no-untyped-call]
    inside = fig.bbox.padded(0.5)

    def contained(box: Bbox) -> bool:
        return bool(
            inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
            and box.y1 <= inside.y1
        )  # fmt: skip

    (legend,) = fig.legends
    assert contained(legend.get_window_extent(renderer)), "legend outside the figure"
    suptitle = fig.get_suptitle()
    assert suptitle
    for ax in fig.axes:
        assert ax.get_title()
        assert ax.get_xlabel() == "concurrent users (closed model, log scale)"
        assert ax.get_ylabel() in ("throughput (req/s)", "p99 latency (ms, log scale)")
        # The legend below the panels, not over them.
        assert legend.get_window_extent(renderer).y1 <= ax.get_tightbbox(renderer).y0 + 1
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t.label1 for t in shown_ticks(axis)]
            assert len(labels) >= 2, f"{ax.get_title()}: too few tick labels"
            boxes = [label.get_window_extent(renderer) for label in labels]
            for box in boxes:
                assert contained(box)
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not a.overlaps(b), f"{ax.get_title()}: tick labels overlap"


def test_one_readable_figure_per_workload(results: Results) -> None:
    analysis = analyze(results)
    figs = figures(analysis)
    assert list(figs) == ["upstream", "cpu"]
    for fig in figs.values():
        assert_readable(fig)
    upstream = figs["upstream"]
    texts = [t.get_text() for t in upstream.legends[0].get_texts()]
    assert {"gunicorn-sync · requests", "uvicorn · aiohttp"} <= set(texts)
    assert "SLO: p99 ≤ 2,000 ms" in texts
    # Concurrency on a log-2 axis, ticked at the ladder with plain numbers.
    tput = upstream.axes[0]
    assert tput.get_xscale() == "log"
    ticks = [t.label1.get_text() for t in shown_ticks(tput.xaxis)]
    assert ticks == ["1", "8", "32", "128"]


def test_a_dense_ladder_and_long_names_stay_readable(results: Results) -> None:
    dense = with_ladder(results, DENSE, "with-a-rather-long-name-for-a-variant")
    figs = figures(analyze(dense))
    assert figs
    for fig in figs.values():
        assert_readable(fig)
    tput = figs["upstream"].axes[0]
    assert 2 <= len(shown_ticks(tput.xaxis)) < len(DENSE)  # thinned, not dropped


def test_figures_come_from_the_closed_model_only(results: Results) -> None:
    analysis = analyze(results)
    lines = {s.label: s for s in series(analysis.runs_for("upstream"))}
    uvicorn = lines["uvicorn · aiohttp"]
    assert uvicorn.concurrency == (1, 8, 32, 128)
    assert uvicorn.rps == (1.6, 13.1, 51.8, 188.0)
    assert uvicorn.met_slo == (True, True, True, False)
    # A failed step draws no point: its numbers are partial.
    assert lines["uvicorn-syncviews (crossed) · requests"].concurrency == (1,)


def test_repeats_show_their_median_and_range(results: Results) -> None:
    run = next(r for r in results.runs if r.workload == "cpu" and r.variant == "uvicorn")
    again = [
        run.model_copy(
            update={"steps": [s.model_copy(update={"rps": s.rps * k}) for s in run.steps]}
        )
        for k in (0.9, 1.2)
    ]
    (line,) = [
        s
        for s in series(analyze(results.model_copy(update={"runs": [run, *again]})).runs)
        if s.label == "uvicorn"
    ]
    first = run.steps[0]
    assert first.concurrency == line.concurrency[0]
    assert line.rps[0] == pytest.approx(first.rps)
    assert line.rps_range[0] == pytest.approx((first.rps * 0.9, first.rps * 1.2))


def test_a_workload_without_a_closed_step_has_no_figure(results: Results) -> None:
    broken = Run(
        variant="granian", server="granian", interface="asgi", views="async",
        workload="sleep", status="failed", error="granian: command not found",
    )  # fmt: skip
    scenario = results.scenario | {"workloads": ["upstream", "cpu", "sleep"]}
    analysis = analyze(
        results.model_copy(update={"runs": [*results.runs, broken], "scenario": scenario})
    )
    assert "sleep" in analysis.workloads
    assert "sleep" not in figures(analysis)
    assert "sleep" not in plot_files(analysis)


def test_svg_is_the_same_for_the_same_results(results: Results) -> None:
    first = figures(analyze(results))["cpu"]
    again = figures(analyze(results))["cpu"]
    assert svg(first) == svg(again)


def test_text_from_the_results_is_literal(results: Results) -> None:
    odd = results.model_copy(
        update={
            "runs": [
                r.model_copy(update={"variant": "$x^2$ <b>"}) if r.variant == "uvicorn" else r
                for r in results.runs
            ]
        }
    )
    analysis: Analysis = analyze(odd)
    fig = figures(analysis)["cpu"]
    assert_readable(fig)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert r"\$x^2\$ <b>" in texts  # escaped: no mathtext
    assert "<b>" not in svg(fig).replace("&lt;b&gt;", "")


def test_plot_files_are_safe_and_unique(results: Results) -> None:
    runs = [r.model_copy(update={"workload": "a/b"}) for r in results.runs if r.workload == "cpu"]
    runs += [r.model_copy(update={"workload": "a b"}) for r in results.runs if r.workload == "cpu"]
    scenario = results.scenario | {"workloads": ["cpu"]}
    files = plot_files(analyze(results.model_copy(update={"runs": runs, "scenario": scenario})))
    assert files == {"a/b": "plots/a-b.svg", "a b": "plots/a-b-2.svg"}


def test_every_figure_renders_or_is_left_out_when_every_run_failed(
    results: Results, tmp_path: Path
) -> None:
    """A cluster whose proxies could not hold their delay: every run at every distance
    failed. The reports render, each figure without a point left out and said so."""
    from djbench.model.results import Distance
    from djbench.outputs.report import render_reports

    runs = [
        run.model_copy(
            update={
                "status": "failed",
                "error": "db path: added round trip p50 0.1 ms, p99 3.0 ms",
                "steps": [],
                "distance": Distance(db_rtt_ms=rtt),
            }
        )
        for run in results.runs
        for rtt in (0.0, 100.0)
    ]
    failed = results.model_copy(update={"runs": runs})
    analysis = analyze(failed)
    assert figures(analysis) == {}
    assert plot_files(analysis) == {}
    md, html = render_reports(failed, tmp_path, analysis)
    text = md.read_text()
    for w in analysis.workloads:
        assert f"No figure: no closed-model step of {w} was measured." in text
    assert "No figure: no closed-model step" in html.read_text()
    assert not (tmp_path / "plots").exists()
