"""The HA lab's load balancer in front of the apiservers' HTTPS: this proxy's TCP relay and backend choice over
a fixed list of backends, instead of a Service's endpoints. One address for kubectl, as kind's HA cluster has
(its "external-load-balancer", an haproxy container) and as kubeadm's HA guide puts haproxy in front.

Where it sits: compose.ha.yaml runs it as the service `apiserver-lb` (container kubelab-apiserver-lb) on the
`kubelab` network, with backends apiserver:8443 and apiserver2:8443, published on the host's
127.0.0.1:${KUBELAB_LB_PORT:-8442}; `lab.compose.up(ha=True)` writes that address as the `server` of kubectl's
kubeconfig cluster entry (a kubeconfig holds one server). The kubelab CLI and the components do not use it:
they know every apiserver's gRPC address and fail over themselves (kubelab/client.py).

What it owns is only the program around `proxy.tcp.TcpListener` and `proxy.balancer.Balancer` (which do the
relaying, the round robin, the down marks and the log of each backend's changes):
- its flags; backends are names resolved at each connect (a stopped container's name stops resolving), each
  connect bounded by `--connect-timeout`; a refusing backend is tried last for `--down-seconds`. TLS passes
  through untouched (kubectl checks the apiserver's own certificate, whose names include 127.0.0.1). A
  client for which no backend answers is reset at once, never left hanging, and logged (`event=no-backend`).
- an optional health address (`--health-listen`): each connection gets one line per backend (`up`, `down`,
  `down, due a try`) and is closed, without touching a backend (compose's healthcheck connects there).

    python -m proxy.lb --listen 0.0.0.0:8443 --backend apiserver:8443 --backend apiserver2:8443
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Sequence

import click

from kubelab import serving

from .balancer import Backend, Balancer, parse_backend
from .tcp import Stats, TcpListener, logfmt

log = logging.getLogger("kubelab.apiserver-lb")

DOWN_SECONDS = 3.0          # how long a backend that failed a connect is tried only as a last resort
CONNECT_TIMEOUT = 2.0       # per backend tried, name resolution included


def balancer_of(backends: Sequence[Backend], down_seconds: float = DOWN_SECONDS) -> Balancer:
    """A Balancer over `backends`; ValueError for an empty list or a backend named twice."""
    if not backends:
        raise ValueError("a load balancer needs at least one backend")
    if len(set(backends)) != len(backends):
        raise ValueError(f"a backend is named twice: {', '.join(map(str, backends))}")
    return Balancer(tuple(backends), down_seconds=down_seconds)


class LoadBalancer:
    """The listening side: a `kubelab.serving.Service` (start, run, stop), so SIGTERM stops it cleanly."""

    def __init__(self, listen: Backend, backends: Sequence[Backend], down_seconds: float = DOWN_SECONDS,
                 connect_timeout: float = CONNECT_TIMEOUT, health: Backend | None = None) -> None:
        self.balancer = balancer_of(backends, down_seconds)
        self.listener = TcpListener("apiservers", listen.host, listen.port, self.balancer, Stats(),
                                    connect_timeout=connect_timeout, no_backend_level=logging.WARNING)
        self.health = health
        self.health_server: asyncio.Server | None = None
        self.port = 0                   # the port listened on (listen's port 0: a free one)
        self.health_port = 0

    async def start(self) -> int:
        self.port = await self.listener.start()
        if self.health is not None:
            self.health_server = await asyncio.start_server(self._health, self.health.host, self.health.port)
            self.health_port = self.health_server.sockets[0].getsockname()[1]
        log.info(logfmt(event="listening", address=f"{self.listener.host}:{self.port}",
                        backends=",".join(map(str, self.balancer.backends)),
                        health=f"{self.health.host}:{self.health_port}" if self.health else ""))
        return self.port

    async def run(self) -> None:
        await serving.forever()

    async def stop(self) -> None:
        """Stop accepting; the process's end closes the connections in flight (the clients reconnect)."""
        await self.listener.close()
        if self.health_server is not None:
            self.health_server.close()
            await self.health_server.wait_closed()

    async def _health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        now = time.monotonic()
        try:
            writer.write("".join(f"{b} {self.balancer.state(b, now)}\n" for b in self.balancer.backends).encode())
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--listen", default="0.0.0.0:8443", show_default=True, help="host:port to accept on")
@click.option("--backend", "backend_args", multiple=True, required=True, metavar="HOST:PORT",
              help="an apiserver's HTTPS address; repeat for each, tried round robin")
@click.option("--down-seconds", type=float, default=DOWN_SECONDS, show_default=True,
              help="how long a backend that failed a connect is tried last")
@click.option("--connect-timeout", type=float, default=CONNECT_TIMEOUT, show_default=True,
              help="seconds per connect, name resolution included")
@click.option("--health-listen", default="", help="host:port answering each connection with the backends' "
              "states (off by default)")
@click.option("-v", "--verbose", count=True, help="-v: each failed connect too (debug)")
def main(listen: str, backend_args: tuple[str, ...], down_seconds: float, connect_timeout: float,
         health_listen: str, verbose: int) -> None:
    """TCP load balancer in front of the apiservers (TLS passes through)."""
    try:
        address = parse_backend(listen, listen=True)
        backends = [parse_backend(b) for a in backend_args for b in a.split(",") if b.strip()]
        health = parse_backend(health_listen, listen=True) if health_listen else None
        balancer_of(backends)       # refuses an empty or repeated list before anything listens
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    serving.setup_logging(1 + verbose)         # info always (each backend's change), -v debug
    serving.run(lambda: LoadBalancer(address, backends, down_seconds, connect_timeout, health), grace=2.0)


if __name__ == "__main__":
    main(prog_name="python -m proxy.lb")
