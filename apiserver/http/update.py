"""PUT of a whole object (or its status): 409 Conflict when the body's resourceVersion is stale, as the Store
decides it for the gRPC Update."""
from __future__ import annotations

from aiohttp import web

from kubelab import kinds
from kubelab.v1 import api_pb2 as api

from .common import Backend, admit_write, respond
from .create import decode_body
from .patch import field_manager
from .request import RequestInfo, dry_run
from .serialize import to_wire


async def update(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    warnings: list[str] = []
    obj = await decode_body(request, req, warnings, creating=False)
    admit_write(backend, request, obj=obj)
    out = await backend.svc._update(api.UpdateRequest(object=kinds.wrap(obj), subresource=req.subresource,
                                                      dry_run=dry_run(request.query),
                                                      field_manager=field_manager(request, "UpdateOptions")))
    return respond(request, to_wire(kinds.unwrap(out), req.kind_info), warnings=warnings)
