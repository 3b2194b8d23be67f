"""The controller skeleton every controller module fills in.

A controller registers informer handlers in `setup()`; handlers only turn
objects into `namespace/name` keys (mapping a pod to its owner first) and
add them to the controller's queue. Workers call `reconcile(key)`, which
reads the caches, writes what is missing, recomputes status and treats
NotFound as done. The work queue guarantees one key is never reconciled
twice at once; an exception requeues the key with back-off, `Requeue(delay)`
asks to look again later without counting as a failure.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kubelab import kinds, timeutil
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.timeutil import Clock, RealClock
from kubelab.workqueue import Requeue, WorkQueue, run_workers

from .config import Config
from .informers import SharedInformers
from .metrics import Metrics

__all__ = ["Context", "Controller", "Requeue"]


@dataclass
class Context:
    client: Client
    informers: SharedInformers
    config: Config
    clock: Clock = field(default_factory=RealClock)   # called: wall time (timestamps in objects are wall time)
    metrics: Metrics = field(default_factory=Metrics)
    host: str = ""                            # reported as the events' source host


class Controller:
    name: ClassVar[str] = ""
    component: ClassVar[str] = ""             # events' source, as Kubernetes names it ("deployment-controller")
    default_workers: ClassVar[int] = 5

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.informers = ctx.informers
        self.recorder = EventRecorder(ctx.client, self.component or f"{self.name}-controller", ctx.host)
        self.config = ctx.config
        self.clock = ctx.clock
        self.queue: WorkQueue[str] = WorkQueue(name=self.name, max_delay=60.0)
        self.log = logging.getLogger(f"controller_manager.{self.name}")
        ctx.metrics.depth[self.name] = self.queue.len

    # ---------------------------------------------------------------- to override
    def setup(self) -> None:
        """Ask `self.informers` for the kinds needed and register handlers."""

    async def reconcile(self, key: str) -> None:
        raise NotImplementedError

    async def background(self) -> None:
        """Periodic work besides the queue (e.g. the node monitor); runs while leading."""

    # ---------------------------------------------------------------- helpers
    def enqueue(self, obj: Any) -> None:
        self.queue.add(kinds.key_of(obj))

    def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.recorder.event(obj, type_, reason, message)

    # ---------------------------------------------------------------- running
    async def _timed(self, key: str) -> None:
        start = time.perf_counter()
        ok = True
        try:
            await self.reconcile(key)
        except Requeue:
            raise
        except Exception:
            ok = False
            raise
        finally:
            self.ctx.metrics.observe(self.name, time.perf_counter() - start, ok)

    async def run(self, workers: int | None = None) -> None:
        n = workers or self.default_workers
        self.log.info("starting %s controller with %d workers", self.name, n)
        bg = asyncio.create_task(self.background(), name=f"{self.name}-background")
        try:
            await run_workers(self.queue, self._timed, n, logger=self.log)
        finally:
            self.queue.shut_down(discard_queued=True)
            await timeutil.cancel(bg)
            try:
                await asyncio.wait_for(self.recorder.flush(), 2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
