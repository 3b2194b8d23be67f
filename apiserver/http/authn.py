"""SelfSubjectReview (`kubectl auth whoami`): who the API takes the request to be from.

Sits in the HTTP front end beside authz.py (SelfSubjectAccessReview). The answer is the user the apiserver's
gate authenticated the request as (app.py's authentication filter: bearer tokens, service-account tokens,
impersonation headers), the same `gate.user_of` the gRPC WhoAmI answers `kubelab auth whoami` from, so both
say the same for the same credentials. It is authorized as the gRPC call is: `create` of
authentication.k8s.io `selfsubjectreviews` (system:basic-user grants it to every authenticated user).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelab import errors

from apiserver.auth import extra_json
from apiserver.store import now

from . import negotiate
from .common import read_body, respond
from .request import load_doc

GROUP, VERSION = "authentication.k8s.io", "v1"
KIND = "SelfSubjectReview"
PATH = f"/apis/{GROUP}/{VERSION}/selfsubjectreviews"
RESOURCE = {"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": False,
            "kind": KIND, "verbs": ["create"]}


def user_info(user: Any) -> dict[str, Any]:
    """authentication.k8s.io/v1 UserInfo of an authenticated user (every field omitempty, as Kubernetes').
    `extra` is what the authenticator attached (a ServiceAccount token's pod, node and credential id)."""
    out: dict[str, Any] = {}
    if user.name:
        out["username"] = user.name
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = extra_json(user.extra)
    return out


def review(doc: Any, user: Any) -> dict[str, Any]:
    """The answered review of a create body (any SelfSubjectReview: its spec is empty, its status is ours)."""
    if not isinstance(doc, dict):
        raise errors.BadRequest("couldn't get version/kind; json parse error: cannot unmarshal "
                                f"{type(doc).__name__} into Go value of type struct")
    api_version, kind = str(doc.get("apiVersion") or f"{GROUP}/{VERSION}"), str(doc.get("kind") or KIND)
    if api_version != f"{GROUP}/{VERSION}":
        raise errors.BadRequest(f"the API version in the data ({api_version}) does not match the expected API "
                                f"version ({GROUP}/{VERSION})")
    if kind != KIND:
        raise errors.BadRequest(f'{kind} in version "{VERSION}" cannot be handled as a {KIND}: converting '
                                f'({VERSION}.{kind}) to (authentication.{KIND}): unknown conversion')
    return {"kind": KIND, "apiVersion": f"{GROUP}/{VERSION}", "metadata": {"creationTimestamp": now()},
            "status": {"userInfo": user_info(user)}}


async def self_subject_review(request: web.Request) -> web.StreamResponse:
    if request.method != "POST":
        from .status import MethodNotAllowed
        raise MethodNotAllowed("the server does not allow this method on the requested resource")
    media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
    body = await read_body(request)
    return respond(request, review(load_doc(body, media) if body.strip() else {}, request["user"]), 201)


def discovery_group() -> dict[str, Any]:
    """The group's entry in aggregated discovery."""
    return {"metadata": {"name": GROUP, "creationTimestamp": None}, "versions": [
        {"version": VERSION, "freshness": "Current", "resources": [
            {"resource": RESOURCE["name"], "responseKind": {"group": GROUP, "version": VERSION, "kind": KIND},
             "scope": "Cluster", "singularResource": RESOURCE["singularName"], "verbs": ["create"]}]}]}
