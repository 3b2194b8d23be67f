"""Authentication: who a request is from, from its bearer token.

The first of the apiserver's filters every front end shares (authentication → impersonation → authorization →
the handler; the authorizers are in apiserver/authz). Tokens come from a file in kube-apiserver's
`--token-auth-file` format (CSV lines `token,user,uid,"group1,group2"`); the single shared token of the
lab (`--token`) stays an admin in `system:masters`, so components given only it keep working. Every
authenticated user is also in `system:authenticated`, as kube-apiserver adds it.

A call these filters refuse is refused before its body is read: a stranger cannot make the apiserver hold
200 MiB by sending it. The gRPC front end refuses in `AuthInterceptor` (it sees a call's metadata before its
message) and limits a message to `MAX_REQUEST_BYTES` in the server's options; an HTTP front end calls
`Authenticator.authenticate(bearer_token(header))` and `impersonate(...)`, and refuses a body over
`MAX_REQUEST_BYTES` with `too_large()` before reading it.
"""
from __future__ import annotations

import csv
import hmac
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import grpc

from kubelab.serving import refusal

from kubelab import errors

# kube-apiserver's limit on a request body (3 MiB, k8s.io/apiserver's MaxRequestBodyBytes): etcd takes values
# up to 1.5 MiB, so anything larger could never be stored. Only what comes in is limited: a LIST answer is
# paged, not capped.
MAX_REQUEST_BYTES = 3 * 1024 * 1024

AUTHENTICATED = "system:authenticated"
MASTERS = "system:masters"


# A user's `extra`: key → values, in order (Go writes the map with its keys sorted).
Extra = tuple[tuple[str, tuple[str, ...]], ...]


def extra_json(extra: Extra) -> dict[str, list[str]]:
    """`extra` as authentication.k8s.io/v1 UserInfo holds it (SelfSubjectReview, the audit event's user)."""
    return {k: list(v) for k, v in extra}


@dataclass(frozen=True)
class UserInfo:
    """k8s.io/apiserver's user.Info: a name, a uid, groups, and the authenticator's `extra` (key → values, in
    order; a ServiceAccount token's pod, node and credential id)."""
    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Extra = ()


ADMIN = UserInfo("admin", "", (MASTERS, AUTHENTICATED))


class TokenFileError(ValueError):
    pass


def parse_token_file(text: str, source: str = "token file") -> dict[str, UserInfo]:
    """kube-apiserver's tokenfile: `token,user,uid[,"group1,group2"]` per line; an empty token is skipped, a
    later line for the same token wins (both as kube-apiserver does)."""
    users: dict[str, UserInfo] = {}
    for n, record in enumerate(csv.reader(io.StringIO(text)), 1):
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) < 3:
            raise TokenFileError(f"{source}: line {n}: must have at least 3 columns (token, user name, user uid), "
                                 f"found {len(record)}")
        token, name, uid = record[0], record[1], record[2]
        if not token:
            continue
        groups = tuple(g for g in record[3].split(",") if g) if len(record) > 3 else ()
        users[token] = UserInfo(name, uid, groups)
    return users


def load_token_file(path: str | Path) -> dict[str, UserInfo]:
    return parse_token_file(Path(path).read_text(), str(path))


def with_authenticated(user: UserInfo) -> UserInfo:
    return user if AUTHENTICATED in user.groups else replace(user, groups=(*user.groups, AUTHENTICATED))


# A second authenticator for bearer tokens the static ones do not know: ServiceAccount tokens (JWTs), checked by
# apiserver/serviceaccount.py's TokenAuthority. None: not one of its tokens, or not (any longer) valid.
TokenCheck = Callable[[str], "UserInfo | None"]


class Authenticator:
    """Bearer tokens to users: the token file's, the shared `token` as ADMIN, and ServiceAccount tokens (a
    `service_accounts` check). With no static token configured everyone is ADMIN (a lab run without
    credentials, as before tokens existed), except that a valid ServiceAccount token is still its account."""

    def __init__(self, token: str = "", tokens: Mapping[str, UserInfo] | None = None,
                 service_accounts: TokenCheck | None = None) -> None:
        self.token = token
        self.tokens = {t: with_authenticated(u) for t, u in (tokens or {}).items()}
        self.service_accounts = service_accounts

    @property
    def required(self) -> bool:
        return bool(self.token or self.tokens)

    def authenticate(self, token: str | None) -> UserInfo | None:
        """The user a bearer token stands for, or None (a missing or unknown token)."""
        if token is not None and self.service_accounts is not None and token.count(".") == 2:
            user = self.service_accounts(token)
            if user is not None:
                return user
        if not self.required:
            return ADMIN
        if token is None:
            return None
        # Constant time for the shared token: how much of a guess matched must not show in the refusal's time.
        if self.token and hmac.compare_digest(token.encode(), self.token.encode()):
            return ADMIN
        return self.tokens.get(token)


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


def metadata_user(authenticator: "Authenticator", metadata: Iterable[tuple[str, Any]]) -> UserInfo | None:
    """The user of a gRPC call, from its `authorization` metadata."""
    return authenticator.authenticate(bearer_token(dict(metadata).get("authorization")))


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authentication for the gRPC front end, before any message is read; the health service stays open
    (for probes). The handlers find the user again from the call's metadata (a dictionary look-up)."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith("/grpc.health.") or not self.authenticator.required:
            return await continuation(details)
        md = tuple(details.invocation_metadata or ())
        if metadata_user(self.authenticator, md) is not None:
            return await continuation(details)
        # Refused whatever the method: a unary-shaped refusal would have its message read first (a 200 MiB
        # Create without a token cost the apiserver 400 MiB it kept).
        return refusal(unauthorized(dict(md).get("authorization")))


# Impersonation: kube-apiserver's `Impersonate-User` / `Impersonate-Group` headers (gRPC metadata keys are
# these, lower case).
IMPERSONATE_USER = "impersonate-user"
IMPERSONATE_GROUP = "impersonate-group"

# authorize(user, verb, resource, name, namespace): raises Forbidden unless `user` may `impersonate` that
# users/groups/serviceaccounts object (core group), as kube-apiserver's impersonation filter asks its authorizer.
MayImpersonate = Callable[[UserInfo, str, str, str], None]


def impersonate(user: UserInfo, as_user: str, as_groups: Iterable[str], authorize: MayImpersonate) -> UserInfo:
    """The user a request acts as: `user` itself, or (with `as_user`) the impersonated one, if `user` may
    impersonate each of them (`authorize` raises Forbidden otherwise)."""
    asked = tuple(as_groups)
    if not as_user:
        if asked:
            raise errors.Forbidden("requested impersonation of groups without impersonating a user")
        return user
    sa = as_user.split(":") if as_user.startswith("system:serviceaccount:") else []
    if len(sa) == 4:
        authorize(user, "serviceaccounts", sa[3], sa[2])
    else:
        authorize(user, "users", as_user, "")
    for g in asked:                  # only the groups asked for: a ServiceAccount's own come with it
        authorize(user, "groups", g, "")
    groups = asked or (("system:serviceaccounts", f"system:serviceaccounts:{sa[2]}") if len(sa) == 4 else ())
    return with_authenticated(UserInfo(as_user, "", groups))


__all__ = ["UserInfo", "ADMIN", "AUTHENTICATED", "MASTERS", "Authenticator", "parse_token_file", "load_token_file",
           "TokenFileError", "AuthInterceptor", "metadata_user", "bearer_token", "unauthorized", "impersonate", "IMPERSONATE_USER", "IMPERSONATE_GROUP"]
