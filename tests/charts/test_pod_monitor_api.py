"""PodMonitors only on a cluster that serves the Prometheus operator's PodMonitor API.

On a cluster without the operator's CRDs, installing a PodMonitor fails the whole release
("no matches for kind PodMonitor in version monitoring.coreos.com/v1"). The charts render it only
when ``.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PodMonitor"`` and
``podMonitor.enabled``: helm fills Capabilities from the cluster on install and upgrade, and
from ``--api-versions`` in ``helm template``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_render import (
    CHARTS,
    NAMESPACE,
    POD_MONITOR_API,
    find,
    of_kind,
    render,
    without_random,
)
from helm_render import helm as helm_cmd

# Release names as the Taskfile installs them.
MONITORED = {
    "django-variant": "uvicorn",
    "postgres": "postgres",
    "stubapi": "stubapi",
    "latencyproxy": "latencyproxy-db",
}
RELEASES = {**MONITORED, "loadtest": "k6-0001", "dashboards": "djbench-dashboards"}
CASES = [
    (chart, case)
    for chart in RELEASES
    for case in sorted((CHARTS / chart / "ci").glob("*-values.yaml"))
]
NO_API: tuple[str, ...] = ()


@pytest.mark.parametrize("chart", list(MONITORED))
def test_pod_monitor_when_the_cluster_serves_the_api(helm: Path, chart: str) -> None:
    objects = render(chart, MONITORED[chart], api_versions=[POD_MONITOR_API])
    monitor = find(objects, "PodMonitor", MONITORED[chart])
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"


@pytest.mark.parametrize("chart", list(MONITORED))
def test_no_pod_monitor_without_the_api(helm: Path, chart: str) -> None:
    assert of_kind(render(chart, MONITORED[chart], api_versions=NO_API), "PodMonitor") == []


@pytest.mark.parametrize(("chart", "case"), CASES, ids=[f"{c}-{p.stem}" for c, p in CASES])
def test_only_the_pod_monitor_depends_on_the_api(helm: Path, chart: str, case: Path) -> None:
    """Every ci case, with and without the API: the same objects but for the PodMonitor."""
    with_api = render(chart, RELEASES[chart], files=[case], api_versions=[POD_MONITOR_API])
    without = render(chart, RELEASES[chart], files=[case], api_versions=NO_API)
    assert of_kind(without, "PodMonitor") == []
    others = [o for o in with_api if o["kind"] != "PodMonitor"]
    assert without_random(without) == without_random(others)


@pytest.mark.parametrize("chart", list(MONITORED))
def test_the_group_version_alone_is_not_enough(helm: Path, chart: str) -> None:
    """A cluster with some monitoring.coreos.com/v1 CRDs (a ServiceMonitor) but not PodMonitor
    would still refuse one: the check names the kind."""
    apis = ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"]
    assert of_kind(render(chart, MONITORED[chart], api_versions=apis), "PodMonitor") == []


@pytest.mark.parametrize("chart", list(MONITORED))
def test_pod_monitor_enabled_stays_the_switch(helm: Path, chart: str) -> None:
    off = render(chart, MONITORED[chart], {"podMonitor": {"enabled": False}})
    assert of_kind(off, "PodMonitor") == []


def notes(chart: str, *args: str) -> str:
    """NOTES.txt of a client-side dry-run install: no cluster, so no PodMonitor API."""
    out = helm_cmd(
        "install", MONITORED[chart], str(CHARTS / chart), "--dry-run=client",
        "--namespace", NAMESPACE, *args,
    )  # fmt: skip
    return out.split("NOTES:", 1)[1]


@pytest.mark.parametrize("chart", list(MONITORED))
def test_notes_say_why_nothing_is_scraped(helm: Path, chart: str) -> None:
    text = " ".join(notes(chart).split())
    assert "NOT scraped: no PodMonitor" in text
    assert "does not serve monitoring.coreos.com/v1/PodMonitor" in text
    assert "Install kube-prometheus-stack" in text
    disabled = " ".join(notes(chart, "--set", "podMonitor.enabled=false").split())
    assert "not scraped (podMonitor.enabled=false)" in disabled
    assert "NOT scraped" not in disabled
