"""An asyncio rate-limited work queue with client-go's semantics.

Where this sits: in the shared client library (`kubelab`), between informers
and reconcilers.  Informer event handlers `add` object keys; controller
workers `get` a key, reconcile it, then `forget` (success) or
`add_rate_limited` (failure) and finally `done`.  `run_workers` packages
that loop.  Standard library only.

Semantics (k8s.io/client-go/util/workqueue):

* a key added while it is already queued is de-duplicated;
* a key added while it is being processed is marked dirty and queued again
  only when `done` is called, so one key is never processed twice at once;
* after `shut_down` new adds are ignored; keys already queued are still
  handed out (unless ``discard_queued=True``), then `get` raises
  `QueueShutDown`;
* `add_after` keeps only the earliest pending deadline per key;
* `add_rate_limited` delays by the rate limiter (per-key exponential
  back-off, 5 ms doubling up to 1000 s by default).

Time comes from an injected `Clock` (kubelab.timeutil's; its `FakeClock`
lets tests advance time instantly).  `add_after` and `add_rate_limited` need a running event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from .backoff import doubling
from .timeutil import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialRateLimiter",
    "MaxOfRateLimiter",
    "QueueShutDown",
    "RateLimiter",
    "Requeue",
    "WorkQueue",
    "default_controller_rate_limiter",
    "process_next",
    "run_workers",
]

K = TypeVar("K", bound=Hashable)

_log = logging.getLogger(__name__)


class QueueShutDown(Exception):
    """`get` was called on a queue that is shut down and drained."""


class Requeue(Exception):
    """Raised by a reconciler: process the key again after `delay` seconds.

    Not an error: the key's back-off is reset and no retry is counted.
    """

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(f"requeue after {delay}s")
        self.delay = delay


# --------------------------------------------------------------------------
# Rate limiters
# --------------------------------------------------------------------------


class RateLimiter(Protocol):
    def when(self, key: Hashable) -> float:
        """Seconds to wait before the key is processed again (records a retry)."""
        ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ItemExponentialRateLimiter:
    """Per-key back-off: ``base_delay * 2**failures``, capped at ``max_delay``."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        return doubling(failures, self.base_delay, self.max_delay)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """Overall token bucket (``qps`` refill, ``burst`` capacity) across keys."""

    def __init__(self, qps: float, burst: int, clock: Clock) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def when(self, key: Hashable) -> float:
        now = self._clock.now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        pass

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay of several limiters."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        return max(lim.when(key) for lim in self.limiters)

    def forget(self, key: Hashable) -> None:
        for lim in self.limiters:
            lim.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(lim.num_requeues(key) for lim in self.limiters)


def default_controller_rate_limiter(clock: Clock) -> RateLimiter:
    """client-go's default: per-key 5 ms..1000 s back-off and 10 qps / 100 burst."""
    return MaxOfRateLimiter(
        ItemExponentialRateLimiter(0.005, 1000.0), BucketRateLimiter(10.0, 100, clock)
    )


# --------------------------------------------------------------------------
# The queue
# --------------------------------------------------------------------------


class WorkQueue(Generic[K]):
    """De-duplicating, delaying, rate-limited FIFO of keys (see module doc)."""

    def __init__(
        self,
        clock: Clock | None = None,
        rate_limiter: RateLimiter | None = None,
        *,
        name: str = "",
        base_delay: float = 0.005,
        max_delay: float = 1000.0,
    ) -> None:
        self.name = name
        self.clock: Clock = clock if clock is not None else RealClock()
        self.rate_limiter: RateLimiter = (
            rate_limiter
            if rate_limiter is not None
            else ItemExponentialRateLimiter(base_delay, max_delay)
        )
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, float] = {}  # key -> earliest add_after deadline
        self._timers: set[asyncio.Task[None]] = set()
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __repr__(self) -> str:
        return (
            f"WorkQueue(name={self.name!r}, queued={len(self._queue)}, "
            f"processing={len(self._processing)}, waiting={len(self._waiting)})"
        )

    # -- state ------------------------------------------------------------

    def len(self) -> int:
        """Number of keys ready to be handed out (not processing, not waiting)."""
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def waiting(self) -> int:
        """Number of keys with a pending `add_after` deadline."""
        return len(self._waiting)

    # -- adding -----------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue `key` unless already queued; if processing, mark it dirty."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` once `delay` seconds have passed (earliest deadline wins)."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready = self.clock.now() + delay
        pending = self._waiting.get(key)
        if pending is not None and pending <= ready:
            return
        self._waiting[key] = ready
        task = asyncio.get_running_loop().create_task(self._fire(key, ready))
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _fire(self, key: K, ready: float) -> None:
        await self.clock.sleep(ready - self.clock.now())  # deadline fixed at add time
        if self._waiting.get(key) == ready:
            del self._waiting[key]
            self.add(key)

    def add_rate_limited(self, key: K) -> None:
        """Add `key` after the rate limiter's back-off for it."""
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset the key's back-off (call after a successful reconcile)."""
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.rate_limiter.num_requeues(key)

    # -- consuming --------------------------------------------------------

    async def get(self) -> K:
        """Wait for and claim the next key; raise QueueShutDown when shut down
        and drained.  The caller must call `done(key)` afterwards."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(f"work queue {self.name!r} is shut down")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self._wake_one()  # pass our wake-up on to another getter
                else:
                    try:
                        self._getters.remove(fut)
                    except ValueError:
                        pass
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Finish processing `key`; re-queue it if it was added meanwhile."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def shut_down(self, *, discard_queued: bool = False) -> None:
        """Stop accepting keys and cancel pending delayed adds.  Queued keys
        are still handed out unless `discard_queued`; then getters get
        QueueShutDown."""
        self._shutting_down = True
        if discard_queued:
            for key in self._queue:
                self._dirty.discard(key)
            self._queue.clear()
        for task in list(self._timers):
            task.cancel()
        self._waiting.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return


# --------------------------------------------------------------------------
# Worker loop
# --------------------------------------------------------------------------


async def process_next(
    queue: WorkQueue[K],
    key: K,
    reconcile: Callable[[K], Awaitable[None]],
    max_retries: int = 15,
    logger: logging.Logger | None = None,
) -> None:
    """Reconcile one claimed key and apply the retry policy (no `done`)."""
    log = logger or _log
    try:
        await reconcile(key)
    except Requeue as r:
        queue.forget(key)
        queue.add_after(key, r.delay)
    except Exception as e:  # noqa: BLE001 - a reconciler failure must not kill the worker
        retries = queue.num_requeues(key)
        if retries < max_retries:
            log.warning(
                "%s: error reconciling %r (retry %d/%d): %s: %s",
                queue.name or "workqueue", key, retries + 1, max_retries, type(e).__name__, e,
            )
            queue.add_rate_limited(key)
        else:
            log.error(
                "%s: dropping %r out of the queue after %d retries: %s: %s",
                queue.name or "workqueue", key, retries, type(e).__name__, e,
                exc_info=e,
            )
            queue.forget(key)
    else:
        queue.forget(key)


async def run_workers(
    queue: WorkQueue[K],
    reconcile: Callable[[K], Awaitable[None]],
    workers: int = 1,
    max_retries: int = 15,
    logger: logging.Logger | None = None,
) -> None:
    """Run `workers` loops of get -> reconcile -> forget/retry -> done until
    the queue is shut down and drained.  Cancelling this task cancels them."""

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            try:
                await process_next(queue, key, reconcile, max_retries, logger)
            finally:
                queue.done(key)

    async with asyncio.TaskGroup() as tg:
        for i in range(max(1, workers)):
            tg.create_task(worker(), name=f"{queue.name or 'workqueue'}-worker-{i}")
