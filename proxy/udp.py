"""UDP forwarding: one socket per (address, port); per client address a session with one backend.

As Kubernetes' userspace proxy did it: the first datagram from a client
address picks a backend (round robin, ClientIP affinity, skipping backends
marked down) and opens a session, a connected UDP socket to that backend;
what the backend sends back goes to the client from the service's own
socket, so the reply comes from the address the client sent to. A session
idle for `idle_timeout` (kube-proxy's `--udp-timeout`, 250 ms by default:
long enough for a DNS answer) is closed, so the client's next datagram may
go to another backend. An ICMP error on the session (port unreachable: the
backend has no socket there) marks the backend down and ends the session.
With no backend, datagrams are dropped (UDP has no refusal to send back).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

from .balancer import Backend, Balancer
from .tcp import Stats

log = logging.getLogger(__name__)

UDP_IDLE_TIMEOUT = 0.25          # kube-proxy's --udp-timeout default
MAX_SESSIONS = 4096              # per listener: the oldest idle session goes first past this
MAX_PENDING = 64                 # datagrams held per session while its socket opens

Address = tuple[str, int]


class _Session(asyncio.DatagramProtocol):
    """One client address ↔ one backend, over a connected UDP socket."""

    def __init__(self, listener: "UdpListener", client: Address, backend: Backend) -> None:
        self.listener, self.client, self.backend = listener, client, backend
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.last = time.monotonic()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        for data in self.pending:
            self.transport.sendto(data)
        self.pending.clear()

    def send(self, data: bytes) -> None:
        self.last = time.monotonic()
        if self.transport is not None:
            self.transport.sendto(data)
        elif len(self.pending) < MAX_PENDING:
            self.pending.append(data)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.last = time.monotonic()
        self.listener.stats.bytes_out += len(data)
        self.listener.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        lst = self.listener
        lst.stats.connect_failures += 1
        lst.balancer.mark_down(self.backend, time.monotonic())
        log.info("%s: backend %s: %s; marked down for %.0fs", lst.name, self.backend, exc, lst.balancer.down_seconds)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.listener.forget(self)
        if self.transport is not None:
            self.transport.close()


class _Front(asyncio.DatagramProtocol):
    def __init__(self, listener: "UdpListener") -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener.forward(data, (addr[0], addr[1]))


class UdpListener:
    """A UDP socket on (address, port) forwarding each client's datagrams to its session's backend."""

    def __init__(self, name: str, host: str, port: int, balancer: Balancer, stats: Stats,
                 idle_timeout: float = UDP_IDLE_TIMEOUT) -> None:
        self.name = name
        self.host, self.port = host, port
        self.balancer = balancer
        self.stats = stats
        self.idle_timeout = idle_timeout
        self.sessions: dict[Address, _Session] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._opening: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: _Front(self), local_addr=(self.host, self.port), family=socket.AF_INET)
        self._sweeper = asyncio.create_task(self._sweep(), name=f"udp-sweep-{self.name}")

    def forward(self, data: bytes, client: Address) -> None:
        session = self.sessions.get(client)
        if session is None:
            session = self._open(client)
            if session is None:
                return
        self.stats.bytes_in += len(data)
        session.send(data)

    def _open(self, client: Address) -> _Session | None:
        backend = self.balancer.pick(client[0], time.monotonic())
        if backend is None:
            self.stats.no_backend += 1
            return None
        if len(self.sessions) >= MAX_SESSIONS:
            min(self.sessions.values(), key=lambda s: s.last).close()
        session = _Session(self, client, backend)
        self.sessions[client] = session
        self.stats.accepted += 1
        self.stats.active += 1
        key = str(backend)
        self.stats.per_backend[key] = self.stats.per_backend.get(key, 0) + 1
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_datagram_endpoint(
            lambda: session, remote_addr=(backend.host, backend.port), family=socket.AF_INET))
        self._opening.add(task)
        task.add_done_callback(lambda t: self._opened(t, session))
        return session

    def _opened(self, task: asyncio.Task[Any], session: _Session) -> None:
        self._opening.discard(task)
        if task.cancelled():
            session.close()
        elif task.exception() is not None:
            session.error_received(task.exception())  # type: ignore[arg-type]
        elif session.closed and session.transport is not None:
            session.transport.close()

    def reply(self, data: bytes, client: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, client)

    def forget(self, session: _Session) -> None:
        if self.sessions.get(session.client) is session:
            del self.sessions[session.client]
            self.stats.active -= 1

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.idle_timeout / 2))
            deadline = time.monotonic() - self.idle_timeout
            for s in [s for s in self.sessions.values() if s.last < deadline]:
                s.close()

    async def close(self) -> None:
        """Stop serving: the socket and every session close (UDP has no connection to let finish)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for t in list(self._opening):
            t.cancel()
        for s in list(self.sessions.values()):
            s.close()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
