"""The storage contract (apiserver.storage.Storage), written once and run against every backend.

As kine's suite does for its backends: tests/unit/test_storage_contract.py
runs it on apiserver.memstorage.MemoryStorage, and
tests/integration/test_storage_contract.py on a real etcd, so whatever the
unit tests learn from the memory store is what etcd does. A subclass gives a
`storage` fixture; each test works under its own key prefix and counts
revisions relative to where it starts (the etcd one is shared by the module).
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import AsyncIterator

import pytest

from apiserver import storage as st
from apiserver.storage import Storage, StorageEvent


async def next_batches(stream: AsyncIterator[list[StorageEvent]], n: int, timeout: float = 5.0) -> list[StorageEvent]:
    """The events of the next batches until there are `n` (a watch may group transactions)."""
    events: list[StorageEvent] = []
    while len(events) < n:
        events += await asyncio.wait_for(stream.__anext__(), timeout)
    return events


def summary(events: list[StorageEvent], prefix: bytes) -> list[tuple[str, str, bytes, bytes]]:
    return [(e.type, e.key[len(prefix):].decode(), e.value, e.prev_value) for e in events]


class StorageContract:
    """Subclasses provide the `storage` fixture (started, and closed afterwards)."""

    @pytest.fixture
    def prefix(self) -> bytes:
        return f"/contract/{uuid.uuid4().hex}/".encode()

    # ------------------------------------------------------------- create, get
    async def test_create_writes_at_the_next_revision(self, storage: Storage, prefix: bytes) -> None:
        before = await storage.current_revision()
        rev = await storage.create(prefix + b"a", b"1")
        assert rev == before + 1 and await storage.current_revision() == rev
        assert await storage.get(prefix + b"a") == st.KV(prefix + b"a", b"1", rev, rev)
        assert await storage.get(prefix + b"missing") is None

    async def test_create_fails_if_present_and_writes_nothing(self, storage: Storage, prefix: bytes) -> None:
        await storage.create(prefix + b"a", b"1")
        before = await storage.current_revision()
        with pytest.raises(st.KeyExists) as e:
            await storage.create(prefix + b"a", b"2")
        assert e.value.key == prefix + b"a"
        assert (await storage.get(prefix + b"a")).value == b"1"          # type: ignore[union-attr]
        assert await storage.current_revision() == before

    async def test_side_keys_are_created_with_the_object_or_not_at_all(self, storage: Storage,
                                                                        prefix: bytes) -> None:
        rev = await storage.create(prefix + b"svc", b"s", {prefix + b"ip": b"svc", prefix + b"port": b"svc"})
        assert (await storage.get(prefix + b"ip")).mod_revision == rev     # type: ignore[union-attr]
        before = await storage.current_revision()
        with pytest.raises(st.KeyExists) as e:
            await storage.create(prefix + b"other", b"o", {prefix + b"free": b"o", prefix + b"port": b"o"})
        assert e.value.key == prefix + b"port"                            # the key that was taken
        assert await storage.get(prefix + b"other") is None and await storage.get(prefix + b"free") is None
        assert await storage.current_revision() == before

    # ------------------------------------------------------------- update
    async def test_update_at_the_expected_revision(self, storage: Storage, prefix: bytes) -> None:
        created = await storage.create(prefix + b"a", b"1")
        rev = await storage.update(prefix + b"a", b"2", created)
        assert rev == created + 1
        assert await storage.get(prefix + b"a") == st.KV(prefix + b"a", b"2", rev, created)

    async def test_update_at_a_stale_revision_is_a_mismatch_naming_the_current(self, storage: Storage,
                                                                               prefix: bytes) -> None:
        created = await storage.create(prefix + b"a", b"1")
        current = await storage.update(prefix + b"a", b"2", created)
        with pytest.raises(st.RevisionMismatch) as e:
            await storage.update(prefix + b"a", b"3", created)
        assert e.value.current_revision == current
        assert (await storage.get(prefix + b"a")).value == b"2"          # type: ignore[union-attr]

    async def test_update_of_a_missing_key_is_not_found(self, storage: Storage, prefix: bytes) -> None:
        before = await storage.current_revision()
        with pytest.raises(st.KeyNotFound):
            await storage.update(prefix + b"missing", b"1", before)
        assert await storage.current_revision() == before

    async def test_update_creates_and_releases_side_keys_in_one_transaction(self, storage: Storage,
                                                                            prefix: bytes) -> None:
        created = await storage.create(prefix + b"svc", b"1", {prefix + b"old": b"svc"})
        rev = await storage.update(prefix + b"svc", b"2", created, {prefix + b"new": b"svc"}, [prefix + b"old"])
        assert await storage.get(prefix + b"old") is None
        assert (await storage.get(prefix + b"new")).mod_revision == rev   # type: ignore[union-attr]
        await storage.create(prefix + b"taken", b"x")
        before = await storage.current_revision()
        with pytest.raises(st.KeyExists) as e:
            await storage.update(prefix + b"svc", b"3", rev, {prefix + b"taken": b"svc"}, [prefix + b"new"])
        assert e.value.key == prefix + b"taken"
        assert await storage.get(prefix + b"new") is not None and await storage.current_revision() == before

    # ------------------------------------------------------------- delete
    async def test_delete_at_the_expected_revision_with_its_side_keys(self, storage: Storage,
                                                                      prefix: bytes) -> None:
        created = await storage.create(prefix + b"svc", b"1", {prefix + b"ip": b"svc"})
        rev = await storage.delete(prefix + b"svc", created, [prefix + b"ip", prefix + b"never-there"])
        assert rev == created + 1 and await storage.current_revision() == rev
        assert await storage.get(prefix + b"svc") is None and await storage.get(prefix + b"ip") is None

    async def test_delete_at_a_stale_revision_or_of_a_missing_key(self, storage: Storage, prefix: bytes) -> None:
        created = await storage.create(prefix + b"a", b"1")
        current = await storage.update(prefix + b"a", b"2", created)
        with pytest.raises(st.RevisionMismatch) as e:
            await storage.delete(prefix + b"a", created)
        assert e.value.current_revision == current
        with pytest.raises(st.KeyNotFound):
            await storage.delete(prefix + b"missing", current)
        assert await storage.get(prefix + b"a") is not None

    async def test_a_recreated_key_starts_a_new_life(self, storage: Storage, prefix: bytes) -> None:
        first = await storage.create(prefix + b"a", b"1")
        await storage.delete(prefix + b"a", first)
        second = await storage.create(prefix + b"a", b"2")
        assert await storage.get(prefix + b"a") == st.KV(prefix + b"a", b"2", second, second)

    # ------------------------------------------------------------- list
    async def test_list_in_key_order_by_pages(self, storage: Storage, prefix: bytes) -> None:
        for name in (b"c", b"a", b"b", b"d"):
            await storage.create(prefix + name, name)
        await storage.create(prefix[:-1] + b"x/a", b"outside")     # shares the prefix's text, not its folder
        items, rev, more = await storage.list(prefix)
        assert [kv.key[len(prefix):] for kv in items] == [b"a", b"b", b"c", b"d"] and not more
        assert rev == await storage.current_revision()
        page, _, more = await storage.list(prefix, limit=2)
        assert [kv.value for kv in page] == [b"a", b"b"] and more
        page, _, more = await storage.list(prefix, limit=2, start_key=page[-1].key + b"\0")
        assert [kv.value for kv in page] == [b"c", b"d"] and not more

    async def test_list_at_a_past_revision_sees_that_past(self, storage: Storage, prefix: bytes) -> None:
        a = await storage.create(prefix + b"a", b"1")
        await storage.create(prefix + b"b", b"1")
        then = await storage.current_revision()
        await storage.update(prefix + b"a", b"2", a)
        b = await storage.get(prefix + b"b")
        await storage.delete(prefix + b"b", b.mod_revision)                  # type: ignore[union-attr]
        await storage.create(prefix + b"c", b"1")
        items, rev, _ = await storage.list(prefix, revision=then)
        assert [(kv.key[len(prefix):], kv.value) for kv in items] == [(b"a", b"1"), (b"b", b"1")]
        assert rev == await storage.current_revision()             # the header says where the store is now
        now, _, _ = await storage.list(prefix)
        assert [(kv.key[len(prefix):], kv.value) for kv in now] == [(b"a", b"2"), (b"c", b"1")]

    async def test_list_at_a_future_revision(self, storage: Storage, prefix: bytes) -> None:
        with pytest.raises(st.FutureRevision):
            await storage.list(prefix, revision=await storage.current_revision() + 100)

    # ------------------------------------------------------------- watch
    async def test_watch_from_a_past_revision_replays_then_follows(self, storage: Storage, prefix: bytes) -> None:
        a = await storage.create(prefix + b"a", b"1")
        a2 = await storage.update(prefix + b"a", b"2", a)
        await storage.create(prefix[:-1] + b"-elsewhere", b"x")
        stream = storage.watch(prefix, a)
        try:
            events = await next_batches(stream, 2)
            assert summary(events, prefix) == [("PUT", "a", b"1", b""), ("PUT", "a", b"2", b"1")]
            assert [e.revision for e in events] == [a, a2]
            deleted = await storage.delete(prefix + b"a", a2)
            events = await next_batches(stream, 1)
            assert summary(events, prefix) == [("DELETE", "a", b"2", b"2")] and events[0].revision == deleted
        finally:
            await stream.aclose()

    async def test_watch_from_zero_sees_only_what_comes_next(self, storage: Storage, prefix: bytes) -> None:
        await storage.create(prefix + b"before", b"1")
        stream = storage.watch(prefix, 0)
        try:
            waiting = asyncio.ensure_future(next_batches(stream, 1))
            await asyncio.sleep(0.2)                                   # the watch is open before the write
            await storage.create(prefix + b"after", b"1")
            assert summary(await waiting, prefix) == [("PUT", "after", b"1", b"")]
        finally:
            await stream.aclose()

    async def test_watch_from_a_future_revision_starts_there(self, storage: Storage, prefix: bytes) -> None:
        stream = storage.watch(prefix, await storage.current_revision() + 3)
        try:
            waiting = asyncio.ensure_future(next_batches(stream, 1))
            await asyncio.sleep(0.2)
            for name in (b"a", b"b", b"c"):
                await storage.create(prefix + name, name)
            assert summary(await waiting, prefix) == [("PUT", "c", b"c", b"")]
        finally:
            await stream.aclose()

    async def test_watch_without_prev_kv(self, storage: Storage, prefix: bytes) -> None:
        a = await storage.create(prefix + b"a", b"1")
        a2 = await storage.update(prefix + b"a", b"2", a)
        await storage.delete(prefix + b"a", a2)
        stream = storage.watch(prefix, a, prev_kv=False)
        try:
            events = await next_batches(stream, 3)
            assert summary(events, prefix) == [("PUT", "a", b"1", b""), ("PUT", "a", b"2", b""),
                                               ("DELETE", "a", b"", b"")]
        finally:
            await stream.aclose()

    async def test_a_transactions_events_come_in_one_batch(self, storage: Storage, prefix: bytes) -> None:
        stream = storage.watch(prefix, await storage.current_revision() + 1)
        try:
            rev = await storage.create(prefix + b"svc", b"s", {prefix + b"ip": b"svc"})
            batch = await asyncio.wait_for(stream.__anext__(), 5)
            assert sorted(summary(batch, prefix)) == [("PUT", "ip", b"svc", b""), ("PUT", "svc", b"s", b"")]
            assert {e.revision for e in batch} == {rev}
        finally:
            await stream.aclose()

    # ------------------------------------------------------------- compaction
    async def test_compaction_makes_the_past_gone(self, storage: Storage, prefix: bytes) -> None:
        old = await storage.create(prefix + b"a", b"1")
        await storage.update(prefix + b"a", b"2", old)
        at = await storage.current_revision()
        await storage.compact(at)
        with pytest.raises(st.Compacted) as e:
            await anext(storage.watch(prefix, old))
        assert e.value.compact_revision == at                     # what a Gone says: the oldest revision left
        with pytest.raises(st.Compacted):
            await storage.list(prefix, revision=old)
        items, _, _ = await storage.list(prefix, revision=at)     # the compacted revision itself is kept
        assert [kv.value for kv in items] == [b"2"]
        with pytest.raises(st.Compacted):
            await storage.compact(at)
        with pytest.raises(st.FutureRevision):
            await storage.compact(at + 100)

    # ------------------------------------------------------------- leases
    async def test_keys_of_a_lease_go_when_it_expires_updates_included(self, storage: Storage,
                                                                       prefix: bytes) -> None:
        lease = await storage.grant_lease(2)                      # etcd's shortest lease
        created = await storage.create(prefix + b"event", b"1", lease=lease)
        await storage.update(prefix + b"event", b"2", created)    # an update keeps the key's lease
        await storage.create(prefix + b"kept", b"1")
        deadline = time.monotonic() + 10
        while await storage.get(prefix + b"event") is not None:
            assert time.monotonic() < deadline, "the leased key outlived its lease"
            await asyncio.sleep(0.2)
        assert await storage.get(prefix + b"kept") is not None

    async def test_a_write_with_an_unknown_lease_is_refused(self, storage: Storage, prefix: bytes) -> None:
        with pytest.raises(st.StorageError):
            await storage.create(prefix + b"a", b"1", lease=12345)
        assert await storage.get(prefix + b"a") is None

    # ------------------------------------------------------------- the metrics hook
    async def test_every_call_is_observed_by_its_verb(self, storage: Storage, prefix: bytes) -> None:
        seen: list[str] = []
        storage.observe = lambda what, started: seen.append(what)
        rev = await storage.create(prefix + b"a", b"1")
        await storage.get(prefix + b"a")
        await storage.list(prefix)
        rev = await storage.update(prefix + b"a", b"2", rev)
        await storage.delete(prefix + b"a", rev)
        await storage.current_revision()
        assert seen == ["create", "get", "list", "update", "delete", "status"]
        assert await storage.version()
