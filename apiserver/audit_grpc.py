"""The gRPC front end's side of the audit log: a call (or one write of a Writes stream) as a RequestInfo.

Sits between `apiserver/grpc_transport.py` (the `translate` wrapper of each call), which calls `audit_begin` once the gate has let a call in and
`audit_finish` with its answer or error, and `apiserver/audit.py`, which decides and writes. The
attributes are the authorizer's (`authz.grpc_attributes`): one description of a call for both.
"""
from __future__ import annotations

from typing import Any

from kubelab import errors, kinds

from .audit import AuditLog, Record, RequestInfo
from .auth import UserInfo
from .authz.grpc_attributes import attributes
from .http.status import CODES as HTTP_STATUS     # an API error's HTTP status, as kube-apiserver answers

def user_agent(metadata: Any) -> str:
    """The caller's user agent without the suffix gRPC adds to it (`grpc-python-asyncio/1.x grpc-c/...`)."""
    agent = dict(metadata).get("user-agent", "")
    cut = agent.find(" grpc-")
    return agent[:cut] if cut >= 0 else agent


def _peer_ip(context: Any) -> str:
    peer = str(getattr(context, "peer", lambda: "")() or "")     # "ipv4:127.0.0.1:51234", "ipv6:[::1]:5"
    if peer.startswith("ipv4:"):
        return peer[5:].rsplit(":", 1)[0]
    if peer.startswith("ipv6:"):
        return peer[5:].rsplit(":", 1)[0].strip("[]")
    return ""


def _object_name(request: Any) -> str:
    """A create's URL names no object; kube-apiserver's objectRef takes the name from the body."""
    env = getattr(request, "object", None)
    which = env.WhichOneof("kind") if env is not None and hasattr(env, "WhichOneof") else None
    return getattr(env, which).metadata.name if which else ""


def audit_begin(log: AuditLog, method: str, request: Any, user: UserInfo | None, context: Any) -> Record | None:
    if request is None or (not log.enabled and not log.subscribers):
        return None
    try:
        a = attributes(method, request)
    except (KeyError, ValueError):
        return None                 # not a resource call (Version, reviews): not audited
    md = tuple(getattr(context, "invocation_metadata", lambda: ())() or ()) if context is not None else ()
    version = "v1"
    for k in kinds.KINDS:
        if (k.plural, k.group) == (a.resource, a.api_group):
            version = k.version
            break
    info = RequestInfo(verb=a.verb, user=user.name if user else "", groups=tuple(user.groups) if user else (),
                       extra=user.extra if user else (),
                       user_agent=user_agent(md), source_ip=_peer_ip(context), resource=a.resource,
                       api_group=a.api_group, api_version=version, namespace=a.namespace,
                       name=a.name or _object_name(request),
                       subresource=a.subresource)
    rec = log.begin(info)
    if rec is not None:
        # A Binding's kubelab.io/ annotations (the scheduler's decision) go on the record, as kube-apiserver's
        # admission plugins annotate theirs.
        notes = getattr(request, "annotations", None)
        if notes and hasattr(notes, "items"):
            rec.annotations.update({k: v for k, v in notes.items() if k.startswith("kubelab.io/")})
    return rec


def audit_finish(log: AuditLog, record: Record | None, result: Any) -> None:
    """`result`: the object the call answered with, or its ApiError."""
    if record is None:
        return
    if isinstance(result, errors.ApiError):
        log.finish(record, HTTP_STATUS.get(result.reason, 500), message=result.message)
        return
    rv, name = "", ""
    obj = result
    if hasattr(result, "WhichOneof") and result.DESCRIPTOR.full_name == "kubelab.v1.Object":
        which = result.WhichOneof("kind")
        obj = getattr(result, which) if which else None
    meta = getattr(obj, "metadata", None)
    if meta is not None:
        rv, name = meta.resource_version, meta.name
    if name and not record.info.name:        # a create's URL names no object; the answer does
        from dataclasses import replace
        record.info = replace(record.info, name=name)
    log.finish(record, 201 if record.info.verb == "create" else 200, resource_version=rv)
