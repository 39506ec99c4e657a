"""Prometheus metrics of the process: request durations by route and status, CPU and RSS.

A dedicated registry keeps ``/metrics`` small: only what the collectors use. One worker per
server means one process, so no multiprocess mode is needed.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

# No "_created" series: nobody reads them and they double the size of every scrape.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client

REGISTRY = CollectorRegistry()
# process_cpu_seconds_total, process_resident_memory_bytes and friends.
ProcessCollector(registry=REGISTRY)

REQUEST_DURATION = Histogram(
    "djbench_request_duration_seconds",
    "Time from the first middleware to the response, by URL pattern name and status.",
    ["route", "status"],
    buckets=(
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        1.5,
        2.0,
        3.0,
        5.0,
        10.0,
    ),
    registry=REGISTRY,
)


def observe_request(route: str, status: int, seconds: float) -> None:
    """Count one request."""
    REQUEST_DURATION.labels(route, str(status)).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
