"""The API's streaming calls (logs, exec/attach, port-forward, proxy), for the CLI and anyone else.

Beside kubelab/client.py (the object verbs), and like it the one place
where gRPC errors become kubelab.errors: a caller iterates plain messages
and catches `errors.ApiError`, never a gRPC stub or AioRpcError.

    logs(client, LogsRequest)            → async iterator of byte chunks
    exec_session(client, ExecStart)      → Session: send(ExecInput…), iterate ExecOutput
    port_forward(client, ns, pod, port)  → Session: send(PortForwardInput…), iterate PortForwardOutput
    proxy(client, ProxyRequest)          → ProxyResponse (one HTTP request to a pod's port)

Sessions write their first message (the start) at once and the rest only
once the apiserver has accepted the stream (client.STREAM_ACCEPTED: the
kubelet has, the container runs, the port answers): a write in flight while
the server ends the call makes grpc.aio report "Internal error from Core"
in place of the server's own error, which the reading side reports instead.
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import grpc

from kubelab import errors
from kubelab.client import STREAM_ACCEPTED, Client
from kubelab.v1 import api_pb2 as api

PROXY_TIMEOUT = 60.0


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


async def send_all(call: Any, queue: "asyncio.Queue[Any]") -> None:
    """Write what `queue` holds to an Exec or PortForward call, in order, until the call ends: the first
    item (the start) at once, the rest once the apiserver has accepted the stream (see the module's doc)."""
    try:
        await call.write(await queue.get())
        if STREAM_ACCEPTED not in tuple(await call.initial_metadata() or ()):
            return
        while True:
            await call.write(await queue.get())
    except asyncio.InvalidStateError:
        pass     # the call has ended: its reader reports how


class Session:
    """An open Exec or PortForward stream: `send` input, iterate output, `close` when done.

    A failure ends the iteration with `errors.ApiError`. For a port-forward, a write that raced the
    server's own clean end (grpc.aio's "Internal error from Core": the pod answered and closed while the
    local side was still closing) is the clean end it is; an exec's end is its exit code, so it is reported.
    """

    def __init__(self, call: Any, start: Any, queue_size: int, write_race_is_end: bool = False) -> None:
        self._call = call
        self._write_race_is_end = write_race_is_end
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=queue_size)
        self._queue.put_nowait(start)
        self._sender = asyncio.create_task(send_all(call, self._queue))

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
            if self._write_race_is_end and errors.write_after_close(e):
                raise StopAsyncIteration from None
            raise errors.from_rpc_error(e) from None
        if msg is grpc.aio.EOF:
            raise StopAsyncIteration
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
    return Session(client.stub.Exec(metadata=client.metadata), api.ExecInput(start=start), queue_size=64)


def port_forward(client: Client, namespace: str, pod: str, port: int) -> Session:
    """One connection to a pod's port."""
    start = api.PortForwardInput(start=api.PortForwardStart(namespace=namespace, name=pod, port=port))
    return Session(client.stub.PortForward(metadata=client.metadata), start, queue_size=32, write_race_is_end=True)
