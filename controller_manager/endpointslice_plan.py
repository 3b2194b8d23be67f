"""EndpointSlice planning: which slices to create, update and delete for one Service (or one mirrored
Endpoints), without I/O. The controllers in endpointslice.py read the caches, call this, and write.

Follows Kubernetes' k8s.io/endpointslice reconciler. Desired endpoints are grouped by address type and
port set (a pod whose named target port resolves differently lands in another group). Per group, the
existing slices keep the endpoints still wanted where they are (updated in place when one changed: its
conditions, node, hostname), lose the ones gone (a slice left empty is deleted), and the new endpoints
fill first the slices being updated anyway (fullest first), then an unchanged slice with room for all of
them, then new slices of up to `max_per_slice` (Kubernetes' default 100). A Service with no endpoints at
all keeps one placeholder slice (no ports, no endpoints). A create paired with a delete becomes an update
of the slice that would go. Labels follow the owner's (the Service's labels, `kubernetes.io/service-name`,
`endpointslice.kubernetes.io/managed-by`, `service.kubernetes.io/headless`): a slice whose labels differ
is updated. New endpoints are placed in address order, so the result is the same on every run.

Pods become endpoints here with the Endpoints controller's own rules (endpoints.py: which pods, port
resolution, hostname); a terminating pod stays, `ready: false`, `serving` its readiness,
`terminating: true`, as Kubernetes has it.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .endpoints import hostname_of, pod_ports, pod_reference, should_be_in_endpoints

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
HEADLESS_LABEL = "service.kubernetes.io/headless"
SKIP_MIRROR_LABEL = "endpointslice.kubernetes.io/skip-mirror"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MIRRORING_CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
# Endpoints annotations a mirrored slice does not carry (Kubernetes' mirroring drops them).
NOT_MIRRORED_ANNOTATIONS = ("endpoints.kubernetes.io/last-change-trigger-time", "endpoints.kubernetes.io/over-capacity",
                            "kubectl.kubernetes.io/last-applied-configuration")
MAX_ENDPOINTS_PER_SLICE = 100
API_VERSION = "discovery.k8s.io/v1"

PortKey = tuple[tuple[str, int, str, str], ...]


@dataclass
class Group:
    """Desired endpoints that share an address type and a port set: what one or more slices hold."""
    address_type: str
    ports: list[pb.EndpointSlicePort]
    endpoints: list[pb.Endpoint] = field(default_factory=list)


@dataclass
class Owner:
    """What the slices of one Service (or mirrored Endpoints) carry: where, named how, labelled how, owned by whom."""
    namespace: str
    name: str                        # the Service's name: slices are generateName'd `<name>-`
    uid: str
    owner_ref: pb.OwnerReference
    labels: dict[str, str]
    annotations: dict[str, str] | None = None     # None: a slice's annotations are left as they are
    deleting: bool = False           # the owner is being deleted: no new slices (the garbage collector races)


@dataclass
class Plan:
    create: list[pb.EndpointSlice] = field(default_factory=list)
    update: list[pb.EndpointSlice] = field(default_factory=list)
    delete: list[pb.EndpointSlice] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


# ---------------------------------------------------------------- owners
def controller_ref(api_version: str, kind: str, obj: Any) -> pb.OwnerReference:
    return pb.OwnerReference(api_version=api_version, kind=kind, name=obj.metadata.name, uid=obj.metadata.uid,
                             controller=True, block_owner_deletion=True)


def _unreserved(labels: Any) -> dict[str, str]:
    return {k: v for k, v in labels.items() if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)}


def service_owner(svc: pb.Service) -> Owner:
    """The EndpointSlice controller's slices of a Service (setEndpointSliceLabels)."""
    labels = _unreserved(svc.metadata.labels)
    if svc.spec.cluster_ip == "None" or not svc.spec.cluster_ip:
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    labels[SERVICE_NAME_LABEL] = svc.metadata.name
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return Owner(svc.metadata.namespace, svc.metadata.name, svc.metadata.uid, controller_ref("v1", "Service", svc),
                 labels, deleting=bool(svc.metadata.deletion_timestamp))


def mirror_owner(ep: pb.Endpoints) -> Owner:
    """The mirroring controller's slices of a selector-less Service's Endpoints: its labels and annotations
    (but the skip-mirror label and the trigger-time annotation), owned by the Endpoints."""
    labels = {k: v for k, v in _unreserved(ep.metadata.labels).items() if k != SKIP_MIRROR_LABEL}
    labels[SERVICE_NAME_LABEL] = ep.metadata.name
    labels[MANAGED_BY_LABEL] = MIRRORING_CONTROLLER_NAME
    annotations = {k: v for k, v in ep.metadata.annotations.items() if k not in NOT_MIRRORED_ANNOTATIONS}
    return Owner(ep.metadata.namespace, ep.metadata.name, ep.metadata.uid, controller_ref("v1", "Endpoints", ep),
                 labels, annotations, deleting=bool(ep.metadata.deletion_timestamp))


# ---------------------------------------------------------------- desired endpoints
def address_type_of(ip: str) -> str | None:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return None


def service_address_types(svc: pb.Service) -> list[str]:
    """The address types a Service's slices carry: its ipFamilies, else its cluster IP's, else both."""
    if svc.spec.ip_families:
        return [f for f in ("IPv4", "IPv6") if f in svc.spec.ip_families]
    if svc.spec.cluster_ip and svc.spec.cluster_ip != "None":
        return [address_type_of(svc.spec.cluster_ip) or "IPv4"]
    return ["IPv4", "IPv6"]


def _port_key(ports: Iterable[pb.EndpointSlicePort]) -> PortKey:
    return tuple(sorted((p.name, p.port if p.HasField("port") else -1, p.protocol,
                         p.app_protocol if p.HasField("app_protocol") else "") for p in ports))


def _pod_addresses(pod: pb.Pod, address_type: str) -> list[str]:
    ips = [p.ip for p in pod.status.pod_ips] or [pod.status.pod_ip]
    found = [ip for ip in ips if address_type_of(ip) == address_type]
    return found[:1]              # a pod has one address per family


def pod_endpoint(svc: pb.Service, pod: pb.Pod, address_type: str, zone: str = "") -> pb.Endpoint | None:
    """Kubernetes' podToEndpoint: None when the pod has no address of this type."""
    addresses = _pod_addresses(pod, address_type)
    if not addresses:
        return None
    serving = podutil.is_ready(pod)
    terminating = bool(pod.metadata.deletion_timestamp)
    ep = pb.Endpoint(addresses=addresses)
    ep.conditions.ready = serving and not terminating
    ep.conditions.serving = serving
    ep.conditions.terminating = terminating
    ep.target_ref.CopyFrom(pod_reference(pod))
    if pod.spec.node_name:
        ep.node_name = pod.spec.node_name
    if zone:
        ep.zone = zone
    if hostname := hostname_of(svc, pod):
        ep.hostname = hostname
    return ep


def _address_key(address: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(address)
        return (ip.version, int(ip), "")
    except ValueError:
        return (0, 0, address)


def _sorted(endpoints: list[pb.Endpoint]) -> list[pb.Endpoint]:
    """In address order (numerically: 10.0.0.9 before 10.0.0.10)."""
    return sorted(endpoints, key=lambda e: ([_address_key(a) for a in e.addresses], e.target_ref.uid,
                                            e.target_ref.name))


def on_existing_nodes(pods: Iterable[pb.Pod],
                      node_exists: Callable[[str], bool]) -> tuple[list[pb.Pod], list[pb.Pod]]:
    """(kept, skipped): Kubernetes' reconciler leaves out a pod whose node does not exist, so that a pod
    naming a missing node cannot keep its address in the Service's slices forever (the pod garbage
    collector removes such pods in time). The Service is synced again until the node appears or the pod goes."""
    kept: list[pb.Pod] = []
    skipped: list[pb.Pod] = []
    for p in pods:
        (skipped if p.spec.node_name and not node_exists(p.spec.node_name) else kept).append(p)
    return kept, skipped


def service_groups(svc: pb.Service, pods: Iterable[pb.Pod],
                   zone_of: Callable[[str], str] = lambda node: "") -> dict[tuple[str, PortKey], Group]:
    """The desired endpoints of a Service over the pods its selector matches, by (address type, ports)."""
    groups: dict[tuple[str, PortKey], Group] = {}
    pods = [p for p in pods if should_be_in_endpoints(p, include_terminating=True)]
    for address_type in service_address_types(svc):
        for pod in pods:
            ports = []
            for sp, number in pod_ports(svc, pod):
                port = pb.EndpointSlicePort(name=sp.name, port=number, protocol=sp.protocol or "TCP")
                if sp.app_protocol:
                    port.app_protocol = sp.app_protocol
                ports.append(port)
            key = (address_type, _port_key(ports))
            group = groups.setdefault(key, Group(address_type, ports))
            ep = pod_endpoint(svc, pod, address_type, zone_of(pod.spec.node_name) if pod.spec.node_name else "")
            if ep is not None:
                group.endpoints.append(ep)
    for g in groups.values():
        g.endpoints = _sorted(g.endpoints)
    return groups


def mirror_groups(ep: pb.Endpoints) -> dict[tuple[str, PortKey], Group]:
    """The endpointslicemirroring controller's view of an Endpoints: each subset's addresses (ready, or not
    for notReadyAddresses) under the subset's ports, by address type; addresses that are no IP are skipped."""
    groups: dict[tuple[str, PortKey], Group] = {}
    for subset in ep.subsets:
        ports = [pb.EndpointSlicePort(name=p.name, port=p.port, protocol=p.protocol or "TCP") for p in subset.ports]
        for p, src in zip(ports, subset.ports):
            if src.app_protocol:
                p.app_protocol = src.app_protocol
        for ready, addresses in ((True, subset.addresses), (False, subset.not_ready_addresses)):
            for a in addresses:
                address_type = address_type_of(a.ip)
                if address_type is None:
                    continue
                group = groups.setdefault((address_type, _port_key(ports)), Group(address_type, ports))
                e = pb.Endpoint(addresses=[a.ip])
                e.conditions.ready = ready
                if a.HasField("target_ref"):
                    e.target_ref.CopyFrom(a.target_ref)
                if a.node_name:
                    e.node_name = a.node_name
                if a.hostname:
                    e.hostname = a.hostname
                group.endpoints.append(e)
    for g in groups.values():
        g.endpoints = _sorted(g.endpoints)
    return groups


# ---------------------------------------------------------------- the `kubernetes` Service's slice
APISERVER_SERVICE = ("default", "kubernetes")


def apiserver_slice(ep: pb.Endpoints) -> pb.EndpointSlice:
    """The slice kube-apiserver writes beside the `kubernetes` Service's Endpoints (its EndpointsAdapter's
    endpointSliceFromEndpoints): named as the Service, labelled with its name only, the first subset's ports
    and addresses (IPv6 when all of them are)."""
    eps = pb.EndpointSlice(api_version=API_VERSION, kind="EndpointSlice", address_type="IPv4")
    eps.metadata.name, eps.metadata.namespace = ep.metadata.name, ep.metadata.namespace
    eps.metadata.labels[SERVICE_NAME_LABEL] = ep.metadata.name
    if not ep.subsets:
        return eps
    subset = ep.subsets[0]
    for p in subset.ports:
        eps.ports.add(name=p.name, port=p.port, protocol=p.protocol or "TCP")
    addresses = [*subset.addresses, *subset.not_ready_addresses]
    if addresses and all(address_type_of(a.ip) == "IPv6" for a in addresses):
        eps.address_type = "IPv6"
    for ready, group in ((True, subset.addresses), (False, subset.not_ready_addresses)):
        for a in group:
            if (address_type_of(a.ip) == "IPv6") != (eps.address_type == "IPv6"):
                continue
            e = eps.endpoints.add(addresses=[a.ip])
            e.conditions.ready = ready
            if a.HasField("target_ref"):
                e.target_ref.CopyFrom(a.target_ref)
            if a.node_name:
                e.node_name = a.node_name
    return eps


def apiserver_slice_plan(ep: pb.Endpoints, current: pb.EndpointSlice | None) -> Plan:
    """What the EndpointsAdapter would write: create it, update it when its endpoints, ports or labels
    differ, replace it when its address type changed."""
    want = apiserver_slice(ep)
    if current is None:
        return Plan(create=[want])
    if current.address_type != want.address_type:
        return Plan(create=[want], delete=[current])
    if (list(current.endpoints) == list(want.endpoints) and list(current.ports) == list(want.ports)
            and dict(current.metadata.labels) == dict(want.metadata.labels)):
        return Plan()
    new = pb.EndpointSlice()
    new.CopyFrom(current)
    for f in ("endpoints", "ports"):
        new.ClearField(f)
    new.endpoints.extend(want.endpoints)
    new.ports.extend(want.ports)
    new.metadata.labels.clear()
    new.metadata.labels.update(want.metadata.labels)
    return Plan(update=[new])


# ---------------------------------------------------------------- the plan
def _identity(e: pb.Endpoint) -> tuple[Any, ...]:
    """What makes two endpoints the same one (Kubernetes' endpoint hash): addresses, hostname, target."""
    return (tuple(sorted(e.addresses)), e.hostname, e.target_ref.namespace, e.target_ref.name)


def owned_by(eps: pb.EndpointSlice, uid: str) -> bool:
    return any(r.uid == uid for r in eps.metadata.owner_references)


def new_slice(owner: Owner, group: Group) -> pb.EndpointSlice:
    eps = pb.EndpointSlice(api_version=API_VERSION, kind="EndpointSlice", address_type=group.address_type)
    eps.metadata.generate_name = f"{owner.name}-"
    eps.metadata.namespace = owner.namespace
    eps.metadata.owner_references.add().CopyFrom(owner.owner_ref)
    eps.metadata.labels.update(owner.labels)
    if owner.annotations:
        eps.metadata.annotations.update(owner.annotations)
    eps.ports.extend(group.ports)
    return eps


def _meta_differs(eps: pb.EndpointSlice, owner: Owner) -> bool:
    if dict(eps.metadata.labels) != owner.labels:
        return True
    return owner.annotations is not None and dict(eps.metadata.annotations) != owner.annotations


def _copy(eps: pb.EndpointSlice, owner: Owner) -> pb.EndpointSlice:
    out = pb.EndpointSlice()
    out.CopyFrom(eps)
    out.metadata.labels.clear()
    out.metadata.labels.update(owner.labels)
    if owner.annotations is not None:
        out.metadata.annotations.clear()
        out.metadata.annotations.update(owner.annotations)
    return out


def _by_port_mapping(owner: Owner, existing: list[pb.EndpointSlice], group: Group, most: int) -> Plan:
    """Kubernetes' reconcileByPortMapping, for one (address type, ports) group."""
    wanted = {_identity(e): e for e in group.endpoints}
    plan = Plan()
    updating: list[pb.EndpointSlice] = []
    unchanged: list[pb.EndpointSlice] = []
    for eps in existing:
        kept: list[pb.Endpoint] = []
        changed = False
        for e in eps.endpoints:
            got = wanted.pop(_identity(e), None)
            if got is not None:
                kept.append(got)
                changed |= got != e
        if changed or len(kept) != len(eps.endpoints):
            if not kept:
                plan.delete.append(eps)
                continue
            new = _copy(eps, owner)
            del new.endpoints[:]
            new.endpoints.extend(kept)
            updating.append(new)
        elif _meta_differs(eps, owner):
            updating.append(_copy(eps, owner))
        else:
            unchanged.append(eps)
    remaining = [e for e in group.endpoints if _identity(e) in wanted]
    # Fill the slices written anyway, the fullest first.
    for eps in sorted(updating, key=lambda s: -len(s.endpoints)):
        room = most - len(eps.endpoints)
        if room > 0 and remaining:
            eps.endpoints.extend(remaining[:room])
            remaining = remaining[room:]
    plan.update.extend(updating)
    while remaining:
        target = None
        if len(remaining) < most:
            fits = [s for s in unchanged if len(s.endpoints) + len(remaining) <= most]
            if fits:                   # getSliceToFill: the fullest that takes them all
                chosen = max(fits, key=lambda s: len(s.endpoints))
                unchanged.remove(chosen)
                target = _copy(chosen, owner)
                plan.update.append(target)
        if target is None:
            target = new_slice(owner, group)
            plan.create.append(target)
        room = most - len(target.endpoints)
        target.endpoints.extend(remaining[:room])
        remaining = remaining[room:]
    return plan


def _placeholder_like(eps: pb.EndpointSlice, owner: Owner, address_type: str) -> bool:
    return (not eps.endpoints and not eps.ports and eps.address_type == address_type
            and eps.metadata.namespace == owner.namespace and dict(eps.metadata.labels) == owner.labels
            and list(eps.metadata.owner_references) == [owner.owner_ref])


def plan(owner: Owner, groups: dict[tuple[str, PortKey], Group], existing: Iterable[pb.EndpointSlice],
         address_types: Iterable[str], placeholder: bool = True, most: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """The writes that turn `existing` (this owner's slices, as labelled) into `groups`."""
    address_types = list(address_types)
    out = Plan()
    by_type: dict[str, list[pb.EndpointSlice]] = {}
    for eps in sorted(existing, key=lambda s: s.metadata.name):
        if eps.address_type not in address_types:
            out.delete.append(eps)
        else:
            by_type.setdefault(eps.address_type, []).append(eps)
    for address_type in address_types:
        p = Plan()
        current = by_type.get(address_type, [])
        by_ports: dict[PortKey, list[pb.EndpointSlice]] = {}
        for eps in current:
            if owned_by(eps, owner.uid):
                by_ports.setdefault(_port_key(eps.ports), []).append(eps)
            else:                      # a former Service's of the same name, the collector's to remove
                p.delete.append(eps)
        desired = {ports: g for (t, ports), g in sorted(groups.items()) if t == address_type and g.endpoints}
        for ports, group in desired.items():
            sub = _by_port_mapping(owner, by_ports.get(ports, []), group, most)
            p.create += sub.create
            p.update += sub.update
            p.delete += sub.delete
        for ports, slices in by_ports.items():
            if ports not in desired:
                p.delete += slices
        if placeholder and len(current) == len(p.delete) and not p.create:
            if len(p.delete) == 1 and _placeholder_like(p.delete[0], owner, address_type):
                p.delete = []
            else:
                p.create.append(new_slice(owner, Group(address_type, [])))
        _finalize(p, owner)
        out.create += p.create
        out.update += p.update
        out.delete += p.delete
    if owner.deleting:
        out.create = []
    return out


def _finalize(p: Plan, owner: Owner) -> None:
    """Creates paired with deletes become updates of the slices that would go (same type, same owner)."""
    i = 0
    while i < len(p.delete) and p.create:
        old = p.delete[i]
        new = p.create[-1]
        if old.address_type == new.address_type and owned_by(old, owner.uid):
            p.create.pop()
            new.metadata.CopyFrom(_copy(old, owner).metadata)
            new.metadata.ClearField("owner_references")
            new.metadata.owner_references.add().CopyFrom(owner.owner_ref)
            p.update.append(new)
            p.delete.pop(i)
        else:
            i += 1


# ---------------------------------------------------------------- the cache's freshness
class SliceTracker:
    """What this controller wrote and its cache has not shown yet (Kubernetes' EndpointSliceTracker): until
    the cache catches up, a sync would plan from slices it no longer has, or create a second slice for
    endpoints it placed a moment ago."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int]] = {}     # owner key -> slice name -> resourceVersion
        self._deleted: dict[str, set[str]] = {}

    def wrote(self, key: str, eps: pb.EndpointSlice) -> None:
        self._written.setdefault(key, {})[eps.metadata.name] = _rv(eps)
        self._deleted.get(key, set()).discard(eps.metadata.name)

    def deleted(self, key: str, name: str) -> None:
        self._deleted.setdefault(key, set()).add(name)
        self._written.get(key, {}).pop(name, None)

    def stale(self, key: str, cached: Iterable[pb.EndpointSlice]) -> bool:
        """Whether the cache misses one of our writes (and forget the writes it shows)."""
        have = {s.metadata.name: _rv(s) for s in cached}
        written = self._written.get(key, {})
        for name, rv in list(written.items()):
            if have.get(name, -1) >= rv:
                del written[name]
        gone = self._deleted.get(key, set())
        gone.intersection_update(have)
        if not written:
            self._written.pop(key, None)
        if not gone:
            self._deleted.pop(key, None)
        return bool(written or gone)

    def observed_delete(self, key: str, name: str) -> None:
        """The cache saw the slice go (ours or anyone's delete): nothing about it is awaited any more."""
        self._written.get(key, {}).pop(name, None)
        self._deleted.get(key, set()).discard(name)

    def forget(self, key: str) -> None:
        self._written.pop(key, None)
        self._deleted.pop(key, None)


def _rv(eps: pb.EndpointSlice) -> int:
    try:
        return int(eps.metadata.resource_version)
    except ValueError:
        return 0
