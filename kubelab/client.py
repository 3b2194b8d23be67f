"""The typed API client every component and the CLI use (grpc.aio).

Errors are translated here, once, into kubelab.errors; transient ones
(Unavailable, Timeout) are retried with back-off for idempotent verbs.

Failover: `server` may list several apiservers ("apiserver:6443,apiserver2:6443",
as the highly available lab's components and kubeconfig do). The client talks to
one at a time; when a call or a watch to it ends Unavailable (the apiserver is
gone), it moves on to the next, and the retry goes there. It stays on the one
that answers (no going back), as client-go does with one address behind a load
balancer.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import grpc

from kubelab import errors, kinds
from kubelab.backoff import doubling
from kubelab.pipeline import STREAM_ACCEPTED, WritePipeline  # noqa: F401 - STREAM_ACCEPTED is the streams' too
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from kubelab.v1 import objects_pb2 as pb

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_MESSAGE = 256 * 1024 * 1024


_user_agent = ["kubelab"]


def set_user_agent(component: str) -> None:
    """Name this process in every request it makes, as Kubernetes' components do (`kube-scheduler/v1.x
    (linux/amd64) ...`): the audit log and `kubelab trace` say which component made each write."""
    import platform
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("kubelab")
    except PackageNotFoundError:
        v = "0.0.0"
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    _user_agent[0] = f"{component}/v{v} ({platform.system().lower()}/{arch}) kubelab"


def user_agent() -> str:
    return _user_agent[0]


MAX_RECONNECT_BACKOFF_MS = 5000


def channel_options() -> list[tuple[str, Any]]:
    return [("grpc.primary_user_agent", _user_agent[0]),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.keepalive_time_ms", 20000),
            ("grpc.keepalive_permit_without_calls", 1),
            # gRPC's reconnect back-off grows to 120 s: a node cut off for 90 s then heartbeated 32 s after it
            # was back (bench/soak.py's fault). client-go dials per request; 5 s at most keeps recovery prompt.
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS)]


def split_servers(server: str) -> list[str]:
    """The apiservers a `server` value names: "host:port" or "host:port,host:port,..."."""
    servers = [s.strip() for s in server.split(",") if s.strip()]
    return servers or [server]


class WatchStream:
    """An open watch: iterate for api.WatchEvent; `cancel()` to stop. The server sends them in WatchEvents
    messages, each what was waiting for this watcher; they come out one at a time, in order.
    `on_error` hears the error a watch ends with (the client's failover)."""

    def __init__(self, call: Any, on_error: Callable[[errors.ApiError], None] | None = None) -> None:
        self._call = call
        self._batch: Any = None
        self._next = 0
        self._on_error = on_error

    def __aiter__(self) -> "WatchStream":
        return self

    async def __anext__(self) -> api.WatchEvent:
        while self._batch is None or self._next >= len(self._batch.events):
            try:
                msg = await self._call.read()
            except grpc.aio.AioRpcError as e:
                err = errors.from_rpc_error(e)
                if self._on_error is not None:
                    self._on_error(err)
                raise err from e
            if msg is grpc.aio.EOF:
                raise StopAsyncIteration
            self._batch, self._next = msg, 0
        self._next += 1
        return self._batch.events[self._next - 1]

    def cancel(self) -> None:
        self._call.cancel()


class Client:
    """`pipeline=True` sends writes (create, update, patch, delete, bind) on one stream in batches
    (kubelab.pipeline): for components that write by the thousand. Callers see no difference."""

    def __init__(self, server: str, token: str = "", namespace: str = "default",
                 retries: int = 5, pipeline: bool = False, field_manager: str = "") -> None:
        self.server = server
        # Named on create/update/patch, the apiserver records this manager's managedFields entry (server-side
        # apply's ownership); "" (the components) records none and keeps the entries the object has.
        self.field_manager = field_manager
        self.servers = split_servers(server)
        self.token = token
        self.namespace = namespace
        # With several apiservers a call that found one gone is retried at the next at least once.
        self.retries = max(retries, 1) if len(self.servers) > 1 else retries
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._current = 0
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._stubs: dict[int, api_grpc.ApiStub] = {}
        self._connect(0)
        # The pipeline opens each new write stream on the current apiserver's stub.
        self.pipeline = WritePipeline(_CurrentStub(self), self._metadata) if pipeline else None

    def _connect(self, index: int) -> None:
        if index not in self._channels:
            self._channels[index] = grpc.aio.insecure_channel(self.servers[index], options=channel_options())
            self._stubs[index] = api_grpc.ApiStub(self._channels[index])

    @property
    def channel(self) -> grpc.aio.Channel:
        """The channel to the apiserver this client talks to now."""
        return self._channels[self._current]

    @property
    def stub(self) -> api_grpc.ApiStub:
        return self._stubs[self._current]

    @property
    def current_server(self) -> str:
        return self.servers[self._current]

    def failover(self, failed: int, err: errors.ApiError) -> None:
        """The apiserver `failed` (an index) was unreachable: talk to the next one, unless another call has
        already moved on (many calls fail together when an apiserver goes; only the first one moves). An
        apiserver that answered, even 503 (its etcd without a quorum), is kept: the others share its etcd."""
        if len(self.servers) < 2 or failed != self._current or not _unreachable(err):
            return
        self._current = (failed + 1) % len(self.servers)
        self._connect(self._current)
        log.info("apiserver %s unreachable (%s): failing over to %s", self.servers[failed], err.message,
                 self.servers[self._current])

    async def close(self) -> None:
        if self.pipeline is not None:
            await self.pipeline.close()
        for channel in self._channels.values():
            await channel.close()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    async def _unary(self, fn: Callable[..., Awaitable[T]] | str, req: Any, idempotent: bool,
                     timeout: float = 30.0) -> T:
        """A unary call: `fn` the stub's method name (each try goes to the current apiserver) or a method."""
        async def call() -> T:
            method = getattr(self.stub, fn) if isinstance(fn, str) else fn
            try:
                return await method(req, metadata=self._metadata, timeout=timeout)  # type: ignore[no-any-return]
            except grpc.aio.AioRpcError as e:
                raise errors.from_rpc_error(e) from e
        return await self._retrying(call, idempotent)

    async def _retrying(self, call: Callable[[], Awaitable[T]], idempotent: bool) -> T:
        """`call()`, again with back-off after a transient error (Unavailable, Timeout) if it is idempotent.
        An apiserver found unavailable is left for the next one first (the retry goes there)."""
        for attempt in range(self.retries + 1):
            current = self._current
            try:
                return await call()
            except errors.ApiError as err:
                self.failover(current, err)
                retry = errors.is_transient(err) and (idempotent or _never_sent(err))
                if not retry or attempt == self.retries:
                    raise
                log.debug("retrying after %s: %s", err.reason, err.message)
                await asyncio.sleep(doubling(attempt + 1, 0.1, 2.0) * (1 + random.random()))
        raise AssertionError("unreachable")

    async def _write(self, op: str, req: Any, idempotent: bool) -> Any:
        """A write: on the pipeline when this client has one, else its own call. The object written."""
        pipeline = self.pipeline
        if pipeline is None:
            return kinds.unwrap(await self._unary(op.capitalize(), req, idempotent))
        return kinds.unwrap(await self._retrying(lambda: pipeline.write(op, req), idempotent))

    # --------------------------------------------------------------- verbs
    async def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        ns = self._ns(kind, namespace)
        env = await self._unary("Get", api.GetRequest(kind=kind, namespace=ns, name=name), True)
        return kinds.unwrap(env)

    async def list(self, kind: str, namespace: str | None = None, label_selector: str = "",
                   field_selector: str = "", limit: int = 0) -> tuple[list[Any], str]:
        """All objects of a kind (`namespace=""` means all namespaces); pages transparently."""
        ns = self._ns(kind, namespace)
        items: list[Any] = []
        token = ""
        while True:
            resp = await self._unary("List", api.ListRequest(
                kind=kind, namespace=ns, label_selector=label_selector, field_selector=field_selector,
                limit=limit, continue_token=token), True, timeout=120.0)
            items += [kinds.unwrap(o) for o in resp.items]
            if not resp.continue_token:
                return items, resp.resource_version
            token = resp.continue_token

    async def create(self, obj: Any, dry_run: bool = False) -> Any:
        self._default_ns(obj)
        return await self._write("create", api.CreateRequest(object=kinds.wrap(obj), dry_run=dry_run,
                                                             field_manager=self.field_manager), False)

    async def update(self, obj: Any, dry_run: bool = False) -> Any:
        self._default_ns(obj)
        return await self._write("update", api.UpdateRequest(object=kinds.wrap(obj), dry_run=dry_run,
                                                             field_manager=self.field_manager), True)

    async def update_status(self, obj: Any) -> Any:
        self._default_ns(obj)
        return await self._write("update", api.UpdateRequest(object=kinds.wrap(obj), subresource="status"), True)

    async def finalize(self, namespace: Any) -> Any:
        """Write a Namespace's spec.finalizers (the finalize subresource; a plain update keeps them)."""
        return await self._write("update", api.UpdateRequest(object=kinds.wrap(namespace), subresource="finalize"),
                                 True)

    async def patch(self, kind: str, name: str, patch: dict[str, Any] | str, namespace: str | None = None,
                    patch_type: str = "strategic", subresource: str = "", dry_run: bool = False) -> Any:
        body = patch if isinstance(patch, str) else json.dumps(patch)
        req = api.PatchRequest(kind=kind, namespace=self._ns(kind, namespace), name=name, patch_type=patch_type,
                               patch=body.encode(), subresource=subresource, dry_run=dry_run,
                               field_manager=self.field_manager)
        return await self._write("patch", req, True)

    async def delete(self, kind: str, name: str, namespace: str | None = None,
                     grace_period_seconds: int | None = None, propagation_policy: str = "",
                     precondition_uid: str = "", precondition_resource_version: str = "",
                     dry_run: bool = False) -> Any:
        req = api.DeleteRequest(kind=kind, namespace=self._ns(kind, namespace), name=name,
                                propagation_policy=propagation_policy, precondition_uid=precondition_uid,
                                precondition_resource_version=precondition_resource_version, dry_run=dry_run)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return await self._write("delete", req, True)

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = "",
                   annotations: dict[str, str] | None = None) -> Any:
        """Bind a pod to a node; `annotations` are the Binding's (the scheduler's decision, for the audit log)."""
        req = api.BindRequest(namespace=namespace, name=name, node_name=node_name, uid=uid,
                              annotations=annotations or {})
        return await self._write("bind", req, False)

    async def trace(self, kind: str, name: str, namespace: str | None = None, since: int = 0) -> api.TraceResponse:
        """`kubelab trace`: the object's timeline from the apiserver's index; `since` a cursor it returned."""
        req = api.TraceRequest(kind=kind, namespace=self._ns(kind, namespace), name=name, since=since)
        return await self._unary("Trace", req, True)

    async def create_token(self, name: str, namespace: str | None = None, audiences: list[str] | None = None,
                           expiration_seconds: int | None = None, bound_kind: str = "", bound_name: str = "",
                           bound_uid: str = "", dry_run: bool = False) -> api.TokenResponse:
        """A bound token for a ServiceAccount (TokenRequest, the serviceaccounts/token subresource)."""
        req = api.TokenRequest(namespace=self._ns("ServiceAccount", namespace), name=name,
                               audiences=audiences or [], dry_run=dry_run)
        if expiration_seconds is not None:
            req.expiration_seconds = expiration_seconds
        if bound_kind:
            req.bound_object_ref.kind, req.bound_object_ref.api_version = bound_kind, "v1"
            req.bound_object_ref.name, req.bound_object_ref.uid = bound_name, bound_uid
        return await self._unary(self.stub.CreateToken, req, False)

    async def report_proxy(self, report: api.ProxyReport) -> api.ProxyReportAck:
        """A node's proxy began sending to endpoints (for `kubelab trace`; the apiserver stores nothing)."""
        return await self._unary(self.stub.ReportProxy, report, True, timeout=10.0)

    async def evict(self, namespace: str, name: str, grace_period_seconds: int | None = None) -> Any:
        req = api.EvictRequest(namespace=namespace, name=name)
        if grace_period_seconds is not None:
            req.grace_period_seconds = grace_period_seconds
        return kinds.unwrap(await self._unary("Evict", req, False))

    async def version(self) -> api.VersionInfo:
        return await self._unary("Version", api.VersionRequest(), True)

    def watch(self, kind: str, namespace: str | None = None, resource_version: str = "",
              label_selector: str = "", field_selector: str = "", allow_bookmarks: bool = False) -> WatchStream:
        """Events after `resource_version` ("" = current objects as ADDED first)."""
        req = api.WatchRequest(kind=kind, namespace=self._ns(kind, namespace), resource_version=resource_version,
                               label_selector=label_selector, field_selector=field_selector,
                               allow_bookmarks=allow_bookmarks)
        current = self._current
        return WatchStream(self.stub.Watch(req, metadata=self._metadata),
                           on_error=lambda err: self.failover(current, err))

    # --------------------------------------------------------------- helpers
    def _ns(self, kind: str, namespace: str | None) -> str:
        info = kinds.BY_KIND.get(kind) or kinds.lookup(kind)
        if not info.namespaced:
            return ""
        return self.namespace if namespace is None else namespace

    def _default_ns(self, obj: Any) -> None:
        if kinds.info_of(obj).namespaced and not obj.metadata.namespace:
            obj.metadata.namespace = self.namespace


# gRPC's words when it never reached the server: no connection, so no request went out.
_NOT_CONNECTED = ("failed to connect", "dns resolution failed", "connection refused", "no route to host",
                  "name or service not known", "connect failed")


def server_answered(err: Exception) -> bool:
    """Whether the apiserver itself answered with `err` (its errors name a reason; gRPC's own, of a connection
    that failed, do not)."""
    cause = err.__cause__
    return isinstance(cause, grpc.RpcError) and bool(errors.reason_of(cause))


def _unreachable(err: errors.ApiError) -> bool:
    """Whether `err` says the apiserver could not be reached or went away (gRPC's Unavailable, or the write
    stream broken), not that it answered 503 itself."""
    if not isinstance(err, errors.Unavailable):
        return False
    if isinstance(err.__cause__, grpc.RpcError):
        return not server_answered(err)
    return err.message.startswith(("write stream broken", "the apiserver closed the write stream"))


def _never_sent(err: errors.ApiError) -> bool:
    """Whether `err` is gRPC failing to reach the apiserver at all (then even a create may be sent again, to
    the next apiserver: the first never saw it)."""
    cause = err.__cause__
    if not isinstance(cause, grpc.RpcError) or errors.reason_of(cause):
        return False
    code = cause.code() if hasattr(cause, "code") else None
    details = (cause.details() if hasattr(cause, "details") else str(cause)) or ""
    return code == grpc.StatusCode.UNAVAILABLE and any(w in details.lower() for w in _NOT_CONNECTED)


class _CurrentStub:
    """The stub of whichever apiserver `client` talks to now (what its write pipeline opens streams on)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client.stub, name)


def new_object(kind: str, name: str = "", namespace: str = "") -> Any:
    """An empty typed object with apiVersion/kind and metadata set."""
    info = kinds.BY_KIND[kind]
    obj = info.message()
    obj.api_version, obj.kind = info.api_version, info.kind
    obj.metadata.name = name
    if info.namespaced and namespace:
        obj.metadata.namespace = namespace
    return obj


async def watch_events(client: Client, kind: str, **kw: Any) -> AsyncIterator[api.WatchEvent]:
    stream = client.watch(kind, **kw)
    try:
        async for ev in stream:
            yield ev
    finally:
        stream.cancel()


def object_of(ev: api.WatchEvent) -> Any:
    return kinds.unwrap(ev.object)


__all__ = ["Client", "WatchStream", "new_object", "watch_events", "object_of", "pb"]
