"""Rollback: going back to an earlier pod template.

With apps/v1 a rollback is done by the client (`kubelab rollout undo`): it
copies the template of the ReplicaSet holding the wanted revision into the
Deployment. The controller then finds that the Deployment's template equals
an old ReplicaSet's, reuses that ReplicaSet as the new one and gives it the
next revision number (its old numbers go to the revision-history
annotation), exactly as Kubernetes does; `note_rollback` records an Event.

The older server-side form is also understood: the annotation
`deprecated.deployment.rollback.to: "<revision>"` ("0" = the previous
revision) makes the controller copy that revision's template itself and
remove the annotation (Kubernetes' extensions/v1beta1 `rollbackTo`).
`template_for_revision` is the lookup both forms need.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from kubelab.v1 import objects_pb2 as pb

from .. import podutil
from . import util

if TYPE_CHECKING:
    from .controller import DeploymentController


def previous_revision(rss: Sequence[pb.ReplicaSet]) -> int:
    """The second highest revision (what "undo" goes back to); 0 if there is none."""
    revisions = sorted({util.revision_of(rs) for rs in rss if util.revision_of(rs) > 0})
    return revisions[-2] if len(revisions) >= 2 else 0


def template_for_revision(rss: Sequence[pb.ReplicaSet], revision: int) -> pb.PodTemplateSpec | None:
    """The pod template of `revision` (0 = the previous one), without its pod-template-hash label."""
    if revision == 0:
        revision = previous_revision(rss)
        if revision == 0:
            return None
    for rs in rss:
        if util.revision_of(rs) == revision:
            return util.template_without_hash(rs.spec.template)
    return None


class RollbackMixin:
    def note_rollback(self: "DeploymentController", d: pb.Deployment, rs: pb.ReplicaSet, previous: int) -> None:
        self.log.info("deployment %s/%s: template of revision %d is back (replica set %s, now revision %s)",
                      d.metadata.namespace, d.metadata.name, previous, rs.metadata.name,
                      rs.metadata.annotations.get(util.REVISION))
        self.event(d, "Normal", "DeploymentRollback",
                   f'Rolled back deployment "{d.metadata.name}" to revision {previous}')

    async def rollback(self: "DeploymentController", d: pb.Deployment, rss: Sequence[pb.ReplicaSet]) -> None:
        """Serve `deprecated.deployment.rollback.to`: copy that revision's template, drop the annotation."""
        new_rs, old_rss, d = await self.get_all_replica_sets_and_sync_revision(d, rss, create=True)
        all_rss = [rs for rs in [*old_rss, new_rs] if rs is not None]
        raw = d.metadata.annotations.get(util.ROLLBACK_TO, "0")
        try:
            to_revision = int(raw)
        except ValueError:
            to_revision = -1
        d = podutil.copy(d)
        del d.metadata.annotations[util.ROLLBACK_TO]
        template = template_for_revision(all_rss, to_revision) if to_revision >= 0 else None
        if template is None:
            self.event(d, "Warning", "RollbackRevisionNotFound",
                       "Unable to find last revision." if to_revision == 0
                       else "Unable to find the revision to rollback to.")
        elif util.equal_ignore_hash(template, d.spec.template):
            self.event(d, "Normal", "RollbackTemplateUnchanged",
                       f'The rollback revision contains the same template as current deployment "{d.metadata.name}"')
        else:
            # The next sync reuses that revision's ReplicaSet, which records the event.
            d.spec.template.CopyFrom(template)
        await self.client.update(d)
