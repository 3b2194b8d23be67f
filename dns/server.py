"""The cluster DNS server: informers → `Records` snapshot → answers over UDP and TCP.

Pipeline:

    Service informer ──┐                      query (UDP datagram or TCP frame)
    Endpoints informer ┴─▶ dirty ─▶ records        │ dnslib parse (bad → FORMERR / dropped)
                         (rebuilt at the next       ▼
                          query after a change) dns.records.lookup
                                                     ├─ ours: A/SRV/CNAME, or NXDOMAIN/NODATA + SOA
                                                     └─ FORWARD: upstream (from resolv.conf), 2 s
                                                        timeout → SERVFAIL; no upstream → REFUSED

A question is always answered, and fast: nothing here waits longer than the
upstream timeout. Answers too big for a UDP reply are sent empty with the
TC bit, so the client asks again over TCP.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from dnslib import CNAME, QTYPE, RCODE, RR, SOA, SRV, A, DNSError, DNSHeader, DNSRecord
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubelab.client import Client
from kubelab.hostport import split_host_port
from kubelab.informer import Informer
from kubelab.serving import HealthServer, MetricsServer, forever, render_collectors

from . import records as rec

log = logging.getLogger(__name__)

UDP_MAX = 512                   # without EDNS; with it, the client's advertised size (capped below)
UDP_CAP = 4096
TCP_IDLE = 10.0


@dataclass
class Config:
    server: str
    token: str
    listen: str = "0.0.0.0:53"
    domain: str = "cluster.local"
    upstreams: list[str] = field(default_factory=list)   # host or host:port; empty: refuse other names
    ttl: int = 5
    upstream_timeout: float = 2.0
    health_address: str = ""
    metrics_address: str = ""


def resolv_conf_nameservers(path: str = "/etc/resolv.conf") -> list[str]:
    """The `nameserver` lines of a resolv.conf (what the DNS container itself uses)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


class Stats:
    def __init__(self) -> None:
        self.queries: dict[tuple[str, str], int] = {}       # (transport, rcode) → count
        self.forwarded = 0
        self.forward_failures = 0
        self.malformed = 0
        self.seconds = 0.0

    def count(self, transport: str, rcode: str) -> None:
        key = (transport, rcode)
        self.queries[key] = self.queries.get(key, 0) + 1


class DnsServer:
    def __init__(self, client: Client, config: Config) -> None:
        self.client = client
        self.config = config
        self.domain = rec.normalise(config.domain)
        self.services = Informer(client, "Service")
        self.endpoints = Informer(client, "Endpoints")
        self.records = rec.Records(self.domain)
        self.dirty = True
        self.stats = Stats()
        self.upstreams = [split_host_port(u, 53) for u in config.upstreams]
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.base_events.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------ life cycle
    async def start(self) -> int:
        for inf in (self.services, self.endpoints):
            inf.add_handlers(on_add=self._changed, on_update=lambda o, n: self._changed(n), on_delete=self._changed)
            inf.start()
        await asyncio.gather(self.services.wait_synced(), self.endpoints.wait_synced())
        host, port = split_host_port(self.config.listen, 53, min_port=0)
        loop = asyncio.get_running_loop()
        # TCP first: with port 0 it picks the port, and UDP takes the same one.
        self.tcp = await asyncio.start_server(self._tcp_client, host or "0.0.0.0", port, reuse_address=True)
        self.port = self.tcp.sockets[0].getsockname()[1]
        self.udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), local_addr=(host or "0.0.0.0",
                                                                                        self.port))
        log.info("cluster DNS for %s on %s:%d (udp, tcp); other names → %s", self.domain, host, self.port,
                 ", ".join(f"{h}:{p}" for h, p in self.upstreams) or "REFUSED")
        return self.port

    async def stop(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(self.services.stop(), self.endpoints.stop())

    def _changed(self, obj: Any) -> None:
        self.dirty = True

    def current_records(self) -> rec.Records:
        if self.dirty:
            self.dirty = False
            self.records = rec.build(self.services.list(), self.endpoints.store, self.domain)
        return self.records

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ answering
    async def answer(self, data: bytes, transport: str) -> bytes | None:
        """The reply to one query message (None: drop it, it was not a DNS query)."""
        t0 = time.perf_counter()
        try:
            reply, rcode = await self._answer(data, transport)
        finally:
            self.stats.seconds += time.perf_counter() - t0
        self.stats.count(transport, rcode)
        return reply

    async def _answer(self, data: bytes, transport: str) -> tuple[bytes | None, str]:
        try:
            req = DNSRecord.parse(data)
        except (DNSError, struct.error, IndexError, ValueError, UnicodeError):
            self.stats.malformed += 1
            if len(data) < 12:
                return None, "DROPPED"
            (qid,) = struct.unpack_from("!H", data)
            bad = DNSRecord(DNSHeader(id=qid, qr=1, ra=1, rcode=RCODE.FORMERR))
            return bad.pack(), "FORMERR"
        if req.header.qr or req.header.opcode != 0 or len(req.questions) != 1:
            reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, ra=1, rd=req.header.rd,
                                        rcode=RCODE.NOTIMP if req.header.opcode else RCODE.FORMERR))
            return reply.pack(), RCODE.get(reply.header.rcode)
        q = req.q
        qname = str(q.qname)
        qtype = QTYPE.get(q.qtype)
        ans = rec.lookup(self.current_records(), qname, str(qtype))
        if ans.rcode == rec.FORWARD:
            return await self._forward(req, data, transport)
        reply = req.reply()             # qr, aa, ra set; id and question copied
        ttl = self.config.ttl
        if ans.cname:
            reply.add_answer(RR(q.qname, QTYPE.CNAME, rdata=CNAME(ans.cname + "."), ttl=ttl))
        for ip in ans.a:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=ttl))
        for srv in ans.srv:
            reply.add_answer(RR(q.qname, QTYPE.SRV, rdata=SRV(0, 100, srv.port, srv.target + "."), ttl=ttl))
        if ans.rcode == rec.NXDOMAIN:
            reply.header.rcode = RCODE.NXDOMAIN
        if ans.rcode == rec.NXDOMAIN or not reply.rr:
            # Negative answers carry the zone's SOA, whose minimum (our TTL) bounds negative caching.
            reply.add_auth(RR(self.domain + ".", QTYPE.SOA, ttl=ttl, rdata=SOA(
                f"ns.dns.{self.domain}.", f"hostmaster.{self.domain}.", (1, 7200, 1800, 86400, ttl))))
        wire = reply.pack()
        if transport == "udp" and len(wire) > self._udp_limit(req):
            reply.rr, reply.auth, reply.ar = [], [], []
            reply.header.tc = 1
            wire = reply.pack()
        return wire, ans.rcode

    @staticmethod
    def _udp_limit(req: DNSRecord) -> int:
        for rr in req.ar:
            if rr.rtype == QTYPE.OPT:
                return max(UDP_MAX, min(int(rr.rclass), UDP_CAP))
        return UDP_MAX

    async def _forward(self, req: DNSRecord, data: bytes, transport: str) -> tuple[bytes, str]:
        if not self.upstreams:
            reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, ra=0, rd=req.header.rd, rcode=RCODE.REFUSED),
                              q=req.q)
            return reply.pack(), "REFUSED"
        self.stats.forwarded += 1
        per_try = self.config.upstream_timeout / len(self.upstreams)
        for host, port in self.upstreams:
            try:
                if transport == "tcp":
                    wire = await asyncio.wait_for(_tcp_query(data, host, port), per_try)
                else:
                    wire = await asyncio.wait_for(_udp_query(data, host, port), per_try)
                rcode = RCODE.get(wire[3] & 0x0F) if len(wire) >= 4 else "?"
                return wire, f"FORWARDED_{rcode}"
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
                log.debug("upstream %s:%d failed for %s: %r", host, port, req.q.qname, e)
        self.stats.forward_failures += 1
        reply = DNSRecord(DNSHeader(id=req.header.id, qr=1, ra=1, rd=req.header.rd, rcode=RCODE.SERVFAIL), q=req.q)
        return reply.pack(), "SERVFAIL"

    # ------------------------------------------------------------ TCP
    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                (length,) = struct.unpack("!H", head)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE)
                reply = await self.answer(data, "tcp")
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # ------------------------------------------------------------ metrics
    def metrics(self) -> str:
        return render_collectors(_Collector(self))


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server.spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.answer(data, "udp")
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class _UdpQuery(asyncio.DatagramProtocol):
    def __init__(self, qid: bytes) -> None:
        self.qid = qid
        self.result: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if data[:2] == self.qid and not self.result.done():
            self.result.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.result.done():
            self.result.set_exception(exc)


async def _udp_query(data: bytes, host: str, port: int) -> bytes:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: _UdpQuery(data[:2]), remote_addr=(host, port))
    try:
        transport.sendto(data)
        return await proto.result
    finally:
        transport.close()


async def _tcp_query(data: bytes, host: str, port: int) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(data)) + data)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        return await reader.readexactly(length)
    finally:
        writer.close()


class _Collector(Collector):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Any]:
        s = self.server.stats
        queries = CounterMetricFamily("kubelab_dns_queries", "Queries answered, per transport and result.",
                                      labels=["transport", "rcode"])
        for (transport, rcode), n in sorted(s.queries.items()):
            queries.add_metric([transport, rcode], n)
        yield queries
        yield CounterMetricFamily("kubelab_dns_forwarded", "Queries sent upstream.", value=s.forwarded)
        yield CounterMetricFamily("kubelab_dns_forward_failures", "Forwarded queries no upstream answered "
                                  "(SERVFAIL).", value=s.forward_failures)
        yield CounterMetricFamily("kubelab_dns_malformed", "Messages that did not parse.", value=s.malformed)
        yield CounterMetricFamily("kubelab_dns_answer_seconds", "Time spent answering.", value=s.seconds)
        yield GaugeMetricFamily("kubelab_dns_names", "Names in the cluster zone.",
                                value=len(self.server.records.names))


class Server:
    """The dns process, as kubelab.serving drives it: start (the DNS server, health, metrics) → run → stop."""

    def __init__(self, config: Config) -> None:
        self.client = Client(config.server, config.token)
        self.server = DnsServer(self.client, config)
        self.endpoints: list[HealthServer | MetricsServer] = []
        if config.health_address:
            self.endpoints.append(HealthServer(config.health_address))
        if config.metrics_address:
            self.endpoints.append(MetricsServer(config.metrics_address, self.server.metrics))

    async def start(self) -> None:
        await self.server.start()
        for endpoint in self.endpoints:
            await endpoint.start()

    async def run(self) -> None:
        await forever()

    async def stop(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.stop()
        await self.server.stop()
        await self.client.close()
