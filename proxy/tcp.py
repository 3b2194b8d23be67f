"""TCP forwarding: one listening socket per (address, port), two Protocols per connection.

Where it sits: `proxy.server` opens a `TcpListener` for every ClusterIP
port and NodePort and points it at the service port's `Balancer`
(`proxy.balancer`); a listener survives backend changes (the balancer's
list is swapped under it) and is closed when its service port goes.

Why Protocols and not streams: measured on this kind of machine
(shared/notes/userspace-proxy.md) `data_received` → peer `write` with
pause/resume flow control moved a third more data per CPU second than
asyncio streams and added the least latency on one event loop.

Per accepted connection: pause reading (uvloop ignores that in
`connection_made`, so anything that arrives early is buffered), pick a
backend, connect with a timeout (1 s; name resolution included, for
`proxy.lb`'s named backends); on refusal or timeout mark it down and try
the next; once connected, flush what was buffered and splice the
two Protocols together. Each side pauses the other's reading while its own
write buffer is full. Half-closes are passed on (HTTP/1.0 clients and `nc`
rely on them). When there is no backend the client is closed at once, never
left hanging.

The log says each backend's change once, in key=value form (`event=backend-down`
on its first failed connect, `event=backend-up` on its next successful one),
not each connection's.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field

from .balancer import Backend, Balancer

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0
HIGH_WATER = 256 * 1024             # per direction; reading from the other side pauses above it


def logfmt(**values: object) -> str:
    """key=value pairs: a value with a space, a quote or an `=` is quoted."""
    out = []
    for key, value in values.items():
        text = str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'
        out.append(f"{key}={text}")
    return " ".join(out)


def connect_error(e: BaseException) -> str:
    """Why a connect failed, without the address (the log line says it)."""
    if isinstance(e, asyncio.TimeoutError):
        return "connect timeout"
    if isinstance(e, socket.gaierror):          # a stopped container's name no longer resolves
        return e.strerror or str(e)
    if isinstance(e, OSError) and e.errno:      # asyncio's text adds the address
        return os.strerror(e.errno)
    return str(e) or type(e).__name__


@dataclass
class Stats:
    """Counters of one service port, summed over its listeners (read by the metrics)."""
    accepted: int = 0
    active: int = 0
    no_backend: int = 0             # closed at once: no (reachable) backend
    connect_failures: int = 0
    bytes_in: int = 0               # client → backend
    bytes_out: int = 0              # backend → client
    per_backend: dict[str, int] = field(default_factory=dict)


class _Side(asyncio.Protocol):
    """One end of a proxied connection; `peer` is the other end's Protocol."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.closed = False
        self.eof = False
        self._early: list[bytes] = []           # data that arrived before the peer existed
        self._early_eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        self._count(len(data))
        peer = self.peer
        if peer is not None and peer.transport is not None:
            peer.transport.write(data)
        else:
            self._early.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer is None or peer.transport is None:
            self._early_eof = True
            return True
        if peer.transport.can_write_eof():
            peer.transport.write_eof()
        if peer.eof:                # both directions done
            return False
        return True                 # keep our writing half open for the other direction

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.closed:
            peer.transport.close()  # close() flushes what is buffered first
        self._on_close()

    # Flow control: our write buffer is full → stop reading the peer, and back.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def flush_early(self) -> None:
        """Pass on what arrived before the peer was connected."""
        assert self.peer is not None and self.peer.transport is not None
        for chunk in self._early:
            self.peer.transport.write(chunk)
        self._early.clear()
        if self._early_eof and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()

    def _count(self, n: int) -> None:
        pass

    def _on_close(self) -> None:
        pass


class _BackendSide(_Side):
    def __init__(self, client: "_ClientSide") -> None:
        super().__init__()
        self.peer = client
        self.stats = client.stats

    def _count(self, n: int) -> None:
        self.stats.bytes_out += n


class _ClientSide(_Side):
    def __init__(self, listener: "TcpListener") -> None:
        super().__init__()
        self.listener = listener
        self.stats = listener.stats
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.stats.accepted += 1
        self.stats.active += 1
        assert self.transport is not None
        self.transport.pause_reading()
        peer = self.transport.get_extra_info("peername")
        client_ip = str(peer[0]) if peer else ""
        self.task = asyncio.get_running_loop().create_task(self._connect(client_ip))
        self.listener.tasks.add(self.task)          # a strong reference: no GC of a pending task
        self.task.add_done_callback(self.listener.tasks.discard)

    def _count(self, n: int) -> None:
        self.stats.bytes_in += n

    def _on_close(self) -> None:
        self.stats.active -= 1
        if self.task is not None and not self.task.done():
            self.task.cancel()
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.close()

    async def _connect(self, client_ip: str) -> None:
        loop = asyncio.get_running_loop()
        balancer = self.listener.balancer
        tried: set[Backend] = set()
        while not self.closed:
            backend = balancer.pick(client_ip, time.monotonic(), frozenset(tried))
            if backend is None:
                break
            tried.add(backend)
            try:
                _, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: _BackendSide(self), backend.host, backend.port),
                    self.listener.connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                self.stats.connect_failures += 1
                changed = balancer.mark_down(backend, time.monotonic())
                log.log(logging.WARNING if changed else logging.DEBUG, logfmt(
                    event="backend-down" if changed else "connect-failed", backend=backend,
                    error=connect_error(e), retry_after=f"{balancer.down_seconds:g}s", listener=self.listener.name))
                continue
            if balancer.mark_up(backend):
                log.info(logfmt(event="backend-up", backend=backend, listener=self.listener.name))
            if self.closed:             # the client left while we connected
                assert proto.transport is not None
                proto.transport.close()
                return
            assert isinstance(proto, _BackendSide)
            self.peer = proto
            key = str(backend)
            self.stats.per_backend[key] = self.stats.per_backend.get(key, 0) + 1
            self.flush_early()
            proto.flush_early()
            assert self.transport is not None
            if not self.eof:
                self.transport.resume_reading()
            elif proto.eof:
                self.transport.close()
            return
        if not self.closed:
            self.stats.no_backend += 1
            log.log(self.listener.no_backend_level, logfmt(
                event="no-backend", client=client_ip, backends=",".join(map(str, balancer.backends)),
                listener=self.listener.name))
            assert self.transport is not None
            self.transport.abort()      # an RST: the client learns at once that nothing answers


class TcpListener:
    """A listening socket forwarding every accepted connection to its balancer's backends."""

    def __init__(self, name: str, host: str, port: int, balancer: Balancer, stats: Stats,
                 connect_timeout: float = CONNECT_TIMEOUT, no_backend_level: int = logging.DEBUG) -> None:
        self.name = name
        self.host, self.port = host, port
        self.balancer = balancer
        self.stats = stats
        self.connect_timeout = connect_timeout
        # A Service without endpoints is ordinary (debug); a load balancer with no backend is not.
        self.no_backend_level = no_backend_level
        self.server: asyncio.base_events.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; the port listened on (a free one for port 0)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _ClientSide(self), self.host, self.port,
                                               family=socket.AF_INET, reuse_address=True, backlog=1024)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting; connections already open go on until either side closes them."""
        if self.server is not None:
            self.server.close()
            self.server = None

