"""Validation of the RBAC kinds and ServiceAccount, as Kubernetes' pkg/apis/rbac/validation."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver.registry import strategies
from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb

S = strategies()


def _role(*rules: pb.PolicyRule, name: str = "system:reader", cluster: bool = False) -> Any:
    r = (pb.ClusterRole if cluster else pb.Role)(rules=list(rules))
    r.metadata.name = name
    if not cluster:
        r.metadata.namespace = "default"
    return r


def _errors(kind: str, obj: Any) -> list[str]:
    S[kind].default(obj)
    return [str(e) for e in S[kind].validate(obj)]


@pytest.mark.parametrize("rule,want", [
    pytest.param(pb.PolicyRule(verbs=["frobnicate"], api_groups=[""], resources=["widgets"]), [],
                 id="any-verb-and-resource-accepted-as-kubernetes"),
    pytest.param(pb.PolicyRule(api_groups=[""], resources=["pods"]),
                 ["rules[0].verbs: Required value: verbs must contain at least one value"], id="no-verbs"),
    pytest.param(pb.PolicyRule(verbs=["get"], api_groups=[""]),
                 ["rules[0].resources: Required value: resource rules must supply at least one resource"],
                 id="no-resources"),
    pytest.param(pb.PolicyRule(verbs=["get"], resources=["pods"]),
                 ["rules[0].apiGroups: Required value: resource rules must supply at least one api group"],
                 id="no-groups"),
])
def test_role_rules(rule: pb.PolicyRule, want: list[str]) -> None:
    assert _errors("Role", _role(rule)) == want


def test_namespaced_rules_cannot_name_urls_but_cluster_roles_can() -> None:
    r = pb.PolicyRule(verbs=["get"], non_resource_urls=["/healthz"])
    assert any("namespaced rules cannot apply to non-resource URLs" in e for e in _errors("Role", _role(r)))
    assert _errors("ClusterRole", _role(r, cluster=True)) == []


def _binding(kind: str = "RoleBinding", ref_kind: str = "ClusterRole", *subjects: tuple[str, str, str]) -> Any:
    b = (pb.RoleBinding if kind == "RoleBinding" else pb.ClusterRoleBinding)(
        role_ref=pb.RoleRef(kind=ref_kind, name="view"))
    b.metadata.name = "b"
    if kind == "RoleBinding":
        b.metadata.namespace = "default"
    for sk, sn, sns in subjects:
        b.subjects.add(kind=sk, name=sn, namespace=sns)
    return b


def test_binding_defaults_and_subjects() -> None:
    b = _binding("RoleBinding", "ClusterRole", ("User", "alice", ""), ("ServiceAccount", "robot", ""))
    assert _errors("RoleBinding", b) == []
    assert b.role_ref.api_group == RBAC_GROUP and b.subjects[0].api_group == RBAC_GROUP
    assert b.subjects[1].api_group == ""
    assert _errors("RoleBinding", _binding("RoleBinding", "ClusterRole", ("Robot", "x", ""))) == [
        'subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"']
    assert _errors("ClusterRoleBinding", _binding("ClusterRoleBinding", "ClusterRole", ("ServiceAccount", "r", ""))) \
        == ["subjects[0].namespace: Required value"]
    assert _errors("ClusterRoleBinding", _binding("ClusterRoleBinding", "Role")) == [
        'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"']


def test_role_ref_is_immutable() -> None:
    old = _binding()
    S["RoleBinding"].default(old)
    new = pb.RoleBinding()
    new.CopyFrom(old)
    new.role_ref.name = "edit"
    assert any("roleRef" in str(e) and "cannot change roleRef" in str(e)
               for e in S["RoleBinding"].validate_update(new, old))
    new.role_ref.name = "view"
    new.subjects.add(kind="User", name="bob", api_group=RBAC_GROUP)
    assert list(S["RoleBinding"].validate_update(new, old)) == []
