"""A kubelet's refusal of an exec or a port-forward reaches the caller as itself, however eager its input.

The real kubelet streaming service (kubelet.streaming over a pod manager stand-in, no Docker; on a thread and
event loop of its own, as in its own process) refuses after reading a stream's `start`: a container the pod
lacks, a container not started, a pod not running, a pod it does not have. Between it and the caller sit
the apiserver's real gRPC relay (apiserver.kubelet_streams) or its HTTP front (apiserver.http.streaming,
which kubectl's port-forward sends its first bytes to while the kubelet is still deciding). Many fresh
streams are refused each way, with input sent at once behind the start, and every one must report the
kubelet's code, reason and message: input written to the kubelet before it had accepted the stream made
grpc.aio report "Internal error from Core" in place of the refusal (see kubelab.streams.feed).
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator

import grpc
import pytest

from apiserver.grpc_transport import method_handlers, new_grpc_server
from apiserver.http import spdy, streaming
from apiserver.kubelet_streams import kubelet_error
from apiserver.server import ApiService, Config
from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import objects_pb2 as pb
from kubelet.streaming import create_server
from tests.harness.kubelet import serving_apart
from tests.harness.store import api_service, store_with

from .test_apiserver_kubelet_errors import _node
from .test_kubelet_streaming import TOKEN, pods_of, web_pod

STREAMS = 150       # fresh streams per refusal and path (before the fix, one in ten or so went wrong)

# Per refusal: the stream's start, the input sent at once behind it, what the kubelet answers (class, message).
# The apiserver knows both pods; the kubelet serves `web` (Pending, no container made yet), not `gone`.
EXEC = {
    "no-container": (api.ExecStart(namespace="shop", name="web", container="nope", command=["cat"], stdin=True),
                     errors.BadRequest, "container nope is not valid for pod web"),
    "not-started": (api.ExecStart(namespace="shop", name="web", container="app", command=["cat"], stdin=True),
                    errors.BadRequest, 'container "app" in pod "web" is waiting to start: ContainerCreating'),
    "no-pod": (api.ExecStart(namespace="shop", name="gone", command=["cat"], stdin=True),
               errors.NotFound, 'pods "gone" not found'),
}
FORWARD = {
    "not-running": (api.PortForwardStart(namespace="shop", name="web", port=8080),
                    errors.BadRequest, "pod web is not running (phase Pending)"),
    "no-pod": (api.PortForwardStart(namespace="shop", name="gone", port=8080),
               errors.NotFound, 'pods "gone" not found'),
}
INPUT = b"GET / HTTP/1.0\r\nHost: web\r\n\r\n"     # over HTTP, in three frames


def _pod(name: str) -> pb.Pod:
    pod = web_pod()
    pod.metadata.name, pod.spec.node_name = name, "node-1"
    return pod


@contextlib.asynccontextmanager
async def apiserver() -> AsyncIterator[tuple[ApiService, int]]:
    """The apiserver's service and its gRPC port, before the real kubelet (serving pod `web`) apart."""
    pods = pods_of(_pod("web"))

    async def kubelet() -> tuple[grpc.aio.Server, int]:
        server, port, _ = await create_server(pods, "127.0.0.1:0", TOKEN)
        return server, port
    with serving_apart(kubelet) as kubelet_port:
        store = await store_with(_node("node-1", "docker://27.0", port=kubelet_port), _pod("web"), _pod("gone"))
        svc = api_service(store, Config(kubelet_token=TOKEN))
        server = new_grpc_server("")
        server.add_generic_rpc_handlers((method_handlers(svc),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield svc, port
        finally:
            await server.stop(None)
    pods.runtime.pool.shutdown()


def _deps(svc: ApiService) -> streaming.Deps:
    return streaming.Deps(kubelet=svc._kubelet, kubelet_error=kubelet_error, get=svc.store.get,
                          error_response=lambda e: None)  # type: ignore[arg-type,return-value]


def _wrong(heard: list[Any], cls: type, message: str) -> list[str]:
    return [repr(e) for e in heard if type(e) is not cls or getattr(e, "message", e) != message]


# ---------------------------------------------------------------- through the gRPC relay
async def _eager_over_grpc(client: Client, first: Any, then: Any, method: str) -> errors.ApiError | None:
    """A client that sends input right behind its start, without waiting for the stream's acceptance: the
    relay must hold it (the CLI's own sessions, kubelab.streams, do wait)."""
    call = getattr(client.stub, method)(metadata=client.metadata)
    try:
        await call.write(first)
        await call.write(then)
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as e:
        return errors.from_rpc_error(e)
    finally:
        call.cancel()
    return None


@pytest.mark.parametrize("refusal", list(EXEC))
async def test_an_exec_refusal_reaches_an_eager_grpc_client_as_itself(refusal: str) -> None:
    start, cls, message = EXEC[refusal]
    async with apiserver() as (_, port), Client(f"127.0.0.1:{port}", retries=0) as client:
        heard = [await _eager_over_grpc(client, api.ExecInput(start=start), api.ExecInput(stdin=INPUT), "Exec")
                 for _ in range(STREAMS)]
    wrong = _wrong(heard, cls, message)
    assert not wrong, f"{len(wrong)} of {STREAMS} exec streams heard otherwise, e.g. {wrong[0]}"


@pytest.mark.parametrize("refusal", list(FORWARD))
async def test_a_port_forward_refusal_reaches_an_eager_grpc_client_as_itself(refusal: str) -> None:
    start, cls, message = FORWARD[refusal]
    async with apiserver() as (_, port), Client(f"127.0.0.1:{port}", retries=0) as client:
        heard = [await _eager_over_grpc(client, api.PortForwardInput(start=start), api.PortForwardInput(data=INPUT),
                                        "PortForward") for _ in range(STREAMS)]
    wrong = _wrong(heard, cls, message)
    assert not wrong, f"{len(wrong)} of {STREAMS} port-forward streams heard otherwise, e.g. {wrong[0]}"


# ---------------------------------------------------------------- through the HTTP front (kubectl's way)
class SpdyPeer:
    """kubectl's side of a port-forward connection as the HTTP front sees it: its frames in (the two streams
    of one forwarded connection, then its first bytes (three frames) just after the front's reply, as the front asks the
    kubelet), what the front writes on the error stream."""
    ERROR, DATA = 1, 3

    def __init__(self, port: int) -> None:
        self.frames: asyncio.Queue[spdy.Frame | None] = asyncio.Queue()
        for sid, kind in ((self.ERROR, "error"), (self.DATA, "data")):
            self.frames.put_nowait(spdy.Frame(kind=spdy.SYN_STREAM, stream_id=sid,
                                              headers={"streamtype": kind, "requestid": "0", "port": str(port)}))
        self.error = b""
        self.error_closed = asyncio.Event()

    async def reply(self, stream_id: int, fin: bool = False) -> None:
        if stream_id == self.DATA:
            for line in INPUT.splitlines(keepends=True):
                asyncio.get_running_loop().call_soon(self.frames.put_nowait,
                                                     spdy.Frame(kind=0, stream_id=self.DATA, data=line))

    async def send(self, data: bytes) -> None:
        if data == spdy.data_frame(self.ERROR, b"", fin=True):
            self.error_closed.set()

    async def data(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        if stream_id == self.ERROR:
            self.error += data


async def _port_forward_over_http(svc: ApiService, start: api.PortForwardStart) -> str:
    """One kubectl connection through the front's port-forward: what its error stream says."""
    peer = SpdyPeer(start.port)
    serving = asyncio.create_task(streaming._serve_portforward(_deps(svc), peer,  # type: ignore[arg-type]
                                                               start.namespace, start.name))
    try:
        await asyncio.wait_for(peer.error_closed.wait(), 10)
    finally:
        peer.frames.put_nowait(None)
        await serving
    return peer.error.decode()


@pytest.mark.parametrize("refusal", list(FORWARD))
async def test_a_port_forward_refusal_reaches_kubectl_as_itself(refusal: str) -> None:
    start, _, message = FORWARD[refusal]
    async with apiserver() as (svc, _):
        heard = [await _port_forward_over_http(svc, start) for _ in range(STREAMS)]
    wrong = [h for h in heard if h != message]
    assert not wrong, f"{len(wrong)} of {STREAMS} port-forward connections heard otherwise, e.g. {wrong[0]}"


async def _exec_over_http(svc: ApiService, start: api.ExecStart) -> errors.ApiError | None:
    """The front's exec as pod_exec opens it, before any upgrade: the error its Status response is made of."""
    session = streaming._Session(_deps(svc), "exec", "Exec", api.ExecInput(end=True))
    try:
        await session.open(start.namespace, start.name, api.ExecInput(start=start))
    except errors.ApiError as e:
        return e
    session.close()
    return None


@pytest.mark.parametrize("refusal", list(EXEC))
async def test_an_exec_refusal_reaches_kubectl_as_itself(refusal: str) -> None:
    start, cls, message = EXEC[refusal]
    async with apiserver() as (svc, _):
        heard = [await _exec_over_http(svc, start) for _ in range(STREAMS)]
    wrong = _wrong(heard, cls, message)
    assert not wrong, f"{len(wrong)} of {STREAMS} exec streams heard otherwise, e.g. {wrong[0]}"
