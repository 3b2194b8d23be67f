"""Services: ports, types, ClusterIP and NodePort rules.

Allocation itself (choosing free addresses and ports and reserving them in
etcd atomically with the Service) is in apiserver/allocators.py; this module
only says what a valid Service looks like.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from .common import FieldErrors, Strategy, int_or_string, is_set, validate_port_name, validate_port_number, \
    validate_target_port, validate_labels

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
IP_FAMILIES = ("IPv4", "IPv6")


def wants_node_ports(spec: Any) -> bool:
    return spec.type in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    label_name = True

    def __init__(self, info: Any, service_cidr: str = "10.96.0.0/16",
                 node_port_range: tuple[int, int] = (30000, 32767)) -> None:
        super().__init__(info)
        self.service_net = ipaddress.ip_network(service_cidr)
        self.node_port_range = node_port_range

    def default(self, obj: Any) -> None:
        spec = obj.spec
        if not spec.type:
            spec.type = "ClusterIP"
        if not spec.session_affinity:
            spec.session_affinity = "None"
        if wants_node_ports(spec) and not spec.external_traffic_policy:
            spec.external_traffic_policy = "Cluster"
        if spec.type != "ExternalName":
            if not spec.internal_traffic_policy:
                spec.internal_traffic_policy = "Cluster"
            # The service network is IPv4 only: every Service is single-stack IPv4, as kube-apiserver
            # reports on such a cluster (describe's "IP Family Policy" and "IP Families").
            if not spec.ip_family_policy:
                spec.ip_family_policy = "SingleStack"
            if not spec.ip_families:
                spec.ip_families.append("IPv4")
        for p in spec.ports:
            if not p.protocol:
                p.protocol = "TCP"
            if not is_set(p.target_port):
                p.target_port.number_value = p.port

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        spec = obj.spec
        if spec.type not in TYPES:
            errs.unsupported("spec.type", spec.type, TYPES)
        if spec.type != "ExternalName" and not spec.ports:
            errs.required("spec.ports")
        names: set[str] = set()
        seen: set[tuple[int, str]] = set()
        lo, hi = self.node_port_range
        for i, p in enumerate(spec.ports):
            path = f"spec.ports[{i}]"
            if len(spec.ports) > 1 and not p.name:
                errs.required(f"{path}.name")
            if p.name:
                validate_port_name(errs, f"{path}.name", p.name)
                if p.name in names:
                    errs.duplicate(f"{path}.name", p.name)
                names.add(p.name)
            validate_port_number(errs, f"{path}.port", p.port)
            if (p.port, p.protocol) in seen:
                errs.duplicate(f"{path}", f"{p.port}/{p.protocol}")
            seen.add((p.port, p.protocol))
            if p.protocol not in PROTOCOLS:
                errs.unsupported(f"{path}.protocol", p.protocol, PROTOCOLS)
            validate_target_port(errs, f"{path}.targetPort", p.target_port)
            if p.node_port:
                if not wants_node_ports(spec):
                    errs.forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.type}'")
                elif not lo <= p.node_port <= hi:
                    errs.invalid(f"{path}.nodePort", p.node_port,
                                 f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
        validate_labels(errs, "spec.selector", spec.selector)
        if spec.cluster_ip and spec.cluster_ip != "None":
            try:
                ip = ipaddress.ip_address(spec.cluster_ip)
                if ip not in self.service_net or ip in (self.service_net.network_address,
                                                        self.service_net.broadcast_address):
                    errs.invalid("spec.clusterIP", spec.cluster_ip,
                                 f"provided IP is not in the valid range. The range of valid IPs is {self.service_net}")
            except ValueError:
                errs.invalid("spec.clusterIP", spec.cluster_ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")
        self._validate_ip_families(errs, spec)
        if spec.session_affinity not in ("None", "ClientIP"):
            errs.unsupported("spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None"))
        if spec.external_traffic_policy not in ("", "Cluster", "Local"):
            errs.unsupported("spec.externalTrafficPolicy", spec.external_traffic_policy, ("Cluster", "Local"))
        return errs

    @staticmethod
    def _validate_ip_families(errs: FieldErrors, spec: Any) -> None:
        if spec.ip_family_policy and spec.ip_family_policy not in IP_FAMILY_POLICIES:
            errs.unsupported("spec.ipFamilyPolicy", spec.ip_family_policy, IP_FAMILY_POLICIES)
        elif spec.ip_family_policy == "RequireDualStack":
            errs.invalid("spec.ipFamilyPolicy", spec.ip_family_policy,
                         "this cluster is not configured for dual-stack services")
        for i, family in enumerate(spec.ip_families):
            if family not in IP_FAMILIES:
                errs.unsupported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES)
            elif family != "IPv4":
                errs.invalid(f"spec.ipFamilies[{i}]", family, "not configured on this cluster")
        if len(spec.ip_families) > 1:
            errs.invalid("spec.ipFamilies", ",".join(spec.ip_families),
                         "this cluster is not configured for dual-stack services")

    def prepare_update(self, new: Any, old: Any) -> None:
        super().prepare_update(new, old)
        # Like Kubernetes ≥ 1.20, an update that omits allocated values keeps them.
        if not new.spec.cluster_ip:
            new.spec.cluster_ip = old.spec.cluster_ip
            del new.spec.cluster_ips[:]
            new.spec.cluster_ips.extend(old.spec.cluster_ips)
        old_ports = {(p.port, p.protocol): p.node_port for p in old.spec.ports}
        if wants_node_ports(new.spec):
            for p in new.spec.ports:
                if not p.node_port:
                    p.node_port = old_ports.get((p.port, p.protocol), 0)
        elif wants_node_ports(old.spec):
            # Kubernetes' dropTypeDependentFields: a Service leaving NodePort/LoadBalancer loses the node
            # ports it still carries unchanged (applying the ClusterIP manifest over the NodePort one keeps
            # them otherwise); a node port the update itself sets is still refused by validation.
            for p in new.spec.ports:
                if p.node_port and p.node_port == old_ports.get((p.port, p.protocol)):
                    p.node_port = 0

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        if old.spec.cluster_ip and new.spec.cluster_ip != old.spec.cluster_ip:
            errs.invalid("spec.clusterIP", new.spec.cluster_ip, "field is immutable")
        return errs


def target_port_of(p: Any) -> int | str | None:
    return int_or_string(p.target_port)
