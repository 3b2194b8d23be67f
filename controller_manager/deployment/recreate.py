"""Recreate: all old pods go, and only once they are gone do new ones come.

Kubernetes' recreate.go: scale every old ReplicaSet to 0; wait until no old
pod is left — not even a terminating one, which is why this strategy
watches pod deletions; then create (or reuse) the new ReplicaSet at full
size.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from kubelab.v1 import objects_pb2 as pb

from . import util

if TYPE_CHECKING:
    from .controller import DeploymentController


def old_pods_running(new_rs: pb.ReplicaSet | None, old_rss: Sequence[pb.ReplicaSet],
                     pod_map: dict[str, list[pb.Pod]]) -> bool:
    if util.actual_replicas(old_rss) > 0:
        return True
    for uid, pods in pod_map.items():
        if new_rs is not None and new_rs.metadata.uid == uid:
            continue
        if any(p.status.phase not in ("Failed", "Succeeded") for p in pods):
            return True
    return False


class RecreateMixin:
    async def rollout_recreate(self: "DeploymentController", d: pb.Deployment, rss: Sequence[pb.ReplicaSet],
                               pod_map: dict[str, list[pb.Pod]]) -> None:
        new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=False)
        all_rss: list[Any] = [*old_rss, new_rs]
        scaled_down = False
        for rs in util.active(old_rss):
            scaled, _ = await self.scale_replica_set_and_record_event(rs, 0, d)
            scaled_down = scaled_down or scaled
        if scaled_down:
            await self.sync_rollout_status(all_rss, new_rs, d)
            return
        if old_pods_running(new_rs, old_rss, pod_map):
            await self.sync_rollout_status(all_rss, new_rs, d)
            return
        if new_rs is None:
            new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        await self.scale_replica_set_and_record_event(new_rs, d.spec.replicas, d)
        if util.deployment_complete(d, d.status):
            await self.cleanup_deployment(old_rss, d)
        await self.sync_rollout_status(all_rss, new_rs, d)
