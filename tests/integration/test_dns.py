"""The cluster DNS as a process, on real etcd + apiserver, asked over real UDP and TCP.

Two DNS processes: the one under test (domain cluster.local) forwards other
names to a second one (domain upstream.test, which refuses the rest), so
forwarding is checked without leaving the machine.
"""
from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from tests.harness.cluster import ensure_namespace, kill, spawn
from tests.harness.wait import wait_for
from lab import local as launcher
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

from .conftest import open_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NS = "dnstest"


@pytest.fixture(scope="module")
def cluster(local_cluster: dict[str, Any]) -> Iterator[dict[str, Any]]:
    upstream_port, port = launcher.free_port(), launcher.free_port()
    upstream = spawn(local_cluster, "dns.main", ["--listen", f"127.0.0.1:{upstream_port}", "--cluster-domain",
                                                 "upstream.test", "--upstream", "none", "-v"], "dns-upstream")
    main = spawn(local_cluster, "dns.main", ["--listen", f"127.0.0.1:{port}", "--upstream",
                                             f"127.0.0.1:{upstream_port}", "-vv"], "dns")
    try:
        for p in (upstream_port, port):
            _wait_listening(p)
        yield {**local_cluster, "dns_port": port, "upstream_port": upstream_port, "dns": main}
    finally:
        kill(main, 15)
        kill(upstream, 15)


def _wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            query(port, "kubernetes.default.svc.cluster.local", tcp=True)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
async def client(cluster: dict[str, Any]) -> AsyncIterator[Client]:
    async with open_client(cluster) as c:
        await ensure_namespace(c, NS)
        yield c


def query(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    return DNSRecord.parse(q.send("127.0.0.1", port, tcp=tcp, timeout=3))


async def aquery(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    return await asyncio.to_thread(query, port, name, qtype, tcp)


def ips(r: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in r.rr if rr.rtype == QTYPE.A)


async def service(client: Client, name: str, cluster_ip: str = "", ns: str = NS) -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, ns
    if cluster_ip:
        s.spec.cluster_ip = cluster_ip
    p = s.spec.ports.add(name="http", port=80, protocol="TCP")
    p.target_port.number_value = 80
    return await client.create(s)


async def wait_answer(port: int, name: str, want: list[str], tcp: bool = False) -> DNSRecord:
    async def ok() -> DNSRecord | None:
        r = await aquery(port, name, tcp=tcp)
        return r if ips(r) == want else None
    return await wait_for(ok, 15, what=f"{name} to resolve to {want}")


async def test_service_names_resolve_over_udp_and_tcp(client: Client, cluster: dict[str, Any]) -> None:
    svc = await service(client, "my-first-service")
    ip = svc.spec.cluster_ip
    port = cluster["dns_port"]
    r = await wait_answer(port, f"my-first-service.{NS}.svc.cluster.local", [ip])
    assert RCODE.get(r.header.rcode) == "NOERROR" and r.header.aa
    assert ips(await aquery(port, f"my-first-service.{NS}.svc.cluster.local.", tcp=True)) == [ip]
    # AAAA for an existing name: NODATA, not NXDOMAIN (resolvers ask both)
    r = await aquery(port, f"my-first-service.{NS}.svc.cluster.local", "AAAA")
    assert RCODE.get(r.header.rcode) == "NOERROR" and not r.rr
    # SRV for the named port
    r = await aquery(port, f"_http._tcp.my-first-service.{NS}.svc.cluster.local", "SRV")
    assert [rr.rdata.port for rr in r.rr] == [80]


async def test_search_path_forms(client: Client, cluster: dict[str, Any]) -> None:
    """What a pod's resolver asks for `svc` and `svc.ns` with the kubelet's search path and ndots:5."""
    svc = await service(client, "search-me")
    port = cluster["dns_port"]
    search = [f"{NS}.svc.cluster.local", "svc.cluster.local", "cluster.local"]

    async def resolve(short: str) -> list[str]:
        for suffix in search:           # ndots:5: every short name walks the search list first
            r = await aquery(port, f"{short}.{suffix}")
            if RCODE.get(r.header.rcode) == "NOERROR" and r.rr:
                return ips(r)
            assert RCODE.get(r.header.rcode) == "NXDOMAIN", r
        return []
    await wait_answer(port, f"search-me.{NS}.svc.cluster.local", [svc.spec.cluster_ip])
    assert await resolve("search-me") == [svc.spec.cluster_ip]
    assert await resolve(f"search-me.{NS}") == [svc.spec.cluster_ip]


async def test_unknown_names_are_nxdomain_quickly(client: Client, cluster: dict[str, Any]) -> None:
    port = cluster["dns_port"]
    t0 = time.monotonic()
    r = await aquery(port, f"nothing-here.{NS}.svc.cluster.local")
    assert RCODE.get(r.header.rcode) == "NXDOMAIN"
    assert r.auth and r.auth[0].rtype == QTYPE.SOA
    assert time.monotonic() - t0 < 1


async def test_headless_service_answers_ready_pod_ips(client: Client, cluster: dict[str, Any]) -> None:
    await service(client, "db", cluster_ip="None")
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = "db", NS
    sub = ep.subsets.add()
    sub.addresses.add(ip="172.28.1.5", hostname="db-0")
    sub.addresses.add(ip="172.28.1.4")
    sub.not_ready_addresses.add(ip="172.28.1.9")
    sub.ports.add(name="http", port=80, protocol="TCP")
    await client.create(ep)
    port = cluster["dns_port"]
    await wait_answer(port, f"db.{NS}.svc.cluster.local", ["172.28.1.4", "172.28.1.5"])
    assert ips(await aquery(port, f"db-0.db.{NS}.svc.cluster.local")) == ["172.28.1.5"]
    # a pod that leaves the ready set leaves the answer
    ep = await client.get("Endpoints", "db", NS)
    del ep.subsets[0].addresses[1]
    await client.update(ep)
    await wait_answer(port, f"db.{NS}.svc.cluster.local", ["172.28.1.5"])


async def test_deleted_service_becomes_nxdomain(client: Client, cluster: dict[str, Any]) -> None:
    svc = await service(client, "short-lived")
    port = cluster["dns_port"]
    await wait_answer(port, f"short-lived.{NS}.svc.cluster.local", [svc.spec.cluster_ip])
    await client.delete("Service", "short-lived", NS)

    async def gone() -> bool:
        return RCODE.get((await aquery(port, f"short-lived.{NS}.svc.cluster.local")).header.rcode) == "NXDOMAIN"
    await wait_for(gone, 15, what="NXDOMAIN after the delete")


async def test_other_names_are_forwarded_or_refused(client: Client, cluster: dict[str, Any]) -> None:
    svc = await service(client, "elsewhere")
    port = cluster["dns_port"]
    # the upstream (another kubelab-dns, domain upstream.test) knows this name
    await wait_answer(cluster["upstream_port"], f"elsewhere.{NS}.svc.upstream.test", [svc.spec.cluster_ip])
    r = await aquery(port, f"elsewhere.{NS}.svc.upstream.test")
    assert ips(r) == [svc.spec.cluster_ip]
    r = await aquery(port, f"elsewhere.{NS}.svc.upstream.test", tcp=True)
    assert ips(r) == [svc.spec.cluster_ip]
    # the upstream refuses what is not its own, at once; that answer is passed on
    t0 = time.monotonic()
    r = await aquery(port, "example.org")
    assert RCODE.get(r.header.rcode) == "REFUSED"
    assert time.monotonic() - t0 < 1


async def test_garbage_gets_formerr_and_the_server_lives_on(cluster: dict[str, Any]) -> None:
    port = cluster["dns_port"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"\xbe\xef" + b"\xff" * 30, ("127.0.0.1", port))
        data = await asyncio.to_thread(s.recv, 512)
    assert data[:2] == b"\xbe\xef" and RCODE.get(data[3] & 0x0F) == "FORMERR"
    r = await aquery(port, "kubernetes.default.svc.cluster.local")
    assert ips(r) and RCODE.get(r.header.rcode) == "NOERROR"
    assert cluster["dns"].poll() is None
    log = (Path(cluster["state_path"]) / "logs" / "dns.log").read_text(errors="replace")
    assert "Traceback" not in log
