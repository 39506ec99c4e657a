"""The client side of a step from its k6 Job: each pod's summary, read from its log."""

from __future__ import annotations

import contextlib
import json

from djbench.errors import DjbenchError
from djbench.load.k6 import ClientStats
from djbench.results import Latency


def summaries_from_logs(logs: str) -> list[dict[str, object]]:
    """The k6 summary of every pod: the JSON lines ``handleSummary`` printed."""
    found = []
    for line in logs.splitlines():
        line = line.strip()
        if line.startswith("{") and '"metrics"' in line:
            with contextlib.suppress(json.JSONDecodeError):
                found.append(json.loads(line))
    return found


def merge_client_stats(parts: list[ClientStats], latency: Latency | None) -> ClientStats:
    """One step's client side from several pods: counts add up; percentiles never average.

    With one pod its own histogram is exact; with several, ``latency`` must come from the
    merged native histogram in Prometheus.
    """
    if not parts:
        raise DjbenchError("no k6 summary in the Job's logs")
    if len(parts) > 1 and latency is None:
        raise DjbenchError("latency of a multi-pod step needs Prometheus' merged histogram")
    start = min(p.window_start for p in parts)
    return ClientStats(
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
        dropped=sum(p.dropped for p in parts),
        latency=latency if latency is not None else parts[0].latency,
        window_start=start,
        window_end=start + (parts[0].window_end - parts[0].window_start),
    )
