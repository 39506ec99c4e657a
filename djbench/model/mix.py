"""A traffic mix: a workload made of other workloads in given shares, and what one step
recorded of each of its parts.

A scenario's ``mix: {name: {member: weight, …}}`` names mixes; each is measured like any
workload (survey, search, repeats, verdict), its SLO judged on all of its requests together.
k6 picks each request's part by its share (``k6/lib/mix.js``), so the shares hold by count in
every step; ``djbench.model.results.Part`` records each part's own requests, errors and latency.
"""

from __future__ import annotations

MIN_PARTS = 2


def shares(weights: dict[str, float]) -> dict[str, float]:
    """Weights as shares of one, in the given order: ``{a: 2, b: 1}`` → ``{a: 2/3, b: 1/3}``.

    Raises ``ValueError`` (a scenario's message) for fewer than ``MIN_PARTS`` parts or a
    weight that is not above 0.
    """
    if len(weights) < MIN_PARTS:
        raise ValueError(f"a mix needs at least {MIN_PARTS} parts, not {len(weights)}")
    bad = [name for name, weight in weights.items() if not weight > 0]
    if bad:
        raise ValueError(f"{bad[0]}: a mix's weight is a number above 0")
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def describe(parts: dict[str, float]) -> str:
    """``mix: 50 % upstream, 50 % cpu``."""
    return "mix: " + ", ".join(f"{share:.0%} {name}" for name, share in parts.items())
