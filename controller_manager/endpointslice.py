"""The EndpointSlice controllers: discovery.k8s.io/v1 EndpointSlices for Services, as Kubernetes keeps them.

Where it sits: two controllers of the controller manager, both writing EndpointSlices through the API;
`kubectl describe service` (1.33 and later) and `kubectl get endpointslices` read what they write. The
node proxies and cluster DNS keep reading Endpoints (endpoints.py).

- `endpointslice` (Kubernetes' endpoint-slice-controller): for every Service with a selector (not
  ExternalName), slices of up to 100 endpoints per address type and port set, labelled
  `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`,
  owned by the Service (the garbage collector removes them with it). Watches Services, Pods, Nodes (an
  endpoint's zone; a pod whose node does not exist is left out, as Kubernetes' reconciler does, and the
  Service synced again a few seconds later) and its own slices; every change becomes the Service's key on the queue, and the sync
  is idempotent: it reads the caches, plans (endpointslice_plan.py, pure) and writes the difference.
- `endpointslicemirroring`: for a Service without a selector, its Endpoints mirrored into slices managed
  by `endpointslicemirroring-controller.k8s.io`, owned by the Endpoints; an Endpoints labelled
  `endpointslice.kubernetes.io/skip-mirror: "true"` is not mirrored. The `kubernetes` Service's slice is
  kube-apiserver's own in Kubernetes (named `kubernetes`, labelled with the Service's name only, its
  Endpoints never mirrored); kubelab's apiserver writes the Endpoints only, so this controller writes that
  slice as kube-apiserver's EndpointsAdapter does.

A sync the cache is not yet fresh for (a slice written a moment ago not yet seen) waits for it
(`SliceTracker`), so no slice is made twice. A failed write is a Warning Event on the Service (or
Endpoints), `FailedToUpdateEndpointSlices`, and the key is retried with back-off.
"""
from __future__ import annotations

from typing import Any

from kubelab import errors, kinds
from kubelab.v1 import objects_pb2 as pb

from . import endpointslice_plan as esp
from .base import Controller, Requeue
from .endpoints import relevant, service_selector, services_selecting
from .informers import NAMESPACE

STALE_RETRY = 0.2     # seconds until a sync waiting for its own writes to show looks again
MISSING_NODE_RETRY = 5.0   # seconds until a Service with a pod on a missing node is synced again


def _slices_of(informer: Any, namespace: str, name: str, manager: str) -> list[pb.EndpointSlice]:
    return [s for s in informer.by_index(NAMESPACE, namespace)
            if s.metadata.labels.get(esp.SERVICE_NAME_LABEL) == name
            and s.metadata.labels.get(esp.MANAGED_BY_LABEL) == manager]


class _SliceWriter(Controller):
    """Shared by both controllers: the slices informer, the freshness tracker, and writing a plan."""
    manager = ""

    def _watch_slices(self) -> None:
        self.tracker = esp.SliceTracker()
        self.slice_informer = self.informers.get("EndpointSlice")
        self.slice_informer.add_handlers(on_add=self._slice_changed, on_update=lambda o, n: self._slice_changed(n),
                                         on_delete=self._slice_deleted)

    def _owner_key(self, eps: pb.EndpointSlice) -> str | None:
        labels = eps.metadata.labels
        if labels.get(esp.MANAGED_BY_LABEL) != self.manager or not labels.get(esp.SERVICE_NAME_LABEL):
            return None
        return f"{eps.metadata.namespace}/{labels[esp.SERVICE_NAME_LABEL]}"

    def _slice_changed(self, eps: pb.EndpointSlice) -> None:
        if (key := self._owner_key(eps)) is not None:
            self.queue.add(key)

    def _slice_deleted(self, eps: pb.EndpointSlice) -> None:
        if (key := self._owner_key(eps)) is not None:
            self.tracker.observed_delete(key, eps.metadata.name)
            self.queue.add(key)

    def _existing(self, key: str, also: list[pb.EndpointSlice] = ()) -> list[pb.EndpointSlice]:
        """The key's slices in the cache (this controller's, by label; `also` are others it writes), once the
        cache shows this controller's own writes."""
        namespace, name = key.split("/", 1)
        existing = _slices_of(self.slice_informer, namespace, name, self.manager)
        if self.tracker.stale(key, [*existing, *also]):
            raise Requeue(STALE_RETRY)
        return existing

    async def _delete(self, key: str, eps: pb.EndpointSlice) -> None:
        try:
            await self.client.delete("EndpointSlice", eps.metadata.name, eps.metadata.namespace)
        except errors.NotFound:
            pass
        self.tracker.deleted(key, eps.metadata.name)

    async def _apply(self, key: str, plan: esp.Plan, about: Any) -> None:
        if plan.empty():
            return
        recreated = {e.metadata.name for e in plan.create if e.metadata.name}
        first = [e for e in plan.delete if e.metadata.name in recreated]     # a name made again goes first
        rest = [e for e in plan.delete if e.metadata.name not in recreated]
        try:
            for eps in plan.update:
                self.tracker.wrote(key, await self.client.update(eps))
            for eps in first:
                await self._delete(key, eps)
            for eps in plan.create:
                self.tracker.wrote(key, await self.client.create(eps))
            for eps in rest:
                await self._delete(key, eps)
        except errors.Forbidden:
            return           # the namespace is terminating: nothing more can be made in it
        except errors.Conflict:
            raise            # a stale cache: the retry plans from the fresh slices
        except errors.ApiError as e:
            if about is not None:
                self.event(about, "Warning", "FailedToUpdateEndpointSlices",
                           f"Error updating Endpoint Slices for {kinds.info_of(about).kind} {key}: {e.message}")
            raise
        self.log.info("endpointslices %s: %d created, %d updated, %d deleted", key, len(plan.create),
                      len(plan.update), len(plan.delete))


class EndpointSliceController(_SliceWriter):
    name = "endpointslice"
    component = "endpoint-slice-controller"
    manager = esp.CONTROLLER_NAME

    def setup(self) -> None:
        self.svc_informer = self.informers.get("Service")
        self.pod_informer = self.informers.get("Pod")
        self.node_informer = self.informers.get("Node")
        self.svc_informer.add_handlers(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                       on_delete=self._service_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                                       on_delete=self._pod_changed)
        self._watch_slices()

    def _service_deleted(self, svc: pb.Service) -> None:
        self.tracker.forget(kinds.key_of(svc))

    def _pod_changed(self, pod: pb.Pod) -> None:
        for svc in services_selecting(self.svc_informer, pod):
            self.enqueue(svc)

    def _pod_updated(self, old: pb.Pod, new: pb.Pod) -> None:
        if relevant(old) == relevant(new):
            return
        keys = {kinds.key_of(s) for s in services_selecting(self.svc_informer, new)}
        if dict(old.metadata.labels) != dict(new.metadata.labels):
            keys |= {kinds.key_of(s) for s in services_selecting(self.svc_informer, old)}
        for k in keys:
            self.queue.add(k)

    def _zone_of(self, node_name: str) -> str:
        node = self.node_informer.get(node_name)
        return node.metadata.labels.get(esp.ZONE_LABEL, "") if node is not None else ""

    async def reconcile(self, key: str) -> None:
        namespace, _ = key.split("/", 1)
        svc = self.svc_informer.get(key)
        if svc is None:
            return            # its slices go with it: the garbage collector follows their ownerReference
        selector = service_selector(svc)
        if selector is None or svc.spec.type == "ExternalName":
            return            # no slices from this controller (Kubernetes: the user's, or mirrored)
        existing = self._existing(key)
        pods = [p for p in self.pod_informer.by_index(NAMESPACE, namespace) if selector.matches(p.metadata.labels)]
        pods, skipped = esp.on_existing_nodes(pods, lambda node: self.node_informer.get(node) is not None)
        groups = esp.service_groups(svc, pods, self._zone_of)
        plan = esp.plan(esp.service_owner(svc), groups, existing, esp.service_address_types(svc))
        await self._apply(key, plan, svc)
        if skipped:
            for p in skipped:
                self.log.info("skipping Pod %s for Service %s: Node %s Not Found", p.metadata.name, key,
                              p.spec.node_name)
            raise Requeue(MISSING_NODE_RETRY)


class EndpointSliceMirroringController(_SliceWriter):
    name = "endpointslicemirroring"
    component = "endpoint-slice-mirroring-controller"
    manager = esp.MIRRORING_CONTROLLER_NAME

    def setup(self) -> None:
        self.svc_informer = self.informers.get("Service")
        self.ep_informer = self.informers.get("Endpoints")
        for inf in (self.svc_informer, self.ep_informer):
            inf.add_handlers(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n), on_delete=self.enqueue)
        self._watch_slices()

    def _owner_key(self, eps: pb.EndpointSlice) -> str | None:
        if self._apiserver_slice(eps):
            return "/".join(esp.APISERVER_SERVICE)
        return super()._owner_key(eps)

    @staticmethod
    def _apiserver_slice(eps: pb.EndpointSlice) -> bool:
        md = eps.metadata
        return ((md.namespace, md.name) == esp.APISERVER_SERVICE and esp.MANAGED_BY_LABEL not in md.labels
                and md.labels.get(esp.SERVICE_NAME_LABEL) == md.name)

    async def reconcile(self, key: str) -> None:
        svc = self.svc_informer.get(key)
        ep = self.ep_informer.get(key)
        if tuple(key.split("/", 1)) == esp.APISERVER_SERVICE:
            return await self._apiserver_service(key, ep)
        existing = self._existing(key)
        mirrored = (svc is not None and ep is not None and service_selector(svc) is None
                    and ep.metadata.labels.get(esp.SKIP_MIRROR_LABEL) != "true")
        if not mirrored:
            if existing:
                await self._apply(key, esp.Plan(delete=existing), ep if ep is not None else svc)
            return
        skipped = sum(1 for s in ep.subsets for a in [*s.addresses, *s.not_ready_addresses]
                      if esp.address_type_of(a.ip) is None)
        if skipped:
            self.event(ep, "Warning", "AddressesSkipped",
                       f"Skipped {skipped} invalid IP addresses when mirroring to EndpointSlices")
        plan = esp.plan(esp.mirror_owner(ep), esp.mirror_groups(ep), existing, ("IPv4", "IPv6"), placeholder=False)
        await self._apply(key, plan, ep)

    async def _apiserver_service(self, key: str, ep: pb.Endpoints | None) -> None:
        """The `kubernetes` Service: kube-apiserver writes its slice itself, named `kubernetes` (and marks its
        Endpoints not to be mirrored); kubelab's apiserver writes the Endpoints only, so the slice is written
        here as kube-apiserver's EndpointsAdapter writes it."""
        current = self.slice_informer.get(key)
        if current is not None and not self._apiserver_slice(current):
            return                   # someone else's slice of that name: left alone
        existing = self._existing(key, [current] if current is not None else [])
        if ep is None:
            return
        plan = esp.apiserver_slice_plan(ep, current)
        plan.delete += existing      # mirrored slices, from before: not wanted beside the apiserver's
        await self._apply(key, plan, ep)
