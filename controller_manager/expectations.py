"""Expectations: what a controller has asked for and not yet seen in its cache.

After a ReplicaSet controller creates N pods, its informer will show them a
little later. Until then, a second sync would count too few pods and create
doubles. So before writing, the controller records "N creates (and these
deletes) expected" for the key; watch handlers lower the count as the
objects appear or vanish; `satisfied(key)` says whether the cache can be
trusted again. A timeout (Kubernetes: 5 minutes) bounds the damage of a lost
event. Deletions are tracked by pod key, so a pod seen deleted twice (once
terminating, once gone) is counted once (UIDTrackingControllerExpectations).

Pure and synchronous; the clock is injected.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Record:
    adds: int = 0
    deletes: set[str] = field(default_factory=set)
    stamp: float = 0.0


class Expectations:
    def __init__(self, timeout: float = EXPECTATIONS_TIMEOUT, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._records: dict[str, _Record] = {}

    # A controller acts only on a satisfied (or expired) key, so setting
    # replaces whatever was left: an expired record must not add up.
    def expect_creations(self, key: str, n: int) -> None:
        self._records[key] = _Record(adds=n, stamp=self.clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        self._records[key] = _Record(deletes=set(pod_keys), stamp=self.clock())

    def creation_observed(self, key: str, n: int = 1) -> None:
        rec = self._records.get(key)
        if rec is not None and rec.adds > 0:
            rec.adds = max(0, rec.adds - n)

    def deletion_observed(self, key: str, pod_key: str) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.deletes.discard(pod_key)

    def satisfied(self, key: str) -> bool:
        """True when nothing is outstanding, the record expired, or there is no record."""
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.adds <= 0 and not rec.deletes:
            return True
        return self.clock() - rec.stamp > self.timeout

    def expired(self, key: str) -> bool:
        """Outstanding and past the timeout: satisfied only because an event was lost (or very late)."""
        rec = self._records.get(key)
        return rec is not None and (rec.adds > 0 or bool(rec.deletes)) and self.clock() - rec.stamp > self.timeout

    def pending(self, key: str) -> tuple[int, int]:
        rec = self._records.get(key)
        return (rec.adds, len(rec.deletes)) if rec else (0, 0)

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
