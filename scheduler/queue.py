"""The scheduling queue: which pending pod to try next, and when to try again.

Three places a pending pod can wait, as in Kubernetes:

    informer ──add──▶ active (priority, then FIFO) ──pop──▶ scheduling cycle
                         ▲            ▲                      │
                         │ back-off   │ cluster event        │ fit error
                         │ expired    │ (node added/changed, ▼
                       backoff ◀──────┴── pod deleted...) unschedulable
                         ▲                                   │
                         └──── error (bind failed) ──────────┘ (after `max_unschedulable` anyway)

- A pod that fits nowhere parks in *unschedulable* and is tried again only
  when something that could help happens (`move_all`), or after
  `max_unschedulable` seconds as a safety net.
- Moving goes through *backoff* when the pod's back-off has not expired
  (1 s doubling to 10 s per attempt), so a busy cluster does not spin on it.
- An event that arrives while the pod is being scheduled is not lost: the
  pod then goes to backoff rather than unschedulable (`move_request_cycle`).

Time comes from an injected clock (kubelab.workqueue's Clock), so tests run
back-off with FakeClock.
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass
from typing import Callable

from kubelab.backoff import doubling
from kubelab.timeutil import Clock, RealClock

log = logging.getLogger(__name__)

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT = "active", "backoff", "unschedulable", "in-flight"


class QueueClosed(Exception):
    pass


@dataclass(slots=True)
class QueuedPod:
    key: str
    uid: str = ""
    priority: int = 0
    attempts: int = 0
    timestamp: float = 0.0        # when it last entered a sub-queue
    cycle: int = 0                # the scheduling cycle that last popped it
    seq: int = 0                  # invalidates stale heap entries
    updated: bool = False         # the pod changed while being scheduled
    wants_pod_events: bool = False  # has pod affinity: placed pods may help it


class SchedulingQueue:
    def __init__(self, clock: Clock | None = None, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 max_unschedulable: float = 60.0) -> None:
        self.clock: Clock = clock or RealClock()
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._seq = itertools.count()
        self._active: list[tuple[int, int, str]] = []        # (-priority, seq, key)
        self._backoff: list[tuple[float, int, str]] = []     # (ready at, seq, key)
        self._unschedulable: dict[str, QueuedPod] = {}
        self._pods: dict[str, QueuedPod] = {}
        self._where: dict[str, str] = {}
        self.scheduling_cycle = 0
        self.move_request_cycle = -1       # the last cycle during which an event concerned every pod
        self._filtered_move: tuple[int, Callable[[QueuedPod], bool]] | None = None   # ... or only some
        self._wake = asyncio.Event()
        self._closed = False

    # ------------------------------------------------------------ state
    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def __len__(self) -> int:
        return len(self._pods)

    def counts(self) -> dict[str, int]:
        out = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}
        for w in self._where.values():
            out[w] += 1
        return out

    def backoff_duration(self, attempts: int) -> float:
        return doubling(attempts, self.initial_backoff, self.max_backoff) if attempts > 0 else 0.0

    def _backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + self.backoff_duration(qp.attempts)

    # ------------------------------------------------------------ into the sub-queues
    def _to_active(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._where[qp.key] = ACTIVE
        heapq.heappush(self._active, (-qp.priority, qp.seq, qp.key))
        self._wake.set()

    def _to_backoff(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        self._where[qp.key] = BACKOFF
        heapq.heappush(self._backoff, (self._backoff_expiry(qp), qp.seq, qp.key))
        self._wake.set()

    def _to_unschedulable(self, qp: QueuedPod) -> None:
        self._where[qp.key] = UNSCHEDULABLE
        self._unschedulable[qp.key] = qp

    def _move(self, qp: QueuedPod) -> None:
        """Out of unschedulable: to backoff if still backing off, else active."""
        self._unschedulable.pop(qp.key, None)
        if self._backoff_expiry(qp) > self.clock.now():
            self._to_backoff(qp)
        else:
            self._to_active(qp)

    # ------------------------------------------------------------ API used by the informer handlers
    def add(self, key: str, uid: str = "", priority: int = 0, wants_pod_events: bool = False) -> None:
        """A pending pod appeared or changed in a way that may change its fate."""
        if self._closed:
            return
        qp = self._pods.get(key)
        if qp is None:
            qp = self._pods[key] = QueuedPod(key, uid, priority, timestamp=self.clock.now(),
                                             wants_pod_events=wants_pod_events)
            self._to_active(qp)
            return
        if uid and qp.uid != uid:     # same name, new pod: start afresh
            self.delete(key)
            self.add(key, uid, priority, wants_pod_events)
            return
        where = self._where[key]
        if where == IN_FLIGHT:
            qp.updated = True
        elif where == UNSCHEDULABLE:
            self._move(qp)

    def delete(self, key: str) -> None:
        """The pod is gone or bound: stop tracking it (stale heap entries are skipped)."""
        self._pods.pop(key, None)
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)

    def move_all(self, reason: str, only: Callable[[QueuedPod], bool] | None = None) -> int:
        """Something changed that may help unschedulable pods: give them (or `only` some) another try."""
        if only is None:
            self.move_request_cycle = self.scheduling_cycle
        else:
            self._filtered_move = (self.scheduling_cycle, only)
        moved = [qp for qp in self._unschedulable.values() if only is None or only(qp)]
        for qp in moved:
            self._move(qp)
        if moved:
            log.debug("%s: %d unschedulable pods to retry", reason, len(moved))
        return len(moved)

    # ------------------------------------------------------------ API used by the scheduling loop
    def flush(self) -> None:
        """Back-off expired → active; parked for too long → moved."""
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qp = self._pods.get(key)
            if qp is not None and qp.seq == seq and self._where.get(key) == BACKOFF:
                self._to_active(qp)
        stale = [qp for qp in self._unschedulable.values() if now - qp.timestamp >= self.max_unschedulable]
        for qp in stale:
            self._move(qp)

    def try_pop(self) -> QueuedPod | None:
        self.flush()
        while self._active:
            _, seq, key = heapq.heappop(self._active)
            qp = self._pods.get(key)
            if qp is None or qp.seq != seq or self._where.get(key) != ACTIVE:
                continue
            self.scheduling_cycle += 1
            qp.cycle = self.scheduling_cycle
            qp.attempts += 1
            qp.updated = False
            self._where[key] = IN_FLIGHT
            return qp
        return None

    def _next_deadline(self) -> float | None:
        deadlines = [t for t, _, _ in self._backoff[:1]]
        if self._unschedulable:
            deadlines.append(min(qp.timestamp for qp in self._unschedulable.values()) + self.max_unschedulable)
        return min(deadlines) if deadlines else None

    async def pop(self) -> QueuedPod:
        """The next pod to schedule, waiting for one (and for back-offs to expire)."""
        while True:
            if self._closed:
                raise QueueClosed()
            qp = self.try_pop()
            if qp is not None:
                return qp
            self._wake.clear()
            deadline = self._next_deadline()
            waiter = asyncio.ensure_future(self._wake.wait())
            sleeper = (asyncio.ensure_future(self.clock.sleep(max(0.0, deadline - self.clock.now())))
                       if deadline is not None else None)
            try:
                await asyncio.wait([t for t in (waiter, sleeper) if t], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in (waiter, sleeper):
                    if t is not None and not t.done():
                        t.cancel()

    def done(self, key: str) -> None:
        """Bound (or no longer ours): forget it. A pod stays in flight while its bind runs."""
        if self._where.get(key) == IN_FLIGHT:
            self.delete(key)

    def requeue_unschedulable(self, qp: QueuedPod) -> None:
        """It fits nowhere now: park it until the cluster changes."""
        if self._pods.get(qp.key) is not qp:
            return     # deleted or replaced meanwhile
        qp.timestamp = self.clock.now()
        if qp.updated or self._missed_event(qp):
            self._move(qp)     # something changed while we were deciding: don't miss it
        else:
            self._to_unschedulable(qp)

    def _missed_event(self, qp: QueuedPod) -> bool:
        if self.move_request_cycle >= qp.cycle:
            return True
        return self._filtered_move is not None and self._filtered_move[0] >= qp.cycle and self._filtered_move[1](qp)

    def requeue_backoff(self, qp: QueuedPod) -> None:
        """An error (e.g. the bind failed): try again after its back-off."""
        if self._pods.get(qp.key) is not qp:
            return
        qp.timestamp = self.clock.now()
        self._to_backoff(qp)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
