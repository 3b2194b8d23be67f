"""GET of one object: /…/RESOURCE/NAME (and the status subresource, which reads the same object)."""
from __future__ import annotations

from aiohttp import web

from . import negotiate, table
from .common import Backend, namespace_of, respond
from .request import RequestInfo
from .serialize import to_wire


async def get(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    rep = negotiate.negotiate(request.headers.get("Accept", ""), (negotiate.JSON, negotiate.YAML, negotiate.TABLE))
    obj = await backend.store.get(req.kind_info.kind, namespace_of(req), req.name)
    if rep == negotiate.TABLE:
        return table.respond_table(request, req.kind_info, [obj], obj.metadata.resource_version, "")
    return respond(request, to_wire(obj, req.kind_info), rep=rep)
