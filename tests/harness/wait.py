"""Test harness: polling until something is so, written once for every tier.

`wait_for` (async, a check that returns something truthy) and `wait_until` (its blocking twin, for tests that
drive the CLI, the lab or HTTP) raise an AssertionError naming what they waited for and the last thing seen;
`until` polls a fetch until a predicate accepts it; `wait_gone` waits for an object's NotFound.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Awaitable, Callable

from kubelab import errors
from kubelab.client import Client


async def wait_for(check: Callable[[], Awaitable[Any] | Any], timeout: float = 30.0, interval: float = 0.2,
                   what: str = "condition") -> Any:
    """Poll `check()` (a coroutine function, or a plain one for state the event loop changes) until it returns
    something truthy; NotFound counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
            if last:
                return last
        except errors.NotFound as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def wait_until(fn: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Call `fn()` until it gives something truthy (an AssertionError it raises counts as not yet); that value.
    The blocking twin of `wait_for`, for tests that drive the CLI or the lab."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except AssertionError as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")
        time.sleep(interval)


async def until(fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float, what: str) -> Any:
    """Poll `fetch()` until `ok` says yes to what it gave (a NotFound it raised is what `ok` is asked about);
    that value."""
    deadline = time.monotonic() + timeout
    value: Any = None
    while time.monotonic() < deadline:
        try:
            value = await fetch()
        except errors.NotFound as e:
            value = e
        if ok(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last saw {value!r}")


async def wait_gone(client: Client, kind: str, name: str, namespace: str | None = None,
                    timeout: float = 30.0) -> None:
    async def gone() -> bool:
        try:
            await client.get(kind, name, namespace)
            return False
        except errors.NotFound:
            return True
    await wait_for(gone, timeout, what=f"{kind} {name} to be gone")
