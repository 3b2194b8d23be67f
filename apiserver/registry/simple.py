"""The kinds whose rules are short: Namespace, Node, Endpoints, PDB, Event, Lease."""
from __future__ import annotations

from typing import Any, Iterable

from kubelab import selectors

from .common import (FieldError, FieldErrors, Strategy, int_or_string, is_set, validate_cidr, validate_condition_statuses,
                     validate_finalizers, validate_int_or_percent, validate_ip, validate_label_selector, validate_name,
                     validate_nonnegative, validate_port_number, validate_qualified_name, validate_quantities)
from .pod import PROTOCOLS, TAINT_EFFECTS

# Address types whose address is an IP (Hostname, InternalDNS and ExternalDNS are names).
_IP_ADDRESS_TYPES = ("InternalIP", "ExternalIP")
UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


class NamespaceStrategy(Strategy):
    label_name = True

    def prepare_create(self, obj: Any) -> None:
        super().prepare_create(obj)
        obj.status.phase = "Active"
        if "kubernetes" not in obj.spec.finalizers:
            obj.spec.finalizers.append("kubernetes")

    def default(self, obj: Any) -> None:
        obj.metadata.labels["kubernetes.io/metadata.name"] = obj.metadata.name

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        validate_finalizers(errs, "spec.finalizers", obj.spec.finalizers)
        return errs

    def prepare_update(self, new: Any, old: Any) -> None:
        super().prepare_update(new, old)
        # spec.finalizers change only through the finalize subresource, as in Kubernetes: an update or patch
        # that dropped `kubernetes` would leave a deleted namespace Terminating, its content running, for good.
        _set_finalizers(new, old.spec.finalizers)

    def prepare_finalize(self, new: Any, old: Any) -> None:
        """The finalize subresource (the namespace controller's): spec.finalizers change, nothing else."""
        finalizers = list(new.spec.finalizers)
        new.CopyFrom(old)
        _set_finalizers(new, finalizers)


def _set_finalizers(ns: Any, finalizers: Iterable[str]) -> None:
    kept = list(finalizers)      # may be the other object's field: read it before clearing ours
    del ns.spec.finalizers[:]
    ns.spec.finalizers.extend(kept)


class NodeStrategy(Strategy):
    clear_status_on_create = False   # the kubelet registers its node with its status

    def default(self, obj: Any) -> None:
        obj.metadata.labels.setdefault("kubernetes.io/hostname", obj.metadata.name)
        obj.metadata.labels.setdefault("kubernetes.io/os", "linux")

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        spec = obj.spec
        seen: set[tuple[str, str]] = set()
        for i, t in enumerate(spec.taints):
            p = f"spec.taints[{i}]"
            if not t.key:
                errs.required(f"{p}.key")
            elif msg := selectors.validate_label_key(t.key):
                errs.invalid(f"{p}.key", t.key, msg)
            if msg := selectors.validate_label_value(t.value):
                errs.invalid(f"{p}.value", t.value, msg)
            if not t.effect:
                errs.required(f"{p}.effect")
            elif t.effect not in TAINT_EFFECTS:
                errs.unsupported(f"{p}.effect", t.effect, TAINT_EFFECTS)
            if (t.key, t.effect) in seen:
                errs.append(FieldError(p, "Duplicate value", f"{t.key}:{t.effect}",
                                       "taints must be unique by key and effect pair"))
            seen.add((t.key, t.effect))
        if spec.pod_cidr:
            validate_cidr(errs, "spec.podCIDR", spec.pod_cidr)
        for i, cidr in enumerate(spec.pod_cidrs):
            validate_cidr(errs, f"spec.podCIDRs[{i}]", cidr)
        # The kubelet registers its node with its status, so create and update check it too.
        validate_node_status(errs, obj.status)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        # Kubernetes' ValidateNodeUpdate: the node IPAM controller may give a node its range once; pods hold
        # addresses from it, so a later change would strand them.
        old_cidrs = pod_cidrs(old.spec)
        if old_cidrs and pod_cidrs(new.spec) != old_cidrs:
            errs.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid')
        return errs

    def validate_status(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_status(new, old)
        validate_node_status(errs, new.status)
        return errs


def pod_cidrs(spec: Any) -> list[str]:
    """A node's pod ranges, as Kubernetes converts a v1 NodeSpec: podCIDRs, or podCIDR alone when only it is set
    (podCIDR is podCIDRs[0]: changing either is a change)."""
    cidrs = list(spec.pod_cidrs) or ([spec.pod_cidr] if spec.pod_cidr else [])
    if spec.pod_cidr and cidrs[0] != spec.pod_cidr:
        cidrs.insert(0, spec.pod_cidr)
    return cidrs


def validate_node_status(errs: FieldErrors, status: Any) -> None:
    validate_quantities(errs, "status.capacity", status.capacity)
    validate_quantities(errs, "status.allocatable", status.allocatable)
    for i, a in enumerate(status.addresses):
        if not a.type:
            errs.required(f"status.addresses[{i}].type")
        if a.type in _IP_ADDRESS_TYPES:
            validate_ip(errs, f"status.addresses[{i}].address", a.address)
    validate_condition_statuses(errs, "status.conditions", status.conditions)


class EndpointsStrategy(Strategy):
    label_name = True

    def default(self, obj: Any) -> None:
        for s in obj.subsets:
            for p in s.ports:
                if not p.protocol:
                    p.protocol = "TCP"

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        for i, s in enumerate(obj.subsets):
            for field, label in (("addresses", "addresses"), ("not_ready_addresses", "notReadyAddresses")):
                for j, a in enumerate(getattr(s, field)):
                    ap = f"subsets[{i}].{label}[{j}]"
                    validate_ip(errs, f"{ap}.ip", a.ip)
                    if a.hostname:
                        validate_name(errs, f"{ap}.hostname", a.hostname, label=True)
            for j, p in enumerate(s.ports):
                pp = f"subsets[{i}].ports[{j}]"
                if len(s.ports) > 1 and not p.name:
                    errs.required(f"{pp}.name")
                elif p.name:
                    validate_name(errs, f"{pp}.name", p.name, label=True)
                validate_port_number(errs, f"{pp}.port", p.port)
                if p.protocol not in PROTOCOLS:
                    errs.unsupported(f"{pp}.protocol", p.protocol, PROTOCOLS)
                if p.app_protocol:
                    validate_qualified_name(errs, f"{pp}.appProtocol", p.app_protocol)
        return errs


class PodDisruptionBudgetStrategy(Strategy):
    generation_on_spec_change = True

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        spec = obj.spec
        if is_set(spec.min_available) and is_set(spec.max_unavailable):
            errs.invalid("spec", "", "minAvailable and maxUnavailable cannot be both set")
        validate_int_or_percent(errs, "spec.minAvailable", spec.min_available)
        validate_int_or_percent(errs, "spec.maxUnavailable", spec.max_unavailable)
        validate_label_selector(errs, "spec.selector", spec.selector, required=False)
        if spec.unhealthy_pod_eviction_policy and \
                spec.unhealthy_pod_eviction_policy not in UNHEALTHY_POD_EVICTION_POLICIES:
            errs.unsupported("spec.unhealthyPodEvictionPolicy", spec.unhealthy_pod_eviction_policy,
                             UNHEALTHY_POD_EVICTION_POLICIES)
        return errs

    def default(self, obj: Any) -> None:
        if not is_set(obj.spec.min_available) and not is_set(obj.spec.max_unavailable):
            obj.spec.min_available.number_value = 1


class EventStrategy(Strategy):
    clear_status_on_create = False

    def default(self, obj: Any) -> None:
        if not obj.type:
            obj.type = "Normal"
        if not obj.count:
            obj.count = 1

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        if not obj.involved_object.name and not obj.involved_object.kind:
            errs.required("involvedObject")
        if obj.type not in ("Normal", "Warning"):
            errs.unsupported("type", obj.type, ("Normal", "Warning"))
        return errs


class LeaseStrategy(Strategy):
    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        # Kubernetes' leaseDurationSeconds is optional and must be > 0 when set; here 0 is "unset".
        if obj.spec.lease_duration_seconds < 0:
            errs.invalid("spec.leaseDurationSeconds", obj.spec.lease_duration_seconds, "must be greater than 0")
        validate_nonnegative(errs, "spec.leaseTransitions", obj.spec.lease_transitions)
        return errs


__all__ = ["NamespaceStrategy", "NodeStrategy", "EndpointsStrategy", "PodDisruptionBudgetStrategy",
           "EventStrategy", "LeaseStrategy", "int_or_string", "validate_name"]
