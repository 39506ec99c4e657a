"""The helm commands the Kubernetes backend runs, rendered by the real helm against our charts.

`helm upgrade --install R CHART ARGS` and `helm template R CHART ARGS` take the same values: if
the backend's values render and carry the right settings, the install would get them too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from djbench.backends.kubernetes import step_install_args, variant_install_args
from djbench.backends.kubernetes.releases import proxy_install_args
from djbench.contracts import k6_step as contract
from djbench.measure.k6 import SCRIPT, find_k6
from djbench.model.results import Distance
from djbench.model.scenario_file import load_profile, revalidate
from djbench.model.setup import LoadStep, Setup
from djbench.model.shapes import shapes_for
from djbench.model.variants import load_variants


def _template(helm: Path, install_args: list[str]) -> list[dict[str, Any]]:
    assert install_args[:2] == ["upgrade", "--install"]
    done = subprocess.run(
        [str(helm), "template", *install_args[2:], "--namespace", "djbench"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _env(container: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, str]:
    """Plain env of a container, with the ConfigMaps it takes whole (envFrom) resolved."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        for o in objects:
            if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name:
                env.update(o.get("data", {}))
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


@pytest.mark.parametrize(
    ("name", "client", "sync_client", "async_client"),
    [
        ("gunicorn-gthread", "httpx2", "httpx2", "aiohttp"),
        ("uvicorn-raw", "httpx", "requests", "httpx"),
    ],
)
def test_variant_install_renders_the_scenario(
    helm: Path, name: str, client: str, sync_client: str, async_client: str
) -> None:
    scenario = revalidate(
        load_profile("smoke"),
        {"threads": 8, "db_pool": {"max_size": 7}, "upstream_delays_ms": [10, 20]},
        "test",
    )
    variant = load_variants()[name]
    (shape,) = shapes_for(scenario, variant)
    objects = _template(helm, variant_install_args(Setup(variant, client, shape=shape), scenario))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv == variant.command("0.0.0.0", 8000, shape)  # noqa: S104 - in the pod
    assert ("--threads" in argv) == variant.sized_pool
    assert not variant.sized_pool or argv[argv.index("--threads") + 1] == "8"
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == "1"
    env = _env(container, objects)
    assert env["DJBENCH_DB_POOL_MAX"] == "7"
    assert env["DJBENCH_UPSTREAM_DELAYS"] == "10,20"
    # The run's client for the variant's views, the default for the other kind; a pool for
    # the smoke profile's peak: 8 VUs x 2 calls.
    assert env["DJBENCH_UPSTREAM_SYNC_CLIENT"] == sync_client
    assert env["DJBENCH_UPSTREAM_ASYNC_CLIENT"] == async_client
    assert env["DJBENCH_UPSTREAM_CONNECTIONS"] == "16"
    assert any(o["kind"] == "Service" and o["metadata"]["name"] == name for o in objects)


@pytest.mark.parametrize("step", [LoadStep("closed", 32.0), LoadStep("open", 12.5)])
def test_step_install_renders_one_k6_job(helm: Path, tmp_path: Path, step: LoadStep) -> None:
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(load_profile("smoke").resolved()))
    variant = load_variants()["uvicorn"]
    args = step_install_args(
        "k6-run-0001", "http://uvicorn:8000", Setup(variant, "httpx2"), "cpu", step, run_id="run1",
        scenario_file=scenario_file, parallelism=2, remote_write="http://prom:9090/api/v1/write",
        k6_image="grafana/k6:1.1.0", deadline_s=90, warmup_s=1, duration_s=2, max_vus=19,
        pre_vus=7,
    )  # fmt: skip
    objects = _template(helm, args)
    job = next(o for o in objects if o["kind"] == "Job")
    assert job["metadata"]["name"] == "k6-run-0001"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["parallelism"] == spec["completions"] == 2
    assert spec["activeDeadlineSeconds"] == 90
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"] == "grafana/k6:1.1.0"
    env = _env(container, objects)
    assert env["DJBENCH_TARGET"] == "http://uvicorn:8000"
    assert env["DJBENCH_VIEWS"] == "async"
    assert env["DJBENCH_MODEL"] == step.model
    assert float(env["DJBENCH_LEVEL"]) == step.level
    assert env["DJBENCH_PARALLELISM"] == "2"
    assert env["DJBENCH_RUN"] == "run1"
    assert env["DJBENCH_CLIENT"] == "httpx2"
    assert env[contract.MAX_VUS] == "19"
    assert env[contract.PRE_VUS] == "7"


@pytest.mark.parametrize(
    ("image", "repository", "tag"),
    [
        ("grafana/k6:1.1.0", "grafana/k6", "1.1.0"),
        ("registry:5000/k6", "registry:5000/k6", "latest"),
        ("registry:5000/team/k6:1.1.0", "registry:5000/team/k6", "1.1.0"),
    ],
)
def test_k6_image_is_split_at_the_tag(image: str, repository: str, tag: str) -> None:
    args = step_install_args(
        "k6-r-0001", "http://uvicorn:8000", Setup(load_variants()["uvicorn"], "aiohttp"), "cpu",
        LoadStep("closed", 1), run_id="r", scenario_file=Path("s.json"), parallelism=1,
        remote_write="http://p/api/v1/write", k6_image=image, deadline_s=60, warmup_s=1,
        duration_s=2, max_vus=1, pre_vus=1,
    )  # fmt: skip
    assert f"image.repository={repository}" in args
    assert f"image.tag={tag}" in args


@pytest.mark.parametrize("level", [32.0, 12.5, 153.6, 1234567.0, 12.3456789])
def test_k6_in_the_installed_job_tags_as_the_contract_says(
    helm: Path, tmp_path: Path, level: float
) -> None:
    """The Job's environment, given to the real k6 script: its tags are contract.step_tags,
    what the merged-latency query selects on (tests/images runs it in the k6 image)."""
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(load_profile("smoke").resolved()))
    step = LoadStep("open", level)
    args = step_install_args(
        "k6-run-0001", "http://uvicorn:8000", Setup(load_variants()["uvicorn"], "httpx2"), "cpu",
        step, run_id="run1", scenario_file=scenario_file, parallelism=2,
        remote_write="http://prom:9090/api/v1/write", k6_image="grafana/k6:1.1.0", deadline_s=90,
        warmup_s=1, duration_s=2, max_vus=37, pre_vus=11,
    )  # fmt: skip
    objects = _template(helm, args)
    job = next(o for o in objects if o["kind"] == "Job")
    env = _env(job["spec"]["template"]["spec"]["containers"][0], objects)
    tags = contract.step_tags(
        run="run1", variant="uvicorn", client="httpx2", workload="cpu", model="open", level=level
    )
    assert env[contract.LEVEL] == contract.format_level(level)
    assert job["metadata"]["labels"]["djbench.io/step"] == tags["step"]
    # Pod 1 of 2, reading the scenario from here rather than from its mount.
    env |= {contract.SCENARIO: str(scenario_file), contract.JOB_COMPLETION_INDEX: "1"}
    done = subprocess.run(
        [str(find_k6()), "inspect", "--include-system-env-vars", str(SCRIPT)],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    options = json.loads(done.stdout)
    assert options["tags"] == tags
    assert options["executionSegment"] == "1/2:1"
    # The step's VU ceiling and preallocation, for both pods together (k6 splits them by the
    # segment).
    assert {sc["maxVUs"] for sc in options["scenarios"].values()} == {37}
    assert {sc["preAllocatedVUs"] for sc in options["scenarios"].values()} == {11}


class HelmRecorder:
    """Records the backend's helm commands; the variant's Deployment has a 1-CPU limit."""

    namespace = "djbench"

    def __init__(self) -> None:
        self.helm_calls: list[list[str]] = []

    def helm(self, *args: str, **_: object) -> str:
        self.helm_calls.append(list(args))
        return ""

    def kubectl(self, *args: str, **_: object) -> str:
        return ""

    def deployment(self, name: str) -> dict[str, object]:
        server = {"name": "server", "resources": {"limits": {"cpu": "1"}}}
        return {"spec": {"template": {"spec": {"containers": [server]}}}}

    def pods(self, label_selector: str) -> list[dict[str, object]]:
        return []


CLUSTER = {
    "global": {"imagePullSecrets": [{"name": "regcred"}]},
    "postgres": {"image": {"repository": "registry.example.com/postgres"}},
    "django-variant": {
        "image": {"repository": "registry.example.com/djbench/django", "tag": "0.1.0"},
        "nodeSelector": {"djbench.io/role": "big-sut"},
        "resources": {"requests": {"cpu": "3"}, "limits": {"cpu": "3"}},
    },
    "loadtest": {"tolerations": [{"key": "load", "operator": "Exists"}]},
}


def test_helm_values_reach_each_chart_as_its_own_section(helm: Path, tmp_path: Path) -> None:
    from djbench.backends.kubernetes import LOADTEST_CHART, KubernetesBackend

    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(CLUSTER))
    scenario = load_profile("kubernetes")
    kube = HelmRecorder()
    out = tmp_path / "run"
    backend = KubernetesBackend(
        scenario,
        out_dir=out,
        kube=kube,
        run_id="run1",
        values=[cluster],  # type: ignore[arg-type]
    )
    setup = Setup(load_variants()["uvicorn"], "httpx2")
    with backend.server(setup):
        pass
    install = kube.helm_calls[0]
    assert install[install.index("--values") + 1] == str(
        out / "helm-values" / "django-variant.yaml"
    )
    objects = _template(helm, install[: install.index("--wait")])
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com/djbench/django:0.1.0"
    assert pod["containers"][0]["resources"]["limits"]["cpu"] == "3"
    assert pod["nodeSelector"] == {"djbench.io/role": "big-sut"}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]

    # What measure() installs: the step's args, then the loadtest section.
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(scenario.resolved()))
    step = step_install_args(
        "k6-run1-0001", "http://uvicorn:8000", setup, "cpu", LoadStep("closed", 8), run_id="run1",
        scenario_file=scenario_file, parallelism=1, remote_write="http://prom:9090/api/v1/write",
        k6_image="grafana/k6:1.1.0", deadline_s=90, warmup_s=1, duration_s=2, max_vus=8,
        pre_vus=8,
    )  # fmt: skip
    values = backend.values_args(LOADTEST_CHART)
    assert values == ["--values", str(out / "helm-values" / "loadtest.yaml")]
    job = next(o for o in _template(helm, [*step, *values]) if o["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"djbench.io/role": "load"}
    assert pod["tolerations"] == [{"key": "load", "operator": "Exists"}]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    k6 = pod["containers"][0]
    assert k6["image"] == "grafana/k6:1.1.0"
    assert k6["resources"].get("limits", {}).get("cpu") != "3"
    assert k6["resources"]["requests"]["cpu"] != "3"


def test_without_helm_values_no_values_are_passed(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import VARIANT_CHART, KubernetesBackend

    backend = KubernetesBackend(
        load_profile("kubernetes"),
        out_dir=tmp_path,
        kube=HelmRecorder(),
        run_id="r",  # type: ignore[arg-type]
    )
    assert backend.values_args(VARIANT_CHART) == []
    assert not (tmp_path / "helm-values").exists()


def test_a_flat_values_file_is_refused_before_the_run(tmp_path: Path) -> None:
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.model.errors import DjbenchError

    flat = tmp_path / "variant.yaml"
    flat.write_text("image:\n  repository: registry.example.com/djbench/django\n")
    with pytest.raises(DjbenchError, match=r"not a chart section: 'image'; .*django-variant"):
        KubernetesBackend(
            load_profile("kubernetes"), out_dir=tmp_path / "run", kube=HelmRecorder(),  # type: ignore[arg-type]
            run_id="r", values=[flat],
        )  # fmt: skip
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("path", "rtt_ms", "jitter_ms", "upstream", "port", "delay", "jitter"),
    [
        ("db", 1.5, 0.25, "postgres:5432", 5432, "0.75", "0.25"),
        ("upstream", 100.0, 0.0, "stubapi:8080", 8080, "50", "0"),
    ],
)
def test_proxy_install_renders_half_the_round_trip_each_way(
    helm: Path,
    path: str,
    rtt_ms: float,
    jitter_ms: float,
    upstream: str,
    port: int,
    delay: str,
    jitter: str,
) -> None:
    """A fraction of a millisecond stays a number (--set-json), as the chart's schema asks."""
    objects = _template(helm, proxy_install_args(path, rtt_ms, jitter_ms))  # type: ignore[arg-type]
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    options = dict(zip(args[::2], args[1::2], strict=True))
    assert options["--upstream"] == upstream
    assert options["--listen"] == f"0.0.0.0:{port}"
    assert (options["--delay-ms"], options["--jitter-ms"]) == (delay, jitter)
    service = next(o for o in objects if o["kind"] == "Service")
    assert service["metadata"]["name"] == f"latencyproxy-{path}"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "proxy": port,
        "stats": 8081,
    }


@pytest.mark.parametrize(
    ("distance", "host", "stub"),
    [
        (Distance(), "postgres", "http://stubapi:8080"),
        (Distance(db_rtt_ms=100), "latencyproxy-db", "http://stubapi:8080"),
        (Distance(upstream_rtt_ms=0), "postgres", "http://latencyproxy-upstream:8080"),
    ],
)
def test_a_variant_at_a_distance_connects_through_its_proxies(
    helm: Path, distance: Distance, host: str, stub: str
) -> None:
    setup = Setup(load_variants()["gunicorn-gthread"], "httpx2", distance)
    objects = _template(helm, variant_install_args(setup, load_profile("smoke")))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    env = _env(deployment["spec"]["template"]["spec"]["containers"][0], objects)
    assert f"@{host}:5432/" in env["DJBENCH_DATABASE_URL"], env["DJBENCH_DATABASE_URL"]
    assert env["DJBENCH_STUB_URL"] == stub


def test_a_variant_is_measured_as_one_pod_whatever_the_cluster_values_say(
    helm: Path, tmp_path: Path
) -> None:
    values = tmp_path / "django-variant.yaml"
    values.write_text("replicas: 3\n")  # e.g. a plan's values file given as --helm-values
    setup = Setup(load_variants()["uvicorn"], "aiohttp")
    args = [*variant_install_args(setup, load_profile("smoke")), "--values", str(values)]
    deployment = next(o for o in _template(helm, args) if o["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 1


def test_a_project_s_first_variant_prepares_its_database_at_a_distance_too(helm: Path) -> None:
    from djbench.project.config import load_project, prepare_commands

    found = load_project(Path(__file__).parents[4] / "examples" / "bookshop")
    scenario = found.project.apply(load_profile("kubernetes"), "x")
    info = found.info(found.project.conventional_entry_points(), "x")
    assert (info.name, info.settings) == ("bookshop", "bookshop.settings")
    setup = Setup(load_variants()["granian"], "aiohttp", Distance(db_rtt_ms=20), False)
    commands = prepare_commands(found.project.database)
    objects = _template(helm, variant_install_args(setup, scenario, info, commands))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    argv = [*container.get("command", []), *container.get("args", [])]
    assert argv == setup.variant.command("0.0.0.0", 8000, app="bookshop.asgi:application")  # noqa: S104
    env = _env(container, objects)
    # The project's DATABASE_URL is the variant's: through the proxy at this distance.
    assert env["DATABASE_URL"] == "$(DJBENCH_DATABASE_URL)"
    assert "@latencyproxy-db:5432/" in env["DJBENCH_DATABASE_URL"]
    assert env["DJBENCH_DB_HOST"] == "latencyproxy-db"
    job = next(o for o in objects if o["kind"] == "Job")
    assert job["metadata"]["name"] == "granian-prepare"
    # The variants after the first find the database prepared: no Job.
    later = _template(helm, variant_install_args(setup, scenario, info, []))
    assert not [o for o in later if o["kind"] == "Job"]


def test_without_prometheus_k6_writes_nowhere(helm: Path, tmp_path: Path) -> None:
    """`--prometheus none` (a cluster without one): the k6 Job has no remote-write output,
    and the run records which Prometheus it read, none."""
    from djbench.backends.kubernetes import KubernetesBackend
    from djbench.backends.kubernetes.kube import PrometheusRef
    from djbench.model.errors import DjbenchError

    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(json.dumps(load_profile("smoke").resolved()))
    args = step_install_args(
        "k6-run-0001", "http://uvicorn:8000", Setup(load_variants()["uvicorn"], "aiohttp"),
        "cpu", LoadStep("closed", 8), run_id="run1", scenario_file=scenario_file,
        parallelism=1, remote_write=None, k6_image="grafana/k6:1.1.0", deadline_s=90,
        warmup_s=1, duration_s=30, max_vus=8, pre_vus=8,
    )  # fmt: skip
    job = next(o for o in _template(helm, args) if o["kind"] == "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert not any("prometheus" in a for a in container.get("args", []) + container["command"])
    assert "K6_PROMETHEUS_RW_SERVER_URL" not in {e["name"] for e in container.get("env", [])}
    assert PrometheusRef.parse("none") is None
    theirs = PrometheusRef.parse("observability/prometheus-operated")
    assert theirs == PrometheusRef("observability", "prometheus-operated", 9090)
    with pytest.raises(DjbenchError, match=r"^--prometheus 'prom': give NAMESPACE/SERVICE"):
        PrometheusRef.parse("prom")
    backend = KubernetesBackend(
        revalidate(load_profile("kubernetes"), {}, "x"), out_dir=tmp_path, kube=None,  # type: ignore[arg-type]
        run_id="r", prometheus=theirs,
    )  # fmt: skip
    assert backend.remote_write == (
        "http://prometheus-operated.observability.svc:9090/api/v1/write"
    )
