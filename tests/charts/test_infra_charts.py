"""The postgres, stubapi and latencyproxy charts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helm_render import ROOT, container_argv, find, pod_spec, render

from djbench.backends.kubernetes import STUB_PORT, STUB_SERVICE
from djbench.backends.local.programs import STUB_API_ARGV
from djbench.backends.local.proxies import PROXY_ARGV

PROXY = "latencyproxy-db"
"""A latency proxy's release (and Service): one per path, e.g. the database's."""


def test_postgres_statefulset(helm: Path) -> None:
    objects = render("postgres", "postgres", {"maxConnections": 123})
    statefulset = find(objects, "StatefulSet", "postgres")
    spec = pod_spec(statefulset)
    server = spec["containers"][0]
    assert server["image"] == "postgres:17"
    argv = container_argv(server, {})
    assert argv[:3] == ["postgres", "-c", "max_connections=123"]
    assert "command" not in server, "the image's entrypoint initialises the data directory"
    assert spec["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
    assert {"/var/run/postgresql", "/tmp", "/dev/shm", "/var/lib/postgresql/data"} <= set(mounts)
    env = {e["name"]: e for e in server["env"]}
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")
    assert "value" not in env["POSTGRES_PASSWORD"], "the password comes from the Secret"
    claim = statefulset["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert "storageClassName" not in claim["spec"], "empty: the cluster's default class"
    service = find(objects, "Service", "postgres")
    assert service["spec"]["ports"][0]["port"] == 5432
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "database"


def test_postgres_storage_class_is_a_value(helm: Path) -> None:
    objects = render("postgres", "postgres", {"persistence": {"storageClassName": "fast"}})
    claim = find(objects, "StatefulSet", "postgres")["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "fast"


def test_postgres_exporter_and_monitor(helm: Path) -> None:
    objects = render("postgres", "postgres")
    exporter = pod_spec(find(objects, "StatefulSet", "postgres"))["containers"][1]
    assert exporter["image"].startswith("quay.io/prometheuscommunity/postgres-exporter:")
    assert exporter["ports"][0]["name"] == "metrics"
    monitor = find(objects, "PodMonitor", "postgres")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_seed_job_runs_the_app_seed_command(helm: Path) -> None:
    objects = render("postgres", "postgres", {"seed": {"rows": 2500}})
    job = find(objects, "Job", "postgres-seed")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
    container = pod_spec(job)["containers"][0]
    assert container["image"] == "djbench/django:0.1.0"
    assert container_argv(container, {}) == ["python", "-m", "django", "seed", "--rows", "2500"]
    assert pod_spec(job)["nodeSelector"] == {"djbench.io/role": "infra"}
    # The seed pods are not selected by the database's Service or StatefulSet.
    selector = find(objects, "StatefulSet", "postgres")["spec"]["selector"]["matchLabels"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()
    plain = find(render("postgres", "postgres", {"seed": {"hook": False}}), "Job", "postgres-seed")
    assert "annotations" not in plain["metadata"]


def test_stub_api_runs_what_the_local_backend_runs(helm: Path) -> None:
    objects = render("stubapi", "stubapi")
    container = pod_spec(find(objects, "Deployment", "stubapi"))["containers"][0]
    local = [a.replace("{port}", "8080") for a in STUB_API_ARGV]
    local[0] = Path(local[0]).name  # the local backend names this environment's python
    local[local.index("--host") + 1] = "0.0.0.0"  # noqa: S104 -- the pod binds to all addresses
    assert container_argv(container, {}) == local
    # The Kubernetes backend reads the stub's /stats through this Service.
    service = find(objects, "Service", STUB_SERVICE)
    assert service["spec"]["ports"][0]["port"] == STUB_PORT


def test_stub_api_monitor(helm: Path) -> None:
    """The stub serves its own /metrics on its one port; the PodMonitor selects its pods only."""
    objects = render("stubapi", "stubapi", {"podMonitor": {"interval": "10s"}})
    deployment = find(objects, "Deployment", "stubapi")
    monitor = find(objects, "PodMonitor", "stubapi")
    assert monitor["spec"]["selector"] == deployment["spec"]["selector"]
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "10s", "scrapeTimeout": "4s"}
    ]
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == "upstream"
    off = render("stubapi", "stubapi", {"podMonitor": {"enabled": False}})
    assert not [o for o in off if o["kind"] == "PodMonitor"]


@pytest.mark.parametrize(("delay_ms", "jitter_ms"), [(20, 2.5), (0, 0), (12.5, 0.25)])
def test_latency_proxy_runs_what_the_local_backend_runs(
    helm: Path, delay_ms: float, jitter_ms: float
) -> None:
    """The CLI of app/latencyproxy, as the local backend starts it, bound to all addresses."""
    objects = render("latencyproxy", PROXY, {"delayMs": delay_ms, "jitterMs": jitter_ms})
    container = pod_spec(find(objects, "Deployment", PROXY))["containers"][0]
    local = [
        a.format(
            listen="0.0.0.0:5432", target="postgres:5432", delay_ms=f"{delay_ms:g}",
            jitter_ms=f"{jitter_ms:g}", stats="0.0.0.0:8081",
        )
        for a in PROXY_ARGV
    ]  # fmt: skip
    local[0] = Path(local[0]).name  # the local backend names this environment's python
    assert container_argv(container, {}) == local


def test_latency_proxy_relays_to_the_postgres_service_by_default(helm: Path) -> None:
    """Its default upstream is the postgres release's Service; its own Service keeps the port, so
    a variant only changes its database host (django-variant: database.host)."""
    proxy = render("latencyproxy", PROXY)
    postgres = find(render("postgres", "postgres"), "Service", "postgres")
    container = pod_spec(find(proxy, "Deployment", PROXY))["containers"][0]
    argv = container_argv(container, {})
    upstream = argv[argv.index("--upstream") + 1]
    assert upstream == f"postgres:{postgres['spec']['ports'][0]['port']}"
    ports = {p["name"]: p for p in find(proxy, "Service", PROXY)["spec"]["ports"]}
    assert ports["proxy"]["port"] == 5432
    assert ports["stats"]["targetPort"] == "stats"


def test_latency_proxy_to_the_stub_api(helm: Path) -> None:
    objects = render(
        "latencyproxy", "latencyproxy-upstream",
        {"upstream": {"host": STUB_SERVICE, "port": STUB_PORT}, "listenPort": STUB_PORT,
         "delayMs": 50},
    )  # fmt: skip
    container = pod_spec(find(objects, "Deployment", "latencyproxy-upstream"))["containers"][0]
    argv = container_argv(container, {})
    assert argv[argv.index("--upstream") + 1] == f"{STUB_SERVICE}:{STUB_PORT}"
    assert argv[argv.index("--listen") + 1] == f"0.0.0.0:{STUB_PORT}"
    service = find(objects, "Service", "latencyproxy-upstream")
    assert [p["port"] for p in service["spec"]["ports"]] == [STUB_PORT, 8081]


def test_latency_proxy_is_guaranteed_on_the_infra_node(helm: Path) -> None:
    """Its own pod, one replica, Guaranteed QoS on a whole CPU, where Postgres and the stub run:
    never a sidecar inside the server pod's CPU budget."""
    deployment = find(render("latencyproxy", PROXY), "Deployment", PROXY)
    assert deployment["spec"]["replicas"] == 1
    spec = pod_spec(deployment)
    [container] = spec["containers"]
    resources = container["resources"]
    assert resources["requests"] == resources["limits"] == {"cpu": "1", "memory": "128Mi"}
    stub = pod_spec(find(render("stubapi", "stubapi"), "Deployment", "stubapi"))
    assert spec["nodeSelector"] == stub["nodeSelector"] == {"djbench.io/role": "infra"}
    assert "tolerations" not in spec and "tolerations" not in stub
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "stats"}


def test_a_latency_proxy_on_a_fraction_of_a_cpu_renders_and_validates(
    helm: Path, tmp_path: Path
) -> None:
    """A node with no whole CPU to spare: 200m, still Guaranteed (requests = limits); the path
    check decides whether the proxy holds its delay on it."""
    from helm_render import template, validate

    fraction = {"cpu": "200m", "memory": "128Mi"}
    values = {"resources": {"requests": fraction, "limits": fraction}}
    text = template("latencyproxy", PROXY, values)
    (container,) = pod_spec(find(render("latencyproxy", PROXY, values), "Deployment", PROXY))[
        "containers"
    ]
    assert container["resources"] == {"requests": fraction, "limits": fraction}
    manifest = tmp_path / "latencyproxy.yaml"
    manifest.write_text(text)
    assert validate([manifest]) == ""


def test_latency_proxy_monitor(helm: Path) -> None:
    """/metrics on the stats port (the relayed port carries only the relayed bytes)."""
    objects = render("latencyproxy", PROXY, {"podMonitor": {"interval": "10s"}})
    deployment = find(objects, "Deployment", PROXY)
    monitor = find(objects, "PodMonitor", PROXY)
    assert monitor["spec"]["selector"] == deployment["spec"]["selector"]
    assert monitor["spec"]["podMetricsEndpoints"] == [
        {"port": "stats", "path": "/metrics", "interval": "10s", "scrapeTimeout": "4s"}
    ]
    assert monitor["metadata"]["labels"]["app.kubernetes.io/component"] == "latency-proxy"


def test_k8s_tools_is_idempotent(helm: Path) -> None:
    out = subprocess.run(
        [str(ROOT / "bin" / "k8s-tools")], capture_output=True, text=True, timeout=600, check=True
    ).stdout
    assert f"helm:    {ROOT}/.tools/bin/helm (v4." in out
    assert f"kubectl: {ROOT}/.tools/bin/kubectl" in out
