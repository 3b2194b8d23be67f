"""Test harness: the apiserver's real `Store` over `MemoryStorage` (apiserver/memstorage.py, the unit tests'
etcd), filled with a few objects, and an `ApiService` over it, for tests that drive the apiserver without etcd.

`store_with(*objects)` creates each object as a client's create would (the `default` namespace first), then
writes its status as given, so what the tests read back is what the apiserver would hold. `api_service(store)` gives it an empty watch cache: every
read goes to the store, as it does before the cache has listed.
"""
from __future__ import annotations

from typing import Any

from apiserver.memstorage import MemoryStorage
from apiserver.server import ApiService, Config
from apiserver.store import Store
from apiserver.trace import TraceIndex
from apiserver.watchcache import WatchCache
from kubelab import errors, kinds
from kubelab.client import new_object


async def store_with(*objects: Any) -> Store:
    """A Store over memory holding `objects` (created in order, the namespaces they need first)."""
    store = Store(MemoryStorage())
    for ns in ["default", *(o.metadata.namespace for o in objects if o.metadata.namespace)]:
        try:
            await store.create(new_object("Namespace", ns))
        except errors.AlreadyExists:
            pass
    for obj in objects:
        copy = type(obj)()
        copy.CopyFrom(obj)               # the store writes its metadata into what it creates
        created = await store.create(copy)
        if kinds.info_of(obj).has_status and created.status != obj.status:
            created.status.CopyFrom(obj.status)      # as its controller or kubelet would have written it
            await store.update(created, subresource="status")
    return store


def api_service(store: Store, config: Config | None = None, trace_index: TraceIndex | None = None) -> ApiService:
    """The apiserver's service over `store`, with a watch cache of no kinds (reads go to the store)."""
    return ApiService(store, WatchCache(store.storage, {}, {}), config or Config(), trace_index=trace_index)
