"""One cluster values file for every chart: each chart rendered with the values
`djbench helm-values` gives it, and nothing of the other charts' sections."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_render import (
    CHARTS,
    ROOT,
    find,
    pod_spec,
    render,
    step_values,
    workloads,
)

from djbench.contracts.chart_values import charts

EXAMPLE = CHARTS / "cluster-values.example.yaml"
DJANGO_IMAGE = "registry.example.com/djbench/django"
VARIANT_RESOURCES = {
    "requests": {"cpu": "3", "memory": "3Gi"},
    "limits": {"cpu": "3", "memory": "3Gi"},
}
CLUSTER: dict[str, Any] = {
    "global": {"imagePullSecrets": [{"name": "regcred"}]},
    "postgres": {
        "persistence": {"storageClassName": "fast"},
        "seed": {"image": {"repository": "registry.example.com/djbench/seed", "tag": "0.1.0"}},
    },
    "stubapi": {"image": {"repository": "registry.example.com/djbench/stubapi", "tag": "0.1.0"}},
    "latencyproxy": {
        "image": {"repository": "registry.example.com/djbench/latencyproxy", "tag": "0.1.0"}
    },
    "django-variant": {
        "image": {"repository": DJANGO_IMAGE, "tag": "0.1.0"},
        "resources": VARIANT_RESOURCES,
        "nodeSelector": {"djbench.io/role": "big-sut"},
        "tolerations": [{"key": "sut", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "loadtest": {"nodeSelector": {"djbench.io/role": "load"}},
}


def chart_file(cluster: Path, chart: str, tmp_path: Path) -> Path:
    """What a user installing `chart` runs first (README.md: On a real cluster)."""
    out = tmp_path / f"{chart}.values.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "djbench", "helm-values", str(cluster), chart, "-o", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture
def cluster(tmp_path: Path) -> Path:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(CLUSTER))
    return path


def images(objects: list[dict[str, Any]]) -> list[str]:
    return [
        c["image"]
        for w in workloads(objects)
        for c in [*pod_spec(w).get("initContainers", []), *pod_spec(w)["containers"]]
    ]


def test_postgres_gets_its_section_and_no_django_image(cluster: Path, tmp_path: Path) -> None:
    objects = render("postgres", "postgres", files=[chart_file(cluster, "postgres", tmp_path)])
    statefulset = find(objects, "StatefulSet", "postgres")
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert pod_spec(statefulset)["imagePullSecrets"] == [{"name": "regcred"}]
    # The server is Postgres' own image; the seed Job's is the postgres section's seed.image.
    assert pod_spec(statefulset)["containers"][0]["image"].startswith("postgres:")
    assert not [i for i in images([statefulset]) if "djbench" in i]
    seed = [o for o in workloads(objects) if o["kind"] == "Job"]
    assert seed
    assert set(images(seed)) == {"registry.example.com/djbench/seed:0.1.0"}


def test_stubapi_gets_its_own_image(cluster: Path, tmp_path: Path) -> None:
    objects = render("stubapi", "stubapi", files=[chart_file(cluster, "stubapi", tmp_path)])
    assert images(objects) == ["registry.example.com/djbench/stubapi:0.1.0"]


def test_latencyproxy_gets_its_own_image_and_global(cluster: Path, tmp_path: Path) -> None:
    objects = render(
        "latencyproxy", "latencyproxy-db", files=[chart_file(cluster, "latencyproxy", tmp_path)]
    )
    assert images(objects) == ["registry.example.com/djbench/latencyproxy:0.1.0"]
    pod = pod_spec(find(objects, "Deployment", "latencyproxy-db"))
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["nodeSelector"] == {"djbench.io/role": "infra"}


def test_k6_job_gets_neither_the_variants_resources_nor_its_node(
    cluster: Path, tmp_path: Path, scenario_file: Path
) -> None:
    objects = render(
        "loadtest", "k6-run-0001", step_values("uvicorn", "async"),
        files=[chart_file(cluster, "loadtest", tmp_path)], set_files={"scenario": scenario_file},
    )  # fmt: skip
    pod = pod_spec(find(objects, "Job"))
    assert pod["nodeSelector"] == {"djbench.io/role": "load"}
    assert "tolerations" not in pod or pod["tolerations"] == []
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    k6 = pod["containers"][0]
    assert k6["resources"] != VARIANT_RESOURCES
    assert "limits" not in k6["resources"] or k6["resources"]["limits"].get("cpu") != "3"
    assert not k6["image"].startswith(DJANGO_IMAGE)


def test_variant_gets_its_section(cluster: Path, tmp_path: Path) -> None:
    objects = render(
        "django-variant", "uvicorn", {"variant": "uvicorn"},
        files=[chart_file(cluster, "django-variant", tmp_path)],
    )  # fmt: skip
    pod = pod_spec(find(objects, "Deployment", "uvicorn"))
    assert pod["nodeSelector"] == {"djbench.io/role": "big-sut"}
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    server = pod["containers"][0]
    assert server["image"] == f"{DJANGO_IMAGE}:0.1.0"
    assert server["resources"] == VARIANT_RESOURCES


@pytest.mark.parametrize("chart", sorted(charts()))
def test_the_example_renders_every_chart(chart: str, tmp_path: Path, scenario_file: Path) -> None:
    """The README's starting point passes every chart's schema."""
    values = {
        "django-variant": {"variant": "uvicorn"},
        "loadtest": step_values("uvicorn", "async"),
    }.get(chart, {})
    set_files = {"scenario": scenario_file} if chart == "loadtest" else None
    assert render(
        chart, chart, values, files=[chart_file(EXAMPLE, chart, tmp_path)], set_files=set_files
    )
