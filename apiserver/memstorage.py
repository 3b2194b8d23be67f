"""MemoryStorage: the `storage.Storage` contract kept in memory, with etcd's revisions.

Where this sits: beside `storage.EtcdStorage`, behind the same protocol; the
store and the watch cache cannot tell them apart. It is what the unit tests
run the store on (tests/storage_contract.py holds it to what real etcd does,
in tests/unit against this and in tests/integration against etcd).

It keeps what etcd's MVCC keeps: one revision that every successful write
transaction moves by one; per key its versions (a delete leaves a tombstone),
so a list can read at a past revision; a log of each transaction's events, so
a watch can start at a past revision; compaction, which forgets both before a
revision (a read or watch from before it is Compacted, as etcd says it); and
leases, whose keys are deleted in one transaction when they expire.
Everything is synchronous inside one call, so a write and the watchers it
wakes are one atomic step on the event loop.
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import AsyncGenerator, Callable, Iterator, Mapping, Sequence

from .storage import (KV, Batch, Compacted, FutureRevision, KeyExists, KeyNotFound, RevisionMismatch, StorageError,
                      StorageEvent, prefix_end)

PROGRESS_INTERVAL = 600.0      # etcd's default --experimental-watch-progress-notify-interval (10 min)


@dataclass
class _Version:
    revision: int
    kv: KV | None              # None: a tombstone (deleted at `revision`)
    lease: int = 0


@dataclass
class _Lease:
    ttl: int
    expires: float
    keys: set[bytes] = field(default_factory=set)


@dataclass
class _Watcher:
    prefix: bytes
    end: bytes
    prev_kv: bool
    start: int                 # the first revision it wants (a watch may start ahead of the store)
    batches: asyncio.Queue[Batch] = field(default_factory=asyncio.Queue)


def _within(key: bytes, start: bytes, end: bytes) -> bool:
    return key >= start and (end == b"\0" or key < end)


class MemoryStorage:
    """etcd's key-value contract in one process: see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.observe: Callable[[str, float], None] | None = None
        self.clock = clock                    # monotonic seconds, for lease expiry
        self.progress_interval = PROGRESS_INTERVAL
        self.revision = 1                     # an empty etcd is at revision 1
        self.compact_revision = 0
        self._keys: dict[bytes, list[_Version]] = {}        # each key's versions, oldest first
        self._log: list[tuple[int, Batch]] = []  # each transaction's events, by revision
        self._leases: dict[int, _Lease] = {}
        self._lease_ids = itertools.count(0x694D_0000_0001)
        self._watchers: list[_Watcher] = []

    # ------------------------------------------------------------- life cycle
    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def version(self) -> str:
        return "memory"

    @contextlib.contextmanager
    def _call(self, what: str) -> Iterator[None]:
        """Every verb: expire leases first (as etcd's lessor would have by now), then report to `observe`."""
        started = time.perf_counter()
        try:
            self._expire()
            yield
        finally:
            if self.observe is not None:
                self.observe(what, started)

    # ------------------------------------------------------------- reads
    def _at(self, key: bytes, revision: int = 0) -> _Version | None:
        """The key's version visible at `revision` (0 = latest), None if it did not exist then."""
        versions = self._keys.get(key)
        if not versions:
            return None
        if revision == 0:
            v = versions[-1]
        else:
            i = bisect.bisect_right([x.revision for x in versions], revision)
            if i == 0:
                return None
            v = versions[i - 1]
        return v if v.kv is not None else None

    def dump(self, prefix: bytes = b"") -> dict[bytes, KV]:
        """The current keys under `prefix`, read outside the contract (no `observe`, no lease expiry):
        for a test that inspects what was written without counting as a read."""
        end = prefix_end(prefix)
        found: dict[bytes, KV] = {}
        for k in sorted(self._keys):
            v = self._at(k)
            if v is not None and v.kv is not None and _within(k, prefix, end):
                found[k] = v.kv
        return found

    async def current_revision(self) -> int:
        with self._call("status"):
            return self.revision

    async def get(self, key: bytes) -> KV | None:
        with self._call("get"):
            v = self._at(key)
            return v.kv if v is not None else None

    async def list(self, prefix: bytes, limit: int = 0, start_key: bytes | None = None,
                   revision: int = 0) -> tuple[list[KV], int, bool]:
        with self._call("list"):
            if revision and revision < self.compact_revision:
                raise Compacted(0)    # etcd's range says "compacted" without the revision
            if revision > self.revision:
                raise FutureRevision(f"memory list: required revision {revision} is a future revision")
            end = prefix_end(prefix)
            items: list[KV] = []
            more = False
            for k in sorted(self._keys):
                if not _within(k, start_key or prefix, end):
                    continue
                v = self._at(k, revision)
                if v is None or v.kv is None:
                    continue
                if limit and len(items) == limit:
                    more = True
                    break
                items.append(v.kv)
            # As etcd's range header: the store's revision, also for a read at a past one.
            return items, self.revision, more

    # ------------------------------------------------------------- writes
    def _commit(self, puts: Sequence[tuple[bytes, bytes, int | None]], deletes: Sequence[bytes]) -> int:
        """One transaction: puts (key, value, lease; None keeps the key's lease) and deletes of present keys."""
        self.revision += 1
        rev = self.revision
        events: list[StorageEvent] = []
        for key, value, lease in puts:
            old = self._at(key)
            kept = old.lease if old is not None else 0
            new_lease = kept if lease is None else lease
            kv = KV(key, value, rev, old.kv.create_revision if old is not None and old.kv else rev)
            self._keys.setdefault(key, []).append(_Version(rev, kv, new_lease))
            self._attach(key, kept, new_lease)
            events.append(StorageEvent("PUT", key, value, old.kv.value if old is not None and old.kv else b"", rev))
        for key in deletes:
            old = self._at(key)
            if old is None or old.kv is None:
                continue                      # etcd's delete of an absent key: no event
            self._keys[key].append(_Version(rev, None))
            self._attach(key, old.lease, 0)
            events.append(StorageEvent("DELETE", key, old.kv.value, old.kv.value, rev))
        self._log.append((rev, events))
        for w in self._watchers:
            mine = [_shown(e, w.prev_kv) for e in events if rev >= w.start and _within(e.key, w.prefix, w.end)]
            if mine:
                w.batches.put_nowait(mine)
        return rev

    def _attach(self, key: bytes, old: int, new: int) -> None:
        if old and old in self._leases:
            self._leases[old].keys.discard(key)
        if new and new in self._leases:
            self._leases[new].keys.add(key)

    def _lease_of(self, lease: int) -> int:
        if lease and lease not in self._leases:
            raise StorageError("memory create: NOT_FOUND: etcdserver: requested lease not found")
        return lease

    def _present(self, key: bytes) -> KV | None:
        v = self._at(key)
        return v.kv if v is not None else None

    async def create(self, key: bytes, value: bytes, also_create: Mapping[bytes, bytes] | None = None,
                     lease: int = 0) -> int:
        with self._call("create"):
            side = dict(also_create or {})
            for k in (key, *side):
                if self._present(k) is not None:
                    raise KeyExists(k)
            return self._commit([(key, value, self._lease_of(lease))] + [(k, v, 0) for k, v in side.items()], [])

    def _expect(self, key: bytes, expected_revision: int) -> None:
        """The transaction's compare: `key` exists at `expected_revision`."""
        current = self._present(key)
        if current is None:
            raise KeyNotFound(key)
        if current.mod_revision != expected_revision:
            raise RevisionMismatch(current.mod_revision)

    async def update(self, key: bytes, value: bytes, expected_revision: int,
                     also_create: Mapping[bytes, bytes] | None = None,
                     also_delete: Sequence[bytes] = ()) -> int:
        with self._call("update"):
            self._expect(key, expected_revision)
            side = dict(also_create or {})
            for k in side:
                if self._present(k) is not None:
                    raise KeyExists(k)
            return self._commit([(key, value, None)] + [(k, v, 0) for k, v in side.items()], list(also_delete))

    async def delete(self, key: bytes, expected_revision: int, also_delete: Sequence[bytes] = ()) -> int:
        with self._call("delete"):
            self._expect(key, expected_revision)
            return self._commit([], [key, *also_delete])

    # ------------------------------------------------------------- leases
    async def grant_lease(self, ttl: int) -> int:
        with self._call("lease"):
            lease = next(self._lease_ids)
            self._leases[lease] = _Lease(ttl, self.clock() + ttl)
            # Expire on time even if nothing else calls in (a watcher waits for the DELETE).
            asyncio.get_running_loop().call_later(ttl, self._expire)
            return lease

    def _expire(self) -> None:
        now = self.clock()
        for lease_id, lease in list(self._leases.items()):
            if lease.expires <= now:
                del self._leases[lease_id]
                if lease.keys:
                    self._commit([], sorted(lease.keys))      # a revoke is one transaction

    # ------------------------------------------------------------- compaction
    async def compact(self, revision: int) -> None:
        with self._call("compact"):
            if revision > self.revision:
                raise FutureRevision(f"memory compact: required revision {revision} is a future revision")
            if revision <= self.compact_revision:
                raise Compacted(0)
            for key in list(self._keys):
                versions = self._keys[key]
                # Keep the version visible at `revision` and what came after; a tombstone there goes too.
                i = bisect.bisect_right([v.revision for v in versions], revision)
                kept = versions[max(i - 1, 0):]
                if kept and kept[0].revision <= revision and kept[0].kv is None:
                    kept = kept[1:]
                if kept:
                    self._keys[key] = kept
                else:
                    del self._keys[key]
            self._log = [entry for entry in self._log if entry[0] >= revision]
            self.compact_revision = revision

    # ------------------------------------------------------------- watch
    async def watch(self, prefix: bytes, from_revision: int, progress: asyncio.Queue[int] | None = None,
                    prev_kv: bool = True) -> AsyncGenerator[Batch, None]:
        with self._call("watch"):
            if from_revision and from_revision < self.compact_revision:
                raise Compacted(self.compact_revision)
            w = _Watcher(prefix, prefix_end(prefix), prev_kv, from_revision or self.revision + 1)
            for rev, events in self._log:
                mine = [_shown(e, prev_kv) for e in events if rev >= w.start and _within(e.key, prefix, w.end)]
                if mine:
                    w.batches.put_nowait(mine)
            self._watchers.append(w)
        try:
            while True:
                if progress is None:
                    yield await w.batches.get()
                    continue
                try:
                    yield await asyncio.wait_for(w.batches.get(), self.progress_interval)
                except asyncio.TimeoutError:
                    progress.put_nowait(self.revision)
        finally:
            self._watchers.remove(w)


def _shown(event: StorageEvent, prev_kv: bool) -> StorageEvent:
    """What a watcher sees: without prev_kv, etcd sends a DELETE with no value and no previous values."""
    if prev_kv:
        return event
    if event.type == "DELETE":
        return StorageEvent("DELETE", event.key, b"", b"", event.revision)
    return StorageEvent("PUT", event.key, event.value, b"", event.revision)
