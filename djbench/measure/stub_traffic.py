"""The stub API's traffic in a measured window (its ``/stats`` route): one reader, any backend."""

from __future__ import annotations

import json
import time

from djbench.model.errors import DjbenchError
from djbench.model.results import UpstreamTraffic
from stubapi.traffic import RESOLUTION_S


def stats_path(start: float, end: float) -> str:
    """The ``/stats`` request for a wall-clock window (epoch seconds)."""
    return f"/stats?from={start:.3f}&to={end:.3f}"


def wait_past(end: float) -> None:
    """Sleep until the bucket holding the window's end is over, so the ``/stats`` request's own
    connection is not counted in the window."""
    left = end + RESOLUTION_S + 0.05 - time.time()
    if left > 0:
        time.sleep(left)


def parse_traffic(body: str) -> UpstreamTraffic:
    """The stub's answer as results data; a malformed answer is a one-line error."""
    try:
        doc = json.loads(body)
        values = {k: doc[k] for k in ("connections", "calls", "peak_in_flight")}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DjbenchError(f"stub API /stats answered unexpectedly: {body[:200]}") from exc
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()):
        raise DjbenchError(f"stub API /stats answered unexpectedly: {body[:200]}")
    return UpstreamTraffic(**values)
