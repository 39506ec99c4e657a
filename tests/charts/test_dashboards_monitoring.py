"""The dashboards chart and the kube-prometheus-stack values that load them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from helm_render import CHARTS, ROOT, of_kind, render, render_error

DASHBOARDS = ROOT / "grafana" / "dashboards"
MONITORING_VALUES = CHARTS / "monitoring" / "kube-prometheus-stack-values.yaml"
USED_CADVISOR_METRICS = (
    "container_cpu_usage_seconds_total",
    "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_cfs_throttled_periods_total",
    "container_cpu_cfs_periods_total",
    "container_memory_working_set_bytes",
    "container_memory_rss",
)


def values_of(chart: str) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    return values


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    """The dashboards chart with its own dashboards/ directory, to fill with fixtures."""
    copy = tmp_path / "dashboards"
    shutil.copytree(CHARTS / "dashboards", copy, ignore=shutil.ignore_patterns("dashboards"))
    (copy / "dashboards").mkdir()
    return copy


def test_chart_links_the_dashboards_directory() -> None:
    link = CHARTS / "dashboards" / "dashboards"
    assert link.is_symlink()
    assert link.resolve() == DASHBOARDS.resolve()


def test_every_dashboard_is_a_labelled_configmap(helm: Path) -> None:
    files = sorted(DASHBOARDS.glob("*.json"))
    configmaps = of_kind(render("dashboards", "djbench-dashboards"), "ConfigMap")
    assert len(configmaps) == len(files)
    by_file = {name: cm for cm in configmaps for name in cm["data"]}
    for path in files:
        configmap = by_file[path.name]
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert configmap["metadata"]["annotations"]["grafana_folder"] == "djbench"
        assert json.loads(configmap["data"][path.name]) == json.loads(path.read_text())
        assert configmap["metadata"]["name"].startswith("djbench-dashboards-")


def test_fixture_dashboards_render(helm: Path, chart_copy: Path) -> None:
    for name in ("djbench-overview", "Compare Two"):
        doc: dict[str, object] = {
            "uid": name.lower().replace(" ", "-"),
            "title": name,
            "panels": [],
        }
        (chart_copy / "dashboards" / f"{name}.json").write_text(json.dumps(doc))
    configmaps = of_kind(render(chart_copy, "djbench-dashboards"), "ConfigMap")
    names = sorted(cm["metadata"]["name"] for cm in configmaps)
    assert names == ["djbench-dashboards-compare-two", "djbench-dashboards-djbench-overview"]
    other = render(chart_copy, "dash", {"sidecar": {"label": "dash", "labelValue": "yes"}})
    assert all(cm["metadata"]["labels"]["dash"] == "yes" for cm in of_kind(other, "ConfigMap"))


def test_invalid_dashboard_json_is_refused(helm: Path, chart_copy: Path) -> None:
    (chart_copy / "dashboards" / "broken.json").write_text('{"title": ')
    assert "grafana/dashboards/broken.json is not valid JSON" in render_error(chart_copy, "d")


def test_no_dashboards_renders_nothing(helm: Path, chart_copy: Path) -> None:
    assert render(chart_copy, "djbench-dashboards") == []


@pytest.fixture(scope="module")
def monitoring() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(MONITORING_VALUES.read_text())
    return values


def test_prometheus_takes_remote_write_and_native_histograms(monitoring: dict[str, Any]) -> None:
    spec = monitoring["prometheus"]["prometheusSpec"]
    assert spec["enableRemoteWriteReceiver"] is True
    assert "native-histograms" in spec["enableFeatures"]
    assert spec["scrapeInterval"] == "5s"
    assert int(spec["scrapeTimeout"][:-1]) < int(spec["scrapeInterval"][:-1])
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False
    assert spec["nodeSelector"] == {"djbench.io/role": "infra"}


def test_k6_writes_to_this_prometheus(monitoring: dict[str, Any]) -> None:
    """The loadtest chart's default remote-write URL is this release's Prometheus Service."""
    url = urlsplit(values_of("loadtest")["remoteWrite"]["url"])
    assert url.hostname == f"{monitoring['fullnameOverride']}-prometheus.monitoring.svc"
    assert url.port == 9090
    assert url.path == "/api/v1/write"


def test_cadvisor_keeps_cpu_throttling(monitoring: dict[str, Any]) -> None:
    relabelings = monitoring["kubelet"]["serviceMonitor"]["cAdvisorMetricRelabelings"]
    drops = [
        r["regex"]
        for r in relabelings
        if r["action"] == "drop" and r["sourceLabels"] == ["__name__"]
    ]
    assert drops
    for kept in USED_CADVISOR_METRICS:
        assert not [d for d in drops if re.fullmatch(d, kept)], f"{kept} would be dropped"


def test_grafana_loads_the_dashboards_chart(monitoring: dict[str, Any]) -> None:
    grafana = monitoring["grafana"]
    sidecar = grafana["sidecar"]["dashboards"]
    ours = values_of("dashboards")["sidecar"]
    assert sidecar["enabled"] is True
    assert (sidecar["label"], sidecar["labelValue"]) == (ours["label"], ours["labelValue"])
    assert sidecar["folderAnnotation"] == ours["folderAnnotation"]
    assert sidecar["searchNamespace"] == "ALL"
    assert grafana["adminPassword"] == "", "generated by the grafana chart, never a literal"
    assert grafana["nodeSelector"] == {"djbench.io/role": "infra"}


def test_node_ports_match_the_kind_port_mappings(monitoring: dict[str, Any]) -> None:
    kind_config = ROOT / "kind-config.yaml"
    if not kind_config.is_file():
        pytest.skip("no kind-config.yaml")
    nodes = yaml.safe_load(kind_config.read_text())["nodes"]
    mapped = {m["containerPort"] for n in nodes for m in n.get("extraPortMappings", [])}
    assert monitoring["grafana"]["service"]["nodePort"] in mapped
    assert monitoring["prometheus"]["service"]["nodePort"] in mapped
