"""LIST of a resource, in a namespace or across all: label and field selectors, limit/continue.

Lists read etcd through the Store (as the gRPC List does), so every list is consistent: it answers
resourceVersion="" (most recent) exactly and "0"/"N" (not older than) with something at least as new, as
kube-apiserver allows. resourceVersionMatch=Exact is refused (this apiserver keeps no history to list from).
"""
from __future__ import annotations

from aiohttp import web

from kubelab import errors

from . import negotiate, table
from .common import Backend, int_param, namespace_of, respond
from .request import RequestInfo
from .serialize import list_wire


def check_resource_version(query: object) -> None:
    rv = query.get("resourceVersion", "")  # type: ignore[attr-defined]
    match = query.get("resourceVersionMatch", "")  # type: ignore[attr-defined]
    if rv and not rv.isdigit():
        raise errors.BadRequest(f'invalid resourceVersion "{rv}": must be a non-negative integer')
    if match not in ("", "NotOlderThan", "Exact"):
        raise errors.BadRequest(f'resourceVersionMatch "{match}" is not supported: use NotOlderThan or Exact')
    if match and not rv:
        raise errors.BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if match == "Exact":
        raise errors.Gone(f"too old resource version: {rv}: an exact list needs history this server does not keep")


async def list_(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    q = request.query
    rep = negotiate.negotiate(request.headers.get("Accept", ""), (negotiate.JSON, negotiate.YAML, negotiate.TABLE))
    check_resource_version(q)
    limit = int_param(q, "limit") or 0
    if limit < 0:
        raise errors.BadRequest("limit must be greater than or equal to 0")
    info = req.kind_info
    items, rev, token = await backend.store.list(info.kind, namespace_of(req), q.get("labelSelector", ""),
                                                 q.get("fieldSelector", ""), limit, q.get("continue", ""))
    if rep == negotiate.TABLE:
        return table.respond_table(request, info, items, str(rev), token)
    return respond(request, list_wire(info, items, str(rev), token), rep=rep)
