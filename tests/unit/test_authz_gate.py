"""The gate (authentication → impersonation → authorization → escalation) as the HTTP API calls it: headers
in any case, and the user back or Unauthorized / Forbidden."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiserver.auth import ADMIN, Authenticator, UserInfo
from apiserver.authz import Authorizer, bootstrap
from apiserver.authz.gate import Gate
from apiserver.authz.rbac import Attributes
from kubelab import errors
from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb


def _gate(extra: list[Any] | None = None) -> Gate:
    b = pb.RoleBinding(role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="admin"))
    b.metadata.name, b.metadata.namespace = "team", "team"
    b.subjects.add(kind="User", name="alice", api_group=RBAC_GROUP)
    role = pb.Role(rules=[pb.PolicyRule(verbs=["get"], api_groups=[""], resources=["pods"])])
    role.metadata.name, role.metadata.namespace = "reader", "team"
    objs: dict[str, list[Any]] = {"ClusterRole": bootstrap.cluster_roles(),
                                  "ClusterRoleBinding": bootstrap.cluster_role_bindings(),
                                  "RoleBinding": [b], "Role": [role, *(extra or [])]}

    def get(kind: str, ns: str, name: str) -> Any:
        return next((o for o in objs.get(kind, []) if (o.metadata.namespace, o.metadata.name) == (ns, name)), None)
    authn = Authenticator("shared", {"a": UserInfo("alice", "1"), "s": UserInfo("stranger", "2")})
    return Gate(authn, Authorizer(lambda kind: objs[kind], get))


PODS = Attributes("list", "", "pods", "", "team")


def test_headers_in_any_case_authenticate() -> None:
    g = _gate()
    assert g.admit([("Authorization", "Bearer a")], PODS) == UserInfo("alice", "1", ("system:authenticated",))
    assert g.admit([("authorization", "Bearer shared")], PODS) == ADMIN
    for headers in ([], [("Authorization", "Bearer nope")], [("Authorization", "Basic a")]):
        with pytest.raises(errors.Unauthenticated):
            g.admit(headers, PODS)


def test_refusal_and_impersonation() -> None:
    g = _gate()
    with pytest.raises(errors.Forbidden, match='pods is forbidden: User "stranger" cannot list resource "pods" in '
                                               'API group "" in the namespace "team"'):
        g.admit([("Authorization", "Bearer s")], PODS)
    as_alice = [("Authorization", "Bearer shared"), ("Impersonate-User", "alice")]
    assert g.admit(as_alice, PODS).name == "alice"
    with pytest.raises(errors.Forbidden, match='User "alice" cannot list'):
        g.admit(as_alice, Attributes("list", "", "pods", "", "default"))
    with pytest.raises(errors.Forbidden, match='User "alice" cannot impersonate resource "users"'):
        g.admit([("Authorization", "Bearer a"), ("Impersonate-User", "bob")], PODS)


def test_escalation_through_an_object_or_a_patch() -> None:
    g = _gate()
    alice = [("authorization", "Bearer a")]
    create_role = Attributes("create", RBAC_GROUP, "roles", "", "team")
    ok = pb.Role(rules=[pb.PolicyRule(verbs=["get"], api_groups=[""], resources=["pods"])])
    ok.metadata.name, ok.metadata.namespace = "r", "team"
    g.admit(alice, create_role, ok)
    wide = pb.Role(rules=[pb.PolicyRule(verbs=["*"], api_groups=["*"], resources=["*"])])
    wide.metadata.name, wide.metadata.namespace = "r", "team"
    with pytest.raises(errors.Forbidden, match='roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" '
                                               r'\(groups=\["system:authenticated"\]\) is attempting to grant'):
        g.admit(alice, create_role, wide)
    patch = json.dumps({"rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]}).encode()
    with pytest.raises(errors.Forbidden, match="not currently held"):
        g.admit(alice, Attributes("patch", RBAC_GROUP, "roles", "", "team", "reader"), patch=("merge", patch))
    g.admit(alice, Attributes("patch", RBAC_GROUP, "roles", "", "team", "reader"),
            patch=("merge", b'{"metadata":{"labels":{"a":"b"}}}'))
    root = pb.RoleBinding(role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="cluster-admin"))
    root.metadata.name, root.metadata.namespace = "root", "team"
    with pytest.raises(errors.Forbidden, match="not currently held"):
        g.admit(alice, Attributes("create", RBAC_GROUP, "rolebindings", "", "team"), root)
    missing = pb.RoleBinding(role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="Role", name="nope"))
    missing.metadata.name, missing.metadata.namespace = "m", "team"
    with pytest.raises(errors.Forbidden, match='role.rbac.authorization.k8s.io "nope" not found'):
        g.admit(alice, Attributes("create", RBAC_GROUP, "rolebindings", "", "team"), missing)
    g.admit([("authorization", "Bearer shared")], Attributes("create", RBAC_GROUP, "rolebindings", "", "team"),
            missing)                                                  # system:masters may bind anything


def test_always_allow_still_authenticates() -> None:
    g = Gate(Authenticator("shared"), None)
    assert g.admit([("authorization", "Bearer shared")], PODS) == ADMIN
    with pytest.raises(errors.Unauthenticated):
        g.admit([], PODS)
    assert Gate(Authenticator(), None).admit([], PODS) == ADMIN          # no credentials configured: the lab's


def test_impersonating_a_service_account_and_groups() -> None:
    g = _gate()
    sa = [("authorization", "Bearer a"), ("impersonate-user", "system:serviceaccount:team:robot")]
    who = g.user_of(sa)         # admin of team may impersonate its ServiceAccounts (edit's rule)
    assert who == UserInfo("system:serviceaccount:team:robot", "",
                           ("system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"))
    with pytest.raises(errors.Forbidden, match='User "alice" cannot impersonate resource "serviceaccounts"'):
        g.user_of([("authorization", "Bearer a"), ("impersonate-user", "system:serviceaccount:default:robot")])
    with pytest.raises(errors.Forbidden, match='groups "system:masters" is forbidden'):
        g.user_of([*sa, ("impersonate-group", "system:masters")])
    with pytest.raises(errors.Forbidden, match="without impersonating a user"):
        g.user_of([("authorization", "Bearer shared"), ("impersonate-group", "x")])


@pytest.mark.parametrize("kind, name, namespace, allowed", [
    pytest.param("node", "node1", "", True, id="its own Node"),
    pytest.param("node", "node2", "", False, id="another Node"),
    pytest.param("lease", "node1", "kube-node-lease", True, id="its own Lease"),
    pytest.param("lease", "node2", "kube-node-lease", False, id="another node's Lease"),
])
def test_a_kubelet_creates_only_its_own_node_and_lease(kind: str, name: str, namespace: str, allowed: bool) -> None:
    """NodeRestriction judges a create by the name in its body (the gRPC create names no object otherwise)."""
    from kubelab.v1 import api_pb2 as api
    kubelet = UserInfo("system:node:node1", "", ("system:nodes", "system:authenticated"))
    req = api.CreateRequest()
    obj = getattr(req.object, kind)
    obj.metadata.name, obj.metadata.namespace = name, namespace
    gate = _gate()
    if allowed:
        gate.admit_as(kubelet, "create", req)
    else:
        with pytest.raises(errors.Forbidden):
            gate.admit_as(kubelet, "create", req)
