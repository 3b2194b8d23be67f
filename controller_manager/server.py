"""The controller-manager process life cycle: startup → lead → shutdown.

    start: API client, health/metrics endpoints
    lead:  (after winning the Lease, unless --no-leader-elect) shared
           informers → every enabled controller's setup() → start informers
           → wait until all caches are synced → run every controller
    stop:  on SIGTERM/SIGINT cancel the controllers, give the Lease back so
           a standby takes over at once, close the client (kubelab.serving
           runs this; a second signal exits at once).

Losing the lease (renewals failing past the renew deadline) ends the
process with one log line, as in Kubernetes: a replica that may have been
replaced must not keep writing.
"""
from __future__ import annotations

import asyncio
import logging
import socket

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
        self.endpoints: list[HealthServer | MetricsServer] = []

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

    async def start(self) -> None:
        cfg = self.config
        self.client = Client(cfg.server, cfg.token, pipeline=True)   # pods, status and Events by the hundred
        if cfg.health_address:
            self.endpoints.append(HealthServer(cfg.health_address))
        if cfg.metrics_address:
            self.endpoints.append(MetricsServer(cfg.metrics_address, self.metrics.render))
        for endpoint in self.endpoints:
            await endpoint.start()

    async def run(self) -> None:
        """Every controller, after winning the lease (given back when cancelled, see kubelab.leaderelection)."""
        cfg = self.config
        assert self.client is not None
        if not cfg.leader_elect:
            await self.lead()
            return
        elector = LeaderElector(self.client, cfg.leader_elect_name, cfg.leader_elect_namespace, self.identity,
                                cfg.leader_elect_lease_duration, cfg.leader_elect_renew_deadline,
                                cfg.leader_elect_retry_period)
        log.info("%s waiting for lease %s/%s", self.identity, cfg.leader_elect_namespace, cfg.leader_elect_name)
        await elector.run(self.lead)

    async def stop(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.stop()
        if self.client is not None:
            await self.client.close()
