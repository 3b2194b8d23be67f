"""The HA lab's load balancer in front of the apiservers' HTTPS: one address for kubectl, as kind's HA cluster
has (its "external-load-balancer", an haproxy container) and as kubeadm's HA guide puts haproxy in front.

Where it sits: compose.ha.yaml runs it as the service `apiserver-lb` (container kubelab-apiserver-lb) on the
`kubelab` network, with backends apiserver:8443 and apiserver2:8443, published on the host's
127.0.0.1:${KUBELAB_LB_PORT:-8442}; `lab.compose.up(ha=True)` writes that address as the `server` of kubectl's
kubeconfig cluster entry (a kubeconfig holds one server). The kubelab CLI and the components do not use it:
they know every apiserver's gRPC address and fail over themselves (kubelab/client.py).

What it owns:
- `Choice`: which backend a new connection tries first, and next (pure: no I/O, no clock; `now` is passed
  in). Round robin over the backends not marked down, then, as a last resort, those marked down (soonest
  back first): a backend that refuses or does not answer a connect is marked down for `down_seconds`, so
  the connections meanwhile go straight to the others; the first connect that succeeds marks it up again.
- the relay: per client connection, connect to the first candidate that takes it (each try bounded by
  `connect_timeout`, name resolution included: a stopped container's name stops resolving), then copy bytes
  both ways until both directions end, passing half-closes on. It is TCP only: TLS passes through untouched
  (kubectl checks the apiserver's own certificate, whose names include 127.0.0.1). A client for which no
  backend answers is reset at once, never left hanging.
- the log: one line per backend state change (`event=backend-down`, `event=backend-up`) and per client left
  without a backend (`event=no-backend`), in key=value form.
- an optional health address (`--health-listen`): each connection gets one line per backend and is closed,
  without touching a backend (compose's healthcheck connects there).

    python -m lab.apiserver_lb --listen 0.0.0.0:8443 --backend apiserver:8443 --backend apiserver2:8443
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from kubelab import serving

log = logging.getLogger("kubelab.apiserver-lb")

DOWN_SECONDS = 3.0          # how long a backend that failed a connect gets no first try
CONNECT_TIMEOUT = 2.0       # per backend tried, name resolution included
CHUNK = 64 * 1024


class Backend(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_address(text: str, listen: bool = False) -> Backend:
    """`host:port` (a bracketed IPv6 address too) → Backend; ValueError when it is not one. An address to
    listen on may have port 0 (a free one)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not (0 if listen else 1) <= int(port) < 65536:
        raise ValueError(f"not host:port: {text!r}")
    return Backend(host.strip("[]"), int(port))


@dataclass
class _State:
    up: bool = True             # as last seen (for logging changes only once)
    down_until: float = 0.0     # no first try before this


class Choice:
    """Which backends a new connection tries, in order, and what a connect's outcome changes."""

    def __init__(self, backends: Sequence[Backend], down_seconds: float = DOWN_SECONDS) -> None:
        if not backends:
            raise ValueError("a load balancer needs at least one backend")
        if len(set(backends)) != len(backends):
            raise ValueError(f"a backend is named twice: {', '.join(map(str, backends))}")
        self.backends = tuple(backends)
        self.down_seconds = down_seconds
        self._state = {b: _State() for b in self.backends}
        self._next = 0

    def is_down(self, backend: Backend, now: float) -> bool:
        """Marked down and still resting (it gets a try only when no other backend takes the connection)."""
        return now < self._state[backend].down_until

    def order(self, now: float) -> list[Backend]:
        """The backends to try for one new connection, in order: those not marked down, round robin (each
        call starts one further on), then those marked down, the one back soonest first."""
        n = len(self.backends)
        rotated = [self.backends[(self._next + i) % n] for i in range(n)]
        self._next = (self._next + 1) % n
        ready = [b for b in rotated if not self.is_down(b, now)]
        resting = sorted((b for b in rotated if self.is_down(b, now)), key=lambda b: self._state[b].down_until)
        return ready + resting

    def failed(self, backend: Backend, now: float) -> bool:
        """A connect to `backend` failed: it rests for `down_seconds`. True when it was up (a state change)."""
        state = self._state[backend]
        was_up = state.up
        state.up, state.down_until = False, now + self.down_seconds
        return was_up

    def connected(self, backend: Backend, now: float) -> bool:
        """A connect to `backend` succeeded. True when it was down (a state change)."""
        state = self._state[backend]
        was_down = not state.up
        state.up, state.down_until = True, 0.0
        return was_down

    def describe(self, now: float) -> list[str]:
        """One line per backend: `host:port up`, `down` (resting: tried last) or `down, due a try` (its rest
        is over; it is up again at its next successful connect)."""
        return [f"{b} {'up' if self._state[b].up else 'down' if self.is_down(b, now) else 'down, due a try'}"
                for b in self.backends]


def fields(**values: object) -> str:
    """key=value pairs (logfmt): a value with a space or a quote is quoted."""
    out = []
    for key, value in values.items():
        text = str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'
        out.append(f"{key}={text}")
    return " ".join(out)


def _reason(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError):
        return "connect timeout"
    if isinstance(e, socket.gaierror):          # a stopped container's name no longer resolves
        return e.strerror or str(e)
    if isinstance(e, OSError) and e.errno:      # asyncio's text adds the address, which the log already says
        return os.strerror(e.errno)
    return str(e) or type(e).__name__


# ---------------------------------------------------------------- the relay
async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> int:
    """Copy src to dst until src's EOF, then pass the EOF on (half-close); bytes copied."""
    total = 0
    while data := await src.read(CHUNK):
        dst.write(data)
        total += len(data)
        await dst.drain()           # flow control: stop reading while the other side's buffer is full
    if dst.can_write_eof() and not dst.is_closing():
        try:
            dst.write_eof()
        except (OSError, RuntimeError):
            pass
    return total


async def relay(client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                backend: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> tuple[int, int]:
    """Bytes both ways until both directions have ended (or either breaks: then both are closed);
    (client → backend, backend → client) bytes."""
    up = asyncio.create_task(_pipe(client[0], backend[1]))
    down = asyncio.create_task(_pipe(backend[0], client[1]))
    try:
        _, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_EXCEPTION)
        for task in pending:        # one direction broke (a reset): the other has no future either
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
    finally:
        for task in (up, down):
            task.cancel()
        for writer in (client[1], backend[1]):
            writer.close()
    sent = up.result() if up.done() and not up.cancelled() and up.exception() is None else 0
    got = down.result() if down.done() and not down.cancelled() and down.exception() is None else 0
    return sent, got


class LoadBalancer:
    """The listening side: a `kubelab.serving.Service` (start, run, stop), so SIGTERM stops it cleanly."""

    def __init__(self, listen: Backend, backends: Sequence[Backend], down_seconds: float = DOWN_SECONDS,
                 connect_timeout: float = CONNECT_TIMEOUT, health: Backend | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.listen = listen
        self.choice = Choice(backends, down_seconds)
        self.connect_timeout = connect_timeout
        self.health = health
        self.clock = clock
        self.servers: list[asyncio.Server] = []
        self.port = 0                   # the port listened on (listen's port 0: a free one)
        self.health_port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        server = await asyncio.start_server(self._accepted, self.listen.host, self.listen.port)
        self.servers.append(server)
        self.port = server.sockets[0].getsockname()[1]
        if self.health is not None:
            hs = await asyncio.start_server(self._health, self.health.host, self.health.port)
            self.servers.append(hs)
            self.health_port = hs.sockets[0].getsockname()[1]
        log.info(fields(event="listening", address=f"{self.listen.host}:{self.port}",
                        backends=",".join(map(str, self.choice.backends)),
                        health=f"{self.health.host}:{self.health_port}" if self.health else ""))
        return self.port

    async def run(self) -> None:
        await serving.forever()

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)           # stop() cancels the connections in flight
        try:
            await self._serve(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if peer else "?"
        try:
            await self._connect_and_relay(client, reader, writer)
        finally:
            if not writer.is_closing():
                writer.close()

    async def _connect_and_relay(self, client: str, reader: asyncio.StreamReader,
                                 writer: asyncio.StreamWriter) -> None:
        for backend in self.choice.order(self.clock()):
            try:
                b_reader, b_writer = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                if self.choice.failed(backend, self.clock()):
                    log.warning(fields(event="backend-down", backend=backend, error=_reason(e),
                                       retry_after=f"{self.choice.down_seconds:g}s"))
                else:
                    log.debug(fields(event="connect-failed", backend=backend, error=_reason(e)))
                continue
            if self.choice.connected(backend, self.clock()):
                log.info(fields(event="backend-up", backend=backend))
            sent, got = await relay((reader, writer), (b_reader, b_writer))
            log.debug(fields(event="closed", client=client, backend=backend, bytes_in=sent, bytes_out=got))
            return
        log.warning(fields(event="no-backend", client=client,
                           backends=",".join(map(str, self.choice.backends))))
        writer.transport.abort()        # an RST: the client learns at once that nothing answers

    async def _health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(("\n".join(self.choice.describe(self.clock())) + "\n").encode())
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.apiserver_lb",
                                 description="TCP load balancer in front of the apiservers (TLS passes through)")
    ap.add_argument("--listen", default="0.0.0.0:8443", help="host:port to accept on (default %(default)s)")
    ap.add_argument("--backend", action="append", required=True, metavar="HOST:PORT",
                    help="an apiserver's HTTPS address; repeat for each, tried round robin")
    ap.add_argument("--down-seconds", type=float, default=DOWN_SECONDS,
                    help="how long a backend that failed a connect is tried last (default %(default)s)")
    ap.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT,
                    help="seconds per connect, name resolution included (default %(default)s)")
    ap.add_argument("--health-listen", default="", help="host:port answering each connection with the "
                    "backends' states (off by default)")
    ap.add_argument("-v", "--verbose", action="count", default=1, help="-v: a line per connection too (debug)")
    args = ap.parse_args(argv)
    try:
        listen = parse_address(args.listen, listen=True)
        backends = [parse_address(b) for a in args.backend for b in a.split(",") if b.strip()]
        health = parse_address(args.health_listen, listen=True) if args.health_listen else None
        Choice(backends)            # refuses an empty or repeated list before anything listens
    except ValueError as e:
        ap.error(str(e))
    serving.setup_logging(args.verbose)
    serving.run(lambda: LoadBalancer(listen, backends, args.down_seconds, args.connect_timeout, health),
                grace=2.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
