"""RollingUpdate: grow the new ReplicaSet and shrink the old ones within maxSurge/maxUnavailable.

Kubernetes' rolling.go. One step per sync, each step one kind of move:

1. scale the new ReplicaSet up as far as maxSurge allows (or down to
   replicas if the Deployment shrank) — if it moved, stop here;
2. scale old ReplicaSets down: their unavailable pods first, then
   available ones while replicas - maxUnavailable stay available — if
   anything moved, stop here;
3. when complete, delete history beyond revisionHistoryLimit;
4. always: recompute status and the Progressing condition.

The arithmetic (and a worked example) is in util.py; this module only
applies the plans. The next step happens when a watch event (a ReplicaSet's
status changing as its pods become available) brings the key back.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from kubelab.v1 import objects_pb2 as pb

from . import util

if TYPE_CHECKING:
    from .controller import DeploymentController


class RollingMixin:
    async def rollout_rolling(self: "DeploymentController", d: pb.Deployment,
                              rss: Sequence[pb.ReplicaSet]) -> None:
        new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=True)
        assert new_rs is not None
        all_rss: list[Any] = [*old_rss, new_rs]
        if await self.reconcile_new_replica_set(all_rss, new_rs, d):
            await self.sync_rollout_status(all_rss, new_rs, d)
            return
        if await self.reconcile_old_replica_sets(all_rss, util.active(old_rss), new_rs, d):
            await self.sync_rollout_status(all_rss, new_rs, d)
            return
        if util.deployment_complete(d, d.status):
            await self.cleanup_deployment(old_rss, d)
        await self.sync_rollout_status(all_rss, new_rs, d)

    async def reconcile_new_replica_set(self: "DeploymentController", all_rss: Sequence[Any],
                                        new_rs: pb.ReplicaSet, d: pb.Deployment) -> bool:
        if new_rs.spec.replicas == d.spec.replicas:
            return False
        if new_rs.spec.replicas > d.spec.replicas:
            scaled, _ = await self.scale_replica_set_and_record_event(new_rs, d.spec.replicas, d)
            return scaled
        target = util.new_rs_new_replicas(d, all_rss, new_rs)
        scaled, _ = await self.scale_replica_set_and_record_event(new_rs, target, d)
        return scaled

    async def reconcile_old_replica_sets(self: "DeploymentController", all_rss: Sequence[Any],
                                         old_rss: Sequence[pb.ReplicaSet], new_rs: pb.ReplicaSet | None,
                                         d: pb.Deployment) -> bool:
        plan = util.plan_rolling_scale_down(d, all_rss, old_rss, new_rs)
        scaled_any = False
        for rs in util.by_creation(old_rss):
            if rs.metadata.name in plan:
                scaled, _ = await self.scale_replica_set_and_record_event(rs, plan[rs.metadata.name], d)
                scaled_any = scaled_any or scaled
        return scaled_any
