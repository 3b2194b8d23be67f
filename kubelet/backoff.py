"""Back-off as Kubernetes' kubelet does it: restarts and image pulls wait longer each time.

Where it sits: the pod worker (`kubelet.worker`) asks `Backoff` before restarting a crashed container, the
image puller (`kubelet.pulls`) before pulling again; events print the delay with `fmt_duration`. The doubling
of a delay through a run of failures is kubelab.backoff's. Pure apart from the clock, which is injectable.
"""
from __future__ import annotations

import time
from typing import Callable



def fmt_duration(seconds: float) -> str:
    """Go's Duration as the kubelet prints a back-off: 10s, 1m20s, 5m0s."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m{s}s" if s else f"{m}m0s"


class Backoff:
    """Kubernetes' flowcontrol.Backoff, keyed by pod/container (or pod/image).

    `remaining(key, t)`: seconds still to wait after an event at `t` (a
    container's finish); `next(key, t)` doubles the delay (base → max), or
    resets it when nothing happened for 2×max.
    """

    def __init__(self, base: float, cap: float, clock: Callable[[], float] = time.time) -> None:
        self.base, self.cap, self.clock = base, cap, clock
        self._entries: dict[str, tuple[float, float]] = {}      # key -> (delay, last update)

    def remaining(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        delay, last = entry
        if event_time - last > 2 * self.cap:
            return 0.0
        return max(0.0, delay - (self.clock() - event_time))

    def next(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        if entry is None or event_time - entry[1] > 2 * self.cap:
            delay = self.base
        else:
            delay = min(entry[0] * 2, self.cap)
        self._entries[key] = (delay, event_time)
        return delay

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry else self.base

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for k in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[k]
