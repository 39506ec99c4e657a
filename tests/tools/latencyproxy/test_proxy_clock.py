"""The clocks that wake delayed chunks: the timerfd's, and the loop's timers where there is none."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable

import pytest
import uvloop
from live_servers import HOST

from latencyproxy.clock import Clock, LoopClock, TimerFdClock, best_clock, timerfd_libc
from latencyproxy.relay import Proxy
from latencyproxy.settings import Settings
from latencyproxy.stats import Stats


class Target:
    """Records when it is woken."""

    def __init__(self, name: str, woken: list[tuple[str, float]]) -> None:
        self.name = name
        self.woken = woken

    def wake(self) -> None:
        self.woken.append((self.name, time.monotonic()))


def timerfd_clock(loop: asyncio.AbstractEventLoop) -> Clock:
    libc = timerfd_libc()
    assert libc is not None, "this Linux has timerfds"
    return TimerFdClock(loop, libc)


async def wakes(make: Callable[[asyncio.AbstractEventLoop], Clock]) -> dict[str, float]:
    """Lateness (s) of targets asked to wake out of order, two of them at one due time."""
    clock = make(asyncio.get_running_loop())
    woken: list[tuple[str, float]] = []
    start = time.monotonic()
    dues = {"c": 0.030, "a": 0.010, "b": 0.020, "b2": 0.020, "past": -0.005}
    for name, offset in dues.items():
        clock.wake_at(start + offset, Target(name, woken))
    await asyncio.sleep(0.1)
    clock.close()
    assert [name for name, _ in woken] == ["past", "a", "b", "b2", "c"]
    return {name: at - (start + dues[name]) for name, at in woken}


@pytest.mark.parametrize(
    ("make", "earliest"),
    [(timerfd_clock, -TimerFdClock.early_s), (LoopClock, -2 * LoopClock.early_s)],
    ids=["timerfd", "loop"],
)
def test_clocks_wake_in_due_order_and_on_time(
    make: Callable[[asyncio.AbstractEventLoop], Clock], earliest: float
) -> None:
    """Never earlier than the clock's grain; late only by what a loaded machine adds."""
    lateness = uvloop.run(wakes(make))
    assert lateness.pop("past") - 0.005 < 0.005  # due 5 ms ago: woken at once
    assert all(earliest <= late < 0.005 for late in lateness.values()), lateness


def test_a_closed_clock_wakes_nobody() -> None:
    async def closed() -> list[tuple[str, float]]:
        clock = timerfd_clock(asyncio.get_running_loop())
        woken: list[tuple[str, float]] = []
        clock.wake_at(time.monotonic() + 0.01, Target("before", woken))
        clock.close()
        clock.wake_at(time.monotonic() + 0.01, Target("after", woken))
        await asyncio.sleep(0.05)
        return woken

    assert uvloop.run(closed()) == []


def test_the_best_clock_here_is_the_timerfd() -> None:
    async def best() -> str:
        clock = best_clock(asyncio.get_running_loop())
        clock.close()
        return type(clock).__name__

    assert uvloop.run(best()) == "TimerFdClock"


def test_the_relay_on_the_loops_timers() -> None:
    """Where there is no timerfd: the same relay, in process, on LoopClock, 2 × 5 ms."""

    async def relay() -> list[float]:
        loop = asyncio.get_running_loop()
        echo = await asyncio.start_server(echo_back, HOST, 0)
        upstream = echo.sockets[0].getsockname()[:2]
        settings = Settings((HOST, 0), upstream, delay_ms=5)
        proxy = Proxy(settings, Stats(), loop, LoopClock(loop))
        server = await proxy.listen(backlog=16)
        reader, writer = await asyncio.open_connection(HOST, server.sockets[0].getsockname()[1])
        rtts = []
        for n in range(20):
            start = time.perf_counter()
            writer.write(b"%04d" % n)
            assert await reader.readexactly(4) == b"%04d" % n
            rtts.append(time.perf_counter() - start)
        writer.close()
        server.close()
        echo.close()
        proxy.close()
        assert proxy.stats.round_trips == 20
        return rtts

    rtts = uvloop.run(asyncio.wait_for(relay(), 30))
    assert 0.009 <= statistics.median(rtts) < 0.013  # 10 ms, on timers of a millisecond


async def echo_back(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
    writer.close()
