"""Services: ports, types, ClusterIP and NodePort rules.

Allocation itself (choosing free addresses and ports and reserving them in
etcd atomically with the Service) is in apiserver/allocators.py; this module
only says what a valid Service looks like.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from kubelab import selectors

from .common import (IP_MSG, FieldErrors, Strategy, is_ip, is_set, validate_ip, validate_labels,
                     validate_port_number, validate_qualified_name, validate_target_port)

TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PROTOCOLS = ("TCP", "UDP", "SCTP")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
IP_FAMILIES = ("IPv4", "IPv6")
TRAFFIC_POLICIES = ("Cluster", "Local")
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400


def wants_node_ports(spec: Any) -> bool:
    return spec.type in ("NodePort", "LoadBalancer")


class ServiceStrategy(Strategy):
    name_format = "dns1035"     # a Service name becomes a DNS label and an environment variable prefix

    def __init__(self, info: Any, service_cidr: str = "10.96.0.0/16",
                 node_port_range: tuple[int, int] = (30000, 32767)) -> None:
        super().__init__(info)
        self.service_net = ipaddress.ip_network(service_cidr)
        self.node_port_range = node_port_range

    def default(self, obj: Any) -> None:
        spec = obj.spec
        if not spec.type:
            spec.type = "ClusterIP"
        if not spec.cluster_ip and spec.cluster_ips and spec.type != "ExternalName":
            spec.cluster_ip = spec.cluster_ips[0]      # Kubernetes: clusterIPs alone sets clusterIP
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
        node_ports: set[tuple[int, str]] = set()     # one node port per protocol, as allocation keys them
        lo, hi = self.node_port_range
        for i, p in enumerate(spec.ports):
            path = f"spec.ports[{i}]"
            if len(spec.ports) > 1 and not p.name:
                errs.required(f"{path}.name")
            if p.name:
                # a DNS-1123 label, as kube-apiserver's validateServicePort has it (not the IANA service name a
                # container port's is): `kubectl create service clusterip web --tcp=80:8080` names it `80-8080`
                if msg := selectors.validate_dns1123_label(p.name):
                    errs.invalid(f"{path}.name", p.name, msg)
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
            if p.app_protocol:
                validate_qualified_name(errs, f"{path}.appProtocol", p.app_protocol)
            if p.node_port:
                if not wants_node_ports(spec):
                    errs.forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.type}'")
                elif not lo <= p.node_port <= hi:
                    errs.invalid(f"{path}.nodePort", p.node_port,
                                 f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
                elif (p.node_port, p.protocol) in node_ports:
                    errs.duplicate(f"{path}.nodePort", p.node_port)
                node_ports.add((p.node_port, p.protocol))
        validate_labels(errs, "spec.selector", spec.selector)
        self._validate_cluster_ips(errs, spec)
        if spec.type == "ExternalName":
            # The value (a CNAME) may end in a dot to mark it fully qualified.
            cname = spec.external_name.removesuffix(".")
            if not cname:
                errs.required("spec.externalName")
            elif msg := selectors.validate_dns1123_subdomain(cname):
                errs.invalid("spec.externalName", spec.external_name, msg)
        self._validate_ip_families(errs, spec)
        if spec.session_affinity not in ("None", "ClientIP"):
            errs.unsupported("spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None"))
        if spec.HasField("session_affinity_config"):
            if spec.session_affinity != "ClientIP":
                errs.forbidden("spec.sessionAffinityConfig",
                               f"must not be set when session affinity is {spec.session_affinity}")
            client_ip = spec.session_affinity_config.client_ip
            if client_ip.HasField("timeout_seconds") and \
                    not 0 < client_ip.timeout_seconds <= MAX_CLIENT_IP_AFFINITY_SECONDS:
                errs.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", client_ip.timeout_seconds,
                             f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}")
        if spec.external_traffic_policy not in ("", "Cluster", "Local"):
            errs.unsupported("spec.externalTrafficPolicy", spec.external_traffic_policy, TRAFFIC_POLICIES)
        if spec.internal_traffic_policy not in ("",) + TRAFFIC_POLICIES:
            errs.unsupported("spec.internalTrafficPolicy", spec.internal_traffic_policy, TRAFFIC_POLICIES)
        for i, ip in enumerate(spec.external_ips):
            validate_ip(errs, f"spec.externalIPs[{i}]", ip)
        if spec.load_balancer_ip:
            validate_ip(errs, "spec.loadBalancerIP", spec.load_balancer_ip)
        return errs

    def _validate_cluster_ips(self, errs: FieldErrors, spec: Any) -> None:
        if spec.type == "ExternalName":
            if spec.cluster_ip or spec.cluster_ips:
                errs.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
            return
        if spec.cluster_ip == "None" and wants_node_ports(spec):
            errs.invalid("spec.clusterIP", spec.cluster_ip, f"may not be set to 'None' for {spec.type} services")
        if spec.cluster_ip and spec.cluster_ip != "None":
            if not is_ip(spec.cluster_ip):
                errs.invalid("spec.clusterIP", spec.cluster_ip, IP_MSG)
            else:
                ip = ipaddress.ip_address(spec.cluster_ip)
                if ip not in self.service_net or ip in (self.service_net.network_address,
                                                        self.service_net.broadcast_address):
                    errs.invalid("spec.clusterIP", spec.cluster_ip,
                                 f"provided IP is not in the valid range. The range of valid IPs is {self.service_net}")
        for i, ip in enumerate(spec.cluster_ips):
            if not (i == 0 and ip == "None"):
                validate_ip(errs, f"spec.clusterIPs[{i}]", ip)
        if spec.cluster_ip and spec.cluster_ips and spec.cluster_ips[0] != spec.cluster_ip:
            errs.invalid("spec.clusterIPs[0]", spec.cluster_ips[0], "must match `clusterIP` when both are specified")
        if len(spec.cluster_ips) > 1:
            errs.invalid("spec.clusterIPs", ",".join(spec.cluster_ips),
                         "this cluster is not configured for dual-stack services")

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
        if new.spec.type == "ExternalName":
            # Kubernetes' dropTypeDependentFields: becoming ExternalName drops the cluster IPs it still carries
            # unchanged (its allocation is released); a cluster IP the update itself sets is refused.
            if new.spec.cluster_ip == old.spec.cluster_ip:
                new.spec.cluster_ip = ""
            if list(new.spec.cluster_ips) == list(old.spec.cluster_ips):
                del new.spec.cluster_ips[:]
        # Like Kubernetes ≥ 1.20, an update that omits allocated values keeps them.
        elif not new.spec.cluster_ip and not new.spec.cluster_ips:
            new.spec.cluster_ip = old.spec.cluster_ip
            del new.spec.cluster_ips[:]
            new.spec.cluster_ips.extend(old.spec.cluster_ips)
        elif new.spec.cluster_ip == old.spec.cluster_ip and not new.spec.cluster_ips:
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
        if new.spec.type == "ExternalName":
            return errs      # it holds no cluster IP (validate says so if the update sets one)
        if old.spec.cluster_ip and new.spec.cluster_ip != old.spec.cluster_ip:
            errs.invalid("spec.clusterIP", new.spec.cluster_ip, "field is immutable")
        if old.spec.cluster_ips and list(new.spec.cluster_ips) != list(old.spec.cluster_ips):
            errs.invalid("spec.clusterIPs", ",".join(new.spec.cluster_ips), "field is immutable")
        return errs


