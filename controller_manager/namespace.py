"""Namespace controller: empty a Terminating namespace, then let it go.

Where it sits: watches Namespaces (and pod deletions, to notice quickly when
a namespace has emptied); deletes everything namespaced in it through the
API; finally removes `kubernetes` from `spec.finalizers` (through the
finalize subresource: a plain update keeps them), upon which the apiserver
deletes the namespace (it refuses new objects in it meanwhile).

A sync for a namespace with a deletionTimestamp:

1. list every namespaced kind in it, live (not from a cache: the last word
   on "empty" must be the apiserver's);
2. delete what is not already being deleted (background propagation; pods
   on nodes terminate gracefully, as in Kubernetes);
3. if anything is left, record it in the NamespaceContentRemaining
   condition and look again shortly;
4. else remove the `kubernetes` finalizer (finalize), and the namespace goes.
"""
from __future__ import annotations

from typing import Any

from kubelab import conditions, errors, kinds, timeutil
from kubelab.retry import retry_on_conflict
from kubelab.v1 import objects_pb2 as pb

from .base import Controller, Requeue

FINALIZER = "kubernetes"
# Deleted in this order: owners before what they own, so controllers stop replacing pods early.
ORDER = ("Deployment", "ReplicaSet", "PodDisruptionBudget", "Service", "Endpoints", "Pod", "Lease", "Event")


def namespaced_kinds() -> list[str]:
    rest = [k.kind for k in kinds.KINDS if k.namespaced and k.kind not in ORDER]
    return [*ORDER, *rest]


def remaining_message(counts: dict[str, int]) -> str:
    """Kubernetes' wording: `Some resources are remaining: pods. has 3 resource instances`."""
    parts = [f"{kinds.BY_KIND[k].plural}. has {n} resource instances" for k, n in sorted(counts.items()) if n]
    return "Some resources are remaining: " + ", ".join(parts)


class NamespaceController(Controller):
    name = "namespace"
    component = "namespace-controller"

    def setup(self) -> None:
        self.ns_informer = self.informers.get("Namespace")
        self.pod_informer = self.informers.get("Pod")
        self.ns_informer.add_handlers(on_add=self._ns_changed, on_update=lambda o, n: self._ns_changed(n))
        self.pod_informer.add_handlers(on_delete=self._pod_deleted)

    def _ns_changed(self, ns: pb.Namespace) -> None:
        if ns.metadata.deletion_timestamp:
            self.enqueue(ns)

    def _pod_deleted(self, pod: pb.Pod) -> None:
        ns = self.ns_informer.get(pod.metadata.namespace)
        if ns is not None and ns.metadata.deletion_timestamp:
            self.queue.add_after(ns.metadata.name, 0.2)   # batch a burst of deletions into one look

    async def reconcile(self, key: str) -> None:
        ns = self.ns_informer.get(key)
        if ns is None or not ns.metadata.deletion_timestamp:
            return
        if FINALIZER not in ns.spec.finalizers:
            return
        counts: dict[str, int] = {}
        for kind in namespaced_kinds():
            items, _ = await self.client.list(kind, key)
            counts[kind] = len(items)
            for obj in items:
                if obj.metadata.deletion_timestamp:
                    continue
                try:
                    await self.client.delete(kind, obj.metadata.name, key, propagation_policy="Background",
                                             precondition_uid=obj.metadata.uid)
                except (errors.NotFound, errors.Conflict):
                    pass
            if kind == "Event":
                counts[kind] = 0     # events may be written until the end; they do not hold the namespace
        if any(counts.values()):
            await self._set_remaining(ns, counts)
            raise Requeue(1.0)
        await self._finalize(key)

    async def _set_remaining(self, ns: pb.Namespace, counts: dict[str, int]) -> None:
        new = pb.Namespace()
        new.CopyFrom(ns)
        if conditions.set_simple(new.status.conditions, "NamespaceContentRemaining", "True", "SomeResourcesRemain",
                                 remaining_message(counts), timeutil.now_str(self.clock)):
            try:
                await self.client.update_status(new)
            except (errors.Conflict, errors.NotFound):
                pass

    async def _finalize(self, name: str) -> None:
        async def attempt() -> None:
            try:
                live: Any = await self.client.get("Namespace", name)
            except errors.NotFound:
                return
            if FINALIZER not in live.spec.finalizers:
                return
            keep = [f for f in live.spec.finalizers if f != FINALIZER]
            del live.spec.finalizers[:]
            live.spec.finalizers.extend(keep)
            try:
                await self.client.finalize(live)
            except errors.NotFound:
                return
            self.log.info("namespace %s is empty; finalized", name)
        await retry_on_conflict(attempt)
