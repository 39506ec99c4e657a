"""A team's project on the Kubernetes path, without a cluster: the example bookshop built as a
team builds its image (examples/bookshop/Dockerfile), djbench's servers added to it
(images/project/Dockerfile), and the django-variant chart rendered with the values the
Kubernetes backend installs for a project, run as containers (see pod_runner): Postgres, the
first variant with its prepare Job (migrations, fixtures, seed), then a second variant on the
prepared database; every named request answered as verification expects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker_engine as de
import pytest
from built_images import Images
from pod_runner import Obj, PodRunner, Rendered, running
from rendering import helm_render

from djbench.backends.kubernetes import SERVER_PORT
from djbench.contracts.server import server_values
from djbench.measure.verify import verify_answer
from djbench.model.results import ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.scenario_file import load_profile
from djbench.model.setup import Setup
from djbench.model.variants import load_variants
from djbench.project.config import load_project, prepare_commands

pytestmark = pytest.mark.docker

HR = helm_render()
HERE = Path(__file__).resolve().parent
EXAMPLE = de.REPO / "examples" / "bookshop"
EXPORTER = "quay.io/prometheuscommunity/postgres-exporter"
TEAM_IMAGE = "team/bookshop"
VARIANTS = ["gunicorn-gthread", "uvicorn"]
BOOKSHOP = de.ImageSpec(
    repository="djbench/test-bookshop",
    dockerfile=EXAMPLE / "Dockerfile",
    context=EXAMPLE,
    inputs=("examples/bookshop",),
)


@pytest.fixture(scope="module")
def project_image(images: Images) -> str:
    """The team's image, then the same with djbench's servers (both cached by content)."""
    try:
        team = de.build(BOOKSHOP, images.base)
        with_servers = de.ImageSpec(
            repository="djbench/test-bookshop-servers",
            dockerfile=de.REPO / "images/project/Dockerfile",
            context=de.REPO,
            inputs=(".dockerignore", "pyproject.toml", "uv.lock"),
            build_args={"PROJECT_IMAGE": team},
        )
        return de.build(with_servers, images.base)
    except de.DockerError as exc:
        pytest.fail(str(exc), pytrace=False)


def project() -> tuple[ProjectInfo, Scenario, list[list[str]]]:
    found = load_project(EXAMPLE)
    info = found.info(found.project.conventional_entry_points(), "the cluster's")
    scenario = found.project.apply(load_profile("kubernetes"), "test")
    return info, scenario, prepare_commands(found.project.database)


def only(objects: list[Obj], kind: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    return found[0]


@pytest.fixture(scope="module")
def releases() -> dict[str, list[Obj]]:
    """Postgres (no benchapp seed) and each variant as the backend installs it for the
    project: its image, and the prepare commands on the first one only."""
    info, scenario, commands = project()
    found = {"postgres": HR.render("postgres", "postgres", {"seed": {"enabled": False}})}
    for i, name in enumerate(VARIANTS):
        setup = Setup(load_variants()[name], "requests", calls_upstream=False)
        values = server_values(setup, scenario, info) | {
            "image": {"repository": TEAM_IMAGE, "tag": "1.0-djbench"},
            "prepare": {"commands": commands if i == 0 else []},
        }
        found[name] = HR.render("django-variant", name, values)
    return found


@pytest.fixture(scope="module")
def runner(
    images: Images, project_image: str, releases: dict[str, list[Obj]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PodRunner]:  # fmt: skip
    objects = [o for objs in releases.values() for o in objs]
    local = {TEAM_IMAGE: project_image, "postgres": images.postgres}
    with de.network() as net:
        runner = PodRunner(
            Rendered(objects, HR.NAMESPACE), net, local, tmp_path_factory.mktemp("project"),
            unavailable={EXPORTER: "postgres-exporter image not available (no registry)"},
        )  # fmt: skip
        try:
            pg = runner.start(only(releases["postgres"], "StatefulSet"))
            runner.wait_ready(pg)
            yield runner
        finally:
            runner.cleanup()


def ask(
    runner: PodRunner, image: str, base_url: str, requests: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every named request once, from a throwaway container of the project's image."""
    out = de.docker(
        "run", "--rm", "--network", runner.network, "--read-only", "--cap-drop", "ALL",
        "--user", "10001:10001", "--label", f"{de.LABEL}=1",
        "--mount", f"type=bind,source={HERE / 'request_client.py'},"
                   "destination=/probe/request_client.py,readonly",
        image, "python3", "/probe/request_client.py", base_url, json.dumps(requests),
        timeout=120,
    ).stdout  # fmt: skip
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_the_team_image_serves_its_project_under_each_variant(
    runner: PodRunner, project_image: str, releases: dict[str, list[Obj]]
) -> None:
    _, scenario, _ = project()
    requests = scenario.resolved()["requests"]
    for i, name in enumerate(VARIANTS):
        deployment = only(releases[name], "Deployment")
        with running(runner, deployment, ready_timeout=90) as pod:  # probes on /up/
            if i == 0:
                code, log = runner.run_job(only(releases[name], "Job"), timeout=600)
                assert code == 0, f"prepare Job failed ({code}):\n{log}"
                assert "seeded 5000 books" in log
            answers = ask(runner, project_image, f"http://{name}:{SERVER_PORT}", requests)
            server_log = de.logs(pod.main)
        assert [a["workload"] for a in answers] == list(requests)
        for a in answers:
            where = f"{name} {a['workload']}"
            problem = verify_answer(
                scenario, a["workload"], where, a["status"], a["content_type"], a["body"]
            )
            assert problem is None, f"{problem}\nserver log:\n{server_log}"
