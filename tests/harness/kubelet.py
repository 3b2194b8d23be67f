"""A stand-in kubelet streaming server (gRPC `kubelab.v1.Kubelet`) whose one container, `app`, echoes: for
tests that drive the apiserver's streaming paths (gRPC relay, HTTP subresources) without Docker. It ends its
Exec and PortForward streams by api.proto's explicit close, as the real kubelet (kubelet/streaming.py) does:
the last message carries `end`, then it waits for the caller's half-close.

    exec   `echo ARGS...`   prints ARGS, exit 0
           `sh -c "exit 3"` prints `failing` on stderr, exit 3
           `cat`            echoes stdin in capitals until stdin is closed, exit 0
           `fail-midway`    prints `partial`, then the call fails (INTERNAL "Internal error from Core", the text
                            grpc gives a write racing a call's end: a failure all the same)
           `vanish`         prints `partial`, then the call ends OK without its `end`
           anything else    `executable file not found`
    port-forward to 8080: each chunk echoed in capitals until the caller closes its side (any other port:
           the dial error, "connection refused", as kubelet/streaming.py says it)
    exec, port-forward to any pod but `web`: refused after reading the start, as the real kubelet refuses a
           pod it does not have (its abort with NotFound `pods "NAME" not found`)
    logs   five lines (`tailLines` honoured); asked with timestamps, two lines, then the call fails
    proxy  answers `METHOD PATH port=PORT`
"""
from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import grpc

from kubelab import errors, streams
from kubelab.client import STREAM_ACCEPTED
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc

CORE_ERROR = "Internal error from Core"


async def _refuse_other_pods(start: Any, context: Any) -> None:
    if start.name != "web":
        await context.abort(grpc.StatusCode.NOT_FOUND, f'pods "{start.name}" not found',
                            trailing_metadata=((errors.REASON_KEY, "NotFound"),))


class EchoKubelet(api_grpc.KubeletServicer):
    """A kubelet whose one container echoes (see the module's doc)."""

    async def Exec(self, request_iterator: Any, context: Any) -> AsyncIterator[api.ExecOutput]:
        first = await request_iterator.__anext__()
        start = first.start
        await _refuse_other_pods(start, context)
        if start.container not in ("", "app"):
            await context.abort(grpc.StatusCode.NOT_FOUND, f'container {start.container} is not valid for pod web',
                                trailing_metadata=((errors.REASON_KEY, "BadRequest"),))
        await context.send_initial_metadata((STREAM_ACCEPTED,))
        cmd = list(start.command)
        if cmd[:1] == ["echo"]:
            yield api.ExecOutput(stdout=(" ".join(cmd[1:]) + "\n").encode())
            yield api.ExecOutput(exit_code=0, end=True)
        elif cmd == ["sh", "-c", "exit 3"]:
            yield api.ExecOutput(stderr=b"failing\n")
            yield api.ExecOutput(exit_code=3, end=True)
        elif cmd == ["cat"]:
            async for msg in request_iterator:
                kind = msg.WhichOneof("msg")
                if kind == "stdin":
                    yield api.ExecOutput(stdout=msg.stdin.upper())
                elif kind == "stdin_close":
                    break
            yield api.ExecOutput(exit_code=0, end=True)
        elif cmd == ["fail-midway"]:
            yield api.ExecOutput(stdout=b"partial\n")
            await context.abort(grpc.StatusCode.INTERNAL, CORE_ERROR)
        elif cmd == ["vanish"]:
            yield api.ExecOutput(stdout=b"partial\n")
            return
        else:
            yield api.ExecOutput(error=f"executable file not found: {cmd[0]}", end=True)
        await streams.closed(streams.drain(request_iterator))

    async def PortForward(self, request_iterator: Any, context: Any) -> AsyncIterator[api.PortForwardOutput]:
        first = await request_iterator.__anext__()
        await _refuse_other_pods(first.start, context)
        if first.start.port != 8080:
            # As the real kubelet says a dial error: a message with `end`, then the caller's half-close awaited.
            yield api.PortForwardOutput(error=f"error forwarding port {first.start.port} to pod web: dial tcp "
                                              f"127.0.0.1:{first.start.port}: connect: connection refused", end=True)
            await streams.closed(streams.drain(request_iterator))
            return
        await context.send_initial_metadata((STREAM_ACCEPTED,))
        async for msg in request_iterator:
            kind = msg.WhichOneof("msg")
            if kind == "data":
                yield api.PortForwardOutput(data=msg.data.upper())
            elif kind == "close_write":
                break
        yield api.PortForwardOutput(end=True)
        await streams.closed(streams.drain(request_iterator))

    async def Logs(self, req: api.LogsRequest, context: Any) -> AsyncIterator[api.LogChunk]:
        lines = [f"line {i}\n".encode() for i in range(5)]
        if req.HasField("tail_lines"):
            lines = lines[len(lines) - req.tail_lines:]
        for n, line in enumerate(lines):
            if n == 2 and req.timestamps:
                await context.abort(grpc.StatusCode.INTERNAL, CORE_ERROR)
            yield api.LogChunk(data=line)

    async def Proxy(self, req: api.ProxyRequest, context: Any) -> api.ProxyResponse:
        return api.ProxyResponse(status=200, headers={"Content-Type": "text/plain"},
                                 body=f"{req.method} {req.path} port={req.port}".encode())


@contextlib.contextmanager
def serving_apart(start: Callable[[], Awaitable[tuple[grpc.aio.Server, int]]]) -> Iterator[int]:
    """A kubelet's gRPC server, started by `start` (server and port), on a thread and event loop of its own as
    in its own process; its port. On its caller's loop it would only answer between the caller's steps, which
    hides the races between its answers and the caller's writes."""
    loop = asyncio.new_event_loop()
    started, ports = threading.Event(), []
    stop = asyncio.Event()

    async def main() -> None:
        server, port = await start()
        ports.append(port)
        started.set()
        await stop.wait()
        await server.stop(None)

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    assert started.wait(30), "the kubelet did not start"
    try:
        yield ports[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


async def echo_kubelet() -> tuple[grpc.aio.Server, int]:
    """An EchoKubelet serving on a free loopback port: (server, port), for `serving_apart`."""
    server = grpc.aio.server()
    api_grpc.add_KubeletServicer_to_server(EchoKubelet(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
