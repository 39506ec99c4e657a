"""The charts rendered together, as installed in one namespace: every name the app and k6 are
configured with is a rendered Service, and every env var resolves from rendered objects."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helm_render import (
    Manifest,
    container_argv,
    container_env,
    find,
    of_kind,
    pod_spec,
    render,
    secret_data,
    step_values,
)

from benchapp import env as app_env

# The variant of the stack, as `task up` + `task variants` install them (one namespace).
STACK_VARIANT = "uvicorn"


@pytest.fixture(scope="module")
def stack(helm: Path, scenario_file: Path) -> list[Manifest]:
    """Postgres, the stub API, one variant and one k6 step, rendered into one namespace."""
    return [
        *render("postgres", "postgres"),
        *render("stubapi", "stubapi"),
        *render("django-variant", STACK_VARIANT, {"variant": STACK_VARIANT}),
        *render(
            "loadtest",
            "k6-0001",
            step_values(STACK_VARIANT, "async"),
            set_files={"scenario": scenario_file},
        ),
    ]


def service_port(objects: list[Manifest], host: str) -> set[int]:
    """Ports of the Service a hostname names (short name or <name>.<namespace>.svc...)."""
    name = host.split(".")[0]
    services = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == name]
    assert services, f"{host} is not a rendered Service"
    return {p["port"] for p in services[0]["spec"]["ports"]}


def k6_fields() -> dict[str, str]:
    return {
        "metadata.name": "k6-0001-0-abcde",
        "metadata.annotations['batch.kubernetes.io/job-completion-index']": "0",
    }


def test_app_hosts_are_rendered_services(stack: list[Manifest]) -> None:
    container = pod_spec(find(stack, "Deployment", STACK_VARIANT))["containers"][0]
    env = container_env(container, stack)
    database = urlsplit(env["DJBENCH_DATABASE_URL"])
    assert database.hostname and database.port
    assert database.port in service_port(stack, database.hostname)
    stub = urlsplit(env["DJBENCH_STUB_URL"])
    assert stub.hostname and stub.port
    assert stub.port in service_port(stack, stub.hostname)


def test_database_url_carries_the_generated_password(stack: list[Manifest]) -> None:
    """The app's own parser reads the resolved URL; the password is the postgres Secret's."""
    password = secret_data(stack, "postgres")["password"]
    assert len(password) >= 32 and password.isalnum()
    container = pod_spec(find(stack, "Deployment", STACK_VARIANT))["containers"][0]
    env = container_env(container, stack)
    settings = app_env.database(
        env["DJBENCH_DATABASE_URL"], pool_min=2, pool_max=16, pool_timeout=2
    )
    assert (settings["HOST"], settings["PORT"], settings["NAME"]) == ("postgres", "5432", "djbench")
    assert (settings["USER"], settings["PASSWORD"]) == ("djbench", password)
    assert env["DJBENCH_SECRET_KEY"]
    postgres = pod_spec(find(stack, "StatefulSet", "postgres"))["containers"]
    server_env = container_env(postgres[0], stack)
    assert server_env["POSTGRES_PASSWORD"] == password
    assert server_env["POSTGRES_USER"] == settings["USER"]
    assert server_env["POSTGRES_DB"] == settings["NAME"]
    exporter_env = container_env(postgres[1], stack)
    assert exporter_env["DATA_SOURCE_PASS"] == password


def test_seed_job_reaches_the_database(stack: list[Manifest]) -> None:
    container = pod_spec(find(stack, "Job", "postgres-seed"))["containers"][0]
    env = container_env(container, stack)
    url = urlsplit(env["DJBENCH_DATABASE_URL"])
    assert url.hostname and url.port in service_port(stack, url.hostname)
    assert url.password == secret_data(stack, "postgres")["password"]
    assert env["DJANGO_SETTINGS_MODULE"] == "benchapp.settings"


def test_k6_target_is_the_variant_service(stack: list[Manifest]) -> None:
    container = pod_spec(find(stack, "Job", "k6-0001"))["containers"][0]
    env = container_env(container, stack, field_refs=k6_fields())
    target = urlsplit(env["DJBENCH_TARGET"])
    assert target.hostname == STACK_VARIANT
    assert target.port in service_port(stack, target.hostname)
    argv = container_argv(container, env)
    assert argv[:2] == ["k6", "run"]
    assert "pod=k6-0001-0-abcde" in argv
    assert argv[-1] == "/djbench/k6/bench.js"


def test_every_env_var_resolves(stack: list[Manifest]) -> None:
    """No $(VAR) left: the containers can be started from the rendered objects alone."""
    for workload in (
        *of_kind(stack, "Deployment"),
        *of_kind(stack, "StatefulSet"),
        *of_kind(stack, "Job"),
    ):
        for container in pod_spec(workload)["containers"]:
            env = container_env(container, stack, field_refs=k6_fields())
            leftovers = [k for k, v in env.items() if "$(" in v]
            leftovers += [a for a in container_argv(container, env) if "$(" in a]
            assert not leftovers, f"{workload['metadata']['name']}: {leftovers}"


# The proxies of a run at a distance: one release per path, as NOTES.txt and values.yaml show.
PROXIED = {
    "latencyproxy-db": {"delayMs": 20},
    "latencyproxy-upstream": {
        "upstream": {"host": "stubapi", "port": 8080},
        "listenPort": 8080,
        "delayMs": 50,
    },
}


def test_a_variant_at_a_distance_reaches_everything_through_the_proxies(
    stack: list[Manifest],
) -> None:
    """The variant's database and stub hosts are the proxies' Services (same ports), and each
    proxy's upstream is a rendered Service: the path variant -> proxy -> Postgres / stub API
    resolves, with the proxies in pods of their own."""
    values = {
        "variant": STACK_VARIANT,
        "database": {"host": "latencyproxy-db"},
        "stubApi": {"url": "http://latencyproxy-upstream:8080"},
    }
    proxies = [o for release, v in PROXIED.items() for o in render("latencyproxy", release, v)]
    objects = [
        *(o for o in stack if o["metadata"].get("name") != STACK_VARIANT),
        *render("django-variant", STACK_VARIANT, values),
        *proxies,
    ]
    server = pod_spec(find(objects, "Deployment", STACK_VARIANT))["containers"][0]
    env = container_env(server, objects)
    hops = {
        "db": urlsplit(env["DJBENCH_DATABASE_URL"]),
        "upstream": urlsplit(env["DJBENCH_STUB_URL"]),
    }
    for path, url in hops.items():
        release = f"latencyproxy-{path}"
        assert url.hostname == release
        assert url.port in service_port(objects, release)
        proxy = pod_spec(find(objects, "Deployment", release))["containers"][0]
        argv = container_argv(proxy, container_env(proxy, objects))
        host, _, port = argv[argv.index("--upstream") + 1].rpartition(":")
        assert int(port) in service_port(objects, host)
        assert argv[argv.index("--listen") + 1] == f"0.0.0.0:{url.port}"
    # Not a sidecar: the server's pod holds only the server.
    assert [
        c["name"] for c in pod_spec(find(objects, "Deployment", STACK_VARIANT))["containers"]
    ] == ["server"]
