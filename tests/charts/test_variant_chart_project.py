"""The django-variant chart serving a team's project from its own image: the values the
Kubernetes backend installs (``releases.server_values``) rendered, and the environment the
kubelet would give the server and the prepare Job."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_render import (
    Manifest,
    container_argv,
    container_env,
    find,
    kubernetes_errors,
    of_kind,
    pod_spec,
    pod_template,
    render,
)

from djbench.contracts.server import server_values
from djbench.model.results import ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import load_profile
from djbench.model.setup import Setup
from djbench.model.variants import load_variants
from djbench.project.config import KUBERNETES_PLACEHOLDERS, load_project, prepare_commands

EXAMPLE = Path(__file__).parents[2] / "examples" / "bookshop"


def project() -> tuple[ProjectInfo, Scenario, list[list[str]]]:
    found = load_project(EXAMPLE)
    scenario = found.project.apply(load_profile("kubernetes"), "x")
    info = found.info(found.project.conventional_entry_points(), "the cluster's")
    return info, scenario, prepare_commands(found.project.database)


def rendered(variant: str, prepare: bool = True) -> list[Manifest]:
    info, scenario, commands = project()
    setup = Setup(load_variants()[variant], "requests", calls_upstream=False)
    values = server_values(setup, scenario, info)
    values["prepare"] = {"commands": commands if prepare else []}
    # Postgres' chart renders the Secret the variant reads its password from.
    return render("django-variant", variant, values) + render("postgres", "postgres", {})


@pytest.mark.parametrize(
    ("variant", "entry"),
    [("gunicorn-gthread", "bookshop.wsgi:application"), ("uvicorn", "bookshop.asgi:application")],
)
def test_the_server_runs_the_project_with_its_own_environment(
    helm: Path, variant: str, entry: str, tmp_path: Path
) -> None:
    objects = rendered(variant)
    assert kubernetes_errors(objects, tmp_path) == ""
    container = pod_spec(find(objects, "Deployment", variant))["containers"][0]
    env = container_env(container, objects)
    assert env["DJANGO_SETTINGS_MODULE"] == "bookshop.settings"
    password = env["PGPASSWORD"]
    assert env["DATABASE_URL"] == (
        f"postgres://djbench:{password}@postgres:5432/djbench?sslmode=disable"
    )
    assert env["BOOKSHOP_SECRET_KEY"] == env["DJBENCH_SECRET_KEY"] != ""
    assert env["BOOKSHOP_ALLOWED_HOSTS"] == "*"
    # Every placeholder is a variable the chart defines: nothing is left unexpanded.
    assert not [k for k, v in env.items() if "$(" in v]
    assert entry in container_argv(container, env)
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/up/"
    monitors = [m["metadata"]["name"] for m in of_kind(objects, "PodMonitor")]
    assert variant not in monitors, "a project serves no /metrics of benchapp's"


def test_every_placeholder_names_a_variable_of_the_chart(helm: Path) -> None:
    objects = rendered("uvicorn")
    container = pod_spec(find(objects, "Deployment", "uvicorn"))["containers"][0]
    env = container_env(container, objects)
    for placeholder, reference in KUBERNETES_PLACEHOLDERS.items():
        name = reference.removeprefix("$(").removesuffix(")")
        assert name in env, placeholder
    assert env["DJBENCH_DB_HOST"] == "postgres" and env["DJBENCH_DB_PORT"] == "5432"


def test_the_prepare_job_runs_the_commands_in_order_as_the_server_would(helm: Path) -> None:
    objects = rendered("uvicorn")
    job = find(objects, "Job", "uvicorn-prepare")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    spec = pod_spec(job)
    containers = [*spec["initContainers"], *spec["containers"]]
    assert [c["command"] for c in containers] == [
        ["python", "-m", "django", "migrate", "--noinput"],
        ["python", "-m", "django", "loaddata", "shelf/fixtures/authors.json"],
        ["python", "manage.py", "seed_books", "--books", "5000"],
    ]
    server = pod_spec(find(objects, "Deployment", "uvicorn"))["containers"][0]
    want = container_env(server, objects)
    for c in containers:
        assert c["image"] == server["image"]
        assert container_env(c, objects) == want
        assert c["securityContext"] == server["securityContext"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    # Its pod is never taken for the server's.
    selector = find(objects, "Service", "uvicorn")["spec"]["selector"]
    assert not selector.items() <= pod_template(job)["metadata"]["labels"].items()
    # Without commands there is no Job.
    assert not [
        j
        for j in of_kind(rendered("uvicorn", prepare=False), "Job")
        if j["metadata"]["name"] == "uvicorn-prepare"
    ]


def test_a_one_command_job_has_no_init_containers(helm: Path) -> None:
    info, scenario, _ = project()
    setup = Setup(load_variants()["uvicorn"], "aiohttp", calls_upstream=False)
    values = {**server_values(setup, scenario, info), "prepare": {"commands": [["true"]]}}
    job = find(render("django-variant", "uvicorn", values), "Job", "uvicorn-prepare")
    assert "initContainers" not in pod_spec(job)
    assert pod_spec(job)["containers"][0]["command"] == ["true"]
