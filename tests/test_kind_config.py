"""kind-config.yaml: one node per role, the static CPU manager on the server's node, Grafana's
port mapping on the loopback only — and the charts and monitoring values agree with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ROLE_LABEL = "djbench.io/role"
ROLES = {"sut", "load", "infra"}
# Service in kube-prometheus-stack's values -> (host port on 127.0.0.1, NodePort).
PORTS = {"grafana": (3000, 30300), "prometheus": (9090, 30090)}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


def nodes_by_role(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n.get("labels", {}).get(ROLE_LABEL, n["role"]): n for n in config["nodes"]}


def kubelet_settings(node: dict[str, Any]) -> dict[str, Any]:
    """The kubelet settings a node's kubeadmConfigPatches give it, as flag names
    (JoinConfiguration kubeletExtraArgs) or KubeletConfiguration fields."""
    settings: dict[str, Any] = {}
    for patch in node.get("kubeadmConfigPatches", []):
        doc = yaml.safe_load(patch)
        if doc.get("kind") in ("JoinConfiguration", "InitConfiguration"):
            args = doc.get("nodeRegistration", {}).get("kubeletExtraArgs", {})
            if isinstance(args, list):  # kubeadm v1beta4: [{name, value}]
                args = {a["name"]: a["value"] for a in args}
            settings |= args
        elif doc.get("kind") == "KubeletConfiguration":
            settings |= doc
    return settings


def test_is_a_kind_cluster(config: dict[str, Any]) -> None:
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == "djbench"


def test_one_control_plane_and_one_worker_per_role(config: dict[str, Any]) -> None:
    roles = [n["role"] for n in config["nodes"]]
    assert roles.count("control-plane") == 1
    workers = [n for n in config["nodes"] if n["role"] == "worker"]
    labels = [n.get("labels", {}).get(ROLE_LABEL) for n in workers]
    assert sorted(labels, key=str) == sorted(ROLES), "each worker has exactly one role"


def test_static_cpu_manager_on_the_server_node(config: dict[str, Any]) -> None:
    kubelet = kubelet_settings(nodes_by_role(config)["sut"])
    policy = kubelet.get("cpu-manager-policy", kubelet.get("cpuManagerPolicy"))
    assert policy == "static"
    # The static policy refuses to start without a CPU reservation.
    cpu_reserved = (
        kubelet.get("reserved-cpus")
        or kubelet.get("reservedSystemCPUs")
        or any("cpu=" in kubelet.get(flag, "") for flag in ("kube-reserved", "system-reserved"))
        or any(
            (kubelet.get(field) or {}).get("cpu") for field in ("kubeReserved", "systemReserved")
        )
    )
    assert cpu_reserved, kubelet


def test_sut_reserves_cpus_by_list_for_task_up(config: dict[str, Any]) -> None:
    """`task up` rewrites the sut kubelet's `reserved-cpus: "0"` line to the host CPUs outside
    the node's CPU set (Taskfile.yml, task cluster): the line is there, once, as written."""
    assert kubelet_settings(nodes_by_role(config)["sut"]).get("reserved-cpus") == "0"
    text = (REPO / "kind-config.yaml").read_text()
    assert len(re.findall(r'^ *reserved-cpus: "0"$', text, re.M)) == 1


def test_every_worker_kubelet_has_short_housekeeping(config: dict[str, Any]) -> None:
    """cAdvisor's container series carry the kubelet's housekeeping timestamps: at the default
    (10 s, jittered up to 20 s) a short benchmark step may get no CPU sample."""
    for node in config["nodes"]:
        if node["role"] != "worker":
            continue
        interval = kubelet_settings(node).get("housekeeping-interval")
        assert interval, f"{node.get('labels')} needs housekeeping-interval"
        assert re.fullmatch(r"\d+s", interval) and int(interval[:-1]) <= 2, interval


def test_only_the_server_node_gets_the_cpu_manager(config: dict[str, Any]) -> None:
    for role, node in nodes_by_role(config).items():
        if role != "sut":
            settings = set(kubelet_settings(node))
            assert settings <= {"housekeeping-interval"}, f"{role} node: {settings}"


def test_grafana_and_prometheus_are_mapped_to_the_loopback_only(config: dict[str, Any]) -> None:
    mappings = [m for n in config["nodes"] for m in n.get("extraPortMappings", [])]
    for m in mappings:
        assert m.get("listenAddress") == "127.0.0.1", f"{m} would listen on every interface"
        assert 30000 <= m["containerPort"] <= 32767, "the containerPort is a NodePort"
    assert {(m["hostPort"], m["containerPort"]) for m in mappings} == set(PORTS.values())


def test_monitoring_values_use_the_mapped_node_ports() -> None:
    path = REPO / "charts" / "monitoring" / "kube-prometheus-stack-values.yaml"
    if not path.exists():
        pytest.skip(f"{path.relative_to(REPO)} is not written yet")
    values = yaml.safe_load(path.read_text()) or {}
    for service, (_, node_port) in PORTS.items():
        spec = values.get(service, {}).get("service", {})
        assert (spec.get("type"), spec.get("nodePort")) == ("NodePort", node_port), service


def test_chart_node_selectors_name_existing_roles() -> None:
    selected = {}
    for values in sorted(REPO.glob("charts/*/values.yaml")):
        doc = yaml.safe_load(values.read_text()) or {}
        role = (doc.get("nodeSelector") or {}).get(ROLE_LABEL)
        if role is not None:
            selected[values.parent.name] = role
    if not selected:
        pytest.skip("no chart selects a node role yet")
    assert set(selected.values()) <= ROLES, selected
    if "django-variant" in selected:
        assert selected["django-variant"] == "sut"
        others = {chart: role for chart, role in selected.items() if chart != "django-variant"}
        assert "sut" not in others.values(), f"nothing else on the server's node: {others}"
