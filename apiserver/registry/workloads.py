"""ReplicaSets and Deployments: selector/template agreement, replicas, strategy."""
from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from .common import (FieldErrors, Strategy, int_or_string, is_set, valid_selector_of, validate_condition_statuses,
                     validate_int_or_percent, validate_label_selector, validate_labels, validate_nonnegative)
from .pod import default_pod_spec, validate_pod_spec


def _labels_repr(labels: Any) -> str:
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"


def validate_template(errs: FieldErrors, spec: Any) -> None:
    validate_label_selector(errs, "spec.selector", spec.selector)
    validate_labels(errs, "spec.template.metadata.labels", spec.template.metadata.labels)
    selector = valid_selector_of(spec.selector)
    if selector is not None and (spec.selector.match_labels or spec.selector.match_expressions):
        if not selector.matches(dict(spec.template.metadata.labels)):
            errs.invalid("spec.template.metadata.labels", _labels_repr(spec.template.metadata.labels),
                         "`selector` does not match template `labels`")
    validate_pod_spec(errs, "spec.template.spec", spec.template.spec)
    if spec.template.spec.HasField("active_deadline_seconds"):
        # Kubernetes says "ReplicaSet" for Deployments too: both go through ValidatePodTemplateSpecForReplicaSet.
        errs.invalid("spec.template.spec.activeDeadlineSeconds", spec.template.spec.active_deadline_seconds,
                     "activeDeadlineSeconds in ReplicaSet is not Supported")
    if spec.template.spec.restart_policy not in ("", "Always"):
        errs.unsupported("spec.template.spec.restartPolicy", spec.template.spec.restart_policy, ("Always",))
    if spec.HasField("replicas") and spec.replicas < 0:
        errs.invalid("spec.replicas", spec.replicas, "must be greater than or equal to 0")
    if spec.min_ready_seconds < 0:
        errs.invalid("spec.minReadySeconds", spec.min_ready_seconds, "must be greater than or equal to 0")


# The status counters of each kind, in their JSON spelling; none may be negative.
_STATUS_COUNTS = {
    "ReplicaSet": ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"),
    "Deployment": ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas",
                   "observedGeneration", "collisionCount"),
}


def _snake(name: str) -> str:
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name)


class _WorkloadStrategy(Strategy):
    generation_on_spec_change = True

    def validate_status(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_status(new, old)
        for name in _STATUS_COUNTS[self.info.kind]:
            validate_nonnegative(errs, f"status.{name}", getattr(new.status, _snake(name)))
        validate_condition_statuses(errs, "status.conditions", new.status.conditions)
        return errs

    def default(self, obj: Any) -> None:
        if not obj.spec.HasField("replicas"):
            obj.spec.replicas = 1
        default_pod_spec(obj.spec.template.spec)
        # extensions/v1beta1 copied the template's labels into empty object labels and selector;
        # apps/v1 does neither: the selector is required (validation says so) and labels stay the user's.

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        validate_template(errs, obj.spec)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        if new.spec.selector != old.spec.selector:
            errs.invalid("spec.selector", str(valid_selector_of(new.spec.selector) or "<invalid>"), "field is immutable")
        return errs


class ReplicaSetStrategy(_WorkloadStrategy):
    pass


def _percent_value(v: str) -> struct_pb2.Value:
    return struct_pb2.Value(string_value=v)


class DeploymentStrategy(_WorkloadStrategy):
    def default(self, obj: Any) -> None:
        super().default(obj)
        spec = obj.spec
        if not spec.strategy.type:
            spec.strategy.type = "RollingUpdate"
        if spec.strategy.type == "RollingUpdate":
            ru = spec.strategy.rolling_update
            if not is_set(ru.max_unavailable):
                ru.max_unavailable.CopyFrom(_percent_value("25%"))
            if not is_set(ru.max_surge):
                ru.max_surge.CopyFrom(_percent_value("25%"))
        if not spec.HasField("revision_history_limit"):
            spec.revision_history_limit = 10
        if not spec.HasField("progress_deadline_seconds"):
            spec.progress_deadline_seconds = 600

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        spec = obj.spec
        if spec.strategy.type not in ("RollingUpdate", "Recreate"):
            errs.unsupported("spec.strategy.type", spec.strategy.type, ("Recreate", "RollingUpdate"))
        if spec.strategy.type == "Recreate" and spec.strategy.HasField("rolling_update") and (
                is_set(spec.strategy.rolling_update.max_surge) or is_set(spec.strategy.rolling_update.max_unavailable)):
            errs.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        if spec.strategy.type == "RollingUpdate":
            ru = spec.strategy.rolling_update
            validate_int_or_percent(errs, "spec.strategy.rollingUpdate.maxUnavailable", ru.max_unavailable)
            validate_int_or_percent(errs, "spec.strategy.rollingUpdate.maxSurge", ru.max_surge)
            if _is_zero(ru.max_unavailable) and _is_zero(ru.max_surge):
                errs.invalid("spec.strategy.rollingUpdate.maxUnavailable", int_or_string(ru.max_unavailable),
                             "may not be 0 when `maxSurge` is 0")
        if spec.HasField("revision_history_limit") and spec.revision_history_limit < 0:
            errs.invalid("spec.revisionHistoryLimit", spec.revision_history_limit, "must be greater than or equal to 0")
        if spec.HasField("progress_deadline_seconds") and spec.progress_deadline_seconds <= spec.min_ready_seconds:
            errs.invalid("spec.progressDeadlineSeconds", spec.progress_deadline_seconds,
                         "must be greater than minReadySeconds")
        return errs


def _is_zero(v: Any) -> bool:
    val = int_or_string(v)
    return val == 0 or val == "0%"
