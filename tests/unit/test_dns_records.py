"""dns.records: Services and Endpoints → names → answers; dns.server's message handling without a network."""
from __future__ import annotations

import asyncio
import struct

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dns import records as rec
from dns.server import Config, DnsServer, resolv_conf_nameservers
from kubelab.hostport import split_host_port
from kubelab.v1 import objects_pb2 as pb
from tests.harness.fake_client import FakeClient


def service(name: str, ns: str = "default", cluster_ip: str = "10.96.0.10", type_: str = "ClusterIP",
            ports: list[tuple[str, int]] | None = None, external_name: str = "") -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, ns
    s.spec.cluster_ip, s.spec.type, s.spec.external_name = cluster_ip, type_, external_name
    for pname, port in ports or [("", 80)]:
        s.spec.ports.add(name=pname, port=port, protocol="TCP")
    return s


def endpoints(name: str, ns: str, ready: list[tuple[str, str]], not_ready: list[str] = ()) -> pb.Endpoints:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = name, ns
    sub = ep.subsets.add()
    for ip, hostname in ready:
        sub.addresses.add(ip=ip, hostname=hostname)
    for ip in not_ready:
        sub.not_ready_addresses.add(ip=ip)
    sub.ports.add(name="", port=5432, protocol="TCP")
    return ep


SERVICES = [
    service("my-first-service", "handson", "10.96.12.34", ports=[("http", 80)]),
    service("db", "handson", "None"),
    service("pending", "handson", ""),
    service("docs", "handson", "", "ExternalName", external_name="example.org."),
]
ENDPOINTS = {"handson/db": endpoints("db", "handson", [("172.28.1.5", "db-0"), ("172.28.1.4", "")],
                                     not_ready=["172.28.1.9"])}
RECORDS = rec.build(SERVICES, ENDPOINTS, "cluster.local")


@pytest.mark.parametrize("qname, qtype, want", [
    pytest.param("my-first-service.handson.svc.cluster.local.", "A",
                 rec.Answer(rec.NOERROR, a=("10.96.12.34",)), id="fqdn"),
    pytest.param("MY-FIRST-SERVICE.Handson.svc.Cluster.Local", "A",
                 rec.Answer(rec.NOERROR, a=("10.96.12.34",)), id="case-insensitive"),
    pytest.param("my-first-service.handson.svc.cluster.local", "AAAA", rec.Answer(rec.NOERROR), id="aaaa-nodata"),
    pytest.param("_http._tcp.my-first-service.handson.svc.cluster.local", "SRV",
                 rec.Answer(rec.NOERROR, srv=(rec.Srv(80, "my-first-service.handson.svc.cluster.local"),)),
                 id="srv-named-port"),
    pytest.param("db.handson.svc.cluster.local", "A",
                 rec.Answer(rec.NOERROR, a=("172.28.1.4", "172.28.1.5")), id="headless-ready-only"),
    pytest.param("db-0.db.handson.svc.cluster.local", "A", rec.Answer(rec.NOERROR, a=("172.28.1.5",)),
                 id="headless-hostname"),
    pytest.param("docs.handson.svc.cluster.local", "A", rec.Answer(rec.NOERROR, cname="example.org"),
                 id="external-name"),
    pytest.param("pending.handson.svc.cluster.local", "A", rec.Answer(rec.NXDOMAIN), id="no-cluster-ip-yet"),
    pytest.param("nope.handson.svc.cluster.local", "A", rec.Answer(rec.NXDOMAIN), id="unknown-service"),
    pytest.param("my-first-service.other.svc.cluster.local", "A", rec.Answer(rec.NXDOMAIN), id="wrong-namespace"),
    # The search path's first try for a name like `example.com` must fail cleanly so the resolver moves on.
    pytest.param("example.com.handson.svc.cluster.local", "A", rec.Answer(rec.NXDOMAIN), id="search-miss"),
    pytest.param("handson.svc.cluster.local", "A", rec.Answer(rec.NOERROR), id="namespace-nonterminal"),
    pytest.param("svc.cluster.local", "A", rec.Answer(rec.NOERROR), id="svc-nonterminal"),
    pytest.param("cluster.local", "SOA", rec.Answer(rec.NOERROR), id="domain"),
    pytest.param("example.org", "A", rec.Answer(rec.FORWARD), id="outside"),
    pytest.param("notcluster.local", "A", rec.Answer(rec.FORWARD), id="suffix-but-not-subdomain"),
])
def test_lookup(qname: str, qtype: str, want: rec.Answer) -> None:
    assert rec.lookup(RECORDS, qname, qtype) == want


def test_another_cluster_domain() -> None:
    r = rec.build([service("web")], {}, "kubelab.test.")
    assert rec.lookup(r, "web.default.svc.kubelab.test", "A").a == ("10.96.0.10",)
    assert rec.lookup(r, "web.default.svc.cluster.local", "A").rcode == rec.FORWARD


def test_odd_objects_are_skipped() -> None:
    nameless = service("")
    r = rec.build([nameless, service("ok")], {"default/ok": None}, "cluster.local")
    assert set(r.names) == {"ok.default.svc.cluster.local"}


def test_resolv_conf_and_hostport(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "resolv.conf"
    p.write_text("# docker\nnameserver 127.0.0.11\nsearch x\nnameserver 10.0.0.2\noptions ndots:0\n")
    assert resolv_conf_nameservers(str(p)) == ["127.0.0.11", "10.0.0.2"]
    assert resolv_conf_nameservers(str(tmp_path / "missing")) == []
    assert split_host_port("10.0.0.2", 53) == ("10.0.0.2", 53)
    assert split_host_port("10.0.0.2:5353", 53) == ("10.0.0.2", 5353)
    assert split_host_port("[::1]:5353", 53) == ("::1", 5353)


# ---- message handling (DnsServer.answer) over the records above, no sockets

def server(upstreams: list[str] | None = None) -> DnsServer:
    # the API is never asked: the records are given
    s = DnsServer(FakeClient(), Config(server="", token="", upstreams=upstreams or []))
    s.records, s.dirty = RECORDS, False
    return s


def ask(s: DnsServer, name: str, qtype: str = "A", transport: str = "udp") -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    wire = asyncio.run(s.answer(q.pack(), transport))
    assert wire is not None
    reply = DNSRecord.parse(wire)
    assert reply.header.id == q.header.id and reply.header.qr == 1
    return reply


def test_answer_a_record() -> None:
    r = ask(server(), "my-first-service.handson.svc.cluster.local")
    assert RCODE.get(r.header.rcode) == "NOERROR" and r.header.aa == 1
    assert [str(rr.rdata) for rr in r.rr] == ["10.96.12.34"] and r.rr[0].ttl == 5


def test_answer_nxdomain_carries_the_soa() -> None:
    r = ask(server(), "nope.handson.svc.cluster.local")
    assert RCODE.get(r.header.rcode) == "NXDOMAIN" and not r.rr
    assert r.auth and r.auth[0].rtype == QTYPE.SOA


def test_outside_names_are_refused_without_upstream() -> None:
    r = ask(server(), "example.org")
    assert RCODE.get(r.header.rcode) == "REFUSED"


def test_big_udp_answers_are_truncated() -> None:
    many = [(f"172.28.2.{i}", "") for i in range(1, 60)]
    s = server()
    s.records = rec.build([service("big", "handson", "None")], {"handson/big": endpoints("big", "handson", many)})
    r = ask(s, "big.handson.svc.cluster.local")
    assert r.header.tc == 1 and not r.rr and r.questions
    assert len(ask(s, "big.handson.svc.cluster.local", transport="tcp").rr) == 59


@pytest.mark.parametrize("data, rcode", [
    pytest.param(b"\x12\x34" + b"\xff" * 20, "FORMERR", id="garbage-with-header"),
    pytest.param(struct.pack("!HHHHHH", 7, 0x0100, 2, 0, 0, 0) + b"\x00\x00\x01\x00\x01" * 2, "FORMERR",
                 id="two-questions"),
    pytest.param(struct.pack("!HHHHHH", 7, 0x2800, 0, 0, 0, 0), "NOTIMP", id="update-opcode"),
])
def test_bad_messages_get_a_clear_error(data: bytes, rcode: str) -> None:
    wire = asyncio.run(server().answer(data, "udp"))
    assert wire is not None
    assert RCODE.get(wire[3] & 0x0F) == rcode


def test_runt_packets_are_dropped() -> None:
    assert asyncio.run(server().answer(b"\x01", "udp")) is None
