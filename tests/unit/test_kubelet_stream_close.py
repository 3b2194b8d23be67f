"""The kubelet's PortForward (kubelet.streaming, a real gRPC server on loopback, no Docker) ends by api.proto's
explicit close, read by the CLI's session (kubelab.streams): a pod that answers and closes while the caller is
still sending (its output over before the caller's input) is a clean end, every time; a pod connection reset midway is reported as the failure it is."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from kubelab import streams
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from kubelet.streaming import create_server

from .test_kubelet_streaming import AUTH, TOKEN, pods_of, web_pod

ANSWER = b"HTTP/1.0 200 OK\r\n\r\nhello\n"
Pod = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def kubelet_with_pod(pod: Pod) -> AsyncIterator[Any]:
    """A kubelet whose pod `web` (Running, at 127.0.0.1) has `pod` listening on its port; the kubelet's stub."""
    server = await asyncio.start_server(pod, "127.0.0.1", 0)
    p = web_pod(port=server.sockets[0].getsockname()[1])
    p.status.phase = "Running"
    pods = pods_of(p)
    kubelet, port, _ = await create_server(pods, "127.0.0.1:0", TOKEN)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield api_grpc.KubeletStub(channel), p.spec.containers[0].ports[0].container_port
    finally:
        await channel.close()
        await kubelet.stop(None)
        server.close()
        pods.runtime.pool.shutdown()


async def forward(stub: Any, port: int, chunks: list[bytes]) -> tuple[bytes, str]:
    """The CLI's session on the kubelet's PortForward: send `chunks`, then close our side; (data, error)."""
    start = api.PortForwardInput(start=api.PortForwardStart(namespace="shop", name="web", port=port))
    async with streams.Session(stub.PortForward(metadata=AUTH), start, api.PortForwardInput(end=True), 32) as s:
        for chunk in chunks:
            await s.send(api.PortForwardInput(data=chunk))
        await s.send(api.PortForwardInput(close_write=True))
        data, error = b"", ""
        async for out in s:
            data, error = data + out.data, error + out.error
        return data, error


async def answer_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that answers the first bytes and closes its side at once, whatever else the client is still
    sending (read and dropped: a close with unread bytes would be a TCP reset, another story)."""
    await reader.read(1)
    writer.write(ANSWER)
    writer.write_eof()
    await writer.drain()
    while await reader.read(65536):
        pass
    writer.close()


async def test_a_pod_that_answers_and_closes_under_the_callers_writes_is_a_clean_end() -> None:
    async with kubelet_with_pod(answer_and_close) as (stub, port):
        for _ in range(20):
            assert await forward(stub, port, [b"GET / " + b"x" * 60_000] * 20) == (ANSWER, "")


async def reset_midway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A pod connection that sends part of an answer, then is reset (RST, not a close)."""
    await reader.read(1)
    writer.write(ANSWER[:10])
    await writer.drain()
    await asyncio.sleep(0.2)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def test_a_pod_connection_reset_midway_is_reported_as_a_failure() -> None:
    async with kubelet_with_pod(reset_midway) as (stub, port):
        data, error = await forward(stub, port, [b"GET /"])
    assert data == ANSWER[:10]
    assert "reset" in error.lower(), error
