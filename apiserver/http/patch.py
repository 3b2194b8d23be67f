"""PATCH: JSON patch, merge patch, strategic merge patch and server-side apply, done by the Store as for the
gRPC Patch (its strategic merge is kubelab.patch.strategic_merge, with Kubernetes' merge keys for our lists).

Every write over HTTP names its field manager (`fieldManager`, else the User-Agent's product, as
kube-apiserver derives it); `field_manager` here is that rule, which create, update and the subresources
use too. The Store records the manager's managedFields entry (apiserver.fieldmanager).

Server-side apply (application/apply-patch+yaml): the body is decoded and checked as the kind (fieldValidation
applies), then applied by the Store: merged into the live object, the applier's fields tracked, fields it
no longer applies removed, 409 Conflict with FieldManagerConflict causes for fields other managers own unless
`force=true`. An object that does not exist is created by the apply (201), its managedFields the applier's.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kubelab import errors, kinds, manifests
from kubelab.v1 import api_pb2 as api

from .. import fieldmanager
from ..store import load_json, now
from . import negotiate, versions
from .common import Backend, admit_write, namespace_of, read_body, respond
from .request import RequestInfo, check_identity, decode_object, dry_run, field_validation, load_doc
from .serialize import to_wire


def field_manager(request: web.Request, options: str = "PatchOptions") -> str:
    """The request's field manager: `fieldManager`, else derived from the User-Agent as Kubernetes does."""
    name = request.query.get("fieldManager", "")
    if name:
        fieldmanager.validate_manager(name, options)
        return name
    return fieldmanager.manager_from_user_agent(request.headers.get("User-Agent", ""))


def _force(query: Any, patch_type: str) -> bool:
    value = query.get("force")
    if value is None:
        return False
    if patch_type != "apply":
        raise fieldmanager.invalid_options("PatchOptions", "force: Forbidden: may not be specified for non-apply "
                                           "patch")
    if value not in ("true", "false", "1", "0", "True", "False"):
        raise errors.BadRequest(f'invalid value for force: "{value}": must be a boolean')
    return value in ("true", "1", "True")


async def patch(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    patch_type = negotiate.body_type(request.headers.get("Content-Type", ""), patch=True)
    body = await read_body(request)
    dry = dry_run(request.query)
    info = req.kind_info
    warnings: list[str] = []
    force = _force(request.query, patch_type)
    if patch_type == "apply":
        if not request.query.get("fieldManager"):
            raise fieldmanager.invalid_options("PatchOptions", "fieldManager: Required value: is required for "
                                               "apply patch")
        manager = field_manager(request)
        doc = load_doc(body, "yaml")
        fieldmanager.check_applied(doc)
        obj = decode_object(doc, req, field_validation(request.query), warnings)
        check_identity(obj, req, creating=False)
        admit_write(backend, request, obj=obj)
        config = manifests.to_dict(obj)       # as the kind has it: quantities, int-or-strings normalised
        if not req.subresource:
            created = await _create_by_apply(backend, req, config, manager, dry)
            if created is not None:
                return respond(request, to_wire(kinds.unwrap(created), info), 201, warnings=warnings)
        body, patch_type = json.dumps(config).encode(), "server-side-apply"
    else:
        manager = field_manager(request)
        admit_write(backend, request, patch=(patch_type, body))
        if versions.alternate(info) is not None:
            out = await _patch_as_served(backend, req, patch_type, body, dry, manager)
            return respond(request, to_wire(kinds.unwrap(out), info), warnings=warnings)
    out = await backend.svc._patch(api.PatchRequest(kind=info.kind, namespace=req.namespace, name=req.name,
                                                    patch_type=patch_type, patch=body,
                                                    subresource=req.subresource, dry_run=dry,
                                                    field_manager=manager, force=force))
    return respond(request, to_wire(kinds.unwrap(out), info), warnings=warnings)


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    out = {k: None for k in old if k not in new}
    for k, v in new.items():
        if k not in old:
            out[k] = v
        elif old[k] != v:
            out[k] = merge_diff(old[k], v)
    return out


# kube-apiserver's maxRetryWhenPatchConflicts: a patch that names no resourceVersion is re-applied this often
# when another write comes in between.
PATCH_RETRIES = 5


async def _patch_as_served(backend: Backend, req: RequestInfo, patch_type: str, body: bytes, dry: bool,
                           manager: str) -> Any:
    """A JSON, merge or strategic patch sent to an alternate version's URL (policy/v1beta1), applied as
    kube-apiserver applies it: to the object in that version, converted back after (a v1beta1 `selector: {}`
    patched in selects no pods). The Store gets what changed in the stored version as a merge patch, with the
    resourceVersion it was computed from as its precondition; re-applied when another write came in between,
    unless the patch named the resourceVersion itself."""
    info = req.kind_info
    doc = load_json(body or (b"[]" if patch_type == "json" else b"{}"), "invalid JSON patch")
    for attempt in range(PATCH_RETRIES + 1):
        live = await backend.store.get(info.kind, namespace_of(req), req.name)
        stored = to_wire(live)
        patched = backend.store._merge(patch_type, to_wire(live, info), doc)
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata") or {}, dict):
            raise errors.BadRequest("invalid patch: metadata must be an object")
        live_rv = live.metadata.resource_version
        rv = str((patched.get("metadata") or {}).get("resourceVersion") or live_rv)
        change = merge_diff(stored, versions.to_storage(info, dict(patched, kind=info.kind)))
        change.setdefault("metadata", {})["resourceVersion"] = rv
        try:
            return await backend.svc._patch(api.PatchRequest(
                kind=info.kind, namespace=req.namespace, name=req.name, patch_type="merge",
                patch=json.dumps(change).encode(), subresource=req.subresource, dry_run=dry,
                field_manager=manager))
        except errors.Conflict:
            if rv != live_rv or attempt == PATCH_RETRIES:
                raise
    raise AssertionError("unreachable")


async def _create_by_apply(backend: Backend, req: RequestInfo, config: dict[str, Any], manager: str,
                           dry: bool) -> Any | None:
    """Create the object the apply names when there is none (None when there is: the apply patches it)."""
    info = req.kind_info
    try:
        await backend.store.get(info.kind, req.namespace, req.name)
        return None
    except errors.NotFound:
        pass
    merged, entries = fieldmanager.apply(None, config, fieldmanager.Write(
        manager, info.message.DESCRIPTOR, info.api_version, "", info.has_status, now()))
    merged.setdefault("metadata", {})["managedFields"] = entries
    obj = manifests.from_dict(merged, f'{info.kind} "{req.name}"')
    try:
        return await backend.svc._create(api.CreateRequest(object=kinds.wrap(obj), dry_run=dry))
    except errors.AlreadyExists:
        return None      # created meanwhile: applied to as it is now
