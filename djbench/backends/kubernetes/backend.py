"""The Kubernetes backend's lifecycle: infrastructure checked, a variant's release at a time
(behind a latency proxy's release per side its distance names), each step a k6 Job watched to
its end, the server side read from its container's cgroup."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from djbench.backends.kubernetes.jobwatch import wait_for_job
from djbench.backends.kubernetes.k6_logs import merge_client_stats, summaries_from_logs
from djbench.backends.kubernetes.kube import DEFAULT_PROMETHEUS, Kube, PrometheusRef
from djbench.backends.kubernetes.promql import SCRAPE_INTERVAL_S, selector, usage_queries
from djbench.backends.kubernetes.releases import (
    K6_CONTAINER,
    K6_VERSION_CONTAINER,
    LATENCYPROXY_CHART,
    LOADTEST_CHART,
    POSTGRES_SERVICE,
    PROXY_CONTAINER,
    PROXY_STATS_PORT,
    PROXY_TARGETS,
    SERVER_CONTAINER,
    SERVER_PORT,
    STUB_PORT,
    STUB_SERVICE,
    VARIANT_CHART,
    cpu_quantity,
    proxy_install_args,
    proxy_release,
    proxy_sides,
    step_install_args,
    step_release,
    variant_install_args,
    variant_release,
)
from djbench.backends.steps import ServerSide, failed_step, measured_step
from djbench.contracts.chart_values import CHARTS, chart_values, dump
from djbench.measure.cgroup import parse_counters, read_command
from djbench.measure.collectors import CgroupSampler, Sampler
from djbench.measure.k6 import ClientStats, parse_summary
from djbench.measure.pathcheck import (
    Pinger,
    check_path,
    describe,
    parse_pairs,
    path_connections,
    ping_command,
)
from djbench.measure.proxy_traffic import NAMES, ProxyStats, proxy_traffic
from djbench.measure.stub_traffic import parse_traffic, stats_path, wait_past
from djbench.measure.verify import encoded_body, verify_answer
from djbench.model.errors import DjbenchError
from djbench.model.requests import path_with_query
from djbench.model.results import PathCheck, ProjectInfo, Step, UpstreamTraffic
from djbench.model.scenario import Scenario
from djbench.model.setup import LoadStep, Setup
from djbench.model.variants import Variant
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
CGROUP_INTERVAL_S = 1.0
"""Between two readings of the server's cgroup: each is one short shell in its container."""
CGROUP_READ_TIMEOUT_S = 10.0
CADVISOR_MIN_SAMPLES = 4
"""cAdvisor samples of the server a window needs before its figure is worth comparing."""
PROXY_INTERVAL_S = 1.0
"""Between two readings of a latency proxy's /stats (each one request through the API
server): its counters are differenced over windows of MIN_STEP_S or more."""
PING_TIMEOUT_S = 120.0
"""For one path check's pings in the proxy's pod (a few seconds at 200 ms)."""
INSTALL_TIMEOUT_S = 300
"""The longest a variant's or a proxy's release may take to become ready (helm's --timeout);
a pod that cannot become ready (unschedulable, its image not pulled, crashing) fails it at
once instead (``Kube.watched``)."""
PREPARE_TIMEOUT_S = 1800
"""…plus, with a prepare Job, its own deadline (the chart's prepare.activeDeadlineSeconds)."""
WATCH_SLACK_S = 30
"""The watch outlasts helm's own timeout by this much, so helm says first why it gave up."""


@dataclass
class KubeServer:
    """A variant running as a helm release."""

    setup: Setup
    url: str
    service: str
    kube: Kube
    cpu_budget: float = 1.0
    """The server container's CPU limit, in CPUs."""
    paths: list[PathCheck] = field(default_factory=list)
    """The added round-trip times measured through its latency proxies (none: direct)."""
    proxies: list[ProxyStats] = field(default_factory=list)
    """The counters of the latency proxies between it and Postgres / the stub API."""

    @property
    def variant(self) -> Variant:
        """The variant this release runs."""
        return self.setup.variant

    def alive(self) -> bool:
        """True while the variant's Deployment has a ready pod."""
        try:
            found = self.kube.deployment(self.service)
        except DjbenchError:
            return False
        return bool(found and (found.get("status") or {}).get("readyReplicas"))

    def describe_exit(self) -> str:
        """The pod's last log lines."""
        try:
            pod = self.kube.running_pod(self.service)
            tail = self.kube.pod_log(pod, SERVER_CONTAINER, tail=5)
        except DjbenchError as exc:
            tail = str(exc)
        return f"{self.variant.name} has no ready pod: {tail.strip()}"


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
            *((NAMES[p], _instance(proxy_release(p)), b) for p, b in self._proxy_restarts.items()),
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
            paths, proxies = self._proxies(setup, stack)
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
            )  # fmt: skip

    def _uninstall(self, release: str) -> None:
        with contextlib.suppress(DjbenchError):
            self.kube.helm("uninstall", release, "--wait")

    def _remove_prepare_job(self, release: str) -> None:
        """The release's prepare Job, its logs kept in the run's folder first (a failed one
        says why there), then deleted with its pods: none is left behind, however the run
        ended."""
        selector = f"{_instance(release)},app.kubernetes.io/component=prepare"
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

    def _proxies(
        self, setup: Setup, stack: contextlib.ExitStack
    ) -> tuple[list[PathCheck], list[ProxyStats]]:
        """A proxy's release for each side the setup's distance names, ready, and its added
        round trip checked at the connections a server may hold, before the variant exists
        (nothing else crosses it yet); each is uninstalled, no longer watched, on the way out."""
        checks, proxies = [], []
        for path, rtt_ms in proxy_sides(setup.distance):
            release = proxy_release(path)
            stack.callback(self._uninstall, release)
            stack.callback(self._proxy_restarts.pop, path, None)
            try:
                self.kube.helm(
                    *proxy_install_args(path, rtt_ms, self.scenario.network.jitter_ms),
                    *self.values_args(LATENCYPROXY_CHART),
                    "--wait", "--timeout", f"{INSTALL_TIMEOUT_S}s",
                    watch=release, timeout=INSTALL_TIMEOUT_S + WATCH_SLACK_S,
                )  # fmt: skip
                pod = self.kube.running_pod(release)
            except DjbenchError as exc:
                raise DjbenchError(f"{NAMES[path]} did not start: {exc}") from exc
            self._proxy_restarts[path] = restart_counts(self.kube.pods(_instance(release)))
            connections = path_connections(self.scenario, path)
            # Pod networking has a tail of its own, which the straight pings measure.
            check = check_path(
                path, rtt_ms, connections, self._pinger(pod, path, connections),
                network_noise=True,
                proxy_cpu=container_cpu(self.kube.deployment(release) or {}, PROXY_CONTAINER,
                                        "requests"),
            )  # fmt: skip
            if not check.ok:
                raise DjbenchError(describe(check))
            checks.append(check)
            proxies.append(ProxyStats(path, functools.partial(self._proxy_stats, release)))
        return checks, proxies

    def _pinger(self, pod: str, path: PathName, connections: int) -> Pinger:
        """Pings taken inside the proxy's pod: its target straight, and itself on loopback
        (the harness cannot reach Postgres; the pod reaches both)."""
        target = PROXY_TARGETS[path]
        through = ("127.0.0.1", target[1])  # the chart's listenPort is the target's port

        def ping(pings: int) -> list[tuple[float, float]]:
            command = ping_command(path, target, through, connections, pings)
            out = self.kube.exec(pod, PROXY_CONTAINER, command, timeout=PING_TIMEOUT_S)
            return parse_pairs(out)

        return ping

    def _proxy_stats(self, release: str) -> str:
        """A proxy's GET /stats through the API server's service proxy."""
        return self.kube.service_get(release, PROXY_STATS_PORT, "/stats")

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
            sampler = self._cgroup_sampler(server)
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
            side = self._server_side(server, stats, release, sampler)
            paths = {
                p.path: proxy_traffic(proxies, p.path, stats.window_start, stats.window_end)
                for p in server.proxies
            }
            return measured_step(step, stats, side, upstream=upstream).model_copy(
                update={"db_path": paths.get("db"), "upstream_path": paths.get("upstream")}
            )
        except DjbenchError as exc:
            return failed_step(step, str(exc))
        finally:
            with contextlib.suppress(DjbenchError):
                self.kube.helm("uninstall", release)

    def _cgroup_sampler(self, server: KubeServer) -> CgroupSampler:
        """Readings of the server container's cgroup through exec (the pod of this step: a
        restarted pod has a new name)."""
        pod = self.kube.running_pod(server.service)
        command = read_command()
        return CgroupSampler(
            lambda: parse_counters(
                self.kube.exec(pod, SERVER_CONTAINER, command, timeout=CGROUP_READ_TIMEOUT_S)
            ),
            interval_s=CGROUP_INTERVAL_S,
        )

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

    def _query(self, promql: str, at: float) -> float | None:
        if self.prometheus is None:
            raise DjbenchError("no Prometheus (--prometheus none)")
        return self.kube.prometheus(self.prometheus, promql, at)

    def _stub_traffic(self, start: float, end: float) -> UpstreamTraffic:
        """The stub's own count of the window, through the API server's service proxy."""
        wait_past(end)
        body = self.kube.service_get(STUB_SERVICE, STUB_PORT, stats_path(start, end))
        return parse_traffic(body)

    def _server_side(
        self, server: KubeServer, stats: ClientStats, release: str, sampler: CgroupSampler
    ) -> ServerSide:
        """The cgroup's figures for the window, with cAdvisor's beside them when Prometheus
        holds enough samples; cAdvisor alone only when no cgroup reading could be taken."""
        ns = self.kube.namespace
        window = f"{stats.duration_s:.0f}s"
        at = stats.window_end
        # Deployment pods are <release>-<replicaset hash>-<suffix>: a bare prefix would also
        # match longer variant names (uvicorn vs uvicorn-s2a).
        pods = selector(
            namespace=ns, pod=f"{server.service}-[a-z0-9]+-[a-z0-9]+", container=SERVER_CONTAINER
        )
        # container= keeps cAdvisor's pod-level series (container="") out of the sums.
        k6_pods = selector(namespace=ns, pod=f"{release}-[0-9]+-[a-z0-9]+", container=K6_CONTAINER)
        found: dict[str, float | None] = {}
        with contextlib.suppress(DjbenchError):  # Prometheus is a cross-check, not a need
            found = {k: self._query(q, at) for k, q in usage_queries(pods, k6_pods, window).items()}
        samples = found.get("cpu_samples")
        cadvisor = found.get("cpu_s") if (samples or 0) >= CADVISOR_MIN_SAMPLES else None
        try:
            cgroup = sampler.window(stats.window_start, stats.window_end)
        except DjbenchError as exc:
            rss = found.get("rss")
            if cadvisor is None or rss is None:
                raise DjbenchError(
                    f"no server CPU for the step: {exc}; and Prometheus holds "
                    f"{samples or 0:.0f} cAdvisor samples of {pods} in it"
                ) from exc
            return ServerSide(
                cpu_s=cadvisor, rss_bytes=rss, cpu_budget=server.cpu_budget,
                load_cpu_s=found.get("load_cpu_s"), throttled_s=found.get("throttled_s"),
                cpu_source="cadvisor",
            )  # fmt: skip
        self._cpu_quota = cgroup.quota_cpus is not None
        return ServerSide(
            cpu_s=cgroup.cpu_s, rss_bytes=cgroup.rss_bytes, cpu_budget=server.cpu_budget,
            load_cpu_s=found.get("load_cpu_s"), throttled_s=cgroup.throttled_s,
            cpu_source="cgroup", cadvisor_cpu_s=cadvisor,
        )  # fmt: skip

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


def server_cpu_limit(deployment: dict[str, Any]) -> float | None:
    """The server container's CPU limit in a Deployment object, in CPUs (None without one)."""
    found = container_cpu(deployment, SERVER_CONTAINER, "limits")
    return None if found is None else cpu_quantity(found)


def container_cpu(deployment: dict[str, Any], name: str, kind: str) -> str | None:
    """One container's CPU ``requests`` or ``limits`` in a Deployment object, as written
    (``200m``, ``1``); None without one."""
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    for container in containers.get("containers") or []:
        if container.get("name") == name:
            found = ((container.get("resources") or {}).get(kind) or {}).get("cpu")
            return None if found in (None, "") else str(found)
    return None


def restart_counts(pods: list[dict[str, Any]]) -> dict[str, int]:
    """Each container's restarts, keyed ``pod uid/container`` (a replaced pod has a new uid)."""
    return {
        _container_key(pod, c): int(c.get("restartCount") or 0)
        for pod in pods
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    }


def _instance(release: str) -> str:
    """The label selector of a release's pods (our charts' ``app.kubernetes.io/instance``)."""
    return f"app.kubernetes.io/instance={release}"


def _container_key(pod: dict[str, Any], container: dict[str, Any]) -> str:
    return f"{pod['metadata'].get('uid')}/{container['name']}"


def pods_fault(what: str, pods: list[dict[str, Any]], began: dict[str, int] | None) -> str | None:
    """Why ``what``'s pods are not as the run began with them (``began``: their restart
    counts then; None: not known, only readiness is checked); None when nothing is wrong."""
    if not pods:
        return f"{what} has no pod"
    for pod in pods:
        name = f"{what} pod {pod['metadata']['name']}"
        if pod["metadata"].get("deletionTimestamp"):
            return f"{name} is being deleted"
        status = pod.get("status") or {}
        if began is not None and (restarted := _restarted(name, pod, began)) is not None:
            return restarted
        conditions = status.get("conditions") or []
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            return f"{name} is not ready: {_unready(status, ready)}"
    return None


def _restarted(name: str, pod: dict[str, Any], began: dict[str, int]) -> str | None:
    """A container of the pod that restarted since ``began``, or the pod is new."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        before = began.get(_container_key(pod, container))
        restarts = int(container.get("restartCount") or 0)
        if before is None:
            return f"{name} was replaced since the run began"
        if restarts > before:
            return (
                f"{name} restarted since the run began: container {container['name']}, "
                f"{restarts - before} restart(s){_last_exit(container)}"
            )
    return None


def _last_exit(container: dict[str, Any]) -> str:
    """``, last exit OOMKilled (exit code 137, signal 9)`` from a container's last state."""
    ended = (container.get("lastState") or {}).get("terminated")
    if not ended:
        return ""
    code = ended.get("exitCode")
    signal = f", signal {code - 128}" if isinstance(code, int) and code > 128 else ""
    return f", last exit {ended.get('reason') or 'unknown'} (exit code {code}{signal})"


def _unready(status: dict[str, Any], ready: dict[str, Any]) -> str:
    """``container postgres waiting (CrashLoopBackOff)``, else what the Ready condition says,
    else the pod's phase."""
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return f"container {c['name']} waiting ({waiting.get('reason') or 'no reason'})"
    said = ready.get("message") or ready.get("reason")
    return str(said) if said else f"phase {status.get('phase') or 'unknown'}"


def k6_version_of(log: str) -> str | None:
    """The version in ``k6 version``'s output (``k6 v1.1.0 (go1.24.4, linux/amd64)``)."""
    words = log.split()
    return words[1] if len(words) > 1 and words[0] == "k6" else None
