"""The Kubernetes backend's lifecycle: infrastructure checked, a variant's release at a time
(behind a latency proxy's release per side its distance names), each step a k6 Job watched to
its end, the server side read from its container's cgroup."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from djbench.backends.kubernetes.jobwatch import wait_for_job
from djbench.backends.kubernetes.k6_logs import merge_client_stats, summaries_from_logs
from djbench.backends.kubernetes.kube import DEFAULT_PROMETHEUS, Kube, PrometheusRef
from djbench.backends.kubernetes.pods import (
    instance_selector,
    k6_version_of,
    pods_fault,
    restart_counts,
    server_cpu_limit,
    server_pod,
)
from djbench.backends.kubernetes.promql import SCRAPE_INTERVAL_S
from djbench.backends.kubernetes.proxy_releases import install_proxies
from djbench.backends.kubernetes.releases import (
    INSTALL_TIMEOUT_S,
    K6_CONTAINER,
    K6_VERSION_CONTAINER,
    LATENCYPROXY_CHART,
    LOADTEST_CHART,
    POSTGRES_SERVICE,
    PREPARE_TIMEOUT_S,
    SERVER_PORT,
    STUB_PORT,
    STUB_SERVICE,
    VARIANT_CHART,
    WATCH_SLACK_S,
    proxy_release,
    step_install_args,
    step_release,
    variant_install_args,
    variant_release,
)
from djbench.backends.kubernetes.server_side import KubeServer, cgroup_sampler, server_side
from djbench.backends.steps import failed_step, measured_step
from djbench.contracts.chart_values import CHARTS, chart_values, dump
from djbench.measure.collectors import Sampler
from djbench.measure.k6 import parse_summary
from djbench.measure.proxy_traffic import NAMES, proxy_traffic
from djbench.measure.stub_traffic import parse_traffic, stats_path, wait_past
from djbench.measure.verify import encoded_body, verify_answer
from djbench.model.errors import DjbenchError
from djbench.model.requests import path_with_query
from djbench.model.results import ProjectInfo, Step, UpstreamTraffic
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from latencyproxy.ping import PathName

PLACEMENT_CONFIGMAP = "djbench-placement"
"""Written by `task up` on kind: the host CPUs of each node role (Taskfile.yml, placement)."""


INFRASTRUCTURE_PODS = {
    "Postgres": "app.kubernetes.io/instance=postgres,app.kubernetes.io/component=database",
    "the stub API": f"app.kubernetes.io/instance={STUB_SERVICE}",
}
"""The infrastructure's pods by the names users know: the Postgres StatefulSet's (not its seed
Job's) and the stub API Deployment's (charts/postgres, charts/stubapi: selector labels)."""


MIN_STEP_S = 4 * SCRAPE_INTERVAL_S
"""A measured phase shorter than four scrapes leaves k6's rate series on the dashboards, and
the cAdvisor cross-check, with too few samples."""


PROXY_INTERVAL_S = 1.0
"""Between two readings of a latency proxy's /stats (each one request through the API
server): its counters are differenced over windows of MIN_STEP_S or more."""


class KubernetesBackend:
    """Variants as helm releases, steps as k6 Jobs, server CPU from the container's cgroup."""

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
        prometheus: PrometheusRef | None = DEFAULT_PROMETHEUS,
        values: list[Path] | None = None,
        project: ProjectInfo | None = None,
        prepare: list[list[str]] | None = None,
    ) -> None:
        if scenario.duration_s < MIN_STEP_S:
            raise DjbenchError(
                f"kubernetes: duration_s is {scenario.duration_s:g}s; Prometheus scrapes the "
                f"pods every {SCRAPE_INTERVAL_S:g}s, so a step needs at least {MIN_STEP_S:g}s "
                "(use --profile kubernetes, or a scenario with a longer duration_s)"
            )
        self.scenario = scenario
        self.project = project
        """A team's project in its own image (``djbench run --project``), in place of benchapp."""
        self._prepare = list(prepare or [])
        """Commands that prepare its database: the first variant's prepare Job runs them."""
        self.out_dir = out_dir
        self.kube = kube
        self.run_id = run_id
        self.parallelism = parallelism
        self.k6_image = k6_image
        # A real cluster's settings (image registry, node roles...): each chart its own section
        # of the cluster values files (checked here, before anything runs).
        self.values = list(values or [])
        self.chart_values = {
            chart: chart_values(self.values, chart)
            for chart in (VARIANT_CHART, LOADTEST_CHART, LATENCYPROXY_CHART)
        }
        self.prometheus = prometheus
        """Where k6 remote-writes and cAdvisor's figures are read; None: no Prometheus."""
        self.scenario_file = out_dir / "scenario.json"
        self._steps = 0
        self._stub_counts = False
        self._k6_version: str | None = None
        self._cpu_quota: bool | None = None
        self._infra_restarts: dict[str, int] | None = None
        self._proxy_restarts: dict[PathName, dict[str, int]] = {}
        """The restarts each installed proxy's pod began with (none installed: empty)."""

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
    def remote_write(self) -> str | None:
        """Prometheus' remote-write receiver, as k6 pods reach it (None: no Prometheus)."""
        p = self.prometheus
        return None if p is None else f"http://{p.service}.{p.namespace}.svc:{p.port}/api/v1/write"

    @contextlib.contextmanager
    def infrastructure(self) -> Iterator[None]:
        """Check that ``task up`` left Postgres and the stub API; seed as the scenario says."""
        for service in (POSTGRES_SERVICE, STUB_SERVICE):
            if self.kube.service(service) is None:
                raise DjbenchError(
                    f"service {service} not found in namespace {self.kube.namespace}: "
                    "run `task up` first"
                )
        # /stats through the Service is one pod's count: only a single stub counts them all.
        stub = self.kube.deployment(STUB_SERVICE) or {}
        self._stub_counts = (stub.get("spec") or {}).get("replicas") == 1
        # The scenario's table size: the seed Job (a post-upgrade hook) is idempotent, so this
        # is quick when `task up` already seeded as many rows.
        self.kube.helm(
            "upgrade", "postgres", str(CHARTS / "postgres"), "--reuse-values",
            "--set", f"seed.rows={self.scenario.seed_rows}", "--wait", "--wait-for-jobs",
            "--timeout", "15m",
        )  # fmt: skip
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.scenario_file.write_text(json.dumps(self.scenario.resolved(), indent=2))
        # What infrastructure_fault compares with: the pods and restarts the run began with.
        pods = [p for labels in INFRASTRUCTURE_PODS.values() for p in self.kube.pods(labels)]
        self._infra_restarts = restart_counts(pods)
        yield

    def infrastructure_fault(self) -> str | None:
        """Postgres' or the stub API's pods gone, not ready, replaced or restarted since the
        run began; None while they are as they were, or when the API cannot say (a restart
        stays in restartCount and a replaced pod has a new uid: the next question sees it)."""
        watched = [
            *((what, labels, self._infra_restarts) for what, labels in INFRASTRUCTURE_PODS.items()),
            *(
                (NAMES[p], instance_selector(proxy_release(p)), b)
                for p, b in self._proxy_restarts.items()
            ),
        ]
        for what, labels, began in watched:
            try:
                pods = self.kube.pods(labels)
            except DjbenchError:
                return None
            if (cause := pods_fault(what, pods, began)) is not None:
                return cause
        return None

    @contextlib.contextmanager
    def server(self, setup: Setup) -> Iterator[KubeServer]:
        """Install the latency proxies its distance names (each path checked), then the
        variant's release, and wait until it is ready; uninstall all of them afterwards."""
        release = variant_release(setup.variant)
        with contextlib.ExitStack() as stack:
            paths, proxies = install_proxies(
                self.kube,
                self.scenario,
                setup,
                stack,
                self.values_args(LATENCYPROXY_CHART),
                self._proxy_restarts,
                self._uninstall,
            )
            stack.callback(self._uninstall, release)
            if self._prepare:
                # A hook Job is no part of the release: helm uninstall leaves it behind.
                stack.callback(self._remove_prepare_job, release)
            # The prepare Job's own deadline is 30 min (its activeDeadlineSeconds).
            limit = INSTALL_TIMEOUT_S + (PREPARE_TIMEOUT_S if self._prepare else 0)
            self.kube.helm(
                *variant_install_args(setup, self.scenario, self.project, self._prepare),
                *self.values_args(VARIANT_CHART),
                "--wait", "--timeout", f"{limit}s",
                watch=release, timeout=limit + WATCH_SLACK_S,
            )  # fmt: skip
            self._prepare = []  # the database stays prepared for the variants after it
            url = f"http://{release}:{SERVER_PORT}"  # k6 runs in the same namespace
            yield KubeServer(
                setup=setup, url=url, service=release, kube=self.kube,
                cpu_budget=server_cpu_limit(self.kube.deployment(release) or {}) or 1.0,
                paths=paths, proxies=proxies,
                pod=server_pod(self.kube.pods(instance_selector(release))),
            )  # fmt: skip

    def _uninstall(self, release: str) -> None:
        with contextlib.suppress(DjbenchError):
            self.kube.helm("uninstall", release, "--wait")

    def _remove_prepare_job(self, release: str) -> None:
        """The release's prepare Job, its logs kept in the run's folder first (a failed one
        says why there), then deleted with its pods: none is left behind, however the run
        ended."""
        selector = f"{instance_selector(release)},app.kubernetes.io/component=prepare"
        with contextlib.suppress(DjbenchError):
            logs = self.kube.kubectl(
                "logs", "--selector", selector, "--all-containers", "--prefix", "--tail", "-1"
            )
            if logs:
                (self.out_dir / "logs").mkdir(parents=True, exist_ok=True)
                (self.out_dir / "logs" / f"{release}-prepare.log").write_text(logs)
        with contextlib.suppress(DjbenchError):
            self.kube.kubectl(
                "delete", "job", "--selector", selector, "--ignore-not-found",
                "--cascade=foreground", "--wait=false",
            )  # fmt: skip

    def settle(self, server: KubeServer, timeout: float) -> str | None:
        """Wait until the health path answers promptly through the API server's proxy; else
        why not. The proxy call fails on any status but 2xx, so on Kubernetes the health
        path must answer 2xx (the kubelet's probes want 200–399 there anyway): a project's
        404 or redirect there, fine locally, restarts its server here."""
        path = self.scenario.health_path
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                self.kube.service_get(server.service, SERVER_PORT, path)
            except DjbenchError as exc:
                return f"{path} did not answer well: {exc}"
            # The proxy hop adds its own latency: a backlogged server takes far longer.
            if time.monotonic() - started < 1.0:
                return None
        return f"still busy after {timeout:g} s ({path} slower than 1 s through the proxy)"

    def load_average(self) -> tuple[float, float, float] | None:
        """Not read: the servers run on the cluster's nodes, not here."""
        return None

    def verify(self, server: KubeServer, workload: str) -> str | None:
        """One request through the API server's service proxy, checked like every backend."""
        req = self.scenario.request(workload)
        path = path_with_query(req["path"].format(views=server.variant.views), req["query"])
        # The proxy answers 2xx bodies only (an error status fails the kubectl call), so a
        # body means the status the request expects.
        sent, _ = encoded_body(req)
        try:
            if req["method"] == "POST":
                body = self.kube.service_post(server.service, SERVER_PORT, path, sent or "")
            else:
                body = self.kube.service_get(server.service, SERVER_PORT, path)
        except DjbenchError as exc:
            return f"verify: {req['method']} {path} failed: {exc}"
        kind = "application/json" if body.lstrip().startswith("{") else "text/html"
        where = f"{req['method']} {path}"
        return verify_answer(
            self.scenario, workload, where, req["status"], kind, body, client=server.setup.client
        )

    def measure(self, server: KubeServer, workload: str, step: LoadStep) -> Step:
        """One k6 Job; client numbers from its pods' summaries, the server's CPU and memory
        from its container's cgroup counters, read through exec while the Job runs."""
        self._steps += 1
        release = step_release(self.run_id, self._steps)
        s = self.scenario
        warmup_s, duration_s = step.times(s)
        timeout = warmup_s + duration_s + s.request_timeout_s + 300
        args = step_install_args(
            release, server.url, server.setup, workload, step, run_id=self.run_id,
            scenario_file=self.scenario_file, parallelism=self.parallelism,
            remote_write=self.remote_write, k6_image=self.k6_image,
            deadline_s=int(warmup_s + duration_s + s.request_timeout_s + 60),
            warmup_s=warmup_s, duration_s=duration_s, max_vus=step.vus(s),
            pre_vus=step.pre_vus(s),
        )  # fmt: skip
        counters = {k: c for p in server.proxies for k, c in p.sampled().items()}
        proxies = Sampler({}, counters, interval_s=PROXY_INTERVAL_S)
        try:
            sampler = cgroup_sampler(self.kube, server)
            # helm creates the Job; its progress is read from the cluster, so a pod the
            # scheduler cannot place fails the step at once with the scheduler's reason.
            with sampler, proxies:
                self.kube.helm(*args, *self.values_args(LOADTEST_CHART))
                wait_for_job(
                    lambda: self.kube.job(release), lambda: self.kube.job_pods(release), timeout
                )
            logs = self._k6_logs(release)
            parts = [parse_summary(doc, warmup_s, duration_s) for doc in summaries_from_logs(logs)]
            stats = merge_client_stats(parts)
            upstream = None
            if self.scenario.kind(workload).touches_upstream and self._stub_counts:
                # The stub's count is bookkeeping: without it the step's numbers still stand.
                with contextlib.suppress(DjbenchError):
                    upstream = self._stub_traffic(stats.window_start, stats.window_end)
            side, quota = server_side(self.kube, self.prometheus, server, stats, release, sampler)
            if quota is not None:
                self._cpu_quota = quota
            paths = {
                p.path: proxy_traffic(proxies, p.path, stats.window_start, stats.window_end)
                for p in server.proxies
            }
            shares = self.scenario.mix.get(workload)
            return measured_step(step, stats, side, upstream=upstream, shares=shares).model_copy(
                update={"db_path": paths.get("db"), "upstream_path": paths.get("upstream")}
            )
        except DjbenchError as exc:
            return failed_step(step, str(exc))
        finally:
            with contextlib.suppress(DjbenchError):
                self.kube.helm("uninstall", release)

    def _k6_logs(self, release: str) -> str:
        """Every k6 pod's log (kept in the run's folder), and k6's version the first time."""
        pods = sorted(str(p["metadata"]["name"]) for p in self.kube.job_pods(release))
        if not pods:
            raise DjbenchError(f"no pods found for Job {release}: nothing to read a summary from")
        logs = "".join(self.kube.pod_log(pod, K6_CONTAINER) for pod in pods)
        (self.out_dir / "k6").mkdir(parents=True, exist_ok=True)
        (self.out_dir / "k6" / f"{release}.log").write_text(logs)
        if self._k6_version is None and pods:
            with contextlib.suppress(DjbenchError):
                self._k6_version = k6_version_of(self.kube.pod_log(pods[0], K6_VERSION_CONTAINER))
        return logs

    def _stub_traffic(self, start: float, end: float) -> UpstreamTraffic:
        """The stub's own count of the window, through the API server's service proxy."""
        wait_past(end)
        body = self.kube.service_get(STUB_SERVICE, STUB_PORT, stats_path(start, end))
        return parse_traffic(body)

    def environment_extra(self) -> dict[str, object]:
        """Cluster facts recorded with the results; asked again as the run learns more."""
        return {
            # Read from the first step's k6 pod (the image tag need not say it).
            "k6": self._k6_version or f"{self.k6_image} (version not read yet)",
            # Whether the server container has a CFS quota: without one (exclusive CPUs),
            # nothing throttles it and throttled_s is null. Known after the first step.
            "cpu_quota": self._cpu_quota,
            "prometheus": self.prometheus.label if self.prometheus else "none",
            **self._cluster_facts,
        }

    @functools.cached_property
    def _cluster_facts(self) -> dict[str, object]:
        facts: dict[str, object] = {
            "namespace": self.kube.namespace,
            "k6_pods": self.parallelism,
            # Python, Django and server versions above are read on the harness host; the pods
            # run the image built from the same uv.lock.
            "versions_from": "harness host (the image installs the same uv.lock)",
        }
        with contextlib.suppress(DjbenchError):  # no answer: left out
            facts["kubernetes"] = self.kube.server_version()
        # Which host CPUs each node role got (`task up` on kind); absent on other clusters.
        with contextlib.suppress(DjbenchError):
            placement = self.kube.config_map(PLACEMENT_CONFIGMAP)
            if placement:
                facts["placement"] = placement
        return facts
