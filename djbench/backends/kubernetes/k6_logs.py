"""The client side of a step from its k6 Job: each pod's summary, read from its log."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

from djbench.contracts import k6_step as contract
from djbench.measure.k6 import ClientStats, PartStats
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
    mixture's on the grid. A traffic mix's parts merge the same way, part by part.
    """
    if not parts:
        raise DjbenchError("no k6 summary in the Job's logs")
    latency, quantiles = _merged(parts)
    start = min(p.window_start for p in parts)
    # Credited completions add up; a pod of an older script counts its successes started.
    credited = any(p.completed is not None for p in parts)
    names = [part.name for part in parts[0].parts]
    by_name = [[s for p in parts for s in p.parts if s.name == name] for name in names]
    return ClientStats(
        requests=sum(p.requests for p in parts),
        errors=sum(p.errors for p in parts),
        dropped=sum(p.dropped for p in parts),
        latency=latency,
        window_start=start,
        window_end=start + (parts[0].window_end - parts[0].window_start),
        quantiles=quantiles,
        completed=sum(p.completions for p in parts) if credited else None,
        parts=tuple(
            PartStats(
                name,
                sum(s.requests for s in same),
                sum(s.errors for s in same),
                *_merged(same),
            )
            for name, same in zip(names, by_name, strict=True)
        ),
    )


def _merged(pods: Sequence[ClientStats | PartStats]) -> tuple[Latency, tuple[float, ...]]:
    """The latency and grid of several pods' requests (of a step, or of one part of it)."""
    measured = [p for p in pods if p.requests > 0] or list(pods[:1])
    if len(measured) == 1:
        return measured[0].latency, measured[0].quantiles
    if not all(p.quantiles for p in measured):
        raise DjbenchError("a k6 pod's summary lacks the percentile grid: is its script older?")
    grid = contract.QUANTILE_GRID
    quantiles = tuple(merge_quantiles(grid, [(p.requests, p.quantiles) for p in measured], grid))
    at = dict(zip(grid, quantiles, strict=True))
    latency = Latency(
        p50=at[50.0], p90=at[90.0], p95=at[95.0], p99=at[99.0],
        max=max(p.latency.max for p in measured),
    )  # fmt: skip
    return latency, quantiles
