"""Authorization: may this user do this? Node authorizer, then RBAC, as `--authorization-mode=Node,RBAC`.

Sits between authentication (apiserver/auth.py) and the registry: every front end maps a request to
`Attributes` (the gRPC one in grpc_attributes.py) and calls `Authorizer.authorize(user, attrs)`, which
raises Forbidden in kube-apiserver's words. The decisions are pure functions (rbac.py, node.py); this
module only feeds them Roles and bindings from the watch cache (no etcd read per request), and checks
escalation (a Role or binding may grant only what its author holds, unless they may `escalate`/`bind`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from kubelab import errors, kinds, patch as patching
from kubelab import manifests

from ..auth import UserInfo
from . import node, rbac
from .rbac import Attributes

# objects(kind) -> the cached objects of a kind (never changed by the caller).
Objects = Callable[[str], Iterable[Any]]
# get(kind, namespace, name) -> the cached object or None.
Get = Callable[[str, str, str], Any]


def qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def forbidden_message(user: UserInfo, a: Attributes, reason: str = "") -> str:
    """kube-apiserver's responsewriters.forbiddenMessage, with the resource and name in front as its
    Forbidden status says it: `pods "x" is forbidden: User "bob" cannot get resource "pods" in API group ""
    in the namespace "default"`."""
    if not a.is_resource_request:
        msg = f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"'
    else:
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        head = qualified(a.resource, a.api_group) + (f' "{a.name}"' if a.name else "")
        msg = (f'{head} is forbidden: User "{user.name}" cannot {a.verb} resource "{resource}" in API group '
               f'"{a.api_group}" {scope}')
    return msg + (f": {reason}" if reason else "")


@dataclass(frozen=True)
class _Compiled:
    rules: tuple[rbac.Rule, ...]


class _Roles:
    """Roles and ClusterRoles by (kind, namespace, name), read from the cache when asked. Their rules are
    kept as tuples per resourceVersion: matching on protobuf's repeated fields costs ~10 µs a rule."""

    def __init__(self, get: Get) -> None:
        self._get = get
        self._compiled: dict[rbac.RoleKey, tuple[str, _Compiled]] = {}

    def get(self, key: rbac.RoleKey, default: Any = None) -> Any:
        kind, ns, name = key
        if kind not in ("Role", "ClusterRole"):
            return default
        found = self._get(kind, ns, name)
        if found is None:
            self._compiled.pop(key, None)
            return default
        rv = found.metadata.resource_version
        hit = self._compiled.get(key)
        if hit is None or hit[0] != rv or not rv:
            hit = self._compiled[key] = (rv, _Compiled(tuple(rbac.Rule.of(r) for r in found.rules)))
        return hit[1]


class Authorizer:
    def __init__(self, objects: Objects, get: Get, node_authorizer: bool = True) -> None:
        self._objects = objects
        self.node_authorizer = node_authorizer
        self._get = get
        self.roles = _Roles(get)
        self._binding_cache: dict[str, dict[tuple[str, str], tuple[str, rbac.Binding]]] = {}

    def _bindings(self, namespace: str) -> Iterable[rbac.Binding]:
        yield from self._compiled("ClusterRoleBinding")
        if namespace:
            for b in self._compiled("RoleBinding"):
                if b.namespace == namespace:
                    yield b

    def _compiled(self, kind: str) -> Iterable[rbac.Binding]:
        """The cached bindings of `kind`, each compiled once per resourceVersion."""
        seen = self._binding_cache.setdefault(kind, {})
        for obj in self._objects(kind):
            key = (obj.metadata.namespace, obj.metadata.name)
            rv = obj.metadata.resource_version
            hit = seen.get(key)
            if hit is None or hit[0] != rv or not rv:
                hit = seen[key] = (rv, rbac.Binding.of(obj))
            yield hit[1]
        if len(seen) > 10000:
            seen.clear()          # deleted bindings linger here: forget them all now and then

    def _pod_node(self, namespace: str, name: str) -> str | None:
        pod = self._get("Pod", namespace, name)
        return None if pod is None else pod.spec.node_name

    def _sa_on_node(self, node_name: str, namespace: str, name: str) -> bool:
        return any(p.spec.node_name == node_name and p.metadata.namespace == namespace
                   and (p.spec.service_account_name or "default") == name for p in self._objects("Pod"))

    def decide(self, user: UserInfo, a: Attributes) -> tuple[bool, str]:
        verdict, reason = node.decide(user, a, self._pod_node, self._sa_on_node) if self.node_authorizer \
            else (node.Decision.NO_OPINION, "")
        if verdict is not node.Decision.NO_OPINION:
            return verdict is node.Decision.ALLOW, reason
        return rbac.decide(user, a, self.roles, self._bindings(a.namespace))

    def authorize(self, user: UserInfo, a: Attributes) -> None:
        allowed, reason = self.decide(user, a)
        if not allowed:
            raise errors.Forbidden(forbidden_message(user, a, reason))

    def may(self, user: UserInfo, a: Attributes) -> bool:
        return self.decide(user, a)[0]

    # ------------------------------------------------------------ escalation
    def _refuse_escalation(self, user: UserInfo, resource: str, name: str, namespace: str,
                           wanted: Iterable[Any], extra: Iterable[str] = ()) -> None:
        held, missing = rbac.rules_for(user, namespace, self.roles, self._bindings(namespace))
        ok, uncovered = rbac.covers(held, wanted)
        missing_all = [*missing, *extra]
        if not ok or list(extra):
            raise errors.Forbidden(f'{qualified(resource, rbac.RBAC_GROUP)} "{name}" is forbidden: '
                                   + rbac.escalation_message(user, uncovered, missing_all))

    def check_role_write(self, user: UserInfo, kind: str, obj: Any) -> None:
        """A Role or ClusterRole created or updated: its rules must be the author's, unless they may escalate."""
        resource = kinds.BY_KIND[kind].plural
        ns = obj.metadata.namespace if kind == "Role" else ""
        if self.may(user, Attributes("escalate", rbac.RBAC_GROUP, resource, "", ns, obj.metadata.name)):
            return
        self._refuse_escalation(user, resource, obj.metadata.name, ns, obj.rules)

    def check_binding_write(self, user: UserInfo, kind: str, obj: Any) -> None:
        """A binding created or updated: its role's rules must be the author's, unless they may bind it."""
        resource = kinds.BY_KIND[kind].plural
        ns = obj.metadata.namespace if kind == "RoleBinding" else ""
        ref = obj.role_ref
        role_resource = "roles" if ref.kind == "Role" else "clusterroles"
        if self.may(user, Attributes("bind", rbac.RBAC_GROUP, role_resource, "", ns, ref.name)):
            return
        role = self.roles.get((ref.kind, ns if ref.kind == "Role" else "", ref.name))
        if role is None:
            self._refuse_escalation(user, resource, obj.metadata.name, ns, (),
                                    [f'{ref.kind.lower()}.{rbac.RBAC_GROUP} "{ref.name}" not found'])
            return
        self._refuse_escalation(user, resource, obj.metadata.name, ns, role.rules)

    def check_rbac_write(self, user: UserInfo, obj: Any) -> None:
        kind = kinds.info_of(obj).kind
        if kind in ("Role", "ClusterRole"):
            self.check_role_write(user, kind, obj)
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            self.check_binding_write(user, kind, obj)

    def check_rbac_patch(self, user: UserInfo, kind: str, namespace: str, name: str, patch_type: str,
                         body: bytes) -> None:
        """A patch of an RBAC object: the escalation check on what it would make of the cached object
        (a missing object: nothing to check, the patch itself answers NotFound)."""
        if kind not in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            return
        live = self._get(kind, namespace if kinds.BY_KIND[kind].namespaced else "", name)
        if live is None:
            return
        try:
            doc = json.loads(body or (b"[]" if patch_type == "json" else b"{}"))
            current = manifests.to_dict(live)
            merged = (patching.json_patch(current, doc) if patch_type == "json" else
                      patching.merge_patch(current, doc) if patch_type == "merge" else
                      patching.strategic_merge(current, doc))
            new = manifests.from_dict(merged, f'{kind} "{name}"')
        except Exception:  # noqa: BLE001 - a malformed patch: the store refuses it in its own words
            return
        self.check_rbac_write(user, new)


__all__ = ["Authorizer", "Attributes", "forbidden_message", "qualified"]
