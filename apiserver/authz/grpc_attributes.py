"""What each gRPC method asks to do, as authorizer Attributes (what kube-apiserver's RequestInfo makes of a URL).

One function per method of kubelab.v1.Api, keyed by the method's name (and the Writes stream's ops), so the
server authorizes every call in one place. Streams that name their target in their first message (Exec,
PortForward) are mapped from that message.
"""
from __future__ import annotations

from typing import Any, Callable

from kubelab import kinds

from .rbac import Attributes


def _info(kind: str) -> kinds.KindInfo | None:
    info = kinds.BY_KIND.get(kind)
    if info is None:
        try:
            info = kinds.lookup(kind)
        except kinds.UnknownKind:
            return None
    return info


def _attrs(verb: str, kind: str, namespace: str, name: str = "", subresource: str = "") -> Attributes:
    info = _info(kind)
    if info is None:     # an unknown kind: the handler answers NotFound; authorize it as what it names
        return Attributes(verb, "", kind.lower(), subresource, namespace, name)
    return Attributes(verb, info.group, info.plural, subresource, namespace if info.namespaced else "", name)


def _object_attrs(verb: str, env: Any, subresource: str = "") -> Attributes:
    which = env.WhichOneof("kind")
    if which is None:
        return Attributes(verb)          # the handler answers BadRequest
    obj = getattr(env, which)
    info = kinds.BY_ONEOF[which]
    name = "" if verb == "create" else obj.metadata.name     # as a POST's URL names no object
    return _attrs(verb, info.kind, obj.metadata.namespace, name, subresource)


_PROXY_VERBS = {"GET": "get", "HEAD": "get", "OPTIONS": "get", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}

BY_METHOD: dict[str, Callable[[Any], Attributes]] = {
    "create": lambda r: _object_attrs("create", r.object),
    "update": lambda r: _object_attrs("update", r.object, r.subresource),
    "patch": lambda r: _attrs("patch", r.kind, r.namespace, r.name, r.subresource),
    "delete": lambda r: _attrs("delete", r.kind, r.namespace, r.name),
    "get": lambda r: _attrs("get", r.kind, r.namespace, r.name),
    "list": lambda r: _attrs("list", r.kind, r.namespace),
    "watch": lambda r: _attrs("watch", r.kind, r.namespace),
    "bind": lambda r: Attributes("create", "", "pods", "binding", r.namespace, r.name),
    "evict": lambda r: Attributes("create", "", "pods", "eviction", r.namespace, r.name),
    "version": lambda r: Attributes("get", path="/version"),
    "logs": lambda r: Attributes("get", "", "pods", "log", r.namespace, r.name),
    "exec": lambda s: Attributes("create", "", "pods", "attach" if s.attach else "exec", s.namespace, s.name),
    "portforward": lambda s: Attributes("create", "", "pods", "portforward", s.namespace, s.name),
    "proxy": lambda r: Attributes(_PROXY_VERBS.get(r.method.upper(), "get"), "", "pods", "proxy", r.namespace,
                                  r.name),
    "createtoken": lambda r: Attributes("create", "", "serviceaccounts", "token", r.namespace, r.name),
    "whoami": lambda r: Attributes("create", "authentication.k8s.io", "selfsubjectreviews"),
    "selfsubjectaccessreview": lambda r: Attributes("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
    "reportproxy": lambda r: Attributes("create", "kubelab.io", "proxyreports"),
}


def attributes(method: str, request: Any) -> Attributes:
    """The Attributes of a call to `method` (a method name, any case, or a Writes op) with `request`."""
    return BY_METHOD[method.lower()](request)


def review_attributes(req: Any) -> Attributes:
    """A SelfSubjectAccessReview's spec as Attributes (its resourceAttributes or nonResourceAttributes)."""
    if req.HasField("non_resource_attributes") and not req.HasField("resource_attributes"):
        n = req.non_resource_attributes
        return Attributes(n.verb, path=n.path or "/")
    r = req.resource_attributes
    return Attributes(r.verb, r.group, r.resource, r.subresource, r.namespace, r.name)


__all__ = ["attributes", "review_attributes", "BY_METHOD"]
