"""The node proxy as a process, on real etcd + apiserver, forwarding to real TCP servers on loopback.

The apiserver's service range is 127.96.0.0/16 here: loopback addresses are
local already, so the proxy binds ClusterIPs without adding anything to the
machine's lo. Backends are echo servers on 127.0.0.2..4 (they first send
their name, then echo); Services have no selector and the tests write their
Endpoints by hand, as the endpoints controller would.
"""
from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import pytest

from tests.harness.cluster import ensure_namespace, kill, spawn
from tests.harness.wait import wait_for
from kubelab import errors
from lab import local as launcher
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

from .conftest import launched, open_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NS = "proxytest"
BACKEND_IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.sendall(f"{self.server.name}\n".encode())      # type: ignore[attr-defined]
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve_on_backend_ips(make: Callable[[tuple[str, int]], socketserver.BaseServer]) -> Iterator[dict[str, Any]]:
    """One server per backend address, all on one port (as pods of one Deployment have), each named by its IP."""
    servers = []
    port = 0
    for ip in BACKEND_IPS:
        srv = make((ip, port))
        port = srv.server_address[1]
        srv.name = ip                           # type: ignore[attr-defined]
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    try:
        yield {"port": port, "ips": BACKEND_IPS}
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Any]]:
    yield from serve_on_backend_ips(lambda addr: _Server(addr, _Echo))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with launched(tmp_path_factory.mktemp("proxy"), remove_context=False, components=(), write_kubeconfig=False,
                  extra_args={"apiserver": ["--service-cluster-ip-range", "127.96.0.0/16"]}) as info:
        metrics_port = launcher.free_port()
        proc = spawn(info, "proxy.main", ["--node-name", "test-node", "--bind-address", "127.0.0.1",
                                          "--service-cluster-ip-range", "127.96.0.0/16", "--no-exit-on-lost-network",
                                          "--metrics-address", f"127.0.0.1:{metrics_port}", "-vv"], "proxy")
        info["proxy"] = proc
        info["metrics"] = metrics_port
        try:
            yield info
        finally:
            kill(proc, 15)


@pytest.fixture
async def client(cluster: dict[str, Any]) -> AsyncIterator[Client]:
    async with open_client(cluster) as c:
        await ensure_namespace(c, NS)
        yield c


def proxy_log(cluster: dict[str, Any]) -> str:
    return (Path(cluster["state_path"]) / "logs" / "proxy.log").read_text(errors="replace")[-4000:]


# ---------------------------------------------------------------- helpers
async def make_service(client: Client, name: str, port: int = 80, target: int = 0, type_: str = "ClusterIP",
                       affinity: str = "", timeout: int = 0) -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, NS
    s.spec.type = type_
    if affinity:
        s.spec.session_affinity = affinity
        if timeout:
            s.spec.session_affinity_config.client_ip.timeout_seconds = timeout
    p = s.spec.ports.add(name="http", port=port, protocol="TCP")
    p.target_port.number_value = target or port
    return await client.create(s)


async def set_endpoints(client: Client, name: str, ips: list[str], port: int, not_ready: list[str] = ()) -> None:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = name, NS
    if ips or not_ready:
        sub = ep.subsets.add()
        for ip in ips:
            sub.addresses.add(ip=ip)
        for ip in not_ready:
            sub.not_ready_addresses.add(ip=ip)
        sub.ports.add(name="http", port=port, protocol="TCP")
    try:
        cur = await client.get("Endpoints", name, NS)
        ep.metadata.resource_version = cur.metadata.resource_version
        await client.update(ep)
    except errors.NotFound:
        await client.create(ep)


def hello(host: str, port: int, timeout: float = 3.0) -> str:
    """Connect, read the backend's name line (blocking: the proxy is another process)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        return f.readline().decode().strip()


async def ahello(host: str, port: int) -> str:
    return await asyncio.to_thread(hello, host, port)


async def wait_serving(host: str, port: int, timeout: float = 20.0) -> str:
    async def ok() -> str:
        try:
            return await ahello(host, port)
        except OSError:
            return ""
    return await wait_for(ok, timeout, what=f"the proxy to answer on {host}:{port}")


async def wait_closed(host: str, port: int, timeout: float = 20.0) -> None:
    async def refused() -> bool:
        try:
            await ahello(host, port)
            return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    await wait_for(refused, timeout, what=f"{host}:{port} to refuse connections")


# ---------------------------------------------------------------- tests
async def test_round_robin_over_ready_endpoints(client: Client, backends: dict[str, Any]) -> None:
    svc = await make_service(client, "rr", 80, backends["port"])
    await set_endpoints(client, "rr", backends["ips"], backends["port"], not_ready=["127.0.0.5"])
    ip = svc.spec.cluster_ip
    assert ip.startswith("127.96.")
    await wait_serving(ip, 80)

    async def all_three() -> list[str]:
        got = [await ahello(ip, 80) for _ in range(6)]
        return got if sorted(set(got)) == BACKEND_IPS else []
    got = await wait_for(all_three, 20, what="answers from all three backends")
    # round robin: each backend exactly twice in six, in a repeating order; the not-ready one never
    assert {g: got.count(g) for g in got} == {b: 2 for b in BACKEND_IPS}
    assert got[:3] == got[3:]


async def test_client_ip_affinity(client: Client, backends: dict[str, Any]) -> None:
    svc = await make_service(client, "sticky", 81, backends["port"], affinity="ClientIP", timeout=60)
    await set_endpoints(client, "sticky", backends["ips"], backends["port"])
    first = await wait_serving(svc.spec.cluster_ip, 81)
    got = {await ahello(svc.spec.cluster_ip, 81) for _ in range(8)}
    assert got == {first}


async def test_removed_endpoint_gets_no_new_connections_but_open_ones_finish(
        client: Client, backends: dict[str, Any]) -> None:
    svc = await make_service(client, "drain", 82, backends["port"])
    await set_endpoints(client, "drain", backends["ips"], backends["port"])
    ip = svc.spec.cluster_ip
    await wait_serving(ip, 82)
    # open one connection to each backend and keep them
    conns: dict[str, socket.socket] = {}
    for _ in range(10):
        s = await asyncio.to_thread(socket.create_connection, (ip, 82), 3)
        name = (await asyncio.to_thread(s.makefile("rb").readline)).decode().strip()
        if name in conns:
            s.close()
        else:
            conns[name] = s
        if len(conns) == 3:
            break
    assert sorted(conns) == BACKEND_IPS
    gone = BACKEND_IPS[0]
    await set_endpoints(client, "drain", BACKEND_IPS[1:], backends["port"])

    async def avoided() -> bool:
        return all([await ahello(ip, 82) != gone for _ in range(6)])
    await wait_for(avoided, 10, what=f"new connections to avoid {gone}")
    assert gone not in {await ahello(ip, 82) for _ in range(10)}
    # the connection opened before still works both ways
    s = conns[gone]
    s.sendall(b"still there?\n")
    assert (await asyncio.to_thread(s.recv, 100)) == b"still there?\n"
    for s in conns.values():
        s.close()


async def test_node_port_opens_and_closes_with_the_service(client: Client, backends: dict[str, Any]) -> None:
    svc = await make_service(client, "np", 83, backends["port"])
    await set_endpoints(client, "np", backends["ips"][:1], backends["port"])
    await wait_serving(svc.spec.cluster_ip, 83)
    # ClusterIP → NodePort, as `kubectl apply` of seed 001's changed manifest does
    svc = await client.get("Service", "np", NS)
    svc.spec.type = "NodePort"
    svc = await client.update(svc)
    node_port = svc.spec.ports[0].node_port
    assert 30000 <= node_port <= 32767
    assert await wait_serving("127.0.0.1", node_port) == BACKEND_IPS[0]
    # back to ClusterIP: the NodePort closes, the ClusterIP stays
    svc.spec.type = "ClusterIP"
    svc.spec.ports[0].node_port = 0
    svc = await client.update(svc)
    await wait_closed("127.0.0.1", node_port)
    assert await ahello(svc.spec.cluster_ip, 83) == BACKEND_IPS[0]
    # deleted: the ClusterIP listener goes too
    await client.delete("Service", "np", NS)
    await wait_closed(svc.spec.cluster_ip, 83)


async def test_load_balancer_ingress_on_this_node_is_served(client: Client, backends: dict[str, Any]) -> None:
    """The lab's service load balancer publishes node addresses as ingress; the node owning one listens there."""
    port = launcher.free_port()
    svc = await make_service(client, "lb", port, backends["port"], type_="LoadBalancer")
    await set_endpoints(client, "lb", backends["ips"][1:2], backends["port"])
    svc.status.load_balancer.ingress.add(ip="127.0.0.1")          # local: served on 127.0.0.1:<port>
    svc.status.load_balancer.ingress.add(ip="203.0.113.7")        # not this node's: ignored, no error
    await client.update_status(svc)
    assert await wait_serving("127.0.0.1", port) == BACKEND_IPS[1]
    svc = await client.get("Service", "lb", NS)
    del svc.status.load_balancer.ingress[:]
    await client.update_status(svc)
    await wait_closed("127.0.0.1", port)
    await client.delete("Service", "lb", NS)


async def test_local_traffic_policies_use_this_nodes_endpoints_only(client: Client,
                                                                     backends: dict[str, Any]) -> None:
    """externalTrafficPolicy Local: the NodePort serves the endpoints on this node (test-node) only;
    internalTrafficPolicy Local does the same for the ClusterIP."""
    svc = await make_service(client, "local", 86, backends["port"], type_="NodePort")
    svc.spec.external_traffic_policy = "Local"
    svc = await client.update(svc)
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = "local", NS
    sub = ep.subsets.add()
    sub.addresses.add(ip=BACKEND_IPS[0], node_name="test-node")
    sub.addresses.add(ip=BACKEND_IPS[1], node_name="another-node")
    sub.ports.add(name="http", port=backends["port"], protocol="TCP")
    await client.create(ep)
    node_port, ip = svc.spec.ports[0].node_port, svc.spec.cluster_ip
    await wait_serving("127.0.0.1", node_port)
    assert {await ahello("127.0.0.1", node_port) for _ in range(6)} == {BACKEND_IPS[0]}
    assert {await ahello(ip, 86) for _ in range(6)} == set(BACKEND_IPS[:2])     # internal stays Cluster
    svc = await client.get("Service", "local", NS)
    svc.spec.internal_traffic_policy = "Local"
    await client.update(svc)

    async def cluster_ip_local() -> bool:
        return {await ahello(ip, 86) for _ in range(4)} == {BACKEND_IPS[0]}
    await wait_for(cluster_ip_local, 20, what="the ClusterIP to use this node's endpoint only")
    # the local endpoint moves to another node: nothing here serves it, the NodePort closes connections
    ep = await client.get("Endpoints", "local", NS)
    ep.subsets[0].addresses[0].node_name = "another-node"
    await client.update(ep)

    async def dropped() -> bool:
        try:
            return await ahello("127.0.0.1", node_port) == ""
        except OSError:
            return True
    await wait_for(dropped, 20, what="the NodePort to drop traffic without a local endpoint")
    await client.delete("Service", "local", NS)


async def test_service_without_endpoints_closes_connections_at_once(client: Client) -> None:
    svc = await make_service(client, "empty", 84, 8080)

    async def listening() -> bool:
        try:
            t0 = time.monotonic()
            data = await ahello(svc.spec.cluster_ip, 84)
            return data == "" and time.monotonic() - t0 < 2
        except ConnectionResetError:
            return True
        except ConnectionRefusedError:
            return False
    await wait_for(listening, 20, what="a prompt close from a service with no endpoints")


async def test_refusing_backend_is_skipped(client: Client, backends: dict[str, Any], cluster: dict[str, Any]) -> None:
    # 127.0.0.9 has nothing listening on the backends' port: connects there are refused
    svc = await make_service(client, "halfdead", 85, backends["port"])
    await set_endpoints(client, "halfdead", ["127.0.0.9", BACKEND_IPS[1]], backends["port"])
    await wait_serving(svc.spec.cluster_ip, 85)
    got = [await ahello(svc.spec.cluster_ip, 85) for _ in range(6)]
    assert got == [BACKEND_IPS[1]] * 6
    text = await asyncio.to_thread(_http_get, cluster["metrics"], "/metrics")
    assert f'kubelab_proxy_backend_connect_failures_total{{service="{NS}/halfdead:http"}}' in text
    line = next(ln for ln in text.splitlines()
                if ln.startswith(f'kubelab_proxy_backend_connect_failures_total{{service="{NS}/halfdead:http"}}'))
    assert float(line.split()[-1]) >= 1


def _http_get(port: int, path: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks).decode()


# ---------------------------------------------------------------- UDP
class _UdpEcho(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        sock.sendto(f"{self.server.name}:".encode() + data, self.client_address)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def udp_backends() -> Iterator[dict[str, Any]]:
    yield from serve_on_backend_ips(lambda addr: socketserver.ThreadingUDPServer(addr, _UdpEcho))


async def dns_like_service(client: Client, name: str, udp_port: int, tcp_port: int, ips: list[str]) -> pb.Service:
    """Port 53 over UDP ("dns") and TCP ("dns-tcp"), as kube-dns has it; Endpoints written by hand."""
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, NS
    for pname, proto, target in (("dns", "UDP", udp_port), ("dns-tcp", "TCP", tcp_port)):
        p = s.spec.ports.add(name=pname, port=53, protocol=proto)
        p.target_port.number_value = target
    svc = await client.create(s)
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = name, NS
    if ips:
        sub = ep.subsets.add()
        for ip in ips:
            sub.addresses.add(ip=ip)
        sub.ports.add(name="dns", port=udp_port, protocol="UDP")
        sub.ports.add(name="dns-tcp", port=tcp_port, protocol="TCP")
    await client.create(ep)
    return svc


def udp_ask(sock: socket.socket, ip: str, port: int, payload: bytes) -> tuple[str, tuple[str, int]]:
    sock.sendto(payload, (ip, port))
    data, addr = sock.recvfrom(65536)
    return data.decode(), addr


async def test_udp_sessions_round_robin_and_replies_come_from_the_cluster_ip(
        client: Client, backends: dict[str, Any], udp_backends: dict[str, Any]) -> None:
    svc = await dns_like_service(client, "dnsish", udp_backends["port"], backends["port"], BACKEND_IPS)
    ip = svc.spec.cluster_ip
    assert await wait_serving(ip, 53) in BACKEND_IPS          # the TCP port of the same number

    def clients(n: int) -> list[tuple[str, tuple[str, int]]]:
        out = []
        for i in range(n):                                     # a new client address each time: a new session
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(2)
                out.append(udp_ask(sock, ip, 53, f"q{i}".encode()))
        return out
    answers = await asyncio.to_thread(clients, 6)
    assert {addr for _, addr in answers} == {(ip, 53)}        # as the client addressed it
    names = [a.split(":")[0] for a, _ in answers]
    assert sorted(set(names)) == BACKEND_IPS and names[:3] == names[3:]
    assert [a.split(":", 1)[1] for a, _ in answers] == [f"q{i}" for i in range(6)]

    def one_client() -> tuple[list[str], str]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2)
            burst = [udp_ask(sock, ip, 53, b"x")[0].split(":")[0] for _ in range(5)]
            time.sleep(1.0)                                    # past the 250 ms idle timeout: the session ends
            return burst, udp_ask(sock, ip, 53, b"x")[0].split(":")[0]
    burst, after_idle = await asyncio.to_thread(one_client)
    assert len(set(burst)) == 1                                # one session, one backend
    assert after_idle != burst[0]                              # a new session: round robin moved on


async def test_udp_without_endpoints_is_dropped(client: Client, backends: dict[str, Any],
                                                udp_backends: dict[str, Any], cluster: dict[str, Any]) -> None:
    svc = await dns_like_service(client, "dnsnone", udp_backends["port"], backends["port"], [])
    await wait_for(lambda: _listening(cluster, "dnsnone"), 20, what="the proxy to serve dnsnone")

    def ask() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            try:
                return udp_ask(sock, svc.spec.cluster_ip, 53, b"q")[0]
            except socket.timeout:
                return "timeout"
    assert await asyncio.to_thread(ask) == "timeout"
    text = await asyncio.to_thread(_http_get, cluster["metrics"], "/metrics")
    assert f'kubelab_proxy_no_backend_total{{service="{NS}/dnsnone:dns"}} 1.0' in text


async def _listening(cluster: dict[str, Any], name: str) -> bool:
    log = (Path(cluster["state_path"]) / "logs" / "proxy.log").read_text(errors="replace")
    return f"serving {NS}/{name}:dns on" in log


async def test_proxy_still_running(cluster: dict[str, Any]) -> None:
    """After every odd object above the process is alive (no crash on bad input)."""
    assert cluster["proxy"].poll() is None, proxy_log(cluster)
    assert "Traceback" not in proxy_log(cluster)
