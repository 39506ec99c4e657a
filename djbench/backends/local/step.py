"""One local step: k6 on the load CPUs against a server running as a local process tree, and
everything sampled around it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from djbench.backends.local.cpus import CpuLayout, busy_cpu_s, throttled_s
from djbench.backends.local.k6_process import k6_process, wait_k6
from djbench.backends.local.postgres import ConnectionCount, PostgresInfo
from djbench.backends.local.processes import ManagedProcess, exit_status
from djbench.backends.local.proxies import Proxy
from djbench.backends.steps import ServerSide, failed_step, measured_step, refused_cause
from djbench.measure.collectors import Sampler
from djbench.measure.k6 import StepTarget
from djbench.measure.proxy_traffic import proxy_traffic
from djbench.measure.stub_traffic import parse_traffic, stats_path, wait_past
from djbench.model.errors import DjbenchError
from djbench.model.pod import PodFacts
from djbench.model.results import PathCheck, Step, UpstreamTraffic
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import Variant


@dataclass(frozen=True)
class StepPlace:
    """Where one step runs: k6 and the scenario it reads, the CPUs, the run, its folder."""

    k6: Path
    scenario_file: Path
    layout: CpuLayout
    run_id: str
    work: Path
    """This step's own folder (its k6 summary and log)."""


@dataclass
class LocalServer:
    """A variant running as a local process tree."""

    setup: Setup
    url: str
    process: ManagedProcess
    cgroup: Path | None
    proxies: list[Proxy] = field(default_factory=list)
    """The latency proxies between this server and Postgres / the stub API."""
    paths: list[PathCheck] = field(default_factory=list)
    """Their added round-trip times, measured before the server started."""
    pod: PodFacts | None = None
    """No pod locally (None): the server is a process tree on this machine."""

    @property
    def variant(self) -> Variant:
        """The variant this server runs."""
        return self.setup.variant

    def alive(self) -> bool:
        """False once the server has exited."""
        return self.process.running()

    def describe_exit(self) -> str:
        """Exit status and the last lines of the server's output."""
        code = self.process.returncode()
        status = "no status yet" if code is None else exit_status(code)
        return f"{self.variant.name} exited with {status}: {self.process.log_tail(5)}"


def measure_step(
    server: LocalServer,
    workload: str,
    step: LoadStep,
    scenario: Scenario,
    place: StepPlace,
    infra: list[ManagedProcess],
    postgres: PostgresInfo | None,
    stub_url: str,
) -> Step:
    """Run k6 for one step on the load CPUs while sampling the server's process tree (and
    what else the step needs: Postgres's connections and refusals, the stub's count, the
    proxies' counters, the server CPUs' outside load)."""
    work = place.work
    work.mkdir(parents=True, exist_ok=True)
    summary = work / "summary.json"
    s = scenario
    warmup_s, duration_s = step.times(s)
    target = StepTarget(
        target=server.url,
        variant=server.variant.name,
        views=server.variant.views,
        workload=workload,
        model=step.model,
        level=step.level,
        warmup_s=warmup_s,
        duration_s=duration_s,
        max_vus=step.vus(s),
        pre_vus=step.pre_vus(s),
        client=server.setup.client,
    )
    k6 = k6_process(
        place.k6, place.scenario_file, target, summary=summary, log=work / "k6.log",
        cpus=place.layout.infra_arg, run_id=place.run_id,
    )  # fmt: skip
    timeout = warmup_s + duration_s + s.request_timeout_s + 60
    sampler = Sampler(
        {
            "server": server.process.tree,
            "k6": k6.tree,
            "infra": lambda: [p for proc in infra for p in proc.tree()],
        },
        counters={
            "throttled": lambda: throttled_s(server.cgroup),
            "server_cpus": lambda: busy_cpu_s(place.layout.server),
            **{k: c for p in server.proxies for k, c in p.stats.sampled().items()},
        },
    )
    log_at = postgres.log_position() if postgres else None
    try:
        counting = ConnectionCount(postgres) if postgres else None
    except psycopg.Error:
        counting = None  # bookkeeping: the step's own numbers stand without it
    if counting is not None:
        sampler.add_gauge("db_connections", counting)
    try:
        with sampler:
            k6.start()
            stats = wait_k6(k6, summary, timeout, warmup_s, duration_s)
    except DjbenchError as exc:
        return failed_step(step, str(exc))
    finally:
        k6.stop()
        if counting is not None:
            counting.close()
    window = (stats.window_start, stats.window_end)
    cpu_s, rss = sampler.window("server", *window)
    load_cpu_s, _ = sampler.window("k6", stats.window_start, stats.window_end)
    infra_cpu_s, _ = sampler.window("infra", stats.window_start, stats.window_end)
    throttled = (
        sampler.window("throttled", stats.window_start, stats.window_end)[0]
        if sampler.has("throttled")
        else None
    )
    side = ServerSide(
        cpu_s=cpu_s,
        rss_bytes=rss,
        cpu_budget=server.setup.shape.cpus if server.setup.shape else len(place.layout.server),
        load_cpu_s=load_cpu_s,
        infra_cpu_s=infra_cpu_s,
        throttled_s=throttled,
    )
    error = None if server.alive() else server.describe_exit()
    upstream = None
    if scenario.kind(workload).touches_upstream:
        # The stub's count is bookkeeping: without it the step's own numbers still stand.
        with contextlib.suppress(DjbenchError):
            upstream = stub_traffic(stub_url, stats.window_start, stats.window_end)
    paths = {
        proxy.path: proxy_traffic(sampler, proxy.path, stats.window_start, stats.window_end)
        for proxy in server.proxies
    }
    refused = postgres.refusals(log_at) if postgres is not None and log_at is not None else None
    held = (
        sampler.window("db_connections", stats.window_start, stats.window_end)[1]
        if counting is not None and sampler.has("db_connections")
        else None
    )
    # Whatever else worked on the server's CPUs: the kernel's count of them, less the
    # server's own (a compiler, a test run beside the benchmark, the machine's host).
    outside = (
        round(max(sampler.window("server_cpus", *window)[0] - cpu_s, 0.0), 4)
        if sampler.has("server_cpus") and place.layout.server != place.layout.infra
        else None
    )
    result = measured_step(step, stats, side, error, upstream, scenario.mix.get(workload))
    if result.status == "failed" and refused:
        # The server ran the database out of connections: that, not the timeouts or
        # errors it answered with, is why the step failed.
        result = result.model_copy(update={"error": f"{refused_cause(refused)}; {result.error}"})
    return result.model_copy(
        update={
            "db_connections": held,
            "db_path": paths.get("db"),
            "upstream_path": paths.get("upstream"),
            "db_refused": refused,
            "outside_cpu_s": outside,
        }
    )


def stub_traffic(stub_url: str, start: float, end: float) -> UpstreamTraffic:
    """The stub API's own count of a window of calls (``GET /stats``)."""
    url = stub_url + stats_path(start, end)
    wait_past(end)
    try:
        res = httpx.get(url, timeout=10)
    except httpx.HTTPError as exc:
        raise DjbenchError(f"stub API /stats failed: {exc}") from exc
    if res.status_code != 200:
        raise DjbenchError(f"stub API /stats answered {res.status_code}: {res.text[:200]}")
    return parse_traffic(res.text)
