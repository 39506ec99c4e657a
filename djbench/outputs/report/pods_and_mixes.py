"""Table rows of the pod shapes (what each shape carries per CPU and per GiB) and of a traffic
mix's parts (the share sent of each, and its own latency)."""

from __future__ import annotations

from collections.abc import Iterable

from djbench.analysis.efficiency import ShapeEfficiency
from djbench.analysis.mix import PartRow
from djbench.outputs.report.formats import DASH, fmt_num, fmt_pct

SHAPE_COLUMNS = [
    "candidate", "req/s at SLO", "CPUs", "req/s per CPU", "peak RSS MiB", "req/s per GiB",
]  # fmt: skip


def shape_rows(shapes: Iterable[ShapeEfficiency]) -> list[list[str]]:
    """A row per shaped candidate: its capacity (marked where only the survey measured it),
    its budget and what it carries per CPU and per GiB of resident memory."""
    return [
        [
            e.label,
            DASH
            if e.capacity is None
            else fmt_num(e.capacity) + ("" if e.compared else " (survey)"),
            f"{e.shape.cpus:g}",
            fmt_num(e.per_cpu),
            fmt_num(e.rss_mib),
            fmt_num(e.per_gib),
        ]
        for e in shapes
    ]


MIX_COLUMNS = [
    "candidate", "load", "part", "share asked", "share sent", "p50 ms", "p99 ms", "errors",
]  # fmt: skip


def mix_rows(rows: Iterable[PartRow]) -> list[list[str]]:
    """A row per part of a mix in a run's capacity step (the load marked where no step met
    the SLO and the run's best is shown instead)."""
    return [
        [
            r.label,
            r.load + ("" if r.at_slo else " (best, past the SLO)"),
            r.part.name,
            fmt_pct(r.part.share, 1),
            fmt_pct(r.sent, 1),
            fmt_num(r.part.latency_ms.p50),
            fmt_num(r.part.latency_ms.p99),
            f"{r.part.errors:,}",
        ]
        for r in rows
    ]
