"""Every error the HTTP API answers, as a metav1.Status, written by one function (`error_response`).

The store and registry raise kubelab.errors.ApiError with Kubernetes' reason and words; this module adds
what HTTP needs: the code kube-apiserver uses for that reason, and `details` (the object's name, group and
kind, and for Invalid the causes with their field paths, which the registry attaches as FieldErrors).
Errors only HTTP has (415, 405, 406, 413 for a body) are ApiErrors of the classes below.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from kubelab import errors, kinds

from .serialize import dumps

CODES: dict[str, int] = {
    "BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404, "MethodNotAllowed": 405,
    "NotAcceptable": 406, "AlreadyExists": 409, "Conflict": 409, "Gone": 410, "Expired": 410,
    "RequestEntityTooLarge": 413,
    "UnsupportedMediaType": 415, "Invalid": 422, "TooManyRequests": 429, "InternalError": 500,
    "ServiceUnavailable": 503, "Timeout": 504,
}

# FieldError.kind (the registry's words) -> metav1.CauseType.
CAUSE_TYPES: dict[str, str] = {
    "Invalid value": "FieldValueInvalid", "Required value": "FieldValueRequired",
    "Unsupported value": "FieldValueNotSupported", "Forbidden": "FieldValueForbidden",
    "Duplicate value": "FieldValueDuplicate", "Too long": "FieldValueTooLong",
}


class MethodNotAllowed(errors.ApiError):
    reason = "MethodNotAllowed"


class UnsupportedMediaType(errors.ApiError):
    reason = "UnsupportedMediaType"


class NotAcceptable(errors.ApiError):
    reason = "NotAcceptable"


def not_found_path() -> errors.NotFound:
    """kube-apiserver's answer for a URL it does not serve at all."""
    return errors.NotFound("the server could not find the requested resource")


def cause_of(field_error: Any) -> dict[str, str]:
    text = str(field_error)
    path = getattr(field_error, "path", "")
    message = text[len(path) + 2:] if path and text.startswith(path + ": ") else text
    reason = getattr(field_error, "cause_type", "") or CAUSE_TYPES.get(getattr(field_error, "kind", ""),
                                                                        "FieldValueInvalid")
    return {"reason": reason,
            "message": message, "field": path}


def status(err: errors.ApiError, info: kinds.KindInfo | None = None, name: str = "") -> dict[str, Any]:
    """The metav1.Status of an error, about the object `info`/`name` when the request named one."""
    code = CODES.get(err.reason, 500)
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": err.message, "reason": err.reason, "code": code}
    if err.reason == "InternalError":
        doc["details"] = {"causes": [{"message": err.message}]}
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if info is not None:
        if info.group:
            details["group"] = info.group
        # Invalid names the Kind (it is about a body); the others name the resource, as Kubernetes does.
        details["kind"] = info.kind if err.reason == "Invalid" else info.plural
    causes = [cause_of(c) for c in getattr(err, "causes", ())]
    if causes:
        details["causes"] = causes
    if details:
        doc["details"] = details
    retry = getattr(err, "retry_after", None)
    if retry:
        doc.setdefault("details", {})["retryAfterSeconds"] = retry
    return doc


def error_response(err: errors.ApiError, info: kinds.KindInfo | None = None, name: str = "") -> web.Response:
    doc = status(err, info, name)
    headers = {"Cache-Control": "no-cache, private"}
    if err.reason == "TooManyRequests" and getattr(err, "retry_after", None):
        headers["Retry-After"] = str(err.retry_after)
    return web.Response(status=doc["code"], body=dumps(doc), content_type="application/json", headers=headers)


def success(message: str = "", details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Status of success (what delete answers for an object already gone, or deletecollection of none)."""
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        doc["details"] = details
    return doc
