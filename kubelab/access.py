"""Who am I and may I: the API's WhoAmI and SelfSubjectAccessReview calls, for the CLI and anyone else.

Beside kubelab/client.py (the object verbs) and kubelab/streams.py, and like them a place where gRPC errors
become kubelab.errors. `impersonate` is kubectl's --as/--as-group: the apiserver acts as that user (and
groups) if the caller may `impersonate` them.
"""
from __future__ import annotations

from typing import Any, Iterable

import grpc

from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import api_pb2 as api


def impersonation(as_user: str = "", as_groups: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """The metadata of an impersonated call (kube-apiserver's Impersonate-User / Impersonate-Group headers)."""
    return (("impersonate-user", as_user),) * bool(as_user) + tuple(("impersonate-group", g) for g in as_groups)


async def _call(client: Client, method: str, req: Any, as_user: str, as_groups: Iterable[str]) -> Any:
    try:
        return await getattr(client.stub, method)(req, metadata=tuple(client.metadata) +
                                                  impersonation(as_user, as_groups), timeout=30)
    except grpc.aio.AioRpcError as e:
        raise errors.from_rpc_error(e) from None


async def whoami(client: Client, as_user: str = "", as_groups: Iterable[str] = ()) -> api.UserInfo:
    return await _call(client, "WhoAmI", api.WhoAmIRequest(), as_user, as_groups)


async def access_review(client: Client, req: api.AccessReviewRequest, as_user: str = "",
                        as_groups: Iterable[str] = ()) -> api.AccessReviewStatus:
    return await _call(client, "SelfSubjectAccessReview", req, as_user, as_groups)
