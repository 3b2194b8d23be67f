"""A Service's randomly picked ClusterIP/NodePort that loses a race is picked again, not blamed on the user.

The store on the in-memory storage, where a concurrent create takes the first
picks just before ours (etcd's transaction then names the taken key): the
retry logic, deterministically. The real-etcd side is in
tests/integration/test_apiserver.py.
"""
from __future__ import annotations

from typing import Any, Mapping

import pytest

from apiserver import storage as st
from apiserver.memstorage import MemoryStorage
from apiserver.store import Store
from kubelab import errors
from kubelab.client import new_object


class RacingStorage(MemoryStorage):
    """The in-memory storage where a concurrent create wins the first create's allocations just before it."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False
        self.tried: list[bytes] = []                 # the allocations found taken
        self.created: list[dict[bytes, bytes]] = []  # the side keys of each successful create

    async def create(self, key: bytes, value: bytes, also_create: Mapping[bytes, bytes] | None = None,
                     lease: int = 0) -> int:
        side = dict(also_create or {})
        if not self.raced:
            self.raced = True
            for k in side:
                await super().create(k, b"the-other-service")
        try:
            rev = await super().create(key, value, side, lease)
        except st.KeyExists as e:
            self.tried.append(e.key)
            raise
        self.created.append(side)
        return rev


def service(node_port: int = 0) -> Any:
    svc = new_object("Service", "web", "default")
    svc.spec.type = "NodePort"
    svc.spec.selector["app"] = "web"
    p = svc.spec.ports.add(port=80)
    p.node_port = node_port
    return svc


async def test_lost_picks_are_picked_again() -> None:
    storage = RacingStorage()
    store = Store(storage)
    store.object_cache = lambda kind, key: (new_object("Namespace", key.rsplit(b"/", 1)[-1].decode())
                                            if kind == "Namespace" else None)
    created = await store.create(service())
    assert created.spec.ports[0].node_port and created.spec.cluster_ip
    assert len(storage.tried) == 2 and len(storage.created) == 1     # both first picks lost, then fresh ones
    assert not set(storage.created[0]) & set(storage.tried)


async def test_a_port_the_user_chose_is_reported_taken() -> None:
    storage = RacingStorage()
    store = Store(storage)
    store.object_cache = lambda kind, key: (new_object("Namespace", key.rsplit(b"/", 1)[-1].decode())
                                            if kind == "Namespace" else None)
    svc = service(node_port=31000)
    svc.spec.cluster_ip = "10.96.0.50"
    with pytest.raises(errors.Invalid, match="spec.clusterIP: Invalid value: \"10.96.0.50\": provided IP is "
                                             "already allocated"):
        await store.create(svc)
