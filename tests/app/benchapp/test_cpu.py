"""The CPU function: deterministic, bounded integers, linear in n."""

from __future__ import annotations

from benchapp.cpu import cpu_burn, median_seconds


def test_cpu_burn_is_deterministic() -> None:
    assert cpu_burn(1) == cpu_burn(1)
    assert cpu_burn(20_000) == 99235278
    assert all(0 <= cpu_burn(n) < 2**32 for n in (1, 10, 1000))


def test_cpu_burn_scales_with_n() -> None:
    assert median_seconds(40_000, repeats=5) > median_seconds(4_000, repeats=5)
