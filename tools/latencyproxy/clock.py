"""When a delayed chunk is due: a timerfd wakes the event loop to the microsecond.

uvloop's timers are libuv's, which count whole milliseconds, and so does the poll that waits for
them: a timer fires up to about a millisecond early or late. The two directions of a round trip
would add up to ±2 ms, the tolerance of the measurements the proxy exists for. A Linux timerfd,
armed at the absolute CLOCK_MONOTONIC nanosecond of the earliest due time (``time.monotonic``'s
clock) and watched by the loop like a socket, wakes it within microseconds. One timerfd serves
every direction of every connection: a heap of due times, the fd armed for the first.

Where there is no timerfd (not Linux), the loop's own timers are used: ``loop_clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import itertools
import os
import time
from typing import Protocol

TFD_TIMER_ABSTIME = 1


class Wakeable(Protocol):
    """What a clock wakes: a direction whose head is due."""

    def wake(self) -> None:
        """Called at (or just after) the due time asked for."""


class Clock(Protocol):
    """Wakes targets at due times of ``time.monotonic()``."""

    early_s: float
    """A target woken may release what is due within this much of now (the clock's grain)."""

    def wake_at(self, due: float, target: Wakeable) -> None:
        """Call ``target.wake()`` at ``due``; once per call."""

    def close(self) -> None:
        """Stop: nothing more is woken."""


class LoopClock:
    """The event loop's timers: within about a millisecond under uvloop."""

    early_s = 0.0005
    """uvloop rounds a delay to whole milliseconds: a timer asked for the exact delay fires
    within about half a millisecond of it, either side. What it finds less than that early
    goes now, rather than a millisecond late with the next timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def wake_at(self, due: float, target: Wakeable) -> None:
        # call_later with the exact delay, not call_at: uvloop's loop.time() counts whole
        # milliseconds, so call_at(due) would wait from the start of the current millisecond.
        self._loop.call_later(due - time.monotonic(), target.wake)

    def close(self) -> None:
        pass


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class TimerFdClock:
    """One timerfd, armed for the earliest due time of a heap: within microseconds."""

    early_s = 0.00005
    """Chunks due this close together leave in one wake-up."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL) -> None:
        self._settime = libc.timerfd_settime
        self._settime.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p
        ]  # fmt: skip
        self._settime.restype = ctypes.c_int
        create = libc.timerfd_create
        create.argtypes = [ctypes.c_int, ctypes.c_int]
        create.restype = ctypes.c_int
        fd = create(time.CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_create: {os.strerror(errno)}")
        self._fd: int = fd
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self._heap: list[tuple[float, int, Wakeable]] = []
        self._order = itertools.count()  # ties in due time keep their order, targets never compare
        self._armed_at = float("inf")
        self._firing = False
        self._loop = loop
        loop.add_reader(fd, self._fired)

    def wake_at(self, due: float, target: Wakeable) -> None:
        if self._fd < 0:
            return  # closed
        heapq.heappush(self._heap, (due, next(self._order), target))
        if due < self._armed_at and not self._firing:
            self._arm(due)

    def close(self) -> None:
        self._heap.clear()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def _arm(self, due: float) -> None:
        self._armed_at = due
        value = self._spec.it_value
        # All zero would disarm the timer: at least 1 ns (a time long past, it fires at once).
        value.tv_sec, value.tv_nsec = divmod(max(round(due * 1e9), 1), 1_000_000_000)
        if self._settime(self._fd, TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_settime: {os.strerror(errno)}")

    def _fired(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)  # the expiry count: readable no more
        heap = self._heap
        self._firing = True  # targets woken re-arm themselves: one settime after them all
        try:
            horizon = time.monotonic() + self.early_s
            while heap and heap[0][0] <= horizon:
                heapq.heappop(heap)[2].wake()
        finally:
            self._firing = False
            self._armed_at = float("inf")
            if heap and self._fd >= 0:
                self._arm(heap[0][0])


def timerfd_libc() -> ctypes.CDLL | None:
    """The C library, if it has timerfds."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.timerfd_create  # noqa: B018 (an AttributeError where there is none)
        libc.timerfd_settime  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def best_clock(loop: asyncio.AbstractEventLoop) -> Clock:
    """A timerfd clock where the system has timerfds, else the loop's timers."""
    libc = timerfd_libc()
    if libc is not None:
        with contextlib.suppress(OSError):
            return TimerFdClock(loop, libc)
    return LoopClock(loop)
