"""The subresources this package serves: `status` (get, update, patch), `scale` (autoscaling/v1 Scale for
Deployments and ReplicaSets), pods' `binding` and `eviction`, namespaces' `finalize`, serviceaccounts' `token`. Each calls what the gRPC API calls (the Store's
update/patch with subresource "status", ApiService._bind, ApiService._evict); scale is a patch of
`spec.replicas`. The streaming subresources (log, exec, attach, portforward, proxy) are routed by app.py to
apiserver.http.streaming when it is there; anything else is 404: no path answers with its parent object.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kubelab import errors, kinds, patch as patching, tables
from kubelab.v1 import api_pb2 as api

from . import negotiate
from .common import Backend, read_body, respond
from .get import get
from .patch import field_manager, patch
from .request import RequestInfo, dry_run, load_doc
from .serialize import to_wire
from .status import success
from .update import update

SCALABLE = ("Deployment", "ReplicaSet")


def scale_of(obj: Any) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a Deployment or ReplicaSet."""
    md = to_wire(obj)["metadata"]
    meta = {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md}
    selector = tables.format_selector(obj.spec.selector)
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
            "spec": {"replicas": tables.replicas_of(obj.spec)},
            "status": {"replicas": obj.status.replicas, "selector": "" if selector == tables.NONE else selector}}


async def _set_replicas(backend: Backend, request: web.Request, req: RequestInfo, replicas: Any,
                        resource_version: str) -> web.Response:
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        raise errors.BadRequest(f"Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: "
                                f"expected an integer, got {json.dumps(replicas)}")
    if replicas < 0:
        raise errors.Invalid(f'Scale.autoscaling "{req.name}" is invalid: spec.replicas: Invalid value: '
                             f'{replicas}: must be greater than or equal to 0')
    doc: dict[str, Any] = {"spec": {"replicas": replicas}}
    if resource_version:
        doc["metadata"] = {"resourceVersion": resource_version}
    info = req.kind_info
    out = await backend.svc._patch(api.PatchRequest(kind=info.kind, namespace=req.namespace, name=req.name,
                                                    patch_type="merge", patch=json.dumps(doc).encode(),
                                                    dry_run=dry_run(request.query), subresource="scale",
                                                    field_manager=field_manager(request)))
    return respond(request, scale_of(kinds.unwrap(out)))


async def scale(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    info = req.kind_info
    obj = await backend.store.get(info.kind, req.namespace, req.name)
    if request.method == "GET":
        return respond(request, scale_of(obj))
    current = scale_of(obj)
    if request.method == "PUT":
        media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
        doc = load_doc(await read_body(request), media)
        if not isinstance(doc, dict) or doc.get("kind", "Scale") != "Scale":
            raise errors.BadRequest("the body of a scale update must be a Scale")
        name = (doc.get("metadata") or {}).get("name", req.name)
        if name != req.name:
            raise errors.BadRequest(f"the name of the object ({name}) does not match the name on the URL "
                                    f"({req.name})")
        rv = str((doc.get("metadata") or {}).get("resourceVersion") or "")
        return await _set_replicas(backend, request, req, (doc.get("spec") or {}).get("replicas", 0), rv)
    patch_type = negotiate.body_type(request.headers.get("Content-Type", ""), patch=True)
    body = json.loads(await read_body(request) or b"{}") if patch_type != "apply" else \
        load_doc(await read_body(request), "yaml")
    try:
        if patch_type == "json":
            merged = patching.json_patch(current, body)
        elif patch_type == "merge":
            merged = patching.merge_patch(current, body)
        else:
            merged = patching.strategic_merge(current, body)
    except patching.JSONPatchError as e:
        raise (errors.BadRequest(str(e)) if e.malformed else errors.Invalid(str(e))) from None
    rv = str(((body.get("metadata") or {}) if isinstance(body, dict) else {}).get("resourceVersion") or "")
    return await _set_replicas(backend, request, req, (merged.get("spec") or {}).get("replicas", 0), rv)


async def status(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    if not req.kind_info.has_status:
        raise errors.NotFound("the server could not find the requested resource")
    if request.method == "GET":
        return await get(backend, request, req)
    if request.method == "PUT":
        return await update(backend, request, req)
    return await patch(backend, request, req)


async def _body(request: web.Request) -> dict[str, Any]:
    media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
    doc = load_doc(await read_body(request), media)
    if not isinstance(doc, dict):
        raise errors.BadRequest("the request body must be an object")
    return doc


async def binding(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    doc = await _body(request)
    if doc.get("kind", "Binding") != "Binding":
        raise errors.BadRequest(f'{doc.get("kind")} in version "v1" cannot be handled as a Binding')
    md = doc.get("metadata") or {}
    if md.get("name", req.name) != req.name:
        raise errors.BadRequest(f"the name of the object ({md.get('name')}) does not match the name on the URL "
                                f"({req.name})")
    target = doc.get("target") or {}
    await backend.svc._bind(api.BindRequest(namespace=req.namespace, name=req.name,
                                            node_name=str(target.get("name") or ""), uid=str(md.get("uid") or "")))
    return respond(request, dict(success(), code=201), 201)


async def eviction(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    doc = await _body(request)
    if doc.get("kind", "Eviction") != "Eviction":
        raise errors.BadRequest(f'{doc.get("kind")} in version "v1" cannot be handled as a Eviction')
    md = doc.get("metadata") or {}
    if md.get("name", req.name) != req.name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    ev = api.EvictRequest(namespace=req.namespace, name=req.name)
    grace = (doc.get("deleteOptions") or {}).get("gracePeriodSeconds")
    if grace is not None:
        ev.grace_period_seconds = int(grace)
    if dry_run(request.query):
        await backend.store.get("Pod", req.namespace, req.name)
    else:
        await backend.svc._evict(ev)
    return respond(request, dict(success(), code=201), 201)


async def token(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    """POST serviceaccounts/NAME/token: an authentication.k8s.io/v1 TokenRequest, answered 201 with the signed
    token in status.token (apiserver.serviceaccount; the same call as gRPC's CreateToken)."""
    from apiserver import serviceaccount as sa_tokens
    ask = sa_tokens.token_ask_from_doc(await _body(request), req.namespace, req.name)
    token_, expires, audiences, seconds = await backend.svc._create_token(ask, dry_run(request.query),
                                                                         request.get("user"))
    return respond(request, sa_tokens.token_request_doc(ask, audiences, token_, expires, seconds), 201)


# subresource -> (resource kinds it exists for (None: any with the condition below), methods, handler)
HANDLERS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...], Any]] = {
    "status": (None, ("GET", "PUT", "PATCH"), status),
    "scale": (SCALABLE, ("GET", "PUT", "PATCH"), scale),
    "binding": (("Pod",), ("POST",), binding),
    "eviction": (("Pod",), ("POST",), eviction),
    "finalize": (("Namespace",), ("PUT",), update),
    "token": (("ServiceAccount",), ("POST",), token),
}
