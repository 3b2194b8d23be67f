"""Informers: list + watch into a local, indexed cache, with event handlers.

Sits between the client (below) and controllers (above): a controller's
handlers turn objects into keys for its work queue; `reconcile(key)` reads
the informer's cache. On a broken watch the informer re-watches from the
last resourceVersion it saw (bookmarks keep that fresh); on Gone it relists
and tells the handlers what changed meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Callable, Iterable

from kubelab import errors, kinds, timeutil
from kubelab.backoff import RetryDelay
from kubelab.client import Client

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]
UpdateHandler = Callable[[Any, Any], None]
IndexFunc = Callable[[Any], Iterable[str]]


def by_namespace(obj: Any) -> list[str]:
    return [obj.metadata.namespace]


def by_node(obj: Any) -> list[str]:
    return [obj.spec.node_name] if getattr(obj.spec, "node_name", "") else []


def by_owner(obj: Any) -> list[str]:
    return [r.uid for r in obj.metadata.owner_references]


class Informer:
    def __init__(self, client: Client, kind: str, namespace: str = "", label_selector: str = "",
                 field_selector: str = "", resync: float = 0.0) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync = resync
        self.store: dict[str, Any] = {}
        self.indexers: dict[str, IndexFunc] = {}
        self.indexes: dict[str, dict[str, set[str]]] = {}
        self._on_add: list[Handler] = []
        self._on_update: list[UpdateHandler] = []
        self._on_delete: list[Handler] = []
        self.resource_version = ""
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.relists = 0

    # ------------------------------------------------------------ registration
    def add_handlers(self, on_add: Handler | None = None, on_update: UpdateHandler | None = None,
                     on_delete: Handler | None = None) -> None:
        if on_add:
            self._on_add.append(on_add)
        if on_update:
            self._on_update.append(on_update)
        if on_delete:
            self._on_delete.append(on_delete)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self.indexers[name] = fn
        self.indexes[name] = {}
        for key, obj in self.store.items():
            self._index(key, obj)

    # ------------------------------------------------------------ reads
    def get(self, key: str) -> Any | None:
        return self.store.get(key)

    def list(self) -> list[Any]:
        return list(self.store.values())

    def by_index(self, name: str, value: str) -> list[Any]:
        return [self.store[k] for k in self.indexes[name].get(value, ()) if k in self.store]

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer-{self.kind}")

    async def stop(self) -> None:
        await timeutil.cancel(self._task)

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.synced.wait(), timeout)

    # ------------------------------------------------------------ internals
    def _index(self, key: str, obj: Any) -> None:
        for name, fn in self.indexers.items():
            for value in fn(obj):
                self.indexes[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Any) -> None:
        for name, fn in self.indexers.items():
            for value in fn(obj):
                keys = self.indexes[name].get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self.indexes[name][value]

    def _put(self, obj: Any) -> None:
        key = kinds.key_of(obj)
        old = self.store.get(key)
        if old is not None:
            self._unindex(key, old)
        self.store[key] = obj
        self._index(key, obj)
        if old is None:
            self._emit(self._on_add, obj)
        else:
            for h in self._on_update:
                self._call(h, old, obj)

    def _remove(self, obj: Any) -> None:
        key = kinds.key_of(obj)
        old = self.store.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        self._emit(self._on_delete, obj)

    def _emit(self, handlers: list[Handler], obj: Any) -> None:
        for h in handlers:
            self._call(h, obj)

    @staticmethod
    def _call(h: Callable[..., None], *args: Any) -> None:
        try:
            h(*args)
        except Exception:  # noqa: BLE001 - a handler bug must not stop the informer
            log.exception("informer handler failed")

    async def _relist(self) -> None:
        items, rv = await self.client.list(self.kind, self.namespace, self.label_selector, self.field_selector)
        fresh = {kinds.key_of(o): o for o in items}
        for key, old in list(self.store.items()):
            if key not in fresh:
                self._remove(old)
        for key, obj in fresh.items():
            old = self.store.get(key)
            if old is None or old.metadata.resource_version != obj.metadata.resource_version:
                self._put(obj)
        self.resource_version = rv
        self.relists += 1
        self.synced.set()

    async def _run(self) -> None:
        retry = RetryDelay(0.1, 5.0)
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                stream = self.client.watch(self.kind, self.namespace, self.resource_version, self.label_selector,
                                           self.field_selector, allow_bookmarks=True)
                try:
                    async for ev in stream:
                        retry.reset()
                        if ev.type == "BOOKMARK":
                            self.resource_version = ev.resource_version
                            continue
                        obj = kinds.unwrap(ev.object)
                        self.resource_version = obj.metadata.resource_version
                        if ev.type == "DELETED":
                            self._remove(obj)
                        else:
                            self._put(obj)
                finally:
                    stream.cancel()
            except asyncio.CancelledError:
                raise
            except errors.Gone:
                log.info("%s watch expired; relisting", self.kind)
                need_list = True
                continue
            except errors.ApiError as e:
                log.info("%s watch interrupted (%s: %s); retrying in %.1fs", self.kind, e.reason, e.message,
                         retry.delay)
            except Exception as e:  # noqa: BLE001
                log.warning("%s informer error: %r; retrying in %.1fs", self.kind, e, retry.delay)
                need_list = True
            await asyncio.sleep(retry.step() * (1 + random.random() / 2))    # jitter: up to half again
