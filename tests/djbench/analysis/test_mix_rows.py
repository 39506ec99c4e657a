"""A traffic mix's parts at each run's capacity at SLO, in the analysis and both reports."""

from __future__ import annotations

from pathlib import Path

from djbench.analysis.core import analyze
from djbench.model.results import Part, Results, Run
from djbench.model.results_file import load_results
from djbench.outputs.report.html import render_html
from djbench.outputs.report.markdown import render_markdown

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-small.json"


def _as_mix(run: Run) -> Run:
    """``run`` as a run of the mix ``half`` (30 % cpu, 70 % upstream): each measured step's
    requests split 3 : 7, the upstream part the slower."""
    steps = []
    for step in run.steps:
        cpu = round(step.requests * 0.3)
        lat = step.latency_ms
        slow = lat.model_copy(update={"p50": lat.p50 * 2, "p99": lat.p99})
        parts = [
            Part(name="cpu", share=0.3, requests=cpu, errors=0, latency_ms=lat),
            Part(
                name="upstream", share=0.7, requests=step.requests - cpu, errors=0, latency_ms=slow
            ),
        ]
        steps.append(step.model_copy(update={"parts": parts if step.measured else None}))
    return run.model_copy(update={"workload": "half", "steps": steps})


def _mixed() -> Results:
    results = load_results(FIXTURE)
    runs = [_as_mix(r) for r in results.runs if r.workload == "cpu"]
    scenario = {
        **results.scenario,
        "workloads": ["half"],
        "mix": {"half": {"cpu": 0.3, "upstream": 0.7}},
    }
    return results.model_copy(update={"runs": runs, "scenario": scenario})


def test_each_run_shows_its_parts_at_its_capacity_step() -> None:
    analysis = analyze(_mixed())
    rows = analysis.mix_parts_of("half")
    # gunicorn-sync's capacity at p99 <= 500 ms: c=8 (98.0 req/s, p99 95.3 ms).
    sync = [r for r in rows if r.label == "gunicorn-sync"]
    assert [(r.load, r.part.name, r.at_slo) for r in sync] == [
        ("c=8", "cpu", True),
        ("c=8", "upstream", True),
    ]
    assert sum(r.sent for r in sync) == 1.0
    assert analysis.mix_parts_of("cpu") == ()  # no mix, no parts
    md = render_markdown(analysis, plots={})
    assert "Parts of the mix (mix: 30% cpu, 70% upstream;" in md
    assert "| gunicorn-sync | c=8 | upstream | 70.0% |" in md
    assert "Parts of the mix" in render_html(analysis, svgs={})


def test_a_run_that_never_met_the_slo_shows_its_best_step_marked() -> None:
    results = _mixed()
    strict = {**results.scenario, "default_slo": {"p99_ms": 1.0, "max_error_rate": 0.01}}
    analysis = analyze(results.model_copy(update={"scenario": strict}))
    rows = [r for r in analysis.mix_parts_of("half") if r.label == "gunicorn-sync"]
    # No step within 1 ms: its best (c=8, 98.0 req/s), marked as past the SLO.
    assert {(r.load, r.at_slo) for r in rows} == {("c=8", False)}
    assert "| gunicorn-sync | c=8 (best, past the SLO) | cpu |" in render_markdown(
        analysis, plots={}
    )
