"""Garbage collector: ownerReferences cascade (background, foreground, orphan).

Where it sits: watches every kind that owns or is owned here (Deployment →
ReplicaSet → Pod, and Services, Endpoints, PDBs carrying ownerReferences);
deletes dependents and strips or removes finalizers. The apiserver's part is
marking: a delete with propagationPolicy Foreground/Orphan sets the
deletionTimestamp and adds the finalizer `foregroundDeletion` / `orphan`;
the object goes once an update leaves it without finalizers.

Two kinds of work item, both level-triggered:

- `dep|Kind|ns/name` — a possible dependent: look at its owners (by uid;
  the cache first, then a live GET, so a brand-new owner the cache has not
  shown yet is not mistaken for a dead one).
    * some owner still solid: drop references to owners that are gone or
      waiting for their dependents, keep the object;
    * otherwise, if an owner is foreground-deleting and this object has
      dependents of its own: delete it in the foreground too, so the
      cascade goes depth first;
    * otherwise: delete it (honouring its own orphan/foreground finalizer).
- `own|Kind|ns/name` — an owner being deleted with a GC finalizer:
    * `orphan`: remove its ownerReference from every dependent, then the
      finalizer;
    * `foregroundDeletion`: ask every dependent that blocks its deletion
      (`blockOwnerDeletion: true`) to go; once none is left, remove the
      finalizer.

Dependents without `blockOwnerDeletion` do not hold the owner up; they are
collected as dangling afterwards (background), as in Kubernetes.
"""
from __future__ import annotations

import json
from typing import Any

from kubelab import errors, kinds
from kubelab.retry import retry_on_conflict
from kubelab.v1 import objects_pb2 as pb

from .base import Controller, Requeue

# Kinds watched for ownership. Events and Leases are left out: nothing here
# owns them and they are the bulk of the writes.
WATCHED = ("Deployment", "ReplicaSet", "Pod", "Service", "Endpoints", "EndpointSlice", "PodDisruptionBudget")
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"

SOLID, DANGLING, WAITING = "solid", "dangling", "waiting"


def item_key(kind: str, obj: Any) -> str:
    return f"{kind}|{kinds.key_of(obj)}"


def classify(states: dict[str, str]) -> str:
    """Given owner uid → state, what to do with the dependent.

    "keep" (all owners solid), "strip" (some solid: drop the others' refs),
    "foreground" (owners only waiting-or-dangling, some waiting; the caller
    checks whether the item has dependents of its own), "delete".
    """
    values = set(states.values())
    if not values or values == {SOLID}:
        return "keep"
    if SOLID in values:
        return "strip"
    if WAITING in values:
        return "foreground"
    return "delete"


class GarbageCollector(Controller):
    name = "garbagecollector"
    component = "garbage-collector-controller"
    default_workers = 10

    def setup(self) -> None:
        self.watched = {kind: self.informers.get(kind) for kind in WATCHED}
        for kind, inf in self.watched.items():
            inf.add_handlers(on_add=lambda o, k=kind: self._added(k, o),
                             on_update=lambda old, new, k=kind: self._updated(k, old, new),
                             on_delete=lambda o, k=kind: self._deleted(k, o))

    # ---------------------------------------------------------------- handlers
    @staticmethod
    def _deleting_with_gc(obj: Any) -> bool:
        return bool(obj.metadata.deletion_timestamp) and bool(
            {FOREGROUND, ORPHAN} & set(obj.metadata.finalizers))

    def _added(self, kind: str, obj: Any) -> None:
        if obj.metadata.owner_references:
            self.queue.add("dep|" + item_key(kind, obj))
        if self._deleting_with_gc(obj):
            self.queue.add("own|" + item_key(kind, obj))

    def _updated(self, kind: str, old: Any, new: Any) -> None:
        if list(old.metadata.owner_references) != list(new.metadata.owner_references):
            self.queue.add("dep|" + item_key(kind, new))
        if self._deleting_with_gc(new):
            self.queue.add("own|" + item_key(kind, new))
        if new.metadata.deletion_timestamp and not old.metadata.deletion_timestamp:
            self._wake_waiting_owners(new)

    def _deleted(self, kind: str, obj: Any) -> None:
        for dep_kind, dep in self.informers.dependents(obj.metadata.uid):
            self.queue.add("dep|" + item_key(dep_kind, dep))
        self._wake_waiting_owners(obj)

    def _wake_waiting_owners(self, obj: Any) -> None:
        for ref in obj.metadata.owner_references:
            owner = self.informers.find_uid(ref.kind, ref.uid)
            if owner is not None and self._deleting_with_gc(owner):
                self.queue.add("own|" + item_key(ref.kind, owner))

    # ---------------------------------------------------------------- sync
    async def reconcile(self, key: str) -> None:
        what, kind, obj_key = key.split("|", 2)
        inf = self.watched.get(kind)
        obj = inf.get(obj_key) if inf is not None else None
        if obj is None:
            return
        if what == "dep":
            await self.attempt_to_delete(kind, obj)
        else:
            await self.process_deleting_owner(kind, obj)

    async def owner_state(self, dependent: Any, ref: pb.OwnerReference) -> str:
        info = kinds.BY_KIND.get(ref.kind)
        if info is None:
            return SOLID             # a kind we do not serve: cannot tell, so keep
        owner = self.informers.find_uid(ref.kind, ref.uid)
        if owner is None:
            namespace = dependent.metadata.namespace if info.namespaced else ""
            try:
                owner = await self.client.get(ref.kind, ref.name, namespace)
            except errors.NotFound:
                return DANGLING
            if owner.metadata.uid != ref.uid:
                return DANGLING
        if owner.metadata.deletion_timestamp and FOREGROUND in owner.metadata.finalizers:
            return WAITING
        return SOLID

    async def attempt_to_delete(self, kind: str, obj: Any) -> None:
        md = obj.metadata
        if md.deletion_timestamp:
            if FOREGROUND in md.finalizers or ORPHAN in md.finalizers:
                self.queue.add("own|" + item_key(kind, obj))
            return                   # already on its way out
        refs = [r for r in md.owner_references if r.uid]
        if not refs:
            return
        states = {r.uid: await self.owner_state(obj, r) for r in refs}
        action = classify(states)
        if action == "keep":
            return
        if action == "strip":
            gone = [uid for uid, s in states.items() if s != SOLID]
            self.log.info("%s %s: dropping references to owners %s (gone or being deleted)", kind,
                          kinds.key_of(obj), ", ".join(gone))
            patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": u} for u in gone], "uid": md.uid}}
            try:
                await self.client.patch(kind, md.name, json.dumps(patch), md.namespace)
            except (errors.NotFound, errors.Invalid):
                pass
            return
        if action == "foreground" and self.informers.dependents(md.uid):
            policy = "Foreground"
        elif ORPHAN in md.finalizers:
            policy = "Orphan"
        elif FOREGROUND in md.finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        owners = ", ".join(f"{r.kind} {r.name} ({states[r.uid]})" for r in refs)
        self.log.info("deleting %s %s (propagation %s): owners %s", kind, kinds.key_of(obj), policy, owners)
        try:
            await self.client.delete(kind, md.name, md.namespace, propagation_policy=policy,
                                     precondition_uid=md.uid)
        except errors.NotFound:
            pass
        except errors.Conflict:
            pass                     # a different object of that name now: not ours to delete

    async def process_deleting_owner(self, kind: str, obj: Any) -> None:
        md = obj.metadata
        if not md.deletion_timestamp:
            return
        if ORPHAN in md.finalizers:
            await self.orphan_dependents(obj)
            await self.remove_finalizer(kind, obj, ORPHAN)
            return
        if FOREGROUND not in md.finalizers:
            return
        blocking = []
        for dep_kind, dep in self.informers.dependents(md.uid):
            ref = next((r for r in dep.metadata.owner_references if r.uid == md.uid), None)
            if ref is not None and ref.HasField("block_owner_deletion") and ref.block_owner_deletion:
                blocking.append((dep_kind, dep))
        if not blocking:
            self.log.info("%s %s: no dependents left; finishing foreground deletion", kind, kinds.key_of(obj))
            await self.remove_finalizer(kind, obj, FOREGROUND)
            return
        for dep_kind, dep in blocking:
            if not (dep.metadata.deletion_timestamp and FOREGROUND in dep.metadata.finalizers):
                self.queue.add("dep|" + item_key(dep_kind, dep))
        # Their deletions bring this key back; look again anyway in case an event is missed.
        raise Requeue(5.0)

    async def orphan_dependents(self, owner: Any) -> None:
        uid = owner.metadata.uid
        deps = self.informers.dependents(uid)
        self.log.info("%s %s: orphaning %d dependent(s)", kinds.info_of(owner).kind, kinds.key_of(owner), len(deps))
        for dep_kind, dep in deps:
            patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": dep.metadata.uid}}
            try:
                await self.client.patch(dep_kind, dep.metadata.name, json.dumps(patch), dep.metadata.namespace)
            except (errors.NotFound, errors.Invalid):
                pass

    async def remove_finalizer(self, kind: str, obj: Any, finalizer: str) -> None:
        md = obj.metadata

        async def attempt() -> None:
            try:
                live = await self.client.get(kind, md.name, md.namespace)
            except errors.NotFound:
                return
            if live.metadata.uid != md.uid or finalizer not in live.metadata.finalizers:
                return
            keep = [f for f in live.metadata.finalizers if f != finalizer]
            del live.metadata.finalizers[:]
            live.metadata.finalizers.extend(keep)
            try:
                await self.client.update(live)
            except errors.NotFound:
                return
        await retry_on_conflict(attempt)


__all__ = ["GarbageCollector", "classify"]
