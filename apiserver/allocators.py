"""ClusterIP and NodePort allocation, reserved in etcd with the Service.

Each allocated address or port is a side key written in the same etcd
transaction as the Service (`/registry/allocations/clusterip/10.96.0.7`),
so two apiservers can never hand out the same one, and a delete releases
them atomically. A local set of known-used values only makes random picks
unlikely to collide; etcd has the last word.
"""
from __future__ import annotations

import ipaddress
import random
from typing import Any

ALLOC_PREFIX = b"/registry/allocations/"


def cluster_ip_key(ip: str) -> bytes:
    return ALLOC_PREFIX + b"clusterip/" + ip.encode()


def node_port_key(port: int, protocol: str = "TCP") -> bytes:
    return ALLOC_PREFIX + f"nodeport/{protocol.lower()}/{port}".encode()


class Allocators:
    def __init__(self, service_cidr: str, node_port_range: tuple[int, int]) -> None:
        self.net = ipaddress.ip_network(service_cidr)
        self.node_ports = node_port_range
        self.used_ips: set[str] = set()
        self.used_ports: set[tuple[int, str]] = set()

    def load(self, keys: list[bytes]) -> None:
        for k in keys:
            parts = k[len(ALLOC_PREFIX):].decode().split("/")
            if parts[0] == "clusterip":
                self.used_ips.add(parts[1])
            elif parts[0] == "nodeport":
                self.used_ports.add((int(parts[2]), parts[1].upper()))

    def pick_ip(self) -> str:
        first = int(self.net.network_address) + 1
        last = int(self.net.broadcast_address) - 1
        # Kubernetes keeps the first address for the `kubernetes` service; so do we.
        for _ in range(1000):
            ip = str(ipaddress.ip_address(random.randint(first + 1, last)))
            if ip not in self.used_ips:
                return ip
        raise RuntimeError("service IP range is full")

    def pick_port(self, protocol: str) -> int:
        lo, hi = self.node_ports
        free = [p for p in range(lo, hi + 1) if (p, protocol) not in self.used_ports]
        if not free:
            raise RuntimeError("node port range is full")
        return random.choice(free)

    def keys_of(self, svc: Any) -> dict[bytes, str]:
        """The allocation keys a stored Service holds."""
        keys: dict[bytes, str] = {}
        if svc.spec.cluster_ip and svc.spec.cluster_ip != "None":
            keys[cluster_ip_key(svc.spec.cluster_ip)] = "clusterIP"
        for i, p in enumerate(svc.spec.ports):
            if p.node_port:
                keys[node_port_key(p.node_port, p.protocol)] = f"ports[{i}].nodePort"
        return keys

    def assign(self, svc: Any) -> set[str]:
        """Fill unset ClusterIP and NodePorts; return the field paths we chose (vs. the user)."""
        chosen: set[str] = set()
        spec = svc.spec
        if spec.type != "ExternalName" and not spec.cluster_ip:
            spec.cluster_ip = self.pick_ip()
            chosen.add("clusterIP")
        if spec.cluster_ip and not spec.cluster_ips:
            spec.cluster_ips.append(spec.cluster_ip)
        if spec.type in ("NodePort", "LoadBalancer"):
            for i, p in enumerate(spec.ports):
                if not p.node_port:
                    p.node_port = self.pick_port(p.protocol)
                    chosen.add(f"ports[{i}].nodePort")
        else:
            for p in spec.ports:
                p.node_port = 0
        return chosen

    @staticmethod
    def unassign(svc: Any, what: str) -> None:
        """Clear one value `assign` chose (a field path from `keys_of`), so the next `assign` picks anew."""
        if what == "clusterIP":
            svc.spec.cluster_ip = ""
            del svc.spec.cluster_ips[:]
        elif what.startswith("ports[") and what.endswith("].nodePort"):
            svc.spec.ports[int(what[len("ports["):-len("].nodePort")])].node_port = 0

    def remember(self, svc: Any) -> None:
        for k in self.keys_of(svc):
            self.load([k])

    def forget(self, svc: Any) -> None:
        if svc.spec.cluster_ip:
            self.used_ips.discard(svc.spec.cluster_ip)
        for p in svc.spec.ports:
            self.used_ports.discard((p.node_port, p.protocol))
