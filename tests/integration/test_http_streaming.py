"""The streaming subresources (apiserver.http.streaming) driven by real kubectl 1.37 and 1.20.

A real aiohttp server serves the subresources through the apiserver's own `ApiService` (its path to a
pod's kubelet), over its Store holding a few objects in memory, with just enough discovery for kubectl to
find pods; the pod's kubelet is a real gRPC server on loopback, on a thread of its own, whose containers echo.
kubectl 1.37 speaks WebSocket (exec: v5.channel.k8s.io; port-forward: the SPDY tunnel); kubectl 1.20 speaks
SPDY/3.1. Nothing here is written by us on the client side.
"""
from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiohttp import web

from apiserver.http import streaming
from apiserver.kubelet_streams import kubelet_error
from apiserver.store import Store
from kubelab import errors, manifests
from kubelab.v1 import objects_pb2 as pb
from lab.local import free_port
from tests.harness.kubelet import echo_kubelet, serving_apart
from tests.harness.store import api_service, store_with
from tests import realclients

pytestmark = pytest.mark.integration


async def _store(kubelet_port: int) -> Store:
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name = "node-1"
    node.status.node_info.container_runtime_version = "docker://27.0"
    node.status.addresses.add(type="InternalIP", address="127.0.0.1")
    node.status.daemon_endpoints.kubelet_endpoint.port = kubelet_port
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.name, pod.metadata.namespace, pod.metadata.uid = "web", "default", "u-1"
    pod.spec.node_name = "node-1"
    pod.spec.containers.add(name="app", image="nginx")
    pod.status.phase = "Running"
    moved = pb.Pod()
    moved.CopyFrom(pod)
    moved.metadata.name, moved.metadata.uid = "moved", "u-2"      # the apiserver's, not the kubelet's: refused
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "web", "default"
    svc.spec.ports.add(name="http", port=80)
    eps = pb.Endpoints(api_version="v1", kind="Endpoints")
    eps.metadata.name, eps.metadata.namespace = "web", "default"
    subset = eps.subsets.add()
    addr = subset.addresses.add(ip="10.0.0.5")
    addr.target_ref.kind, addr.target_ref.name = "Pod", "web"
    subset.ports.add(name="http", port=8080)
    return await store_with(node, pod, moved, svc, eps)


def _status(e: errors.ApiError) -> web.Response:
    code = {"NotFound": 404, "BadRequest": 400, "Invalid": 422, "ServiceUnavailable": 503}.get(e.reason, 500)
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": e.message, "reason": e.reason, "code": code}, status=code)


def _app(store: Store) -> web.Application:
    svc = api_service(store)
    deps = streaming.Deps(kubelet=svc._kubelet, kubelet_error=kubelet_error, get=store.get, error_response=_status)

    def guarded(fn: Any) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                return await fn(request)
            except errors.ApiError as e:
                return _status(e)
        return handler

    async def pod(request: web.Request) -> web.Response:
        obj = await store.get("Pod", request.match_info["ns"], request.match_info["name"])
        return web.json_response(manifests.to_dict(obj))

    async def api_versions(request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"],
                                  "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})

    async def groups(request: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def core(request: web.Request) -> web.Response:
        res = [{"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
                "verbs": ["get", "list"]}] + [
            {"name": f"pods/{s}", "singularName": "", "namespaced": True, "kind": k, "verbs": v}
            for s, k, v in (("exec", "PodExecOptions", ["create", "get"]), ("log", "Pod", ["get"]),
                            ("portforward", "PodPortForwardOptions", ["create", "get"]),
                            ("attach", "PodAttachOptions", ["create", "get"]))]
        return web.json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": res})

    async def version(request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"})

    base = "/api/v1/namespaces/{ns}/pods/{name}"
    app = web.Application()
    app.router.add_get("/api", api_versions)
    app.router.add_get("/apis", groups)
    app.router.add_get("/api/v1", core)
    app.router.add_get("/version", version)
    app.router.add_get(base, guarded(pod))
    for method in ("GET", "POST"):
        app.router.add_route(method, base + "/exec", guarded(lambda r: streaming.pod_exec(
            deps, r, r.match_info["ns"], r.match_info["name"])))
        app.router.add_route(method, base + "/attach", guarded(lambda r: streaming.pod_exec(
            deps, r, r.match_info["ns"], r.match_info["name"], attach=True)))
        app.router.add_route(method, base + "/portforward", guarded(lambda r: streaming.pod_portforward(
            deps, r, r.match_info["ns"], r.match_info["name"])))
    app.router.add_get(base + "/log", guarded(lambda r: streaming.pod_log(deps, r, r.match_info["ns"], r.match_info["name"])))
    app.router.add_route("*", "/api/v1/namespaces/{ns}/{resource:pods|services}/{name}/proxy/{tail:.*}",
                         guarded(lambda r: streaming.proxy(deps, r, r.match_info["ns"], r.match_info["resource"],
                                                           r.match_info["name"],
                                                           r.path.split("/proxy/", 1)[1])))
    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The subresources on http://127.0.0.1:PORT and a kubeconfig pointing there; run in a thread of their own."""
    loop = asyncio.new_event_loop()
    port = free_port()
    started = threading.Event()
    stop: dict[str, Any] = {}

    async def main(kport: int) -> None:
        runner = web.AppRunner(_app(await _store(kport)))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop["event"] = asyncio.Event()
        started.set()
        await stop["event"].wait()
        await runner.cleanup()

    with serving_apart(echo_kubelet) as kport:      # the kubelet apart, as in its own process
        thread = threading.Thread(target=lambda: loop.run_until_complete(main(kport)), daemon=True)
        thread.start()
        assert started.wait(30)
        config = realclients.kubeconfig(tmp_path_factory.mktemp("kc") / "config", f"http://127.0.0.1:{port}")
        yield config
        loop.call_soon_threadsafe(stop["event"].set)
        thread.join(10)


@pytest.fixture(scope="module", params=["1.37", "1.20"])
def kubectl(request: pytest.FixtureRequest) -> Path:
    return realclients.kubectl_137() if request.param == "1.37" else realclients.kubectl_120()


def test_exec_prints_the_commands_output(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "exec", "web", "--", "echo", "hi", "there")
    assert (r.returncode, r.stdout) == (0, b"hi there\n"), r.stderr


def test_exec_with_stdin_streams_both_ways_and_ends_at_eof(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "exec", "-i", "web", "--", "cat", input=b"hello\nworld\n")
    assert (r.returncode, r.stdout) == (0, b"HELLO\nWORLD\n"), r.stderr


def test_exec_exit_code_is_kubectls_exit_code(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "exec", "web", "--", "sh", "-c", "exit 3")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert b"failing" in r.stderr
    assert b"command terminated with exit code 3" in r.stderr


@pytest.mark.parametrize("command,says", [("fail-midway", b"Internal error from Core"),
                                          ("vanish", b"the stream ended before its close")])
def test_an_exec_stream_that_fails_midway_is_a_failure_whatever_grpc_says(server: Path, kubectl: Path,
                                                                          command: str, says: bytes) -> None:
    """The kubelet's stream failing after some output (an error, even one worded as grpc words a write racing
    a clean end; or an end without api.proto's explicit close): kubectl's exit code says so, never 0."""
    r = realclients.run_kubectl(kubectl, server, "exec", "web", "--", command)
    assert r.stdout == b"partial\n"
    assert r.returncode != 0 and says in r.stderr, (r.returncode, r.stderr)


def test_exec_in_a_container_the_pod_lacks_is_the_kubelets_refusal(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "exec", "web", "-c", "nope", "--", "echo", "x")
    assert r.returncode == 1
    assert b"container nope is not valid for pod web" in r.stderr


def test_logs_and_tail(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "logs", "web")
    assert (r.returncode, r.stdout) == (0, b"".join(f"line {i}\n".encode() for i in range(5))), r.stderr
    r = realclients.run_kubectl(kubectl, server, "logs", "web", "--tail=2")
    assert r.stdout == b"line 3\nline 4\n"


def test_a_log_stream_that_fails_midway_is_a_failure_not_a_short_log(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "logs", "web", "--timestamps")    # the fake fails midway then
    assert r.stdout == b"line 0\nline 1\n", r.stderr
    assert r.returncode != 0 and b"unexpected EOF" in r.stderr, (r.returncode, r.stderr)


def _port_forward(kubectl: Path, server: Path, pod: str, ports: str) -> subprocess.Popen[bytes]:
    """`kubectl port-forward pod/POD PORTS`, once it listens (it says `Forwarding from`)."""
    proc = subprocess.Popen([str(kubectl), "port-forward", f"pod/{pod}", ports],
                            env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(server), "HOME": str(server.parent)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    line = b""
    while b"Forwarding from" not in line and time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line and proc.poll() is not None:
            proc.terminate()
            raise AssertionError(proc.communicate(timeout=10)[1])
    return proc


def _refused_connection(local: int, data: bytes) -> None:
    """A connection through a port-forward whose far end refuses it: `data` sent, then read to the close."""
    with socket.create_connection(("127.0.0.1", local), timeout=10) as s:
        s.sendall(data)
        s.settimeout(10)
        try:
            assert s.recv(1024) == b""
        except ConnectionResetError:
            pass


def test_port_forward_carries_connections_both_ways(server: Path, kubectl: Path) -> None:
    local = free_port()
    proc = _port_forward(kubectl, server, "web", f"{local}:8080")
    try:
        for attempt in range(3):               # three connections in a row over the one session
            with socket.create_connection(("127.0.0.1", local), timeout=10) as s:
                s.sendall(f"ping {attempt}".encode())
                s.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := s.recv(1024):
                    got += chunk
            assert got == f"PING {attempt}".encode()
    finally:
        proc.terminate()
        proc.wait(10)


def test_port_forward_to_a_closed_port_reports_the_dial_error(server: Path, kubectl: Path) -> None:
    local = free_port()
    proc = _port_forward(kubectl, server, "web", f"{local}:9999")
    try:
        _refused_connection(local, b"x")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"connection refused" in err, err


def test_exec_in_a_pod_the_kubelet_refuses_is_its_refusal(server: Path, kubectl: Path) -> None:
    r = realclients.run_kubectl(kubectl, server, "exec", "moved", "--", "echo", "x")
    assert r.returncode == 1
    assert b'pods "moved" not found' in r.stderr, r.stderr


REFUSED_FORWARDS = 40


def test_port_forward_to_a_pod_the_kubelet_refuses_reports_its_refusal(server: Path, kubectl: Path) -> None:
    """The kubelet refuses each connection after reading its start, while kubectl's first bytes are already on
    their way: kubectl reports the refusal every time, never grpc's "Internal error from Core" (what an input
    written to the kubelet under its refusal made of it, about one time in ten). One connection per kubectl:
    1.37 ends its port-forward at a connection's error (tests/unit/test_kubelet_refusals.py has the many)."""
    said = b""
    for _ in range(REFUSED_FORWARDS):
        local = free_port()
        proc = _port_forward(kubectl, server, "moved", f"{local}:8080")
        try:
            _refused_connection(local, b"GET / HTTP/1.0\r\n\r\n")
        finally:
            proc.terminate()
            said += proc.communicate(timeout=10)[1].replace(b'\\"', b'"')     # 1.37 logs it quoted
    assert said.count(b'pods "moved" not found') == REFUSED_FORWARDS, said
    assert b"Internal error" not in said, said


def test_pod_and_service_proxy_pass_the_pods_answer(server: Path) -> None:
    import urllib.request
    url = json.loads(json.dumps(__import__("yaml").safe_load(server.read_text())))["clusters"][0]["cluster"]["server"]
    with urllib.request.urlopen(f"{url}/api/v1/namespaces/default/pods/web:8080/proxy/hello?x=1") as r:
        assert r.read() == b"GET /hello?x=1 port=8080"
    with urllib.request.urlopen(f"{url}/api/v1/namespaces/default/services/web:http/proxy/") as r:
        assert r.read() == b"GET / port=8080"


@pytest.mark.parametrize("path,asked", [("pods/web:80/proxy/a/../../secret", "/secret port=80"),
                                        ("pods/web:80/proxy/a%2F..%2Fb", "/b port=80"),
                                        ("pods/web:80/proxy/..%2F..%2F..%2Fapi%2Fv1%2Fsecrets", "/api/v1/secrets port=80"),
                                        ("services/web:http/proxy/x/../../../y/", "/y/ port=8080")])
def test_proxy_paths_that_climb_stay_on_the_pod(server: Path, path: str, asked: str) -> None:
    """As kube-apiserver's ProxyREST (path.Join under the pod's root): `..` and encoded slashes are cleaned,
    never above the pod's `/`, and nothing goes anywhere but the pod's kubelet."""
    import urllib.request
    url = __import__("yaml").safe_load(server.read_text())["clusters"][0]["cluster"]["server"]
    with urllib.request.urlopen(f"{url}/api/v1/namespaces/default/{path}") as r:
        assert r.read() == f"GET {asked}".encode()
