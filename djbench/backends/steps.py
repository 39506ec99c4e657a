"""Turning what a backend measured into a results ``Step``: one place, for every backend."""

from __future__ import annotations

from dataclasses import dataclass

from djbench.measure.k6 import ClientStats
from djbench.model.results import CpuSource, Latency, Part, Step, UpstreamTraffic
from djbench.model.setup import LoadStep

_MIB = 1024 * 1024
NO_SUCCESS = "no successful responses in the measured window"


def refused_cause(refused: int) -> str:
    """Why a step failed whose server ran Postgres out of connections."""
    return (
        f"Postgres refused {refused:,} connection(s): its max_connections were in use (a "
        "connection per thread, greenlet or request)"
    )


@dataclass(frozen=True)
class ServerSide:
    """What the collectors saw of the server (and the load side) in the measured window."""

    cpu_s: float
    rss_bytes: float
    cpu_budget: float
    """CPUs the server may use: pinned CPUs locally, the CPU limit in a pod."""
    load_cpu_s: float | None = None
    infra_cpu_s: float | None = None
    throttled_s: float | None = None
    cpu_source: CpuSource = "process-tree"
    """What ``cpu_s``, ``rss_bytes`` and ``throttled_s`` were read from."""
    cadvisor_cpu_s: float | None = None
    """cAdvisor's figure for the same window (Kubernetes), as a cross-check."""


def _level(step: LoadStep) -> dict[str, object]:
    closed = step.model == "closed"
    return {
        "model": step.model,
        "concurrency": int(step.level) if closed else None,
        "rate": None if closed else step.level,
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def measured_step(
    step: LoadStep,
    client: ClientStats,
    server: ServerSide,
    error: str | None = None,
    upstream: UpstreamTraffic | None = None,
    shares: dict[str, float] | None = None,
) -> Step:
    """A step from k6's client side and the collectors' server side; derived rates here.
    ``shares``: a traffic mix's, by part (None: the workload is no mix)."""
    ok = client.requests - client.errors
    duration = client.duration_s
    return Step.model_validate(
        {
            **_level(step),
            "duration_s": round(duration, 3),
            "requests": client.requests,
            "errors": client.errors,
            "dropped": client.dropped,
            # Completions credited to the window, not requests started in it (phase-quantized).
            "rps": round(client.completions / duration, 3),
            "latency_ms": client.latency,
            "cpu_s": round(server.cpu_s, 4),
            "cpu_util": round(server.cpu_s / duration / server.cpu_budget, 4),
            # Over the same credited completions as rps: CPU of the window per response.
            "cpu_ms_per_req": (
                round(server.cpu_s * 1000 / client.completions, 4) if client.completions else 0.0
            ),
            "rss_mib": round(server.rss_bytes / _MIB, 2),
            "load_cpu_s": _round(server.load_cpu_s),
            "infra_cpu_s": _round(server.infra_cpu_s),
            "throttled_s": _round(server.throttled_s),
            "cpu_source": server.cpu_source,
            "cadvisor_cpu_s": _round(server.cadvisor_cpu_s),
            "upstream": upstream,
            "parts": _parts(client, shares),
            # A step that served nothing is no measurement of the server, whatever k6 saw.
            "status": "failed" if error or not ok else "ok",
            "error": error or (None if ok else NO_SUCCESS),
        }
    )


def _parts(client: ClientStats, shares: dict[str, float] | None) -> list[Part] | None:
    """Each part of a mix as k6 counted it, with the share the scenario asked for."""
    if not shares:
        return None
    counted = {part.name: part for part in client.parts}
    zero = Latency(p50=0, p90=0, p95=0, p99=0, max=0)
    return [
        Part(
            name=name,
            share=round(share, 6),
            requests=counted[name].requests if name in counted else 0,
            errors=counted[name].errors if name in counted else 0,
            latency_ms=counted[name].latency if name in counted else zero,
        )
        for name, share in shares.items()
    ]


def failed_step(step: LoadStep, error: str) -> Step:
    """A step that produced no measurement: kept as a result with its error."""
    zero = Latency(p50=0, p90=0, p95=0, p99=0, max=0)
    counts = ("duration_s", "requests", "errors", "dropped", "rps", "cpu_s", "cpu_util")
    empty = dict.fromkeys((*counts, "cpu_ms_per_req", "rss_mib"), 0)
    return Step.model_validate(
        {**_level(step), **empty, "latency_ms": zero, "status": "failed", "error": error}
    )
