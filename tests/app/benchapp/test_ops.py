"""Health, metrics, and the JSON answers for unknown routes and bad hosts."""

from __future__ import annotations

import re
from typing import Any

from app_helpers import AppClient


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (which must hold it)."""
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    selector = re.escape(f"{name}{{{label_text}}}" if labels else name)
    match = re.search(rf"^{selector} (\S+)$", metrics, re.MULTILINE)
    assert match, f"no sample {name} {labels} in:\n{metrics}"
    return float(match.group(1))


def test_healthz(client: AppClient) -> None:
    answer = client.get("/healthz")
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


def test_healthz_touches_no_database(client: AppClient) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        AppClient("wsgi").get("/healthz")
    assert len(queries) == 0


def test_metrics_count_requests_by_route_and_status(client: AppClient) -> None:
    def count(route: str, status: str) -> float:
        metrics = client.get("/metrics").body.decode()
        return sample(metrics, "djbench_request_duration_seconds_count", route=route, status=status)

    client.get("/async/cpu?n=10")
    client.get("/async/cpu?n=0")
    ok_before, bad_before = count("async/cpu", "200"), count("async/cpu", "400")
    client.get("/async/cpu?n=10")
    client.get("/async/cpu?n=0")
    assert count("async/cpu", "200") == ok_before + 1
    assert count("async/cpu", "400") == bad_before + 1


def test_metrics_expose_process_cpu_and_memory(client: AppClient) -> None:
    answer = client.get("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    metrics = answer.body.decode()
    assert sample(metrics, "process_cpu_seconds_total") > 0
    assert sample(metrics, "process_resident_memory_bytes") > 10_000_000


def test_unknown_route_is_a_json_404_labelled_unmatched(client: AppClient) -> None:
    answer = client.get("/sync/nothing-here")
    assert answer.status == 404
    assert answer.json() == {"error": "no route for /sync/nothing-here"}
    metrics = client.get("/metrics").body.decode()
    assert (
        sample(metrics, "djbench_request_duration_seconds_count", route="unmatched", status="404")
        >= 1
    )
    assert "/sync/nothing-here" not in metrics


def test_host_outside_allowed_hosts_is_400(client: AppClient) -> None:
    answer = client.get("/healthz", headers={"Host": "evil.example"})
    assert answer.status == 400
    assert answer.json() == {"error": "bad request"}


def test_server_error_answer_is_json() -> None:
    from benchapp.views.ops import server_error

    response = server_error(None)
    assert response.status_code == 500
    assert response.content == b'{"error": "internal error"}'


def test_debug_is_off(client: AppClient) -> None:
    from django.conf import settings

    assert settings.DEBUG is False


def test_only_tracebacks_are_logged() -> None:
    import logging
    import sys

    from benchapp.logs import TracebacksOnly

    def record(exc_info: Any) -> logging.LogRecord:
        return logging.LogRecord("django.request", logging.ERROR, "", 0, "x", (), exc_info)

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        crash = record(sys.exc_info())
    assert TracebacksOnly().filter(crash)
    assert not TracebacksOnly().filter(record(None))  # e.g. "Service Unavailable: /sync/db-read"
