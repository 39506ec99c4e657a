"""The URLconf is built from the catalog and refuses a workload without views."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from benchapp.catalog import VIEW_FLAVORS, WORKLOADS, Workload


def test_every_workload_and_flavor_has_a_named_route(django_app: None) -> None:
    from django.urls import resolve, reverse

    for flavor in VIEW_FLAVORS:
        for workload in WORKLOADS.values():
            name = f"{flavor}/{workload.name}"
            assert reverse(name) == workload.path(flavor)
            assert resolve(workload.path(flavor)).url_name == name


def test_a_workload_without_views_fails_loudly(
    django_app: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchapp.urls import workload_patterns

    monkeypatch.setitem(WORKLOADS, "gpu", Workload("gpu", "GET", "not implemented anywhere"))
    with pytest.raises(ImproperlyConfigured, match="workload 'gpu' has no sync view"):
        workload_patterns()
