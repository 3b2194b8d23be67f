"""Bad input to the store and the watch cache is a clear error, writes nothing, and never hangs.

The store runs on the in-memory storage (apiserver.memstorage, held to
etcd's behaviour by tests/storage_contract.py); the real-etcd side is in
tests/integration/test_bad_input.py.
"""
from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Mapping

import grpc
import pytest

from apiserver import storage as st
from apiserver.memstorage import MemoryStorage
from apiserver.checks import storage_error
from apiserver.server import ApiService, Config
from apiserver.store import MAX_OBJECT_BYTES, Store, object_key
from apiserver.watchcache import KindCache, WatchCache
from kubelab import errors, kinds, manifests
from kubelab.client import new_object
from kubelab.v1 import api_pb2 as api

from .test_apiserver_cached_updates import pod


class FailingStorage(MemoryStorage):
    """The in-memory storage; its creates fail with `failure` once a test sets it, as etcd's may."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None

    async def create(self, key: bytes, value: bytes, also_create: Mapping[bytes, bytes] | None = None,
                     lease: int = 0) -> int:
        if self.failure is not None:
            raise self.failure
        return await super().create(key, value, also_create, lease)


@pytest.fixture
def store() -> Store:
    etcd = FailingStorage()
    s = Store(etcd)

    def current(kind: str, key: bytes) -> Any | None:
        """A cache that is always current, in which every namespace exists."""
        kv = etcd.dump().get(key)
        if kv is not None:
            return Store.decoder(kinds.BY_KIND[kind])(kv.value, kv.mod_revision)
        return new_object("Namespace", key.rsplit(b"/", 1)[-1].decode()) if kind == "Namespace" else None
    s.object_cache = current
    return s


def etcd_of(store: Store) -> FailingStorage:
    assert isinstance(store.storage, FailingStorage)
    return store.storage


def writes(store: Store) -> int:
    """Successful writes so far: each moves the revision by one, from a fresh store's 1."""
    return etcd_of(store).revision - 1


def obj(doc: dict[str, Any]) -> Any:
    return manifests.from_dict(doc)


# ------------------------------------------------------------------ 1. generateName
@pytest.mark.parametrize("doc,length", [
    pytest.param({"apiVersion": "v1", "kind": "Namespace", "metadata": {"generateName": "x" * 62}}, 63,
                 id="namespace-prefix-cut-to-58"),
    pytest.param({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "a" * 252},
                  "spec": {"containers": [{"name": "c", "image": "i"}]}}, 63, id="pod-prefix-cut-to-58"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"generateName": "web-"},
                  "spec": {"ports": [{"port": 80}]}}, 9, id="service-valid-prefix"),
])
async def test_a_generated_name_fits_the_kinds_name_rule(store: Store, doc: dict[str, Any], length: int) -> None:
    created = await store.create(obj(doc))
    assert len(created.metadata.name) == length
    assert created.metadata.name.startswith(doc["metadata"]["generateName"][:58])
    if doc["kind"] == "Namespace":
        assert created.metadata.labels["kubernetes.io/metadata.name"] == created.metadata.name


async def test_an_invalid_generate_name_is_refused_under_the_kinds_rule(store: Store) -> None:
    svc = obj({"apiVersion": "v1", "kind": "Service", "metadata": {"generateName": "a.b-"},
               "spec": {"ports": [{"port": 80}]}})
    with pytest.raises(errors.Invalid, match=r'metadata.generateName: Invalid value: "a.b-": a DNS-1035 label'):
        await store.create(svc)
    assert writes(store) == 0


# ------------------------------------------------------------------ 2. continue tokens
def token(start: bytes | str, rv: Any) -> str:
    s = start if isinstance(start, str) else base64.b64encode(start).decode()
    return base64.urlsafe_b64encode(json.dumps({"start": s, "rv": rv}).encode()).decode()


async def test_pages_issued_by_the_server_cover_the_list(store: Store) -> None:
    for i in range(5):
        await store.create(pod(f"p{i}"))
    await store.create(obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}))
    names, cont = [], ""
    while True:
        items, _, cont = await store.list("Pod", "default", limit=2, continue_token=cont)
        names += [o.metadata.name for o in items]
        if not cont:
            break
    assert names == [f"p{i}" for i in range(5)]


@pytest.mark.parametrize("continue_token", [
    pytest.param(token("", 2 ** 70), id="rv-beyond-int64"),
    pytest.param(token("", -1), id="negative-rv"),
    pytest.param(token("", 0), id="zero-rv"),
    pytest.param(token("", "5"), id="rv-a-string"),
    pytest.param(token("", True), id="rv-a-bool"),
    pytest.param(token("not base64!", 5), id="start-not-base64"),
    pytest.param(token(b"", 5)[:-3], id="truncated"),
    pytest.param(base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode(), id="deep-json"),
    pytest.param("%%%", id="garbage"),
])
async def test_a_forged_continue_token_is_a_bad_request(store: Store, continue_token: str) -> None:
    with pytest.raises(errors.BadRequest, match="invalid continue token"):
        await store.list("Pod", "", limit=1, continue_token=continue_token)


async def test_a_continue_token_cannot_reach_another_kinds_keys(store: Store) -> None:
    await store.create(obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a"}}))
    rv = int((await store.create(pod("p"))).metadata.resource_version)
    # Once, a token naming another kind's key listed its objects as Namespaces.
    items, _, _ = await store.list("Namespace", "", limit=3, continue_token=token(b"/registry/pods/", rv))
    assert all(kinds.info_of(o).kind == "Namespace" for o in items)
    assert [o.metadata.name for o in items] == ["ns-a"]  # the key is read under /registry/namespaces/


# ------------------------------------------------------------------ 3. size, storage errors
def big_pod(name: str = "big") -> Any:
    p = pod(name)
    p.spec.containers[0].env.add(name="E", value="x" * (MAX_OBJECT_BYTES + 1))
    return p


async def test_an_object_too_large_is_refused_before_etcd(store: Store) -> None:
    for dry_run in (True, False):
        with pytest.raises(errors.RequestEntityTooLarge, match=f"Request entity too large: limit is "
                                                               f"{MAX_OBJECT_BYTES}"):
            await store.create(big_pod(), dry_run=dry_run)
    live = await store.create(pod("big"))
    grown = big_pod()
    grown.metadata.resource_version = live.metadata.resource_version
    with pytest.raises(errors.RequestEntityTooLarge):
        await store.update(grown)
    body = json.dumps({"metadata": {"annotations": {"a": "x" * (MAX_OBJECT_BYTES + 1)}}}).encode()
    with pytest.raises(errors.RequestEntityTooLarge):
        await store.patch("Pod", "default", "big", "merge", body, dry_run=True)
    assert writes(store) == 1


class Aborted(Exception):
    pass


class FakeContext:
    async def abort(self, code: grpc.StatusCode, message: str, trailing_metadata: Any = ()) -> None:
        self.code, self.message, self.reason = code, message, dict(trailing_metadata)[errors.REASON_KEY]
        raise Aborted()


@pytest.mark.parametrize("error,code,reason", [
    pytest.param(st.TooLarge("etcd create: etcdserver: request is too large"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                 "RequestEntityTooLarge", id="too-large"),
    pytest.param(st.StorageError("etcd create: INTERNAL: boom"), grpc.StatusCode.INTERNAL, "InternalError",
                 id="any-storage-error"),
    pytest.param(st.Unavailable("etcd create: connection refused"), grpc.StatusCode.UNAVAILABLE,
                 "ServiceUnavailable", id="unavailable"),
])
async def test_every_storage_error_is_an_api_status(store: Store, error: st.StorageError, code: grpc.StatusCode,
                                                    reason: str) -> None:
    await store.create(new_object("ServiceAccount", "default", "default"))   # the pod's (admission reads it first)
    etcd_of(store).failure = error
    svc = ApiService(store, WatchCache(store.storage, {}, {}), Config())
    ctx = FakeContext()
    with pytest.raises(Aborted):
        await svc.Create(api.CreateRequest(object=kinds.wrap(pod())), ctx)
    assert (ctx.code, ctx.reason) == (code, reason) and str(error) in ctx.message
    assert storage_error(error).reason == reason


# ------------------------------------------------------------------ 4. deep JSON
@pytest.mark.parametrize("body", [
    pytest.param(b"[" * 100000 + b"]" * 100000, id="deep-array"),
    pytest.param(b'{"a":' * 5000 + b"1" + b"}" * 5000, id="deep-object"),
    pytest.param(b'{"metadata":{"annotations":' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"}}",
                 id="deep-enough-to-break-the-merge"),
])
async def test_a_deeply_nested_patch_is_a_bad_request(store: Store, body: bytes) -> None:
    await store.create(pod())
    before = writes(store)
    with pytest.raises(errors.BadRequest, match="exceeded max depth"):
        await store.patch("Pod", "default", "web", "merge", body)
    assert writes(store) == before


# ------------------------------------------------------------------ 5. watch from beyond etcd
async def kind_cache(cache_revision: int, etcd_revision: int) -> KindCache:
    etcd = MemoryStorage()
    while etcd.revision < etcd_revision:                 # other kinds' writes
        await etcd.create(f"/registry/services/default/s{etcd.revision}".encode(), b"")
    cache = KindCache(kinds.BY_KIND["Pod"], etcd, b"/registry/pods/", Store.decoder(kinds.BY_KIND["Pod"]))
    cache.revision = cache.oldest = cache_revision
    cache.too_large_wait = 0.2
    cache.ready.set()
    return cache


async def first_item(cache: KindCache, rv: int) -> None:
    async for _ in cache.watch("", lambda o: True, rv, False):
        return


async def test_a_watch_from_beyond_etcds_revision_times_out() -> None:
    cache = await kind_cache(10, 12)
    with pytest.raises(errors.Timeout, match="Too large resource version: 99999999999, current: 12"):
        await asyncio.wait_for(first_item(cache, 99999999999), 5)
    assert not cache.watchers


async def test_a_watch_ahead_of_the_cache_but_not_of_etcd_is_served() -> None:
    # Other kinds' writes move etcd's revision, and a List reports etcd's: that is a watchable revision.
    cache = await kind_cache(10, 12)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(first_item(cache, 12), 0.5)      # waits for events, no error


# ------------------------------------------------------------------ 6. namespaces
NS = kinds.BY_KIND["Namespace"]


async def namespace(store: Store, name: str) -> Any:
    return await store.create(obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))


async def test_a_patch_or_update_keeps_a_namespaces_finalizers(store: Store) -> None:
    await namespace(store, "orph")
    patched = await store.patch("Namespace", "", "orph", "merge", b'{"spec":{"finalizers":[]}}')
    assert list(patched.spec.finalizers) == ["kubernetes"]
    del patched.spec.finalizers[:]
    patched.metadata.labels["x"] = "y"
    updated = await store.update(patched)
    assert list(updated.spec.finalizers) == ["kubernetes"] and updated.metadata.labels["x"] == "y"


async def test_finalize_removes_the_finalizer_and_a_terminating_namespace_goes(store: Store) -> None:
    await namespace(store, "team")
    terminating = await store.delete("Namespace", "", "team")
    assert terminating.status.phase == "Terminating" and object_key(NS, "", "team") in etcd_of(store).dump()
    del terminating.spec.finalizers[:]
    terminating.metadata.labels["ignored"] = "yes"       # finalize writes spec.finalizers and nothing else
    await store.update(terminating, subresource="finalize")
    assert object_key(NS, "", "team") not in etcd_of(store).dump()


async def test_finalize_is_a_namespace_subresource_only(store: Store) -> None:
    await store.create(pod())
    with pytest.raises(errors.NotFound, match="no finalize subresource"):
        await store.update(pod(), subresource="finalize")


async def test_a_namespace_without_finalizers_is_deleted_at_once(store: Store) -> None:
    ns = await namespace(store, "light")
    del ns.spec.finalizers[:]
    await store.update(ns, subresource="finalize")
    await store.delete("Namespace", "", "light")
    assert object_key(NS, "", "light") not in etcd_of(store).dump()


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_the_clusters_own_namespaces_may_not_be_deleted(store: Store, name: str) -> None:
    await namespace(store, name)
    before = writes(store)
    for dry_run in (True, False):
        with pytest.raises(errors.Forbidden, match=f'namespaces "{name}" is forbidden: this namespace may not be '
                                                   f'deleted'):
            await store.delete("Namespace", "", name, dry_run=dry_run)
    assert writes(store) == before


# ------------------------------------------------------------------ 16. field selectors
@pytest.mark.parametrize("kind,selector", [
    pytest.param("Pod", "spec=x", id="message-field"),
    pytest.param("Pod", "spec.containers=x", id="repeated-field"),
    pytest.param("Pod", "metadata.labels=x", id="map-field"),
    pytest.param("Pod", "spec.node_name=x", id="snake-case"),
    pytest.param("Pod", "spec.hostNetwork=true", id="field-not-selectable"),
    pytest.param("Service", "spec.clusterIP=10.96.0.1", id="service-spec"),
    pytest.param("Node", "status.phase=x", id="namespace-field-on-node"),
])
def test_only_supported_field_labels_select(kind: str, selector: str) -> None:
    label = selector.split("=")[0]
    with pytest.raises(errors.BadRequest, match=f"^field label not supported: {label}$"):
        Store.matcher("", selector, kind)


def test_supported_field_labels_match() -> None:
    p = pod()
    p.spec.node_name, p.status.pod_ip = "node-1", "10.0.0.5"
    assert Store.matcher("", "spec.nodeName=node-1,status.podIP=10.0.0.5,metadata.namespace=default", "Pod")(p)
    assert not Store.matcher("", "spec.nodeName=node-2", "Pod")(p)
    ev = obj({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"name": "web"},
              "source": {"component": "kubelet"}, "reason": "Pulled"})
    assert Store.matcher("", "involvedObject.name=web,involvedObject.namespace=,source=kubelet,reason=Pulled",
                         "Event")(ev)
    node = obj({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {"unschedulable": True}})
    assert Store.matcher("", "spec.unschedulable=true", "Node")(node)
