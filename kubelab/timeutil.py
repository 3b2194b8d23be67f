"""Wall-clock timestamps as the API writes them, and a clock controllers can fake.

The apiserver writes RFC 3339 seconds (`2024-01-01T00:00:00Z`); kubelets may
add fractions. Parsing is tolerant; an unparseable or empty timestamp is
None, never an exception (a controller must not crash on someone's field).
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Callable

Clock = Callable[[], float]        # wall-clock seconds since the epoch (time.time)

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


def now_str(clock: Clock = time.time) -> str:
    return fmt(clock())


def fmt_micro(t: float) -> str:
    """A MicroTime (`2024-01-01T00:00:00.123456Z`): Leases' renewals and Events' eventTime."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeClock:
    """A wall clock tests move by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


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
