"""Wall-clock timestamps as the API writes them, and the one clock every component can fake.

The apiserver writes RFC 3339 seconds (`2024-01-01T00:00:00Z`); kubelets may
add fractions. Parsing is tolerant; an unparseable or empty timestamp is
None, never an exception (a controller must not crash on someone's field).

`Clock` is time as the components take it, injected: calling it gives wall
time (what objects' timestamps say), `now()` monotonic time (deadlines,
back-off) and `sleep()` waits. `RealClock` is the machine's; `FakeClock` is
one timeline tests move by hand (the work queue, the scheduling queue, the
controllers' harness), so back-off and timeouts cost nothing. `cancel` stops a
background task and waits for it, as every component's shutdown does.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import heapq
import itertools
import math
import time
from typing import Any, Callable, Protocol


class Clock(Protocol):
    def __call__(self) -> float:
        """Wall-clock seconds since the epoch (time.time)."""
        ...

    def now(self) -> float:
        """Monotonic seconds (time.monotonic)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")


def parse(ts: str) -> float | None:
    """Seconds since the epoch for an API timestamp, or None."""
    if not ts:
        return None
    for fmt in _FORMATS:
        try:
            t = dt.datetime.strptime(ts, fmt)
        except ValueError:
            continue
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return t.timestamp()
    try:  # nanosecond fractions and other RFC 3339 spellings
        t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return t.timestamp()
    except ValueError:
        return None


def fmt(t: float) -> str:
    """An API timestamp (whole seconds, UTC) for wall-clock seconds."""
    return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_str(clock: Callable[[], float] = time.time) -> str:
    return fmt(clock())


@functools.lru_cache(maxsize=4096)
def _second(whole: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def fmt_micro(t: float) -> str:
    """A MicroTime (`2024-01-01T00:00:00.123456Z`): Leases' renewals, Events' eventTime, audit events' stamps,
    trace steps. What `datetime.fromtimestamp(t, utc).strftime(...%fZ)` writes (the same rounding, half to
    even), at a fraction of its cost: a trace writes one per step."""
    if t < 0:
        return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    frac, whole = math.modf(t)
    us = round(frac * 1e6)
    if us >= 1_000_000:
        us -= 1_000_000
        whole += 1.0
    return f"{_second(whole)}.{us:06d}Z"


def now_micro(clock: Callable[[], float] = time.time) -> str:
    return fmt_micro(clock())


class RealClock:
    """The machine's time: `time.time`, `time.monotonic` and `asyncio.sleep`."""

    def __call__(self) -> float:
        return time.time()

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Manual time for tests: one number `t` is both wall and monotonic time (a test may set it);
    sleepers wake only when `advance` passes them."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.t

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.t + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in deadline order and letting
        the woken tasks run after each step."""
        await settle()  # let freshly created tasks reach their sleep first
        target = self.t + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline = self._sleepers[0][0]
            self.t = max(self.t, deadline)
            while self._sleepers and self._sleepers[0][0] <= deadline:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await settle()
        self.t = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Yield to the event loop a few times so ready tasks run to their next wait."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has stopped, whatever it ends with (shutting down: nothing to report)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
        pass


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        sec = s % 60
        return f"{minutes}m" if sec == 0 else f"{minutes}m{sec}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(ts: str, at: "dt.datetime | None" = None) -> str:
    """kubectl's translateTimestampSince: `<unknown>` for an unset time."""
    t = parse(ts.strip())
    if t is None:
        return "<unknown>"
    now = (at or dt.datetime.now(dt.timezone.utc)).timestamp()
    return human_duration(now - t)
