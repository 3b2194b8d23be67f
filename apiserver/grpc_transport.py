"""The apiserver's gRPC transport: the server (message limits, keepalive, the bearer-token interceptor), the
method table built by hand (requests parsed by the handlers themselves, Watch sending pre-serialised bytes),
the call wrapper every unary handler wears (`translate`: gate, audit, metrics, errors as statuses), and the
pipelined Writes stream. What each call does is apiserver.server.ApiService's.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError

from kubelab import errors, kinds
from kubelab.client import channel_options
from kubelab.v1 import api_pb2 as api

from . import storage as st
from .audit_grpc import audit_begin, audit_finish
from .auth import MAX_REQUEST_BYTES, AuthInterceptor, Authenticator, UserInfo
from .checks import abort, api_error

log = logging.getLogger(__name__)


def resource_of(request: Any) -> str:
    """The resource a request is about, for metrics labels (`pods`, `deployments`, ...)."""
    name = getattr(request, "kind", "")
    if not name and hasattr(request, "object"):
        name = request.object.WhichOneof("kind") or ""
    info = kinds.BY_KIND.get(name) or kinds.BY_ONEOF.get(name)
    return info.plural if info is not None else (name or "")


# Verbs about a resource their request does not name, for metrics labels.
FIXED_RESOURCE = {"bind": "pods", "evict": "pods", "version": "", "proxy": "pods", "createtoken": "serviceaccounts"}


def translate(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn ApiError (and storage trouble) into a gRPC status with the reason attached; count and time the call."""
    verb = fn.__name__.lower()
    fixed_resource = FIXED_RESOURCE.get(verb)

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        code = "OK"
        record = None
        try:
            user = self.gate.admit_call(verb, request, call_metadata(context))
            record = audit_begin(self.audit, verb, request, user, context)
            result = await fn(self, request, context)
            audit_finish(self.audit, record, result)
            return result
        except (errors.ApiError, st.StorageError) as e:
            err = api_error(e)
            code = err.reason
            audit_finish(self.audit, record, err)
            await abort(context, err)
        finally:
            resource = fixed_resource if fixed_resource is not None else resource_of(request)
            self.metrics.observe(verb, resource, code, started)
    return wrapper


def call_metadata(context: Any) -> tuple[tuple[str, Any], ...]:
    # (unit tests' stand-in contexts carry none: as a call without credentials)
    return tuple(getattr(context, "invocation_metadata", lambda: ())() or ())


# Writes one stream may have in flight; past it the stream is read no further (HTTP/2 flow control holds the
# client back), as kube-apiserver's max-mutating-requests-inflight bounds what it takes on at once.
MAX_WRITES_IN_FLIGHT = 1000


WriteFn = Callable[[api.WriteRequest], Awaitable[api.WriteResult]]


async def serve_writes(request_iterator: Any, write: WriteFn) -> AsyncIterator[api.WriteResults]:
    """A Writes stream: its requests run at once, as concurrent unary calls would; each answer goes out with
    whatever others finished by the time the stream next writes (one message, not one per write). Ends when
    the client half-closes and every answer is out."""
    done: list[api.WriteResult] = []
    wake = asyncio.Event()
    running: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(MAX_WRITES_IN_FLIGHT)

    async def run(item: api.WriteRequest) -> None:
        done.append(await write(item))

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()
        wake.set()

    async def read() -> None:
        try:
            async for batch in request_iterator:
                for item in batch.requests:
                    await slots.acquire()
                    task = asyncio.create_task(run(item))
                    running.add(task)
                    task.add_done_callback(finished)
        finally:
            wake.set()       # a broken read (a malformed message) too: the loop below raises it

    reader = asyncio.create_task(read())
    try:
        while True:
            await wake.wait()
            wake.clear()
            if done:
                out = api.WriteResults(results=done)
                done.clear()
                yield out
            if reader.done() and not running and not done:
                reader.result()          # a broken read is raised; a half-close ends the stream
                return
    finally:
        reader.cancel()
        for task in running:
            task.cancel()


def new_grpc_server(token: str, tokens: dict[str, UserInfo] | None = None,
                    authenticator: Authenticator | None = None, share_port: bool = False) -> grpc.aio.Server:
    """The API's gRPC server: message limits, keepalive and the bearer-token check (none without a token);
    `authenticator` (the ApiService's, which also knows ServiceAccount tokens) instead of one of `token`/`tokens`.

    SO_REUSEPORT (gRPC's default on Linux) only with `share_port` (--workers): otherwise a port another
    process already serves with it would be shared silently, half the connections going there, instead of
    refused as in use.

    bench/noop_apiserver.py serves on the same, so its figures are this transport's ceiling.
    """
    interceptors = [AuthInterceptor(authenticator or Authenticator(token, tokens))] if token or tokens else []
    options = [o for o in channel_options() if o[0] != "grpc.max_receive_message_length"]
    return grpc.aio.server(interceptors=interceptors, options=options + [
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES), ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.max_pings_without_data", 0), ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 5000), ("grpc.so_reuseport", int(share_port))])


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()  # type: ignore[no-any-return]


def _identity(data: bytes) -> bytes:
    return data


def request_decoder(request: Any) -> Callable[[bytes], Any]:
    """Parse a request's bytes as `request` (a message class), or BadRequest.

    The handlers parse their requests themselves rather than leave it to grpc.aio: a deserializer's exception
    ends the call UNKNOWN with Python's text, and logs a traceback per request.
    """
    def decode(data: bytes) -> Any:
        try:
            return request.FromString(data)
        except DecodeError as e:
            log.warning("malformed %s request: %s", request.DESCRIPTOR.full_name, e)   # one line, no traceback
            raise errors.BadRequest(f"the body of the request could not be decoded as "
                                    f"{request.DESCRIPTOR.full_name}: {e}") from None
    return decode


def unary_handler(fn: Any, request: Any) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            req = decode(data)
        except errors.BadRequest as e:
            await abort(context, e)
        return await fn(req, context)
    return grpc.unary_unary_rpc_method_handler(handle, response_serializer=_serialize)


def unary_stream_handler(fn: Any, request: Any, serialize: Callable[[Any], bytes] = _serialize
                         ) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            req = decode(data)
        except errors.BadRequest as e:
            await abort(context, e)
        async for out in fn(req, context):
            yield out
    return grpc.unary_stream_rpc_method_handler(handle, response_serializer=serialize)


def stream_stream_handler(fn: Any, request: Any) -> grpc.RpcMethodHandler:
    decode = request_decoder(request)

    async def handle(data: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def requests() -> AsyncIterator[Any]:
            async for item in data:
                yield decode(item)
        try:
            async for out in fn(requests(), context):
                yield out
        except errors.BadRequest as e:       # a malformed message further on in the stream
            await abort(context, e)
    return grpc.stream_stream_rpc_method_handler(handle, response_serializer=_serialize)


def method_handlers(svc: Any) -> grpc.GenericRpcHandler:
    """Method handlers built by hand so Watch can send pre-serialised bytes."""
    uu = unary_handler
    table = {
        "Create": uu(svc.Create, api.CreateRequest),
        "Get": uu(svc.Get, api.GetRequest),
        "List": uu(svc.List, api.ListRequest),
        "Update": uu(svc.Update, api.UpdateRequest),
        "Patch": uu(svc.Patch, api.PatchRequest),
        "Delete": uu(svc.Delete, api.DeleteRequest),
        "Bind": uu(svc.Bind, api.BindRequest),
        "Evict": uu(svc.Evict, api.EvictRequest),
        "Version": uu(svc.Version, api.VersionRequest),
        "Proxy": uu(svc.Proxy, api.ProxyRequest),
        "WhoAmI": uu(svc.WhoAmI, api.WhoAmIRequest),
        "SelfSubjectAccessReview": uu(svc.SelfSubjectAccessReview, api.AccessReviewRequest),
        "Trace": uu(svc.Trace, api.TraceRequest),
        "CreateToken": uu(svc.CreateToken, api.TokenRequest),
        "ReportProxy": uu(svc.ReportProxy, api.ProxyReport),
        "Watch": unary_stream_handler(svc.Watch, api.WatchRequest, _identity),
        "Writes": stream_stream_handler(svc.Writes, api.WriteBatch),
        "Logs": unary_stream_handler(svc.Logs, api.LogsRequest),
        "Exec": stream_stream_handler(svc.Exec, api.ExecInput),
        "PortForward": stream_stream_handler(svc.PortForward, api.PortForwardInput),
    }
    return grpc.method_handlers_generic_handler("kubelab.v1.Api", table)
