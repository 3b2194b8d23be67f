"""The EndpointSlice kind without a server: the manifest form, defaulting and validation
(apiserver/registry/discovery.py), its Table row and kubectl describe's Endpoints line (kubelab/tables.py)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apiserver.http.serialize import to_wire
from apiserver.registry import strategies
from kubelab import kinds, manifests, tables
from kubelab.v1 import objects_pb2 as pb

S = strategies()["EndpointSlice"]

SLICE = """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abcde, namespace: default}
addressType: %s
endpoints:
- addresses: [%s]
  conditions: {ready: false}
ports: %s
"""


def parsed(address_type: str = "IPv4", address: str = "10.0.0.1", ports: str = "[{port: 80}]") -> pb.EndpointSlice:
    [doc] = manifests.parse_text(SLICE % (address_type, address, ports), "t")
    return doc.obj


def errors_of(obj: pb.EndpointSlice) -> list[str]:
    S.default(obj)
    return [str(e) for e in S.validate(obj)]


def test_kind_is_discovery_v1_without_short_name() -> None:
    info = kinds.lookup("endpointslices")
    assert (info.api_version, info.kind, info.short_names, info.namespaced) == \
        ("discovery.k8s.io/v1", "EndpointSlice", (), True)
    assert kinds.lookup("endpointslice.discovery.k8s.io") is info


def test_defaults_and_wire_form() -> None:
    obj = parsed()
    assert errors_of(obj) == []
    wire = to_wire(obj)
    # the defaulted port name "" and protocol are written; ready: false is written (a pointer in Kubernetes)
    assert wire["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]
    assert wire["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {"ready": False}}]
    empty = pb.EndpointSlice(address_type="IPv4")
    empty.metadata.name = "x"
    assert to_wire(empty)["endpoints"] == []          # required in the schema: never left out


@pytest.mark.parametrize("obj,expected", [
    pytest.param(parsed("IPX"), 'addressType: Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"',
                 id="address-type"),
    pytest.param(parsed("IPv4", "fe80::1"), 'endpoints[0].addresses[0]: Invalid value: "fe80::1": must be a valid '
                 "IPv4 address", id="family"),
    pytest.param(parsed("IPv6", "10.0.0.1"), 'endpoints[0].addresses[0]: Invalid value: "10.0.0.1": must be a valid '
                 "IPv6 address", id="family6"),
    pytest.param(parsed("FQDN", "localhost"), 'endpoints[0].addresses[0]: Invalid value: "localhost": should be a '
                 "domain with at least two segments separated by dots", id="fqdn"),
    pytest.param(parsed("IPv4", "10.0.0.1", "[{name: a}, {name: a}]"), 'ports[1].name: Duplicate value: "a"',
                 id="dup-port-name"),
    pytest.param(parsed("IPv4", "10.0.0.1", "[{name: Web}]"), 'ports[0].name: Invalid value: "Web"', id="port-name"),
    pytest.param(parsed("IPv4", "10.0.0.1", "[{protocol: HTTP}]"),
                 'ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"', id="protocol"),
])
def test_validation_in_kubernetes_words(obj: pb.EndpointSlice, expected: str) -> None:
    assert any(e.startswith(expected) for e in errors_of(obj)), errors_of(obj)


def test_address_type_is_immutable_and_generation_follows_changes() -> None:
    old = parsed()
    S.default(old)
    S.prepare_create(old)
    assert old.metadata.generation == 1
    new = pb.EndpointSlice()
    new.CopyFrom(old)
    new.address_type = "IPv6"
    del new.endpoints[0].addresses[:]
    new.endpoints[0].addresses.append("fd00::1")
    assert 'addressType: Invalid value: "IPv6": field is immutable' in [str(e) for e in S.validate_update(new, old)]
    same = pb.EndpointSlice()
    same.CopyFrom(old)
    same.metadata.annotations["a"] = "b"
    S.prepare_update(same, old)
    assert same.metadata.generation == 1                      # metadata only: the same generation
    same.endpoints[0].conditions.ready = True
    S.prepare_update(same, old)
    assert same.metadata.generation == 2


def _slice(ports: list[tuple[str | None, int | None]], endpoints: list[tuple[str, bool | None]]) -> pb.EndpointSlice:
    eps = pb.EndpointSlice(address_type="IPv4")
    eps.metadata.name, eps.metadata.creation_timestamp = "web-abcde", "2026-01-01T00:00:00Z"
    for name, port in ports:
        p = eps.ports.add()
        if name is not None:
            p.name = name
        if port is not None:
            p.port = port
    for address, ready in endpoints:
        e = eps.endpoints.add(addresses=[address])
        if ready is not None:
            e.conditions.ready = ready
    return eps


def test_table_row_as_kubectl_prints_it() -> None:
    at = datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc)
    td = tables.table_def("EndpointSlice")
    assert td.headers == ("NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE")
    many = _slice([("a", 80), ("b", None), (None, None), ("d", 9)], [(f"10.0.0.{i}", True) for i in range(1, 6)])
    assert td.row(many, False, at) == ["web-abcde", "IPv4", "80,b,* + 1 more...",
                                       "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "5m"]
    assert td.row(_slice([], []), False, at)[2:4] == ["<unset>", "<unset>"]


def test_describe_endpoints_line_from_slices() -> None:
    s1 = _slice([("http", 8080), ("metrics", 9090)], [("10.0.0.1", True), ("10.0.0.2", False), ("10.0.0.3", None)])
    assert tables.format_endpoint_slices([s1], "http") == "10.0.0.1:8080,10.0.0.3:8080"   # unset ready counts
    assert tables.format_endpoint_slices([s1], "none") == ""
    assert tables.format_endpoint_slices([], "http") == "<none>"
    s2 = _slice([("http", 8080)], [(f"10.0.1.{i}", True) for i in range(1, 4)])
    assert tables.format_endpoint_slices([s1, s2], "http") == "10.0.0.1:8080,10.0.0.3:8080,10.0.1.1:8080 + 2 more..."
    headless = _slice([], [("10.0.0.7", True)])
    assert tables.format_endpoint_slices([headless], "") == "10.0.0.7"
