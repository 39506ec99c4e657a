"""What the stub saw, in 100 ms buckets of wall-clock time: the data behind ``GET /stats``.

Per bucket: TCP connections accepted, /delay calls started, and the most calls in flight at once.
A ring of buckets keeps the last ``SPAN_S`` seconds. Plain lists and ints without locks (one
process, one event loop); an event costs one clock read and a few list updates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

PER_S = 10
"""Buckets per second. Times are scaled by this integer, not divided by 0.1 (1000.3 / 0.1 is
10002.999…, 1000.3 * 10 is 10003.0)."""
RESOLUTION_S = 1 / PER_S
SPAN_S = 15 * 60
"""How far back windows can reach, in seconds."""


class WindowError(ValueError):
    """A window that starts before the oldest bucket the ring keeps."""


@dataclass(frozen=True)
class Window:
    """Traffic within a window of time."""

    connections: int
    calls: int
    peak_in_flight: int


class Traffic:
    """Connections, calls and calls in flight, bucketed by ``clock()`` (epoch seconds)."""

    def __init__(self, clock: Callable[[], float] = time.time, span_s: int = SPAN_S) -> None:
        self._clock = clock
        self.span_s = span_s
        self._size = span_s * PER_S + 1  # the span in whole buckets, plus the current one
        self._index = [-1] * self._size  # which bucket each slot holds (-1: none yet)
        self._connections = [0] * self._size
        self._calls = [0] * self._size
        self._peak = [0] * self._size
        self.in_flight = 0
        self.connections_total = 0
        now = math.floor(clock() * PER_S)
        self._current = now - 1
        self._advance(now)

    def _advance(self, index: int) -> None:
        """Start every bucket after the current one up to ``index``."""
        for i in range(max(self._current + 1, index - self._size + 1), index + 1):
            slot = i % self._size
            self._index[slot] = i
            self._connections[slot] = self._calls[slot] = 0
            # Calls still in flight when the bucket starts count in it, events of its own or not.
            self._peak[slot] = self.in_flight
        self._current = index

    def _slot(self) -> int:
        """The slot of the bucket of now."""
        index = math.floor(self._clock() * PER_S)
        if index > self._current:
            self._advance(index)
        # A wall clock stepped back lands in the latest bucket: buckets only move forward.
        return self._current % self._size

    def connection_made(self) -> None:
        """A TCP connection was accepted."""
        self._connections[self._slot()] += 1
        self.connections_total += 1

    def call_started(self) -> None:
        """A /delay call starts sleeping."""
        slot = self._slot()
        self._calls[slot] += 1
        self.in_flight += 1
        if self.in_flight > self._peak[slot]:
            self._peak[slot] = self.in_flight

    def call_finished(self) -> None:
        """A /delay call woke up."""
        self._slot()  # the buckets up to now saw it in flight
        self.in_flight -= 1

    def window(self, start: float, end: float) -> Window:
        """Traffic of the buckets that start within ``[start, end)`` (epoch seconds).

        Whole buckets, so the span counted differs from the window's by under one bucket at
        each edge, either way: a window is neither widened nor narrowed on average. Buckets
        before the stub started and after now hold nothing; a window starting before the
        oldest bucket kept raises WindowError rather than under-count.
        """
        self._slot()  # bring the ring up to now
        first = math.ceil(start * PER_S)
        if first <= self._current - self._size:
            raise WindowError(
                f"the window starts {(self._current - first) / PER_S:.1f} s ago;"
                f" the stub keeps the last {self.span_s} s"
            )
        connections = calls = peak = 0
        for i in range(first, min(math.ceil(end * PER_S) - 1, self._current) + 1):
            slot = i % self._size
            if self._index[slot] == i:
                connections += self._connections[slot]
                calls += self._calls[slot]
                peak = max(peak, self._peak[slot])
        return Window(connections, calls, peak)


TRAFFIC = Traffic()
"""The stub process's traffic."""
