"""Endpoints controller: for every Service with a selector, an Endpoints object of the same name.

Where it sits: watches Services, Pods and Endpoints; writes Endpoints. The
node proxies and cluster DNS read what it writes.

For each pod the selector matches (same namespace, with an IP, not
finished): Ready pods go to `addresses`, the others to
`notReadyAddresses`; a pod being deleted is left out at once, so no new
connection is sent to it while it shuts down. Each address names its pod
(`targetRef`) and node. Ports come from the Service's `targetPort`: a
number as is, a name looked up among the pod's container ports (a pod
without that port is left out of that port's subset). Addresses with the
same ports share a subset, as Kubernetes' RepackSubsets does. A Service
without a selector is left alone (its Endpoints are the user's). When the
Service goes, its Endpoints go too.
"""
from __future__ import annotations

from typing import Any

from kubelab import errors, kinds
from kubelab.selectors import Selector
from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .base import Controller
from .deployment.util import int_or_percent
from .informers import NAMESPACE


def service_selector(svc: pb.Service) -> Selector | None:
    if not svc.spec.selector:
        return None
    return Selector.from_labels(dict(svc.spec.selector))


def find_port(pod: pb.Pod, sp: pb.ServicePort) -> int | None:
    """The pod's port for a service port (Kubernetes' FindPort)."""
    target = int_or_percent(sp.target_port)
    if target is None or target == 0 or target == "":
        return sp.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    protocol = sp.protocol or "TCP"
    for c in pod.spec.containers:
        for p in c.ports:
            if p.name == target and (p.protocol or "TCP") == protocol:
                return p.container_port
    return None


def should_be_in_endpoints(pod: pb.Pod, include_terminating: bool = False) -> bool:
    """Kubernetes' ShouldPodBeInEndpoints: a pod with an IP, not finished; one being deleted only when asked
    (the EndpointSlice controller keeps it, as terminating)."""
    if not pod.status.pod_ip or (pod.metadata.deletion_timestamp and not include_terminating):
        return False
    return pod.status.phase not in ("Succeeded", "Failed")


def pod_ports(svc: pb.Service, pod: pb.Pod) -> list[tuple[pb.ServicePort, int]]:
    """Each service port with the pod's port number for it; a port the pod does not have is left out."""
    out = []
    for sp in svc.spec.ports:
        n = find_port(pod, sp)
        if n is not None:
            out.append((sp, n))
    return out


def hostname_of(svc: pb.Service, pod: pb.Pod) -> str:
    """The pod's DNS hostname under a headless Service it names as its subdomain, else ""."""
    if pod.spec.hostname and pod.spec.subdomain == svc.metadata.name and svc.spec.cluster_ip == "None":
        return pod.spec.hostname
    return ""


def pod_reference(pod: pb.Pod) -> pb.ObjectReference:
    return pb.ObjectReference(kind="Pod", namespace=pod.metadata.namespace, name=pod.metadata.name,
                              uid=pod.metadata.uid)


def address_of(svc: pb.Service, pod: pb.Pod) -> pb.EndpointAddress:
    addr = pb.EndpointAddress(ip=pod.status.pod_ip, node_name=pod.spec.node_name, hostname=hostname_of(svc, pod))
    addr.target_ref.CopyFrom(pod_reference(pod))
    return addr


def compute_subsets(svc: pb.Service, pods: list[pb.Pod]) -> list[pb.EndpointSubset]:
    """The Endpoints subsets for a Service over the pods its selector matches."""
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[pb.EndpointAddress], list[pb.EndpointAddress]]] = {}
    headless = svc.spec.cluster_ip == "None"
    for pod in pods:
        if not should_be_in_endpoints(pod):
            continue
        ports = [(sp.name, n, sp.protocol or "TCP") for sp, n in pod_ports(svc, pod)]
        if not ports and (svc.spec.ports or not headless):
            continue
        key = tuple(sorted(ports))
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if podutil.is_ready(pod) else not_ready).append(address_of(svc, pod))
    subsets = []
    for key in sorted(groups):
        ready, not_ready = groups[key]
        s = pb.EndpointSubset()
        for a in sorted(ready, key=lambda a: (a.ip, a.target_ref.uid)):
            s.addresses.add().CopyFrom(a)
        for a in sorted(not_ready, key=lambda a: (a.ip, a.target_ref.uid)):
            s.not_ready_addresses.add().CopyFrom(a)
        for name, port, protocol in key:
            s.ports.add(name=name, port=port, protocol=protocol)
        subsets.append(s)
    return subsets


def services_selecting(svc_informer: Any, pod: pb.Pod) -> list[pb.Service]:
    """The cached Services whose selector matches the pod."""
    out = []
    for svc in svc_informer.by_index(NAMESPACE, pod.metadata.namespace):
        sel = service_selector(svc)
        if sel is not None and sel.matches(pod.metadata.labels):
            out.append(svc)
    return out


def relevant(pod: pb.Pod) -> tuple[Any, ...]:
    """What of a pod the Endpoints and EndpointSlices depend on (other changes are ignored)."""
    return (pod.status.pod_ip, tuple(p.ip for p in pod.status.pod_ips), podutil.is_ready(pod), bool(pod.metadata.deletion_timestamp), pod.spec.node_name,
            pod.status.phase, tuple(sorted(pod.metadata.labels.items())), pod.spec.hostname, pod.spec.subdomain)


class EndpointsController(Controller):
    name = "endpoint"
    component = "endpoint-controller"

    def setup(self) -> None:
        self.svc_informer = self.informers.get("Service")
        self.pod_informer = self.informers.get("Pod")
        self.ep_informer = self.informers.get("Endpoints")
        self.svc_informer.add_handlers(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                       on_delete=self.enqueue)
        self.pod_informer.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                                       on_delete=self._pod_changed)
        self.ep_informer.add_handlers(on_update=self._ep_changed, on_delete=self._ep_changed)

    def _services_for(self, pod: pb.Pod) -> list[pb.Service]:
        return services_selecting(self.svc_informer, pod)

    def _pod_changed(self, pod: pb.Pod) -> None:
        for svc in self._services_for(pod):
            self.enqueue(svc)

    def _pod_updated(self, old: pb.Pod, new: pb.Pod) -> None:
        if relevant(old) == relevant(new):
            return
        keys = {kinds.key_of(s) for s in self._services_for(new)}
        if dict(old.metadata.labels) != dict(new.metadata.labels):
            keys |= {kinds.key_of(s) for s in self._services_for(old)}
        for k in keys:
            self.queue.add(k)

    def _ep_changed(self, *objs: pb.Endpoints) -> None:
        ep = objs[-1]
        if self.svc_informer.get(kinds.key_of(ep)) is not None:
            self.enqueue(ep)

    async def reconcile(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        svc = self.svc_informer.get(key)
        if svc is None:
            # The Service is gone: so are its Endpoints (if we made them; a
            # selector-less Service's Endpoints went with it the same way in Kubernetes).
            if self.ep_informer.get(key) is not None:
                try:
                    await self.client.delete("Endpoints", name, namespace)
                except errors.NotFound:
                    pass
            return
        selector = service_selector(svc)
        if selector is None:
            return
        pods = [p for p in self.pod_informer.by_index(NAMESPACE, namespace) if selector.matches(p.metadata.labels)]
        subsets = compute_subsets(svc, pods)
        current = self.ep_informer.get(key)
        labels = dict(svc.metadata.labels)
        if svc.spec.cluster_ip == "None":
            labels["service.kubernetes.io/headless"] = ""
        if current is not None and list(current.subsets) == subsets and dict(current.metadata.labels) == labels:
            return
        ep = podutil.copy(current) if current is not None else pb.Endpoints(api_version="v1", kind="Endpoints")
        ep.metadata.name, ep.metadata.namespace = name, namespace
        ep.metadata.labels.clear()
        ep.metadata.labels.update(labels)
        del ep.subsets[:]
        ep.subsets.extend(subsets)
        ready = sum(len(s.addresses) for s in subsets)
        not_ready = sum(len(s.not_ready_addresses) for s in subsets)
        try:
            if current is None:
                try:
                    await self.client.create(ep)
                except errors.AlreadyExists:
                    raise errors.Conflict(f"endpoints {key} appeared meanwhile; retrying") from None
            else:
                await self.client.update(ep)
        except errors.Forbidden:
            return           # the namespace is terminating
        except errors.Conflict:
            raise            # a stale cache: the retry will see the fresh object
        except errors.ApiError as e:
            self.event(svc, "Warning", "FailedToUpdateEndpoint", f"Failed to update endpoint {key}: {e.message}")
            raise
        self.log.info("endpoints %s: %d ready, %d not ready address(es)", key, ready, not_ready)
