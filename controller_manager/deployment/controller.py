"""Deployment controller: handlers and the per-key sync that picks a path.

Watches Deployments, ReplicaSets (the ones it owns, and orphans it could
adopt) and pod deletions (Recreate waits for old pods to be gone). A sync:

    claim ReplicaSets (adopt/release by selector)
    being deleted?          → status only
    paused?                 → scale only (sync.py), Progressing=Unknown
    rollback annotation?    → rollback.py
    resized?                → scale only (proportionally if mid-rollout)
    Recreate / RollingUpdate → recreate.py / rolling.py, then progress.py
"""
from __future__ import annotations

from kubelab.selectors import selector_of
from kubelab.v1 import objects_pb2 as pb

from .. import podutil
from ..base import Controller
from ..informers import NAMESPACE, OWNER
from ..refmanager import RefManager
from . import util
from .progress import ProgressMixin
from .recreate import RecreateMixin
from .rollback import RollbackMixin
from .rolling import RollingMixin
from .sync import ReportedCreateError, SyncMixin


class DeploymentController(SyncMixin, RollingMixin, RecreateMixin, RollbackMixin, ProgressMixin, Controller):
    name = "deployment"
    component = "deployment-controller"

    def setup(self) -> None:
        self.d_informer = self.informers.get("Deployment")
        self.rs_informer = self.informers.get("ReplicaSet")
        self.pod_informer = self.informers.get("Pod")
        self.d_informer.add_handlers(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                     on_delete=self.enqueue)
        self.rs_informer.add_handlers(on_add=self._rs_added, on_update=self._rs_updated,
                                      on_delete=self._rs_deleted)
        self.pod_informer.add_handlers(on_delete=self._pod_deleted)

    # ---------------------------------------------------------------- handlers
    def _resolve(self, namespace: str, ref: pb.OwnerReference | None) -> pb.Deployment | None:
        if ref is None or ref.kind != "Deployment":
            return None
        d = self.d_informer.get(f"{namespace}/{ref.name}")
        return d if d is not None and d.metadata.uid == ref.uid else None

    def _matching(self, rs: pb.ReplicaSet) -> list[pb.Deployment]:
        out = []
        for d in self.d_informer.by_index(NAMESPACE, rs.metadata.namespace):
            sel = selector_of(d)
            if not sel.empty and sel.matches(rs.metadata.labels):
                out.append(d)
        return out

    def _rs_added(self, rs: pb.ReplicaSet) -> None:
        if rs.metadata.deletion_timestamp:
            self._rs_deleted(rs)
            return
        ref = podutil.controller_ref(rs)
        if ref is not None:
            d = self._resolve(rs.metadata.namespace, ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._matching(rs):
            self.enqueue(d)

    def _rs_updated(self, old: pb.ReplicaSet, new: pb.ReplicaSet) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        old_ref, new_ref = podutil.controller_ref(old), podutil.controller_ref(new)
        if old_ref != new_ref and old_ref is not None:
            d = self._resolve(old.metadata.namespace, old_ref)
            if d is not None:
                self.enqueue(d)
        if new_ref is not None:
            d = self._resolve(new.metadata.namespace, new_ref)
            if d is not None:
                self.enqueue(d)
            return
        if dict(old.metadata.labels) != dict(new.metadata.labels) or old_ref != new_ref:
            for d in self._matching(new):
                self.enqueue(d)

    def _rs_deleted(self, rs: pb.ReplicaSet) -> None:
        d = self._resolve(rs.metadata.namespace, podutil.controller_ref(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, pod: pb.Pod) -> None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.kind != "ReplicaSet":
            return
        rs = self.rs_informer.get(f"{pod.metadata.namespace}/{ref.name}")
        if rs is None or rs.metadata.uid != ref.uid:
            return
        d = self._resolve(rs.metadata.namespace, podutil.controller_ref(rs))
        if d is not None and d.spec.strategy.type == "Recreate":
            self.enqueue(d)

    # ---------------------------------------------------------------- sync
    async def claim_replica_sets(self, d: pb.Deployment) -> list[pb.ReplicaSet]:
        candidates = self.rs_informer.by_index(NAMESPACE, d.metadata.namespace)
        return await RefManager(self.client, d, selector_of(d)).claim(candidates)

    def pod_map(self, rss: list[pb.ReplicaSet]) -> dict[str, list[pb.Pod]]:
        """Pods per owning ReplicaSet uid (terminating ones included: Recreate waits for them)."""
        return {rs.metadata.uid: [p for p in self.pod_informer.by_index(OWNER, rs.metadata.uid)
                                  if (ref := podutil.controller_ref(p)) is not None and ref.uid == rs.metadata.uid]
                for rs in rss}

    async def reconcile(self, key: str) -> None:
        cached = self.d_informer.get(key)
        if cached is None:
            return
        d = podutil.copy(cached)
        if selector_of(d).empty:
            self.event(d, "Warning", "SelectingAll",
                       "This deployment is selecting all pods. A non-empty selector is required.")
            if d.status.observed_generation < d.metadata.generation:
                d.status.observed_generation = d.metadata.generation
                await self.client.update_status(d)
            return
        rss = await self.claim_replica_sets(d)
        if d.metadata.deletion_timestamp:
            await self.sync_status_only(d, rss)
            return
        d = await self.check_paused_conditions(d)
        if d.spec.paused:
            await self.sync(d, rss)
            return
        try:
            await self._roll(d, rss)
        except ReportedCreateError:
            return          # on the Deployment already (condition and event); only a change to it can help

    async def _roll(self, d: pb.Deployment, rss: list[pb.ReplicaSet]) -> None:
        if util.ROLLBACK_TO in d.metadata.annotations:
            await self.rollback(d, rss)
            return
        if util.is_scaling_event(d, rss):
            await self.sync(d, rss)
            return
        if d.spec.strategy.type == "Recreate":
            await self.rollout_recreate(d, rss, self.pod_map(rss))
        else:
            await self.rollout_rolling(d, rss)

    async def sync_status_only(self, d: pb.Deployment, rss: list[pb.ReplicaSet]) -> None:
        new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=False)
        await self.sync_deployment_status([*old_rss, new_rs], new_rs, d)
