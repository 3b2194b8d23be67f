"""Optional health (gRPC health service) and Prometheus-format metrics endpoints of the scheduler.

Both are off unless an address is given (two replicas on one host must not
fight over a port); port 0 picks a free one. The same shape as the
controller manager's; both belong in the shared library eventually.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, address: str) -> None:
        self.address = address
        self.servicer = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port(self.address)
        await self.server.start()
        await self.servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        log.info("health service on port %d", self.port)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
            await self.server.stop(1.0)


class MetricsServer:
    """GET /metrics (text exposition format) and /healthz over plain HTTP/1.1."""

    def __init__(self, address: str, render: Callable[[], str]) -> None:
        self.host, _, port = address.rpartition(":")
        self.requested_port = int(port or 0)
        self.render = render
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, self.host or "127.0.0.1", self.requested_port)
        self.port = int(self.server.sockets[0].getsockname()[1])
        log.info("metrics on port %d", self.port)
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await asyncio.wait_for(reader.readline(), 5)).decode(errors="replace").split()
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request[1] if len(request) > 1 else "/"
            if path.startswith("/metrics"):
                status, body = "200 OK", self.render()
            elif path.startswith("/healthz"):
                status, body = "200 OK", "ok\n"
            else:
                status, body = "404 Not Found", "not found\n"
            data = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
