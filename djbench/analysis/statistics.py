"""Statistics of repeated measurements: medians with 95 % intervals, the ratio of two medians
with its interval, and a two-sided Mann-Whitney U test (scipy).

Intervals are percentile bootstraps with a fixed seed, so one results file always gives the
same report. With a handful of repeats (n = 5 is the default) the bootstrap is coarse but
honest: its interval spans what the repeats spread over, and the test decides significance.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

CONFIDENCE = 0.95
ALPHA = 0.05
"""Significance level of the test."""
EFFECT = 1.05
"""Smallest ratio of medians worth a verdict: below it a lead is within run-to-run noise."""
MIN_REPEATS = 5
"""Fewer repeats than this and the verdict says so (pyperf warns below 3 runs; a Mann-Whitney
test of 5 against 5 can reach p = 0.008, of 3 against 3 only p = 0.1)."""
SPREAD = 0.10
"""A standard deviation at or above this share of the median is too noisy to trust."""
OUTLIER = 0.20
"""A minimum or maximum this far from the median (as a share of it) is suspect."""
_RESAMPLES = 9999
_SEED = 20261126


@dataclass(frozen=True)
class Estimate:
    """A median with its 95 % interval (equal to it with one sample)."""

    median: float
    low: float
    high: float
    n: int

    def text(self, fmt: str = ",.1f", unit: str = "") -> str:
        """``210.0 [204.2–215.1]`` (``4.20× [4.00–4.39]`` with a unit); a single sample shows
        no interval."""
        if self.n < 2:
            return f"{self.median:{fmt}}{unit}"
        return f"{self.median:{fmt}}{unit} [{self.low:{fmt}}–{self.high:{fmt}}]"


def _clean(samples: Sequence[float]) -> np.ndarray:
    values = np.asarray([float(s) for s in samples if math.isfinite(float(s))], dtype=float)
    if values.size == 0:
        raise ValueError("no samples")
    return values


def median_interval(samples: Sequence[float]) -> Estimate:
    """The median of the samples with its 95 % percentile-bootstrap interval."""
    values = _clean(samples)
    median = float(np.median(values))
    if values.size < 2 or np.ptp(values) == 0:
        return Estimate(median, median, median, int(values.size))
    found = sps.bootstrap(
        (values,), np.median, confidence_level=CONFIDENCE, n_resamples=_RESAMPLES,
        method="percentile", rng=np.random.default_rng(_SEED),
    )  # fmt: skip
    ci = found.confidence_interval
    return Estimate(median, float(ci.low), float(ci.high), int(values.size))


def _ratio_of_medians(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    ratio: np.ndarray = np.median(a, axis=axis) / np.median(b, axis=axis)
    return ratio


def ratio_interval(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """median(a) / median(b), with a 95 % interval from resampling each side on its own."""
    x, y = _clean(a), _clean(b)
    if float(np.median(y)) <= 0:
        raise ValueError("the second sample's median is not positive")
    ratio = float(np.median(x) / np.median(y))
    n = min(x.size, y.size)
    if n < 2 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Estimate(ratio, ratio, ratio, int(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        found = sps.bootstrap(
            (x, y), _ratio_of_medians, confidence_level=CONFIDENCE, n_resamples=_RESAMPLES,
            method="percentile", paired=False, rng=np.random.default_rng(_SEED),
        )  # fmt: skip
    ci = found.confidence_interval
    return Estimate(ratio, float(ci.low), float(ci.high), int(n))


@dataclass(frozen=True)
class Comparison:
    """Whether sample ``a`` is larger than sample ``b`` by more than noise."""

    ratio: Estimate
    p_value: float | None
    """Two-sided Mann-Whitney U; None when a side has a single sample (no test possible)."""
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        """The test rejects equal distributions at ``ALPHA`` *and* the medians differ by at
        least ``EFFECT``; either failing means "≈"."""
        return (
            self.p_value is not None
            and self.p_value < ALPHA
            and self.ratio.median >= EFFECT
            and self.ratio.low > 1.0
        )

    @property
    def why_not(self) -> str | None:
        """Why the lead is not significant (None when it is)."""
        if self.significant:
            return None
        if self.p_value is None:
            return f"no test with n={min(self.n_a, self.n_b)}"
        if self.p_value >= ALPHA:
            return f"Mann-Whitney p={self.p_value:.2g} ≥ {ALPHA:g}"
        if self.ratio.median < EFFECT:
            return f"lead under {EFFECT - 1:.0%}"
        return "interval includes 1.0"


def compare(a: Sequence[float], b: Sequence[float]) -> Comparison:
    """``a`` against ``b``: ratio of medians with its interval, and the Mann-Whitney U test."""
    x, y = _clean(a), _clean(b)
    p: float | None = None
    if x.size >= 2 and y.size >= 2:
        if np.ptp(np.concatenate([x, y])) == 0:
            p = 1.0  # every value equal: nothing tells them apart
        else:
            p = float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    return Comparison(ratio_interval(x.tolist(), y.tolist()), p, int(x.size), int(y.size))


def stability_warnings(samples: Sequence[float]) -> list[str]:
    """pyperf-style doubts about a set of repeats: too few, too spread, far extremes."""
    values = _clean(samples)
    found = []
    if values.size < MIN_REPEATS:
        found.append(f"only {values.size} repeat(s); {MIN_REPEATS} or more make a verdict")
    median = float(np.median(values))
    if values.size >= 2 and median > 0:
        spread = statistics.stdev(values.tolist()) / median
        if spread >= SPREAD:
            found.append(f"spread {spread:.0%} of the median (≥ {SPREAD:.0%})")
        low, high = float(values.min()), float(values.max())
        if (median - low) / median > OUTLIER:
            found.append(f"minimum {low:,.1f} is {(median - low) / median:.0%} below the median")
        if (high - median) / median > OUTLIER:
            found.append(f"maximum {high:,.1f} is {(high - median) / median:.0%} above the median")
    return found
