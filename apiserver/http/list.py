"""LIST of a resource, in a namespace or across all: label and field selectors, limit/continue.

Lists read etcd through the Store (as the gRPC List does), so every list is consistent: it answers
resourceVersion="" (most recent) exactly and "0"/"N" (not older than) with something at least as new, as
kube-apiserver allows. resourceVersionMatch=Exact lists at exactly that revision, read from etcd's history:
one compacted away is 410 Expired ("The resourceVersion for the provided list is too old."), one etcd has not
reached yet 504 Timeout, as kube-apiserver answers both. The list options are validated first, in
kube-apiserver's words (ValidateListOptions: 422 Invalid on ListOptions.meta.k8s.io).
"""
from __future__ import annotations

import base64
import json

from aiohttp import web

from kubelab import errors

from apiserver.registry import FieldError, FieldErrors

from . import negotiate, table
from .common import Backend, int_param, namespace_of, respond
from .request import RequestInfo
from .serialize import list_bytes, list_wire

EXPIRED = "The resourceVersion for the provided list is too old."


def list_options_errors(query: object) -> FieldErrors:
    """kube-apiserver's ValidateListOptions for a list (not a watch) over the request's query."""
    rv = query.get("resourceVersion", "")  # type: ignore[attr-defined]
    match = query.get("resourceVersionMatch", "")  # type: ignore[attr-defined]
    errs = FieldErrors()
    if match:
        if not rv:
            errs.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")
        if query.get("continue", ""):  # type: ignore[attr-defined]
            errs.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided")
        if match not in ("Exact", "NotOlderThan"):
            errs.unsupported("resourceVersionMatch", match, ("Exact", "NotOlderThan", ""))
        if match == "Exact" and rv == "0":
            errs.forbidden("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
    return errs


def invalid_list_options(errs: list[FieldError]) -> errors.Invalid:
    """apierrors.NewInvalid(ListOptions.meta.k8s.io, "", errs): one error bare, several in brackets."""
    text = ", ".join(str(e) for e in errs)
    err = errors.Invalid(f'ListOptions.meta.k8s.io "" is invalid: ' + (f"[{text}]" if len(errs) > 1 else text))
    err.causes = list(errs)      # type: ignore[attr-defined]  # the Status lists them with their field paths
    return err


def check_resource_version(query: object) -> None:
    rv = query.get("resourceVersion", "")  # type: ignore[attr-defined]
    errs = list_options_errors(query)
    if errs:
        raise invalid_list_options(errs)
    if rv and not rv.isdigit():
        raise errors.BadRequest(f'invalid resourceVersion "{rv}": must be a non-negative integer')


def _exact_token(rv: int) -> str:
    """A continue token that starts at the list's first key, at revision `rv` (the Store's token format: the
    start key relative to the list's prefix, and the revision every page reads at)."""
    return base64.urlsafe_b64encode(json.dumps({"start": "", "rv": rv}).encode()).decode()


async def list_(backend: Backend, request: web.Request, req: RequestInfo) -> web.StreamResponse:
    q = request.query
    rep = negotiate.negotiate(request.headers.get("Accept", ""), (negotiate.JSON, negotiate.YAML, negotiate.TABLE))
    check_resource_version(q)
    limit = int_param(q, "limit") or 0
    if limit < 0:
        raise errors.BadRequest("limit must be greater than or equal to 0")
    info = req.kind_info
    exact = q.get("resourceVersionMatch") == "Exact"
    token = _exact_token(int(q["resourceVersion"])) if exact else q.get("continue", "")
    try:
        items, rev, token = await backend.store.list(info.kind, namespace_of(req), q.get("labelSelector", ""),
                                                     q.get("fieldSelector", ""), limit, token)
    except errors.Gone:
        if exact:       # the revision was compacted away (the Store words it for a continue token)
            raise errors.Expired(EXPIRED) from None
        raise
    except errors.BadRequest as e:
        if exact and e.message == "invalid continue token":      # etcd has not reached that revision
            current = await backend.store.storage.current_revision()
            raise errors.Timeout(f"Too large resource version: {q['resourceVersion']}, current: {current}") from None
        raise
    if rep == negotiate.TABLE:
        return table.respond_table(request, info, items, str(rev), token)
    if rep == negotiate.JSON:
        return web.Response(body=list_bytes(info, items, str(rev), token), content_type="application/json")
    return respond(request, list_wire(info, items, str(rev), token), rep=rep)
