"""The django-variant chart, rendered for every variant of djbench/variants.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_render import (
    CHARTS,
    Manifest,
    configmap_data,
    container_argv,
    find,
    kubernetes_errors,
    pod_spec,
    pod_template,
    render,
)

from djbench.contracts.server import shape_values
from djbench.model.pod import Shape
from djbench.model.setup import Setup
from djbench.model.variants import VARIANTS_FILE, Variant, load_variants

VARIANTS = list(load_variants().values())
PORT = 8000
ALL_ADDRESSES = "0.0.0.0"  # noqa: S104 -- what the pod binds to, as the chart renders it


def rendered(variant: Variant, **values: object) -> list[Manifest]:
    return render("django-variant", variant.name, {"variant": variant.name, **values})


def server_container(objects: list[Manifest], name: str) -> Manifest:
    containers = pod_spec(find(objects, "Deployment", name))["containers"]
    assert len(containers) == 1, "one container: the server is the whole pod"
    container: Manifest = containers[0]
    return container


def worker_count(argv: list[str]) -> str:
    """The value of the server's worker-count flag."""
    flags = [i for i, a in enumerate(argv) if a in ("--workers", "--processes")]
    assert len(flags) == 1, f"one worker-count flag in {argv}"
    return argv[flags[0] + 1]


def test_every_variant_has_a_ci_case() -> None:
    cases = {p.name for p in (CHARTS / "django-variant" / "ci").glob("*-values.yaml")}
    assert {f"{v.name}-values.yaml" for v in VARIANTS} <= cases


@pytest.mark.parametrize("name", ["gunicorn-gthread", "granian"])
def test_the_project_served_is_a_value(helm: Path, name: str) -> None:
    """app.wsgi / app.asgi fill {app} as Variant.command's app does (a team's project)."""
    variant = next(v for v in VARIANTS if v.name == name)
    app = {"wsgi": "team.wsgi:app", "asgi": "team.asgi:app"}
    argv = container_argv(server_container(rendered(variant, app=app), name), {})
    assert argv == variant.command(ALL_ADDRESSES, PORT, app=app[variant.interface])


def test_chart_reads_the_single_definition() -> None:
    link = CHARTS / "django-variant" / "variants.yaml"
    assert link.is_symlink()
    assert link.resolve() == VARIANTS_FILE.resolve()


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_command_is_the_variant_definition(helm: Path, variant: Variant) -> None:
    """The pod runs what the local backend runs: the same argv, bound to all addresses."""
    container = server_container(rendered(variant), variant.name)
    argv = container_argv(container, {})
    assert argv == variant.command(ALL_ADDRESSES, PORT)
    assert argv[0] == variant.server
    assert worker_count(argv) == "1"
    assert container["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_guaranteed_qos(helm: Path, variant: Variant) -> None:
    objects = rendered(variant)
    spec = pod_spec(find(objects, "Deployment", variant.name))
    assert find(objects, "Deployment", variant.name)["spec"]["replicas"] == 1
    assert "initContainers" not in spec
    for container in spec["containers"]:
        resources = container["resources"]
        assert resources["requests"] == resources["limits"]
        assert set(resources["limits"]) == {"cpu", "memory"}
        assert resources["limits"]["cpu"] == "1", "one whole CPU: the static CPU manager pins it"


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_probes_never_restart_a_busy_worker(helm: Path, variant: Variant) -> None:
    container = server_container(rendered(variant), variant.name)
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    readiness = container["readinessProbe"]
    assert readiness["timeoutSeconds"] >= 5
    assert readiness["periodSeconds"] * readiness["failureThreshold"] >= 60
    liveness = container["livenessProbe"]
    # A TCP connect lands in the listen backlog even while the only worker is busy.
    assert liveness["tcpSocket"] == {"port": "http"}
    assert liveness["timeoutSeconds"] >= 5
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_labels_say_what_the_variant_is(helm: Path, variant: Variant) -> None:
    objects = rendered(variant)
    expected = {
        "djbench.io/variant": variant.name,
        "djbench.io/server": variant.server,
        "djbench.io/interface": variant.interface,
        "djbench.io/views": variant.views,
        "app.kubernetes.io/instance": variant.name,
    }
    for obj in objects:
        assert expected.items() <= obj["metadata"]["labels"].items(), obj["kind"]
    template = pod_template(find(objects, "Deployment", variant.name))
    assert expected.items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"]["checksum/config"]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_service_and_pod_monitor(helm: Path, variant: Variant) -> None:
    objects = rendered(variant)
    service = find(objects, "Service", variant.name)
    assert service["spec"]["ports"] == [
        {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    ]
    template = pod_template(find(objects, "Deployment", variant.name))
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    monitor = find(objects, "PodMonitor", variant.name)
    targets = {r["targetLabel"] for r in monitor["spec"]["podMetricsEndpoints"][0]["relabelings"]}
    assert targets == {"variant", "server", "interface", "views"}


def test_threads_value_overrides_the_default(helm: Path) -> None:
    variant = load_variants()["gunicorn-gthread"]
    argv = container_argv(server_container(rendered(variant, threads=64), variant.name), {})
    assert argv == variant.command(ALL_ADDRESSES, PORT, Shape(threads=64))
    assert argv[argv.index("--threads") + 1] == "64"


@pytest.mark.parametrize("name", ["gunicorn-gthread", "uwsgi", "uvicorn", "gunicorn-sync"])
def test_a_pod_shape_reaches_the_pod_as_the_local_command(
    helm: Path, tmp_path: Path, name: str
) -> None:
    """The shape's chart values (``shape_values``, what a measured release and a capacity
    plan's values file carry) give the pod the command line the local backend runs, and its
    CPU budget as requests = limits, a fraction in millicores."""
    variant = load_variants()[name]
    shape = Shape(
        threads=8 if variant.sized_pool else variant.standard_threads, workers=2, cpus=0.5
    )
    objects = rendered(variant, **shape_values(Setup(variant, "requests", shape=shape)))
    container = server_container(objects, name)
    assert container_argv(container, {}) == variant.command(ALL_ADDRESSES, PORT, shape)
    assert worker_count(container_argv(container, {})) == "2"
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "500m"
    assert resources["requests"]["memory"] == resources["limits"]["memory"]
    assert kubernetes_errors(objects, tmp_path) == ""


def test_app_environment(helm: Path) -> None:
    variant = load_variants()["uvicorn"]
    objects = rendered(variant)
    container = server_container(objects, variant.name)
    config = configmap_data(objects, variant.name)
    assert container["envFrom"] == [{"configMapRef": {"name": variant.name}}]
    assert config["DJANGO_SETTINGS_MODULE"] == "benchapp.settings"
    assert config["DJBENCH_ALLOWED_HOSTS"] == "*", "probes send the pod IP as Host"
    assert config["DJBENCH_STUB_URL"] == "http://stubapi:8080"
    assert config["DJBENCH_UPSTREAM_DELAYS"] == "300,600,150"
    assert (config["DJBENCH_DB_POOL_MIN"], config["DJBENCH_DB_POOL_MAX"]) == ("2", "16")
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "postgres", "key": "password"}
    }
    assert env["DJBENCH_DATABASE_URL"]["value"] == (
        "postgres://djbench:$(PGPASSWORD)@postgres:5432/djbench?sslmode=disable"
    )
    assert list(env).index("PGPASSWORD") < list(env).index("DJBENCH_DATABASE_URL")
    assert env["DJBENCH_SECRET_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": variant.name, "key": "secret-key"}
    }


def test_config_change_rolls_the_pod(helm: Path) -> None:
    variant = load_variants()["granian"]

    def checksum(objects: list[Manifest]) -> str:
        template = pod_template(find(objects, "Deployment", variant.name))
        value: str = template["metadata"]["annotations"]["checksum/config"]
        return value

    base = checksum(rendered(variant))
    assert checksum(rendered(variant)) == base
    assert checksum(rendered(variant, upstream={"delaysMs": [100]})) != base


def test_variant_defaults_to_the_release_name(helm: Path) -> None:
    objects = render("django-variant", "gunicorn-sync")
    argv = container_argv(server_container(objects, "gunicorn-sync"), {})
    assert argv == load_variants()["gunicorn-sync"].command(ALL_ADDRESSES, PORT)


def test_multiple_workers_only_with_the_override(helm: Path) -> None:
    variant = load_variants()["uwsgi"]
    objects = rendered(variant, workers=2, allowMultipleWorkers=True)
    assert worker_count(container_argv(server_container(objects, variant.name), {})) == "2"


def test_the_upstream_clients_are_the_catalogs() -> None:
    """The chart's schema and defaults spell the catalog's clients (benchapp/catalog.py)."""
    import json

    import yaml

    from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, UPSTREAM_CLIENTS

    chart = CHARTS / "django-variant"
    schema = json.loads((chart / "values.schema.json").read_text())["properties"]["upstream"]
    values = yaml.safe_load((chart / "values.yaml").read_text())["upstream"]
    for kind in ("sync", "async"):
        assert schema["properties"][f"{kind}Client"]["enum"] == list(UPSTREAM_CLIENTS[kind])
        assert values[f"{kind}Client"] == DEFAULT_UPSTREAM_CLIENTS[kind]


def test_the_upstream_client_reaches_the_server() -> None:
    variant = load_variants()["uvicorn"]
    objects = rendered(
        variant, upstream={"asyncClient": "httpx2", "syncClient": "httpx", "connections": 96}
    )
    data = configmap_data(objects, variant.name)
    assert data["DJBENCH_UPSTREAM_ASYNC_CLIENT"] == "httpx2"
    assert data["DJBENCH_UPSTREAM_SYNC_CLIENT"] == "httpx"
    assert data["DJBENCH_UPSTREAM_CONNECTIONS"] == "96"


def test_the_server_container_is_the_one_the_backend_reads() -> None:
    """The backend execs into SERVER_CONTAINER for its cgroup and reads its CPU limit."""
    from djbench.backends.kubernetes.releases import SERVER_CONTAINER

    variant = load_variants()["uvicorn"]
    assert server_container(rendered(variant), variant.name)["name"] == SERVER_CONTAINER
