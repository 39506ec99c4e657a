"""The client side of a step from its k6 Job: each pod's summary, read from its log."""

from __future__ import annotations

import contextlib
import json

from djbench.contracts import k6_step as contract
from djbench.measure.k6 import ClientStats
from djbench.measure.quantiles import merge_quantiles
from djbench.model.errors import DjbenchError
from djbench.model.results import Latency


def summaries_from_logs(logs: str) -> list[dict[str, object]]:
    """The k6 summary of every pod: the JSON lines ``handleSummary`` printed."""
    found = []
    for line in logs.splitlines():
        line = line.strip()
        if line.startswith("{") and '"metrics"' in line:
            with contextlib.suppress(json.JSONDecodeError):
                found.append(json.loads(line))
    return found


def merge_client_stats(parts: list[ClientStats]) -> ClientStats:
    """One step's client side from several pods: counts (and completions) add up; percentiles
    never average.

    A pod alone keeps its own exact percentiles. Several merge on their quantile functions
    (``djbench.measure.quantiles``), weighted by their requests; the merged ``quantiles`` are the
    mixture's on the grid.
    """
    if not parts:
        raise DjbenchError("no k6 summary in the Job's logs")
    measured = [p for p in parts if p.requests > 0] or parts[:1]
    if len(measured) == 1:
        latency, quantiles = measured[0].latency, measured[0].quantiles
    elif not all(p.quantiles for p in measured):
        raise DjbenchError("a k6 pod's summary lacks the percentile grid: is its script older?")
    else:
        grid = contract.QUANTILE_GRID
        weighted = [(p.requests, p.quantiles) for p in measured]
        quantiles = tuple(merge_quantiles(grid, weighted, grid))
        at = dict(zip(grid, quantiles, strict=True))
        latency = Latency(
            p50=at[50.0], p90=at[90.0], p95=at[95.0], p99=at[99.0],
            max=max(p.latency.max for p in measured),
        )  # fmt: skip
    start = min(p.window_start for p in parts)
    # Credited completions add up; a pod of an older script counts its successes started.
    credited = any(p.completed is not None for p in parts)
    return ClientStats(
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
        dropped=sum(p.dropped for p in parts),
        latency=latency,
        window_start=start,
        window_end=start + (parts[0].window_end - parts[0].window_start),
        quantiles=quantiles,
        completed=sum(p.completions for p in parts) if credited else None,
    )
