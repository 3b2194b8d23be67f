"""The kubelet's streaming service (kubelet.streaming) without Docker: a real gRPC server on loopback
with the kubelet token, its lookups (pod, container, port, pod IP) and errors, and Proxy to a real HTTP
server standing in for a pod."""
from __future__ import annotations

import asyncio
import concurrent.futures
from types import SimpleNamespace
from typing import Any, AsyncIterator

import grpc
import pytest

from kubelab import errors
from kubelab.client import new_object
from kubelab.v1 import api_pb2 as api
from kubelab.v1 import api_pb2_grpc as api_grpc
from kubelet.streaming import KubeletService, _Abort, create_server
from lab.local import free_port

TOKEN = "kubelet-secret"


def web_pod(ip: str = "127.0.0.1", port: int = 8080) -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    app = p.spec.containers.add(name="app", image="kubelab/web")
    app.ports.add(name="http", container_port=port)
    p.spec.containers.add(name="sidecar", image="kubelab/web").ports.add(name="metrics", container_port=9090)
    p.spec.init_containers.add(name="setup", image="kubelab/web")
    p.status.pod_ip = ip
    st = p.status.container_statuses.add(name="sidecar")
    st.state.waiting.reason = "ImagePullBackOff"
    return p


class NoContainers:
    """The runtime as the service uses it: a thread pool for blocking calls; no container has been made yet."""

    def __init__(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(2)

    async def list_containers(self, uid: str | None = None) -> list[Any]:
        return []


def pods_of(*pods: Any) -> Any:
    """What the service reads of the pod manager: its informer, its workers (for sandbox IPs), the runtime."""
    store = {f"{p.metadata.namespace}/{p.metadata.name}": p for p in pods}
    return SimpleNamespace(informer=SimpleNamespace(get=store.get), workers={}, runtime=NoContainers())


@pytest.fixture
async def kubelet() -> AsyncIterator[tuple[Any, Any]]:
    """(stub with the token, the served pods' store) on a real server bound to a free port."""
    pods = pods_of()
    server, port, _ = await create_server(pods, "127.0.0.1:0", TOKEN)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield api_grpc.KubeletStub(channel), pods
    finally:
        await channel.close()
        await server.stop(None)
        pods.runtime.pool.shutdown()


def serve(pods: Any, *objs: Any) -> None:
    store = {f"{p.metadata.namespace}/{p.metadata.name}": p for p in objs}
    pods.informer.get = store.get


AUTH = (("authorization", f"Bearer {TOKEN}"),)


async def failure(call: Any) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    err = e.value
    return err.code(), err.details() or "", str(dict(err.trailing_metadata() or ()).get(errors.REASON_KEY, ""))


# ---------------------------------------------------------------- the door
async def test_the_kubelet_refuses_to_serve_without_a_token() -> None:
    with pytest.raises(ValueError, match="the kubelet needs a token"):
        await create_server(pods_of(), "127.0.0.1:0", "")


async def test_only_the_apiserver_token_is_accepted(kubelet: Any) -> None:
    stub, pods = kubelet
    serve(pods, web_pod())
    for metadata in ((), (("authorization", "Bearer wrong"),)):
        code, msg, reason = await failure(stub.Proxy(api.ProxyRequest(namespace="shop", name="web"),
                                                     metadata=metadata))
        assert (code, msg, reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                       "Unauthorized: kubelet accepts the apiserver only", "Unauthorized")


# ---------------------------------------------------------------- Proxy
async def test_proxy_relays_to_the_pod_without_hop_by_hop_headers(kubelet: Any) -> None:
    stub, pods = kubelet
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: close\r\nX-App: web\r\n\r\nhello")
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        serve(pods, web_pod(port=port))
        out = await stub.Proxy(api.ProxyRequest(namespace="shop", name="web", port="http", path="healthz?x=1",
                                                headers={"X-Trace": "1", "Connection": "keep-alive"}),
                               metadata=AUTH)
    assert (out.status, out.body, dict(out.headers)) == (201, b"hello", {"X-App": "web"})
    request = seen[0].decode()
    assert request.startswith("GET /healthz?x=1 HTTP/1.1\r\n") and "X-Trace: 1\r\n" in request
    assert "keep-alive" not in request


async def test_proxy_errors(kubelet: Any) -> None:
    stub, pods = kubelet
    closed = free_port()
    no_ip = web_pod(ip="")
    no_ip.metadata.name = "starting"
    serve(pods, web_pod(port=closed), no_ip)
    cases = [
        (api.ProxyRequest(namespace="shop", name="gone"), grpc.StatusCode.NOT_FOUND, 'pods "gone" not found'),
        (api.ProxyRequest(namespace="shop", name="starting"), grpc.StatusCode.INVALID_ARGUMENT,
         'pod "starting" has no IP address yet'),
        (api.ProxyRequest(namespace="shop", name="web", port="admin"), grpc.StatusCode.INVALID_ARGUMENT,
         'no port named "admin" in pod web'),
        (api.ProxyRequest(namespace="shop", name="web"), grpc.StatusCode.UNAVAILABLE,
         f"error trying to reach service: dial tcp 127.0.0.1:{closed}: connect: connection refused"),
    ]
    for req, code, message in cases:
        assert (await failure(stub.Proxy(req, metadata=AUTH)))[:2] == (code, message)


# ---------------------------------------------------------------- Logs before a container exists
async def test_logs_of_a_container_not_started_say_why_it_waits(kubelet: Any) -> None:
    stub, pods = kubelet
    serve(pods, web_pod())
    code, msg, reason = await failure(stub.Logs(api.LogsRequest(namespace="shop", name="web", container="sidecar"),
                                                metadata=AUTH).read())
    assert (code, msg, reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                   'container "sidecar" in pod "web" is waiting to start: ImagePullBackOff',
                                   "BadRequest")
    code, msg, _ = await failure(stub.Logs(api.LogsRequest(namespace="shop", name="web"), metadata=AUTH).read())
    assert msg == "a container name must be specified for pod web, choose one of: [app sidecar]"
    code, msg, _ = await failure(stub.Logs(api.LogsRequest(namespace="shop", name="web", container="db",
                                                           previous=True), metadata=AUTH).read())
    assert msg == "container db is not valid for pod web"
    code, msg, _ = await failure(stub.Logs(api.LogsRequest(namespace="shop", name="web", container="app",
                                                           previous=True), metadata=AUTH).read())
    assert msg == 'previous terminated container "app" in pod "web" not found'


# ---------------------------------------------------------------- lookups
@pytest.mark.parametrize("port,want", [
    pytest.param("", 8080, id="first-container-port"),
    pytest.param("8443", 8443, id="number"),
    pytest.param("metrics", 9090, id="name-in-another-container"),
])
def test_proxy_port(port: str, want: int) -> None:
    assert KubeletService._proxy_port(web_pod(), port) == want


def test_proxy_port_of_a_pod_without_ports_is_80() -> None:
    p = new_object("Pod", "bare", "shop")
    p.spec.containers.add(name="app", image="kubelab/web")
    assert KubeletService._proxy_port(p, "") == 80


def test_container_spec_includes_init_containers_and_defaults_to_the_only_one() -> None:
    p = web_pod()
    assert KubeletService._container_spec(p, "setup").name == "setup"
    single = new_object("Pod", "one", "shop")
    single.spec.containers.add(name="only", image="kubelab/web")
    assert KubeletService._container_spec(single, "").name == "only"
    with pytest.raises(_Abort) as e:
        KubeletService._container_spec(p, "")
    assert e.value.reason == "BadRequest"


def test_the_pod_ip_is_the_sandboxes_before_the_api_knows_it() -> None:
    pods = pods_of()
    service = KubeletService(pods)
    p = web_pod(ip="10.0.0.9")
    assert service._pod_ip(p) == "10.0.0.9"
    pods.workers["uid-1"] = SimpleNamespace(sandbox=SimpleNamespace(ip="10.0.0.7"))
    assert service._pod_ip(p) == "10.0.0.7"
    pods.runtime.pool.shutdown()
