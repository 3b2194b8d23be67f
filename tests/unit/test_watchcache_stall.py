"""The watch cache's own etcd watch: one that stops delivering while etcd goes on writing is made again.

Issue 12 item 11: under a burst (10,000 pods created, then scaled to 0) the apiserver's etcd watch of
/registry/pods/ went silent for minutes while etcd kept writing pods; every controller waited on events that
never came (a scale-down "stalled"). A fake storage plays that watch: it delivers one event, then nothing.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from apiserver import storage as st
from apiserver.watchcache import KindCache
from kubelab import kinds
from kubelab.v1 import objects_pb2 as pb


def _pod(name: str, rv: int) -> bytes:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = name, "default"
    p.metadata.resource_version = str(rv)
    return p.SerializeToString()


def _decode(value: bytes, rev: int) -> Any:
    p = pb.Pod()
    p.ParseFromString(value)
    if rev:
        p.metadata.resource_version = str(rev)
    return p


class StallingStorage:
    """etcd as the burst left it: the first watch goes silent after one event; a new one sees everything."""

    def __init__(self) -> None:
        self.writes = [st.StorageEvent("PUT", b"/registry/pods/default/a", _pod("a", 11), b"", 11),
                       st.StorageEvent("PUT", b"/registry/pods/default/b", _pod("b", 12), b"", 12)]
        self.watches: list[int] = []

    async def list(self, prefix: bytes, limit: int = 0, start_key: bytes | None = None,
                   revision: int = 0) -> tuple[list[Any], int, bool]:
        return [], 10, False

    async def watch(self, prefix: bytes, from_revision: int, progress: Any = None,
                    prev_kv: bool = True) -> AsyncIterator[list[st.StorageEvent]]:
        self.watches.append(from_revision)
        pending = [w for w in self.writes if w.revision >= from_revision]
        if len(self.watches) == 1:
            yield pending[:1]
            await asyncio.Event().wait()      # silent from here on, though etcd has written "b"
        yield pending
        await asyncio.Event().wait()

    async def prefix_state(self, prefix: bytes, revision: int) -> tuple[bool, int]:
        keys = {w.key for w in self.writes if w.type == "PUT"} - {w.key for w in self.writes if w.type == "DELETE"}
        return any(w.revision > revision and w.type == "PUT" and w.key in keys for w in self.writes), len(keys)


async def test_a_silent_etcd_watch_is_made_again_from_where_it_was() -> None:
    storage = StallingStorage()
    cache = KindCache(kinds.BY_KIND["Pod"], storage, b"/registry/pods/", _decode)  # type: ignore[arg-type]
    cache.stall_check = 0.05
    cache.start()
    try:
        async with asyncio.timeout(5):
            while cache.revision < 12:
                await asyncio.sleep(0.01)
    finally:
        await cache.stop()
    assert sorted(k.decode() for k in cache.objects) == ["/registry/pods/default/a", "/registry/pods/default/b"]
    assert storage.watches == [11, 12]        # the second watch starts after the last event applied


async def test_a_watch_silent_about_deletions_is_made_again() -> None:
    """In the scale-down, the writes the watch missed left no key behind: pods marked, then deleted."""
    storage = StallingStorage()
    storage.writes.append(st.StorageEvent("DELETE", b"/registry/pods/default/b", b"", b"", 13))
    storage.writes[1] = st.StorageEvent("PUT", b"/registry/pods/default/a", _pod("a", 12), b"", 12)
    storage.writes[2] = st.StorageEvent("DELETE", b"/registry/pods/default/a", b"", b"", 13)
    cache = KindCache(kinds.BY_KIND["Pod"], storage, b"/registry/pods/", _decode)  # type: ignore[arg-type]
    cache.stall_check = 0.05
    cache.start()
    try:
        async with asyncio.timeout(5):
            while cache.revision < 13:
                await asyncio.sleep(0.01)
    finally:
        await cache.stop()
    assert cache.objects == {} and storage.watches == [11, 12]


async def test_a_quiet_watch_with_nothing_to_say_is_left_alone() -> None:
    storage = StallingStorage()
    storage.writes = storage.writes[:1]       # etcd wrote nothing after "a": silence is right
    cache = KindCache(kinds.BY_KIND["Pod"], storage, b"/registry/pods/", _decode)  # type: ignore[arg-type]
    cache.stall_check = 0.05
    cache.start()
    try:
        await asyncio.sleep(0.5)
    finally:
        await cache.stop()
    assert cache.revision == 11 and storage.watches == [11]
