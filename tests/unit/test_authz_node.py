"""The Node authorizer and NodeRestriction (pure), and the whole chain for a kubelet (Node, then RBAC)."""
from __future__ import annotations

import pytest

from apiserver.auth import Authenticator, UserInfo, impersonate
from apiserver.authz import Authorizer, bootstrap, node
from apiserver.authz.rbac import Attributes
from kubelab import errors

KUBELET = UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))
PODS = {("default", "mine"): "n1", ("default", "theirs"): "n2", ("default", "pending"): ""}


def pod_node(ns: str, name: str) -> str | None:
    return PODS.get((ns, name))


A, D, N = node.Decision.ALLOW, node.Decision.DENY, node.Decision.NO_OPINION


@pytest.mark.parametrize("attrs,want", [
    pytest.param(Attributes("watch", "", "pods", "", ""), A, id="reads-pods"),
    pytest.param(Attributes("get", "", "services", "", "default", "s"), A, id="reads-services"),
    pytest.param(Attributes("update", "", "nodes", "status", "", "n1"), A, id="own-node-status"),
    pytest.param(Attributes("create", "", "nodes", "", "", "n1"), A, id="registers-itself"),
    pytest.param(Attributes("patch", "", "nodes", "status", "", "n2"), D, id="other-node-status"),
    pytest.param(Attributes("delete", "", "nodes", "", "", "n2"), D, id="other-node-delete"),
    pytest.param(Attributes("update", "", "pods", "status", "default", "mine"), A, id="own-pod-status"),
    pytest.param(Attributes("update", "", "pods", "status", "default", "theirs"), D, id="other-pod-status"),
    pytest.param(Attributes("patch", "", "pods", "status", "default", "pending"), D, id="unbound-pod-status"),
    pytest.param(Attributes("delete", "", "pods", "", "default", "mine"), A, id="deletes-own-pod"),
    pytest.param(Attributes("delete", "", "pods", "", "default", "theirs"), D, id="not-other-pods"),
    pytest.param(Attributes("create", "", "pods", "", "default"), D, id="no-pod-creation"),
    pytest.param(Attributes("create", "", "events", "", "default"), A, id="events"),
    pytest.param(Attributes("patch", "", "events", "", "default", "e"), A, id="events-repeat-counted"),
    pytest.param(Attributes("get", "", "events", "", "default", "e"), N, id="not-reading-events"),
    pytest.param(Attributes("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), A,
                 id="own-lease"),
    pytest.param(Attributes("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n2"), D,
                 id="other-lease"),
    pytest.param(Attributes("delete", "apps", "deployments", "", "default", "web"), N, id="deployments-rbac"),
    pytest.param(Attributes("get", path="/version"), N, id="non-resource-rbac"),
])
def test_node_decide(attrs: Attributes, want: node.Decision) -> None:
    assert node.decide(KUBELET, attrs, pod_node)[0] is want


def test_not_a_node_has_no_opinion() -> None:
    for user in (UserInfo("system:node:n1"), UserInfo("bob", "", ("system:nodes",))):
        assert node.decide(user, Attributes("update", "", "nodes", "status", "", "n1"), pod_node)[0] is N


def _authorizer() -> Authorizer:
    objs = {"ClusterRole": bootstrap.cluster_roles(), "ClusterRoleBinding": bootstrap.cluster_role_bindings(),
            "RoleBinding": [], "Role": []}

    def get(kind: str, ns: str, name: str) -> object:
        if kind == "Pod":
            bound = PODS.get((ns, name))
            if bound is None:
                return None
            from kubelab.v1 import objects_pb2 as pb
            p = pb.Pod()
            p.spec.node_name = bound
            return p
        return next((o for o in objs.get(kind, []) if o.metadata.name == name and o.metadata.namespace == ns), None)
    return Authorizer(lambda kind: objs[kind], get)


def test_a_kubelet_may_not_delete_deployments_nor_write_another_nodes_pod_status() -> None:
    authz = _authorizer()
    with pytest.raises(errors.Forbidden, match='deployments.apps "web" is forbidden: User "system:node:n1" cannot '
                                               'delete resource "deployments" in API group "apps" in the namespace'):
        authz.authorize(KUBELET, Attributes("delete", "apps", "deployments", "", "default", "web"))
    with pytest.raises(errors.Forbidden, match='can only update pod status for pods with spec.nodeName'):
        authz.authorize(KUBELET, Attributes("update", "", "pods", "status", "default", "theirs"))
    authz.authorize(KUBELET, Attributes("update", "", "pods", "status", "default", "mine"))
    authz.authorize(KUBELET, Attributes("get", path="/version"))          # RBAC: public info


def test_impersonation_needs_the_impersonate_verb() -> None:
    authz = _authorizer()

    def may(user: UserInfo, resource: str, name: str, ns: str) -> None:
        authz.authorize(user, Attributes("impersonate", "", resource, "", ns, name))
    admin = Authenticator("secret").authenticate("secret")
    assert admin is not None
    assert impersonate(admin, "view", [], may) == UserInfo("view", "", ("system:authenticated",))
    with pytest.raises(errors.Forbidden, match='users "view" is forbidden: User "system:node:n1" cannot impersonate'):
        impersonate(KUBELET, "view", [], may)


def test_rbac_only_mode_leaves_kubelets_to_rbac() -> None:
    authz = _authorizer()
    authz.node_authorizer = False
    with pytest.raises(errors.Forbidden):
        authz.authorize(KUBELET, Attributes("update", "", "pods", "status", "default", "mine"))
