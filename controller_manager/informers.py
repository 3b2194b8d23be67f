"""Shared informers: one list+watch per kind for every controller in the process.

Controllers ask for a kind while they set up (registering their handlers);
the manager starts them all once and waits until every cache is synced
before any worker runs. Every informer carries the same indexes, so a
controller can find "pods in namespace x", "objects owned by uid u",
"pods on node n" or "the object with uid u" without scanning.
"""
from __future__ import annotations

import asyncio
from typing import Any

from kubelab import kinds
from kubelab.client import Client
from kubelab.informer import Informer, by_node, by_owner

NAMESPACE = "namespace"
OWNER = "owner"          # owner uid -> dependents
NODE = "node"            # pods by spec.nodeName
UID = "uid"


def _by_namespace(obj: Any) -> list[str]:
    return [obj.metadata.namespace]


def _by_uid(obj: Any) -> list[str]:
    return [obj.metadata.uid] if obj.metadata.uid else []


class SharedInformers:
    def __init__(self, client: Client, resync: float = 0.0) -> None:
        self.client = client
        self.resync = resync
        self._informers: dict[str, Informer] = {}
        self.started = False

    def get(self, kind: str) -> Informer:
        inf = self._informers.get(kind)
        if inf is None:
            if self.started:
                raise RuntimeError(f"informer for {kind} requested after start")
            inf = Informer(self.client, kind, resync=self.resync)
            if kinds.BY_KIND[kind].namespaced:
                inf.add_index(NAMESPACE, _by_namespace)
            inf.add_index(OWNER, by_owner)
            inf.add_index(UID, _by_uid)
            if kind == "Pod":
                inf.add_index(NODE, by_node)
            self._informers[kind] = inf
        return inf

    def kinds(self) -> list[str]:
        return list(self._informers)

    def find_uid(self, kind: str, uid: str) -> Any | None:
        """The cached object of `kind` with this uid (None if not cached or kind not watched)."""
        inf = self._informers.get(kind)
        if inf is None:
            return None
        found = inf.by_index(UID, uid)
        return found[0] if found else None

    def watched(self, kind: str) -> bool:
        return kind in self._informers

    def dependents(self, uid: str) -> list[tuple[str, Any]]:
        """(kind, object) for every cached object with an ownerReference to `uid`."""
        out: list[tuple[str, Any]] = []
        for kind, inf in self._informers.items():
            out += [(kind, o) for o in inf.by_index(OWNER, uid)]
        return out

    def start(self) -> None:
        self.started = True
        for inf in self._informers.values():
            inf.start()

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(asyncio.gather(*(i.synced.wait() for i in self._informers.values())), timeout)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
