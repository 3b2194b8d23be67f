"""The Docker kubelet's pod side: pods bound here → one worker per pod; Docker events; housekeeping.

Pipeline (as Kubernetes' kubelet, much abridged):

    pod informer (spec.nodeName=<node>) ─┐
    docker events (die/oom/destroy) ─────┼─▶ PodManager.wake(uid) ─▶ PodWorker.sync()  (kubelet.worker)
    probe results (kubelet.probes) ──────┤        (never two syncs of one pod at once)
    periodic resync, back-off timers ────┘

The manager owns what the node's pods share — the runtime (`kubelet.docker_runtime`), the volume
manager, the probers, the sandboxes, the image puller, the restart back-off, the Services informer
(for the containers' service variables), the clock — and hands them to each worker it makes. `housekeeping()`
removes containers and volumes of pods this node no longer has.

Everything the worker knows about a container is in Docker's labels, so a restarted kubelet adopts
running containers instead of recreating them.
"""
from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path
from typing import Any

from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.informer import Informer
from kubelab.timeutil import Clock, RealClock

from .backoff import Backoff
from .config import FORCE_GRACE, PodConfig
from .docker_runtime import L_NAMESPACE, L_POD, L_UID, ContainerInfo, DockerRuntime
from .probes import ProbeManager
from .pulls import ImagePuller
from .sandbox import Sandboxes
from .token_manager import TokenManager
from .volumes import VolumeManager
from .worker import PodWorker

log = logging.getLogger(__name__)


class PodManager:
    """The kubelet's pod side: informer → workers; docker events; housekeeping."""

    def __init__(self, client: Client, runtime: DockerRuntime, recorder: EventRecorder, config: PodConfig,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.config = config
        self.clock: Clock = clock or RealClock()
        self.restarts = Backoff(config.backoff_base, config.backoff_max, self.clock)
        self.images = ImagePuller(config, runtime, self.clock)
        self.volumes = VolumeManager(runtime, TokenManager(client.create_token, self.clock),
                                     Path(config.root_ca_file).read_bytes() if config.root_ca_file else b"",
                                     clock=self.clock)
        self.sandboxes = Sandboxes(config, runtime, self.volumes)
        self.probes = ProbeManager(runtime, lambda pod, t, r, m: recorder.event(pod, t, r, m), self.wake,
                                   clock=self.clock)
        self.workers: dict[str, PodWorker] = {}
        self.informer = Informer(client, "Pod", namespace="", field_selector=f"spec.nodeName={config.node_name}")
        self.informer.add_handlers(self._on_add, self._on_update, self._on_delete)
        # Services, for the containers' service environment variables (read when a container starts).
        self.services: Informer | None = Informer(client, "Service") if config.service_links else None
        self._tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.runtime.ensure_network(self.config.network)
        if self.services is not None:
            self.services.start()
            try:
                await self.services.wait_synced(30)
            except asyncio.TimeoutError:
                log.warning("service informer not synced after 30s; containers may start without service env")
        self.informer.start()
        await self.informer.wait_synced()
        log.info("pod informer synced: %d pods bound to %s", len(self.informer.store), self.config.node_name)
        self._tasks.append(asyncio.create_task(self._housekeeping_loop(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))

    async def stop(self) -> None:
        """Stop syncing; containers keep running (a restarted kubelet adopts them)."""
        for t in self._tasks:
            t.cancel()
        for w in list(self.workers.values()):
            if w.task is not None:
                w.task.cancel()
        self.probes.stop()
        await self.informer.stop()
        if self.services is not None:
            await self.services.stop()
        await asyncio.gather(*self._tasks, *(w.task for w in self.workers.values() if w.task),
                             return_exceptions=True)

    # ------------------------------------------------------------ inputs
    def _worker(self, uid: str, pod: Any | None) -> PodWorker:
        w = self.workers.get(uid)
        if w is None:
            w = self.workers[uid] = PodWorker(
                uid, pod, config=self.config, runtime=self.runtime, client=self.client, recorder=self.recorder,
                probes=self.probes, volumes=self.volumes, sandboxes=self.sandboxes, images=self.images,
                restarts=self.restarts, services=self.services.list if self.services is not None else None,
                on_done=self.worker_done, clock=self.clock)
            w.task = asyncio.create_task(w.run(), name=f"pod-{uid[:8]}")
        return w

    def worker_done(self, w: PodWorker) -> None:
        if self.workers.get(w.uid) is w:
            del self.workers[w.uid]

    def wake(self, uid: str) -> None:
        w = self.workers.get(uid)
        if w is not None:
            w.wake.set()

    def node_ip_changed(self, ip: str) -> None:
        """The node is on its network under a new address: every pod syncs again, its service route is set
        again via the new address (`Sandboxes.prepare`), and its status carries it (hostIP; a hostNetwork
        pod's podIP)."""
        self.config.node_ip = ip
        self.sandboxes.forget(*self.sandboxes.prepared)
        for w in list(self.workers.values()):
            w.wake.set()

    def wake_threadsafe(self, uid: str, action: str, attrs: dict[str, str]) -> None:
        if action in ("die", "oom", "destroy") and self._loop is not None:
            self._loop.call_soon_threadsafe(self.wake, uid)

    def _on_add(self, pod: Any) -> None:
        w = self._worker(pod.metadata.uid, pod)
        w.pod = pod
        w.wake.set()

    def _on_update(self, old: Any, new: Any) -> None:
        if old.metadata.uid != new.metadata.uid:
            self._on_delete(old)
            self._on_add(new)
            return
        w = self._worker(new.metadata.uid, new)
        w.pod = new
        if _spec_or_deletion_changed(old, new) or w.first_sync:
            w.wake.set()

    def _on_delete(self, pod: Any) -> None:
        w = self.workers.get(pod.metadata.uid)
        if w is None:
            w = self._worker(pod.metadata.uid, None)
        w.pod = None
        w.wake.set()

    # ------------------------------------------------------------ periodic
    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.resync_period * (0.9 + random.random() * 0.2))
            for w in list(self.workers.values()):
                w.wake.set()

    async def _housekeeping_loop(self) -> None:
        while True:
            try:
                await self.housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")
            await self.clock.sleep(self.config.housekeeping_period)

    async def housekeeping(self) -> None:
        """Remove containers and volumes of pods this node does not have (deleted, or never ours)."""
        known = set(self.workers)
        known |= {p.metadata.uid for p in self.informer.list()}
        orphans: dict[str, list[ContainerInfo]] = {}
        for c in await self.runtime.list_containers():
            if c.uid not in known:
                orphans.setdefault(c.uid, []).append(c)
        for uid, cs in orphans.items():
            if uid in self.workers:
                continue
            ns, name = cs[0].labels.get(L_NAMESPACE, ""), cs[0].labels.get(L_POD, "")
            log.info("removing %d containers of pod %s/%s (uid %s): not bound to %s", len(cs), ns, name, uid,
                     self.config.node_name)
            await asyncio.gather(*(self.runtime.stop(c.id, FORCE_GRACE) for c in cs if c.running))
            await asyncio.gather(*(self.runtime.remove(c.id) for c in cs))
        for v in await self.runtime.list_volumes():
            uid = (v.get("Labels") or {}).get(L_UID, "")
            if uid and uid not in known and uid not in self.workers:
                await self.runtime.remove_volume(v["Name"])


def _spec_or_deletion_changed(old: Any, new: Any) -> bool:
    if old.spec != new.spec:
        return True
    om, nm = old.metadata, new.metadata
    if om.deletion_timestamp != nm.deletion_timestamp:
        return True
    if om.deletion_grace_period_seconds != nm.deletion_grace_period_seconds:
        return True
    if om.labels != nm.labels or om.annotations != nm.annotations:
        return True
    return False
