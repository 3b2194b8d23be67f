"""SelfSubjectAccessReview (`kubectl auth can-i`), answered from the authorization that exists: kubelab
has none yet (one bearer token authenticates, and whoever holds it may do anything), so every review of an
authenticated user is allowed, and says why."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelab import errors

from . import negotiate
from .common import read_body, respond
from .request import load_doc

GROUP, VERSION = "authorization.k8s.io", "v1"
PATH = f"/apis/{GROUP}/{VERSION}/selfsubjectaccessreviews"
RESOURCE = {"name": "selfsubjectaccessreviews", "singularName": "selfsubjectaccessreview", "namespaced": False,
            "kind": "SelfSubjectAccessReview", "verbs": ["create"]}


def review(doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("kind", "SelfSubjectAccessReview") != "SelfSubjectAccessReview":
        raise errors.BadRequest("the request body must be a SelfSubjectAccessReview")
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not (spec.get("resourceAttributes") or spec.get("nonResourceAttributes")):
        raise errors.Invalid('SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: '
                             'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
                             'must be specified')
    return {"kind": "SelfSubjectAccessReview", "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"creationTimestamp": None}, "spec": spec,
            "status": {"allowed": True, "reason": "kubelab has no authorization: every authenticated user is "
                                                  "allowed"}}


async def self_subject_access_review(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        from .status import MethodNotAllowed
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
    return respond(request, review(load_doc(await read_body(request), media)), 201)


def discovery_group() -> dict[str, Any]:
    """The group's entry in aggregated discovery."""
    return {"metadata": {"name": GROUP, "creationTimestamp": None}, "versions": [
        {"version": VERSION, "freshness": "Current", "resources": [
            {"resource": RESOURCE["name"], "responseKind": {"group": GROUP, "version": VERSION,
                                                            "kind": RESOURCE["kind"]},
             "scope": "Cluster", "singularResource": RESOURCE["singularName"], "verbs": ["create"]}]}]}
