"""The kubelet's probes (kubelet.probes) against real sockets on loopback: what succeeds, what fails and
with which message (as Kubernetes' prober words it), and the thresholds that flip readiness, liveness and
startup."""
from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from kubelab.client import new_object
from kubelet.probes import ProbeManager, http_get, resolve_port, run_probe, tcp_socket, value_of
from lab.local import free_port
from tests.harness.docker_kubelet import FakeRuntime
from tests.harness.wait import wait_for

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def answering(status_line: bytes, seen: list[bytes] | None = None) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = b""
        while not request.endswith(b"\r\n\r\n"):
            chunk = await reader.read(1024)
            if not chunk:
                break
            request += chunk
        if seen is not None:
            seen.append(request)
        writer.write(status_line + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()
    return handle


@pytest.fixture
async def http_server() -> AsyncIterator[Callable[[bytes], Awaitable[int]]]:
    servers: list[asyncio.Server] = []

    async def start(status_line: bytes) -> int:
        server, port = await serve(answering(status_line))
        servers.append(server)
        return port
    yield start
    for s in servers:
        s.close()
        await s.wait_closed()


# ---------------------------------------------------------------- ports
def container(*ports: tuple[str, int]) -> Any:
    c = new_object("Pod", "p", "default").spec.containers.add(name="web", image="kubelab/web")
    for name, number in ports:
        c.ports.add(name=name, container_port=number)
    return c


def test_a_port_is_a_number_or_the_name_of_a_container_port() -> None:
    c = container(("http", 8080), ("metrics", 9090))
    p = c.readiness_probe.http_get.port
    p.number_value = 81
    assert value_of(p) == 81
    p.string_value = "8081"
    assert value_of(p) == 8081
    p.string_value = "metrics"
    assert value_of(p) == "metrics" and resolve_port("metrics", c) == 9090
    assert value_of(None) is None
    assert resolve_port(80, c) == 80
    with pytest.raises(ValueError, match="port 'admin' is not a port of container web"):
        resolve_port("admin", c)


# ---------------------------------------------------------------- httpGet
@pytest.mark.parametrize("status_line,ok,message", [
    pytest.param(b"HTTP/1.1 200 OK", True, "", id="200"),
    pytest.param(b"HTTP/1.1 302 Found", True, "", id="redirect-is-success"),
    pytest.param(b"HTTP/1.1 399 Whatever", True, "", id="399"),
    pytest.param(b"HTTP/1.1 404 Not Found", False, "HTTP probe failed with statuscode: 404", id="404"),
    pytest.param(b"HTTP/1.1 503 Service Unavailable", False, "HTTP probe failed with statuscode: 503", id="503"),
])
async def test_http_get_succeeds_on_2xx_and_3xx(http_server: Any, status_line: bytes, ok: bool,
                                               message: str) -> None:
    port = await http_server(status_line)
    assert await http_get("127.0.0.1", port, "/healthz", "HTTP", [], 2.0) == (ok, message)


async def test_http_get_sends_kubernetes_headers_unless_the_probe_sets_them() -> None:
    seen: list[bytes] = []
    server, port = await serve(answering(b"HTTP/1.1 200 OK", seen))
    async with server:
        assert (await http_get("127.0.0.1", port, "/ready", "HTTP", [], 2.0))[0]
        assert (await http_get("127.0.0.1", port, "/", "HTTP", [("Host", "web.example"), ("X-Probe", "1")],
                               2.0))[0]
    first, second = (r.decode() for r in seen)
    assert first.startswith("GET /ready HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in first and "User-Agent: kube-probe/1.30\r\n" in first
    assert "Accept: */*\r\n" in first
    assert "Host: web.example\r\n" in second and f"Host: 127.0.0.1:{port}" not in second
    assert "X-Probe: 1\r\n" in second


async def test_http_get_failures_are_worded_as_kubernetes_does() -> None:
    port = free_port()
    ok, msg = await http_get("127.0.0.1", port, "/", "HTTP", [], 2.0)
    assert not ok and msg == f'Get "http://127.0.0.1:{port}/": dial tcp 127.0.0.1:{port}: connect: connection refused'

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
    server, port = await serve(silent)
    async with server:
        ok, msg = await http_get("127.0.0.1", port, "/x", "HTTP", [], 0.3)
    assert not ok and msg == (f'Get "http://127.0.0.1:{port}/x": context deadline exceeded '
                              f'(Client.Timeout exceeded while awaiting headers)')
    server, port = await serve(answering(b"SSH-2.0-OpenSSH"))
    async with server:
        ok, msg = await http_get("127.0.0.1", port, "/", "HTTP", [], 2.0)
    assert not ok and "malformed HTTP response" in msg


# ---------------------------------------------------------------- tcpSocket
async def test_tcp_socket_succeeds_when_the_port_accepts() -> None:
    server, port = await serve(answering(b""))
    async with server:
        assert await tcp_socket("127.0.0.1", port, 1.0) == (True, "")
    port = free_port()
    assert await tcp_socket("127.0.0.1", port, 1.0) == (False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


# ---------------------------------------------------------------- one probe of a container
def exec_runtime(results: dict[str, tuple[int | None, str]]) -> FakeRuntime:
    """The runtime an exec probe asks, answering each one-word command from a table."""
    rt = FakeRuntime(time.time)
    rt.exec_results = {(command,): result for command, result in results.items()}
    return rt


async def test_run_probe_by_handler(http_server: Any) -> None:
    port = await http_server(b"HTTP/1.1 200 OK")
    c = container(("http", port))
    probe = c.readiness_probe
    probe.http_get.port.string_value = "http"
    probe.http_get.path = "/ready"
    assert await run_probe(exec_runtime({}), probe, c, "cid", "127.0.0.1") == (True, "")
    probe.http_get.port.string_value = "nope"
    assert await run_probe(exec_runtime({}), probe, c, "cid", "127.0.0.1") == (
        False, "port 'nope' is not a port of container web")
    tcp = c.liveness_probe
    tcp.tcp_socket.port.number_value = port
    assert (await run_probe(exec_runtime({}), tcp, c, "cid", "127.0.0.1"))[0]
    rt = exec_runtime({"true": (0, "fine"), "false": (1, ""), "cat": (1, "no such file\n"), "sleep": (None, "")})
    ex = c.startup_probe
    for command, want in [("true", (True, "fine")), ("false", (False, "command ['false'] exited with 1")),
                          ("cat", (False, "no such file")), ("sleep", (False, "command ['sleep'] timed out"))]:
        ex.exec.command[:] = [command]
        assert await run_probe(rt, ex, c, "cid", "127.0.0.1") == want
    empty = new_object("Pod", "p", "default").spec.containers.add(name="x").readiness_probe
    empty.period_seconds = 1
    assert await run_probe(rt, empty, c, "cid", "", ) == (False, "probe has no handler")


# ---------------------------------------------------------------- the manager's thresholds
async def test_readiness_flips_after_success_threshold_and_liveness_asks_for_a_restart(http_server: Any) -> None:
    port = await http_server(b"HTTP/1.1 200 OK")
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    c = p.spec.containers.add(name="web", image="kubelab/web")
    c.readiness_probe.http_get.port.number_value = port
    c.readiness_probe.period_seconds = 1
    c.readiness_probe.success_threshold = 1
    c.liveness_probe.tcp_socket.port.number_value = free_port()
    c.liveness_probe.period_seconds = 1
    c.liveness_probe.failure_threshold = 1
    events: list[tuple[str, str, str]] = []
    woken: list[str] = []
    manager = ProbeManager(FakeRuntime(time.time), lambda pod, *e: events.append(e), woken.append)
    try:
        manager.sync(p, c, "cid-1", 0.0, "127.0.0.1")
        assert not manager.ready("uid-1", "web", "cid-1") and manager.started("uid-1", "web", "cid-1")
        await wait_for(lambda: manager.ready("uid-1", "web", "cid-1")
                       and manager.must_restart("uid-1", "web", "cid-1") == "liveness",
                       5.0, 0.02, "ready, and a liveness restart asked for")
        assert "uid-1" in woken
        assert not manager.ready("uid-1", "web", "cid-2")           # another instance: not this one's result
        assert events[0][:2] == ("Warning", "Unhealthy") and events[0][2].startswith("Liveness probe failed: dial tcp")
    finally:
        manager.stop()


async def test_a_startup_probe_holds_readiness_back_until_it_succeeds(http_server: Any) -> None:
    port = await http_server(b"HTTP/1.1 200 OK")
    p = new_object("Pod", "web", "shop")
    p.metadata.uid = "uid-1"
    c = p.spec.containers.add(name="web", image="kubelab/web")
    c.startup_probe.tcp_socket.port.number_value = port
    c.startup_probe.period_seconds = 1
    manager = ProbeManager(FakeRuntime(time.time), lambda *a: None, lambda uid: None)
    try:
        manager.sync(p, c, "cid-1", 0.0, "127.0.0.1")
        # No readiness probe: ready as soon as started; not started before the startup probe passed.
        assert not manager.started("uid-1", "web", "cid-1") and not manager.ready("uid-1", "web", "cid-1")
        await wait_for(lambda: manager.started("uid-1", "web", "cid-1"), 5.0, 0.02, "started")
        assert manager.ready("uid-1", "web", "cid-1")
        manager.forget_pod("uid-1")
        assert not manager.started("uid-1", "web", "cid-1")
    finally:
        manager.stop()

