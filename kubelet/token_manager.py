"""The kubelet's ServiceAccount tokens: one per pod and projection, asked for with TokenRequest, kept until
80% of its lifetime has passed.

Where it sits: the volume manager (`kubelet.volumes`) asks `TokenManager.token(pod, projection)` for the
token a projected `serviceAccountToken` source needs, and writes it into the pod's volume; the pod worker
syncs again at `Token.refresh_at`, when a new one is asked for. Tokens are bound to the pod (boundObjectRef
with its uid): the apiserver refuses them once the pod is gone. As Kubernetes' kubelet token manager:
refresh once 80% of the lifetime is over, or 24 hours after issue, whichever is first, each with up to 10 s
of jitter so a node's pods do not all ask at the same second. `requires_refresh` and `refresh_at` are pure;
the token itself is never logged.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from kubelab import timeutil

MAX_TTL = 24 * 3600.0        # refresh a token at most this long after it was issued
MAX_JITTER = 10.0            # seconds a refresh may come early


@dataclass(frozen=True)
class Token:
    value: str
    issued_at: float          # Unix seconds (the expiry less its expirationSeconds, as Kubernetes computes it)
    expires_at: float
    jitter: float = 0.0

    @property
    def refresh_at(self) -> float:
        return refresh_at(self.issued_at, self.expires_at, self.jitter)


def refresh_at(issued_at: float, expires_at: float, jitter: float = 0.0) -> float:
    """When a token is due for a new one: 80% into its lifetime, or MAX_TTL after issue, less the jitter."""
    ttl = expires_at - issued_at
    return min(expires_at - ttl * 0.2, issued_at + MAX_TTL) - jitter


def requires_refresh(token: Token | None, now: float) -> bool:
    return token is None or now >= token.refresh_at


# create_token(name, namespace, audiences, expiration_seconds, bound_kind, bound_name, bound_uid) -> TokenResponse
CreateToken = Callable[..., Awaitable[Any]]


class TokenManager:
    """Tokens by (namespace, ServiceAccount, audience, expirationSeconds, pod uid)."""

    def __init__(self, create_token: CreateToken, clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = lambda: random.random() * MAX_JITTER) -> None:
        self._create = create_token
        self._clock = clock
        self._jitter = jitter
        self._tokens: dict[tuple[str, str, str, int, str], Token] = {}

    @staticmethod
    def _key(pod: Any, projection: Any) -> tuple[str, str, str, int, str]:
        seconds = projection.expiration_seconds if projection.HasField("expiration_seconds") else 3600
        return (pod.metadata.namespace, pod.spec.service_account_name or "default", projection.audience,
                seconds, pod.metadata.uid)

    async def token(self, pod: Any, projection: Any) -> Token:
        """The pod's token for a serviceAccountToken projection: the cached one until it is due, else a new
        one (the TokenRequest's errors are raised: the caller reports them)."""
        key = self._key(pod, projection)
        have = self._tokens.get(key)
        if not requires_refresh(have, self._clock()):
            assert have is not None
            return have
        ns, sa, audience, seconds, uid = key
        resp = await self._create(sa, ns, [audience] if audience else [], seconds, "Pod", pod.metadata.name, uid)
        expires = timeutil.parse(resp.expiration_timestamp) or self._clock() + seconds
        issued = expires - (resp.expiration_seconds or seconds)
        token = Token(resp.token, issued, expires, self._jitter())
        self._tokens[key] = token
        return token

    def forget(self, uid: str) -> None:
        """A pod's tokens, once the pod is gone from this node."""
        for key in [k for k in self._tokens if k[4] == uid]:
            del self._tokens[key]


__all__ = ["Token", "TokenManager", "refresh_at", "requires_refresh", "MAX_TTL", "MAX_JITTER"]
