"""Cluster DNS records: Services and Endpoints → a name table → the answer to one question.

Where it sits: `dns.server` keeps a `Records` snapshot built by `build()`
from its informers' caches (rebuilt when they change) and asks `lookup()`
for each question; it forwards what `lookup` says is not ours. Nothing
here does I/O.

Names (Kubernetes' DNS specification, the parts a lab uses), with domain
`cluster.local`:

    <svc>.<ns>.svc.cluster.local               A     the ClusterIP; for a headless
                                                     Service (clusterIP None) every
                                                     ready endpoint's address
    <hostname>.<svc>.<ns>.svc.cluster.local    A     a headless endpoint with a hostname
    _<port>._<proto>.<svc>.<ns>.svc.cluster.local SRV a named port
    <svc>.<ns>.svc.cluster.local               CNAME an ExternalName Service's name

A name of the domain that exists with no record of the asked type (an
AAAA question for a Service, or `<ns>.svc.cluster.local`) is NODATA
(NOERROR, empty), not NXDOMAIN, so a resolver asking A and AAAA together
keeps the A. Anything else under the domain is NXDOMAIN; names outside it
are someone else's (`FORWARD`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

NOERROR, NXDOMAIN, FORWARD = "NOERROR", "NXDOMAIN", "FORWARD"


@dataclass(frozen=True)
class Srv:
    port: int
    target: str


@dataclass
class Entry:
    a: list[str] = field(default_factory=list)
    cname: str = ""
    srv: list[Srv] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    rcode: str                      # NOERROR, NXDOMAIN or FORWARD
    a: tuple[str, ...] = ()
    cname: str = ""
    srv: tuple[Srv, ...] = ()


@dataclass
class Records:
    domain: str
    names: dict[str, Entry] = field(default_factory=dict)
    nonterminals: set[str] = field(default_factory=set)     # names that exist only as parents


def normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _entry(records: Records, name: str) -> Entry:
    entry = records.names.get(name)
    if entry is None:
        entry = records.names[name] = Entry()
        parent = name
        while "." in parent and parent != records.domain:
            parent = parent.split(".", 1)[1]
            records.nonterminals.add(parent)
    return entry


def ready_ips(endpoints: Any | None) -> list[tuple[str, str]]:
    """(ip, hostname) of the ready addresses of an Endpoints object, sorted and without duplicates."""
    if endpoints is None:
        return []
    seen: dict[str, str] = {}
    for subset in endpoints.subsets:
        for a in subset.addresses:
            if a.ip:
                seen.setdefault(a.ip, a.hostname)
    return sorted(seen.items())


def build(services: Iterable[Any], endpoints: dict[str, Any], domain: str = "cluster.local") -> Records:
    """The name table of a set of Services; `endpoints` maps `ns/name` to the Endpoints object."""
    domain = normalise(domain)
    records = Records(domain)
    records.nonterminals.update({domain, f"svc.{domain}"})
    for svc in services:
        ns, name = svc.metadata.namespace, svc.metadata.name
        if not ns or not name:
            continue
        fqdn = f"{name}.{ns}.svc.{domain}".lower()
        spec = svc.spec
        if spec.type == "ExternalName":
            if spec.external_name:
                _entry(records, fqdn).cname = normalise(spec.external_name)
            continue
        headless = spec.cluster_ip == "None"
        if headless:
            entry = _entry(records, fqdn)
            for ip, hostname in ready_ips(endpoints.get(f"{ns}/{name}")):
                entry.a.append(ip)
                if hostname:
                    _entry(records, f"{hostname}.{fqdn}".lower()).a.append(ip)
        elif spec.cluster_ip:
            _entry(records, fqdn).a.append(spec.cluster_ip)
        else:
            continue                    # no address yet: nothing to answer
        for p in spec.ports:
            if p.name and 0 < p.port < 65536:
                proto = (p.protocol or "TCP").lower()
                _entry(records, f"_{p.name}._{proto}.{fqdn}".lower()).srv.append(Srv(p.port, fqdn))
    return records


def lookup(records: Records, qname: str, qtype: str) -> Answer:
    """The answer to one question (`qtype` as text: A, AAAA, SRV, CNAME, ANY, ...)."""
    name = normalise(qname)
    domain = records.domain
    if name != domain and not name.endswith("." + domain):
        return Answer(FORWARD)
    entry = records.names.get(name)
    if entry is None:
        return Answer(NOERROR if name in records.nonterminals else NXDOMAIN)
    if entry.cname:
        # A CNAME answers every type (the resolver follows it).
        return Answer(NOERROR, cname=entry.cname)
    if qtype in ("A", "ANY"):
        return Answer(NOERROR, a=tuple(entry.a), srv=tuple(entry.srv) if qtype == "ANY" else ())
    if qtype == "SRV":
        return Answer(NOERROR, srv=tuple(entry.srv))
    return Answer(NOERROR)
