"""A Service's randomly picked ClusterIP/NodePort that loses a race is picked again, not blamed on the user.

The store against a storage stand-in that says the first picks are taken
(what etcd's transaction says when a concurrent create won them): the pure
retry logic, deterministically. The real-etcd side is in
tests/integration/test_apiserver.py.
"""
from __future__ import annotations

from typing import Any

import pytest

from apiserver import storage as st
from apiserver.store import Store
from kubelab import errors
from kubelab.client import new_object


class RacingStorage:
    """The allocations of the first create are all taken (a concurrent create won them), one by one."""

    def __init__(self) -> None:
        self.taken: set[bytes] | None = None
        self.tried: list[bytes] = []
        self.created: list[dict[bytes, bytes]] = []

    async def create(self, key: bytes, value: bytes, side: dict[bytes, bytes], lease: int = 0) -> int:
        if self.taken is None:
            self.taken = set(side)
        for k in side:
            if k in self.taken:
                self.tried.append(k)
                raise st.KeyExists(k)
        self.created.append(side)
        return 42


def service(node_port: int = 0) -> Any:
    svc = new_object("Service", "web", "default")
    svc.spec.type = "NodePort"
    svc.spec.selector["app"] = "web"
    p = svc.spec.ports.add(port=80)
    p.node_port = node_port
    return svc


async def test_lost_picks_are_picked_again() -> None:
    storage = RacingStorage()
    store = Store(storage)                                            # type: ignore[arg-type]
    store.object_cache = lambda kind, key: (new_object("Namespace", key.rsplit(b"/", 1)[-1].decode())
                                            if kind == "Namespace" else None)
    created = await store.create(service())
    assert created.spec.ports[0].node_port and created.spec.cluster_ip
    assert len(storage.tried) == 2 and len(storage.created) == 1     # both first picks lost, then fresh ones
    assert not set(storage.created[0]) & set(storage.tried)


async def test_a_port_the_user_chose_is_reported_taken() -> None:
    storage = RacingStorage()
    store = Store(storage)                                            # type: ignore[arg-type]
    store.object_cache = lambda kind, key: (new_object("Namespace", key.rsplit(b"/", 1)[-1].decode())
                                            if kind == "Namespace" else None)
    svc = service(node_port=31000)
    svc.spec.cluster_ip = "10.96.0.50"
    with pytest.raises(errors.Invalid, match="spec.clusterIP: Invalid value: \"10.96.0.50\": provided IP is "
                                             "already allocated"):
        await store.create(svc)
