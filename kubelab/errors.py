"""API errors, translated once at the boundary.

The apiserver raises these; they travel as a gRPC status code plus the
Kubernetes reason in trailing metadata ("kubelab-reason"), and the client
turns them back into the same classes, with the cause chained.
"""
from __future__ import annotations

import asyncio
import os
import re

import grpc

REASON_KEY = "kubelab-reason"


def net_reason(e: BaseException) -> str:
    """A failed dial or bind as Go's net package (and so kubectl) words it: `connection refused`,
    `address already in use`, `i/o timeout`, not Python's `[Errno 111] Connect call failed (...)`."""
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return "i/o timeout"
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno).lower()
    return str(e)


class ApiError(Exception):
    reason = "InternalError"
    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ApiError):
    reason, code = "NotFound", grpc.StatusCode.NOT_FOUND


class AlreadyExists(ApiError):
    reason, code = "AlreadyExists", grpc.StatusCode.ALREADY_EXISTS


class Conflict(ApiError):
    reason, code = "Conflict", grpc.StatusCode.ABORTED


class Invalid(ApiError):
    reason, code = "Invalid", grpc.StatusCode.INVALID_ARGUMENT


class BadRequest(ApiError):
    reason, code = "BadRequest", grpc.StatusCode.INVALID_ARGUMENT


class Forbidden(ApiError):
    reason, code = "Forbidden", grpc.StatusCode.PERMISSION_DENIED


class TooManyRequests(ApiError):
    reason, code = "TooManyRequests", grpc.StatusCode.RESOURCE_EXHAUSTED


class Gone(ApiError):
    reason, code = "Gone", grpc.StatusCode.OUT_OF_RANGE


class Expired(ApiError):
    """Kubernetes' 410 for a list at a resourceVersion compacted away (a watch's is Gone)."""
    reason, code = "Expired", grpc.StatusCode.OUT_OF_RANGE


class Unauthenticated(ApiError):
    reason, code = "Unauthorized", grpc.StatusCode.UNAUTHENTICATED


class Unavailable(ApiError):
    reason, code = "ServiceUnavailable", grpc.StatusCode.UNAVAILABLE


class Timeout(ApiError):
    reason, code = "Timeout", grpc.StatusCode.DEADLINE_EXCEEDED


class RequestEntityTooLarge(ApiError):
    """Kubernetes' 413. gRPC's own code for an oversized message; the reason tells it from TooManyRequests."""
    reason, code = "RequestEntityTooLarge", grpc.StatusCode.RESOURCE_EXHAUSTED


_BY_REASON = {c.reason: c for c in (NotFound, AlreadyExists, Conflict, Invalid, BadRequest, Forbidden,
                                      TooManyRequests, Gone, Expired, Unauthenticated, Unavailable, Timeout,
                                      RequestEntityTooLarge)}
_BY_CODE = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.INVALID_ARGUMENT: Invalid,
    grpc.StatusCode.PERMISSION_DENIED: Forbidden,
    grpc.StatusCode.RESOURCE_EXHAUSTED: TooManyRequests,
    grpc.StatusCode.OUT_OF_RANGE: Gone,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Timeout,
}


def reason_of(err: grpc.RpcError) -> str:
    """The reason a kubelab server attached to a gRPC error; "" when none did (transport errors)."""
    try:
        return str(dict(err.trailing_metadata() or ()).get(REASON_KEY, ""))
    except Exception:  # noqa: BLE001 - some errors carry no metadata
        return ""


# gRPC's own refusal of a message over the receiver's limit (the apiserver's is kube-apiserver's 3 MiB on a
# request): it comes from the transport, before any handler, so it carries no reason.
_TOO_LARGE = re.compile(r"Received message larger than max \(\d+ vs\. (\d+)\)")


def from_rpc_error(err: grpc.RpcError) -> ApiError:
    """Translate a gRPC error (sync or aio) into the ApiError hierarchy."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    reason = reason_of(err)
    too_large = _TOO_LARGE.search(details or "") if code == grpc.StatusCode.RESOURCE_EXHAUSTED and not reason else None
    if too_large:     # in kube-apiserver's words for a body over its limit
        reason, details = RequestEntityTooLarge.reason, f"Request entity too large: limit is {too_large[1]}"
    e = from_status(code, reason, details)
    e.__cause__ = err
    return e


_STATUS_BY_VALUE = {c.value[0]: c for c in grpc.StatusCode}


def from_status(code: grpc.StatusCode | int, reason: str, message: str) -> ApiError:
    """The ApiError of a status (a code, the reason a kubelab server gave, its message): a failed call's, or one
    write's in a pipelined stream (kubelab.pipeline), which carries the same three."""
    if isinstance(code, int):
        code = _STATUS_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code, ApiError)
    return cls(message or str(code))


def is_transient(err: ApiError) -> bool:
    return isinstance(err, (Unavailable, Timeout))
