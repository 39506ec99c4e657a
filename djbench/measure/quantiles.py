"""Percentiles of one step split across several k6 pods, from each pod's quantile function.

Each pod's summary carries its exact percentiles at the points of ``contract.QUANTILE_GRID``
(an equi-depth histogram: k6 keeps every sample). Between two points a pod's quantile function
is taken as linear, which makes its CDF ``F_i`` piecewise linear too; the step's CDF is the
count-weighted mixture ``F = sum(n_i F_i) / N``, itself piecewise linear between the union of
the pods' points, so it is inverted exactly. Percentiles never average.

What is left is a pod's shape between two grid points and where its samples fall between
one another: within about one sample's rank per pod of the pooled samples' percentile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def _cdf(points: Array, levels: Array, x: Array, *, left: bool) -> Array:
    """One pod's piecewise-linear CDF at ``x`` (its left limit when ``left``).

    ``points`` are the pod's quantiles at the probabilities ``levels``, both non-decreasing.
    Equal points (many equal samples) make a jump: its top is the value, its bottom the left
    limit.
    """
    k = np.searchsorted(points, x, side="left" if left else "right")
    # Between points[k - 1] and points[k], distinct there: linear. Outside them: 0 or 1.
    lo = np.clip(k - 1, 0, len(points) - 1)
    hi = np.clip(k, 0, len(points) - 1)
    span = points[hi] - points[lo]
    frac = np.divide(x - points[lo], span, out=np.zeros_like(x), where=span > 0)
    inside = levels[lo] + (levels[hi] - levels[lo]) * frac
    return np.where(k == 0, 0.0, np.where(k == len(points), 1.0, inside))


def merge_quantiles(
    grid: Sequence[float], parts: Sequence[tuple[int, Sequence[float]]], at: Sequence[float]
) -> list[float]:
    """The percentiles ``at`` (in percent) of several parts' samples taken together.

    ``grid`` holds the percent points (0 and 100 included, increasing); each part is its
    sample count and its percentiles at the grid points. Parts without samples weigh nothing.
    """
    levels = np.asarray(grid, dtype=np.float64) / 100
    weighted = [(n, np.asarray(q, dtype=np.float64)) for n, q in parts if n > 0]
    if not weighted:
        return [0.0 for _ in at]
    if any(q.shape != levels.shape for _, q in weighted):
        raise ValueError(f"every part needs its {len(levels)} percentiles on the grid")
    total = sum(n for n, _ in weighted)
    # Rounding may leave a quantile function a hair from monotone: never let it go down.
    weighted = [(n, np.maximum.accumulate(q)) for n, q in weighted]
    xs = np.unique(np.concatenate([q for _, q in weighted]))
    value = sum(n / total * _cdf(q, levels, xs, left=False) for n, q in weighted)
    below = sum(n / total * _cdf(q, levels, xs, left=True) for n, q in weighted)
    assert isinstance(value, np.ndarray) and isinstance(below, np.ndarray)
    p = np.asarray(at, dtype=np.float64) / 100
    # The first point where the mixture reaches p; on the open segment before it the mixture
    # runs linearly from value[m - 1] up to its left limit below[m], then may jump.
    m = np.minimum(np.searchsorted(value, p, side="left"), len(xs) - 1)
    prev = np.maximum(m - 1, 0)
    rise = below[m] - value[prev]
    on_segment = (m > 0) & (rise > 0) & (p <= below[m])
    frac = np.divide(p - value[prev], rise, out=np.zeros_like(p), where=on_segment)
    merged = np.where(on_segment, xs[prev] + frac * (xs[m] - xs[prev]), xs[m])
    return [float(x) for x in merged]
