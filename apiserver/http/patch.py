"""PATCH: JSON patch, merge patch and strategic merge patch, done by the Store as for the gRPC Patch (its
strategic merge is kubelab.patch.strategic_merge, with Kubernetes' merge keys for our lists).

Server-side apply (application/apply-patch+yaml) is served in part: the applied configuration is created
when the object does not exist, and otherwise merged into it with the strategic merge patch. managedFields
are not tracked (none is written, none is returned), so there are no apply conflicts between managers and a
field the applied configuration drops is not removed; `fieldManager` is required, as in Kubernetes.
"""
from __future__ import annotations

import json

from aiohttp import web

from kubelab import errors, kinds
from kubelab.v1 import api_pb2 as api

from . import negotiate
from .common import Backend, admit_write, read_body, respond
from .request import RequestInfo, check_identity, decode_object, dry_run, field_validation, load_doc
from .serialize import to_wire


async def patch(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    patch_type = negotiate.body_type(request.headers.get("Content-Type", ""), patch=True)
    body = await read_body(request)
    dry = dry_run(request.query)
    info = req.kind_info
    warnings: list[str] = []
    if patch_type == "apply":
        if not request.query.get("fieldManager"):
            raise errors.BadRequest("PATCH requests with apply-patch+yaml content type require a fieldManager")
        doc = load_doc(body, "yaml")
        obj = decode_object(doc, req, field_validation(request.query), warnings)
        check_identity(obj, req, creating=False)
        admit_write(backend, request, obj=obj)
        try:
            await backend.store.get(info.kind, req.namespace, req.name)
        except errors.NotFound:
            if req.subresource:
                raise
            out = await backend.svc._create(api.CreateRequest(object=kinds.wrap(obj), dry_run=dry))
            return respond(request, to_wire(kinds.unwrap(out)), 201, warnings=warnings)
        body, patch_type = json.dumps(doc).encode(), "strategic"
    else:
        admit_write(backend, request, patch=(patch_type, body))
    out = await backend.svc._patch(api.PatchRequest(kind=info.kind, namespace=req.namespace, name=req.name,
                                                    patch_type=patch_type, patch=body,
                                                    subresource=req.subresource, dry_run=dry))
    return respond(request, to_wire(kinds.unwrap(out)), warnings=warnings)
