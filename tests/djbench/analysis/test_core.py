"""Analysis of the small fixture results: capacity at SLO, knee, verdicts, self-checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from djbench.analysis.checks import CheckWarning
from djbench.analysis.core import Analysis, analyze, scenario_of
from djbench.model.errors import DjbenchError
from djbench.model.results import (
    ClientInfo,
    Distance,
    Latency,
    ProxyTraffic,
    Results,
    Run,
    Step,
    UpstreamTraffic,
)
from djbench.model.results_file import load_results
from djbench.model.scenario import Slo
from djbench.plan.judge import (
    RunSummary,
    Searched,
    searched_capacity,
    slo_load,
    slo_misses,
    summarize_run,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-small.json"


@pytest.fixture(scope="module")
def results() -> Results:
    return load_results(FIXTURE)


@pytest.fixture(scope="module")
def analysis(results: Results) -> Analysis:
    return analyze(results)


def summary(analysis: Analysis, workload: str, variant: str) -> RunSummary:
    return next(s for s in analysis.runs_for(workload) if s.variant == variant)


def closed(concurrency: int, rps: float, p99: float = 50.0, **extra: object) -> Step:
    fields: dict[str, object] = {
        "model": "closed",
        "concurrency": concurrency,
        "rate": None,
        "duration_s": 10.0,
        "requests": round(rps * 10),
        "errors": 0,
        "dropped": 0,
        "rps": rps,
        "latency_ms": Latency(p50=p99 / 2, p90=p99 * 0.8, p95=p99 * 0.9, p99=p99, max=p99 * 1.2),
        "cpu_s": 9.0,
        "cpu_util": 0.9,
        "cpu_ms_per_req": 9.0,
        "rss_mib": 60.0,
    }
    fields.update(extra)
    return Step.model_validate(fields)


def run_of(variant: str, steps: list[Step], workload: str = "cpu") -> Run:
    return Run(
        variant=variant,
        server="uvicorn",
        interface="asgi",
        views="async",
        workload=workload,
        status="ok",
        error=None,
        steps=steps,
    )


def measured_warnings(analysis: Analysis) -> list[CheckWarning]:
    """The steps' self-checks, without the doubts about a single repeat."""
    return [w for w in analysis.warnings if w.kind != "repeats"]


def test_scenario_of_restores_the_scenario_as_run(results: Results) -> None:
    scenario = scenario_of(results)
    assert scenario.name == "fixture-small"
    assert scenario.slo_for("upstream").p99_ms == 2000
    assert scenario.slo_for("cpu").p99_ms == 500


def test_scenario_of_rejects_an_invalid_scenario(results: Results) -> None:
    broken = results.model_copy(update={"scenario": {**results.scenario, "duration_s": -1}})
    with pytest.raises(DjbenchError, match="duration_s"):
        scenario_of(broken)


def test_capacity_is_the_fastest_step_within_the_slo(analysis: Analysis) -> None:
    uvicorn = summary(analysis, "upstream", "uvicorn")
    # c=128 is faster (188 req/s) but its p99 (2452 ms) breaks the 2000 ms SLO.
    assert uvicorn.capacity_rps == 149.8
    assert uvicorn.capacity_step is not None
    assert uvicorn.capacity_step.load_label == "150.4/s"
    assert uvicorn.best_rps == 188.0
    assert summary(analysis, "cpu", "gunicorn-sync").capacity_rps == 98.0


def test_steps_over_the_error_budget_do_not_count(analysis: Analysis) -> None:
    crossed = summary(analysis, "cpu", "uvicorn-syncviews")
    # c=32 has the most throughput (99 req/s) but 4 % errors against a 1 % budget.
    assert crossed.slo_misses[2] == ("errors",)
    assert crossed.capacity_rps == 97.9


def test_open_steps_that_dropped_iterations_do_not_count(analysis: Analysis) -> None:
    uvicorn = summary(analysis, "cpu", "uvicorn")
    # 115.8/s: p99 within the SLO, but 183 of 975 iterations dropped (> 1 %).
    assert uvicorn.slo_misses[5] == ("dropped",)
    assert uvicorn.capacity_rps == 96.5


def test_slo_misses_names_every_reason() -> None:
    slo = Slo(p99_ms=100, max_error_rate=0.01)
    assert slo_misses(closed(8, 90.0, p99=80), slo) == ()
    assert slo_misses(closed(8, 90.0, p99=120, errors=50), slo) == ("p99", "errors")
    assert slo_misses(closed(8, 90.0, status="failed"), slo) == ("failed",)
    assert slo_misses(closed(8, 0.0, requests=0), slo) == ("no requests",)
    # Dropped iterations only matter in the open model (the closed model never drops).
    open_step = closed(8, 90.0).model_copy(
        update={"model": "open", "concurrency": None, "rate": 100.0, "dropped": 10}
    )
    assert slo_misses(open_step, slo) == ("dropped",)
    assert slo_misses(open_step.model_copy(update={"dropped": 9}), slo) == ()
    assert slo_misses(closed(8, 90.0, dropped=500), slo) == ()


def test_no_qualifying_step_means_no_capacity() -> None:
    summary_ = summarize_run(run_of("slow", [closed(1, 10.0, p99=900)]), Slo(p99_ms=100))
    assert summary_.capacity_rps is None
    assert summary_.capacity_step is None
    assert summary_.best_rps == 10.0


def test_knee_is_the_last_step_before_throughput_stops_growing() -> None:
    steps = [closed(32, 48.0), closed(1, 10.0), closed(8, 40.0), closed(128, 52.0)]
    summary_ = summarize_run(run_of("x", steps), Slo(p99_ms=100))
    # Sorted by concurrency: 10 → 40 (+300 %) → 48 (+20 %) → 52 (+8 %): knee at c=32.
    assert summary_.knee_step is not None
    assert summary_.knee_step.concurrency == 32


def test_knee_is_none_while_throughput_keeps_growing(analysis: Analysis) -> None:
    assert summary(analysis, "upstream", "uvicorn").knee_step is None
    knee = summary(analysis, "upstream", "gunicorn-sync").knee_step
    assert knee is not None
    assert knee.concurrency == 1


def test_one_measurement_each_is_no_verdict(analysis: Analysis) -> None:
    """The fixture measured every candidate once: a lead of 94× still gets no test."""
    verdict = analysis.verdict_for("upstream")
    assert (verdict.winner, verdict.runner_up) == ("uvicorn", "gunicorn-sync")
    assert verdict.ratio == pytest.approx(149.8 / 1.6)
    assert not verdict.significant
    assert (verdict.winner_label, verdict.runner_up_label) == (
        "uvicorn · aiohttp",
        "gunicorn-sync · requests",
    )
    assert verdict.text == (
        "untested: uvicorn · aiohttp 149.8 and gunicorn-sync · requests 1.6 req/s at p99 ≤ "
        "2000 ms (93.62×; no test with n=1), n=1"
    )


def repeated(variant: str, rates: list[float], workload: str = "cpu") -> list[Run]:
    """One run per round, each with a single closed step at ``rate``."""
    return [
        run_of(variant, [closed(8, rate)], workload).model_copy(update={"round": i})
        for i, rate in enumerate(rates)
    ]


def test_five_repeats_apart_give_a_significant_verdict(results: Results) -> None:
    runs = repeated("uvicorn", [210, 204, 215, 208, 212]) + repeated(
        "granian", [50, 49, 52, 48, 51]
    )
    verdict = analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu")
    assert verdict.significant
    assert verdict.winner == "uvicorn"
    assert verdict.text.startswith("uvicorn 210.0 [204.0–215.0] req/s at p99 ≤ 500 ms, 4.20× [")
    assert verdict.text.endswith(": significant (Mann-Whitney p=0.0079), n=5")


def test_an_interval_that_includes_one_gives_approximately(results: Results) -> None:
    runs = repeated("uvicorn", [100, 104, 97, 103, 99]) + repeated(
        "granian", [98, 101, 96, 102, 100]
    )
    verdict = analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu")
    assert verdict.comparison is not None
    assert verdict.comparison.ratio.low < 1.0 < verdict.comparison.ratio.high
    assert not verdict.significant
    assert verdict.text.startswith("≈ uvicorn 100.0 [")


def test_noisy_repeats_are_flagged(results: Results) -> None:
    runs = repeated("uvicorn", [210, 150, 215, 280, 212]) + repeated("granian", [50, 49, 52])
    warnings = analyze(results.model_copy(update={"runs": runs})).warnings
    doubts = {(w.variant, w.message.split(" ")[0]) for w in warnings if w.kind == "repeats"}
    assert ("uvicorn", "spread") in doubts
    assert ("granian", "only") in doubts


def test_a_fault_voids_every_verdict(results: Results) -> None:
    from djbench.model.results import Fault

    runs = repeated("uvicorn", [210, 204, 215, 208, 212]) + repeated(
        "granian", [50, 49, 52, 48, 51]
    )
    fault = Fault(
        message="Postgres exited with signal 9 (SIGKILL)", workload="cpu", variant="granian"
    )
    analysis = analyze(results.model_copy(update={"runs": runs, "faults": [fault]}))
    verdict = analysis.verdict_for("cpu")
    assert (verdict.winner, verdict.significant) == (None, False)
    assert verdict.text == (
        "no verdict: Postgres exited with signal 9 (SIGKILL) during granian / cpu; "
        "the run stopped there"
    )


def test_workloads_follow_the_scenario_and_skip_those_never_run(analysis: Analysis) -> None:
    assert analysis.workloads == ("upstream", "cpu")
    assert [v.workload for v in analysis.verdicts] == ["upstream", "cpu"]


def test_self_checks(analysis: Analysis) -> None:
    found = {(w.kind, w.workload, w.variant, w.load) for w in analysis.warnings}
    crossed = "uvicorn-syncviews (crossed)"
    assert ("failed-run", "upstream", f"{crossed} · requests", None) in found
    assert ("failed-step", "upstream", f"{crossed} · requests", "c=8") in found
    assert ("few-requests", "upstream", "uvicorn · aiohttp", "c=1") in found
    assert ("load-saturation", "cpu", "uvicorn", "c=128") in found
    assert ("error-rate", "cpu", crossed, "c=32") in found
    # A failed step is reported as failed, not also as a step with too few requests.
    assert ("few-requests", "upstream", crossed, "c=8") not in found
    # Steps with enough requests, idle k6 and no errors stay quiet.
    assert not [
        w
        for w in analysis.warnings
        if w.workload == "cpu"
        and w.variant == "gunicorn-sync"
        and w.kind != "repeats"
        and w.load != "c=128"
    ]
    # c=128 measured 10 s of 1.3 s cycles: 7.6 cycles, under the scenario's 10.
    assert ("few-cycles", "cpu", "gunicorn-sync", "c=128") in found
    message = next(str(w) for w in analysis.warnings if w.kind == "load-saturation")
    assert message == (
        "cpu / uvicorn @ c=128: load side near saturation (85% of its CPUs: k6 85%, "
        "Postgres and stub API 0%): the server may not be the bottleneck"
    )
    assert any("too few requests for a stable p99" in str(w) for w in analysis.warnings)


def test_postgres_on_the_load_cpu_counts_towards_saturation(results: Results) -> None:
    """k6 alone is idle, but with Postgres busy on the same CPU the load side is saturated."""
    quiet = closed(8, 90.0, load_cpu_s=1.0)
    busy_db = closed(32, 90.0, load_cpu_s=1.0).model_copy(update={"infra_cpu_s": 7.5})
    runs = [run_of("x", [quiet, busy_db])]
    warnings = measured_warnings(analyze(results.model_copy(update={"runs": runs})))
    assert [(w.kind, w.load) for w in warnings] == [("load-saturation", "c=32")]
    assert "Postgres and stub API 75%" in str(warnings[0])


def test_idle_server_with_a_busy_database_is_flagged(results: Results) -> None:
    """db-read on a big table: the server idles at 10 % while Postgres works: say so."""
    step = closed(32, 50.0, load_cpu_s=0.5).model_copy(update={"infra_cpu_s": 6.0, "cpu_util": 0.1})
    warnings = measured_warnings(
        analyze(results.model_copy(update={"runs": [run_of("x", [step])]}))
    )
    assert [w.kind for w in warnings] == ["infra-bound"]
    assert "the database is the limit" in str(warnings[0])


def test_load_saturation_fires_at_the_threshold(results: Results) -> None:
    steps = [closed(8, 90.0, load_cpu_s=8.0), closed(32, 95.0, load_cpu_s=7.9)]
    warnings = measured_warnings(analyze(results.model_copy(update={"runs": [run_of("x", steps)]})))
    assert [(w.kind, w.load) for w in warnings] == [("load-saturation", "c=8")]


def upstream_run(
    variant: str, steps: list[Step], *, slots: int | None, client: str, views: str = "async"
) -> Run:
    return Run(
        variant=variant,
        server="uvicorn",
        interface="asgi" if views != "sync" else "wsgi",
        views=views,
        workload="upstream",
        status="ok",
        error=None,
        client=ClientInfo(name=client, version="1", max_connections=384),
        slots=slots,
        steps=steps,
    )


def waiting(
    c: int, rps: float, cpu_util: float, *, peak: int | None = None, load_cpu_s: float = 0.1
) -> Step:
    """A 2 s closed upstream step; the stub saw 3 calls per request."""
    served = round(rps * 2)
    cpu_s = cpu_util * 2
    return closed(
        c,
        rps,
        p99=700.0,
        duration_s=2.0,
        requests=served,
        cpu_s=cpu_s,
        cpu_util=cpu_util,
        cpu_ms_per_req=cpu_s * 1000 / served if served else 0.0,
        load_cpu_s=load_cpu_s,
        upstream=UpstreamTraffic(
            connections=3, calls=served * 3, peak_in_flight=peak if peak is not None else c * 3
        ),
    )


def physics(results: Results, runs: list[Run]) -> list[str]:
    analysis = analyze(results.model_copy(update={"runs": runs}))
    return [str(w) for w in analysis.warnings if w.kind == "physics"]


def test_physics_flags_a_collapsed_step_and_names_the_client(results: Results) -> None:
    """The httpx 0.28 collapse: 6.5 req/s at c=32, the CPU used up at 154 ms per request."""
    steps = [
        waiting(1, 1.5, 0.01),
        waiting(8, 13.0, 0.08),
        waiting(32, 6.5, 1.0),
        waiting(128, 0.0, 0.94),
    ]
    found = physics(results, [upstream_run("uvicorn", steps, slots=None, client="httpx")])
    assert len(found) == 2
    assert found[0].startswith(
        "upstream / uvicorn · httpx @ c=32: 6.5 req/s is 12% of the 53.3 req/s physics allows "
        "(floor 0.60 s, slots unbounded, CPU ceiling 161.1 req/s from 6.2 ms per request at "
        "light load); likely limit: the HTTP client (httpx): the server's CPU is used up "
        "(153.8 ms per request against 6.2 ms at light load)"
    )
    assert "c=128: 0.0 req/s is 0% of the 53.3 req/s" not in found[1]
    assert found[1].endswith(
        "the server's CPU is used up (nothing served against 6.2 ms at light load)"
    )


def test_physics_names_a_pool_that_held_the_calls_back(results: Results) -> None:
    steps = [waiting(1, 1.6, 0.01), waiting(32, 16.0, 0.1, peak=30)]
    found = physics(results, [upstream_run("uvicorn", steps, slots=None, client="httpx2")])
    assert len(found) == 1
    assert found[0].endswith(
        "likely limit: the HTTP client (httpx2): at most 30 upstream calls were in flight "
        "where about 56 are on average (a pool or thread limit)"
    )


def test_physics_blames_the_load_side_when_it_is_busy(results: Results) -> None:
    steps = [waiting(1, 1.6, 0.01), waiting(32, 16.0, 0.1, load_cpu_s=1.8)]
    found = physics(results, [upstream_run("uvicorn", steps, slots=None, client="aiohttp")])
    assert found and found[0].endswith("likely limit: the load side (90% of its CPUs busy)")


def test_physics_stays_silent_on_healthy_steps(results: Results) -> None:
    """48 req/s at c=32 (quantised 600 ms cycles) is 90 % of 53.3; threads cap at 32 / 0.6 s;
    one thread at 1 / 0.6 s; the CPU ceiling caps c=128 at 1000 / 5 ms per request."""
    healthy = [
        upstream_run(
            "uvicorn",
            [waiting(1, 1.5, 0.01), waiting(32, 48.0, 0.25), waiting(128, 192.0, 0.95)],
            slots=None,
            client="aiohttp",
        ),
        upstream_run(
            "gunicorn-gthread",
            [waiting(1, 1.5, 0.01), waiting(32, 48.0, 0.3, peak=96), waiting(128, 48.0, 0.3)],
            slots=32,
            client="requests",
            views="sync",
        ),
        upstream_run(
            "gunicorn-sync",
            [waiting(1, 1.5, 0.01), waiting(8, 1.5, 0.01, peak=3)],
            slots=1,
            client="requests",
            views="sync",
        ),
    ]
    assert physics(results, healthy) == []


def test_physics_applies_to_waiting_workloads_only(results: Results) -> None:
    steps = [waiting(1, 9.5, 0.06), waiting(32, 6.5, 1.0)]
    run = upstream_run("uvicorn", steps, slots=None, client="httpx")
    assert physics(results, [run.model_copy(update={"workload": "cpu"})]) == []
    sleepy = run.model_copy(update={"workload": "sleep", "client": None})
    # sleep waits 100 ms (the fixture's default): c=32 would allow 320 req/s, but at 6.3 ms
    # per request one CPU allows 158.3.
    found = physics(results, [sleepy])
    assert len(found) == 1
    assert "c=32: 6.5 req/s is 4% of the 158.3 req/s physics allows (floor 0.10 s" in found[0]
    assert found[0].endswith(
        "likely limit: the server: the server's CPU is used up "
        "(153.8 ms per request against 6.3 ms at light load)"
    )


def test_physics_explains_a_queue_longer_than_the_request_timeout(results: Results) -> None:
    """One slot, 32 VUs, 0.6 s each: a 19 s queue against a 10 s timeout serves nothing."""
    steps = [waiting(1, 1.5, 0.01, peak=3), waiting(32, 0.0, 0.02, peak=3)]
    run = upstream_run("gunicorn-sync", steps, slots=1, client="requests", views="sync")
    found = physics(results, [run])
    assert len(found) == 1
    assert found[0].endswith(
        "likely limit: the server's 1 slot(s): 32 requests queue for about 19 s, past the 10 s "
        "request timeout, so requests time out while queued and the server works on ones the "
        "client gave up"
    )


def test_a_used_up_cpu_without_growth_is_the_servers(results: Results) -> None:
    """The CPU ran out at the light-load cost per request: no client to blame."""
    steps = [waiting(1, 1.5, 0.01), waiting(8, 13.0, 0.08), waiting(32, 20.0, 0.95)]
    steps[2] = steps[2].model_copy(update={"cpu_ms_per_req": 8.0})
    found = physics(results, [upstream_run("uvicorn", steps, slots=None, client="aiohttp")])
    # 6.2 ms at light load: the ceiling (161 req/s) is above c / floor (53.3 req/s).
    assert len(found) == 1
    assert found[0].endswith(
        "likely limit: the server: the server's CPU is used up (8.0 ms per request against "
        "6.2 ms at light load)"
    )


def _open(rate: float, p99: float) -> Step:
    step = closed(8, rate, p99=p99)
    return step.model_copy(update={"model": "open", "concurrency": None, "rate": rate})


def _search(variant: str, probes: list[tuple[float, float]], purpose: str, round_: int) -> Run:
    steps = [_open(rate, p99) for rate, p99 in probes]
    return run_of(variant, steps).model_copy(update={"purpose": purpose, "round": round_})


def test_a_search_interpolates_where_the_slo_is_reached() -> None:
    slo = Slo(p99_ms=500)
    # 375 req/s met the SLO at p99 250 ms (load 0.5), 500 missed it at 1000 ms (load 2): on
    # the log of the load, 1 lies halfway.
    run = _search("granian", [(250, 50), (500, 1000), (375, 250)], "search", 0)
    found = searched_capacity(summarize_run(run, slo))
    assert found == Searched(437.5, bounded=True)
    # A failing rate below the best passing one does not bound it; no rate above: lower bound.
    run = _search("granian", [(250, 900), (300, 100)], "search", 0)
    assert searched_capacity(summarize_run(run, slo)) == Searched(300, bounded=False)
    # No passing rate: no capacity.
    assert searched_capacity(summarize_run(_search("g", [(250, 900)], "search", 0), slo)) is None
    # Offered 500/s, the server served 430: that is its ceiling, whatever the chord says.
    run = _search("granian", [(375, 250), (500, 1000)], "search", 0)
    overloaded = run.steps[1].model_copy(update={"rps": 430.0})
    run = run.model_copy(update={"steps": [run.steps[0], overloaded]})
    assert searched_capacity(summarize_run(run, slo)) == Searched(430.0, bounded=True)
    # Served 360/s at 500/s offered, less than the 375/s that passed: overload collapse, so
    # the passing rate is all the search can say, and it says so.
    collapse = overloaded.model_copy(update={"rps": 360.0})
    collapsed = run.model_copy(update={"steps": [run.steps[0], collapse]})
    assert searched_capacity(summarize_run(collapsed, slo)) == Searched(
        375, bounded=True, collapsed=True
    )
    # A rate above that failed outright (no response) leaves the best passing rate itself.
    failed = _open(500, 100).model_copy(update={"status": "failed", "error": "boom"})
    run = run_of("g", [_open(375, 250), failed]).model_copy(update={"purpose": "search"})
    assert searched_capacity(summarize_run(run, slo)) == Searched(375, bounded=True)


def test_slo_load_is_above_one_exactly_when_the_slo_is_missed() -> None:
    slo = Slo(p99_ms=500, max_error_rate=0.01)
    met = _open(100, 400)
    assert slo_load(met, slo) == pytest.approx(0.8)
    for step in (
        _open(100, 600),
        met.model_copy(update={"errors": 50}),
        met.model_copy(update={"dropped": 20}),
    ):
        assert slo_misses(step, slo) and slo_load(step, slo) > 1
    assert not slo_misses(met, slo)
    assert slo_load(met.model_copy(update={"status": "failed"}), slo) == math.inf


def test_searched_rounds_are_the_samples_and_lower_bounds_are_marked(results: Results) -> None:
    runs = [run_of("uvicorn", [closed(32, 300)]), run_of("granian", [closed(32, 250)])]
    # uvicorn met the SLO at every rate it tried in 3 of 5 rounds: its median is a bound.
    runs += [_search("uvicorn", [(600, 60), (1200, 70)], "search", 0)]
    runs += [_search("uvicorn", [(1200, 70), (1500, 80)], "confirm", r) for r in (1, 2)]
    runs += [_search("uvicorn", [(1200, 70), (1500, 1000)], "confirm", r) for r in (3, 4)]
    runs += [_search("granian", [(250, 50), (500, 1000), (375, 250)], "search", 0)]
    runs += [
        _search("granian", [(r * 0.9, 250), (r * 1.125, 1000)], "confirm", i + 1)
        for i, r in enumerate([430, 440, 435, 445])
    ]
    analysis = analyze(results.model_copy(update={"runs": runs}))
    verdict = analysis.verdict_for("cpu")
    first, second = verdict.candidates
    assert (first.label, first.capacity.n, second.capacity.n) == ("uvicorn", 5, 5)
    assert first.searched and second.searched
    assert (first.lower_bounds, first.censored) == (3, True)
    assert (second.lower_bounds, second.censored) == (0, False)
    assert first.capacity_text.startswith("≥1,421.8 [")  # at least: 3 samples are bounds
    assert verdict.significant
    assert "req/s (open model, searched) at p99 ≤ 500 ms" in verdict.text
    doubts = [w.message for w in analysis.warnings]
    assert any("3 of 5 searches met the SLO at every rate" in d for d in doubts)


def test_rounds_pinned_by_an_overload_collapse_are_counted_and_warned(results: Results) -> None:
    def collapsing(variant: str, lo: float, hi: float, served: float, round_: int) -> Run:
        run = _search(
            variant, [(lo, 200), (hi, 1000)], "search" if round_ == 0 else "confirm", round_
        )
        failing = run.steps[1].model_copy(update={"rps": served})
        return run.model_copy(update={"steps": [run.steps[0], failing]})

    runs = [run_of("uvicorn", [closed(32, 300)]), run_of("granian", [closed(32, 250)])]
    # uvicorn: every round passed 900/s and was served 850/s at 1125/s: five equal samples.
    runs += [collapsing("uvicorn", 900, 1125, 850, r) for r in range(5)]
    runs += [collapsing("granian", 700, 875, 790, r) for r in range(5)]  # served above 700
    analysis = analyze(results.model_copy(update={"runs": runs}))
    first, second = analysis.verdict_for("cpu").candidates
    assert (first.label, first.collapsed, first.capacity_text) == (
        "uvicorn",
        5,
        "900.0 [900.0–900.0]",
    )
    assert (second.label, second.collapsed, second.capacity.median) == ("granian", 0, 790)
    doubts = [w.message for w in analysis.warnings if w.variant == "uvicorn"]
    assert any(
        d.startswith("5 of 5 searches were served less at their failing rate") for d in doubts
    )
    assert not any("served less" in w.message for w in analysis.warnings if w.variant == "granian")


def test_a_runner_up_whose_capacity_is_a_lower_bound_gives_no_lead(results: Results) -> None:
    runs = [run_of("uvicorn", [closed(32, 300)]), run_of("granian", [closed(32, 250)])]
    runs += [
        _search("uvicorn", [(1000, 70), (1250, 1000)], "search" if r == 0 else "confirm", r)
        for r in range(5)
    ]
    runs += [
        _search("granian", [(800, 70), (1000, 80)], "search" if r == 0 else "confirm", r)
        for r in range(5)
    ]
    verdict = analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu")
    assert verdict.winner == "uvicorn"
    assert verdict.comparison is not None and verdict.comparison.significant
    assert not verdict.significant  # granian may carry more than it was asked for
    assert "granian met the SLO at every rate tried" in verdict.text


def test_a_file_whose_rounds_repeated_the_closed_step_compares_those(results: Results) -> None:
    # Before every round searched, confirmation rounds re-measured the closed capacity step
    # and round 0's search stood alone: such files still give their n=5 closed verdict.
    def confirm(variant: str, rate: float, round_: int) -> Run:
        run = run_of(variant, [closed(32, rate)])
        return run.model_copy(update={"purpose": "confirm", "round": round_})

    runs = [run_of("uvicorn", [closed(32, 300)]), run_of("granian", [closed(32, 250)])]
    runs += [
        _search("uvicorn", [(300, 50), (600, 60), (1200, 70)], "search", 0),
        _search("granian", [(250, 50), (500, 900), (375, 60)], "search", 0),
    ]
    runs += [confirm("uvicorn", r, i + 1) for i, r in enumerate([299, 301, 303, 298])]
    runs += [confirm("granian", r, i + 1) for i, r in enumerate([249, 251, 252, 248])]
    verdict = analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu")
    first, second = verdict.candidates
    assert (first.label, first.capacity.n, second.capacity.n) == ("uvicorn", 5, 5)
    assert not first.searched
    assert first.capacity.median == 300
    assert verdict.significant


def test_a_lead_is_not_called_while_an_unsearched_rival_came_close_in_the_survey(
    results: Results,
) -> None:
    def rounds(variant: str, low: float) -> list[Run]:
        return [
            _search(variant, [(low, 250), (low * 1.25, 1000)], "confirm" if r else "search", r)
            for r in range(5)
        ]

    survey = [
        run_of("uvicorn", [closed(32, 300)]),
        run_of("granian", [closed(32, 250)]),
        run_of("uwsgi", [closed(32, 280)]),  # within 10 % of uvicorn's 300, never searched
        run_of("gunicorn-sync", [closed(32, 100)]),  # far below: no rival
    ]
    runs = [*survey, *rounds("uvicorn", 400), *rounds("granian", 300)]
    verdict = analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu")
    assert verdict.comparison is not None and verdict.comparison.significant
    assert verdict.rivals == ("uwsgi",)
    assert not verdict.significant
    assert "uwsgi came within 10% of uvicorn in the survey and was not searched" in verdict.text
    # Without the rival the same rounds make a significant lead.
    runs = [survey[0], survey[1], survey[3], *rounds("uvicorn", 400), *rounds("granian", 300)]
    assert analyze(results.model_copy(update={"runs": runs})).verdict_for("cpu").significant


def test_each_distance_gets_its_own_verdict(results: Results) -> None:
    near, far = Distance(db_rtt_ms=0), Distance(db_rtt_ms=100)

    def at(distance: Distance, variant: str, rps: float) -> Run:
        run = run_of(variant, [closed(8, rps)], workload="db-read")
        return run.model_copy(update={"distance": distance})

    runs = [
        at(near, "gunicorn-sync", 300), at(near, "uvicorn", 250),
        at(far, "gunicorn-sync", 9), at(far, "uvicorn", 70),
    ]  # fmt: skip
    analysis = analyze(results.model_copy(update={"runs": runs}))
    assert [(v.workload, v.distance) for v in analysis.verdicts] == [
        ("db-read", near), ("db-read", far),
    ]  # fmt: skip
    assert analysis.verdict_for("db-read", near).winner == "gunicorn-sync"
    assert analysis.verdict_for("db-read", far).winner == "uvicorn"
    assert analysis.verdict_for("db-read", far).winner_label == "uvicorn @ db +100 ms"
    assert analysis.verdicts_for("db-read") == analysis.verdicts
    assert [s.label for s in analysis.runs_for("db-read", far)] == [
        "gunicorn-sync @ db +100 ms", "uvicorn @ db +100 ms",
    ]  # fmt: skip
    assert len(analysis.runs_for("db-read")) == 4


def test_a_busy_latency_proxy_is_warned_and_counts_on_the_load_side(results: Results) -> None:
    busy = closed(8, 300).model_copy(
        update={
            "load_cpu_s": 4.0,
            "infra_cpu_s": 1.0,
            "db_path": ProxyTraffic(connections=1, round_trips=6000, cpu_s=9.0),
        }
    )
    run = run_of("uvicorn", [busy], workload="db-read").model_copy(
        update={"distance": Distance(db_rtt_ms=10)}
    )
    analysis = analyze(results.model_copy(update={"runs": [run]}))
    found = {w.kind: w.message for w in analysis.warnings}
    # 9 CPU-s in a 10 s window: 90 % of the proxy's one event loop.
    assert found["proxy-saturation"] == (
        "the latency proxy to Postgres used 90% of a CPU: its delays may exceed the round trip "
        "asked for"
    )
    # k6 4 + Postgres 1 + proxy 9 CPU-s over 10 s on the one load CPU.
    assert "load side near saturation (140% of its CPUs" in found["load-saturation"]
    assert "latency proxies 90%" in found["load-saturation"]


def test_refused_database_connections_are_named_even_in_a_failed_step(results: Results) -> None:
    refused = closed(128, 0.0, db_refused=37, status="failed", error="no successful responses")
    fine = closed(8, 900.0, db_refused=0)
    runs = [run_of("gunicorn-gevent", [fine, refused], workload="db-read")]
    found = [w for w in analyze(results.model_copy(update={"runs": runs})).warnings
             if w.kind == "db-refused"]  # fmt: skip
    assert [(w.load, w.variant) for w in found] == [("c=128", "gunicorn-gevent")]
    assert "Postgres refused 37 connection(s) for want of a free one" in str(found[0])


def test_a_leader_whose_later_measurements_failed_is_not_called_beaten(results: Results) -> None:
    def survey(variant: str, rps: float) -> Run:
        return run_of(variant, [closed(8, rps)]).model_copy(update={"purpose": "survey"})

    def search(variant: str, steps: list[Step], status: str = "ok") -> Run:
        return run_of(variant, steps).model_copy(update={"purpose": "search", "status": status})

    def opened(rate: float, rps: float, **extra: object) -> Step:
        step = closed(8, rps, **extra)
        return step.model_copy(update={"model": "open", "concurrency": None, "rate": rate})

    passed = opened(1000.0, 1000.0)
    failed = opened(990.0, 0.0, status="failed")
    runs = [
        survey("uwsgi", 1000.0), survey("gunicorn-gevent", 990.0),
        search("uwsgi", [passed]), search("gunicorn-gevent", [failed], "failed"),
    ]  # fmt: skip
    (verdict,) = analyze(results.model_copy(update={"runs": runs})).verdicts_for("cpu")
    assert verdict.winner == "uwsgi"
    assert verdict.lost == ("gunicorn-gevent",)
    assert verdict.text.endswith(
        "not compared: gunicorn-gevent met the SLO in the survey, but its later measurements failed"
    )
    assert not verdict.significant


def failed_run(variant: str, error: str, workload: str = "cpu") -> Run:
    return run_of(variant, [], workload).model_copy(update={"status": "failed", "error": error})


def test_no_verdict_is_drawn_from_no_measurement(results: Results) -> None:
    """Every run failed: the verdict counts the causes, and never says "no variant met the
    SLO" (which would claim they were measured)."""
    gone = "verify: GET http://127.0.0.1:8000/ answered 404 (expected 200): Not Found"
    k6 = "k6 exited with status 107: GoError: stat scenario.json: no such file or directory"
    runs = [
        failed_run("uvicorn", gone),
        failed_run("granian", gone),
        failed_run("uwsgi", f"1 of 1 steps failed: {k6}").model_copy(
            update={"steps": [closed(8, 0.0, status="failed", error=k6)]}
        ),
    ]
    analysis = analyze(results.model_copy(update={"runs": runs, "faults": []}))
    verdict = analysis.verdict_for("cpu")
    assert verdict.text == f"no measurement: {gone} (2 runs); {k6} (1 run)"
    assert [(g.cause, g.places) for g in analysis.failures] == [
        (gone, ("cpu / uvicorn", "cpu / granian")),
        (k6, ("cpu / uwsgi",)),
    ]
    # One measured step anywhere in the case, even missing the SLO: then it is a finding.
    measured = [*runs, run_of("gunicorn-sync", [closed(8, 50.0, p99=900)])]
    again = analyze(results.model_copy(update={"runs": measured, "faults": []}))
    assert again.verdict_for("cpu").text == "no variant met the SLO"


def test_a_saturated_step_is_no_failure_and_no_capacity(results: Results) -> None:
    saturated = closed(128, 0.0, status="saturated", error="no successful responses")
    run = run_of("uvicorn", [closed(8, 90.0), closed(32, 95.0), saturated])
    analysis = analyze(results.model_copy(update={"runs": [run], "faults": []}))
    (only,) = analysis.runs_for("cpu")
    assert only.slo_misses[2] == ("saturated",)
    assert only.capacity_rps == 95.0
    assert analysis.failures == ()
    # No self-check doubts a step that is no measurement (0 req/s, every request timed out).
    assert not [w for w in analysis.warnings if w.load == "c=128"]


def test_outside_load_on_the_server_s_cpu_is_warned_and_said_first(results: Results) -> None:
    quiet = closed(8, 90.0, outside_cpu_s=0.2)  # 2 % of a CPU over 10 s: the machine's noise
    busy = closed(32, 60.0, outside_cpu_s=4.6)  # 46 %: a compiler on the server's CPU
    run = run_of("uvicorn", [quiet, busy]).model_copy(update={"load_average": (3.4, 2.0, 1.0)})
    analysis = analyze(results.model_copy(update={"runs": [run], "faults": []}))
    fired = [w for w in analysis.warnings if w.kind == "outside-load"]
    assert [w.load for w in fired] == ["c=32"]
    assert "used 46% of a CPU on the server's CPU" in fired[0].message
    assert analysis.busy_machine == (
        "measured on a busy machine: in 1 of 2 steps something other than the server used more "
        "than 5% of a CPU on the server's CPU (up to 46%); those steps read low"
    )
    calm = run_of("uvicorn", [quiet])
    assert analyze(results.model_copy(update={"runs": [calm]})).busy_machine is None


def test_a_lone_searched_winner_names_the_survey_s_others_it_was_not_compared_with(
    results: Results,
) -> None:
    """uwsgi and gevent led the survey; gevent's search failed, gthread (third) was never
    searched: the verdict may not say that no other variant met the SLO."""

    def searched(variant: str, rates: list[float], ok: bool) -> Run:
        steps = [
            closed(8, r, p99=100 if ok else 900).model_copy(
                update={"model": "open", "concurrency": None, "rate": r}
            )
            for r in rates
        ]
        return run_of(variant, steps).model_copy(update={"purpose": "search"})

    runs = [
        run_of("uwsgi", [closed(8, 880.0)]),
        run_of("gunicorn-gevent", [closed(8, 672.0)]),
        run_of("gunicorn-gthread", [closed(8, 666.0)]),
        searched("uwsgi", [800.0, 1000.0], ok=True),
        searched("gunicorn-gevent", [672.0, 538.0], ok=False),
    ]
    verdict = analyze(results.model_copy(update={"runs": runs, "faults": []})).verdict_for("cpu")
    assert verdict.text.endswith(
        "; gunicorn-gevent met the SLO in the survey, but missed it at every rate measured "
        "after (672/s, 538/s); not compared: gunicorn-gthread met the SLO in the survey and was "
        "not searched or confirmed"
    ), verdict.text


def test_a_contender_whose_search_met_the_slo_but_was_not_confirmed_is_not_called_a_loser(
    results: Results,
) -> None:
    """Tied at the ladder's top, three were searched and the two best confirmed: the third's
    search met the SLO, so it did not "miss it at every rate"; and the plan takes its search."""
    from djbench.outputs.capacity_plan import plan_capacity

    def searched(variant: str, purpose: str, rates: list[float], p99: float) -> Run:
        steps = [
            closed(8, r, p99=p99).model_copy(
                update={"model": "open", "concurrency": None, "rate": r}
            )
            for r in rates
        ]
        return run_of(variant, steps).model_copy(update={"purpose": purpose})

    runs = [
        run_of("uwsgi", [closed(8, 880.0)]),
        run_of("granian", [closed(8, 870.0)]),
        run_of("gunicorn-gthread", [closed(8, 860.0)]),
        searched("uwsgi", "search", [900.0], 100),
        searched("granian", "search", [880.0], 100),
        searched("gunicorn-gthread", "search", [700.0], 100),
        searched("uwsgi", "confirm", [850.0], 100),
        searched("granian", "confirm", [840.0], 100),
    ]
    fixture = results.model_copy(update={"runs": runs, "faults": []})
    verdict = analyze(fixture).verdict_for("cpu")
    assert verdict.missed == ()
    assert verdict.unsearched == ("gunicorn-gthread",)
    plan = plan_capacity(fixture, target_rps=1000)
    gthread = next(p for p in plan.plans if p.variant == "gunicorn-gthread")
    assert gthread.capacity.median == 700.0  # its search's, a lower bound: nothing failed
    assert gthread.lower_bound
