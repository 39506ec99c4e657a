"""The rendered pods, run as containers: the cluster path checked without a cluster.

Every chart is rendered as `task up` / `task variants` install it (release names, the smoke
scenario's seed rows), and each rendered pod runs in Docker with its own image, command, args,
env (from the rendered ConfigMaps and Secrets), security context, volumes and limits, on one
network where the Service names resolve (see pod_runner). Then: the seed Job, every workload
of every variant through its Service name (and the PodMonitor's scrape target), a clean stop
on SIGTERM, the k6 Job (``k6 inspect`` and a short real run), and the latency proxy's pod
between a variant and Postgres, its delay measured through it.

Stand-ins, because no registry can be reached here (everything else is the rendered spec):
- Postgres: the official image is replaced by Debian's PostgreSQL on the debootstrapped base
  with an entrypoint honouring the same POSTGRES_* contract (tests/images/postgres); its
  postgres-exporter sidecar (quay.io) is left out of the pod.
- k6: the official grafana/k6 image is replaced by the same k6 release on the same base
  (tests/images/k6).
- Prometheus' remote-write receiver: a sink that records what k6 posts
  (remote_write_sink.py), under the host name of the URL the chart is given.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker_engine as de
import httpx
import pytest
from built_images import Images
from pod_runner import Obj, Pod, PodRunner, Rendered, running
from rendering import helm_render

from benchapp.catalog import WORKLOADS
from djbench.backends.kubernetes import SERVER_PORT, summaries_from_logs
from djbench.measure.k6 import parse_summary
from djbench.measure.pathcheck import check_path, describe, parse_pairs, ping_command, within
from djbench.measure.verify import check_answer
from djbench.model.scenario_file import load_profile
from djbench.model.variants import load_variants

pytestmark = pytest.mark.docker

HR = helm_render()
NAMESPACE = HR.NAMESPACE
HERE = Path(__file__).resolve().parent
SCENARIO = load_profile("smoke")
EXPORTER = "quay.io/prometheuscommunity/postgres-exporter"
K6_VARIANT = "gunicorn-gthread"
K6_WORKLOAD = "db-read"


def workload(objects: list[Obj], kind: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def render_variant(name: str) -> list[Obj]:
    """A variant's release, as `task variants` installs it (release = variant name)."""
    objects: list[Obj] = HR.render("django-variant", name, {"variant": name})
    return objects


def render_step(scenario_file: Path, *, level: float, parallelism: int) -> list[Obj]:
    """One k6 step against K6_VARIANT's Service, by its cluster DNS name."""
    values = HR.step_values(
        K6_VARIANT, load_variants()[K6_VARIANT].views,
        target=f"http://{K6_VARIANT}.{NAMESPACE}.svc:{SERVER_PORT}", workload=K6_WORKLOAD,
        level=level, parallelism=parallelism, run="test", client="aiohttp",
    )  # fmt: skip
    objects: list[Obj] = HR.render(
        "loadtest", "k6-test", values, set_files={"scenario": scenario_file}
    )
    return objects


@dataclass
class Stack:
    """Postgres and the stub API running, seeded; variants are started per test."""

    runner: PodRunner
    network: str
    images: Images
    workdir: Path
    postgres: str
    """Docker name of the Postgres container."""


def variant_objects() -> list[Obj]:
    objects: list[Obj] = []
    for name in load_variants():
        objects += render_variant(name)
    return objects


@pytest.fixture(scope="module")
def stack(images: Images, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("pods")
    infra = [
        *HR.render("postgres", "postgres", {"seed": {"rows": SCENARIO.seed_rows}}),
        *HR.render("stubapi", "stubapi"),
    ]
    rendered = Rendered(infra + variant_objects(), NAMESPACE)
    local = {
        "djbench/django": images.django,
        "djbench/stubapi": images.stubapi,
        "djbench/latencyproxy": images.latencyproxy,
        "postgres": images.postgres,
        "grafana/k6": images.k6,
    }
    with de.network() as net:
        runner = PodRunner(
            rendered, net, local, workdir,
            unavailable={EXPORTER: "postgres-exporter image not available (no registry)"},
        )  # fmt: skip
        try:
            pg = runner.start(workload(infra, "StatefulSet"))
            stub = runner.start(workload(infra, "Deployment"))
            runner.wait_ready(pg)
            runner.wait_ready(stub)
            code, log = runner.run_job(workload(infra, "Job"), timeout=300)
            assert code == 0, f"seed Job failed ({code}):\n{log}"
            yield Stack(runner, net, images, workdir, pg.main)
        finally:
            runner.cleanup()


def client(stack: Stack, base_url: str, views: str, *urls: str) -> list[dict[str, Any]]:
    """Every workload once (then GET each of ``urls``), from a throwaway container on the
    network."""
    out = de.docker(
        "run", "--rm", "--network", stack.network, "--read-only", "--cap-drop", "ALL",
        "--user", "10001:10001", "--label", f"{de.LABEL}=1",
        "--mount", f"type=bind,source={HERE / 'workload_client.py'},"
                   "destination=/probe/workload_client.py,readonly",
        stack.images.django, "python3", "/probe/workload_client.py", base_url, views, *urls,
        timeout=120,
    ).stdout  # fmt: skip
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def psql(stack: Stack, sql: str) -> str:
    """A query over TCP as the app's user, with the password from the rendered Secret."""
    password = stack.runner.rendered.secret("postgres")["password"]
    return de.docker(
        "exec", "--env", "PGPASSWORD", stack.postgres,
        "psql", "-h", "127.0.0.1", "-U", "djbench", "-d", "djbench", "-tAc", sql,
        env={"PGPASSWORD": password},
    ).stdout.strip()  # fmt: skip


def test_seed_job_migrates_and_loads_the_rows(stack: Stack) -> None:
    assert psql(stack, "SELECT count(*) FROM items") == str(SCENARIO.seed_rows)


def variant_service(stack: Stack, variant: str) -> tuple[Obj, str]:
    """The variant's rendered Deployment (its release is the variant's name) and the name of
    the Service that selects its pod."""
    deployment = stack.runner.rendered.get("Deployment", variant)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = stack.runner.rendered.services_selecting(labels)
    assert len(services) == 1, [s["metadata"]["name"] for s in services]
    return deployment, services[0]["metadata"]["name"]


def scrape_url(stack: Stack, variant: str, pod: Pod) -> str:
    """What Prometheus scrapes for the variant's PodMonitor: the pod's address, its port and
    path (the pod's name resolves to the pod on the test network)."""
    endpoint = stack.runner.rendered.get("PodMonitor", variant)["spec"]["podMetricsEndpoints"][0]
    port = PodRunner.container_port(pod, endpoint["port"])
    return f"http://{pod.name}:{port}{endpoint.get('path', '/metrics')}"


@pytest.mark.parametrize("variant", list(load_variants()))
def test_variant_pod_serves_every_workload(stack: Stack, variant: str) -> None:
    spec = load_variants()[variant]
    deployment, service = variant_service(stack, variant)
    # running(): probes pass first, and the pod stops on SIGTERM within its grace period.
    with running(stack.runner, deployment, ready_timeout=90) as pod:
        base = f"http://{service}:{SERVER_PORT}"
        *answers, metrics = client(stack, base, spec.views, scrape_url(stack, variant, pod))
        log = de.logs(pod.main)
    assert [a["workload"] for a in answers] == list(WORKLOADS)
    for a in answers:
        where = f"{variant} {a['workload']}"
        problem = check_answer(a["workload"], where, a["status"], a["content_type"], a["body"])
        assert problem is None, f"{problem}\nserver log:\n{log}"
    assert metrics["status"] == 200, metrics
    assert "djbench_request_duration_seconds_bucket" in metrics["body"]


def k6_job(stack: Stack, *, level: float, parallelism: int, duration_s: float) -> Obj:
    scenario = SCENARIO.model_copy(update={"duration_s": duration_s})
    path = stack.workdir / f"scenario-{duration_s:g}.json"
    path.write_text(json.dumps(scenario.resolved(), indent=2))
    objects = render_step(path, level=level, parallelism=parallelism)
    stack.runner.rendered.add(objects)
    return workload(objects, "Job")


def with_args(job: Obj, args: list[str]) -> Obj:
    """The Job with its k6 container's args replaced (same image, env, mounts)."""
    copy = json.loads(json.dumps(job))
    copy["spec"]["template"]["spec"]["containers"][0]["args"] = args
    return copy


@pytest.mark.parametrize("index", [0, 1])
def test_k6_inspect_with_the_rendered_job(stack: Stack, index: int) -> None:
    job = k6_job(stack, level=2, parallelism=2, duration_s=2)
    code, out = stack.runner.run_job(
        with_args(
            job,
            [
                "inspect",
                "--include-system-env-vars",
                "--execution-requirements",
                "/djbench/k6/bench.js",
            ],
        ),
        index=index,
    )
    assert code == 0, out
    options, _ = json.JSONDecoder().raw_decode(out[out.index("{") :])
    # Pod i of an Indexed Job runs segment i/n:(i+1)/n of the step.
    assert options["executionSegment"] == ["0:1/2", "1/2:1"][index]
    measure = options["scenarios"]["measure"]
    assert (measure["executor"], measure["vus"]) == ("constant-vus", 2)
    assert measure["tags"] == {
        "run": "test", "variant": K6_VARIANT, "client": "aiohttp", "workload": K6_WORKLOAD,
        "step": "closed-2",
    }  # fmt: skip


def job_env(job: Obj, name: str) -> str:
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    value: str = next(e["value"] for e in env if e["name"] == name)
    return value


def test_k6_job_runs_against_a_variant(stack: Stack) -> None:
    job = k6_job(stack, level=2, parallelism=1, duration_s=2)
    rw = urllib.parse.urlsplit(job_env(job, "K6_PROMETHEUS_RW_SERVER_URL"))
    sink = de.unique("remote-write-sink")
    de.docker(
        "run", "--detach", "--name", sink, "--network", stack.network,
        "--network-alias", str(rw.hostname), "--read-only", "--cap-drop", "ALL",
        "--user", "10001:10001", "--label", f"{de.LABEL}=1",
        "--mount", f"type=bind,source={HERE / 'remote_write_sink.py'},"
                   "destination=/probe/remote_write_sink.py,readonly",
        stack.images.django, "python3", "/probe/remote_write_sink.py", str(rw.port),
    )  # fmt: skip
    try:
        target, _ = variant_service(stack, K6_VARIANT)
        with running(stack.runner, target):
            code, out = stack.runner.run_job(job, timeout=120)
        assert code == 0, out
        summaries = summaries_from_logs(out)
        assert len(summaries) == 1, out
        stats = parse_summary(summaries[0], SCENARIO.warmup_s, 2.0)
        assert stats.requests > 0
        assert stats.errors == 0, out
        writes = [json.loads(line) for line in de.logs(sink, 1000).splitlines() if line[:1] == "{"]
        assert writes, "k6 wrote nothing to the remote-write URL"
        assert all(w["path"] == rw.path for w in writes)
        assert {w["content_encoding"] for w in writes} == {"snappy"}
        assert {w["content_type"] for w in writes} == {"application/x-protobuf"}
    finally:
        de.remove(sink)


def test_the_k6_init_container_prints_the_version_the_backend_reads(stack: Stack) -> None:
    from djbench.backends.kubernetes.pods import k6_version_of
    from djbench.backends.kubernetes.releases import K6_VERSION_CONTAINER
    from djbench.measure.k6 import find_k6, k6_version

    job = with_args(k6_job(stack, level=1, parallelism=1, duration_s=2), ["version"])
    pod = stack.runner.start(job)
    try:
        printed = pod.init_logs[K6_VERSION_CONTAINER]
    finally:
        de.remove(*pod.containers.values())
    # The k6 image here carries the harness's own k6 binary.
    assert k6_version_of(printed) == k6_version(find_k6()), printed


PROXY = "latencyproxy-db"
"""The database path's proxy release (its Service is the variant's database host)."""
PROXY_DELAY_MS = 20.0
"""Each direction's delay: the round trip grows by twice this."""
FAR_VARIANT = "gthread-far"
"""A second release of K6_VARIANT, whose database host is the proxy's Service."""
DOCKER_TAIL_MS = 10.0
"""How far the p99 of the added round trip may exceed its target here. Postgres pinged
straight against itself on the test network, in the same pairs at 16 connections, has a p99
of 1.4-7.2 ms on the 2-CPU reference machine (the bridge, a fork per connection), which the
run's 1 ms + 5 % cannot hold; the p50 must, and a proxy holding chunks too long (a timer
coalesced, Nagle's 40 ms) would still show here."""
DB_READ = WORKLOADS["db-read"]
REQUESTS = 10
"""db-read requests timed on each side, after warm-up."""


def container_ip(stack: Stack, container: str) -> str:
    """A container's address on the test network (reached from here: no published port)."""
    fmt = f'{{{{(index .NetworkSettings.Networks "{stack.network}").IPAddress}}}}'
    return de.docker("inspect", "--format", fmt, container).stdout.strip()


@contextlib.contextmanager
def all_running(runner: PodRunner, *owners: Obj) -> Iterator[list[Pod]]:
    """Pods started in order (each container detached), then waited for: ready together
    sooner than one by one; each stopped with SIGTERM afterwards (removed at once on an error).
    """
    pods: list[Pod] = []
    try:
        for owner in owners:
            pods.append(runner.start(owner))
        for pod in pods:
            runner.wait_ready(pod)
        yield pods
    except BaseException:
        for pod in pods:
            de.remove(*pod.containers.values())
        raise
    for pod in reversed(pods):
        runner.stop(pod)


def proxy_stats(pod: Pod) -> dict[str, Any]:
    """The proxy's GET /stats, on its stats port (as the harness would read it)."""
    port = PodRunner.container_port(pod, "stats")
    stats: dict[str, Any] = httpx.get(f"http://{pod.ip}:{port}/stats", timeout=5).json()
    return stats


def db_read_ms(client: httpx.Client, pod: Pod, views: str) -> float:
    """One db-read request to a variant's pod, checked; its time in milliseconds."""
    url = f"http://{pod.ip}:{SERVER_PORT}{DB_READ.path(views)}"
    started = time.perf_counter()
    resp = client.get(url, params=DB_READ.query or None)
    took = (time.perf_counter() - started) * 1000
    where = f"{pod.name} db-read"
    problem = check_answer(
        "db-read", where, resp.status_code, resp.headers.get("content-type", ""), resp.text
    )
    assert problem is None, f"{problem}\n{de.logs(pod.main)}"
    return took


def test_latency_proxy_between_a_variant_and_postgres(stack: Stack) -> None:
    """The proxy's rendered pod between Postgres and a variant's: (a) the round trip it adds,
    measured in its container (as the Kubernetes backend does) at a pool's concurrency, is
    2 x delayMs within the run's tolerance at the p50 (its p99 within Docker's own tail,
    DOCKER_TAIL_MS, and the straight path's own spread); (b) a variant whose database host is
    the proxy's Service answers db-read, each request slower than the same variant's straight
    to Postgres by at least one round trip, by as many as the proxy counted."""
    proxy_objects = HR.render("latencyproxy", PROXY, {"delayMs": PROXY_DELAY_MS})
    far_objects = HR.render(
        "django-variant", FAR_VARIANT, {"variant": K6_VARIANT, "database": {"host": PROXY}}
    )
    stack.runner.rendered.add(proxy_objects + far_objects)
    near_deployment, _ = variant_service(stack, K6_VARIANT)
    views = load_variants()[K6_VARIANT].views
    rtt_ms = 2 * PROXY_DELAY_MS
    owners = (
        workload(proxy_objects, "Deployment"),
        workload(far_objects, "Deployment"),
        near_deployment,
    )
    with all_running(stack.runner, *owners) as (proxy, far, near):
        proxy_port = PodRunner.container_port(proxy, "proxy")

        # (a) Postgres pinged straight and through the proxy, in turns, 16 connections at once
        # (the variant's pool size), by the proxy image's own ping command in its container:
        # what the Kubernetes backend runs in the proxy's pod before a variant starts.
        def ping(pings: int) -> list[tuple[float, float]]:
            command = ping_command(
                "db", (container_ip(stack, stack.postgres), 5432), ("127.0.0.1", proxy_port),
                16, pings,
            )  # fmt: skip
            return parse_pairs(de.docker("exec", proxy.main, *command, timeout=120).stdout)

        # Container networking has a tail of its own: judged as the Kubernetes backend judges
        # pod networking (all of the straight path's spread allowed on the p99).
        check = check_path("db", rtt_ms, 16, ping, noise="network")
        print(describe(check))
        assert check.ok and within(check.p50_ms, rtt_ms), describe(check)
        # Docker's own tail, and on a busy machine the straight path's own spread beside it
        # (both pings of a pair cross it: the harness charges none of it to the proxy).
        tail = DOCKER_TAIL_MS + (check.noise_ms or 0.0)
        assert check.p99_ms <= rtt_ms + tail, describe(check)
        # (b) The same requests to both variants, in turns, after a warm-up of each (its pool
        # connected, its first queries prepared).
        with httpx.Client(timeout=30) as client:
            for _ in range(3):
                db_read_ms(client, near, views)
                db_read_ms(client, far, views)
            before = proxy_stats(proxy)
            times = [(db_read_ms(client, near, views), db_read_ms(client, far, views))
                     for _ in range(REQUESTS)]  # fmt: skip
            after = proxy_stats(proxy)
    assert (after["delay_ms"], after["upstream"]) == (PROXY_DELAY_MS, "postgres:5432")
    turns = (after["round_trips"] - before["round_trips"]) / REQUESTS
    added = statistics.median(f - n for n, f in times)
    straight = [n for n, _ in times]
    quartiles = statistics.quantiles(straight, n=4)
    # A request's own spread (its interquartile range straight) is in every difference, and
    # each round trip crosses container networking as the pings did: both allowed per round trip.
    noise_ms = (check.noise_ms or 0.0) + (quartiles[2] - quartiles[0]) / max(turns, 1)
    print(
        f"db-read: straight {statistics.median(straight):.1f} ms (interquartile "
        f"{quartiles[2] - quartiles[0]:.1f} ms), through the proxy "
        f"{statistics.median(f for _, f in times):.1f} ms: +{added:.1f} ms, {turns:g} round "
        f"trips per request counted by the proxy; per round trip allowed {noise_ms:.1f} ms of noise"
    )
    assert turns >= 1, f"the proxy counted {turns} round trips per request"
    assert added >= rtt_ms, f"db-read through the proxy only {added:.1f} ms slower"
    # Each counted round trip costs one added round-trip time (within the run's tolerance).
    assert within(added / turns, rtt_ms, noise_ms), (
        f"{added:.1f} ms for {turns:g} round trips (noise allowed {noise_ms:.1f} ms each)"
    )
