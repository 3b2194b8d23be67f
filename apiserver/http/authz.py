"""SelfSubjectAccessReview (`kubectl auth can-i`), answered by the apiserver's gate for the requesting
user (RBAC and the Node authorizer, or everything allowed under --authorization-mode=AlwaysAllow), as the
gRPC SelfSubjectAccessReview is."""
from __future__ import annotations

from typing import Any, Callable

from aiohttp import web

from apiserver.authz.rbac import Attributes
from kubelab import errors

from . import negotiate
from .common import read_body, respond
from .request import load_doc

GROUP, VERSION = "authorization.k8s.io", "v1"
PATH = f"/apis/{GROUP}/{VERSION}/selfsubjectaccessreviews"
RESOURCE = {"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": False,
            "kind": "SelfSubjectAccessReview", "verbs": ["create"]}


def attributes_of(spec: dict[str, Any]) -> Attributes:
    """A review's spec as the authorizer's Attributes (its resourceAttributes or nonResourceAttributes)."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(non, dict) and not res:
        return Attributes(str(non.get("verb") or ""), path=str(non.get("path") or "/"))
    r = res if isinstance(res, dict) else {}
    return Attributes(str(r.get("verb") or ""), str(r.get("group") or ""), str(r.get("resource") or ""),
                      str(r.get("subresource") or ""), str(r.get("namespace") or ""), str(r.get("name") or ""))


def review(doc: Any, decide: Callable[[Attributes], tuple[bool, str]]) -> dict[str, Any]:
    """The answered review: `decide` is the gate's decision for the requesting user."""
    if not isinstance(doc, dict) or doc.get("kind", "SelfSubjectAccessReview") != "SelfSubjectAccessReview":
        raise errors.BadRequest("the request body must be a SelfSubjectAccessReview")
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not (spec.get("resourceAttributes") or spec.get("nonResourceAttributes")):
        raise errors.Invalid('SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                             'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
                             'must be specified')
    allowed, reason = decide(attributes_of(spec))
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {"kind": "SelfSubjectAccessReview", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


async def self_subject_access_review(gate: Any, request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        from .status import MethodNotAllowed
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
    user = request["user"]
    return respond(request, review(load_doc(await read_body(request), media), lambda a: gate.review(user, a)), 201)


def discovery_group() -> dict[str, Any]:
    """The group's entry in aggregated discovery."""
    return {"metadata": {"name": GROUP, "creationTimestamp": None}, "versions": [
        {"version": VERSION, "freshness": "Current", "resources": [
            {"resource": RESOURCE["name"], "responseKind": {"group": GROUP, "version": VERSION,
                                                            "kind": RESOURCE["kind"]},
             "scope": "Cluster", "singularResource": RESOURCE["singularName"], "verbs": ["create"]}]}]}
