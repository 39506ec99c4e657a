"""Every chart: metadata, lint, every ci/ case rendered and schema-validated, shared policies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from helm_render import (
    CHARTS,
    CUSTOM_KINDS,
    Manifest,
    all_containers,
    of_kind,
    pod_spec,
    pod_template,
    render,
    validate,
    workloads,
)
from helm_render import helm as helm_cmd

CHART_NAMES = ["django-variant", "postgres", "stubapi", "latencyproxy", "loadtest", "dashboards"]
# Release names as the Taskfile and the kubernetes backend install them.
RELEASES = {
    "django-variant": "uvicorn",
    "postgres": "postgres",
    "stubapi": "stubapi",
    "latencyproxy": "latencyproxy-db",
    "loadtest": "k6-0001",
    "dashboards": "djbench-dashboards",
}
# Where each chart's pods run (kind-config.yaml labels the nodes).
NODE_ROLES = {
    "django-variant": "sut",
    "postgres": "infra",
    "stubapi": "infra",
    "latencyproxy": "infra",
    "loadtest": "load",
}
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)


def ci_cases(chart: str) -> list[Path]:
    """The chart's ci/<case>-values.yaml files."""
    return sorted((CHARTS / chart / "ci").glob("*-values.yaml"))


def rendered_cases(chart: str) -> dict[str, list[Manifest]]:
    """Every ci case of a chart, rendered (the loadtest cases carry their own scenario)."""
    return {case.name: render(chart, RELEASES[chart], files=[case]) for case in ci_cases(chart)}


ALL_CASES = [(chart, case) for chart in CHART_NAMES for case in ci_cases(chart)]


def test_every_chart_has_ci_cases() -> None:
    for chart in CHART_NAMES:
        assert ci_cases(chart), f"charts/{chart}/ci has no <case>-values.yaml"


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_chart_metadata(chart: str) -> None:
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == chart
    assert meta["version"]
    assert str(meta["appVersion"])
    for required in ("values.yaml", "values.schema.json", "templates/NOTES.txt"):
        assert (CHARTS / chart / required).is_file(), f"{chart}: {required} is missing"
    assert (CHARTS / chart / "templates" / "_helpers.tpl").is_file()


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_standard_helpers(chart: str) -> None:
    helpers = (CHARTS / chart / "templates" / "_helpers.tpl").read_text()
    for helper in ("name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName"):
        assert f'define "{chart}.{helper}"' in helpers, f"{chart}: no {helper} helper"
    assert "trunc 63" in helpers


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_lint_with_defaults(helm: Path, chart: str) -> None:
    helm_output = lint(chart)
    assert "0 chart(s) failed" in helm_output


@pytest.mark.parametrize(("chart", "case"), ALL_CASES, ids=[f"{c}-{p.stem}" for c, p in ALL_CASES])
def test_lint_ci_case(helm: Path, chart: str, case: Path) -> None:
    assert "0 chart(s) failed" in lint(chart, "--values", str(case))


def lint(chart: str, *args: str) -> str:
    return helm_cmd("lint", "--strict", str(CHARTS / chart), *args)


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_values_documented_key_by_key(chart: str) -> None:
    text = (CHARTS / chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    documented = set(re.findall(r"^\s*# ([A-Za-z0-9_.*-]+) -- ", text, re.MULTILINE))
    for key in values:
        assert key in documented or any(d.startswith(f"{key}.") for d in documented), (
            f"charts/{chart}/values.yaml: `{key}` has no `# {key} -- description` comment"
        )


def closed_objects(schema: Any, where: str = "") -> list[str]:
    """Paths of schema objects that list properties without additionalProperties: false."""
    if isinstance(schema, list):
        return [p for i, s in enumerate(schema) for p in closed_objects(s, f"{where}[{i}]")]
    if not isinstance(schema, dict):
        return []
    bad = (
        [where or "/"]
        if "properties" in schema and schema.get("additionalProperties") is not False
        else []
    )
    return bad + [p for k, v in schema.items() for p in closed_objects(v, f"{where}/{k}")]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_schema_refuses_unknown_keys(chart: str) -> None:
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert closed_objects(schema) == []
    # Every key of values.yaml is known to the schema.
    assert set(yaml.safe_load((CHARTS / chart / "values.yaml").read_text())) <= set(
        schema["properties"]
    )


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_ci_cases_validate_against_kubernetes(helm: Path, chart: str, tmp_path: Path) -> None:
    """Every rendered object of every ci case, strict, against the Kubernetes schemas."""
    files = []
    for case, objects in rendered_cases(chart).items():
        standard = [o for o in objects if o["kind"] not in CUSTOM_KINDS]
        if standard:
            path = tmp_path / case
            path.write_text(yaml.safe_dump_all(standard))
            files.append(str(path))
    if not files:
        pytest.skip(f"{chart}: no objects rendered (e.g. no dashboards yet)")
    assert validate(files) == ""


def all_rendered() -> list[tuple[str, str, list[Manifest]]]:
    return [
        (chart, case, objects)
        for chart in CHART_NAMES
        for case, objects in rendered_cases(chart).items()
    ]


def test_standard_labels_everywhere(helm: Path) -> None:
    for chart, case, objects in all_rendered():
        for obj in objects:
            labels = obj["metadata"].get("labels", {})
            missing = [k for k in STANDARD_LABELS if k not in labels]
            assert not missing, f"{chart}/{case}: {obj['kind']} lacks {missing}"
            assert labels["app.kubernetes.io/name"] == chart or chart == "django-variant"
        for workload in workloads(objects):
            pod_labels = pod_template(workload)["metadata"]["labels"]
            assert all(k in pod_labels for k in STANDARD_LABELS)
            selector = workload["spec"].get("selector", {}).get("matchLabels", {})
            assert selector.items() <= pod_labels.items(), f"{chart}/{case}: selector"


def test_names_fit_dns_labels(helm: Path) -> None:
    for chart, case, objects in all_rendered():
        for obj in objects:
            name = obj["metadata"]["name"]
            assert len(name) <= 63, f"{chart}/{case}: {name}"
            assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), f"{chart}/{case}: {name}"


def test_pods_are_hardened(helm: Path) -> None:
    """Non-root, RuntimeDefault seccomp, no escalation, no capabilities, read-only root."""
    for chart, case, objects in all_rendered():
        for workload in workloads(objects):
            spec = pod_spec(workload)
            where = f"{chart}/{case}: {workload['kind']} {workload['metadata']['name']}"
            pod_sc = spec["securityContext"]
            assert pod_sc["runAsNonRoot"] is True, where
            assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0, where
            assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
            assert spec["automountServiceAccountToken"] is False, where
            for container in all_containers(spec):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in sc["capabilities"], where
                assert not sc.get("privileged", False), where
                mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
                assert "/tmp" in mounts, f"{where}: /tmp must be a writable emptyDir"


def test_images_come_from_values(helm: Path) -> None:
    for chart, case, objects in all_rendered():
        for workload in workloads(objects):
            for container in all_containers(pod_spec(workload)):
                repository, _, tag = container["image"].rpartition(":")
                assert repository and tag and "/" not in tag, (
                    f"{chart}/{case}: {container['image']}"
                )
                assert container["imagePullPolicy"] in ("IfNotPresent", "Always", "Never")


@pytest.mark.parametrize(
    "chart", ["django-variant", "postgres", "stubapi", "latencyproxy", "loadtest"]
)
def test_image_tag_defaults_to_app_version(helm: Path, chart: str) -> None:
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    objects = next(iter(rendered_cases(chart).values()))
    images = [c["image"] for w in workloads(objects) for c in all_containers(pod_spec(w))]
    assert f"{values['image']['repository']}:{meta['appVersion']}" in images


@pytest.mark.parametrize("chart", list(NODE_ROLES))
def test_node_roles(helm: Path, chart: str) -> None:
    for case, objects in rendered_cases(chart).items():
        for workload in workloads(objects):
            assert pod_spec(workload)["nodeSelector"] == {"djbench.io/role": NODE_ROLES[chart]}, (
                case
            )


def test_pod_monitors_have_what_the_operator_needs(helm: Path) -> None:
    """PodMonitor is a CRD: the fields the Prometheus operator needs, pointing at real ports."""
    seen: set[str] = set()
    for chart, case, objects in all_rendered():
        for monitor in of_kind(objects, "PodMonitor"):
            seen.add(chart)
            where = f"{chart}/{case}: PodMonitor {monitor['metadata']['name']}"
            assert monitor["apiVersion"] == "monitoring.coreos.com/v1", where
            spec = monitor["spec"]
            assert set(spec) <= {"selector", "namespaceSelector", "podMetricsEndpoints",
                                 "jobLabel", "podTargetLabels", "sampleLimit"}, where  # fmt: skip
            selector = spec["selector"]["matchLabels"]
            assert selector, where
            assert spec["namespaceSelector"] == {"matchNames": ["djbench"]}, where
            pods = [
                w for w in workloads(objects)
                if selector.items() <= pod_template(w)["metadata"]["labels"].items()
            ]  # fmt: skip
            assert len(pods) == 1, f"{where}: selects {len(pods)} workloads"
            ports = {
                p["name"] for c in all_containers(pod_spec(pods[0])) for p in c.get("ports", [])
            }
            assert spec["podMetricsEndpoints"], where
            for endpoint in spec["podMetricsEndpoints"]:
                assert endpoint["port"] in ports, f"{where}: no container port {endpoint['port']}"
                assert endpoint["path"] == "/metrics", where
                assert re.fullmatch(r"\d+s", endpoint["interval"]), where
                assert int(endpoint["scrapeTimeout"][:-1]) < int(endpoint["interval"][:-1])
                for relabel in endpoint.get("relabelings", []):
                    assert set(relabel) <= {"sourceLabels", "targetLabel", "action", "regex",
                                            "replacement", "separator"}, where  # fmt: skip
    assert seen == {"django-variant", "postgres", "stubapi", "latencyproxy"}


def test_no_literal_secrets_in_values() -> None:
    """Passwords and keys are generated Secrets or references, never values."""
    secretish = re.compile(r"(password|secret|token)", re.IGNORECASE)
    allowed = {"existingSecret", "passwordSecret", "secretKey", "name", "key"}

    def walk(node: Any, path: str) -> list[str]:
        if isinstance(node, dict):
            return [p for k, v in node.items() for p in walk(v, f"{path}.{k}" if path else k)]
        if isinstance(node, list):
            return [p for i, v in enumerate(node) for p in walk(v, f"{path}[{i}]")]
        leaf = path.rsplit(".", 1)[-1]
        if secretish.search(path) and leaf not in allowed and isinstance(node, str) and node:
            return [f"{path}={node!r}"]
        return []

    paths = [*(CHARTS / c / "values.yaml" for c in CHART_NAMES)]
    paths += [
        *CHARTS.glob("*/ci/*.yaml"),
        CHARTS / "monitoring" / "kube-prometheus-stack-values.yaml",
    ]
    for path in paths:
        literals = walk(yaml.safe_load(path.read_text()) or {}, "")
        assert not literals, f"{path}: literal secrets {literals}"


def test_generated_secrets_are_random_and_kept_on_upgrade(helm: Path) -> None:
    first = {
        o["metadata"]["name"]: o for o in render("postgres", "postgres") if o["kind"] == "Secret"
    }
    again = {
        o["metadata"]["name"]: o for o in render("postgres", "pg-again") if o["kind"] == "Secret"
    }
    assert first["postgres"]["data"]["password"] != again["pg-again-postgres"]["data"]["password"]
    variant = [
        o
        for o in render("django-variant", "granian", {"variant": "granian"})
        if o["kind"] == "Secret"
    ]
    assert len(variant) == 1 and variant[0]["data"]["secret-key"]
    for chart, template in (("postgres", "secret.yaml"), ("django-variant", "secret.yaml")):
        text = (CHARTS / chart / "templates" / template).read_text()
        assert 'lookup "v1" "Secret"' in text and "randAlphaNum" in text


@pytest.mark.parametrize(("chart", "case"), ALL_CASES, ids=[f"{c}-{p.stem}" for c, p in ALL_CASES])
def test_notes_render(helm: Path, chart: str, case: Path) -> None:
    """NOTES.txt (not part of `helm template`) renders: a client-side dry-run install."""
    out = helm_cmd(
        "install", RELEASES[chart], str(CHARTS / chart), "--dry-run=client",
        "--namespace", "djbench", "--values", str(case),
    )  # fmt: skip
    notes = out.split("NOTES:", 1)[1]
    assert notes.strip()
    assert "<no value>" not in notes


@pytest.mark.parametrize("chart", [c for c in CHART_NAMES if c != "loadtest"])
def test_every_chart_states_the_kubernetes_it_needs(chart: str) -> None:
    """Indexed Jobs (k6, split over pods) are GA from 1.24: an older cluster is refused by
    helm itself, in one line, before anything is installed."""
    import subprocess

    from djbench.backends.kubernetes.kube import find_tool

    path = CHARTS / chart
    values = ["--set", "variant=uvicorn"] if chart == "django-variant" else []
    helm = str(find_tool("helm"))

    def template(version: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [helm, "template", "r", str(path), *values, "--kube-version", version],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    old = template("1.23.0")
    assert old.returncode != 0
    said = "chart requires kubeVersion: >=1.24.0-0 which is incompatible with Kubernetes v1.23.0"
    assert said in old.stderr
    assert template("1.24.0").returncode == 0


def test_every_chart_declares_its_kubernetes_version() -> None:
    for chart in CHART_NAMES:
        meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
        assert meta["kubeVersion"] == ">=1.24.0-0", chart
