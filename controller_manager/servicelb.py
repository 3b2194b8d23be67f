"""Service load balancer for the lab: `type: LoadBalancer` gets the nodes' addresses, as k3s' ServiceLB does.

There is no cloud here to provision a load balancer, so a LoadBalancer
Service would show `EXTERNAL-IP <pending>` for ever (as on a bare
Kubernetes). Like k3s' ServiceLB (klipper-lb), this controller instead
publishes the InternalIP of every Ready, schedulable node in
`status.loadBalancer.ingress`, and each node's service proxy listens on
those addresses at the Service's own ports (`curl http://<EXTERNAL-IP>/`,
as seed 000 does), forwarding to its endpoints.

One address can carry a port once: when two LoadBalancer Services want the
same port and protocol, the older one (creationTimestamp, then
namespace/name) gets it and the other stays pending, with a Warning event
saying who holds the port. Freed ports are handed on when the holder goes.
"""
from __future__ import annotations

from typing import Any

from kubelab import conditions, errors, kinds
from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .base import Controller


def node_address(node: pb.Node) -> str:
    for a in node.status.addresses:
        if a.type == "InternalIP":
            return a.address
    return ""


def serves_load_balancers(node: pb.Node) -> bool:
    """Ready, schedulable, with an address: where the proxy will listen."""
    return conditions.node_ready(node) and not node.spec.unschedulable and bool(node_address(node))


def port_keys(svc: pb.Service) -> set[tuple[int, str]]:
    return {(p.port, p.protocol or "TCP") for p in svc.spec.ports}


def _age_key(svc: pb.Service) -> tuple[str, str, str]:
    return (svc.metadata.creation_timestamp, svc.metadata.namespace, svc.metadata.name)


def port_holder(svc: pb.Service, others: list[pb.Service]) -> tuple[pb.Service, tuple[int, str]] | None:
    """The older LoadBalancer Service holding one of `svc`'s ports, if any (that port is taken)."""
    mine = port_keys(svc)
    for other in sorted(others, key=_age_key):
        if other.metadata.uid == svc.metadata.uid or (other.spec.type or "ClusterIP") != "LoadBalancer":
            continue
        if other.metadata.deletion_timestamp or _age_key(other) >= _age_key(svc):
            continue
        shared = sorted(mine & port_keys(other))
        if shared and port_holder(other, others) is None:    # only a holder that itself got its ports
            return other, shared[0]
    return None


def desired_ingress(svc: pb.Service, nodes: list[pb.Node], others: list[pb.Service]) -> list[str]:
    """The addresses `svc` should show: the serving nodes', unless it is no LoadBalancer or a port is taken."""
    if (svc.spec.type or "ClusterIP") != "LoadBalancer" or svc.metadata.deletion_timestamp:
        return []
    if port_holder(svc, others) is not None:
        return []
    return sorted({node_address(n) for n in nodes if serves_load_balancers(n)})


class ServiceLBController(Controller):
    name = "servicelb"
    component = "service-lb-controller"
    default_workers = 2

    def setup(self) -> None:
        # Pending events already recorded, per Service key; dropped once it is no longer pending or gone.
        self._reported: dict[str, set[tuple[str, str, int, str]]] = {}
        self.services = self.informers.get("Service")
        self.nodes = self.informers.get("Node")
        self.services.add_handlers(on_add=self._service_changed, on_update=lambda o, n: self._service_changed(n),
                                   on_delete=self._service_changed)
        # Nodes coming and going change every LoadBalancer's addresses.
        self.nodes.add_handlers(on_add=self._all, on_update=self._node_updated, on_delete=self._all)

    def _load_balancers(self) -> list[pb.Service]:
        return [s for s in self.services.list() if (s.spec.type or "ClusterIP") == "LoadBalancer"]

    def _service_changed(self, svc: pb.Service) -> None:
        self.enqueue(svc)
        if (svc.spec.type or "ClusterIP") == "LoadBalancer" or svc.status.load_balancer.ingress:
            # A port freed or taken decides for the others too.
            for other in self._load_balancers():
                self.enqueue(other)

    def _node_updated(self, old: pb.Node, new: pb.Node) -> None:
        if serves_load_balancers(old) != serves_load_balancers(new) or node_address(old) != node_address(new):
            self._all()

    def _all(self, *_: Any) -> None:
        for svc in self._load_balancers():
            self.enqueue(svc)

    async def reconcile(self, key: str) -> None:
        svc = self.services.get(key)
        if svc is None:
            self._reported.pop(key, None)
            return
        others = self._load_balancers()
        want = desired_ingress(svc, self.nodes.list(), others)
        have = [i.ip for i in svc.status.load_balancer.ingress]
        is_lb = (svc.spec.type or "ClusterIP") == "LoadBalancer"
        holder = port_holder(svc, others) if is_lb else None
        if holder is None:
            self._reported.pop(key, None)
        if have == want:
            if holder is not None:
                self._pending(svc, holder)      # created pending: say why, once
            return
        new = podutil.copy(svc)
        del new.status.load_balancer.ingress[:]
        new.status.load_balancer.ingress.extend(pb.LoadBalancerIngress(ip=ip) for ip in want)
        try:
            await self.client.update_status(new)
        except errors.NotFound:
            return
        if holder is not None:
            self._pending(svc, holder)
        elif want:
            self.event(svc, "Normal", "EnsuredLoadBalancer", f"Ensured load balancer on {', '.join(want)}")
        elif is_lb:
            self.event(svc, "Warning", "LoadBalancerPending", "no Ready, schedulable node to serve it")
        self.log.info("service %s: load balancer ingress %s", key, want or "none")

    def _pending(self, svc: pb.Service, holder: tuple[pb.Service, tuple[int, str]]) -> None:
        other, (port, proto) = holder
        said = (svc.metadata.uid, other.metadata.uid, port, proto)
        reported = self._reported.setdefault(kinds.key_of(svc), set())
        if said in reported:
            return
        reported.add(said)
        self.event(svc, "Warning", "LoadBalancerPending",
                   f"port {port}/{proto} is already served for LoadBalancer {kinds.key_of(other)}; "
                   f"this one stays pending until it is free")
