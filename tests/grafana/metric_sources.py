"""Every metric a djbench dashboard may query, by the program that exports it.

- the app: read from its own registry (``benchapp.metrics.REGISTRY``), never copied here;
- the stub API: read from the table it serves (``stubapi.metrics.METRICS``), likewise;
- k6: its built-in metrics, named the way k6's Prometheus remote-write output names them;
- cAdvisor (the kubelet), as kube-prometheus-stack scrapes it;
- postgres-exporter (the postgres chart's sidecar).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K6_DIR = REPO / "k6"

# Exposition names of a metric family, by type (prometheus_client strips `_total` from a
# counter family's name; `_created` series are disabled in benchapp.metrics).
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


def app_metrics() -> dict[str, str]:
    """Series names the app exports on /metrics, with their family type."""
    from benchapp.metrics import REGISTRY

    return {
        family.name + suffix: family.type
        for family in REGISTRY.collect()
        for suffix in _SUFFIXES[family.type]
    }


def stub_metrics() -> dict[str, str]:
    """Series names the stub API serves on /metrics, with their type."""
    from stubapi.metrics import METRICS

    return {name: kind for name, kind, _ in METRICS}


# k6's built-in metrics: name -> (type, value type). Source: k6 docs, "Built-in metrics"
# (https://grafana.com/docs/k6/latest/using-k6/metrics/reference/); test_metric_sources.py
# checks every entry k6 itself reports against this table.
K6_BUILTIN: dict[str, tuple[str, str]] = {
    "vus": ("gauge", "default"),
    "vus_max": ("gauge", "default"),
    "iterations": ("counter", "default"),
    "iteration_duration": ("trend", "time"),
    "dropped_iterations": ("counter", "default"),
    "data_received": ("counter", "data"),
    "data_sent": ("counter", "data"),
    "checks": ("rate", "default"),
    "http_reqs": ("counter", "default"),
    "http_req_failed": ("rate", "default"),
    "http_req_duration": ("trend", "time"),
    "http_req_blocked": ("trend", "time"),
    "http_req_connecting": ("trend", "time"),
    "http_req_tls_handshaking": ("trend", "time"),
    "http_req_sending": ("trend", "time"),
    "http_req_waiting": ("trend", "time"),
    "http_req_receiving": ("trend", "time"),
}

# k6's tags on every HTTP sample ("system tags"). Source: k6 docs, "Tags and Groups"
# (https://grafana.com/docs/k6/latest/using-k6/tags-and-groups/#system-tags).
K6_SYSTEM_TAGS = frozenset(
    [
        "proto",
        "subproto",
        "status",
        "method",
        "url",
        "name",
        "group",
        "check",
        "error",
        "error_code",
        "tls_version",
        "scenario",
        "service",
        "expected_response",
    ]
)

_BASE_UNIT = {"time": "_seconds", "data": "_bytes", "default": ""}


def k6_remote_write_name(name: str, metric_type: str, contains: str) -> str:
    """The series name k6's experimental-prometheus-rw output gives a metric.

    Source: k6 docs, "Prometheus remote write" > "Metrics mapping"
    (https://grafana.com/docs/k6/latest/results-output/real-time/prometheus-remote-write/):
    prefix ``k6_``; counters end in ``_total``, rates in ``_rate``, gauges keep the name; with
    K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true a trend is ONE native histogram named with
    its base unit (``k6_http_req_duration_seconds``; grafana/xk6-output-prometheus-remote,
    pkg/remotewrite/trend.go: baseUnit) and queried without ``_bucket``.
    """
    if metric_type == "counter":
        return f"k6_{name}_total"
    if metric_type == "rate":
        return f"k6_{name}_rate"
    if metric_type == "gauge":
        return f"k6_{name}"
    if metric_type == "trend":
        return f"k6_{name}{_BASE_UNIT[contains]}"
    raise ValueError(f"unknown k6 metric type {metric_type!r}")


_CUSTOM_METRIC = re.compile(
    r"new\s+(?P<type>Counter|Gauge|Rate|Trend)\(\s*['\"](?P<name>\w+)['\"]\s*(?:,\s*(?P<time>true))?"
)


def k6_script_metrics() -> dict[str, tuple[str, str]]:
    """Custom metrics the k6 scripts define (``new Trend('name', true)``...)."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(K6_DIR.rglob("*.js")):
        for m in _CUSTOM_METRIC.finditer(path.read_text()):
            found[m.group("name")] = (
                m.group("type").lower(),
                "time" if m.group("time") else "default",
            )
    return found


def k6_metrics() -> dict[str, str]:
    """Series names k6 remote-writes (built-in and the scripts' own) -> the k6 metric."""
    table = {**K6_BUILTIN, **k6_script_metrics()}
    return {k6_remote_write_name(n, t, c): n for n, (t, c) in table.items()}


# Comments and string literals, left to right (a `'` in a comment is not a string).
_JS_NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|`[^`]*`", re.S
)
_TAGS_OBJECT = re.compile(r"\btags\s*[:=]\s*\{")


def _object_keys(text: str, start: int) -> set[str]:
    """Keys of the JS object literal whose ``{`` is at ``start`` (spreads left out)."""
    depth, part, parts = 0, "", []
    for ch in text[start:]:
        depth += ch in "{[("
        depth -= ch in "}])"
        if depth == 0:
            break
        if depth == 1 and ch == ",":
            parts.append(part)
            part = ""
        elif depth > 1 or ch != "{":
            part += ch
    parts.append(part)
    keys = (re.match(r"\s*(\w+)\s*(?::|$)", p) for p in parts if not p.strip().startswith("..."))
    return {k.group(1) for k in keys if k}


def k6_script_tags() -> set[str]:
    """Tag names the k6 scripts give their samples (object literals assigned to ``tags``)."""
    tags: set[str] = set()
    for path in sorted(K6_DIR.rglob("*.js")):
        code = _JS_NOISE.sub(lambda m: "" if m.group().startswith("/") else "''", path.read_text())
        for m in _TAGS_OBJECT.finditer(code):
            tags |= _object_keys(code, m.end() - 1)
    return tags


# cAdvisor's container metrics, as the kubelet serves them on /metrics/cadvisor. Source:
# google/cadvisor, docs/storage/prometheus.md ("Prometheus container metrics").
CADVISOR = frozenset(
    {
        "container_cpu_usage_seconds_total",
        "container_cpu_user_seconds_total",
        "container_cpu_system_seconds_total",
        "container_cpu_cfs_periods_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_memory_cache",
        "container_memory_usage_bytes",
        "container_memory_swap",
        "container_memory_failcnt",
        "container_oom_events_total",
        "container_network_receive_bytes_total",
        "container_network_transmit_bytes_total",
        "container_threads",
        "container_spec_cpu_quota",
        "container_spec_cpu_period",
        "container_spec_memory_limit_bytes",
    }
)

MONITORING_VALUES = REPO / "charts" / "monitoring" / "kube-prometheus-stack-values.yaml"
# What kube-prometheus-stack drops from cAdvisor before storing it, unless our values replace
# the list. Source: its values.yaml, kubelet.serviceMonitor.cAdvisorMetricRelabelings.
KUBE_PROMETHEUS_STACK_DROPS = (
    r"container_cpu_(cfs_throttled_seconds_total|load_average_10s|system_seconds_total|user_seconds_total)",
    r"container_fs_(io_current|io_time_seconds_total|io_time_weighted_seconds_total|reads_merged_total|sector_reads_total|sector_writes_total|writes_merged_total)",
    r"container_memory_(mapped_file|swap)",
    r"container_(file_descriptors|tasks_state|threads_max)",
    r"container_spec.*",
)


def cadvisor_drops() -> list[str]:
    """Regexes of the metric names dropped whole (by ``__name__`` alone): our monitoring
    values' list when they set one, else the chart's default."""
    if MONITORING_VALUES.exists():
        values = yaml.safe_load(MONITORING_VALUES.read_text()) or {}
        rules = values.get("kubelet", {}).get("serviceMonitor", {}).get("cAdvisorMetricRelabelings")
        if rules is not None:
            return [
                r["regex"]
                for r in rules
                if r.get("action") == "drop" and r.get("sourceLabels") == ["__name__"]
            ]
    return list(KUBE_PROMETHEUS_STACK_DROPS)


def cadvisor_metrics() -> frozenset[str]:
    """cAdvisor series that reach Prometheus through kube-prometheus-stack's kubelet scrape."""
    drops = [re.compile(d) for d in cadvisor_drops()]
    return frozenset(m for m in CADVISOR if not any(d.fullmatch(m) for d in drops))


# postgres-exporter (prometheus-community/postgres_exporter, default collectors). Sources:
# collector/pg_stat_database.go (pg_stat_database_*, labels datid and datname),
# collector/pg_setting.go (pg_settings_<setting>, unitless for max_connections), and the
# exporter's own pg_up.
POSTGRES_EXPORTER = frozenset(
    {
        "pg_up",
        "pg_stat_database_numbackends",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
        "pg_stat_database_blks_read",
        "pg_stat_database_blks_hit",
        "pg_stat_database_tup_returned",
        "pg_stat_database_tup_fetched",
        "pg_stat_database_tup_inserted",
        "pg_stat_database_tup_updated",
        "pg_stat_database_tup_deleted",
        "pg_stat_database_deadlocks",
        "pg_settings_max_connections",
    }
)


def allowed_metrics() -> dict[str, str]:
    """Every metric a dashboard may query -> the exporter that emits it."""
    allowed: dict[str, str] = {}
    allowed |= dict.fromkeys(POSTGRES_EXPORTER, "postgres-exporter")
    allowed |= dict.fromkeys(cadvisor_metrics(), "cAdvisor")
    allowed |= dict.fromkeys(k6_metrics(), "k6")
    allowed |= dict.fromkeys(stub_metrics(), "stub API")
    allowed |= dict.fromkeys(app_metrics(), "app")
    return allowed
