"""The watch cache: one etcd watch per kind, fanned out to every client watch.

Sits between storage (etcd's watch) and the Watch RPC. Each kind keeps its
current objects and a window of recent events; a client watch starting at a
resourceVersion inside the window is replayed from memory, one older than
the window falls back to a direct etcd watch from that revision (which says
Gone if etcd has compacted it). Each event is serialised once per event type
and the bytes are shared by every watcher. A watch stream's messages are
`WatchEvents`: each sends every event that was waiting (a repeated field's
encoding is its elements' concatenated, so a message is the events' bytes
joined), so a watcher that falls behind catches up in few gRPC messages.
"""
from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from kubelab import errors, kinds, timeutil
from kubelab.backoff import RetryDelay
from kubelab.v1 import api_pb2 as api

from . import storage as st

log = logging.getLogger(__name__)

Filter = Callable[[Any], bool]


@dataclass
class CachedEvent:
    type: str                   # ADDED, MODIFIED, DELETED
    obj: Any
    prev: Any | None
    revision: int
    _wire: dict[str, bytes] = field(default_factory=dict)

    def wire(self, type_: str) -> bytes:
        data = self._wire.get(type_)
        if data is None:
            data = framed(api.WatchEvent(type=type_, object=kinds.wrap(self.obj)))
            self._wire[type_] = data
        return data


# A message carries at most this much: a watcher far behind gets several, none huge.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def framed(event: api.WatchEvent) -> bytes:
    """`event` as one element of WatchEvents.events (field 1, length-delimited): such elements, joined, are a
    WatchEvents message."""
    data = event.SerializeToString()
    n, head = len(data), bytearray(b"\x0a")
    while n > 0x7F:
        head.append(n & 0x7F | 0x80)
        n >>= 7
    head.append(n)
    return bytes(head) + data


def bookmark_bytes(revision: int) -> bytes:
    return framed(api.WatchEvent(type="BOOKMARK", resource_version=str(revision)))


async def messages(queue: "asyncio.Queue[bytes | Exception]") -> AsyncIterator[bytes]:
    """WatchEvents messages from a watcher's queue of framed events: each holds what was waiting (up to
    MAX_MESSAGE_BYTES). An exception in the queue ends the stream with it, after the events before it."""
    while True:
        item = await queue.get()
        parts: list[bytes] = []
        size = 0
        while True:
            if isinstance(item, Exception):
                if parts:
                    yield b"".join(parts)
                raise item
            parts.append(item)
            size += len(item)
            if size >= MAX_MESSAGE_BYTES or queue.empty():
                break
            item = queue.get_nowait()
        yield parts[0] if len(parts) == 1 else b"".join(parts)


class SlowWatcher(Exception):
    pass


class Watcher:
    """One client's watch: a filter and a bounded queue of serialised events."""

    def __init__(self, namespace: str, match: Filter, bookmarks: bool, after: int, max_queue: int = 50000) -> None:
        self.namespace = namespace
        self.match = match
        self.bookmarks = bookmarks
        self.after = after                  # only events with a newer revision
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()
        self.max_queue = max_queue
        self.closed = False

    def offer(self, ev: CachedEvent) -> None:
        if self.closed or ev.revision <= self.after:
            return
        if self.namespace and ev.obj.metadata.namespace != self.namespace:
            return
        now = self.match(ev.obj)
        before = ev.prev is not None and self.match(ev.prev)
        if ev.type == "DELETED":
            type_ = "DELETED" if before or now else ""
        elif ev.type == "ADDED":
            type_ = "ADDED" if now else ""
        else:
            type_ = "MODIFIED" if now and before else "ADDED" if now else "DELETED" if before else ""
        if type_:
            self.push(ev.wire(type_))

    def push(self, item: bytes | Exception) -> None:
        if self.queue.qsize() >= self.max_queue:
            # A client that cannot keep up is cut off; it relists, as in Kubernetes.
            self.closed = True
            self.queue.put_nowait(SlowWatcher("watch closed: client too slow"))
            return
        self.queue.put_nowait(item)


class KindCache:
    # How long a watch from a resourceVersion beyond etcd's waits for etcd to get there (Kubernetes: 3 s).
    too_large_wait = 3.0

    def __init__(self, info: kinds.KindInfo, storage: st.Storage, prefix: bytes,
                 decode: Callable[[bytes, int], Any], window: int = 20000) -> None:
        self.info = info
        self.storage = storage
        self.prefix = prefix
        self.decode = decode
        self.objects: dict[bytes, Any] = {}
        self.events: collections.deque[CachedEvent] = collections.deque(maxlen=window)
        self.revision = 0
        self.oldest = 0            # every event newer than this is in `events`
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[CachedEvent], None]] = []    # in-process (the trace index): every event
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watchcache-{self.info.kind}")

    async def stop(self) -> None:
        await timeutil.cancel(self._task)

    async def _relist(self) -> None:
        items, rev, _ = await self.storage.list(self.prefix)
        self.objects = {kv.key: self.decode(kv.value, kv.mod_revision) for kv in items}
        self.revision = self.oldest = rev
        self.events.clear()
        for w in list(self.watchers):   # they cannot know what they missed
            w.push(st.Compacted(rev))
            w.closed = True
        self.watchers.clear()
        self.ready.set()

    async def _run(self) -> None:
        retry = RetryDelay(0.2, 5.0)
        while True:
            try:
                if not self.ready.is_set():
                    await self._relist()
                # The cache holds every current object, so it needs no prev_kv from etcd.
                async for batch in self.storage.watch(self.prefix, self.revision + 1, prev_kv=False):
                    for sev in batch:
                        self._apply(sev)
                    retry.reset()
            except asyncio.CancelledError:
                raise
            except st.Compacted:
                log.warning("watch cache for %s fell behind a compaction; relisting", self.info.kind)
                self.ready.clear()
            except Exception as e:  # noqa: BLE001 - etcd down: retry from where we were
                log.warning("watch cache for %s: %s; retrying in %.1fs", self.info.kind, e, retry.delay)
                await asyncio.sleep(retry.step())

    def _apply(self, sev: st.StorageEvent) -> None:
        prev = self.objects.get(sev.key)
        if sev.type == "DELETE":
            self.objects.pop(sev.key, None)
            if prev is None:
                self.revision = sev.revision
                return
            obj = type(prev)()
            obj.CopyFrom(prev)          # the last state, at the deletion's revision (as Kubernetes reports it)
            obj.metadata.resource_version = str(sev.revision)
            ev = CachedEvent("DELETED", obj, prev, sev.revision)
        else:
            obj = self.decode(sev.value, sev.revision)
            self.objects[sev.key] = obj
            ev = CachedEvent("MODIFIED" if prev is not None else "ADDED", obj, prev, sev.revision)
        if len(self.events) == self.events.maxlen:
            self.oldest = self.events[0].revision
        self.events.append(ev)
        self.revision = sev.revision
        for w in self.watchers:
            w.offer(ev)
        for fn in self.listeners:
            fn(ev)

    def bookmark(self) -> None:
        data = bookmark_bytes(self.revision)
        for w in self.watchers:
            if w.bookmarks and not w.closed:
                w.push(data)

    async def watch(self, namespace: str, match: Filter, resource_version: int | None,
                    bookmarks: bool) -> AsyncIterator[bytes]:
        """Serialised WatchEvents for one client, until it goes away."""
        await self.ready.wait()
        if resource_version is not None and resource_version > self.revision:
            await self._wait_for_revision(resource_version)
        if resource_version is not None and resource_version < self.oldest:
            async for item in self._watch_from_etcd(namespace, match, resource_version, bookmarks):
                yield item
            return
        w = Watcher(namespace, match, bookmarks, after=resource_version or self.revision)
        # No await between the snapshot/replay and registering: nothing can slip between them.
        if resource_version is None:
            for obj in list(self.objects.values()):
                if (not namespace or obj.metadata.namespace == namespace) and match(obj):
                    w.push(framed(api.WatchEvent(type="ADDED", object=kinds.wrap(obj))))
        else:
            for ev in self.events:
                if ev.revision > resource_version:
                    w.offer(ev)
        self.watchers.add(w)
        try:
            async for message in messages(w.queue):
                yield message
        finally:
            self.watchers.discard(w)
            w.closed = True

    async def _wait_for_revision(self, resource_version: int) -> None:
        """Return once etcd has reached `resource_version`; Timeout if it does not within `too_large_wait`.

        Ahead of this cache is normal (etcd's revision is global: other kinds' writes move it, and a List
        reports it), so the cache's own revision cannot decide; etcd's can. A revision etcd has not reached
        would otherwise be waited for with no end, since nothing says it ever will be.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.too_large_wait
        while True:
            current = await self.storage.current_revision()
            if resource_version <= current:
                return
            left = deadline - loop.time()
            if left <= 0:
                raise errors.Timeout(f"Too large resource version: {resource_version}, current: {current}")
            await asyncio.sleep(min(0.1, left))

    async def _watch_from_etcd(self, namespace: str, match: Filter, resource_version: int,
                               bookmarks: bool) -> AsyncIterator[bytes]:
        """A client too far behind the window: its own etcd watch (Gone if compacted)."""
        objects: dict[bytes, Any] = {}
        w = Watcher(namespace, match, bookmarks, after=resource_version)
        async for batch in self.storage.watch(self.prefix, resource_version + 1):
            for sev in batch:
                prev = self.decode(sev.prev_value, 0) if sev.prev_value else objects.get(sev.key)
                obj = self.decode(sev.value, sev.revision)
                if sev.type == "DELETE":
                    objects.pop(sev.key, None)
                    ev = CachedEvent("DELETED", obj, prev, sev.revision)
                else:
                    objects[sev.key] = obj
                    ev = CachedEvent("MODIFIED" if prev is not None else "ADDED", obj, prev, sev.revision)
                w.offer(ev)
            parts: list[bytes] = []
            while not w.queue.empty():
                item = w.queue.get_nowait()
                if isinstance(item, Exception):
                    raise item
                parts.append(item)
            if parts:
                yield b"".join(parts)


class WatchCache:
    """All kinds' caches and the bookmark ticker."""

    def __init__(self, storage: st.Storage, prefixes: dict[str, bytes],
                 decoders: dict[str, Callable[[bytes, int], Any]], bookmark_interval: float = 5.0) -> None:
        self.caches = {kind: KindCache(kinds.BY_KIND[kind], storage, prefixes[kind], decoders[kind])
                       for kind in prefixes}
        self.bookmark_interval = bookmark_interval
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        for c in self.caches.values():
            c.start()
        self._ticker = asyncio.create_task(self._tick())

    def current(self, kind: str, key: bytes) -> Any | None:
        """The cached object at `key` (shared: never change it), or None if absent or not yet listed."""
        cache = self.caches.get(kind)
        if cache is None or not cache.ready.is_set():
            return None
        return cache.objects.get(key)

    async def wait_ready(self) -> None:
        await asyncio.gather(*(c.ready.wait() for c in self.caches.values()))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            for c in self.caches.values():
                c.bookmark()

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
        await asyncio.gather(*(c.stop() for c in self.caches.values()))
