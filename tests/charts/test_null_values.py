"""null, helm's way to drop a chart's default, is accepted where users pass it, and renders
nothing (never a `null` where Kubernetes wants an object).

A plain install never shows the problem: helm removes a null key that the defaults have before
it validates. `helm upgrade --reuse-values` of a release installed with such a null keeps it
(the defaults are then the release's computed values, which no longer have the key), so the
schema and the templates see it: ``render_reuse_values`` renders that upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helm_render import (
    HelmError,
    all_containers,
    coalesce,
    container_argv,
    find,
    kubernetes_errors,
    of_kind,
    pod_spec,
    pod_template,
    render,
    render_reuse_values,
    step_values,
    without_random,
    workloads,
)

# Keys of the pod spec that a null must leave out.
POD_FIELDS = ("nodeSelector", "tolerations", "affinity", "imagePullSecrets")
# The maps and lists users drop with null, in every chart that has pods.
POD_NULLS: dict[str, Any] = {
    "nodeSelector": None,
    "tolerations": None,
    "affinity": None,
    "imagePullSecrets": None,
    "podAnnotations": None,
    "podLabels": None,
    "serviceAccount": {"annotations": None, "create": True},
}
# Per chart: release, its values at install (the nulls included), the values of the upgrade.
CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "django-variant": (
        "uvicorn",
        {
            **POD_NULLS,
            "variant": "uvicorn",
            "extraEnv": None,
            "podMonitor": {"labels": None},
            "database": {"options": None},
        },
        {"upstream": {"connections": 64}},
    ),
    "postgres": (
        "postgres",
        {
            **POD_NULLS,
            "podMonitor": {"labels": None},
            "config": None,
            "resources": None,
            "exporter": {"resources": {"limits": None}},
            "seed": {"resources": {"requests": {"cpu": None}}},
        },
        {"seed": {"rows": 5000}},
    ),
    "stubapi": (
        "stubapi",
        {
            **POD_NULLS,
            "podMonitor": {"labels": None},
            "resources": {"limits": {"memory": None}},
        },
        {"replicas": 2},
    ),
    "latencyproxy": (
        "latencyproxy-db",
        {**POD_NULLS, "podMonitor": {"labels": None}},
        {"delayMs": 30},
    ),
    "loadtest": (
        "k6-0001",
        {
            **POD_NULLS,
            **step_values("uvicorn", "async"),
            "extraArgs": None,
            "resources": {"requests": None},
        },
        {"level": 64},
    ),
    "dashboards": (
        "djbench-dashboards",
        {"extraLabels": None, "sidecar": {"folderAnnotation": None}},
        {"folder": "other"},
    ),
}


def nulls(node: Any, path: str = "") -> Iterator[str]:
    """Paths of the null values in a rendered object."""
    if node is None:
        yield path
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from nulls(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from nulls(value, f"{path}[{i}]")


@pytest.fixture(scope="module")
def scenario_text(scenario_file: Path) -> str:
    """The resolved scenario, as the loadtest chart's `scenario` value."""
    return scenario_file.read_text()


def installed_values(chart: str, scenario_text: str) -> dict[str, Any]:
    values = dict(CASES[chart][1])
    if chart == "loadtest":
        values["scenario"] = scenario_text
    return values


def test_postgres_reseed_after_an_install_with_a_null_node_selector(helm: Path) -> None:
    """The reported case: installed with `nodeSelector: null`, re-seeded with
    `helm upgrade postgres charts/postgres --reuse-values --set seed.rows=N`, which failed
    with "at '/nodeSelector': got null, want object"."""
    objects = render_reuse_values(
        "postgres", "postgres", {"nodeSelector": None}, {"seed": {"rows": 5000}}
    )
    job = find(objects, "Job", "postgres-seed")
    assert container_argv(pod_spec(job)["containers"][0], {})[-2:] == ["--rows", "5000"]
    for workload in (job, find(objects, "StatefulSet", "postgres")):
        assert "nodeSelector" not in pod_spec(workload)


@pytest.mark.parametrize("chart", list(CASES))
def test_reuse_values_upgrade_after_an_install_with_nulls(
    helm: Path, tmp_path: Path, scenario_text: str, chart: str
) -> None:
    release, _, upgrade = CASES[chart]
    installed = installed_values(chart, scenario_text)
    objects = render_reuse_values(chart, release, installed, upgrade)
    assert objects
    for obj in objects:
        assert not list(nulls(obj)), f"{obj['kind']} {obj['metadata']['name']}: null rendered"
    for workload in workloads(objects):
        spec = pod_spec(workload)
        assert not [f for f in POD_FIELDS if f in spec], workload["metadata"]["name"]
        metadata = pod_template(workload)["metadata"]
        assert set(metadata.get("annotations", {})) <= {"checksum/config"}
        extra = [k for k in metadata["labels"] if not k.startswith(("app.", "helm.", "djbench."))]
        assert not extra, workload["metadata"]["name"]
    assert kubernetes_errors(objects, tmp_path) == ""
    # The same nulls on a plain install mean the same: the key dropped.
    plain = render(chart, release, coalesce(upgrade, installed))
    assert without_random(plain) == without_random(objects)


def test_dropped_quantities_are_left_out(helm: Path) -> None:
    """A null resources, requests, limits or single quantity leaves just the rest; no key of the
    defaults is needed (postgres has no CPU limit, so `resources.limits.cpu: null` is a null
    that even a plain install passes to the templates)."""
    objects = render("postgres", "postgres", {"resources": {"limits": {"cpu": None}}})
    containers = {c["name"]: c for c in all_containers(pod_spec(find(objects, "StatefulSet")))}
    assert containers["postgres"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    objects = render_reuse_values("postgres", "postgres", CASES["postgres"][1], {})
    containers = {c["name"]: c for c in all_containers(pod_spec(find(objects, "StatefulSet")))}
    assert containers["postgres"]["resources"] == {}
    assert containers["exporter"]["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}}
    seed = pod_spec(find(objects, "Job", "postgres-seed"))["containers"][0]
    assert seed["resources"] == {"requests": {"memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    stub = render_reuse_values("stubapi", "stubapi", CASES["stubapi"][1], {})
    container = pod_spec(find(stub, "Deployment", "stubapi"))["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "256Mi"}}


def test_dashboards_without_folder_annotation_or_extra_labels(helm: Path) -> None:
    objects = render_reuse_values("dashboards", "djbench-dashboards", CASES["dashboards"][1], {})
    for configmap in of_kind(objects, "ConfigMap"):
        assert "annotations" not in configmap["metadata"]


@pytest.mark.parametrize(
    ("chart", "release", "installed", "named"),
    [
        # Guaranteed QoS: the variant's requests and limits stay required.
        ("django-variant", "uvicorn", {"resources": None}, "/resources"),
        ("django-variant", "uvicorn", {"resources": {"limits": None}}, "/resources/limits"),
        ("django-variant", "uvicorn", {"image": None}, "/image"),
        ("postgres", "postgres", {"image": None}, "/image"),
        ("stubapi", "stubapi", {"image": None}, "/image"),
        # The proxy's Guaranteed QoS: its requests and limits stay required.
        ("latencyproxy", "latencyproxy-db", {"resources": {"limits": None}}, "/resources"),
        ("latencyproxy", "latencyproxy-db", {"upstream": None}, "/upstream"),
        # The hardened security contexts are not dropped.
        ("stubapi", "stubapi", {"securityContext": None}, "/securityContext"),
        # One entry of a map is not dropped with null (the whole map is).
        ("postgres", "postgres", {"nodeSelector": {"djbench.io/role": None}}, "/nodeSelector"),
    ],
)
def test_required_values_stay_required(
    helm: Path, chart: str, release: str, installed: dict[str, Any], named: str
) -> None:
    values = {"variant": release, **installed} if chart == "django-variant" else installed
    with pytest.raises(HelmError) as refused:
        render_reuse_values(chart, release, values, {})
    assert named in refused.value.stderr
