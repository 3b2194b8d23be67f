"""RBAC `decide` per identity, over the bootstrap policy and a few bindings (pure: no server)."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver.auth import ADMIN, UserInfo, parse_token_file, with_authenticated
from apiserver.authz import bootstrap, forbidden_message, rbac
from apiserver.authz.rbac import Attributes, Rule
from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb


def _user(name: str, *groups: str) -> UserInfo:
    return with_authenticated(UserInfo(name, "", groups))


VIEW = _user("view")
EDIT = _user("edit")
SCHEDULER = _user("system:kube-scheduler")
CM = _user("system:kube-controller-manager")
PROXY = _user("system:kube-proxy")
STRANGER = _user("stranger")
NS_ADMIN = _user("team-admin")


def _binding(kind: str, name: str, role_kind: str, role: str, subjects: list[tuple[str, str]],
             namespace: str = "") -> Any:
    b = (pb.RoleBinding if kind == "RoleBinding" else pb.ClusterRoleBinding)(
        role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind=role_kind, name=role))
    b.metadata.name, b.metadata.namespace = name, namespace
    for sk, sn in subjects:
        b.subjects.add(kind=sk, name=sn, api_group=RBAC_GROUP)
    return b


def _policy() -> tuple[dict[rbac.RoleKey, Any], list[Any]]:
    roles: dict[rbac.RoleKey, Any] = {("ClusterRole", "", r.metadata.name): r for r in bootstrap.cluster_roles()}
    bindings: list[Any] = list(bootstrap.cluster_role_bindings())
    bindings += [_binding("ClusterRoleBinding", "view", "ClusterRole", "view", [("User", "view")]),
                 _binding("RoleBinding", "edit", "ClusterRole", "edit", [("User", "edit")], "default"),
                 _binding("RoleBinding", "team", "ClusterRole", "admin", [("User", "team-admin")], "team"),
                 _binding("RoleBinding", "dangling", "Role", "gone", [("User", "stranger")], "default")]
    return roles, bindings


def pod(verb: str, ns: str = "default", name: str = "", sub: str = "") -> Attributes:
    return Attributes(verb, "", "pods", sub, ns, name)


def deploy(verb: str, ns: str = "default") -> Attributes:
    return Attributes(verb, "apps", "deployments", "", ns)


CASES = [
    # admin (system:masters): everything
    (ADMIN, deploy("delete"), True), (ADMIN, Attributes("create", RBAC_GROUP, "clusterroles"), True),
    (ADMIN, Attributes("get", path="/anything"), True),
    # view: reads, no writes, no RBAC objects
    (VIEW, pod("list"), True), (VIEW, pod("get", "kube-system", "x"), True), (VIEW, deploy("watch"), True),
    (VIEW, pod("create"), False), (VIEW, deploy("delete"), False), (VIEW, pod("create", sub="exec"), False),
    (VIEW, Attributes("list", RBAC_GROUP, "roles", "", "default"), False),
    (VIEW, Attributes("get", path="/version"), True),
    # edit (a RoleBinding in default only)
    (EDIT, pod("create"), True), (EDIT, deploy("update"), True), (EDIT, pod("create", sub="exec"), True),
    (EDIT, pod("create", "kube-system"), False), (EDIT, Attributes("create", RBAC_GROUP, "roles", "", "default"),
                                                  False),
    # ...Services but not Endpoints or EndpointSlices (Kubernetes 1.22 took endpoints writes out of edit and
    # admin, CVE-2021-25740: a writer could point a Service's traffic anywhere); reading them stays
    (EDIT, Attributes("create", "", "services", "", "default"), True),
    (EDIT, Attributes("update", "", "endpoints", "", "default", "web"), False),
    (EDIT, Attributes("create", "discovery.k8s.io", "endpointslices", "", "default"), False),
    (EDIT, Attributes("get", "", "endpoints", "", "default", "web"), True),
    # admin of one namespace: RBAC objects there, not elsewhere
    (NS_ADMIN, Attributes("create", RBAC_GROUP, "rolebindings", "", "team"), True),
    (NS_ADMIN, Attributes("create", RBAC_GROUP, "rolebindings", "", "default"), False),
    # the scheduler: binds pods, reads nodes, its own lease; no deployments writes
    (SCHEDULER, pod("create", name="p", sub="binding"), True), (SCHEDULER, Attributes("watch", "", "nodes"), True),
    (SCHEDULER, Attributes("update", "coordination.k8s.io", "leases", "", "kube-system", "kube-scheduler"), True),
    (SCHEDULER, Attributes("update", "coordination.k8s.io", "leases", "", "kube-system", "other"), False),
    (SCHEDULER, deploy("delete"), False), (SCHEDULER, pod("create"), False),
    (SCHEDULER, Attributes("patch", "", "events", "", "default", "e"), True),     # a repeated event is counted
    (SCHEDULER, Attributes("get", "", "events", "", "default", "e"), False),      # ...without reading events
    # the controller manager: pods, replicasets, statuses; not RBAC creation
    (CM, pod("create"), True), (CM, Attributes("create", "apps", "replicasets", "", "default"), True),
    (CM, Attributes("update", "apps", "deployments", "status", "default", "d"), True),
    (CM, Attributes("create", RBAC_GROUP, "clusterrolebindings"), False),
    # kube-proxy: services and endpoints, read-only
    (PROXY, Attributes("watch", "", "endpoints"), True), (PROXY, Attributes("create", "", "services", "", "x"),
                                                          False),
    # a stranger: only self-reviews and discovery
    (STRANGER, pod("get", name="x"), False), (STRANGER, Attributes("create", "authorization.k8s.io",
                                                                   "selfsubjectaccessreviews"), True),
]


@pytest.mark.parametrize("user,attrs,allowed", [pytest.param(u, a, ok, id=f"{u.name}-{a.verb}-{a.resource or a.path}"
                                                             f"{'/' + a.subresource if a.subresource else ''}"
                                                             f"-{a.namespace or 'cluster'}-{a.name}-{ok}")
                                                for u, a, ok in CASES])
def test_decide_per_identity(user: UserInfo, attrs: Attributes, allowed: bool) -> None:
    roles, bindings = _policy()
    assert rbac.decide(user, attrs, roles, bindings)[0] is allowed


def test_allowed_says_by_which_binding_and_refused_names_missing_roles() -> None:
    roles, bindings = _policy()
    ok, reason = rbac.decide(VIEW, pod("list"), roles, bindings)
    assert ok and reason == 'RBAC: allowed by ClusterRoleBinding "view" of ClusterRole "view" to User "view"'
    ok, reason = rbac.decide(STRANGER, pod("list"), roles, bindings)
    assert not ok and reason == f'RBAC: role.{RBAC_GROUP} "gone" not found'


def test_forbidden_message_is_kubernetes_words() -> None:
    assert forbidden_message(VIEW, pod("create")) == \
        'pods is forbidden: User "view" cannot create resource "pods" in API group "" in the namespace "default"'
    assert forbidden_message(VIEW, Attributes("delete", "apps", "deployments", "", "", "web")) == \
        'deployments.apps "web" is forbidden: User "view" cannot delete resource "deployments" in API group ' \
        '"apps" at the cluster scope'
    assert forbidden_message(STRANGER, Attributes("get", path="/metrics")) == \
        'forbidden: User "stranger" cannot get path "/metrics"'


def test_service_account_subjects_and_resource_names() -> None:
    role = pb.Role(rules=[pb.PolicyRule(verbs=["get"], api_groups=[""], resources=["pods"], resource_names=["a"])])
    b = pb.RoleBinding(role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="Role", name="r"))
    b.metadata.name, b.metadata.namespace = "rb", "ns"
    b.subjects.add(kind="ServiceAccount", name="robot")          # namespace: the binding's
    sa = _user("system:serviceaccount:ns:robot")
    roles = {("Role", "ns", "r"): role}
    assert rbac.decide(sa, pod("get", "ns", "a"), roles, [b])[0]
    assert not rbac.decide(sa, pod("get", "ns", "b"), roles, [b])[0]
    assert not rbac.decide(_user("system:serviceaccount:other:robot"), pod("get", "ns", "a"), roles, [b])[0]
    assert not rbac.decide(sa, pod("get", "other", "a"), roles, [b])[0]


@pytest.mark.parametrize("owner,servant,ok", [
    pytest.param([Rule(("get", "list"), ("",), ("pods",))], [Rule(("get",), ("",), ("pods",))], True, id="subset"),
    pytest.param([Rule(("get",), ("",), ("pods",))], [Rule(("create",), ("",), ("pods",))], False, id="other-verb"),
    pytest.param([Rule(("*",), ("*",), ("*",))], [Rule(("escalate",), ("x",), ("y/z",))], True, id="star"),
    pytest.param([Rule(("get",), ("",), ("pods",), ("a",))], [Rule(("get",), ("",), ("pods",))], False,
                 id="named-owner-does-not-cover-all"),
    pytest.param([Rule(("get",), ("",), ("*/status",))], [Rule(("get",), ("",), ("pods/status",))], True,
                 id="subresource-star"),
    pytest.param([Rule(("get",), non_resource_urls=("/api/*",))], [Rule(("get",), non_resource_urls=("/api/v1",))],
                 True, id="url-prefix"),
])
def test_covers(owner: list[Rule], servant: list[Rule], ok: bool) -> None:
    assert rbac.covers(owner, servant)[0] is ok


def test_token_file_format() -> None:
    users = parse_token_file('t1,alice,1,"g1,g2"\nt2,bob,2\n\n,empty,3\nt2,bob2,4\n')
    assert users == {"t1": UserInfo("alice", "1", ("g1", "g2")), "t2": UserInfo("bob2", "4", ())}
    with pytest.raises(ValueError, match="at least 3 columns"):
        parse_token_file("t1,alice\n")
