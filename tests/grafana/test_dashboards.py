"""grafana/dashboards/*.json: valid Grafana dashboards whose every query names a metric that
the app, the stub API, k6, cAdvisor or postgres-exporter exports, and whose every $variable is
defined."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import metric_sources as ms
import pytest
from promql_names import grafana_variables, metric_names, selectors, variable_query

DASHBOARDS = sorted((ms.REPO / "grafana" / "dashboards").glob("*.json"))
IDS = [p.stem for p in DASHBOARDS]
PROMETHEUS = {"type": "prometheus", "uid": "${datasource}"}
# Variables Grafana defines itself.
BUILTIN_VARIABLES = frozenset(
    [
        "__rate_interval",
        "__interval",
        "__interval_ms",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__org",
        "__user",
        "__name",
        "__timeFilter",
    ]
)
# What each dashboard must let its reader choose.
REQUIRED_VARIABLES = {
    "djbench-overview": {"datasource", "run", "variant", "workload"},
    "djbench-compare": {"datasource", "run", "variant_a", "variant_b"},
}


def load(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    assert isinstance(doc, dict)
    return doc


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels", []))


def queries(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every variable query."""
    for panel in all_panels(doc["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"]
    for var in doc["templating"]["list"]:
        if var["type"] == "query":
            expr = variable_query(var["query"]).expr
            if expr:
                yield f"variable {var['name']}", expr


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


@pytest.fixture(params=DASHBOARDS, ids=IDS)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_the_two_dashboards_exist() -> None:
    assert {load(p)["uid"] for p in DASHBOARDS} == set(REQUIRED_VARIABLES)
    for path in DASHBOARDS:
        assert load(path)["uid"] == path.stem, "file name = uid, so links and ConfigMaps agree"


def test_dashboard_fields(dashboard: dict[str, Any]) -> None:
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"])
    assert dashboard["title"].strip()
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 39
    assert "djbench" in dashboard["tags"]
    assert dashboard["time"]["from"] and dashboard["time"]["to"]
    assert isinstance(dashboard["panels"], list) and dashboard["panels"]
    assert isinstance(dashboard["templating"]["list"], list)
    # Provisioned from a ConfigMap: no numeric id, no import-time ${DS_...} inputs.
    assert dashboard.get("id") is None
    assert "__inputs" not in dashboard


def test_panel_ids_are_unique(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in all_panels(dashboard["panels"])]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"


def test_panels_are_laid_out_on_the_grid(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 24, panel["title"]
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                assert (cx, cy) not in cells, f"panels {cells[(cx, cy)]} and {panel['id']} overlap"
                cells[(cx, cy)] = panel["id"]


def test_panels_query_prometheus_through_the_datasource_variable(
    dashboard: dict[str, Any],
) -> None:
    for panel in all_panels(dashboard["panels"]):
        assert panel.get("title"), panel["id"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == PROMETHEUS, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in targets:
            assert target["datasource"] == PROMETHEUS, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_template_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert REQUIRED_VARIABLES[dashboard["uid"]] <= set(variables)
    source = variables["datasource"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == PROMETHEUS, var["name"]
            assert var["definition"] == var["query"], var["name"]


def test_every_variable_used_is_defined_before_use(dashboard: dict[str, Any]) -> None:
    defined: set[str] = set()
    for var in dashboard["templating"]["list"]:
        used = set().union(*map(grafana_variables, strings(var))) - BUILTIN_VARIABLES
        assert used <= defined, f"variable {var['name']} uses {used - defined} before definition"
        defined.add(var["name"])
    used = set().union(*map(grafana_variables, strings(dashboard["panels"])))
    undefined = used - defined - BUILTIN_VARIABLES
    assert not undefined, f"undefined variables: {sorted(undefined)}"


def test_every_metric_is_exported_by_a_known_source(dashboard: dict[str, Any]) -> None:
    allowed = ms.allowed_metrics()
    unknown = [
        f"{where}: {name}"
        for where, expr in queries(dashboard)
        for name in sorted(metric_names(expr))
        if name not in allowed
    ]
    assert not unknown, "metrics no source exports:\n" + "\n".join(unknown)


def test_k6_selectors_use_tags_k6_sets(dashboard: dict[str, Any]) -> None:
    tags = ms.k6_script_tags() | ms.K6_SYSTEM_TAGS
    k6 = ms.k6_metrics()
    for where, expr in queries(dashboard):
        for sel in selectors(expr):
            if sel.metric in k6:
                assert sel.labels <= tags, f"{where}: {sel.metric} has no {sel.labels - tags}"
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            q = variable_query(var["query"])
            if q.expr and metric_names(q.expr) <= set(k6):
                assert q.label in tags, f"variable {var['name']} lists {q.label}"


def test_histogram_quantiles(dashboard: dict[str, Any]) -> None:
    """Classic histograms (the app) by `le`; k6's native histograms without `_bucket`."""
    app = ms.app_metrics()
    for where, expr in queries(dashboard):
        if "histogram_quantile" not in expr:
            continue
        for name in metric_names(expr):
            if app.get(name) == "histogram":
                assert name.endswith("_bucket"), f"{where}: {name}"
                assert re.search(r"\bby\s*\([^)]*\ble\b", expr), f"{where}: sum by (le, ...)"
            else:
                assert ms.allowed_metrics().get(name) == "k6", f"{where}: {name}"


def test_the_overview_covers_the_issue() -> None:
    """Per-pod CPU, throttling, memory, server and k6 rates and latencies, k6 errors and
    dropped iterations, VUs, Postgres connections, the stub API's load."""
    doc = load(ms.REPO / "grafana" / "dashboards" / "djbench-overview.json")
    used = set().union(*(metric_names(expr) for _, expr in queries(doc)))
    assert {
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_periods_total",
        "container_memory_working_set_bytes",
        "djbench_request_duration_seconds_bucket",
        "djbench_request_duration_seconds_count",
        "process_cpu_seconds_total",
        "k6_http_reqs_total",
        "k6_http_req_duration_seconds",
        "k6_http_req_failed_rate",
        "k6_dropped_iterations_total",
        "k6_vus",
        "pg_stat_database_numbackends",
        "djbench_stub_in_flight",
        "djbench_stub_requests_total",
    } <= used
