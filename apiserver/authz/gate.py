"""The gate every request passes: authentication → impersonation → authorization (→ escalation check).

What the front ends call, in kube-apiserver's filter order: the gRPC server (apiserver/grpc_transport.py) with a
method name and its request (`admit_call`), the HTTP API with its headers and the request's Attributes
(`admit`, one line; `admit_path` for a non-resource path such as /metrics). Both get the user back, or Unauthorized / Forbidden before the registry runs.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from kubelab import errors, kinds

from ..auth import (IMPERSONATE_GROUP, IMPERSONATE_USER, Authenticator, UserInfo, bearer_token, impersonate,
                    metadata_user)
from . import Authorizer
from .grpc_attributes import attributes
from .node import node_name
from .rbac import Attributes

Headers = Iterable[tuple[str, Any]]

# Who a request without credentials is (kube-apiserver's --anonymous-auth, on by default): what RBAC lets
# Group system:unauthenticated do (system:public-info-viewer's /healthz, /version...), and nothing else.
ANONYMOUS = UserInfo("system:anonymous", "", ("system:unauthenticated",))


class Gate:
    def __init__(self, authn: Authenticator, authz: Authorizer | None) -> None:
        self.authn = authn
        self.authz = authz          # None: --authorization-mode=AlwaysAllow

    def user_of(self, headers: Headers) -> UserInfo:
        """Who a request is from, by its `authorization` and `impersonate-user`/`impersonate-group` gRPC
        metadata or HTTP headers (any case): Unauthorized, or Forbidden for an impersonation not allowed."""
        md = [(k.lower(), str(v)) for k, v in headers]
        user = metadata_user(self.authn, md)
        if user is None:
            raise errors.Unauthenticated("Unauthorized")
        as_user = next((v for k, v in md if k == IMPERSONATE_USER), "")
        as_groups = [v for k, v in md if k == IMPERSONATE_GROUP]
        if as_user or as_groups:
            user = impersonate(user, as_user, as_groups, self._may_impersonate)
        return user

    def _may_impersonate(self, user: UserInfo, resource: str, name: str, namespace: str) -> None:
        if self.authz is not None:
            self.authz.authorize(user, Attributes("impersonate", "", resource, "", namespace, name))

    def admit(self, headers: Headers, attrs: Attributes, obj: Any = None,
              patch: tuple[str, bytes] | None = None) -> UserInfo:
        """The HTTP front end's one call: authenticate `headers`, authorize `attrs`, and for an RBAC object
        written (`obj`, or a `patch` as (patch type, body) of the object `attrs` names) refuse escalation."""
        user = self.user_of(headers)
        if self.authz is not None:
            self.authz.authorize(user, attrs)
            if obj is not None:
                self.authz.check_rbac_write(user, obj)
            elif patch is not None:
                kind = next((k.kind for k in kinds.KINDS if (k.plural, k.group) == (attrs.resource, attrs.api_group)),
                            "")
                if kind:
                    self.authz.check_rbac_patch(user, kind, attrs.namespace, attrs.name, patch[0], patch[1])
        return user

    def admit_path(self, headers: Headers, verb: str, path: str) -> UserInfo:
        """A non-resource request (/healthz, /version, /api, /openapi/v2, /metrics...): authenticated as any
        other, or anonymous when it carries no credentials at all, then authorized by the `nonResourceURLs`
        rules that apply (verb: the HTTP method in lower case, as kube-apiserver's RequestInfo has it)."""
        headers = list(headers)
        md = {k.lower(): str(v) for k, v in headers}
        # As kube-apiserver's bearer token authenticator: no Authorization header, an empty bearer token or
        # another scheme is no credential (the anonymous authenticator answers), a token it rejects is 401.
        anonymous = not bearer_token(md.get("authorization")) and not (IMPERSONATE_USER in md or IMPERSONATE_GROUP in md)
        user = ANONYMOUS if anonymous else self.user_of(headers)
        if self.authz is not None:
            self.authz.authorize(user, Attributes(verb, path=path))
        return user

    def admit_as(self, user: UserInfo, method: str, request: Any) -> None:
        """Authorize a gRPC `method` (or Writes op) on `request` for `user`, with the escalation check for
        RBAC objects created, updated or patched."""
        if self.authz is None:
            return
        attrs = attributes(method, request)
        if method in ("create",) and not attrs.name and node_name(user) is not None \
                and request.object.WhichOneof("kind"):
            # NodeRestriction judges a kubelet's create by the object's own name (its Node, its Lease), which
            # a create's request names in its body only (RBAC never sees a create's name, as in Kubernetes).
            attrs = replace(attrs, name=kinds.unwrap(request.object).metadata.name)
        self.authz.authorize(user, attrs)
        if method in ("create", "update") and request.object.WhichOneof("kind"):
            self.authz.check_rbac_write(user, kinds.unwrap(request.object))
        elif method == "patch":
            info = kinds.BY_KIND.get(request.kind)
            if info is None:
                try:
                    info = kinds.lookup(request.kind)
                except kinds.UnknownKind:
                    return           # the handler answers NotFound
            self.authz.check_rbac_patch(user, info.kind, request.namespace, request.name,
                                        request.patch_type or "strategic", request.patch)

    def admit_call(self, method: str, request: Any, headers: Headers) -> UserInfo:
        user = self.user_of(headers)
        self.admit_as(user, method, request)
        return user

    def review(self, user: UserInfo, attrs: Attributes) -> tuple[bool, str]:
        """A SelfSubjectAccessReview's answer: (allowed, reason)."""
        return (True, "") if self.authz is None else self.authz.decide(user, attrs)


__all__ = ["Gate", "ANONYMOUS"]
