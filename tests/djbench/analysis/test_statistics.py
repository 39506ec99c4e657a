"""The statistics of repeats against values known by hand (combinatorics, exact tests)."""

from __future__ import annotations

import pytest

from djbench.analysis.statistics import compare, median_interval, ratio_interval, stability_warnings


def test_median_interval_of_one_to_five() -> None:
    """The median of 5 draws with replacement from 1..5 is 1 with probability 0.058 (at least
    3 draws of 1) and at most 4 with probability 0.942: the 95 % percentile interval is the
    whole range [1, 5]."""
    found = median_interval([5, 1, 4, 2, 3])
    assert (found.median, found.low, found.high, found.n) == (3, 1, 5, 5)
    assert found.text(".0f") == "3 [1–5]"


def test_one_sample_or_equal_samples_have_no_width() -> None:
    assert median_interval([7.0]).text() == "7.0"
    equal = median_interval([4.0, 4.0, 4.0])
    assert (equal.low, equal.high) == (4.0, 4.0)


def test_mann_whitney_of_two_separated_fives_is_two_in_252() -> None:
    """5 against 5 with no overlap: 2 of the C(10, 5) = 252 orderings are as extreme."""
    result = compare([200, 205, 210, 212, 215], [48, 49, 50, 51, 52])
    assert result.p_value == pytest.approx(2 / 252)
    assert result.ratio.median == pytest.approx(210 / 50)
    assert result.ratio.low > 3.8 and result.ratio.high < 4.5
    assert result.significant and result.why_not is None


def test_overlapping_samples_are_not_significant() -> None:
    result = compare([100, 104, 97, 103, 99], [98, 101, 96, 102, 100])
    assert result.ratio.low < 1.0 < result.ratio.high
    assert not result.significant
    assert result.why_not is not None and result.why_not.startswith("Mann-Whitney p=")


def test_a_significant_but_small_lead_is_not_a_verdict() -> None:
    """Separated samples, yet only 2 % apart: under the 5 % effect threshold."""
    result = compare([102.0, 102.1, 102.2, 102.3, 102.4], [100.0, 100.1, 100.2, 100.3, 100.4])
    assert result.p_value is not None and result.p_value < 0.05
    assert not result.significant
    assert result.why_not == "lead under 5%"


def test_single_measurements_allow_no_test() -> None:
    result = compare([120.0], [100.0])
    assert result.p_value is None
    assert result.why_not == "no test with n=1"


def test_ratio_interval_needs_a_positive_denominator() -> None:
    with pytest.raises(ValueError, match="not positive"):
        ratio_interval([1.0, 2.0], [0.0, 0.0])


def test_stability_warnings() -> None:
    assert stability_warnings([100, 101, 99, 100, 102]) == []
    found = stability_warnings([100, 130, 70])
    assert found[0] == "only 3 repeat(s); 5 or more make a verdict"
    assert "spread 30% of the median" in found[1]
    assert any(w.startswith("minimum 70.0 is 30% below") for w in found)
    assert any(w.startswith("maximum 130.0 is 30% above") for w in found)
