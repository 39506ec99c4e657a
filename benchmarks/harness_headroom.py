"""Is the harness the bottleneck? A benchmark, not a test: it prints ratios measured here.

1. k6's own CPU at the highest step of the default profile (128 VUs), for every standard
   variant and default workload: the share of its CPU that k6 used, and the headroom left.
2. The stub API's headroom: the highest call rate the default profile's runs drove into it
   (upstream req/s × calls per request), then the stub API alone, driven by k6 at 1×, 2× and
   4× that rate: extra latency over the requested delay, errors, drops and its CPU share.

Usage: .venv/bin/python benchmarks/harness_headroom.py [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from djbench.backends.local.backend import LocalBackend
from djbench.backends.local.cpus import plan_cpus
from djbench.backends.local.k6_process import k6_process, wait_k6
from djbench.backends.local.processes import free_port, wait_http
from djbench.backends.local.programs import HOST, stub_api
from djbench.measure.collectors import Sampler
from djbench.measure.environment import collect_environment
from djbench.measure.k6 import StepTarget, find_k6, k6_version
from djbench.model.results import Results
from djbench.model.scenario_file import load_profile, revalidate
from djbench.model.setup import LoadStep
from djbench.outputs.progress import RichProgress
from djbench.plan.measurement import make_plan
from djbench.run.runner import execute

console = Console()


def k6_cpu_at_top_step(out: Path, k6: Path) -> Results:
    """The default profile reduced to its highest closed step, on every standard variant."""
    default = load_profile("default")
    top = max(default.closed.concurrency)
    scenario = revalidate(
        default,
        {"name": "harness-headroom", "closed": {"concurrency": [top]}, "open": {}},
        "benchmark",
    )
    plan = make_plan(scenario)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    layout = plan_cpus()
    backend = LocalBackend(
        plan.scenario, out_dir=out, layout=layout, k6=k6, port=free_port(), run_id=stamp
    )
    version = k6_version(k6)
    with RichProgress(console, plan.total_steps) as progress:
        return execute(
            plan,
            backend,
            out,
            lambda: collect_environment(
                version, plan.scenario.calls_upstream, **backend.environment_extra()
            ),
            progress,
        )


def stub_headroom(out: Path, k6: Path, demand: float, delay_ms: int) -> list[dict[str, float]]:
    """Drive the stub API alone at multiples of ``demand`` calls/s; one row per multiple."""
    layout = plan_cpus()
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(out)}
    proc = stub_api(port, env, layout.infra_arg, out / "stubapi.log")
    base = load_profile("default")
    scenario = revalidate(base, {"name": "stub-headroom", "warmup_s": 1, "duration_s": 5}, "stub")
    doc = scenario.resolved()
    doc["requests"] = {
        "stub": {"method": "GET", "path": f"/delay/{delay_ms}", "query": {}, "body": None}
    }
    scenario_file = out / "stub-scenario.json"
    scenario_file.write_text(json.dumps(doc))
    rows = []
    proc.start()
    try:
        wait_http(f"http://{HOST}:{port}/healthz", proc, timeout=30)
        for multiple in (1, 2, 4):
            step = LoadStep("open", round(demand * multiple, 1))
            work = out / f"stub-{multiple}x"
            work.mkdir(parents=True, exist_ok=True)
            # The stub's path has no {views} part: "none" fills the required field.
            url = f"http://{HOST}:{port}"
            target = StepTarget(
                url, "stubapi", "none", "stub", "open", step.level, 1, 5,
                max_vus=step.vus(scenario), pre_vus=step.pre_vus(scenario),
            )  # fmt: skip
            load = k6_process(
                k6, scenario_file, target, summary=work / "summary.json",
                log=work / "k6.log", cpus=layout.infra_arg, run_id="stub",
            )  # fmt: skip
            sampler = Sampler({"stub": proc.tree, "k6": load.tree})
            with sampler:
                load.start()
                stats = wait_k6(load, work / "summary.json", 120, 1, 5)
            load.stop()
            cpu_s, _ = sampler.window("stub", stats.window_start, stats.window_end)
            k6_s, _ = sampler.window("k6", stats.window_start, stats.window_end)
            rows.append(
                {
                    "multiple": multiple,
                    "rate": step.level,
                    "achieved": (stats.requests - stats.errors) / stats.duration_s,
                    "p50_extra_ms": stats.latency.p50 - delay_ms,
                    "p99_extra_ms": stats.latency.p99 - delay_ms,
                    "errors": stats.errors,
                    "dropped": stats.dropped,
                    "stub_cpu": cpu_s / stats.duration_s,
                    "k6_cpu": k6_s / stats.duration_s,
                }
            )
    finally:
        proc.stop()
    return rows


def main() -> None:
    """Run both measurements and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out: Path = args.out or Path("results") / f"harness-headroom-{stamp}"
    k6 = find_k6()

    results = k6_cpu_at_top_step(out, k6)
    table = Table(title="k6 at the default profile's highest step (128 VUs)")
    for col in ("variant", "workload", "req/s", "k6 CPU share", "k6 headroom", "server CPU"):
        table.add_column(col, justify="right" if col not in ("variant", "workload") else "left")
    upstream_top = 0.0
    for run in results.runs:
        for step in run.steps:
            share = (step.load_cpu_s or 0.0) / step.duration_s if step.duration_s else 0.0
            table.add_row(
                run.variant, run.workload, f"{step.rps:.1f}", f"{share:.1%}",
                f"{1 / share:.1f}×" if share else "—", f"{step.cpu_util:.0%}",
            )  # fmt: skip
            if run.workload == "upstream":
                upstream_top = max(upstream_top, step.rps)
    console.print(table)

    calls = len(results.scenario["upstream_delays_ms"])
    demand = upstream_top * calls
    delay = int(max(results.scenario["upstream_delays_ms"]))
    console.print(
        f"highest stub API demand in these runs: {upstream_top:.1f} upstream req/s × {calls} "
        f"calls = {demand:.1f} calls/s"
    )
    rows = stub_headroom(out, k6, max(demand, 1.0), delay)
    stub_table = Table(title=f"stub API alone, GET /delay/{delay}")
    for col in ("× demand", "calls/s", "achieved", "p50 extra ms", "p99 extra ms", "errors",
                "dropped", "stub CPU share", "k6 CPU share"):  # fmt: skip
        stub_table.add_column(col, justify="right")
    for r in rows:
        stub_table.add_row(
            f"{r['multiple']:.0f}×", f"{r['rate']:.1f}", f"{r['achieved']:.1f}",
            f"{r['p50_extra_ms']:.1f}", f"{r['p99_extra_ms']:.1f}", f"{r['errors']:.0f}",
            f"{r['dropped']:.0f}", f"{r['stub_cpu']:.1%}", f"{r['k6_cpu']:.1%}",
        )  # fmt: skip
    console.print(stub_table)
    one = rows[0]
    if one["stub_cpu"] > 0:
        console.print(
            f"stub API CPU headroom at the highest demand: {1 / one['stub_cpu']:.1f}× "
            f"(it used {one['stub_cpu']:.1%} of a CPU for {one['rate']:.0f} calls/s)"
        )
    console.print(f"raw results: {out}")


if __name__ == "__main__":
    main()
