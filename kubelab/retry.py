"""Retrying a write that lost a race: the one home of "read it, change it, write it; on a Conflict, again".

Where it sits: beside kubelab.client, for every component and the CLI that updates an object someone else may
be writing too. An update carries the resourceVersion it was computed from; when another write came in
between, the apiserver answers Conflict (409) and the change must be made again on the object as it is now.
`retry_on_conflict` is client-go's util/retry.RetryOnConflict with DefaultRetry: `fn` reads, changes and
writes, and its result is returned; a Conflict runs it again after a short wait (10 ms, up to a tenth more),
at most `steps` times in all, and the last Conflict is raised when they are used up; any other error is
raised at once.

    async def cordon() -> Any:
        node = await client.get("Node", name)        # read afresh on every try
        node.spec.unschedulable = True
        return await client.update(node)
    await retry_on_conflict(cordon)

`cached_first` is the read for a retry that starts from a copy the caller has already (an informer's, or its
own last write), as Kubernetes' controllers and kubelet write: that copy first, so a write that meets no other
costs no read, and the apiserver's own on each retry.

The apiserver's own optimistic concurrency (the Store's retry against etcd's revisions, a patch re-applied to
the newer object) is not this: it retries inside one request, at once, and stays in the apiserver.
"""
from __future__ import annotations

import asyncio
import random
from typing import Awaitable, Callable, TypeVar

from kubelab import errors
from kubelab.backoff import RetryDelay

T = TypeVar("T")

# client-go's retry.DefaultRetry: 5 steps, 10 ms apart (Factor 1), jitter 0.1.
DEFAULT_STEPS = 5
DEFAULT_DELAY = 0.01
JITTER = 0.1


async def retry_on_conflict(fn: Callable[[], Awaitable[T]], steps: int = DEFAULT_STEPS,
                            base: float = DEFAULT_DELAY, cap: float = DEFAULT_DELAY,
                            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """`await fn()`, run again after each Conflict, `steps` times at most; its result, or the last Conflict.

    The wait before a retry is `base`, doubling up to `cap` (equal by default: DefaultRetry's constant wait),
    plus up to a tenth more at random so that writers that collided do not collide again in step."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    delay = RetryDelay(base, cap)
    for step in range(1, steps + 1):
        try:
            return await fn()
        except errors.Conflict:
            if step == steps:
                raise
        await sleep(delay.step() * (1 + JITTER * random.random()))
    raise AssertionError("unreachable")


def cached_first(cached: T, get: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """A read for `retry_on_conflict`'s `fn`: `cached` on its first call, `await get()` on every later one
    (after a Conflict, when the copy in hand has proved stale)."""
    calls = 0

    async def read() -> T:
        nonlocal calls
        calls += 1
        return cached if calls == 1 else await get()
    return read


__all__ = ["DEFAULT_STEPS", "cached_first", "retry_on_conflict"]
