"""What every component's process shares: its life cycle, its CLI basics, health and metrics endpoints.

Life cycle (uvicorn's shape; every component's `server.py` is a `Service`,
its `main.py` parses flags into a Config and calls `run`):

    run(make_service) ─▶ startup (service.start)
                      ─▶ serve (service.run) until SIGTERM/SIGINT, or until it ends by itself
                      ─▶ graceful shutdown (service.stop), bounded by a grace period
        a second SIGTERM/SIGINT during any of it exits at once (status 1);
        a `Fatal` end (a lost lease, an unreachable runtime) is one log line and status 1.
    run_workers(make_service, n) runs that in n forked processes on one port, this one their supervisor
        (the apiserver's --workers).

The health service and metrics endpoint are optional (off unless an address
is given) so two replicas on one host do not fight over a port; port 0 picks
a free one.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Any, Awaitable, Callable, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from kubelab import config as kubeconfig
from kubelab import errors
from kubelab.hostport import split_host_port

log = logging.getLogger(__name__)


class Fatal(Exception):
    """An end of the process that is not a bug: logged as one line (no traceback), exit status 1."""


class Service(Protocol):
    """A component's server, as `serve` drives it."""

    async def start(self) -> object:
        """Startup: connect, open ports. A signal meanwhile cancels it (then `stop` still runs)."""

    async def run(self) -> None:
        """Serve until cancelled; returning (or raising) ends the process by itself."""

    async def stop(self) -> None:
        """Graceful shutdown: stop accepting, let work in flight finish, close. Safe after a partial start."""


async def forever() -> None:
    """`Service.run` for a component whose work runs in tasks `start` made: wait for the signal."""
    await asyncio.Event().wait()


async def until_a_task_ends(tasks: list[asyncio.Task[Any]]) -> None:
    """`Service.run` for a component whose work runs in tasks `start` made, each meant to run until
    cancelled: wait for the signal, or end the process (Fatal) when one of them ends by itself.

    A loop that died quietly (a node's heartbeats, say) leaves a process that looks alive and does
    nothing; ended, it is restarted by whatever supervises it (Docker's restart policy in the lab).
    """
    if not tasks:
        await forever()
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    task = next(iter(done))
    err = None if task.cancelled() else task.exception()
    if isinstance(err, Fatal):
        raise err                       # an end the task meant (a lost lease, a lost network namespace)
    if err is not None:
        log.error("%s ended", task.get_name(), exc_info=err)
    raise Fatal(f"{task.get_name()} ended ({type(err).__name__ if err else 'returned'}): "
                f"{err if err else 'it should run until shutdown'}; exiting so that it is started again")


SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _exit_now(signum: int) -> None:
    """The second signal: no more waiting on anything (uvicorn's force_exit, kube's second-signal os.Exit)."""
    log.warning("second %s: exiting now", signal.Signals(signum).name)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


async def serve(service: Service, grace: float = 10.0) -> None:
    """startup → serve until SIGTERM/SIGINT → shutdown within `grace` seconds; a second signal exits at once.

    Returns when the service stopped cleanly; raises what `run` (or `start`) raised once it has stopped.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stopping.is_set():
            _exit_now(signum)
        log.info("%s: shutting down (a second signal exits at once)", signal.Signals(signum).name)
        stopping.set()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await _serve(service, stopping, grace)
    finally:
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)


async def _serve(service: Service, stopping: asyncio.Event, grace: float) -> None:
    async def start_and_run() -> None:
        await service.start()
        await service.run()
    main = asyncio.create_task(start_and_run(), name="serve")
    signalled = asyncio.create_task(stopping.wait(), name="signal")
    try:
        await asyncio.wait([main, signalled], return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()
        main.cancel()       # nothing if it has ended; else serving stops here (its own finally blocks run)
        deadline = asyncio.get_running_loop().time() + grace
        await _bounded(asyncio.gather(main, return_exceptions=True), grace, "serving")
        await _bounded(service.stop(), max(0.1, deadline - asyncio.get_running_loop().time()), "shutdown")
    if main.done() and not main.cancelled() and main.exception() is not None:
        raise main.exception()  # type: ignore[misc]


async def _bounded(work: Awaitable[Any], seconds: float, what: str) -> None:
    """Wait for `work` at most `seconds`: the grace period is a bound, not a hope."""
    try:
        await asyncio.wait_for(work, seconds)
    except asyncio.TimeoutError:
        log.warning("%s did not finish within the grace period (%.1fs); going on", what, seconds)


def run(make: Callable[[], Service], grace: float = 10.0) -> None:
    """A component's whole process: `make` (inside the loop: gRPC channels belong to it) → `serve`.

    A `Fatal` end is logged as one line and exits with status 1.
    """
    async def main() -> None:
        await serve(make(), grace)
    try:
        asyncio.run(main())
    except Fatal as e:
        log.error("%s", e)
        sys.exit(1)


def run_workers(make: Callable[[], Service], workers: int, grace: float = 10.0) -> None:
    """`run` in `workers` forked processes sharing one port (SO_REUSEPORT), with this one as their supervisor
    (uvicorn keeps its multiprocess supervisor beside its server too). Forks before any gRPC object exists,
    as gRPC requires: `make` runs in each worker.

    The parent owns the signals: each worker sits in a process group of its own (so Ctrl-C or a launcher's
    killpg reaches it once, through the parent, not twice, which would mean "exit now") and dies with the
    parent (PR_SET_PDEATHSIG). The parent forwards SIGTERM/SIGINT, a second one too (then the workers exit
    at once), waits for all, and exits with the first failing worker's status.
    """
    children = []
    parent = os.getpid()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                _follow_parent(parent)
                run(make, grace)
                status = 0
            finally:            # never back into the parent's code: a Fatal end (SystemExit) is status 1
                os._exit(status)
        children.append(pid)

    def forward(sig: int, _frame: object) -> None:
        for c in children:
            try:
                os.kill(c, sig)
            except ProcessLookupError:
                pass
    for sig in SIGNALS:
        signal.signal(sig, forward)
    status = 0
    for c in children:
        _, st = os.waitpid(c, 0)
        status = status or os.waitstatus_to_exitcode(st)
    sys.exit(status)


def _follow_parent(parent: int) -> None:
    """A worker's signals come from the parent only, and it does not outlive the parent."""
    import ctypes
    os.setpgid(0, 0)
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:      # the parent died before prctl took effect
        os._exit(1)


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A component's `--server`, `--token` and `--context` flags (what `setup_component` takes)."""
    import click
    for option in reversed([
            click.option("--server", envvar="KUBELAB_SERVER", default="",
                         help="apiserver host:port (default: $KUBELAB_SERVER or the kubeconfig's current context)"),
            click.option("--token", envvar="KUBELAB_TOKEN", default="",
                         help="bearer token (default: $KUBELAB_TOKEN or the kubeconfig)"),
            click.option("--context", "context_name", default=None, help="kubeconfig context to use")]):
        fn = option(fn)
    return fn


def click_boundary(call: Callable[[], Any], own: Callable[[Exception], int | None] = lambda e: None) -> int:
    """A click command run with standalone_mode=False, its failures said as kubectl says them: one `error: ...`
    line on stderr (and `See '... --help' for usage.` after a usage error), never a traceback; the exit status.
    `own(e)` reports the caller's own exceptions (its exit status) or declines (None); what neither knows is
    `error: Type: message` (the traceback only with $KUBELAB_DEBUG). The CLI (`kubelab`) and the programs it
    runs as plugins (`kubectl-dashboard`) share it, so their errors read alike."""
    import click

    def usage(line: str, ctx: Any) -> int:
        click.echo(line, err=True)
        if ctx is not None:
            click.echo(f"See '{ctx.command_path} --help' for usage.", err=True)
        return 1
    try:
        rv = call()
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.NoSuchOption as e:
        return usage(f"error: unknown flag: {e.option_name}", e.ctx)
    except click.ClickException as e:
        return usage(f"error: {e.format_message()}", e.ctx if isinstance(e, click.UsageError) else None)
    except click.exceptions.Abort:
        return usage("error: aborted", None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - the last line of defence: no tracebacks
        code = own(e)
        if code is not None:
            return code
        if os.environ.get("KUBELAB_DEBUG"):
            import traceback
            traceback.print_exc()
        return usage(f"error: {type(e).__name__}: {e}" if str(e) else f"error: {type(e).__name__}", None)
    finally:
        sys.stdout.flush()


def setup_logging(verbose: int) -> None:
    """Every component's logging: `-v` info, `-vv` debug, warnings otherwise; on stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def setup_component(verbose: int, context_name: str | None = None, server: str = "",
                    token: str = "") -> kubeconfig.Connection:
    """What every component's main does first: logging by `-v` count, then where the apiserver is."""
    import click
    setup_logging(verbose)
    try:
        return kubeconfig.connection(context_name=context_name, server=server or None, token=token or None)
    except kubeconfig.ConfigError as e:
        raise click.ClickException(str(e)) from None


class BearerTokenAuth(grpc.aio.ServerInterceptor):
    """Bearer-token authentication for a gRPC server; the health service stays open (for probes).

    `who` names the callers a server accepts, for the refusal message (the
    kubelet's streaming server accepts the apiserver only).
    """

    def __init__(self, token: str, who: str = "") -> None:
        self.expected = f"Bearer {token}"
        self.who = who

    async def intercept_service(self, continuation: Any, details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith("/grpc.health."):
            return await continuation(details)
        md = dict(details.invocation_metadata or ())
        if md.get("authorization") == self.expected:
            return await continuation(details)
        if self.who:
            message = f"Unauthorized: {self.who}"
        else:
            message = "Unauthorized: " + ("missing bearer token" if "authorization" not in md else
                                          "invalid bearer token")

        return refusal(errors.Unauthenticated(message))


def refusal(err: errors.ApiError) -> grpc.RpcMethodHandler:
    """A handler that answers `err` without reading the call's message.

    A request-streaming handler is one the server does not read for: grpc.aio reads a unary call's message
    before calling its handler (all of it, up to the receive limit), but leaves a stream's messages unread
    until the handler asks. The wire is the same for both, so this serves a method of any shape, and HTTP/2
    flow control keeps the unread body in the client (an unauthenticated 200 MiB call costs nothing).
    """
    async def refuse(request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(err.code, err.message, trailing_metadata=((errors.REASON_KEY, err.reason),))
    return grpc.stream_stream_rpc_method_handler(refuse)


class HealthServer:
    def __init__(self, address: str) -> None:
        self.address = address
        self.servicer = health.aio.HealthServicer()
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        # No SO_REUSEPORT (gRPC's default): a port in use is an error, not silently shared with its owner.
        self.server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
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


def render_collectors(*collectors: Collector) -> str:
    """Prometheus text for collectors that read a component's state when scraped (nothing on the hot path)."""
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return generate_latest(registry).decode()


class MetricsServer:
    """A tiny HTTP/1.0 server: GET /metrics (Prometheus text), GET /healthz (ok)."""

    def __init__(self, address: str, render: Callable[[], str], reuse_port: bool = False) -> None:
        host, port = split_host_port(address, min_port=0)
        self.host, self.port = host or "127.0.0.1", port
        self.render = render
        self.reuse_port = reuse_port    # the apiserver's forked workers share one metrics port
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, self.host, self.port, reuse_port=self.reuse_port or None)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode(errors="replace")
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(" ")[1] if line.count(" ") >= 2 else "/"
            if path.startswith("/metrics"):
                status, body, ctype = "200 OK", self.render(), "text/plain; version=0.0.4"
            elif path.startswith("/healthz"):
                status, body, ctype = "200 OK", "ok", "text/plain"
            else:
                status, body, ctype = "404 Not Found", "not found\n", "text/plain"
            data = body.encode()
            writer.write(f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n"
                         .encode() + data)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
