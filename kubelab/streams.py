"""The API's streaming calls (logs, exec/attach, port-forward, proxy), for the CLI and anyone else.

Beside kubelab/client.py (the object verbs), and like it the one place
where gRPC errors become kubelab.errors: a caller iterates plain messages
and catches `errors.ApiError`, never a gRPC stub or AioRpcError.

    logs(client, LogsRequest)            → async iterator of byte chunks
    exec_session(client, ExecStart)      → Session: send(ExecInput…), iterate ExecOutput
    port_forward(client, ns, pod, port)  → Session: send(PortForwardInput…), iterate PortForwardOutput
    proxy(client, ProxyRequest)          → ProxyResponse (one HTTP request to a pod's port)

Every caller of an Exec or PortForward call (the CLI's sessions here, and
the apiserver's relay and HTTP front to the kubelet) feeds it through `feed`:
the first message (the start) at once, the rest only once the server has
accepted the stream (client.STREAM_ACCEPTED: the kubelet has, the container
runs, the port answers). A server refuses by ending the call with its error,
and a write in flight then makes grpc.aio report "Internal error from Core"
in place of that error (see `feed`).

Exec and PortForward end by an explicit close (api.proto): the server's last
message carries `end`; the caller answers `end`, writes nothing more and
half-closes; the server returns only once it has read that half-close
(`closed` below is its side). So no write races the end of a call, and a
stream is clean only when its `end` came before an OK status: any error, or
an OK without `end`, is a failure, whatever grpc's text says.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Awaitable

import grpc

from kubelab import errors
from kubelab.client import STREAM_ACCEPTED, Client
from kubelab.v1 import api_pb2 as api

PROXY_TIMEOUT = 60.0
CLOSE_TIMEOUT = 10.0       # how long a server waits for the caller's half-close after its `end`
UNCLOSED = "the stream ended before its close: what was received may be incomplete"


async def closed(input_done: Awaitable[Any], timeout: float = CLOSE_TIMEOUT) -> None:
    """The server's side of the close, after its `end`: wait for `input_done` (its reading of the caller's
    input, which ends at the caller's half-close) before the handler returns, so the call does not end under
    one of the caller's writes. Bounded: a caller that never closes is left after `timeout`."""
    try:
        await asyncio.wait_for(asyncio.shield(input_done), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001 - it ends either way
        pass


async def drain(request_iterator: Any) -> None:
    """Read (and drop) a call's input until the caller's half-close."""
    async for _ in request_iterator:
        pass


async def logs(client: Client, req: api.LogsRequest) -> AsyncIterator[bytes]:
    """A container's log, chunk by chunk (until its end, or for ever with `follow`)."""
    call = client.stub.Logs(req, metadata=client.metadata)
    try:
        async for chunk in call:
            yield chunk.data
    except grpc.aio.AioRpcError as e:
        raise errors.from_rpc_error(e) from None
    finally:
        call.cancel()


async def proxy(client: Client, req: api.ProxyRequest, timeout: float = PROXY_TIMEOUT) -> api.ProxyResponse:
    """One HTTP request to a pod's port, relayed by the apiserver and the pod's kubelet."""
    try:
        return await client.stub.Proxy(req, metadata=client.metadata, timeout=timeout)
    except grpc.aio.AioRpcError as e:
        raise errors.from_rpc_error(e) from None


async def feed(call: Any, first: Any, rest: AsyncIterator[Any]) -> None:
    """Write a caller's input to an Exec or PortForward call, then half-close: `first` (the start) at once;
    of `rest`, everything once the server has accepted the stream (STREAM_ACCEPTED), and otherwise only the
    caller's `end` (its answer to a server that ended without accepting, e.g. a dial error). `rest` is read
    to its end either way; the call is written in the reader-writer style (`call` made without a request
    iterator).

    Why nothing but the start before the acceptance: a server refuses (no such container, a pod not
    running) by ending the call with its status as soon as it has read the start. A send still in flight
    then fails in gRPC core (the stream is closed under it), and grpc.aio's `_StreamRequestMixin._write`
    (grpc/aio/_call.py) answers that failure with `set_internal_error`, which overwrites the call's status,
    the server's own included, with INTERNAL "Internal error from Core": what the reader then raises. A
    request iterator's consumer (`_consume_request_iterator`) writes each item the moment it comes, so input
    queued behind the start (kubectl's first bytes through a port-forward) raced every refusal and lost
    one in ten or more (tests/unit/test_kubelet_refusals.py). The start is not exposed so: the server
    refuses only after reading it, and core completes a send once its bytes are written, well before an
    answer to them comes back (no refusal in those tests, nor in thousands over bare grpc, ever lost it).
    """
    try:
        await call.write(first)
        accepted = STREAM_ACCEPTED in tuple(await call.initial_metadata() or ())
        async for item in rest:
            if accepted or item.WhichOneof("msg") == "end":
                await call.write(item)
        await call.done_writing()
    except (asyncio.InvalidStateError, grpc.aio.AioRpcError):
        pass     # the call has ended: its reader reports how


async def send_all(call: Any, queue: "asyncio.Queue[Any]", ending: asyncio.Event, end: Any) -> None:
    """Feed a session's call from `queue` (`feed`: the first item, the start, at once; the rest once the
    apiserver has accepted the stream); once the server's `end` has come (`ending`), nothing more of the
    queue but the caller's `end` and the half-close."""
    async def rest() -> AsyncIterator[Any]:
        stop = asyncio.ensure_future(ending.wait())
        try:
            while not ending.is_set():
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait((get, stop), return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    break
                yield get.result()
        finally:
            stop.cancel()
        yield end
    await feed(call, await queue.get(), rest())


class Session:
    """An open Exec or PortForward stream: `send` input, iterate output, `close` when done.

    The iteration ends cleanly only after the server's `end` and an OK status (the explicit close of the
    module's doc); any other end is `errors.ApiError`: the server's error, or InternalError for an OK
    status that came without `end`.
    """

    def __init__(self, call: Any, start: Any, end: Any, queue_size: int) -> None:
        self._call = call
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._queue.put_nowait(start)
        self._ending = asyncio.Event()
        self._sender = asyncio.create_task(send_all(call, self._queue, self._ending, end))

    async def send(self, msg: Any) -> None:
        """Queue `msg`, waiting while the queue is full (back-pressure on the local reader)."""
        await self._queue.put(msg)

    def send_nowait(self, msg: Any) -> None:
        """Queue `msg` from a callback that cannot wait (stdin, a window size change)."""
        try:
            self._queue.put_nowait(msg)
        except asyncio.QueueFull:
            asyncio.ensure_future(self._queue.put(msg))

    def __aiter__(self) -> "Session":
        return self

    async def __anext__(self) -> Any:
        try:
            msg = await self._call.read()
        except grpc.aio.AioRpcError as e:
            raise errors.from_rpc_error(e) from None
        if msg is grpc.aio.EOF:
            if not self._ending.is_set():
                raise errors.ApiError(UNCLOSED)
            raise StopAsyncIteration
        if msg.end:
            self._ending.set()           # answer with our own `end` and half-close (send_all)
        return msg

    def close(self) -> None:
        self._sender.cancel()
        self._call.cancel()

    async def __aenter__(self) -> "Session":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


def exec_session(client: Client, start: api.ExecStart) -> Session:
    """A command in a container (or, `start.attach`, a session on its own process): stdio relayed."""
    return Session(client.stub.Exec(metadata=client.metadata), api.ExecInput(start=start), api.ExecInput(end=True),
                   queue_size=64)


def port_forward(client: Client, namespace: str, pod: str, port: int) -> Session:
    """One connection to a pod's port."""
    start = api.PortForwardInput(start=api.PortForwardStart(namespace=namespace, name=pod, port=port))
    return Session(client.stub.PortForward(metadata=client.metadata), start, api.PortForwardInput(end=True),
                   queue_size=32)
