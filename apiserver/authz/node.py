"""The Node authorizer and NodeRestriction, for kubelets (`system:node:<name>` in group `system:nodes`).

Kubernetes splits this in two: the Node authorizer allows a kubelet the system:node rules (read what its
pods need, write nodes, pod status, events, leases), and the NodeRestriction admission plugin then refuses
a write to anything not its own (another Node, another node's Lease, the status of a pod not bound to it).
Here both are one pure function, `decide`, with three answers: ALLOW, DENY (NodeRestriction: no other
authorizer may overrule it) and NO_OPINION (not a node, or a request the node rules do not cover: RBAC
decides, so an admin may still bind a node to more).
"""
from __future__ import annotations

import enum
from typing import Callable

from ..auth import UserInfo
from .rbac import Attributes

NODES_GROUP = "system:nodes"
NODE_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete")


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NO_OPINION = "no-opinion"


# pod_node(namespace, name) -> the node a pod is bound to ("" unbound, None if there is no such pod).
PodNode = Callable[[str, str], "str | None"]
# sa_on_node(node, namespace, name) -> whether a pod bound to the node runs as that ServiceAccount.
ServiceAccountOnNode = Callable[[str, str, str], bool]


def node_name(user: UserInfo) -> str | None:
    """The node a user is the kubelet of, or None (Kubernetes' NodeIdentifier)."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_PREFIX):
        return None
    return user.name[len(NODE_PREFIX):] or None


def _core(a: Attributes, *resources: str) -> bool:
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    return a.api_group == "" and combined in resources


def decide(user: UserInfo, a: Attributes, pod_node: PodNode,
           sa_on_node: ServiceAccountOnNode | None = None) -> tuple[Decision, str]:
    node = node_name(user)
    if node is None or not a.is_resource_request:
        return Decision.NO_OPINION, ""
    own = f'node "{node}"'
    # What a kubelet reads: nodes, its pods, the Services (service links, DNS), Endpoints.
    if a.verb in READ and _core(a, "nodes", "pods", "services", "endpoints"):
        return Decision.ALLOW, ""
    if _core(a, "nodes", "nodes/status") and a.verb in WRITE:
        if a.name != node:                 # a create names the node in its object: the caller passes it
            return Decision.DENY, f"{own} is not allowed to modify node \"{a.name}\""
        return Decision.ALLOW, ""
    if _core(a, "pods/status") and a.verb in ("update", "patch"):
        bound = pod_node(a.namespace, a.name)
        if bound != node:
            return Decision.DENY, f"{own} can only update pod status for pods with spec.nodeName set to itself"
        return Decision.ALLOW, ""
    if _core(a, "pods") and a.verb == "delete":
        bound = pod_node(a.namespace, a.name)
        if bound is not None and bound != node:
            return Decision.DENY, f"{own} can only delete pods with spec.nodeName set to itself"
        return Decision.ALLOW, ""
    if _core(a, "pods") and a.verb in ("create", "update", "patch"):
        # Mirror pods are the only pods a kubelet may create in Kubernetes; kubelab has none.
        return Decision.DENY, f"{own} can only create mirror pods"
    if _core(a, "serviceaccounts/token") and a.verb == "create":
        # The Node authorizer's graph: a token only for the ServiceAccount of a pod bound to this node (which
        # pod, NodeRestriction checks on the request's boundObjectRef: apiserver/server.py's CreateToken).
        if sa_on_node is None or not sa_on_node(node, a.namespace, a.name):
            return Decision.DENY, f"no relationship found between node '{node}' and this object"
        return Decision.ALLOW, ""
    if _core(a, "events") and a.verb in ("create", "update", "patch"):
        return Decision.ALLOW, ""
    if a.api_group == "coordination.k8s.io" and a.resource == "leases" and not a.subresource:
        if a.namespace != NODE_LEASE_NAMESPACE or (a.verb not in READ and a.name != node) \
                or (a.verb in ("list", "watch")):
            return Decision.DENY, f"{own} can only access leases in the {NODE_LEASE_NAMESPACE} namespace " \
                                  f"named after itself"
        return Decision.ALLOW, ""
    return Decision.NO_OPINION, ""




def restrict_token(user: UserInfo, bound_kind: str, bound_pod_node: "str | None") -> str:
    """NodeRestriction on a kubelet's TokenRequest: why it is refused ("" when it is not), given the
    boundObjectRef's kind and the node of the pod it names (None: no such pod)."""
    node = node_name(user)
    if node is None:
        return ""
    if not bound_kind:
        return "node requested token not bound to a pod"
    if bound_kind != "Pod":
        return f"node requested token bound to a {bound_kind}"
    if bound_pod_node is not None and bound_pod_node != node:
        return "node requested token bound to a pod scheduled on a different node"
    return ""


__all__ = ["Decision", "decide", "node_name", "restrict_token", "NODES_GROUP", "NODE_PREFIX"]
