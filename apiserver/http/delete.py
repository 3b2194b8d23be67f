"""DELETE of one object or of a collection, with DeleteOptions from the body or the query
(gracePeriodSeconds, propagationPolicy, preconditions, dryRun), done by the Store as for the gRPC Delete.

As kube-apiserver answers: an object whose deletion is pending (a pod's grace period, finalizers) comes back
as it now is, and so do deleted Pods and Services (ReturnDeletedObject); another kind deleted at once is a
Status of Success naming it; a collection's deletion returns the
list of what was deleted.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelab import errors, kinds
from kubelab.v1 import api_pb2 as api

from .common import Backend, int_param, namespace_of, read_body, respond
from .list import check_resource_version
from .request import RequestInfo, load_doc
from .serialize import list_wire, to_wire
from .status import success


async def delete_options(request: web.Request) -> api.DeleteRequest:
    """A DeleteRequest holding the options of the body (a DeleteOptions) and of the query (which win)."""
    body = await read_body(request)
    opts: dict[str, Any] = {}
    if body.strip():
        doc = load_doc(body, "json" if body.lstrip()[:1] in (b"{", b"[") else "yaml")
        if not isinstance(doc, dict):
            raise errors.BadRequest("the body of a DELETE must be a DeleteOptions object")
        opts = doc
    q = request.query
    out = api.DeleteRequest()
    grace = int_param(q, "gracePeriodSeconds")
    if grace is None and opts.get("gracePeriodSeconds") is not None:
        if not isinstance(opts["gracePeriodSeconds"], int):
            raise errors.BadRequest("gracePeriodSeconds must be an integer")
        grace = opts["gracePeriodSeconds"]
    if grace is not None:
        out.grace_period_seconds = grace
    policy = q.get("propagationPolicy") or opts.get("propagationPolicy") or ""
    if opts.get("orphanDependents") is True and not policy:
        policy = "Orphan"
    out.propagation_policy = str(policy)
    pre = opts.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise errors.BadRequest("preconditions must be an object")
    out.precondition_uid = str(pre.get("uid") or "")
    out.precondition_resource_version = str(pre.get("resourceVersion") or "")
    dry = list(q.getall("dryRun", [])) + list(opts.get("dryRun") or [])
    if any(v != "All" for v in dry):
        raise errors.BadRequest('unsupported dryRun value: only "All" is supported')
    out.dry_run = bool(dry)
    return out


# Kinds whose registry sets ReturnDeletedObject in kube-apiserver: their DELETE answers the object itself.
RETURNS_DELETED_OBJECT = ("Pod", "Service")


def _pending(obj: Any) -> bool:
    """Whether a deletion left the object in place (finalizers to run, a pod's grace period)."""
    md = obj.metadata
    if not md.deletion_timestamp:
        return False
    kind = kinds.info_of(obj).kind
    return (bool(md.finalizers) or (kind == "Pod" and md.deletion_grace_period_seconds > 0)
            or (kind == "Namespace" and bool(obj.spec.finalizers)))


async def _delete_one(backend: Backend, opts: api.DeleteRequest, kind: str, namespace: str, name: str) -> Any:
    req = api.DeleteRequest()
    req.CopyFrom(opts)
    req.kind, req.namespace, req.name = kind, namespace, name
    return kinds.unwrap(await backend.svc._delete(req))


async def delete(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    opts = await delete_options(request)
    info = req.kind_info
    obj = await _delete_one(backend, opts, info.kind, namespace_of(req), req.name)
    if _pending(obj) or opts.dry_run or info.kind in RETURNS_DELETED_OBJECT:
        return respond(request, to_wire(obj, info))
    details = {"name": req.name, "kind": info.plural, "uid": obj.metadata.uid}
    if info.group:
        details["group"] = info.group
    return respond(request, success(details=details))


async def delete_collection(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    opts = await delete_options(request)
    check_resource_version(request.query)
    info = req.kind_info
    q = request.query
    items, rev, _ = await backend.store.list(info.kind, namespace_of(req), q.get("labelSelector", ""),
                                             q.get("fieldSelector", ""))
    deleted = []
    for item in items:
        try:
            deleted.append(await _delete_one(backend, opts, info.kind, item.metadata.namespace, item.metadata.name))
        except errors.NotFound:
            continue          # gone meanwhile: that is what was asked
    return respond(request, list_wire(info, deleted, str(rev)))
