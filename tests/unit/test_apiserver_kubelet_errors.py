"""What logs, exec, port-forward and proxy say when the pod's kubelet can't serve them.

The apiserver's streaming handlers over its Store in memory: a pod on a hollow
(simulated) node is refused from what its Node says, per verb, before any
connection is tried; a kubelet that is not reached (nothing listens, or a
server that is not a kubelet answers on its port) is a ServiceUnavailable
naming the node; the kubelet's own refusals pass through with their reason.
Over real gRPC servers: input reaches the kubelet once the apiserver has
accepted the stream, and a refusal always reaches the client as itself.
"""
from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import grpc
import pytest

from apiserver.grpc_transport import method_handlers, new_grpc_server
from apiserver.kubelet_streams import _Kubelet, kubelet_error
from apiserver.server import ApiService
from kubelab import errors, nodes, streams
from kubelab.client import STREAM_ACCEPTED, Client
from lab.local import free_port
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from kubelab.v1 import objects_pb2 as pb
from tests.harness.kubelet import CORE_ERROR, EchoKubelet
from tests.harness.store import api_service, store_with


def _node(name: str, runtime: str, address: str = "127.0.0.1", port: int = 10250) -> pb.Node:
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.status.node_info.container_runtime_version = runtime
    node.status.addresses.add(type="InternalIP", address=address)
    node.status.daemon_endpoints.kubelet_endpoint.port = port
    return node


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, reason: str) -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason


class Context:
    async def abort(self, code: grpc.StatusCode, message: str, trailing_metadata: Any = ()) -> None:
        raise Aborted(code, message, dict(trailing_metadata).get(errors.REASON_KEY, ""))


async def _service(node: pb.Node) -> ApiService:
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace = "web", "default"
    pod.spec.node_name = node.metadata.name
    pod.spec.containers.add(name="app", image="kubelab/web")
    return api_service(await store_with(pod, node))


HOLLOW = _node("hollow-node-0", nodes.runtime_version(nodes.SIMULATED_RUNTIME, "0.1.0"))


@pytest.mark.parametrize("verb,lack", [
    pytest.param("logs", "there are no logs to read", id="logs"),
    pytest.param("exec", "there is no container to run a command in", id="exec"),
    pytest.param("port-forward", "there is no port to forward to", id="port-forward"),
    pytest.param("proxy", "there is no server to proxy to", id="proxy"),
])
async def test_a_pod_on_a_hollow_node_is_refused_per_verb(verb: str, lack: str) -> None:
    with pytest.raises(errors.BadRequest) as e:
        await (await _service(HOLLOW))._kubelet("default", "web", verb)
    assert e.value.message == (f'pod "web" runs on hollow node "hollow-node-0": its containers are simulated, '
                               f"{lack}")


async def test_logs_of_a_hollow_pod_are_a_bad_request_not_a_transport_error() -> None:
    with pytest.raises(Aborted) as e:
        [c async for c in (await _service(HOLLOW)).Logs(api.LogsRequest(namespace="default", name="web"), Context())]
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "BadRequest")
    assert "there are no logs to read" in e.value.message


async def test_proxy_to_a_hollow_pod_is_a_bad_request() -> None:
    with pytest.raises(Aborted) as e:
        await (await _service(HOLLOW)).Proxy(api.ProxyRequest(namespace="default", name="web"), Context())
    assert e.value.reason == "BadRequest" and "there is no server to proxy to" in e.value.message


async def test_a_kubelet_port_where_no_kubelet_answers_is_service_unavailable() -> None:
    """Something that is not a kubelet on the advertised port: gRPC's own error, with no reason attached."""
    other = grpc.aio.server()
    port = other.add_insecure_port("127.0.0.1:0")
    await other.start()
    try:
        svc = await _service(_node("node-1", "docker://27.0", port=port))
        with pytest.raises(Aborted) as e:
            [c async for c in svc.Logs(api.LogsRequest(namespace="default", name="web"), Context())]
    finally:
        await other.stop(None)
    assert (e.value.code, e.value.reason) == (grpc.StatusCode.UNAVAILABLE, "ServiceUnavailable")
    assert e.value.message.startswith(f'error trying to reach the kubelet of node "node-1" at 127.0.0.1:{port} '
                                      'for pod "web": ')


async def test_a_kubelet_nobody_listens_on_is_service_unavailable() -> None:
    svc = await _service(_node("node-1", "docker://27.0", port=free_port()))
    with pytest.raises(Aborted) as e:
        await svc.Proxy(api.ProxyRequest(namespace="default", name="web"), Context())
    assert e.value.reason == "ServiceUnavailable" and 'the kubelet of node "node-1"' in e.value.message


def _rpc_error(code: grpc.StatusCode, details: str, reason: str = "") -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata((errors.REASON_KEY, reason)) if reason else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details)


KUBELET = _Kubelet(stub=None, metadata=(), node="node-1", address="10.0.0.1:10250")  # type: ignore[arg-type]


@pytest.mark.parametrize("rpc,expected,message", [
    pytest.param(_rpc_error(grpc.StatusCode.NOT_FOUND, "previous terminated container not found", "NotFound"),
                 errors.NotFound, "previous terminated container not found", id="kubelet-refusal"),
    pytest.param(_rpc_error(grpc.StatusCode.UNAUTHENTICATED, "Unauthorized: apiserver only", "Unauthorized"),
                 errors.Unauthenticated, "Unauthorized: apiserver only", id="kubelet-auth"),
    pytest.param(_rpc_error(grpc.StatusCode.UNIMPLEMENTED, "Received http2 header with status: 404"),
                 errors.Unavailable, 'error trying to reach the kubelet of node "node-1" at 10.0.0.1:10250 for pod '
                 '"web": Received http2 header with status: 404', id="not-a-kubelet"),
])
def test_kubelet_errors(rpc: grpc.aio.AioRpcError, expected: type, message: str) -> None:
    e = kubelet_error(rpc, KUBELET, "web")
    assert type(e) is expected and e.message == message


async def test_a_node_without_a_kubelet_endpoint_says_so() -> None:
    with pytest.raises(errors.BadRequest, match="node node-1 has no kubelet endpoint"):
        await (await _service(_node("node-1", "docker://27.0", port=0)))._kubelet("default", "web", "logs")


# ---------------------------------------------------------------- the relay, end to end over gRPC
@contextlib.asynccontextmanager
async def apiserver(node: pb.Node) -> AsyncIterator[Client]:
    """A real apiserver gRPC server (its ApiService over the real Store in memory) and a client of it."""
    server = new_grpc_server("")
    server.add_generic_rpc_handlers((method_handlers(await _service(node)),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with Client(f"127.0.0.1:{port}", retries=0) as client:
            yield client
    finally:
        await server.stop(None)


async def _forward(node: pb.Node, *chunks: bytes) -> bytes:
    """`kubelab port-forward`'s sending and reading, through a real apiserver gRPC server."""
    async with apiserver(node) as client:
        async with streams.port_forward(client, "default", "web", 8080) as session:
            for data in chunks:
                await session.send(api.PortForwardInput(data=data))
            await session.send(api.PortForwardInput(close_write=True))
            return b"".join([out.data async for out in session])


async def _exec(node: pb.Node, *command: str) -> tuple[bytes, int | None]:
    """`kubelab exec`'s reading: (stdout, exit code), or the stream's ApiError."""
    async with apiserver(node) as client:
        async with streams.exec_session(client, api.ExecStart(namespace="default", name="web",
                                                              command=list(command))) as session:
            out, code = b"", None
            async for msg in session:
                out += msg.stdout
                if msg.HasField("exit_code"):
                    code = msg.exit_code
            return out, code


@contextlib.asynccontextmanager
async def kubelet_node(servicer: api_grpc.KubeletServicer) -> AsyncIterator[pb.Node]:
    """A (fake) kubelet serving on loopback, and a Docker node whose kubelet endpoint it is."""
    kubelet = grpc.aio.server()
    api_grpc.add_KubeletServicer_to_server(servicer, kubelet)
    port = kubelet.add_insecure_port("127.0.0.1:0")
    await kubelet.start()
    try:
        yield _node("node-1", "docker://27.0", port=port)
    finally:
        await kubelet.stop(None)


async def test_input_flows_once_the_apiserver_has_accepted_the_stream() -> None:
    async with kubelet_node(EchoKubelet()) as node:
        assert await _forward(node, b"hello") == b"HELLO"
        assert await _exec(node, "echo", "hi") == (b"hi\n", 0)


async def test_a_refused_stream_reports_the_refusal_however_fast_input_comes() -> None:
    """Input queued before the refusal arrives is never written, so the refusal is what the client reads."""
    for _ in range(20):
        with pytest.raises(errors.BadRequest) as e:     # kubelab.streams translates it, as the client does
            await _forward(HOLLOW, b"x" * 100_000)
        assert e.value.message.endswith("its containers are simulated, there is no port to forward to")


class RefusingKubelet(api_grpc.KubeletServicer):
    """A kubelet that looks at the start and refuses, as for an exec in a container the pod does not have."""

    async def PortForward(self, request_iterator: Any, context: Any) -> Any:
        await request_iterator.__anext__()
        await context.abort(grpc.StatusCode.NOT_FOUND, 'container "nope" not found in pod "web"',
                            trailing_metadata=((errors.REASON_KEY, "NotFound"),))
        yield api.PortForwardOutput()       # an async generator, as grpc.aio wants


async def test_a_kubelets_refusal_reaches_the_client_however_fast_input_comes() -> None:
    """The apiserver accepts the stream only once the kubelet has: until then the client holds its input."""
    async with kubelet_node(RefusingKubelet()) as node:
        for _ in range(20):
            with pytest.raises(errors.NotFound) as e:
                await _forward(node, b"x" * 100_000)
            assert e.value.message == 'container "nope" not found in pod "web"'


class AnswerAndCloseKubelet(api_grpc.KubeletServicer):
    """A pod that answers the first bytes (an HTTP/1.0 server: answer, then close) while the caller is still
    sending: the end comes under the caller's writes, which is what raced grpc into "Internal error from
    Core" before streams had an explicit close."""

    async def PortForward(self, request_iterator: Any, context: Any) -> Any:
        await request_iterator.__anext__()
        await context.send_initial_metadata((STREAM_ACCEPTED,))
        await request_iterator.__anext__()
        yield api.PortForwardOutput(data=b"HTTP/1.0 200 OK\r\n\r\nhello\n")
        yield api.PortForwardOutput(end=True)
        await streams.closed(streams.drain(request_iterator))


async def test_a_clean_end_under_the_callers_writes_is_success() -> None:
    """What was forwarded stands: the close is recognised by the protocol's `end`, not by an error's text."""
    async with kubelet_node(AnswerAndCloseKubelet()) as node:
        for _ in range(20):
            assert await _forward(node, *[b"GET /" + b"x" * 60_000] * 30) == b"HTTP/1.0 200 OK\r\n\r\nhello\n"


class FailingMidwayKubelet(api_grpc.KubeletServicer):
    """A pod connection that fails after some bytes, with the very text grpc gives a write racing a clean end
    (which once passed for one)."""

    async def PortForward(self, request_iterator: Any, context: Any) -> Any:
        await request_iterator.__anext__()
        await context.send_initial_metadata((STREAM_ACCEPTED,))
        async for msg in request_iterator:
            if msg.WhichOneof("msg") == "data":
                yield api.PortForwardOutput(data=b"HTTP/1.0 200 OK\r\n\r\nhel")
                await context.abort(grpc.StatusCode.INTERNAL, CORE_ERROR)


async def test_a_failure_midway_is_a_failure_whatever_its_text() -> None:
    async with kubelet_node(FailingMidwayKubelet()) as node:
        with pytest.raises(errors.ApiError) as e:
            await _forward(node, b"GET /")
    assert type(e.value) is errors.Unavailable and e.value.message.endswith(CORE_ERROR)


@pytest.mark.parametrize("command,message", [
    ("fail-midway", 'error trying to reach the kubelet of node "node-1" at 127.0.0.1:{port} for pod "web": '
     + CORE_ERROR),
    ("vanish", streams.UNCLOSED),
])
async def test_an_exec_that_fails_midway_is_an_error_not_an_exit_code(command: str, message: str) -> None:
    """`kubelab exec` reports the failure (its exit code is then 1), never the missing exit code as 0."""
    async with kubelet_node(EchoKubelet()) as node:
        with pytest.raises(errors.ApiError) as e:
            await _exec(node, command)
    port = node.status.daemon_endpoints.kubelet_endpoint.port
    assert e.value.message == message.format(port=port)
