"""Storage: the apiserver's narrow contract with etcd (only the apiserver imports it).

Like kine's, the whole contract is a handful of verbs, written down once as
the `Storage` protocol: get, list, create (fails if present),
update(expected revision), delete(expected revision), watch(prefix, from
revision), compact, current revision (and leases, for Events' TTL). Every
write is one transaction, so side keys (ClusterIP and NodePort allocations)
are created and released atomically with the object that owns them.

Two implementations keep it: `EtcdStorage` here (what the apiserver runs) and
`memstorage.MemoryStorage` (the unit tests' etcd). One contract suite,
tests/storage_contract.py, runs against both (tests/unit on memory,
tests/integration on a real etcd), so the memory one cannot drift from etcd.

We talk to etcd through the raw v3 stubs that `aetcd` ships (its generated
etcd protos work with grpcio 1.85 / protobuf 7, where `etcd3` 0.12 does not
import). The raw stubs, rather than aetcd's wrappers, give us the response
header revision (for bookmarks and list resourceVersions), prev_kv on
deletes, compaction errors on watch creation, and no extra copies.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncGenerator, AsyncIterator, Callable, Mapping, Protocol, Sequence

import grpc
from aetcd import rpc

log = logging.getLogger(__name__)

MAX_MESSAGE = 256 * 1024 * 1024  # etcd's gRPC default receive limit (4 MiB) is too small for big lists


class StorageError(Exception):
    pass


class KeyExists(StorageError):
    def __init__(self, key: bytes) -> None:
        super().__init__(f"key exists: {key!r}")
        self.key = key


class KeyNotFound(StorageError):
    pass


class RevisionMismatch(StorageError):
    """The object changed since the revision the caller read."""

    def __init__(self, current_revision: int) -> None:
        super().__init__(f"revision mismatch (current {current_revision})")
        self.current_revision = current_revision


class Compacted(StorageError):
    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revision compacted (oldest available {compact_revision})")
        self.compact_revision = compact_revision


class Unavailable(StorageError):
    pass


class TooLarge(StorageError):
    """etcd refused a request over its size limit (--max-request-bytes, 1.5 MiB by default)."""


class FutureRevision(StorageError):
    """A read at a revision etcd has not reached yet."""


@dataclass(frozen=True)
class KV:
    key: bytes
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True)
class StorageEvent:
    type: str               # "PUT" or "DELETE"
    key: bytes
    value: bytes            # new value (PUT); last value (DELETE)
    prev_value: bytes       # value before (empty if created or unknown)
    revision: int


Batch = list[StorageEvent]   # one watch response (`list` itself is a method name in the classes below)


@dataclass(frozen=True)
class EtcdTLS:
    """How the apiserver proves itself to etcd (kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile):
    the CA that signed etcd's serving certificate, and the client certificate etcd's --client-cert-auth asks for."""
    ca_file: str
    cert_file: str
    key_file: str

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=Path(self.ca_file).read_bytes(),
                                            private_key=Path(self.key_file).read_bytes(),
                                            certificate_chain=Path(self.cert_file).read_bytes())


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`."""
    b = bytearray(prefix)
    for i in range(len(b) - 1, -1, -1):
        if b[i] < 0xFF:
            b[i] += 1
            return bytes(b[: i + 1])
    return b"\0"


class Storage(Protocol):
    """What the store and the watch cache need from a key-value store with etcd's revisions.

    One global revision moves by one per successful write transaction; a
    key's `mod_revision` is the revision that last wrote it. Errors are this
    module's: KeyExists, KeyNotFound, RevisionMismatch(current), Compacted
    (compact revision, 0 if not known), FutureRevision, Unavailable.
    """

    # Called with (operation, perf_counter at start) after every call: the metrics hook.
    observe: Callable[[str, float], None] | None

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def version(self) -> str:
        """The backend's version, as `kubelab version` shows it."""
        ...

    async def current_revision(self) -> int: ...

    async def get(self, key: bytes) -> KV | None: ...

    async def list(self, prefix: bytes, limit: int = 0, start_key: bytes | None = None,
                   revision: int = 0) -> tuple[list[KV], int, bool]:
        """Keys under `prefix` in key order from `start_key` on, at `revision` (0 = latest):
        (items, the store's current revision (as etcd's header: also for a past read), whether
        more keys follow). Compacted for a revision compacted away, FutureRevision for one not
        reached yet."""
        ...

    async def create(self, key: bytes, value: bytes, also_create: Mapping[bytes, bytes] | None = None,
                     lease: int = 0) -> int:
        """Create `key` (and the side keys) if none exists, else KeyExists naming the one that does."""
        ...

    async def update(self, key: bytes, value: bytes, expected_revision: int,
                     also_create: Mapping[bytes, bytes] | None = None,
                     also_delete: Sequence[bytes] = ()) -> int:
        """Write `key` if its mod revision is `expected_revision` (KeyNotFound, RevisionMismatch);
        create and delete side keys in the same transaction. The key keeps its lease."""
        ...

    async def delete(self, key: bytes, expected_revision: int, also_delete: Sequence[bytes] = ()) -> int: ...

    async def grant_lease(self, ttl: int) -> int:
        """A lease of `ttl` seconds: keys created with it go when it expires."""
        ...

    async def compact(self, revision: int) -> None:
        """Forget history before `revision` (Compacted if already so, FutureRevision if not reached)."""
        ...

    def watch(self, prefix: bytes, from_revision: int, progress: asyncio.Queue[int] | None = None,
              prev_kv: bool = True) -> AsyncGenerator[Batch, None]:
        """Batches of events under `prefix` from `from_revision` (inclusive; 0 = what comes next),
        in revision order, a transaction's events never split. Raises Compacted(compact revision) if
        `from_revision` is older than the store keeps. Without `prev_kv`, a DELETE carries no value
        and no event a previous value."""
        ...


# etcd's words when it cannot commit (a member without a quorum of its cluster: no leader, or a proposal that
# timed out), which it sends as UNKNOWN: the cluster is unavailable, not the request wrong.
_NO_QUORUM = ("context deadline exceeded", "etcdserver: request timed out", "etcdserver: no leader",
              "etcdserver: leader changed")


class EtcdStorage:
    """The `Storage` contract on etcd's v3 API (one gRPC channel; every write one transaction)."""

    def __init__(self, endpoints: Sequence[str], timeout: float = 10.0, tls: EtcdTLS | None = None) -> None:
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.tls = tls
        self._channel: grpc.aio.Channel | None = None
        self._kv: rpc.KVStub | None = None
        self._watch: rpc.WatchStub | None = None
        self._lease: rpc.LeaseStub | None = None
        self._maint: rpc.MaintenanceStub | None = None
        # Called with (operation, perf_counter at start) after every etcd call: the metrics hook.
        self.observe: Callable[[str, float], None] | None = None

    async def start(self) -> None:
        # One endpoint: gRPC's round-robin over a static list handles several.
        target = self.endpoints[0] if len(self.endpoints) == 1 else "ipv4:" + ",".join(self.endpoints)
        options = [("grpc.max_receive_message_length", MAX_MESSAGE),
                   ("grpc.max_send_message_length", MAX_MESSAGE),
                   ("grpc.lb_policy_name", "round_robin"),
                   ("grpc.keepalive_time_ms", 10000)]
        self._channel = (grpc.aio.secure_channel(target, self.tls.credentials(), options=options) if self.tls
                         else grpc.aio.insecure_channel(target, options=options))
        self._kv = rpc.KVStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._lease = rpc.LeaseStub(self._channel)
        self._maint = rpc.MaintenanceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def kv(self) -> rpc.KVStub:
        assert self._kv is not None, "storage not started"
        return self._kv

    async def _call(self, what: str, coro):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return await coro
        except grpc.aio.AioRpcError as e:
            details = e.details() or ""
            if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) or \
                    any(w in details for w in _NO_QUORUM):
                raise Unavailable(f"etcd {what}: {details}") from e
            if "request is too large" in details:
                raise TooLarge(f"etcd {what}: {details}") from e
            # etcd answers OUT_OF_RANGE for a future revision too: not to be mistaken for a compaction.
            if "future revision" in details:
                raise FutureRevision(f"etcd {what}: {details}") from e
            if e.code() == grpc.StatusCode.OUT_OF_RANGE or "compacted" in details:
                raise Compacted(0) from e
            raise StorageError(f"etcd {what}: {e.code().name}: {e.details()}") from e
        finally:
            if self.observe is not None:
                self.observe(what, started)

    # ------------------------------------------------------------- reads
    async def current_revision(self) -> int:
        resp = await self._call("status", self.kv.Range(
            rpc.RangeRequest(key=b"\0", range_end=b"\0", count_only=True, limit=1), timeout=self.timeout))
        return int(resp.header.revision)

    async def get(self, key: bytes) -> KV | None:
        resp = await self._call("get", self.kv.Range(rpc.RangeRequest(key=key), timeout=self.timeout))
        log.debug("GET %s => found=%s rev=%s", key, bool(resp.kvs), resp.header.revision)
        if not resp.kvs:
            return None
        kv = resp.kvs[0]
        return KV(kv.key, kv.value, kv.mod_revision, kv.create_revision)

    async def list(self, prefix: bytes, limit: int = 0, start_key: bytes | None = None,
                   revision: int = 0) -> tuple[list[KV], int, bool]:
        """Keys under `prefix` (from `start_key` on), at `revision` (0 = latest)."""
        req = rpc.RangeRequest(key=start_key or prefix, range_end=prefix_end(prefix),
                               limit=limit, revision=revision)
        resp = await self._call("list", self.kv.Range(req, timeout=self.timeout * 3))
        items = [KV(kv.key, kv.value, kv.mod_revision, kv.create_revision) for kv in resp.kvs]
        log.debug("LIST %s => n=%d rev=%s more=%s", prefix, len(items), resp.header.revision, resp.more)
        return items, int(resp.header.revision), bool(resp.more)

    # ------------------------------------------------------------- writes
    @staticmethod
    def _absent(key: bytes) -> rpc.Compare:
        return rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.VERSION, version=0)

    @staticmethod
    def _at(key: bytes, mod_revision: int) -> rpc.Compare:
        return rpc.Compare(key=key, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                           mod_revision=mod_revision)

    @staticmethod
    def _put(key: bytes, value: bytes, lease: int = 0) -> rpc.RequestOp:
        return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, lease=lease))

    @staticmethod
    def _del(key: bytes) -> rpc.RequestOp:
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))

    async def _txn(self, what: str, key: bytes, compare: Sequence[rpc.Compare],
                   success: Sequence[rpc.RequestOp]) -> tuple[bool, int]:
        # On failure, read the key back so the caller learns its current revision.
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=key))]
        resp = await self._call(what, self.kv.Txn(
            rpc.TxnRequest(compare=compare, success=success, failure=failure), timeout=self.timeout))
        current = 0
        if not resp.succeeded and resp.responses and resp.responses[0].response_range.kvs:
            current = resp.responses[0].response_range.kvs[0].mod_revision
        log.debug("%s %s size=%d => ok=%s rev=%s", what.upper(), key,
                  sum(len(op.request_put.value) for op in success), resp.succeeded, resp.header.revision)
        return bool(resp.succeeded), int(resp.header.revision) if resp.succeeded else current

    async def create(self, key: bytes, value: bytes, also_create: Mapping[bytes, bytes] | None = None,
                     lease: int = 0) -> int:
        """Create `key`; fail with KeyExists if it (or any side key) exists. Returns the revision."""
        side = dict(also_create or {})
        compare = [self._absent(key)] + [self._absent(k) for k in side]
        success = [self._put(key, value, lease)] + [self._put(k, v) for k, v in side.items()]
        ok, rev = await self._txn("create", key, compare, success)
        if ok:
            return rev
        if rev:  # the object itself exists
            raise KeyExists(key)
        for k in side:
            if await self.get(k) is not None:
                raise KeyExists(k)
        raise KeyExists(key)

    async def update(self, key: bytes, value: bytes, expected_revision: int,
                     also_create: Mapping[bytes, bytes] | None = None,
                     also_delete: Sequence[bytes] = ()) -> int:
        side = dict(also_create or {})
        compare = [self._at(key, expected_revision)] + [self._absent(k) for k in side]
        # ignore_lease keeps the key's lease: an updated Event still expires with its TTL.
        keep_lease = rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value, ignore_lease=True))
        success = ([keep_lease] + [self._put(k, v) for k, v in side.items()]
                   + [self._del(k) for k in also_delete])
        ok, rev = await self._txn("update", key, compare, success)
        if ok:
            return rev
        if rev == 0:
            raise KeyNotFound(key)
        if rev != expected_revision:
            raise RevisionMismatch(rev)
        for k in side:
            if await self.get(k) is not None:
                raise KeyExists(k)
        raise RevisionMismatch(rev)

    async def delete(self, key: bytes, expected_revision: int, also_delete: Sequence[bytes] = ()) -> int:
        compare = [self._at(key, expected_revision)]
        success = [self._del(key)] + [self._del(k) for k in also_delete]
        ok, rev = await self._txn("delete", key, compare, success)
        if ok:
            return rev
        if rev == 0:
            raise KeyNotFound(key)
        raise RevisionMismatch(rev)

    async def grant_lease(self, ttl: int) -> int:
        assert self._lease is not None
        resp = await self._call("lease", self._lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl),
                                                                timeout=self.timeout))
        return int(resp.ID)

    async def compact(self, revision: int) -> None:
        await self._call("compact", self.kv.Compact(rpc.CompactionRequest(revision=revision, physical=True),
                                                    timeout=self.timeout * 6))

    async def version(self) -> str:
        assert self._maint is not None
        resp = await self._call("status", self._maint.Status(rpc.StatusRequest(), timeout=self.timeout))
        return str(resp.version)

    # ------------------------------------------------------------- watch
    async def watch(self, prefix: bytes, from_revision: int, progress: asyncio.Queue[int] | None = None,
                    prev_kv: bool = True) -> AsyncGenerator[Batch, None]:
        """Batches of events under `prefix` from `from_revision` (inclusive), in order.

        Raises Compacted if `from_revision` is older than etcd keeps. If a
        `progress` queue is given, progress notifications put the revision
        reached there (used for bookmarks). Without `prev_kv`, etcd skips
        reading each event's previous value (a backend read per event), and a
        DELETE event carries no value: for a caller that keeps the objects.
        """
        assert self._watch is not None
        create = rpc.WatchCreateRequest(key=prefix, range_end=prefix_end(prefix),
                                        start_revision=from_revision, prev_kv=prev_kv,
                                        progress_notify=progress is not None)
        requests: asyncio.Queue[rpc.WatchRequest | None] = asyncio.Queue()
        await requests.put(rpc.WatchRequest(create_request=create))

        async def request_iter() -> AsyncIterator[rpc.WatchRequest]:
            while True:
                r = await requests.get()
                if r is None:
                    return
                yield r

        call = self._watch.Watch(request_iter())
        try:
            async for resp in call:
                if resp.compact_revision:
                    raise Compacted(int(resp.compact_revision))
                if resp.canceled:
                    raise StorageError(f"etcd watch canceled: {resp.cancel_reason}")
                if not resp.events:
                    if progress is not None and not resp.created:
                        progress.put_nowait(int(resp.header.revision))
                    continue
                yield [StorageEvent("DELETE" if ev.type == 1 else "PUT", ev.kv.key,
                                    ev.prev_kv.value if ev.type == 1 else ev.kv.value,
                                    ev.prev_kv.value, int(ev.kv.mod_revision))
                       for ev in resp.events]
        except grpc.aio.AioRpcError as e:
            raise Unavailable(f"etcd watch: {e.details()}") from e
        finally:
            await requests.put(None)
            call.cancel()
