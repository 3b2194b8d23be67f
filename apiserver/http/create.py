"""POST of an object to its collection: 201 Created with the stored object (also for dryRun=All)."""
from __future__ import annotations

from aiohttp import web

from kubelab import errors, kinds
from kubelab.v1 import api_pb2 as api

from . import negotiate
from .common import Backend, admit_write, read_body, respond
from .patch import field_manager
from .request import RequestInfo, check_identity, decode_object, dry_run, field_validation, load_doc
from .serialize import to_wire


async def decode_body(request: web.Request, req: RequestInfo, warnings: list[str], creating: bool) -> object:
    """The object of a create or update: the body (JSON or YAML), for the URL's resource, namespace and name."""
    media = negotiate.body_type(request.headers.get("Content-Type", "application/json"))
    validation = field_validation(request.query)
    obj = decode_object(load_doc(await read_body(request), media), req, validation, warnings)
    check_identity(obj, req, creating)
    return obj


async def create(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    if req.name:
        raise errors.BadRequest("the server does not allow this method on the requested resource: "
                                "an object is created by POST to its collection")
    warnings: list[str] = []
    obj = await decode_body(request, req, warnings, creating=True)
    admit_write(backend, request, obj=obj)
    out = await backend.svc._create(api.CreateRequest(object=kinds.wrap(obj), dry_run=dry_run(request.query),
                                                      field_manager=field_manager(request, "CreateOptions")))
    return respond(request, to_wire(kinds.unwrap(out), req.kind_info), 201, warnings=warnings)
