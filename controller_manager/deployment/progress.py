"""Deployment progress: the Progressing condition, the deadline, paused/resumed.

Kubernetes' progress.go. After every rollout step the status is recomputed:

- complete (all replicas updated and available) → Progressing True,
  NewReplicaSetAvailable;
- something moved since the last status (more updated, fewer old, more
  ready or available) → Progressing True, ReplicaSetUpdated, and its
  lastUpdateTime restarts the deadline clock;
- nothing moved for progressDeadlineSeconds → Progressing False,
  ProgressDeadlineExceeded (a Warning event says so once).

A rollout that may still get stuck is looked at again just after its
deadline, since no watch event will come to say that nothing happened.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from kubelab.v1 import objects_pb2 as pb
from kubelab import conditions, timeutil

from .. import podutil
from ..base import Requeue
from . import util

if TYPE_CHECKING:
    from .controller import DeploymentController


class ProgressMixin:
    async def sync_rollout_status(self: "DeploymentController", all_rss: Sequence[Any],
                                  new_rs: pb.ReplicaSet | None, d: pb.Deployment) -> None:
        now = self.clock()
        now_s = timeutil.fmt(now)
        status = util.calculate_status(d, all_rss, new_rs, now_s)
        if not util.has_progress_deadline(d):
            conditions.remove(status.conditions, "Progressing")
        current = conditions.get(status.conditions, "Progressing")
        complete = (status.replicas == status.updated_replicas and current is not None
                    and current.reason == util.NEW_RS_AVAILABLE)
        timed_out_now = False
        if util.has_progress_deadline(d) and not complete:
            name = new_rs.metadata.name if new_rs is not None else ""
            if util.deployment_complete(d, status):
                conditions.set_(status.conditions, conditions.new(
                    "Progressing", "True", util.NEW_RS_AVAILABLE,
                    f'ReplicaSet "{name}" has successfully progressed.', now_s))
            elif util.deployment_progressing(d, status):
                msg = f'ReplicaSet "{name}" is progressing.' if new_rs is not None else \
                    f'Deployment "{d.metadata.name}" is progressing.'
                # Written even when only lastUpdateTime is new: that restarts the deadline clock.
                conditions.replace(status.conditions, conditions.new("Progressing", "True", util.RS_UPDATED, msg,
                                                                     now_s))
            elif util.deployment_timed_out(d, status, now):
                was = current.reason if current is not None else ""
                msg = f'ReplicaSet "{name}" has timed out progressing.' if new_rs is not None else \
                    f'Deployment "{d.metadata.name}" has timed out progressing.'
                conditions.set_(status.conditions, conditions.new(
                    "Progressing", "False", util.TIMED_OUT, msg, now_s))
                timed_out_now = was != util.TIMED_OUT

        failure = self.replica_failure(all_rss)
        if failure is not None:
            conditions.set_(status.conditions, failure)
        else:
            conditions.remove(status.conditions, "ReplicaFailure")

        if status != d.status:
            d = await self.update_status(d, status)
        if timed_out_now:
            self.log.info("deployment %s/%s: progress deadline exceeded", d.metadata.namespace, d.metadata.name)
            self.event(d, "Warning", util.TIMED_OUT,
                       f'Deployment "{d.metadata.name}" has timed out progressing: '
                       + (conditions.get(status.conditions, "Progressing") or pb.Condition()).message)
        wait = util.seconds_until_deadline(d, status, now)
        if wait is not None:
            raise Requeue(wait)

    @staticmethod
    def replica_failure(all_rss: Sequence[Any]) -> pb.Condition | None:
        """A ReplicaSet that cannot create its pods makes the Deployment say so (ReplicaFailure)."""
        for rs in all_rss:
            if rs is None:
                continue
            cond = conditions.get(rs.status.conditions, "ReplicaFailure")
            if cond is not None:
                out = pb.Condition()
                out.CopyFrom(cond)
                out.last_update_time = out.last_update_time or out.last_transition_time
                return out
        return None

    async def check_paused_conditions(self: "DeploymentController", d: pb.Deployment) -> pb.Deployment:
        """Progressing Unknown while paused (DeploymentPaused), then DeploymentResumed."""
        if not util.has_progress_deadline(d):
            return d
        cond = conditions.get(d.status.conditions, "Progressing")
        if cond is not None and cond.reason == util.TIMED_OUT:
            return d           # a reported lack of progress is not overwritten by "paused"
        paused_cond = cond is not None and cond.reason == util.PAUSED
        now = timeutil.fmt(self.clock())
        status = pb.DeploymentStatus()
        status.CopyFrom(d.status)
        if d.spec.paused and not paused_cond:
            conditions.set_(status.conditions, conditions.new("Progressing", "Unknown", util.PAUSED,
                                                              "Deployment is paused", now))
        elif not d.spec.paused and paused_cond:
            conditions.set_(status.conditions, conditions.new("Progressing", "Unknown", util.RESUMED,
                                                              "Deployment is resumed", now))
        else:
            return d
        return await self.update_status(podutil.copy(d), status)
