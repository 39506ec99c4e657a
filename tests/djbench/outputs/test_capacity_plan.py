"""The capacity plan against a hand calculation on a results fixture, and its values files
rendered by the real helm against charts/django-variant (its schema included)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djbench.backends.kubernetes.kube import REPO
from djbench.model.errors import DjbenchError
from djbench.model.pod import Shape
from djbench.model.results import DIRECT, Run
from djbench.model.results_file import load_results
from djbench.outputs.capacity_plan import memory_request_mib, plan_capacity, pods_needed
from djbench.outputs.capacity_values import plan_rows, write_values

FIXTURE = Path(__file__).parents[1] / "fixtures" / "results-plan.json"


def _plan(**kwargs: Any) -> Any:
    return plan_capacity(load_results(FIXTURE), **{"target_rps": 1000, "headroom": 1.25, **kwargs})


def test_pods_match_a_hand_calculation() -> None:
    plan = _plan()
    # db-read, gunicorn-gthread: three rounds at SLO (p99 <= 500 ms): 410.0, 395.5 and 402.3
    # req/s; median 402.3, and the low end of its interval is the lowest sample. 1,000 req/s
    # x 1.25 / 395.5 = 3.16: 4 pods (3 on the median: 1,250 / 402.3 = 3.1, the same here).
    gthread = plan.best("db-read", DIRECT)
    assert gthread is not None and gthread.variant == "gunicorn-gthread"
    assert (gthread.capacity.median, gthread.planned_rps) == (402.3, 395.5)
    assert gthread.pods == 4
    # One CPU each (9.0 CPU-s over 10 s at 90 %), memory 84.7 MiB peak x 1.25 = 105.9,
    # rounded up to 32 Mi: 128 Mi; the pool's 16 connections x 4 pods.
    assert (gthread.cpu, gthread.total_cpu, gthread.memory_mib) == (1.0, 4.0, 128)
    assert (gthread.db_connections, gthread.pool_max) == (64, 16)
    # cpu: one survey round each, planned on its one sample (the best step within 500 ms).
    # gunicorn-sync 98.0 req/s: 1,250 / 98.0 = 12.8, 13 pods; uvicorn 96.5: 12.95, 13 pods;
    # uvicorn-syncviews 97.9 (its 99.0 at 32 users had 4 % errors): 12.8, 13 pods. No
    # database: no connections.
    cpu = {p.variant: p for p in plan.plans if p.workload == "cpu"}
    assert {v: (p.planned_rps, p.pods) for v, p in cpu.items()} == {
        "gunicorn-sync": (98.0, 13),
        "uvicorn": (96.5, 13),
        "uvicorn-syncviews": (97.9, 13),
    }
    assert all(p.db_connections is None for p in cpu.values())
    # upstream (p99 <= 2 s): uvicorn served 149.8 req/s at 150.4/s offered: 1,250 / 149.8
    # = 8.3, 9 pods; gunicorn-sync 1.6 req/s at one user: 782 pods.
    upstream = {p.variant: p.pods for p in plan.plans if p.workload == "upstream"}
    assert upstream["uvicorn"] == 9
    assert upstream["gunicorn-sync"] == 782


def test_variants_that_never_met_the_slo_are_named_with_why() -> None:
    plan = _plan()
    unfit = {(u.workload, u.label): u.reason for u in plan.unfit}
    assert unfit[("db-read", "uvicorn")] == "at its lightest load (c=8): p99 620 ms > 500 ms"
    # A stricter SLO: gunicorn-gthread's rounds no longer meet it either.
    strict = _plan(p99_ms=100)
    assert strict.best("db-read", DIRECT) is None
    reason = {u.label: u.reason for u in strict.unfit if u.workload == "db-read"}
    assert reason["gunicorn-gthread"] == "at its lightest load (c=8): p99 140 ms > 100 ms"


def test_connections_over_postgres_max_are_marked() -> None:
    plan = _plan(max_connections=50)
    (row,) = plan_rows(plan, "db-read", DIRECT)
    assert row[:3] == ("gunicorn-gthread", "3", "402.3 [395.5–410.0]")
    assert row[8] == "64 = 4 × 16 (over max_connections)"


def test_rounding_and_bad_input() -> None:
    assert pods_needed(1000, 1.0, 250.0) == 4  # exactly 4, not 5
    assert pods_needed(1, 1.0, 500.0) == 1
    assert memory_request_mib(58.5) == 96
    for kwargs, message in (
        ({"target_rps": 0}, "target rate must be a positive req/s"),
        ({"headroom": 0.5}, "headroom is a factor of at least 1"),
        ({"p99_ms": -1}, "SLO p99 must be a positive number of ms"),
    ):
        with pytest.raises(DjbenchError, match=message):
            _plan(**kwargs)


def test_the_values_files_render_with_the_variant_chart(helm: Path, tmp_path: Path) -> None:
    written = write_values(_plan(), tmp_path)
    path = tmp_path / "db-read" / "gunicorn-gthread.yaml"
    assert path in written
    assert path.read_text().startswith("# djbench plan: gunicorn-gthread for db-read, 1000 req/s")
    done = subprocess.run(
        [str(helm), "template", "gunicorn-gthread", str(REPO / "charts" / "django-variant"),
         "--namespace", "djbench", "--values", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 4
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    guaranteed = {"cpu": "1", "memory": "128Mi"}
    assert container["resources"] == {"requests": guaranteed, "limits": guaranteed}
    # Every values file the plan wrote passes the chart's schema.
    for other in written:
        rendered = subprocess.run(
            [str(helm), "template", "x", str(REPO / "charts" / "django-variant"),
             "--values", str(other)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert rendered.returncode == 0, (other, rendered.stderr)


def test_a_run_stopped_by_a_fault_plans_nothing() -> None:
    from djbench.model.results import Fault

    results = load_results(FIXTURE)
    fault = Fault(
        message="Postgres exited with signal 9 (SIGKILL)", workload="db-read", variant="x"
    )
    plan = plan_capacity(results.model_copy(update={"faults": [fault]}), 1000)
    assert plan.plans == ()
    assert {u.reason for u in plan.unfit} == {
        "no plan: Postgres exited with signal 9 (SIGKILL) during x / db-read; the run stopped there"
    }


def _as_project(results: Any, held: Any) -> Any:
    """The fixture's results as a team's project's, each step holding ``held(run, i, step)``
    database connections."""
    from djbench.model.results import ProjectInfo

    runs = [
        r.model_copy(
            update={
                "steps": [
                    s.model_copy(update={"db_connections": held(r, i, s)})
                    for i, s in enumerate(r.steps)
                ]
            }
        )
        for r in results.runs
    ]
    names = {r.workload for r in results.runs}
    scenario = {
        **results.scenario,
        "requests": {name: {"path": f"/{name}/"} for name in sorted(names)},
        "slo": {},
        "params": {},
    }
    project = ProjectInfo(
        name="shop", file="/x/djbench.yaml", settings="shop.settings",
        entry_points={"wsgi": "shop.wsgi:application"}, database="embedded", env={},
    )  # fmt: skip
    return results.model_copy(update={"runs": runs, "scenario": scenario, "project": project})


def test_a_project_s_connections_per_pod_are_what_its_server_held() -> None:
    """A team's project sizes its connections in its settings: the plan takes the most its
    server held at once in a step (measured), not a pool size."""
    held = {"gunicorn-gthread": 11, "uvicorn": 37}
    results = _as_project(load_results(FIXTURE), lambda r, i, s: held.get(r.variant, 5) - i)
    plan = plan_capacity(results, target_rps=1000, headroom=1.25)
    gthread = plan.best("db-read", DIRECT)
    assert gthread is not None and gthread.variant == "gunicorn-gthread"
    assert (gthread.pods, gthread.pool_max, gthread.db_connections) == (4, 11, 44)


def test_connections_held_in_overload_above_the_planned_rate_do_not_size_a_pod() -> None:
    # gthread's c=128 step (415.1 req/s, above the 395.5 planned per pod) held 90: a queue
    # of requests a pod planned at 395.5 never sees. The steps at or below it held 11.
    def held(run: Any, i: int, step: Any) -> int:
        # c=32 (410 req/s) is above the plan's rate too; c=8 (310) and the rounds' 395.5 not.
        return 90 if step.concurrency == 128 else 11

    plan = plan_capacity(_as_project(load_results(FIXTURE), held), target_rps=1000)
    gthread = plan.best("db-read", DIRECT)
    assert gthread is not None and gthread.planned_rps == 395.5
    assert gthread.pool_max == 11


def test_a_closed_step_past_the_slo_does_not_size_a_pod_s_connections() -> None:
    # gunicorn-sync on cpu served 95-98 req/s at every level, planned at 98.0 (c=8): c=128
    # served 96.2, below that rate, but at a p99 of 1,453 ms, out of the 500 ms SLO; its 128
    # users' connections are no pod's. c=32 (97.4 req/s, p99 361 ms) is the most within it.
    def held(run: Any, i: int, step: Any) -> int:
        return step.concurrency or 1

    plan = plan_capacity(_as_project(load_results(FIXTURE), held), target_rps=100)
    sync = next(p for p in plan.plans if p.workload == "cpu" and p.variant == "gunicorn-sync")
    assert sync.planned_rps == 98.0
    assert sync.pool_max == 32


def _rendered_deployment(helm: Path, values: Path) -> dict[str, Any]:
    """The Deployment the variant chart renders with a planned values file (its schema
    checked by ``helm template``)."""
    done = subprocess.run(
        [str(helm), "template", "gunicorn-gthread", str(REPO / "charts" / "django-variant"),
         "--values", str(values)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = yaml.safe_load_all(done.stdout)
    deployment: dict[str, Any] = next(o for o in objects if o and o["kind"] == "Deployment")
    return deployment


def test_a_shaped_run_plans_pods_of_its_shape(helm: Path, tmp_path: Path) -> None:
    results = load_results(FIXTURE)
    shape = Shape(threads=16, workers=2, cpus=0.5)
    runs = [
        r.model_copy(update={"shape": shape, "slots": 32})
        if (r.variant, r.workload) == ("gunicorn-gthread", "db-read")
        else r
        for r in results.runs
    ]
    plan = plan_capacity(results.model_copy(update={"runs": runs}), target_rps=1000, headroom=1.25)
    gthread = plan.best("db-read", DIRECT)
    assert gthread is not None and gthread.shape == shape
    # The same rounds as the standard shape's hand calculation: 4 pods, now of half a CPU,
    # and each of the two workers holds its own pool of 16 connections (its 16 threads).
    assert (gthread.pods, gthread.cpu, gthread.total_cpu) == (4, 0.5, 2.0)
    assert (gthread.pool_max, gthread.db_connections) == (32, 128)
    written = write_values(plan, tmp_path)
    path = tmp_path / "db-read" / "gunicorn-gthread-16-threads-2-workers-0.5-cpu.yaml"
    assert path in written
    deployment = _rendered_deployment(helm, path)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "128Mi"}
    argv = container["args"] if "args" in container else container["command"]
    assert argv[argv.index("--threads") + 1] == "16"
    assert argv[argv.index("--workers") + 1] == "2"


def _shaped(run: Run, shape: Shape, best_rps: float, rss: float) -> Run:
    """``run`` measured in ``shape``: its steps' throughput scaled so the best is
    ``best_rps``, every step at ``rss`` MiB."""
    top = max(s.rps for s in run.steps)
    steps = [
        s.model_copy(update={"rps": s.rps * best_rps / top, "rss_mib": rss}) for s in run.steps
    ]
    return run.model_copy(update={"shape": shape, "steps": steps})


def test_the_plan_ranks_shapes_by_total_cpu_and_names_workers_that_add_little() -> None:
    results = load_results(FIXTURE)
    sync = next(r for r in results.runs if (r.variant, r.workload) == ("gunicorn-sync", "cpu"))
    one = Shape(threads=1, workers=1, cpus=1.0)
    two = Shape(threads=1, workers=2, cpus=1.0)
    half = Shape(threads=1, workers=1, cpus=0.5)
    shaped = [
        _shaped(sync, one, 98.0, 60.0),
        _shaped(sync, two, 100.0, 120.0),
        _shaped(sync, half, 50.0, 60.0),
    ]
    others = [r for r in results.runs if r.workload != "cpu"]
    plan = plan_capacity(
        results.model_copy(update={"runs": [*others, *shaped]}), target_rps=1000, headroom=1.25
    )
    cpu = [p for p in plan.plans if p.workload == "cpu"]
    # By hand, 1,000 req/s × 1.25 = 1,250: half a CPU at 50 req/s needs 25 pods, 12.5 CPUs;
    # one worker on a CPU at 98 needs 13 pods, 13 CPUs; two workers at 100 need 12.5, so 13
    # pods and 13 CPUs, but twice the memory (120 MiB × 1.25 → 160 Mi against 96 Mi).
    assert [(p.shape, p.pods, p.total_cpu, p.memory_mib) for p in cpu] == [
        (half, 25, 12.5, 96),
        (one, 13, 13.0, 96),
        (two, 13, 13.0, 160),
    ]
    assert plan.best("cpu", DIRECT) == cpu[0]
    # Two workers on the same CPU carried 100 / 98 = 1.02× one's: named against linear 2×.
    (scaling,) = plan.scaling
    assert scaling.workers == (1, 2) and scaling.ratio == pytest.approx(100 / 98)
    assert (
        scaling.text
        == "gunicorn-sync ×1 thread · 1 CPU: 2 workers carry 1.02× what 1 does (linear: 2×)"
    )


def test_a_capacity_the_ladder_s_top_may_have_capped_proves_no_shortfall_of_workers() -> None:
    results = load_results(FIXTURE)
    sync = next(r for r in results.runs if (r.variant, r.workload) == ("gunicorn-sync", "cpu"))
    one = _shaped(sync, Shape(threads=1, workers=1, cpus=1.0), 98.0, 60.0)
    # Two workers' best within the SLO is the ladder's top, c=128: the load may have been the
    # limit there, so 1.1× one worker is a lower bound, not a measured shortfall.
    steps = [
        s.model_copy(
            update={"rps": 108.0, "latency_ms": s.latency_ms.model_copy(update={"p99": 100.0})}
        )
        if s.concurrency == 128
        else s
        for s in one.steps
    ]
    two = one.model_copy(update={"shape": Shape(threads=1, workers=2, cpus=1.0), "steps": steps})
    others = [r for r in results.runs if r.workload != "cpu"]
    plan = plan_capacity(
        results.model_copy(update={"runs": [*others, one, two]}), target_rps=1000, headroom=1.25
    )
    capped = next(p for p in plan.plans if p.shape == two.shape)
    assert capped.lower_bound and capped.capacity.median == 108.0
    assert plan.scaling == ()


def test_a_mix_plans_pods_by_its_own_capacity(helm: Path, tmp_path: Path) -> None:
    results = load_results(FIXTURE)
    # A mix measured like db-read's gunicorn-gthread rounds, at half their rates.
    mix = [
        r.model_copy(
            update={
                "workload": "shop",
                "steps": [s.model_copy(update={"rps": s.rps / 2}) for s in r.steps],
            }
        )
        for r in results.runs
        if (r.variant, r.workload) == ("gunicorn-gthread", "db-read")
    ]
    scenario = {
        **results.scenario,
        "workloads": [*results.scenario["workloads"], "shop"],
        "mix": {"shop": {"db-read": 0.6, "cpu": 0.4}},
    }
    shop = results.model_copy(update={"runs": [*results.runs, *mix], "scenario": scenario})
    plan = plan_capacity(shop, target_rps=1000, headroom=1.25)
    best = plan.best("shop", DIRECT)
    # By hand: rounds 410.0 / 2 = 205.0, 395.5 / 2 = 197.75 and 402.3 / 2 = 201.15; the
    # median 201.15, planned on the interval's low end 197.75: 1,250 / 197.75 = 6.3, 7 pods
    # of one CPU. Its db-read part uses the database: each pod's pool of 16 connections.
    assert best is not None and best.variant == "gunicorn-gthread"
    assert (best.capacity.median, best.planned_rps) == (201.15, 197.75)
    assert (best.pods, best.total_cpu, best.db_connections) == (7, 7.0, 112)
    written = write_values(plan, tmp_path)
    path = tmp_path / "shop" / "gunicorn-gthread.yaml"
    assert path in written
    deployment = _rendered_deployment(helm, path)
    assert deployment["spec"]["replicas"] == 7
