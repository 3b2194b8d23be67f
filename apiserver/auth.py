"""The apiserver's first filters, shared by every front end: request size limit and authentication.

Every call passes them in kube-apiserver's order (size limit → authentication → the handler) and a call
they refuse is refused before its body is read: a stranger cannot make the apiserver hold 200 MiB by
sending it. The gRPC front end applies them with `AuthInterceptor` (it sees a call's metadata before its
message is read) and the server's receive limit; an HTTP front end calls `authenticate` on the
Authorization header and refuses a body over `MAX_REQUEST_BYTES` with `too_large()`.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import grpc

from kubelab import errors

# kube-apiserver's limit on a request body (3 MiB, k8s.io/apiserver's MaxRequestBodyBytes): etcd takes
# values up to 1.5 MiB, so anything larger could never be stored. Only what comes in is limited: a LIST
# answer is paged, not capped.
MAX_REQUEST_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class User:
    """Who a request is from, as authentication found it."""
    name: str
    groups: tuple[str, ...] = ("system:authenticated",)


ADMIN = User("admin", ("system:masters", "system:authenticated"))


class Authenticator:
    """Bearer tokens to users. With no token configured everyone is admitted (as `admin`): a lab run
    without credentials, as before tokens existed."""

    def __init__(self, token: str = "") -> None:
        self.token = token

    @property
    def required(self) -> bool:
        return bool(self.token)

    def authenticate(self, token: str | None) -> User | None:
        """The user a bearer token stands for, or None (a missing or unknown token)."""
        if not self.token:
            return ADMIN
        if token is None:
            return None
        # Constant time: how much of a guess matched must not show in how long the refusal takes.
        return ADMIN if hmac.compare_digest(token.encode(), self.token.encode()) else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None without one)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def unauthorized(authorization: str | None) -> errors.Unauthenticated:
    return errors.Unauthenticated("Unauthorized: " + ("missing bearer token" if authorization is None
                                                      else "invalid bearer token"))


def too_large() -> errors.RequestEntityTooLarge:
    """kube-apiserver's words for a body over the limit (HTTP 413)."""
    return errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_REQUEST_BYTES}")


def refusal(err: errors.ApiError) -> grpc.RpcMethodHandler:
    """A handler that answers `err` without reading the call's message.

    A request-streaming handler is one the server does not read for: grpc.aio reads a unary call's message
    before calling its handler (all of it, up to the receive limit), but leaves a stream's messages unread
    until the handler asks. The wire is the same for both, so this serves a unary method too, and HTTP/2
    flow control keeps the unread body in the client.
    """
    async def refuse(request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(err.code, err.message, trailing_metadata=((errors.REASON_KEY, err.reason),))
    return grpc.stream_stream_rpc_method_handler(refuse)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authentication for the gRPC front end, before any message is read; the health service stays open
    (for probes)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith("/grpc.health.") or not self.authenticator.required:
            return await continuation(details)
        authorization = dict(details.invocation_metadata or ()).get("authorization")
        if self.authenticator.authenticate(bearer_token(authorization)) is None:
            return refusal(unauthorized(authorization))
        return await continuation(details)
