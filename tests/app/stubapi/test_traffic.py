"""The stub's traffic buckets, on a fake clock.

Times are T0 plus binary-exact offsets (halves, quarters), so bucket edges are exact.
"""

from __future__ import annotations

import pytest

from stubapi.traffic import SPAN_S, Traffic, Window, WindowError

T0 = 1_700_000_000.0
SPAN = 60


class Clock:
    """A wall clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def at(self, offset: float) -> Clock:
        self.now = T0 + offset
        return self


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def traffic(clock: Clock) -> Traffic:
    return Traffic(clock, span_s=SPAN)


def window(traffic: Traffic, start: float, end: float) -> Window:
    return traffic.window(T0 + start, T0 + end)


def test_the_default_ring_covers_fifteen_minutes(clock: Clock) -> None:
    traffic = Traffic(clock)
    traffic.connection_made()
    assert SPAN_S >= 15 * 60
    clock.at(SPAN_S)
    assert traffic.window(T0, T0 + SPAN_S) == Window(1, 0, 0)


def test_window_sums(traffic: Traffic, clock: Clock) -> None:
    clock.at(0.25)
    traffic.connection_made()
    traffic.call_started()
    traffic.call_started()
    clock.at(1.25)
    traffic.connection_made()
    traffic.call_started()
    clock.at(2.25)
    assert window(traffic, 0, 2) == Window(connections=2, calls=3, peak_in_flight=3)
    assert window(traffic, 0.5, 2) == Window(connections=1, calls=1, peak_in_flight=3)
    assert traffic.connections_total == 2
    assert traffic.in_flight == 3


def test_windows_count_the_buckets_that_start_in_them(traffic: Traffic, clock: Clock) -> None:
    clock.at(0.5)  # the first instant of a bucket
    traffic.connection_made()
    clock.at(0.75)
    assert window(traffic, 0.5, 0.6) == Window(1, 0, 0)
    # The bucket starting at 0.5 starts within [0.45, 0.55), not within [0.55, 0.75).
    assert window(traffic, 0.45, 0.55) == Window(1, 0, 0)
    assert window(traffic, 0.55, 0.75) == Window(0, 0, 0)
    assert window(traffic, 0, 0.5) == Window(0, 0, 0)
    assert window(traffic, 0.5, 0.5) == Window(0, 0, 0)  # no bucket starts in an empty window


def test_before_start_and_after_now_are_empty(traffic: Traffic, clock: Clock) -> None:
    traffic.connection_made()
    assert window(traffic, -10, 10) == Window(1, 0, 0)
    assert window(traffic, 5, 10) == Window(0, 0, 0)


def test_calls_in_flight_are_carried_into_later_buckets(traffic: Traffic, clock: Clock) -> None:
    clock.at(0.25)
    traffic.call_started()
    clock.at(0.5)
    traffic.call_started()
    clock.at(1.25)
    # Buckets with no event of their own, and the window's first bucket starts mid-call.
    assert window(traffic, 0.75, 1.0) == Window(connections=0, calls=0, peak_in_flight=2)
    clock.at(1.5)
    traffic.call_finished()  # its bucket saw both
    assert window(traffic, 1.5, 1.6) == Window(0, 0, 2)
    clock.at(2.0)
    assert window(traffic, 2.0, 2.1) == Window(0, 0, 1)
    traffic.call_finished()
    clock.at(2.5)
    assert window(traffic, 2.5, 2.6) == Window(0, 0, 0)
    assert window(traffic, 0, 2.5).peak_in_flight == 2


def test_peak_is_the_most_at_once_not_the_calls_started(traffic: Traffic, clock: Clock) -> None:
    for _ in range(5):
        traffic.call_started()
        traffic.call_finished()
    assert window(traffic, 0, 0.1) == Window(connections=0, calls=5, peak_in_flight=1)


def test_the_ring_forgets_what_is_older_than_its_span(traffic: Traffic, clock: Clock) -> None:
    traffic.connection_made()
    clock.at(SPAN)
    assert window(traffic, 0, SPAN) == Window(1, 0, 0)  # exactly the span: still kept
    clock.at(SPAN + 0.25)
    with pytest.raises(WindowError, match=f"the stub keeps the last {SPAN} s"):
        window(traffic, 0, 1)
    traffic.connection_made()  # reuses the oldest slot
    assert window(traffic, 0.25, SPAN + 0.25) == Window(1, 0, 0)


def test_a_gap_longer_than_the_ring(traffic: Traffic, clock: Clock) -> None:
    traffic.call_started()
    traffic.connection_made()
    clock.at(3600)
    assert window(traffic, 3600 - SPAN, 3600) == Window(0, 0, 1)


def test_a_clock_stepped_back_counts_in_the_latest_bucket(traffic: Traffic, clock: Clock) -> None:
    clock.at(5)
    traffic.connection_made()
    clock.at(4)
    traffic.connection_made()
    assert window(traffic, 0, 4.5) == Window(0, 0, 0)
    assert window(traffic, 5, 5.1) == Window(2, 0, 0)
