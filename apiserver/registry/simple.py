"""The kinds whose rules are short: Namespace, Node, Endpoints, PDB, Event, Lease."""
from __future__ import annotations

from typing import Any, Iterable

from .common import (FieldErrors, Strategy, int_or_string, is_set, validate_int_or_percent, validate_label_selector,
                     validate_name, validate_port_number, validate_quantities)


class NamespaceStrategy(Strategy):
    label_name = True

    def prepare_create(self, obj: Any) -> None:
        super().prepare_create(obj)
        obj.status.phase = "Active"
        if "kubernetes" not in obj.spec.finalizers:
            obj.spec.finalizers.append("kubernetes")

    def default(self, obj: Any) -> None:
        obj.metadata.labels["kubernetes.io/metadata.name"] = obj.metadata.name

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
        validate_quantities(errs, "status.capacity", obj.status.capacity)
        validate_quantities(errs, "status.allocatable", obj.status.allocatable)
        for i, t in enumerate(obj.spec.taints):
            if not t.key:
                errs.required(f"spec.taints[{i}].key")
            if t.effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
                errs.unsupported(f"spec.taints[{i}].effect", t.effect, ("NoSchedule", "PreferNoSchedule", "NoExecute"))
        return errs


class EndpointsStrategy(Strategy):
    label_name = True

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        for i, s in enumerate(obj.subsets):
            for j, p in enumerate(s.ports):
                validate_port_number(errs, f"subsets[{i}].ports[{j}].port", p.port)
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
    pass


__all__ = ["NamespaceStrategy", "NodeStrategy", "EndpointsStrategy", "PodDisruptionBudgetStrategy",
           "EventStrategy", "LeaseStrategy", "int_or_string", "validate_name"]
