"""What every verb handler shares: the backend it calls and how an answer is written.

`Backend` is the apiserver's own ApiService (the gRPC servicer's functions), Store and WatchCache: the HTTP
handlers call exactly what the gRPC handlers call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from kubelab import errors

from . import negotiate
from .request import RequestInfo
from .serialize import dumps


@dataclass
class Backend:
    svc: Any                 # apiserver.server.ApiService
    server_address: str = ""

    @property
    def store(self) -> Any:
        return self.svc.store

    @property
    def cache(self) -> Any:
        return self.svc.cache


WRITE_METHODS = ("POST", "PUT", "PATCH")


def respond(request: web.Request, doc: Any, code: int = 200, rep: str | None = None,
            warnings: list[str] | None = None) -> web.Response:
    """`doc` as JSON (or YAML when asked), with any warnings as Kubernetes' `Warning: 299 - "..."` headers.
    A write's answer (the object created, updated or patched) also leaves its metadata on the request as
    request["written"], for the audit filter (a create's URL names no object; the answer does)."""
    rep = rep or negotiate.negotiate(request.headers.get("Accept", ""))
    if request.method in WRITE_METHODS and code < 300 and isinstance(doc, dict):
        request["written"] = doc.get("metadata") or {}
    if rep == negotiate.YAML:
        resp = web.Response(status=code, text=yaml.safe_dump(doc, sort_keys=False), content_type="application/yaml")
    else:
        resp = web.Response(status=code, body=dumps(doc), content_type="application/json")
    for w in warnings or ():
        resp.headers.add("Warning", '299 - "' + w.replace('\\', '\\\\').replace('"', '\\"') + '"')
    return resp


async def read_body(request: web.Request) -> bytes:
    """The request body; its size was bounded by the size-limit filter."""
    return await request.read()


def admit_write(backend: Backend, request: web.Request, obj: Any = None,
                patch: tuple[str, bytes] | None = None) -> None:
    """The gate's escalation check for an RBAC object written (an object, or a patch of one): the request's
    own authorization (its Attributes, kept by app.authorize) with the object or patch it writes."""
    attrs = request.get("attrs")
    if attrs is not None:
        backend.svc.gate.admit(request.headers.items(), attrs, obj=obj, patch=patch)


def int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {name}: "{value}": must be an integer') from None


def namespace_of(req: RequestInfo) -> str:
    return req.namespace if req.kind_info.namespaced else ""
