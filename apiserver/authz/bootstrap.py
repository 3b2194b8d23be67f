"""The bootstrap policy: the ClusterRoles and ClusterRoleBindings the apiserver creates at start if missing,
and brings up to date where they lack what this version grants (`reconciled`), as kube-apiserver does.

Kubernetes' plugin/pkg/auth/authorizer/rbac/bootstrappolicy, for the kinds kubelab serves: the user-facing
`cluster-admin`, `admin`, `edit`, `view` (written out flat: kubelab has no aggregation), the discovery and
self-review roles every authenticated user holds, the non-resource URL roles (`system:discovery`,
`system:public-info-viewer` for anyone, `system:monitoring` for Group system:monitoring), and the components' roles. kube-controller-manager runs
its controllers under per-controller ServiceAccounts in Kubernetes; kubelab's runs them under one identity,
so `system:kube-controller-manager` holds the union of those controllers' roles. Kubelets are authorized by
the Node authorizer (node.py), not by a binding, as in Kubernetes.
"""
from __future__ import annotations

from typing import Iterable

from kubelab.kinds import RBAC_GROUP
from kubelab.v1 import objects_pb2 as pb

CORE, APPS, POLICY, COORD, DISCOVERY = "", "apps", "policy", "coordination.k8s.io", "discovery.k8s.io"
READ = ("get", "list", "watch")
WRITE = ("create", "delete", "deletecollection", "patch", "update")
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"


def rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str] = (),
         names: Iterable[str] = (), urls: Iterable[str] = ()) -> pb.PolicyRule:
    return pb.PolicyRule(verbs=list(verbs), api_groups=list(groups), resources=list(resources),
                         resource_names=list(names), non_resource_urls=list(urls))


def url_rule(verbs: Iterable[str], urls: Iterable[str]) -> pb.PolicyRule:
    return pb.PolicyRule(verbs=list(verbs), non_resource_urls=list(urls))


# ---------------------------------------------------------------- user-facing roles
_VIEW = [
    rule(READ, [CORE], ["endpoints", "pods", "serviceaccounts", "services", "services/status"]),
    rule(READ, [CORE], ["events", "pods/log", "pods/status", "namespaces/status"]),
    rule(READ, [CORE], ["namespaces"]),
    rule(READ, [APPS], ["deployments", "deployments/scale", "deployments/status", "replicasets",
                        "replicasets/scale", "replicasets/status"]),
    rule(READ, [POLICY], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
    rule(READ, [DISCOVERY], ["endpointslices"]),     # read only: edit and admin write none, as in Kubernetes
]
_EDIT = [
    rule(["impersonate"], [CORE], ["serviceaccounts"]),
    rule(WRITE, [CORE], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
    rule(["create"], [CORE], ["pods/eviction"]),
    # no endpoints: Kubernetes 1.22 took their writes out of edit and admin (CVE-2021-25740)
    rule(WRITE, [CORE], ["serviceaccounts", "services", "services/proxy"]),
    rule(["create"], [CORE], ["serviceaccounts/token"]),
    rule(WRITE, [APPS], ["deployments", "deployments/scale", "deployments/rollback", "replicasets",
                         "replicasets/scale"]),
    rule(WRITE, [POLICY], ["poddisruptionbudgets"]),
    rule(READ, [CORE], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"]),
]
_ADMIN = [
    rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
    rule(WRITE + READ, [RBAC_GROUP], ["rolebindings", "roles"]),
]

_BASIC_USER = [
    rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
    rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
]
_DISCOVERY = [url_rule(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                 "/openapi/*", "/readyz", "/version", "/version/"])]
_PUBLIC_INFO = [url_rule(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])]
# Read access to the monitoring endpoints (the root path "/" is not among them), for Group system:monitoring.
_MONITORING = [url_rule(["get"], ["/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz", "/livez/*",
                                  "/readyz/*", "/healthz/*"])]

# ---------------------------------------------------------------- components
# Kubernetes' grant: the recorder (kubelab/events.py) creates an event and patches its repeats, never reads one.
_EVENTS = rule(["create", "patch", "update"], [CORE, "events.k8s.io"], ["events"])
_SCHEDULER = [
    _EVENTS,
    rule(["create"], [COORD], ["leases"]),
    rule(["get", "update"], [COORD], ["leases"], ["kube-scheduler"]),
    rule(READ, [CORE], ["nodes"]),
    rule(READ + ("delete",), [CORE], ["pods"]),
    rule(["create"], [CORE], ["bindings", "pods/binding"]),
    rule(["patch", "update"], [CORE], ["pods/status"]),
    rule(READ, [CORE], ["namespaces", "services", "endpoints"]),
    rule(READ, [APPS], ["replicasets"]),
    rule(READ, [POLICY], ["poddisruptionbudgets"]),
]
_CONTROLLER_MANAGER = [
    _EVENTS,
    rule(["create"], [COORD], ["leases"]),
    rule(["get", "update"], [COORD], ["leases"], ["kube-controller-manager"]),
    # the garbage collector (and the namespace controller's sweep) act on every kind
    rule(READ + ("patch", "update", "delete", "deletecollection"), ["*"], ["*"]),
    rule(["create"], [CORE], ["pods", "endpoints", "serviceaccounts"]),
    rule(["create"], [APPS], ["replicasets"]),
    rule(["create"], [DISCOVERY], ["endpointslices"]),
    rule(["create"], [CORE], ["pods/eviction"]),
    rule(["update"], [CORE], ["namespaces/finalize", "namespaces/status"]),
    rule(["update", "patch"], [CORE], ["nodes/status", "pods/status", "services/status"]),
    rule(["update"], [APPS], ["deployments/status", "replicasets/status"]),
    rule(["update"], [POLICY], ["poddisruptionbudgets/status"]),
]
_NODE_PROXIER = [
    rule(["list", "watch"], [CORE], ["endpoints", "services"]),
    rule(READ, [CORE], ["nodes"]),
    _EVENTS,
    rule(["list", "watch"], [DISCOVERY], ["endpointslices"]),
    # kubelab's own: when it began sending to endpoints, for `kubelab trace` (the ReportProxy call)
    rule(["create"], ["kubelab.io"], ["proxyreports"]),
]
_KUBE_DNS = [rule(["list", "watch"], [CORE], ["endpoints", "services"])]

CLUSTER_ROLES: dict[str, list[pb.PolicyRule]] = {
    "cluster-admin": [rule(["*"], ["*"], ["*"]), url_rule(["*"], ["*"])],
    "admin": _VIEW + _EDIT + _ADMIN,
    "edit": _VIEW + _EDIT,
    "view": _VIEW,
    "system:basic-user": _BASIC_USER,
    "system:discovery": _DISCOVERY,
    "system:public-info-viewer": _PUBLIC_INFO,
    "system:monitoring": _MONITORING,
    "system:kube-scheduler": _SCHEDULER,
    "system:kube-controller-manager": _CONTROLLER_MANAGER,
    "system:node-proxier": _NODE_PROXIER,
    "system:kube-dns": _KUBE_DNS,
}

# name -> (role, subjects as (kind, name, namespace))
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "cluster-admin": ("cluster-admin", [("Group", "system:masters", "")]),
    "system:basic-user": ("system:basic-user", [("Group", "system:authenticated", "")]),
    "system:discovery": ("system:discovery", [("Group", "system:authenticated", "")]),
    "system:public-info-viewer": ("system:public-info-viewer", [("Group", "system:authenticated", ""),
                                                                ("Group", "system:unauthenticated", "")]),
    "system:monitoring": ("system:monitoring", [("Group", "system:monitoring", "")]),
    "system:kube-scheduler": ("system:kube-scheduler", [("User", "system:kube-scheduler", "")]),
    "system:kube-controller-manager": ("system:kube-controller-manager",
                                       [("User", "system:kube-controller-manager", "")]),
    "system:node-proxier": ("system:node-proxier", [("User", "system:kube-proxy", "")]),
    "system:kube-dns": ("system:kube-dns", [("ServiceAccount", "kube-dns", "kube-system")]),
}


def _meta(md: pb.ObjectMeta, name: str) -> None:
    md.name = name
    md.labels[BOOTSTRAP_LABEL] = "rbac-defaults"
    md.annotations[AUTOUPDATE] = "true"


def cluster_roles() -> list[pb.ClusterRole]:
    out = []
    for name, rules in CLUSTER_ROLES.items():
        role = pb.ClusterRole(api_version=f"{RBAC_GROUP}/v1", kind="ClusterRole", rules=rules)
        _meta(role.metadata, name)
        out.append(role)
    return out


def cluster_role_bindings() -> list[pb.ClusterRoleBinding]:
    out = []
    for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items():
        b = pb.ClusterRoleBinding(api_version=f"{RBAC_GROUP}/v1", kind="ClusterRoleBinding",
                                  role_ref=pb.RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name=role))
        _meta(b.metadata, name)
        for kind, sname, ns in subjects:
            b.subjects.add(kind=kind, name=sname, namespace=ns, api_group="" if kind == "ServiceAccount"
                           else RBAC_GROUP)
        out.append(b)
    return out


def reconciled(current: pb.ClusterRole | pb.ClusterRoleBinding,
               wanted: pb.ClusterRole | pb.ClusterRoleBinding) -> pb.ClusterRole | pb.ClusterRoleBinding | None:
    """`current` (as stored) with what `wanted` (this version's bootstrap object) has and it lacks: missing
    rules of a role, missing subjects of a binding, the bootstrap labels and annotations; None when nothing is
    missing or when `current` opts out with `rbac.authorization.kubernetes.io/autoupdate: "false"`. What a
    user added stays, as kube-apiserver's reconciliation (pkg/registry/rbac/reconciliation) keeps it. A data
    directory from an older kubelab so gets the grants newer components need (a proxy's ReportProxy)."""
    if current.metadata.annotations.get(AUTOUPDATE) == "false":
        return None
    out = type(current)()
    out.CopyFrom(current)
    if isinstance(wanted, pb.ClusterRole):
        missing = [r for r in wanted.rules if r not in current.rules]
        out.rules.extend(missing)
    else:
        if current.role_ref != wanted.role_ref:
            return None                    # roleRef is immutable: kube-apiserver deletes and recreates; not here
        missing = [sub for sub in wanted.subjects if sub not in current.subjects]
        out.subjects.extend(missing)
    for key, value in (*wanted.metadata.labels.items(), *wanted.metadata.annotations.items()):
        md = out.metadata.labels if key in wanted.metadata.labels else out.metadata.annotations
        md.setdefault(key, value)
    return out if out != current else None


__all__ = ["cluster_roles", "cluster_role_bindings", "reconciled", "CLUSTER_ROLES", "CLUSTER_ROLE_BINDINGS"]
