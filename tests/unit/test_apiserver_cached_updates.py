"""Writes start from the watch cache's copy, and anything decided on a stale copy is decided again on etcd's.

The store against the in-memory storage (apiserver.memstorage, held to etcd's
behaviour by tests/storage_contract.py; its reads counted) and a cache that can be made to lag: the
optimistic path (no etcd read when the cache is current) and every way a
stale copy could mislead a write (failed compare, a no-op, "already
assigned", "already terminating") are checked deterministically here; the
real-etcd side runs in tests/integration.
"""
from __future__ import annotations

from typing import Any

import pytest

from apiserver.memstorage import MemoryStorage
from apiserver.store import Store, object_key
from kubelab import errors, kinds
from kubelab.client import new_object

POD = kinds.BY_KIND["Pod"]


class CountingStorage(MemoryStorage):
    """The in-memory etcd, counting the reads a write needed (through the metrics hook every backend calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.observe = self._count

    def _count(self, what: str, started: float) -> None:
        self.gets += what == "get"


class LaggingCache:
    """The watch cache: follows etcd when told to, and can be left behind."""

    def __init__(self, etcd: CountingStorage) -> None:
        self.etcd = etcd
        self.objects: dict[bytes, Any] = {}

    def catch_up(self) -> None:
        self.objects = {k: Store.decoder(POD)(kv.value, kv.mod_revision) for k, kv in self.etcd.dump().items()}

    def current(self, kind: str, key: bytes) -> Any | None:
        if kind == "Namespace":                 # every namespace exists here
            return new_object("Namespace", key.rsplit(b"/", 1)[-1].decode())
        return self.objects.get(key)


@pytest.fixture
def cluster() -> tuple[Store, CountingStorage, LaggingCache]:
    etcd = CountingStorage()
    store = Store(etcd)
    cache = LaggingCache(etcd)
    store.object_cache = cache.current
    return store, etcd, cache


def pod(name: str = "web", **labels: str) -> Any:
    p = new_object("Pod", name, "default")
    p.metadata.labels.update(labels)
    p.spec.containers.add(name="app", image="kubelab/hello:v1")
    return p


def stored(etcd: CountingStorage, name: str = "web") -> Any:
    kv = etcd.dump()[object_key(POD, "default", name)]
    return Store.decoder(POD)(kv.value, kv.mod_revision)


async def test_a_write_on_a_current_cache_reads_nothing_from_etcd(cluster: Any) -> None:
    store, etcd, cache = cluster
    created = await store.create(pod())
    cache.catch_up()
    etcd.gets = 0
    await store.bind("default", "web", "node-1", created.metadata.uid)
    assert stored(etcd).spec.node_name == "node-1"
    cache.catch_up()
    changed = stored(etcd)
    changed.metadata.labels["tier"] = "front"
    await store.update(changed)
    cache.catch_up()
    await store.patch("Pod", "default", "web", "merge", b'{"metadata":{"labels":{"v":"2"}}}')
    cache.catch_up()
    await store.delete("Pod", "default", "web")
    assert etcd.gets == 0
    assert dict(stored(etcd).metadata.labels) == {"tier": "front", "v": "2"}
    assert stored(etcd).metadata.deletion_timestamp      # bound: graceful, so still there and terminating


async def test_a_stale_copy_costs_one_etcd_read_and_loses_nothing(cluster: Any) -> None:
    store, etcd, cache = cluster
    await store.create(pod(app="web"))
    cache.catch_up()
    await store.patch("Pod", "default", "web", "merge", b'{"metadata":{"labels":{"a":"1"}}}')   # cache misses it
    etcd.gets = 0
    await store.patch("Pod", "default", "web", "merge", b'{"metadata":{"labels":{"b":"2"}}}')
    assert dict(stored(etcd).metadata.labels) == {"app": "web", "a": "1", "b": "2"}
    assert etcd.gets == 1


async def test_unchanged_against_a_stale_copy_is_still_written(cluster: Any) -> None:
    store, etcd, cache = cluster
    await store.create(pod(v="1"))
    cache.catch_up()
    await store.patch("Pod", "default", "web", "merge", b'{"metadata":{"labels":{"v":"2"}}}')   # cache says v=1
    back = stored(etcd)
    back.metadata.labels["v"] = "1"
    back.metadata.resource_version = ""          # an unconditional update back to what the cache holds
    before = etcd.revision
    await store.update(back)
    assert stored(etcd).metadata.labels["v"] == "1" and etcd.revision == before + 1


async def test_a_stale_resource_version_is_a_conflict_even_when_the_cache_agrees(cluster: Any) -> None:
    store, etcd, cache = cluster
    await store.create(pod())
    cache.catch_up()
    seen = stored(etcd)
    await store.patch("Pod", "default", "web", "merge", b'{"metadata":{"labels":{"x":"1"}}}')  # cache still at `seen`
    seen.metadata.labels["y"] = "1"
    before = etcd.revision
    with pytest.raises(errors.Conflict, match="the object has been modified"):
        await store.update(seen)
    assert etcd.revision == before and "y" not in stored(etcd).metadata.labels


async def test_bind_is_not_refused_on_a_stale_copy_of_a_recreated_pod(cluster: Any) -> None:
    store, etcd, cache = cluster
    first = await store.create(pod())
    await store.bind("default", "web", "node-1", first.metadata.uid)
    cache.catch_up()                                       # the cache holds the old, bound pod
    await store.delete("Pod", "default", "web", grace_period=0)
    second = await store.create(pod())                     # same name, new pod, not seen by the cache
    await store.bind("default", "web", "node-2", second.metadata.uid)
    assert stored(etcd).spec.node_name == "node-2" and stored(etcd).metadata.uid == second.metadata.uid


async def test_delete_is_not_skipped_on_a_stale_terminating_copy(cluster: Any) -> None:
    store, etcd, cache = cluster
    first = await store.create(pod())
    await store.bind("default", "web", "node-1", first.metadata.uid)
    await store.delete("Pod", "default", "web")            # graceful: terminating
    cache.catch_up()                                       # the cache holds the terminating pod
    await store.delete("Pod", "default", "web", grace_period=0)
    await store.create(pod())                              # a new pod of that name, unseen by the cache
    await store.delete("Pod", "default", "web")            # unbound: goes at once
    assert object_key(POD, "default", "web") not in etcd.dump()


async def test_an_error_on_a_stale_copy_is_checked_against_etcd(cluster: Any) -> None:
    store, etcd, cache = cluster
    old = await store.create(pod())
    cache.catch_up()
    await store.delete("Pod", "default", "web", grace_period=0)
    new = await store.create(pod())
    # The cache's copy has the old uid: the precondition would fail on it, and holds on etcd's.
    await store.delete("Pod", "default", "web", precondition_uid=new.metadata.uid)
    assert object_key(POD, "default", "web") not in etcd.dump()
    with pytest.raises(errors.NotFound):
        await store.delete("Pod", "default", "web", precondition_uid=old.metadata.uid)
