"""The controller-manager process life cycle: startup → lead → shutdown.

    start: API client, health/metrics endpoints
    lead:  (after winning the Lease, unless --no-leader-elect) shared
           informers → every enabled controller's setup() → start informers
           → wait until all caches are synced → run every controller
    stop:  on SIGTERM/SIGINT cancel the controllers, give the Lease back so
           a standby takes over at once, close the client. A second signal
           forces exit.

Losing the lease (renewals failing past the renew deadline) ends the
process, as in Kubernetes: a replica that may have been replaced must not
keep writing.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import socket

from kubelab import errors, timeutil
from kubelab.client import Client
from kubelab.leaderelection import LeaderElector, default_identity

from .base import Context, Controller
from .config import Config
from .controllers import REGISTRY, enabled
from .informers import SharedInformers
from .metrics import Metrics
from kubelab.serving import HealthServer, MetricsServer

log = logging.getLogger(__name__)


class ControllerManager:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.names = enabled(config.controllers)
        self.identity = config.identity or default_identity()
        self.metrics = Metrics()
        self.client: Client | None = None
        self.controllers: list[Controller] = []
        self.informers: SharedInformers | None = None

    async def lead(self) -> None:
        assert self.client is not None
        self.metrics.leader = 1
        log.info("%s leads; starting controllers: %s", self.identity, ", ".join(self.names))
        informers = SharedInformers(self.client)
        ctx = Context(client=self.client, informers=informers, config=self.config, metrics=self.metrics,
                      host=socket.gethostname())
        self.informers = informers
        self.controllers = [REGISTRY[name](ctx) for name in self.names]
        for c in self.controllers:
            c.setup()
        informers.start()
        try:
            await informers.wait_synced()
            log.info("caches synced (%s)", ", ".join(informers.kinds()))
            async with asyncio.TaskGroup() as tg:
                for c in self.controllers:
                    tg.create_task(c.run(self.config.workers or None), name=f"controller-{c.name}")
        finally:
            self.metrics.leader = 0
            await informers.stop()

    async def _release_lease(self) -> None:
        """Give the lease back so a standby need not wait for it to expire."""
        assert self.client is not None
        try:
            lease = await self.client.get("Lease", self.config.leader_elect_name, self.config.leader_elect_namespace)
            if lease.spec.holder_identity != self.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = timeutil.now_str()
            await self.client.update(lease)
            log.info("released lease %s/%s", self.config.leader_elect_namespace, self.config.leader_elect_name)
        except errors.ApiError as e:
            log.info("could not release the lease: %s", e)

    async def serve(self) -> None:
        cfg = self.config
        self.client = Client(cfg.server, cfg.token, pipeline=True)   # pods, status and Events by the hundred
        health = HealthServer(cfg.health_address) if cfg.health_address else None
        metrics = MetricsServer(cfg.metrics_address, self.metrics.render) if cfg.metrics_address else None
        if health:
            await health.start()
        if metrics:
            await metrics.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                log.warning("second signal: exiting now")
                raise SystemExit(1)
            stop.set()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)

        elector: LeaderElector | None = None
        if cfg.leader_elect:
            elector = LeaderElector(self.client, cfg.leader_elect_name, cfg.leader_elect_namespace, self.identity,
                                    cfg.leader_elect_lease_duration, cfg.leader_elect_renew_deadline,
                                    cfg.leader_elect_retry_period)
            log.info("%s waiting for lease %s/%s", self.identity, cfg.leader_elect_namespace,
                     cfg.leader_elect_name)
            work = asyncio.create_task(elector.run(self.lead), name="leader-election")
        else:
            work = asyncio.create_task(self.lead(), name="controllers")
        stopper = asyncio.create_task(stop.wait())
        failed = False
        try:
            await asyncio.wait([work, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            was_leader = elector.is_leader if elector else False
            if not work.done():
                log.info("shutting down")
                work.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(work), cfg.shutdown_grace)
            except (asyncio.CancelledError, asyncio.TimeoutError, SystemExit):
                pass
            except Exception:  # noqa: BLE001 - report and go on shutting down
                log.exception("controllers failed")
                failed = True
            if elector is not None and was_leader:
                await self._release_lease()
            if health:
                await health.stop()
            if metrics:
                await metrics.stop()
            await self.client.close()
        if failed:
            raise SystemExit(1)
