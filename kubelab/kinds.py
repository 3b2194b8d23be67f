"""The registry of API kinds: names, apiVersions, short names, proto types.

Sits under everything: the apiserver, the client and the CLI all look kinds
up here, so a kind is described exactly once.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from kubelab.v1 import objects_pb2 as pb


@dataclass(frozen=True)
class KindInfo:
    kind: str                      # "Deployment"
    group: str                     # "apps" ("" for core)
    version: str                   # "v1"
    plural: str                    # "deployments"
    singular: str                  # "deployment"
    short_names: tuple[str, ...]
    namespaced: bool
    message: type[Message]
    oneof_field: str               # field name in pb.Object
    accepted_versions: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployment.apps`, as kubectl prints it in `kind/name` output."""
        return f"{self.singular}.{self.group}" if self.group else self.singular

    @property
    def has_status(self) -> bool:
        return "status" in self.message.DESCRIPTOR.fields_by_name


RBAC_GROUP = "rbac.authorization.k8s.io"

KINDS: tuple[KindInfo, ...] = (
    KindInfo("Namespace", "", "v1", "namespaces", "namespace", ("ns",), False, pb.Namespace, "namespace"),
    KindInfo("Node", "", "v1", "nodes", "node", ("no",), False, pb.Node, "node"),
    KindInfo("Pod", "", "v1", "pods", "pod", ("po",), True, pb.Pod, "pod"),
    KindInfo("ReplicaSet", "apps", "v1", "replicasets", "replicaset", ("rs",), True, pb.ReplicaSet, "replica_set"),
    KindInfo("Deployment", "apps", "v1", "deployments", "deployment", ("deploy",), True, pb.Deployment, "deployment"),
    KindInfo("Service", "", "v1", "services", "service", ("svc",), True, pb.Service, "service"),
    KindInfo("Endpoints", "", "v1", "endpoints", "endpoints", ("ep",), True, pb.Endpoints, "endpoints"),
    KindInfo("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", "endpointslice", (), True,
             pb.EndpointSlice, "endpoint_slice"),
    KindInfo("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", ("pdb",),
             True, pb.PodDisruptionBudget, "pod_disruption_budget", ("policy/v1beta1",)),
    KindInfo("Event", "", "v1", "events", "event", ("ev",), True, pb.Event, "event"),
    KindInfo("Lease", "coordination.k8s.io", "v1", "leases", "lease", (), True, pb.Lease, "lease"),
    KindInfo("ServiceAccount", "", "v1", "serviceaccounts", "serviceaccount", ("sa",), True, pb.ServiceAccount,
             "service_account"),
    KindInfo("Role", RBAC_GROUP, "v1", "roles", "role", (), True, pb.Role, "role"),
    KindInfo("ClusterRole", RBAC_GROUP, "v1", "clusterroles", "clusterrole", (), False, pb.ClusterRole,
             "cluster_role"),
    KindInfo("RoleBinding", RBAC_GROUP, "v1", "rolebindings", "rolebinding", (), True, pb.RoleBinding,
             "role_binding"),
    KindInfo("ClusterRoleBinding", RBAC_GROUP, "v1", "clusterrolebindings", "clusterrolebinding", (), False,
             pb.ClusterRoleBinding, "cluster_role_binding"),
)

# The `all` category (`kubectl get all`): the kinds of ours Kubernetes puts in it.
CATEGORY_ALL: tuple[str, ...] = ("pods", "services", "deployments", "replicasets")

# What the API serves for every kind (as discovery and `api-resources -o wide` list them).
VERBS: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")

BY_KIND: dict[str, KindInfo] = {k.kind: k for k in KINDS}
BY_ONEOF: dict[str, KindInfo] = {k.oneof_field: k for k in KINDS}
BY_MESSAGE: dict[str, KindInfo] = {k.message.DESCRIPTOR.full_name: k for k in KINDS}


class UnknownKind(ValueError):
    pass


def _aliases(info: KindInfo) -> set[str]:
    names = {info.kind.lower(), info.plural, info.singular, *info.short_names}
    if info.group:
        names |= {f"{n}.{info.group}" for n in (info.plural, info.singular)}
    return names


_ALIASES: dict[str, KindInfo] = {alias: info for info in KINDS for alias in _aliases(info)}


def lookup(name: str) -> KindInfo:
    """Resolve what a user typed (`po`, `pods`, `deployment.apps`, `Pod`)."""
    info = _ALIASES.get(name.lower()) or BY_KIND.get(name)
    if info is None:
        raise UnknownKind(f'the server doesn\'t have a resource type "{name}"')
    return info


def for_manifest(api_version: str, kind: str) -> KindInfo:
    """Resolve a manifest's apiVersion/kind, checking the version is served."""
    info = BY_KIND.get(kind)
    if info is None:
        raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"')
    if api_version != info.api_version and api_version not in info.accepted_versions:
        raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}" '
                          f'(kubelab serves {kind} as {info.api_version})')
    return info


def info_of(obj: Message) -> KindInfo:
    return BY_MESSAGE[obj.DESCRIPTOR.full_name]


def wrap(obj: Message) -> pb.Object:
    """Put a typed object into the pb.Object envelope."""
    env = pb.Object()
    getattr(env, info_of(obj).oneof_field).CopyFrom(obj)
    return env


def unwrap(env: pb.Object) -> Any:
    which = env.WhichOneof("kind")
    if which is None:
        raise ValueError("empty object")
    return getattr(env, which)


def key_of(obj: Any) -> str:
    """`namespace/name` (or `name` for cluster-scoped kinds): a work-queue key."""
    md = obj.metadata
    return f"{md.namespace}/{md.name}" if md.namespace else md.name
