"""Strategies of the identity and RBAC kinds: ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding.

Validation is Kubernetes' (pkg/apis/rbac/validation): names are path segments (`system:kube-scheduler`),
a rule needs verbs and (for resources) apiGroups and resources, but any verb or resource string is accepted,
as Kubernetes accepts them; a binding's roleRef is immutable; subjects are User, Group or ServiceAccount.
What a Role may grant (escalation) is the authorizer's business, not the registry's: see apiserver/authz.
"""
from __future__ import annotations

from typing import Any

from kubelab.kinds import RBAC_GROUP

from .common import FieldErrors, Strategy, name_problem

SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


class ServiceAccountStrategy(Strategy):
    pass


def validate_policy_rule(errs: FieldErrors, path: str, rule: Any, namespaced: bool) -> None:
    """ValidatePolicyRule."""
    if not rule.verbs:
        errs.required(f"{path}.verbs", "verbs must contain at least one value")
    if rule.non_resource_urls:
        if namespaced:
            errs.invalid(f"{path}.nonResourceURLs", list(rule.non_resource_urls),
                         "namespaced rules cannot apply to non-resource URLs")
        if rule.api_groups or rule.resources or rule.resource_names:
            errs.invalid(f"{path}.nonResourceURLs", list(rule.non_resource_urls),
                         "rules cannot apply to both regular resources and non-resource URLs")
        return
    if not rule.api_groups:
        errs.required(f"{path}.apiGroups", "resource rules must supply at least one api group")
    if not rule.resources:
        errs.required(f"{path}.resources", "resource rules must supply at least one resource")


class _RoleStrategy(Strategy):
    name_format = "path"

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        for i, rule in enumerate(obj.rules):
            validate_policy_rule(errs, f"rules[{i}]", rule, self.info.namespaced)
        return errs


class RoleStrategy(_RoleStrategy):
    pass


class ClusterRoleStrategy(_RoleStrategy):
    pass


def default_subjects(obj: Any) -> None:
    """SetDefaults_Subject and SetDefaults_RoleBinding: User and Group subjects and the roleRef are RBAC's."""
    for s in obj.subjects:
        if not s.api_group and s.kind in ("User", "Group"):
            s.api_group = RBAC_GROUP
    if not obj.role_ref.api_group:
        obj.role_ref.api_group = RBAC_GROUP


def validate_subject(errs: FieldErrors, path: str, s: Any, namespaced: bool) -> None:
    """ValidateRoleBindingSubject."""
    if not s.name:
        errs.required(f"{path}.name")
    if s.kind == "ServiceAccount":
        if s.name and (msg := name_problem(s.name)):
            errs.invalid(f"{path}.name", s.name, msg)
        if s.api_group:
            errs.unsupported(f"{path}.apiGroup", s.api_group, ("",))
        if not namespaced and not s.namespace:
            errs.required(f"{path}.namespace")
    elif s.kind in ("User", "Group"):
        if s.api_group != RBAC_GROUP:
            errs.unsupported(f"{path}.apiGroup", s.api_group, (RBAC_GROUP,))
    else:
        errs.unsupported(f"{path}.kind", s.kind, SUBJECT_KINDS)


class _BindingStrategy(Strategy):
    name_format = "path"
    role_kinds: tuple[str, ...] = ("Role", "ClusterRole")

    def default(self, obj: Any) -> None:
        default_subjects(obj)

    def validate(self, obj: Any) -> FieldErrors:
        errs = super().validate(obj)
        ref = obj.role_ref
        if ref.api_group != RBAC_GROUP:
            errs.unsupported("roleRef.apiGroup", ref.api_group, (RBAC_GROUP,))
        if ref.kind not in self.role_kinds:
            errs.unsupported("roleRef.kind", ref.kind, self.role_kinds)
        if not ref.name:
            errs.required("roleRef.name")
        elif msg := name_problem(ref.name, fmt="path"):
            errs.invalid("roleRef.name", ref.name, msg)
        for i, s in enumerate(obj.subjects):
            validate_subject(errs, f"subjects[{i}]", s, self.info.namespaced)
        return errs

    def validate_update(self, new: Any, old: Any) -> FieldErrors:
        errs = super().validate_update(new, old)
        if new.role_ref != old.role_ref:
            errs.invalid("roleRef", f"{{{new.role_ref.api_group} {new.role_ref.kind} {new.role_ref.name}}}",
                         "cannot change roleRef")
        return errs


class RoleBindingStrategy(_BindingStrategy):
    pass


class ClusterRoleBindingStrategy(_BindingStrategy):
    role_kinds = ("ClusterRole",)


__all__ = ["ServiceAccountStrategy", "RoleStrategy", "ClusterRoleStrategy", "RoleBindingStrategy",
           "ClusterRoleBindingStrategy", "validate_policy_rule", "validate_subject"]
