"""The measured server's settings, one contract for both backends: the chart values a
variant's release gets (``server_values``: what a capacity plan's values file carries too),
and the same settings as the environment the chart renders from them (``server_settings``:
what the local backend gives its process). ``SETTINGS`` maps each environment variable to its
chart value; a test renders the chart and diffs the two.
"""

from __future__ import annotations

from typing import Any

from benchapp.catalog import DEFAULT_UPSTREAM_CLIENTS, client_kind
from djbench.model.results import ProjectInfo
from djbench.model.scenario import Scenario
from djbench.model.setup import Setup
from djbench.project.config import KUBERNETES_PLACEHOLDERS, render_env

SETTINGS: dict[str, tuple[str, ...]] = {
    "DJBENCH_DB_POOL_MIN": ("database", "pool", "min"),
    "DJBENCH_DB_POOL_MAX": ("database", "pool", "max"),
    "DJBENCH_DB_POOL_TIMEOUT": ("database", "pool", "timeoutSeconds"),
    "DJBENCH_UPSTREAM_SYNC_CLIENT": ("upstream", "syncClient"),
    "DJBENCH_UPSTREAM_ASYNC_CLIENT": ("upstream", "asyncClient"),
    "DJBENCH_UPSTREAM_CONNECTIONS": ("upstream", "connections"),
    "DJBENCH_UPSTREAM_DELAYS": ("upstream", "delaysMs"),
}
"""benchapp's settings of the measured server (benchapp/settings.py reads them) and the chart
value each comes from (charts/django-variant/templates/configmap.yaml renders them)."""


def server_values(
    setup: Setup, scenario: Scenario, project: ProjectInfo | None = None
) -> dict[str, Any]:
    """The variant chart's values that make its server the one measured: the variant, its
    database pool, its upstream clients and their pool, its pod's shape (threads, workers,
    CPU); for a team's project, its settings, entry points, health path and environment (a
    capacity plan's values file carries the same)."""
    variant = setup.variant
    values: dict[str, Any] = {"variant": variant.name} | shape_values(setup)
    if project is not None:
        env = render_env(project.env, KUBERNETES_PLACEHOLDERS)
        return values | {
            "settingsModule": project.settings,
            "app": dict(project.entry_points),
            "healthPath": scenario.health_path,
            "extraEnv": [{"name": name, "value": value} for name, value in env.items()],
            # The project serves no /metrics of benchapp's; CPU comes from cAdvisor anyway.
            "podMonitor": {"enabled": False},
        }
    # Each worker process has a pool of its own, for its own threads.
    pool = scenario.db_pool.for_slots(variant.worker_slots(setup.shape))
    clients = {**DEFAULT_UPSTREAM_CLIENTS, client_kind(variant.views): setup.client}
    return values | {
        "database": {
            "pool": {"min": pool.min_size, "max": pool.max_size, "timeoutSeconds": pool.timeout_s}
        },
        "upstream": {
            "syncClient": clients["sync"],
            "asyncClient": clients["async"],
            "connections": scenario.upstream_pool_size,
            "delaysMs": list(scenario.upstream_delays_ms),
        },
    }


def shape_values(setup: Setup) -> dict[str, Any]:
    """The chart values of the pod's shape: threads where the variant's pool takes them,
    workers (the chart refuses more than one unless told), the CPU budget as requests =
    limits; nothing for the standard shape (the chart's own one worker and resources)."""
    shape = setup.shape
    if shape is None:
        return {}
    values: dict[str, Any] = {}
    if shape.threads is not None and setup.variant.sized_pool:
        values["threads"] = shape.threads
    if shape.workers != 1:
        values |= {"workers": shape.workers, "allowMultipleWorkers": True}
    cpu = cpu_quantity(shape.cpus)
    return values | {"resources": {"requests": {"cpu": cpu}, "limits": {"cpu": cpu}}}


def cpu_quantity(cpus: float) -> str:
    """A CPU budget as Kubernetes writes it: whole CPUs as a number (``1``), a fraction in
    millicores (``500m``)."""
    return f"{cpus:g}" if float(cpus).is_integer() else f"{round(cpus * 1000)}m"


def server_settings(setup: Setup, scenario: Scenario) -> dict[str, str]:
    """benchapp's server settings as environment variables, exactly as the chart renders
    them from ``server_values`` (lists comma-joined)."""
    values = server_values(setup, scenario)
    settings = {}
    for name, path in SETTINGS.items():
        value: Any = values
        for key in path:
            value = value[key]
        settings[name] = ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
    return settings


def _text(value: Any) -> str:
    """A value as the chart's ``toString`` writes it: a whole float without its ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
