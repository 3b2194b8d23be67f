"""The generic store: every verb of the API over storage, driven by the kind's strategy.

Sits between the gRPC handlers (server.py) and storage (etcd). Everything
kind-specific is in registry/; the exceptions are the few verbs Kubernetes
itself special-cases: graceful pod deletion, namespace finalization,
binding, eviction against PodDisruptionBudgets, and Service allocations.
"""
from __future__ import annotations

import base64
import json
import logging
import random
import time
import uuid
from typing import Any, Awaitable, Callable, TypeVar

from google.protobuf import json_format

from kubelab import conditions, errors, kinds, manifests, patch as patching, selectors, timeutil
from kubelab.v1 import objects_pb2 as pb

from . import fieldmanager, storage as st
from .allocators import Allocators
from .registry import Strategy, raise_invalid, strategies
from .registry.common import int_or_string
from .registry.simple import NamespaceStrategy

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFIX = b"/registry/"
# Service updates move allocations (ClusterIP, NodePorts) in memory before the write: they read etcd.
_NOT_UPDATED_FROM_CACHE = frozenset({"Service"})
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"   # Kubernetes' generateName alphabet
_NAME_SUFFIX = 5
_MAX_GENERATED_PREFIX = 63 - _NAME_SUFFIX       # a generated name still fits a DNS label
# Refused before etcd sees it: etcd's own limit (--max-request-bytes, 1.5 MiB by default) would otherwise
# answer for us, and a dry run would accept what the real write cannot store.
MAX_OBJECT_BYTES = 1024 * 1024
# Deeper than any object's schema. The patch code (merge, apply, protobuf conversion) recurses once or more
# per level; a limit far below Python's recursion limit keeps a hostile body a BadRequest.
MAX_JSON_DEPTH = 100
_MAX_REVISION = 2 ** 63            # etcd revisions are int64
_UNDELETABLE_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})

# Field selectors Kubernetes supports, per kind, with the proto path each reads; every kind has metadata.name
# and metadata.namespace. Anything else is refused, as kube-apiserver refuses it.
_COMMON_FIELD_LABELS = {"metadata.name": "metadata.name", "metadata.namespace": "metadata.namespace"}
_FIELD_LABELS: dict[str, dict[str, str]] = {
    "Pod": {"spec.nodeName": "spec.node_name", "spec.restartPolicy": "spec.restart_policy",
            "spec.schedulerName": "spec.scheduler_name", "spec.serviceAccountName": "spec.service_account_name",
            "status.phase": "status.phase", "status.podIP": "status.pod_ip",
            "status.nominatedNodeName": "status.nominated_node_name"},
    "Event": {"involvedObject.kind": "involved_object.kind", "involvedObject.namespace": "involved_object.namespace",
              "involvedObject.name": "involved_object.name", "involvedObject.uid": "involved_object.uid",
              "involvedObject.apiVersion": "involved_object.api_version",
              "involvedObject.resourceVersion": "involved_object.resource_version",
              "involvedObject.fieldPath": "involved_object.field_path", "reason": "reason",
              "reportingComponent": "reporting_component", "source": "source.component", "type": "type"},
    "Node": {"spec.unschedulable": "spec.unschedulable"},
    "Namespace": {"status.phase": "status.phase"},
    "ReplicaSet": {"status.replicas": "status.replicas"},
}


_clock: tuple[int, str] = (0, "")


def now() -> str:
    """RFC 3339 to the second, as Kubernetes stores timestamps (formatted once per second: every write asks)."""
    global _clock
    t = int(time.time())
    if t != _clock[0]:
        _clock = (t, timeutil.fmt(t))
    return _clock[1]


def kind_prefix(info: kinds.KindInfo) -> bytes:
    return PREFIX + info.plural.encode() + b"/"


def object_key(info: kinds.KindInfo, namespace: str, name: str) -> bytes:
    if info.namespaced:
        return kind_prefix(info) + f"{namespace}/{name}".encode()
    return kind_prefix(info) + name.encode()


def resource_name(info: kinds.KindInfo) -> str:
    """`deployments.apps`, as Kubernetes names a resource in its messages."""
    return f"{info.plural}.{info.group}" if info.group else info.plural


def field_labels(kind: str) -> dict[str, str]:
    """The field selector labels `kind` supports, each with the proto path it reads."""
    return {**_COMMON_FIELD_LABELS, **_FIELD_LABELS.get(kind, {})}


def field_getter(obj: Any, labels: dict[str, str]) -> Callable[[str], str]:
    """Read a supported field label (`spec.nodeName`) from a proto, for field selectors."""
    def get(label: str) -> str:
        cur: Any = obj
        for name in labels[label].split("."):
            cur = getattr(cur, name)
        return str(cur).lower() if isinstance(cur, bool) else str(cur)
    return get


def generate_name(prefix: str) -> str:
    """Kubernetes' SimpleNameGenerator: the prefix cut so that prefix and suffix fit a DNS label."""
    return prefix[:_MAX_GENERATED_PREFIX] + "".join(random.choice(_NAME_CHARS) for _ in range(_NAME_SUFFIX))


def json_depth(doc: Any) -> int:
    """How deeply objects and arrays nest in `doc` (iterative: the point is not to recurse)."""
    deepest, stack = 0, [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(data: bytes, what: str) -> Any:
    """User JSON, or BadRequest naming `what`: a malformed or over-deep body is the client's error, not ours."""
    try:
        doc = manifests.loads_json(data)     # strict, as kube-apiserver's: a duplicate field is an error
    except RecursionError:
        raise errors.BadRequest(f"{what}: exceeded max depth of {MAX_JSON_DEPTH}") from None
    except ValueError as e:                  # ManifestError (a duplicate field) is one too
        raise errors.BadRequest(f"{what}: {e}") from None
    if json_depth(doc) > MAX_JSON_DEPTH:
        raise errors.BadRequest(f"{what}: exceeded max depth of {MAX_JSON_DEPTH}")
    return doc


def check_size(obj: Any) -> None:
    if obj.ByteSize() > MAX_OBJECT_BYTES:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_OBJECT_BYTES}")


def encode_continue(prefix: bytes, last_key: bytes, revision: int) -> str:
    """The continue token after `last_key`: the key relative to the list's prefix, so no token reaches past it."""
    nxt = last_key[len(prefix):] + b"\0"
    return base64.urlsafe_b64encode(json.dumps(
        {"start": base64.b64encode(nxt).decode(), "rv": revision}).encode()).decode()


def decode_continue(prefix: bytes, token: str) -> tuple[bytes, int]:
    """(start key, revision) from a continue token, or BadRequest for one the server cannot have issued."""
    invalid = errors.BadRequest("invalid continue token")
    try:
        doc = load_json(base64.urlsafe_b64decode(token.encode()), "invalid continue token")
        rel, rev = doc["start"], doc["rv"]
        if not isinstance(rel, str) or type(rev) is not int:
            raise invalid
        start = prefix + base64.b64decode(rel.encode(), validate=True)
    except (ValueError, KeyError, TypeError, errors.BadRequest):
        raise invalid from None
    if not 0 < rev < _MAX_REVISION:
        raise invalid
    return start, rev


class StaleCache(Exception):
    """A result decided on the watch cache's copy that only etcd's copy can confirm."""


class Store:
    def __init__(self, storage: st.Storage, service_cidr: str = "10.96.0.0/16",
                 node_port_range: tuple[int, int] = (30000, 32767), event_ttl: int = 3600) -> None:
        self.storage = storage
        self.strategies: dict[str, Strategy] = strategies(service_cidr, node_port_range)
        self.allocators = Allocators(service_cidr, node_port_range)
        self.event_ttl = event_ttl
        self._event_lease: tuple[int, float] | None = None
        # The watch cache's current object for (kind, key), wired by the server; None when not cached.
        self.object_cache: Callable[[str, bytes], Any | None] = lambda kind, key: None

    async def start(self) -> None:
        from .allocators import ALLOC_PREFIX
        items, _, _ = await self.storage.list(ALLOC_PREFIX)
        self.allocators.load([kv.key for kv in items])

    # ------------------------------------------------------------ encoding
    @staticmethod
    def encode(obj: Any) -> bytes:
        rv = obj.metadata.resource_version
        obj.metadata.resource_version = ""
        data = obj.SerializeToString(deterministic=True)
        obj.metadata.resource_version = rv
        return data

    @staticmethod
    def decoder(info: kinds.KindInfo) -> Callable[[bytes, int], Any]:
        msg = info.message

        def decode(data: bytes, rev: int) -> Any:
            obj = msg.FromString(data)
            if rev:
                obj.metadata.resource_version = str(rev)
            return obj
        return decode

    def _decode(self, info: kinds.KindInfo, kv: st.KV) -> Any:
        return self.decoder(info)(kv.value, kv.mod_revision)

    # ------------------------------------------------------------ helpers
    def _strategy(self, info: kinds.KindInfo) -> Strategy:
        return self.strategies[info.kind]

    @staticmethod
    def _not_found(info: kinds.KindInfo, name: str) -> errors.NotFound:
        return errors.NotFound(f'{resource_name(info)} "{name}" not found')

    @staticmethod
    def _conflict(info: kinds.KindInfo, name: str) -> errors.Conflict:
        return errors.Conflict(f'Operation cannot be fulfilled on {resource_name(info)} "{name}": the object has '
                               f'been modified; please apply your changes to the latest version and try again')

    async def _read(self, info: kinds.KindInfo, namespace: str, name: str) -> tuple[Any, st.KV]:
        if not name:
            raise errors.BadRequest("resource name may not be empty")
        kv = await self.storage.get(object_key(info, namespace, name))
        if kv is None:
            raise self._not_found(info, name)
        return self._decode(info, kv), kv

    def _cached(self, info: kinds.KindInfo, namespace: str, name: str) -> tuple[Any, st.KV] | None:
        if info.kind in _NOT_UPDATED_FROM_CACHE or not name:
            return None
        cached = self.object_cache(info.kind, object_key(info, namespace, name))
        if cached is None:
            return None
        obj = type(cached)()
        obj.CopyFrom(cached)         # the cache's copy is shared with every watcher: never change it
        return obj, st.KV(b"", b"", int(cached.metadata.resource_version), 0)

    async def _guaranteed_update(self, info: kinds.KindInfo, namespace: str, name: str,
                                 attempt: Callable[[Any, st.KV, bool], Awaitable[T]], use_cache: bool = True,
                                 tries: int = 10) -> T:
        """Read, decide, write at the revision read; read again when someone wrote in between.

        Kubernetes' GuaranteedUpdate, as its cacher calls it: the first try uses
        the watch cache's copy, which saves an etcd read on almost every write.
        That copy may lag etcd, so whatever was decided on it and did not end
        in a write (a failed revision compare, an error, a no-op) is decided
        again on etcd's copy before the caller hears of it. `attempt(obj, kv,
        from_cache)` raises RevisionMismatch to be retried on a fresh read.
        """
        cached = self._cached(info, namespace, name) if use_cache else None
        if cached is not None:
            try:
                return await attempt(cached[0], cached[1], True)
            except (errors.ApiError, st.StorageError, StaleCache):
                pass     # decided on a copy that may be old: decide again on etcd's
        for _attempt in range(tries):
            obj, kv = await self._read(info, namespace, name)
            try:
                return await attempt(obj, kv, False)
            except st.RevisionMismatch:
                continue
        raise self._conflict(info, name)

    async def _check_namespace(self, info: kinds.KindInfo, namespace: str) -> None:
        if not info.namespaced:
            return
        ns = self.object_cache("Namespace", object_key(kinds.BY_KIND["Namespace"], "", namespace))
        if ns is None:
            kv = await self.storage.get(object_key(kinds.BY_KIND["Namespace"], "", namespace))
            if kv is None:
                raise errors.NotFound(f'namespaces "{namespace}" not found')
            ns = self._decode(kinds.BY_KIND["Namespace"], kv)
        if ns.metadata.deletion_timestamp and info.kind != "Event":
            raise errors.Forbidden(f'{resource_name(info)} is forbidden: unable to create new content in namespace '
                                   f'{namespace} because it is being terminated')

    async def _event_lease_id(self) -> int:
        if self._event_lease is None or time.monotonic() - self._event_lease[1] > self.event_ttl / 4:
            self._event_lease = (await self.storage.grant_lease(self.event_ttl + self.event_ttl // 4),
                                 time.monotonic())
        return self._event_lease[0]

    # ------------------------------------------------------------ create
    def _normalise_identity(self, obj: Any) -> kinds.KindInfo:
        info = kinds.info_of(obj)
        obj.api_version, obj.kind = info.api_version, info.kind
        if not info.namespaced:
            obj.metadata.namespace = ""
        elif not obj.metadata.namespace:
            obj.metadata.namespace = "default"
        return info

    async def create(self, obj: Any, dry_run: bool = False, field_manager: str = "") -> Any:
        info = self._normalise_identity(obj)
        strat = self._strategy(info)
        if obj.metadata.resource_version:
            raise errors.BadRequest("resourceVersion should not be set on objects to be created")
        check_size(obj)
        md = obj.metadata
        generated = not md.name and bool(md.generate_name)
        if generated:
            # Named before defaulting and validation, as Kubernetes' BeforeCreate: what is checked is what is stored.
            md.name = generate_name(md.generate_name)
        strat.default(obj)
        strat.prepare_create(obj)
        raise_invalid(obj, strat.validate(obj))
        await self._check_namespace(info, obj.metadata.namespace)
        if field_manager:
            doc = manifests.to_dict(obj)
            set_managed_fields(md, fieldmanager.update(None, doc, doc["metadata"].get("managedFields", []),
                                                       self._writer(info, field_manager, "")))
        md.uid = str(uuid.uuid4())
        md.creation_timestamp = now()
        md.deletion_timestamp = ""
        md.ClearField("deletion_grace_period_seconds")
        lease = await self._event_lease_id() if info.kind == "Event" and not dry_run else 0
        chosen: set[str] = set()     # allocations we picked (the user's own values are not retried)
        for attempt in range(8):
            if generated and attempt:
                # The name was taken: another of the same shape (so as valid); defaults may derive from it.
                md.name = generate_name(md.generate_name)
                strat.default(obj)
            side: dict[bytes, bytes] = {}
            if info.kind == "Service":
                chosen |= self.allocators.assign(obj)
                side = {k: md.name.encode() for k in self.allocators.keys_of(obj)}
            if dry_run:
                return obj
            try:
                rev = await self.storage.create(object_key(info, md.namespace, md.name), self.encode(obj), side,
                                                lease=lease)
            except st.KeyExists as e:
                if e.key == object_key(info, md.namespace, md.name):
                    if generated:
                        continue
                    raise errors.AlreadyExists(f'{resource_name(info)} "{md.name}" already exists') from None
                self.allocators.load([e.key])
                what = self.allocators.keys_of(obj)[e.key]
                if what in chosen:
                    self.allocators.unassign(obj, what)  # our random pick lost a race: pick again
                    continue
                self._allocation_taken(obj, what)
            if info.kind == "Service":
                self.allocators.remember(obj)
            md.resource_version = str(rev)
            log.info("created %s %s/%s rv=%s", info.kind, md.namespace, md.name, rev)
            return obj
        raise errors.ApiError(f"could not create {resource_name(info)}: too many name or allocation collisions")

    @staticmethod
    def _allocation_taken(obj: Any, what: str) -> None:
        if what == "clusterIP":
            raise errors.Invalid(f'Service "{obj.metadata.name}" is invalid: spec.clusterIP: Invalid value: '
                                 f'"{obj.spec.cluster_ip}": provided IP is already allocated')
        i = int(what[len("ports["):what.index("]")])
        raise errors.Invalid(f'Service "{obj.metadata.name}" is invalid: spec.ports[{i}].nodePort: Invalid value: '
                             f'{obj.spec.ports[i].node_port}: provided port is already allocated')

    # ------------------------------------------------------------ read
    async def get(self, kind: str, namespace: str, name: str) -> Any:
        info = kinds.BY_KIND[kind]
        obj, _ = await self._read(info, namespace if info.namespaced else "", name)
        return obj

    async def list(self, kind: str, namespace: str, label_selector: str = "", field_selector: str = "",
                   limit: int = 0, continue_token: str = "") -> tuple[list[Any], int, str]:
        info = kinds.BY_KIND[kind]
        match = self.matcher(label_selector, field_selector, kind)
        prefix = kind_prefix(info) + (f"{namespace}/".encode() if info.namespaced and namespace else b"")
        start, revision = decode_continue(prefix, continue_token) if continue_token else (None, 0)
        try:
            kvs, rev, more = await self.storage.list(prefix, limit=limit, start_key=start, revision=revision)
        except st.Compacted:
            raise errors.Gone("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter.") from None
        except st.FutureRevision:
            raise errors.BadRequest("invalid continue token") from None
        decode = self.decoder(info)
        items = [o for o in (decode(kv.value, kv.mod_revision) for kv in kvs) if match(o)]
        token_out = ""
        if more and kvs:
            token_out = encode_continue(prefix, kvs[-1].key, revision or rev)
        return items, revision or rev, token_out

    @staticmethod
    def matcher(label_selector: str, field_selector: str, kind: str) -> Callable[[Any], bool]:
        try:
            labels = selectors.parse(label_selector) if label_selector else None
            fields = selectors.parse_field_selector(field_selector) if field_selector else None
        except ValueError as e:
            raise errors.BadRequest(f"unable to parse requirement: {e}") from None
        supported = field_labels(kind)
        for label in fields.fields if fields is not None else ():
            if label not in supported:
                raise errors.BadRequest(f"field label not supported: {label}")

        def match(obj: Any) -> bool:
            if labels is not None and not labels.matches(obj.metadata.labels):
                return False
            if fields is not None and not fields.matches(field_getter(obj, supported)):
                return False
            return True
        return match

    # ------------------------------------------------------------ update
    def _update_target(self, obj: Any, subresource: str) -> tuple[kinds.KindInfo, Strategy]:
        info = self._normalise_identity(obj)
        if subresource not in ("", "status", "finalize"):
            raise errors.NotFound(f"the server could not find the requested resource ({subresource})")
        if subresource == "status" and not info.has_status:
            raise errors.NotFound(f"{resource_name(info)} has no status subresource")
        if subresource == "finalize" and info.kind != "Namespace":
            raise errors.NotFound(f"{resource_name(info)} has no finalize subresource")
        return info, self._strategy(info)

    async def update(self, obj: Any, subresource: str = "", dry_run: bool = False, field_manager: str = "") -> Any:
        info, strat = self._update_target(obj, subresource)

        async def attempt(old: Any, kv: st.KV, from_cache: bool) -> Any:
            return await self._update_at(info, strat, obj, subresource, dry_run, old, kv, from_cache,
                                         field_manager)
        return await self._guaranteed_update(info, obj.metadata.namespace, obj.metadata.name, attempt,
                                             use_cache=not dry_run, tries=1)

    async def _update_at(self, info: kinds.KindInfo, strat: Strategy, obj: Any, subresource: str, dry_run: bool,
                         old: Any, kv: st.KV, from_cache: bool, field_manager: str = "",
                         manager_subresource: str | None = None) -> Any:
        if obj.metadata.resource_version and obj.metadata.resource_version != str(kv.mod_revision):
            raise self._conflict(info, obj.metadata.name)
        check_size(obj)
        new = type(obj)()
        new.CopyFrom(obj)
        if subresource == "status":
            strat.prepare_status_update(new, old)
            errs = strat.validate_status(new, old)
        elif subresource == "finalize":
            assert isinstance(strat, NamespaceStrategy)     # _update_target allows it for Namespaces only
            strat.prepare_finalize(new, old)
            errs = strat.validate_update(new, old)
        else:
            strat.default(new)
            strat.prepare_update(new, old)
            errs = strat.validate_update(new, old)
        raise_invalid(new, errs)
        md, omd = new.metadata, old.metadata
        md.uid, md.creation_timestamp = omd.uid, omd.creation_timestamp
        md.deletion_timestamp = omd.deletion_timestamp
        if omd.HasField("deletion_grace_period_seconds"):
            md.deletion_grace_period_seconds = omd.deletion_grace_period_seconds
        else:
            md.ClearField("deletion_grace_period_seconds")
        if omd.deletion_timestamp:
            added = set(md.finalizers) - set(omd.finalizers)
            if added:
                raise errors.Forbidden(f"no new finalizers can be added if the object is being deleted, found new "
                                       f"finalizers {sorted(added)}")
        md.resource_version = str(kv.mod_revision)
        if not md.managed_fields:
            md.managed_fields.extend(omd.managed_fields)    # a writer that knows nothing of them keeps them
        if field_manager:
            self._record_update(info, new, old, self._writer(info, field_manager, subresource if
                                                             manager_subresource is None else manager_subresource))
        if self.encode(new) == self.encode(old):
            if from_cache:
                raise StaleCache()   # unchanged against the cache's copy; etcd's may differ
            return old   # a no-op update writes nothing, as in Kubernetes
        if dry_run:
            return new
        if md.deletion_timestamp and self._finalized(new):
            return await self._delete_now(info, new, kv.mod_revision)
        side: dict[bytes, bytes] = {}
        release: list[bytes] = []
        if info.kind == "Service":
            chosen = self.allocators.assign(new)
            old_keys, new_keys = self.allocators.keys_of(old), self.allocators.keys_of(new)
            side = {k: md.name.encode() for k in new_keys if k not in old_keys}
            release = [k for k in old_keys if k not in new_keys]
        try:
            rev = await self.storage.update(object_key(info, md.namespace, md.name), self.encode(new),
                                            kv.mod_revision, side, release)
        except st.RevisionMismatch:
            raise self._conflict(info, md.name) from None
        except st.KeyNotFound:
            raise self._not_found(info, md.name) from None
        except st.KeyExists as e:
            self.allocators.load([e.key])        # taken meanwhile: the next pick avoids it
            what = self.allocators.keys_of(new)[e.key]
            if what in chosen:
                raise errors.Conflict("allocation collided with a concurrent request; try again") from None
            self._allocation_taken(new, what)
        if info.kind == "Service":
            self.allocators.forget(old)
            self.allocators.remember(new)
        md.resource_version = str(rev)
        return new

    @staticmethod
    def _writer(info: kinds.KindInfo, manager: str, subresource: str) -> fieldmanager.Write:
        return fieldmanager.Write(manager, info.message.DESCRIPTOR, info.api_version, subresource,
                                  info.has_status, now())

    def _record_update(self, info: kinds.KindInfo, new: Any, old: Any, w: fieldmanager.Write) -> None:
        """managedFields after `w`'s write of `new` over `old`: unchanged when the content is (a no-op stays
        one); based on the request's own entries if it sent any (never for a subresource), else the live's."""
        md = new.metadata
        sent = list(md.managed_fields) if not w.subresource else []
        del md.managed_fields[:]
        md.managed_fields.extend(old.metadata.managed_fields)
        if self.encode(new) == self.encode(old):
            return
        if sent:
            del md.managed_fields[:]
            md.managed_fields.extend(sent)
        new_doc = manifests.to_dict(new)
        set_managed_fields(md, fieldmanager.update(manifests.to_dict(old), new_doc,
                                                   new_doc["metadata"].get("managedFields", []), w))

    @staticmethod
    def _finalized(obj: Any) -> bool:
        if obj.metadata.finalizers:
            return False
        if kinds.info_of(obj).kind == "Namespace" and obj.spec.finalizers:
            return False
        return True

    # ------------------------------------------------------------ patch
    async def patch(self, kind: str, namespace: str, name: str, patch_type: str, body: bytes,
                    subresource: str = "", dry_run: bool = False, field_manager: str = "",
                    force: bool = False) -> Any:
        """A patch of the object (or its status). `server-side-apply` merges the body as an applied
        configuration of `field_manager` (apiserver.fieldmanager); subresource `scale` patches the object
        and records the manager's entry as the scale subresource's."""
        info = kinds.BY_KIND[kind]
        namespace = namespace if info.namespaced else ""
        manager_subresource = subresource
        if subresource == "scale":
            subresource = ""
        ssa = patch_type == "server-side-apply"
        if ssa and not field_manager:
            raise errors.Invalid('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                                 'is required for apply patch')
        doc = load_json(body or (b"[]" if patch_type == "json" else b"{}"), "invalid JSON patch")
        if patch_type == "json":
            if not isinstance(doc, list):
                raise errors.BadRequest("a JSON patch must be a list of operations")
            # A patch that writes the resourceVersion means it as a precondition; otherwise it applies to
            # whatever version is current (re-applied if another write comes in between), as in Kubernetes.
            has_rv = bool(patching.json_patch_paths(doc) & {"/metadata", "/metadata/resourceVersion"})
        else:
            if not isinstance(doc, dict):
                raise errors.BadRequest("a merge patch must be a JSON object")
            if not isinstance(doc.get("metadata") or {}, dict):
                raise errors.BadRequest(f"invalid patch: metadata must be an object, not {doc['metadata']!r}")
            has_rv = "resourceVersion" in (doc.get("metadata") or {})

        async def attempt(live: Any, kv: st.KV, from_cache: bool) -> Any:
            if ssa:
                merged, entries = fieldmanager.apply(manifests.to_dict(live), doc, self._writer(
                    info, field_manager, manager_subresource), force)
                merged.setdefault("metadata", {})["managedFields"] = entries
            else:
                merged = self._merge(patch_type, manifests.to_dict(live), doc)
            if not isinstance(merged, dict) or not isinstance(merged.setdefault("metadata", {}), dict):
                raise errors.BadRequest("invalid patch: metadata must be an object")
            # kube-apiserver's checkName, in its words: a patch addresses the object on the URL, never another.
            if merged["metadata"].get("name", "") != name:
                raise errors.BadRequest(f"the name of the object ({merged['metadata'].get('name', '')}) does not "
                                        f"match the name on the URL ({name})")
            if namespace and merged["metadata"].get("namespace", namespace) != namespace:
                raise errors.BadRequest(f"the namespace of the object ({merged['metadata'].get('namespace')}) "
                                        f"does not match the namespace on the URL ({namespace})")
            merged["metadata"]["namespace"] = namespace        # dropped: the URL's, as Kubernetes defaults it
            if not has_rv:
                merged["metadata"]["resourceVersion"] = str(kv.mod_revision)
            merged["apiVersion"], merged["kind"] = info.api_version, info.kind
            try:
                new = manifests.from_dict(merged, f'{info.kind} "{name}"')
            except manifests.ManifestError as e:
                raise errors.Invalid(str(e)) from None
            try:
                info_, strat = self._update_target(new, subresource)
                return await self._update_at(info_, strat, new, subresource, dry_run, live, kv, from_cache,
                                             "" if ssa else field_manager, manager_subresource)
            except errors.Conflict:
                if has_rv:
                    raise
                raise st.RevisionMismatch(0) from None   # someone wrote in between: re-read, re-apply
        return await self._guaranteed_update(info, namespace, name, attempt, use_cache=not dry_run)

    @staticmethod
    def _merge(patch_type: str, live: dict[str, Any], doc: Any) -> Any:
        try:
            if patch_type == "merge":
                return patching.merge_patch(live, doc)
            if patch_type == "strategic":
                return patching.strategic_merge(live, doc)
            if patch_type == "apply":
                return patching.three_way_apply(live, doc)
            if patch_type == "json":
                return patching.json_patch(live, doc)
        except patching.JSONPatchError as e:
            # kube-apiserver: 400 for a body that is no list of operations, 422 for one that does not apply.
            raise (errors.BadRequest(str(e)) if e.malformed else errors.Invalid(str(e))) from None
        except RecursionError:
            # The body's depth is checked; the last-applied annotation `apply` reads is the user's JSON too.
            raise errors.BadRequest(f"invalid JSON patch: exceeded max depth of {MAX_JSON_DEPTH}") from None
        raise errors.BadRequest(f'unsupported patch type "{patch_type}" (use json, merge, strategic or apply)')

    # ------------------------------------------------------------ delete
    async def delete(self, kind: str, namespace: str, name: str, grace_period: int | None = None,
                     propagation: str = "", precondition_uid: str = "", precondition_rv: str = "",
                     dry_run: bool = False) -> Any:
        info = kinds.BY_KIND[kind]
        namespace = namespace if info.namespaced else ""
        if propagation not in ("", "Background", "Foreground", "Orphan"):
            raise errors.BadRequest(f'unsupported propagation policy "{propagation}": '
                                    f'use Background, Foreground or Orphan')
        if grace_period is not None and grace_period < 0:
            raise errors.BadRequest("gracePeriodSeconds must be greater than or equal to 0")
        if kind == "Namespace" and name in _UNDELETABLE_NAMESPACES:
            # Kubernetes' NamespaceLifecycle admission: the cluster's own namespaces stay (dry runs are told too).
            raise errors.Forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')

        async def attempt(obj: Any, kv: st.KV, from_cache: bool) -> Any:
            if precondition_uid and precondition_uid != obj.metadata.uid:
                raise errors.Conflict(f'Precondition failed: UID in precondition: {precondition_uid}, '
                                      f'UID in object meta: {obj.metadata.uid}')
            if precondition_rv and precondition_rv != obj.metadata.resource_version:
                raise self._conflict(info, name)
            if dry_run:
                return obj
            try:
                done = await self._delete_once(info, obj, kv, grace_period, propagation)
            except (st.RevisionMismatch, errors.Conflict):
                if precondition_rv:
                    raise self._conflict(info, name) from None
                raise st.RevisionMismatch(0) from None
            if from_cache and done.metadata.resource_version == str(kv.mod_revision):
                raise StaleCache()   # "already being deleted" on the cache's copy: etcd's may be a new object
            return done
        return await self._guaranteed_update(info, namespace, name, attempt, use_cache=not dry_run)

    async def _delete_once(self, info: kinds.KindInfo, obj: Any, kv: st.KV, grace_period: int | None,
                           propagation: str) -> Any:
        md = obj.metadata
        finalizers = list(md.finalizers)
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if info.kind == "Namespace":
            if not finalizers and not obj.spec.finalizers:
                return await self._delete_now(info, obj, kv.mod_revision)   # nothing to wait for
            if not md.deletion_timestamp:
                md.deletion_timestamp = now()
                obj.status.phase = "Terminating"
                del md.finalizers[:]
                md.finalizers.extend(finalizers)
                return await self._write(info, obj, kv)
            return obj
        if info.kind == "Pod":
            grace = self._pod_grace(obj, grace_period)
            if grace > 0:
                if md.deletion_timestamp and md.deletion_grace_period_seconds <= grace:
                    return obj    # already terminating, at least as fast
                md.deletion_timestamp = timeutil.fmt(time.time() + grace)
                md.deletion_grace_period_seconds = grace
                del md.finalizers[:]
                md.finalizers.extend(finalizers)
                log.info("pod %s/%s terminating (grace %ss)", md.namespace, md.name, grace)
                return await self._write(info, obj, kv)
        if finalizers:
            if md.deletion_timestamp and list(md.finalizers) == finalizers:
                return obj
            md.deletion_timestamp = md.deletion_timestamp or now()
            md.deletion_grace_period_seconds = 0
            del md.finalizers[:]
            md.finalizers.extend(finalizers)
            return await self._write(info, obj, kv)
        return await self._delete_now(info, obj, kv.mod_revision)

    @staticmethod
    def _pod_grace(pod: Any, requested: int | None) -> int:
        if requested is not None:
            grace = requested
        else:
            grace = pod.spec.termination_grace_period_seconds if pod.spec.HasField(
                "termination_grace_period_seconds") else 30
        # An unscheduled or finished pod has nothing to stop: it goes at once.
        if not pod.spec.node_name or pod.status.phase in ("Succeeded", "Failed"):
            return 0
        return grace

    async def _write(self, info: kinds.KindInfo, obj: Any, kv: st.KV) -> Any:
        rev = await self.storage.update(object_key(info, obj.metadata.namespace, obj.metadata.name),
                                        self.encode(obj), kv.mod_revision)
        obj.metadata.resource_version = str(rev)
        return obj

    async def _delete_now(self, info: kinds.KindInfo, obj: Any, expected: int) -> Any:
        release = list(self.allocators.keys_of(obj)) if info.kind == "Service" else []
        try:
            rev = await self.storage.delete(object_key(info, obj.metadata.namespace, obj.metadata.name),
                                            expected, release)
        except st.KeyNotFound:
            raise self._not_found(info, obj.metadata.name) from None
        if info.kind == "Service":
            self.allocators.forget(obj)
        obj.metadata.resource_version = str(rev)
        log.info("deleted %s %s/%s rv=%s", info.kind, obj.metadata.namespace, obj.metadata.name, rev)
        return obj

    # ------------------------------------------------------------ pods/binding
    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "") -> Any:
        info = kinds.BY_KIND["Pod"]
        if not node_name:
            raise errors.Invalid("Binding is invalid: target.name: Required value")

        async def attempt(pod: Any, kv: st.KV, from_cache: bool) -> Any:
            if uid and pod.metadata.uid != uid:
                raise errors.Conflict(f'Precondition failed: UID in precondition: {uid}, '
                                      f'UID in object meta: {pod.metadata.uid}')
            if pod.spec.node_name:
                raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                      f'pod {name} is already assigned to node "{pod.spec.node_name}"')
            if pod.metadata.deletion_timestamp:
                raise errors.Conflict(f'Operation cannot be fulfilled on pods/binding "{name}": '
                                      f'pod {name} is being deleted')
            pod.spec.node_name = node_name
            conditions.set_simple(pod.status.conditions, "PodScheduled", "True", "", "", now())
            return await self._write(info, pod, kv)
        return await self._guaranteed_update(info, namespace, name, attempt)

    # ------------------------------------------------------------ pods/eviction
    async def evict(self, namespace: str, name: str, grace_period: int | None,
                    list_pdbs: Callable[[str], list[Any]]) -> Any:
        info = kinds.BY_KIND["Pod"]
        for _attempt in range(10):
            pod, _ = await self._read(info, namespace, name)
            if pod.metadata.deletion_timestamp:
                return pod
            budgets = [p for p in list_pdbs(namespace)
                       if (p.spec.selector.match_labels or p.spec.selector.match_expressions)
                       and selectors.selector_of(p).matches(dict(pod.metadata.labels))]
            if len(budgets) > 1:
                raise errors.ApiError("This pod has more than one PodDisruptionBudget, which the eviction "
                                      "subresource does not support.")
            if budgets and pod.status.phase == "Running":
                try:
                    await self._take_disruption(budgets[0], pod)
                except st.RevisionMismatch:
                    continue
            return await self.delete("Pod", namespace, name, grace_period=grace_period,
                                     precondition_uid=pod.metadata.uid)
        raise errors.TooManyRequests("too many concurrent evictions; try again")

    async def _take_disruption(self, pdb: Any, pod: Any) -> None:
        info = kinds.BY_KIND["PodDisruptionBudget"]
        fresh, kv = await self._read(info, pdb.metadata.namespace, pdb.metadata.name)
        if fresh.status.observed_generation < fresh.metadata.generation:
            raise errors.TooManyRequests(f"Cannot evict pod as it would violate the pod's disruption budget. "
                                         f"The disruption budget {fresh.metadata.name} is still being processed "
                                         f"by the server.")
        if fresh.status.disruptions_allowed <= 0:
            raise errors.TooManyRequests(
                f"Cannot evict pod as it would violate the pod's disruption budget. The disruption budget "
                f"{fresh.metadata.name} needs {fresh.status.desired_healthy} healthy pods and has "
                f"{fresh.status.current_healthy} currently")
        fresh.status.disruptions_allowed -= 1
        fresh.status.disrupted_pods[pod.metadata.name] = now()
        await self._write(info, fresh, kv)


def set_managed_fields(md: Any, entries: list[dict[str, Any]]) -> None:
    """Replace an ObjectMeta's managedFields with `entries` (their JSON form)."""
    del md.managed_fields[:]
    for entry in entries:
        # Built field by field: json_format.ParseDict is several times slower on the fieldsV1 Struct.
        m = md.managed_fields.add(manager=entry["manager"], operation=entry["operation"],
                                  api_version=entry["apiVersion"], time=entry.get("time", ""),
                                  fields_type=entry.get("fieldsType", ""), subresource=entry.get("subresource", ""))
        m.fields_v1.update(entry.get("fieldsV1") or {})


__all__ = ["Store", "now", "object_key", "kind_prefix", "int_or_string", "json_format", "pb"]
