"""Deployment: finding or creating the new ReplicaSet, scaling, history cleanup, plain status.

Shared by every strategy (Kubernetes' sync.go). `rolling`, `recreate` and
`rollback` call in here; `progress` owns the Progressing condition.

Writes to the Deployment go through `write_deployment`: annotations
(revision) with an update, status with the status subresource, each
starting from the object the previous write returned so resourceVersions
line up.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from kubelab import conditions, errors, timeutil
from kubelab.v1 import objects_pb2 as pb

from .. import podutil
from . import util

if TYPE_CHECKING:
    from .controller import DeploymentController


class ReportedCreateError(Exception):
    """The new ReplicaSet was refused for good (Invalid) and the Deployment says so: end this sync quietly."""


class SyncMixin:
    # ---------------------------------------------------------------- writes
    async def write_deployment(self: "DeploymentController", before: pb.Deployment,
                               after: pb.Deployment) -> pb.Deployment:
        """Persist what changed between `before` and `after` (metadata, then status)."""
        current = after
        if dict(before.metadata.annotations) != dict(after.metadata.annotations):
            status = pb.DeploymentStatus()
            status.CopyFrom(after.status)
            current = await self.client.update(after)
            current.status.CopyFrom(status)
        if before.status != current.status:
            current = await self.client.update_status(current)
        return current

    async def update_status(self: "DeploymentController", d: pb.Deployment,
                            status: pb.DeploymentStatus) -> pb.Deployment:
        if d.status == status:
            return d
        new = podutil.copy(d)
        new.status.CopyFrom(status)
        return await self.client.update_status(new)

    # ---------------------------------------------------------------- replica sets
    async def get_all_replica_sets_and_sync_revision(
            self: "DeploymentController", d: pb.Deployment, rss: Sequence[pb.ReplicaSet], create: bool,
    ) -> tuple[pb.ReplicaSet | None, list[pb.ReplicaSet], pb.Deployment]:
        """(new ReplicaSet or None, old ReplicaSets, the Deployment as last written)."""
        existing = util.find_new_replica_set(d, rss)
        old_rss = util.find_old_replica_sets(d, rss, existing)
        new_rs, d = await self.get_new_replica_set(d, rss, old_rss, existing, create)
        return new_rs, old_rss, d

    async def get_new_replica_set(self: "DeploymentController", d: pb.Deployment, rss: Sequence[pb.ReplicaSet],
                                  old_rss: list[pb.ReplicaSet], existing: pb.ReplicaSet | None,
                                  create: bool) -> tuple[pb.ReplicaSet | None, pb.Deployment]:
        now = timeutil.fmt(self.clock())
        max_old = util.max_revision(old_rss)
        new_revision = max_old + 1
        before = podutil.copy(d)
        if existing is not None:
            rs_copy = podutil.copy(existing)
            previous = util.revision_of(existing)
            changed = util.new_rs_annotations(d, rs_copy, new_revision, exists=True)
            if rs_copy.spec.min_ready_seconds != d.spec.min_ready_seconds:
                rs_copy.spec.min_ready_seconds = d.spec.min_ready_seconds
                changed = True
            if changed:
                existing = await self.client.update(rs_copy)
                if previous and previous < max_old:
                    self.note_rollback(d, existing, previous)
            if d.metadata.annotations.get(util.REVISION) != existing.metadata.annotations.get(util.REVISION):
                d.metadata.annotations[util.REVISION] = existing.metadata.annotations.get(util.REVISION, "")
            if util.has_progress_deadline(d) and conditions.get(d.status.conditions, "Progressing") is None:
                conditions.set_(d.status.conditions, conditions.new(
                    "Progressing", "True", util.FOUND_NEW_RS, f'Found new replica set "{existing.metadata.name}"',
                    now))
            d = await self.write_deployment(before, d)
            return existing, d
        if not create:
            return None, d

        replicas = util.new_rs_new_replicas(d, old_rss, None)
        collision = d.status.collision_count if d.status.HasField("collision_count") else None
        hash_ = util.compute_hash(d.spec.template, collision)
        rs = util.new_replica_set(d, hash_, replicas, new_revision)
        already_exists = False
        try:
            created = await self.client.create(rs)
        except errors.AlreadyExists:
            live = await self.client.get("ReplicaSet", rs.metadata.name, rs.metadata.namespace)
            ref = podutil.controller_ref(live)
            if ref is not None and ref.uid == d.metadata.uid and util.equal_ignore_hash(
                    live.spec.template, d.spec.template):
                created, already_exists = live, True     # ours: the cache had not shown it yet
            else:
                # A different template hashed to an existing name: bump the
                # collision count so the next sync picks another name.
                d.status.collision_count = (collision or 0) + 1
                await self.write_deployment(before, d)
                raise errors.Conflict(f'hash collision for replica set "{rs.metadata.name}"; '
                                      f'collisionCount is now {d.status.collision_count}') from None
        except errors.ApiError as e:
            # Kubernetes' sync.go: the condition and a Warning event, both ReplicaSetCreateError, carry the
            # API's words, so `describe deploy` says why no ReplicaSet appears.
            msg = f'Failed to create new replica set "{rs.metadata.name}": {e.message}'
            if util.has_progress_deadline(d):
                conditions.set_(d.status.conditions, conditions.new(
                    "Progressing", "False", util.FAILED_RS_CREATE, msg, now))
                await self.write_deployment(before, d)
            self.event(d, "Warning", util.FAILED_RS_CREATE, msg)
            if isinstance(e, errors.Invalid):
                # The same Deployment makes the same ReplicaSet (a name too long for its own stays too long):
                # retrying cannot help, and 15 retries end in a traceback. A change to the Deployment syncs again.
                self.log.info("deployment %s/%s: %s", d.metadata.namespace, d.metadata.name, msg)
                raise ReportedCreateError(msg) from e
            raise
        if not already_exists:
            self.log.info("created replica set %s/%s (revision %d, %d replicas)", rs.metadata.namespace,
                          rs.metadata.name, new_revision, replicas)
            if replicas > 0:
                self.event(d, "Normal", "ScalingReplicaSet",
                           f"Scaled up replica set {created.metadata.name} to {replicas}")
        d.metadata.annotations[util.REVISION] = created.metadata.annotations.get(util.REVISION, str(new_revision))
        if not already_exists and util.has_progress_deadline(d):
            conditions.set_(d.status.conditions, conditions.new(
                "Progressing", "True", util.NEW_RS_CREATED, f'Created new replica set "{created.metadata.name}"',
                now))
        d = await self.write_deployment(before, d)
        return created, d

    # ---------------------------------------------------------------- scaling
    async def scale_replica_set(self: "DeploymentController", rs: pb.ReplicaSet, new_scale: int,
                                d: pb.Deployment, operation: str) -> pb.ReplicaSet:
        size_changed = rs.spec.replicas != new_scale
        rs_copy = podutil.copy(rs)
        annotations_changed = util.set_replicas_annotations(rs_copy, d.spec.replicas,
                                                            d.spec.replicas + util.max_surge(d))
        if not size_changed and not annotations_changed:
            return rs
        old = rs.spec.replicas
        rs_copy.spec.replicas = new_scale
        rs = await self.client.update(rs_copy)
        if size_changed:
            self.log.info("deployment %s/%s: scaled %s replica set %s from %d to %d", d.metadata.namespace,
                          d.metadata.name, operation, rs.metadata.name, old, new_scale)
            self.event(d, "Normal", "ScalingReplicaSet",
                       f"Scaled {operation} replica set {rs.metadata.name} to {new_scale}")
        return rs

    async def scale_replica_set_and_record_event(self: "DeploymentController", rs: pb.ReplicaSet, new_scale: int,
                                                 d: pb.Deployment) -> tuple[bool, pb.ReplicaSet]:
        if rs.spec.replicas == new_scale:
            # Same size: keep the sizing annotations true, or every later sync looks like a resize.
            return False, await self.scale_replica_set(rs, new_scale, d, "")
        operation = "up" if rs.spec.replicas < new_scale else "down"
        return True, await self.scale_replica_set(rs, new_scale, d, operation)

    async def scale(self: "DeploymentController", d: pb.Deployment, new_rs: pb.ReplicaSet | None,
                    old_rss: list[pb.ReplicaSet]) -> None:
        """Apply a resize of the Deployment to its ReplicaSets (proportionally mid-rollout)."""
        only = util.find_active_or_latest(new_rs, old_rss)
        if only is not None:
            await self.scale_replica_set_and_record_event(only, d.spec.replicas, d)
            return
        if util.is_saturated(d, new_rs):
            for rs in util.active(old_rss):
                await self.scale_replica_set_and_record_event(rs, 0, d)
            return
        if util.is_rolling_update(d):
            all_active = util.active([*old_rss, new_rs])
            sizes = util.plan_proportional_scale(d, all_active)
            allowed = d.spec.replicas + util.max_surge(d) if d.spec.replicas > 0 else 0
            operation = "up" if allowed - util.spec_replicas(all_active) > 0 else "down"
            for rs in all_active:
                await self.scale_replica_set(rs, sizes[rs.metadata.name], d, operation)

    # ---------------------------------------------------------------- history
    async def cleanup_deployment(self: "DeploymentController", old_rss: Sequence[pb.ReplicaSet],
                                 d: pb.Deployment) -> None:
        """Delete the oldest zero-sized ReplicaSets beyond revisionHistoryLimit."""
        if not d.spec.HasField("revision_history_limit"):
            return
        alive = [rs for rs in old_rss if not rs.metadata.deletion_timestamp]
        diff = len(alive) - d.spec.revision_history_limit
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (util.revision_of(rs), timeutil.parse(rs.metadata.creation_timestamp) or 0.0))
        for rs in alive[:diff]:
            if (rs.status.replicas != 0 or rs.spec.replicas != 0
                    or rs.metadata.generation > rs.status.observed_generation):
                continue
            self.log.info("deployment %s/%s: deleting old replica set %s (revision %d, history limit %d)",
                          d.metadata.namespace, d.metadata.name, rs.metadata.name, util.revision_of(rs),
                          d.spec.revision_history_limit)
            try:
                await self.client.delete("ReplicaSet", rs.metadata.name, rs.metadata.namespace,
                                         precondition_uid=rs.metadata.uid)
            except errors.NotFound:
                pass

    # ---------------------------------------------------------------- paused / scaling path
    async def sync(self: "DeploymentController", d: pb.Deployment, rss: Sequence[pb.ReplicaSet]) -> None:
        """Scaling (and paused) deployments: resize, never roll out."""
        new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=False)
        await self.scale(d, new_rs, old_rss)
        if d.spec.paused and util.ROLLBACK_TO not in d.metadata.annotations:
            await self.cleanup_deployment(old_rss, d)
        await self.sync_deployment_status([*old_rss, new_rs], new_rs, d)

    async def sync_deployment_status(self: "DeploymentController", all_rss: Sequence[Any],
                                     new_rs: pb.ReplicaSet | None, d: pb.Deployment) -> None:
        status = util.calculate_status(d, all_rss, new_rs, timeutil.fmt(self.clock()))
        await self.update_status(d, status)
