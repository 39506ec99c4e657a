"""The Kubernetes backend's lifecycle: infrastructure checked, a variant's release at a time,
each step a k6 Job watched to its end, the server side read from Prometheus."""

from __future__ import annotations

import contextlib
import json
import math
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from benchapp.catalog import WORKLOADS
from djbench.backends.kubernetes.k6_logs import merge_client_stats, summaries_from_logs
from djbench.backends.kubernetes.promql import (
    PUSH_INTERVAL_S,
    QUANTILES,
    SCRAPE_INTERVAL_S,
    latency_query,
    selector,
    usage_queries,
)
from djbench.backends.kubernetes.releases import (
    CHARTS,
    LOADTEST_CHART,
    SERVER_PORT,
    VARIANT_CHART,
    cpu_quantity,
    step_install_args,
    step_release,
    variant_install_args,
    variant_release,
)
from djbench.backends.steps import ServerSide, failed_step, measured_step
from djbench.errors import DjbenchError
from djbench.helm_values import chart_values, dump
from djbench.jobwatch import wait_for_job
from djbench.kube import Kube, PrometheusRef
from djbench.load import contract
from djbench.load.k6 import ClientStats, parse_summary
from djbench.plan import LoadStep, Setup
from djbench.results import Latency, Step, UpstreamTraffic
from djbench.scenario import Scenario
from djbench.stubstats import parse_traffic, stats_path, wait_past
from djbench.variants import Variant
from djbench.verify import check_answer, expected_status

SERVER_CONTAINER = "server"
PLACEMENT_CONFIGMAP = "djbench-placement"
"""Written by `task up` on kind: the host CPUs of each node role (Taskfile.yml, placement)."""
STUB_SERVICE = "stubapi"
STUB_PORT = 8080
"""The stub API's Service (charts/stubapi: fullname and service.port)."""
MIN_STEP_S = 4 * SCRAPE_INTERVAL_S
"""A measured phase shorter than four scrapes leaves increase() with too few samples."""


@dataclass
class KubeServer:
    """A variant running as a helm release."""

    setup: Setup
    url: str
    service: str
    kube: Kube
    cpu_budget: float = 1.0
    """The server container's CPU limit, in CPUs."""

    @property
    def variant(self) -> Variant:
        """The variant this release runs."""
        return self.setup.variant

    def alive(self) -> bool:
        """True while the variant's Deployment has a ready pod."""
        try:
            ready = self.kube.kubectl(
                "get", "deployment", self.service, "-o", "jsonpath={.status.readyReplicas}"
            )
        except DjbenchError:
            return False
        return ready.strip() not in ("", "0")

    def describe_exit(self) -> str:
        """The pod's last log lines."""
        try:
            tail = self.kube.kubectl("logs", f"deployment/{self.service}", "--tail=5")
        except DjbenchError as exc:
            tail = str(exc)
        return f"{self.variant.name} has no ready pod: {tail.strip()}"


class KubernetesBackend:
    """Variants as helm releases, steps as k6 Jobs, server CPU from Prometheus."""

    name: Literal["kubernetes"] = "kubernetes"
    """Recorded as ``backend`` in the results."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        out_dir: Path,
        kube: Kube,
        run_id: str,
        parallelism: int = 1,
        k6_image: str = "grafana/k6:1.1.0",
        prometheus: PrometheusRef | None = None,
        values: list[Path] | None = None,
    ) -> None:
        if scenario.duration_s < MIN_STEP_S:
            raise DjbenchError(
                f"kubernetes: duration_s is {scenario.duration_s:g}s; Prometheus scrapes the "
                f"pods every {SCRAPE_INTERVAL_S:g}s, so a step needs at least {MIN_STEP_S:g}s "
                "(use --profile kubernetes, or a scenario with a longer duration_s)"
            )
        self.scenario = scenario
        self.out_dir = out_dir
        self.kube = kube
        self.run_id = run_id
        self.parallelism = parallelism
        self.k6_image = k6_image
        # A real cluster's settings (image registry, node roles...): each chart its own section
        # of the cluster values files (checked here, before anything runs).
        self.values = list(values or [])
        self.chart_values = {
            chart: chart_values(self.values, chart) for chart in (VARIANT_CHART, LOADTEST_CHART)
        }
        self.prometheus = prometheus or PrometheusRef()
        self.scenario_file = out_dir / "scenario.json"
        self._steps = 0
        self._stub_counts = False

    def values_args(self, chart: str) -> list[str]:
        """``--values`` with the chart's section of the ``--helm-values`` files, written to
        ``helm-values/CHART.yaml`` in the run's folder (nothing without ``--helm-values``)."""
        if not self.values:
            return []
        path = self.out_dir / "helm-values" / f"{chart}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(self.chart_values[chart]))
        return ["--values", str(path)]

    @property
    def remote_write(self) -> str:
        """Prometheus' remote-write receiver, as k6 pods reach it."""
        p = self.prometheus
        return f"http://{p.service}.{p.namespace}.svc:{p.port}/api/v1/write"

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        """Check that ``task up`` left Postgres and the stub API; seed as the scenario says."""
        for service in ("postgres", STUB_SERVICE):
            try:
                self.kube.kubectl("get", "service", service, "-o", "name")
            except DjbenchError as exc:
                raise DjbenchError(
                    f"service {service} not found in namespace {self.kube.namespace}: "
                    f"run `task up` first ({exc})"
                ) from exc
        # /stats through the Service is one pod's count: only a single stub counts them all.
        replicas = self.kube.kubectl(
            "get", "deployment", STUB_SERVICE, "-o", "jsonpath={.spec.replicas}"
        )  # fmt: skip
        self._stub_counts = replicas.strip() == "1"
        # The scenario's table size: the seed Job (a post-upgrade hook) is idempotent, so this
        # is quick when `task up` already seeded as many rows.
        self.kube.helm(
            "upgrade", "postgres", str(CHARTS / "postgres"), "--reuse-values",
            "--set", f"seed.rows={self.scenario.seed_rows}", "--wait", "--wait-for-jobs",
            "--timeout", "15m",
        )  # fmt: skip
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.scenario_file.write_text(json.dumps(self.scenario.resolved(), indent=2))
        yield

    @contextlib.contextmanager
    def server(self, setup: Setup) -> Iterator[KubeServer]:
        """Install the variant's release and wait until it is ready; uninstall afterwards."""
        release = variant_release(setup.variant)
        try:
            self.kube.helm(
                *variant_install_args(setup, self.scenario),
                *self.values_args(VARIANT_CHART),
                "--wait",
                "--timeout",
                "5m",
            )
            url = f"http://{release}:{SERVER_PORT}"  # k6 runs in the same namespace
            limit = self.kube.kubectl(
                "get", "deployment", release, "-o",
                f"jsonpath={{.spec.template.spec.containers[?(@.name=='{SERVER_CONTAINER}')]"
                ".resources.limits.cpu}",
            )  # fmt: skip
            yield KubeServer(
                setup=setup, url=url, service=release, kube=self.kube,
                cpu_budget=cpu_quantity(limit) or 1.0,
            )  # fmt: skip
        finally:
            with contextlib.suppress(DjbenchError):
                self.kube.helm("uninstall", release, "--wait")

    def settle(self, server: KubeServer, timeout: float) -> bool:
        """Wait until /healthz answers promptly through the API server's proxy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                self.kube.service_get(server.service, SERVER_PORT, "/healthz")
            except DjbenchError:
                return False
            # The proxy hop adds its own latency: a backlogged server takes far longer.
            if time.monotonic() - started < 1.0:
                return True
        return False

    def verify(self, server: KubeServer, workload: str) -> str | None:
        """One request through the API server's service proxy, checked like every backend."""
        req = self.scenario.request(workload)
        query = urllib.parse.urlencode(req["query"])
        path = req["path"].format(views=server.variant.views) + (f"?{query}" if query else "")
        # The proxy answers 2xx bodies only (an error status fails the kubectl call).
        status = expected_status(workload)
        try:
            if req["method"] == "POST":
                body = self.kube.service_post(
                    server.service, SERVER_PORT, path, json.dumps(req["body"])
                )
            else:
                body = self.kube.service_get(server.service, SERVER_PORT, path)
        except DjbenchError as exc:
            return f"verify: {req['method']} {path} failed: {exc}"
        kind = "application/json" if body.lstrip().startswith("{") else "text/html"
        where = f"{req['method']} {path}"
        return check_answer(workload, where, status, kind, body, client=server.setup.client)

    def measure(self, server: KubeServer, workload: str, step: LoadStep) -> Step:
        """One k6 Job; client numbers from its pods' summaries, server numbers from Prometheus."""
        self._steps += 1
        release = step_release(self.run_id, self._steps)
        s = self.scenario
        timeout = s.warmup_s + s.duration_s + s.request_timeout_s + 300
        args = step_install_args(
            release, server.url, server.setup, workload, step, run_id=self.run_id,
            scenario_file=self.scenario_file, parallelism=self.parallelism,
            remote_write=self.remote_write, k6_image=self.k6_image,
            deadline_s=int(s.warmup_s + s.duration_s + s.request_timeout_s + 60),
        )  # fmt: skip
        try:
            # helm creates the Job; its progress is read from the cluster, so a pod the
            # scheduler cannot place fails the step at once with the scheduler's reason.
            self.kube.helm(*args, *self.values_args(LOADTEST_CHART))
            wait_for_job(
                lambda: self.kube.job(release), lambda: self.kube.job_pods(release), timeout
            )
            logs = self.kube.kubectl(
                "logs", "-l", f"batch.kubernetes.io/job-name={release}", "--tail=-1",
                f"--max-log-requests={self.parallelism + 1}",
            )  # fmt: skip
            (self.out_dir / "k6").mkdir(parents=True, exist_ok=True)
            (self.out_dir / "k6" / f"{release}.log").write_text(logs)
            parts = [
                parse_summary(doc, s.warmup_s, s.duration_s) for doc in summaries_from_logs(logs)
            ]
            start = min((p.window_start for p in parts), default=0.0)
            latency = (
                self._merged_latency(server.setup, workload, step, start)
                if len(parts) > 1
                else None
            )
            stats = merge_client_stats(parts, latency)
            upstream = None
            if WORKLOADS[workload].touches_upstream and self._stub_counts:
                # The stub's count is bookkeeping: without it the step's numbers still stand.
                with contextlib.suppress(DjbenchError):
                    upstream = self._stub_traffic(stats.window_start, stats.window_end)
            return self._step(server, step, stats, release, upstream)
        except DjbenchError as exc:
            return failed_step(step, str(exc))
        finally:
            with contextlib.suppress(DjbenchError):
                self.kube.helm("uninstall", release)

    def _query(self, promql: str, at: float) -> float | None:
        return self.kube.prometheus(self.prometheus, promql, at)

    def _stub_traffic(self, start: float, end: float) -> UpstreamTraffic:
        """The stub's own count of the window, through the API server's service proxy."""
        wait_past(end)
        body = self.kube.service_get(STUB_SERVICE, STUB_PORT, stats_path(start, end))
        return parse_traffic(body)

    def _merged_latency(self, setup: Setup, workload: str, step: LoadStep, start: float) -> Latency:
        """Percentiles of the step over all pods, from k6's native histograms (never averaged).

        Queried after the Job ended, over a range reaching back past the measured phase: the
        ``phase="measure"`` tag selects its samples, wherever k6's pushes fell in time.
        """
        now = time.time()
        reach = f"{math.ceil(now - start + 2 * PUSH_INTERVAL_S)}s"
        # The tags the k6 script puts on every sample identify the step within the run.
        tags = contract.step_tags(
            run=self.run_id, variant=setup.variant.name, client=setup.client, workload=workload,
            model=step.model, level=step.level,
        )  # fmt: skip
        sel = selector(**tags, **{contract.PHASE_TAG: contract.MEASURE_PHASE})
        values = {}
        for name, q in QUANTILES:
            value = self._query(latency_query(sel, q, reach), now)
            if value is None:
                raise DjbenchError(f"prometheus has no k6 latency samples for {sel}")
            values[name] = value * 1000
        return Latency(**values)

    def _step(
        self,
        server: KubeServer,
        step: LoadStep,
        stats: ClientStats,
        release: str,
        upstream: UpstreamTraffic | None,
    ) -> Step:
        ns = self.kube.namespace
        window = f"{stats.duration_s:.0f}s"
        at = stats.window_end
        # Deployment pods are <release>-<replicaset hash>-<suffix>: a bare prefix would also
        # match longer variant names (uvicorn vs uvicorn-s2a).
        pods = selector(
            namespace=ns, pod=f"{server.service}-[a-z0-9]+-[a-z0-9]+", container=SERVER_CONTAINER
        )
        # container= keeps cAdvisor's pod-level series (container="") out of the sums.
        k6_pods = selector(namespace=ns, pod=f"{release}-[0-9]+-[a-z0-9]+", container="k6")
        found = {k: self._query(q, at) for k, q in usage_queries(pods, k6_pods, window).items()}
        cpu_s, rss = found["cpu_s"], found["rss"]
        if cpu_s is None or rss is None:
            raise DjbenchError(f"prometheus has no CPU or memory samples for {pods} in the step")
        load_cpu_s, throttled = found["load_cpu_s"], found["throttled_s"]
        side = ServerSide(
            cpu_s=cpu_s,
            rss_bytes=rss,
            cpu_budget=server.cpu_budget,
            load_cpu_s=load_cpu_s,
            throttled_s=throttled,
        )
        return measured_step(step, stats, side, upstream=upstream)

    def environment_extra(self) -> dict[str, object]:
        """Cluster facts recorded with the results."""
        facts: dict[str, object] = {
            "namespace": self.kube.namespace,
            "k6_pods": self.parallelism,
            # Python, Django and server versions above are read on the harness host; the pods
            # run the image built from the same uv.lock.
            "versions_from": "harness host (the image installs the same uv.lock)",
        }
        with contextlib.suppress(
            DjbenchError, ValueError, AttributeError
        ):  # an odd answer: left out
            facts["kubernetes"] = (
                json.loads(self.kube.kubectl("version", "-o", "json"))
                .get("serverVersion", {})
                .get("gitVersion")
            )
        # Which host CPUs each node role got (`task up` on kind); absent on other clusters.
        with contextlib.suppress(DjbenchError):
            placement = self.kube.config_map(PLACEMENT_CONFIGMAP)
            if placement:
                facts["placement"] = placement
        return facts
