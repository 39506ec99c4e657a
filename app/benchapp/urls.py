"""URLs built from the catalog: every workload in every view flavor, plus health and metrics.

A workload added to ``catalog.WORKLOADS`` without a view in every flavor module fails here,
at import, rather than as a 404 in the middle of a benchmark.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.urls import path

from benchapp.catalog import VIEW_FLAVORS, WORKLOADS, ViewFlavor, Workload
from benchapp.views import async_orm, async_raw, async_s2a, ops, sync
from benchapp.views.serving import serve

FLAVOR_MODULES: dict[ViewFlavor, ModuleType] = {
    "sync": sync,
    "async": async_orm,
    "async-s2a": async_s2a,
    "async-raw": async_raw,
}


def route_name(flavor: ViewFlavor, workload: Workload) -> str:
    """The URL pattern name, also the ``route`` label of the request metrics."""
    return f"{flavor}/{workload.name}"


def _view(flavor: ViewFlavor, workload: Workload) -> Any:
    module = FLAVOR_MODULES[flavor]
    attribute = workload.name.replace("-", "_")
    view = getattr(module, attribute, None)
    if view is None:
        raise ImproperlyConfigured(
            f"workload {workload.name!r} has no {flavor} view: define {module.__name__}.{attribute}"
        )
    if iscoroutinefunction(view) != (flavor != "sync"):
        raise ImproperlyConfigured(f"{module.__name__}.{attribute} is not a {flavor} view")
    return serve(workload, view)


def workload_patterns() -> list[Any]:
    """One URL pattern per workload and flavor, each view wrapped by ``serve``."""
    if set(FLAVOR_MODULES) != set(VIEW_FLAVORS):
        raise ImproperlyConfigured(f"view modules {sorted(FLAVOR_MODULES)} != {VIEW_FLAVORS}")
    return [
        path(
            workload.path(flavor).lstrip("/"),
            _view(flavor, workload),
            name=route_name(flavor, workload),
        )
        for flavor in VIEW_FLAVORS
        for workload in WORKLOADS.values()
    ]


urlpatterns = [
    *workload_patterns(),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.metrics, name="metrics"),
]

handler400 = "benchapp.views.ops.bad_request"
handler404 = "benchapp.views.ops.not_found"
handler500 = "benchapp.views.ops.server_error"
