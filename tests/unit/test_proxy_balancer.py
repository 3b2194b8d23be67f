"""proxy.balancer: round robin, ClientIP affinity, down marks and the changes they report, backend swaps,
odd Services, addresses; proxy.lb's check of its backend list."""
from __future__ import annotations

import pytest

from kubelab.v1 import objects_pb2 as pb
from proxy.balancer import (DEFAULT_AFFINITY_SECONDS, Backend, Balancer, affinity_seconds, parse_backend,
                            ready_backends, service_ports)
from proxy.lb import balancer_of
from proxy.tcp import logfmt

A, B, C = Backend("10.0.0.1", 80), Backend("10.0.0.2", 80), Backend("10.0.0.3", 80)


def picks(b: Balancer, n: int, client: str = "", now: float = 0.0) -> list[Backend | None]:
    return [b.pick(client, now) for _ in range(n)]


def test_round_robin_cycles_in_order() -> None:
    b = Balancer((A, B, C))
    assert picks(b, 6) == [A, B, C, A, B, C]


def test_no_backends_gives_none() -> None:
    assert Balancer().pick("1.2.3.4", 0.0) is None


def test_excluded_backends_are_not_picked_and_all_excluded_gives_none() -> None:
    b = Balancer((A, B))
    assert b.pick("", 0.0, frozenset({A})) == B
    assert b.pick("", 0.0, frozenset({A})) == B
    assert b.pick("", 0.0, frozenset({A, B})) is None


def test_a_down_backend_is_skipped_and_the_others_share_its_turns() -> None:
    b = Balancer((A, B, C), down_seconds=2.0)
    b.mark_down(C, now=10.0)
    got = picks(b, 6, now=10.5)
    assert C not in got
    assert got.count(A) == got.count(B) == 3


def test_a_down_mark_expires() -> None:
    b = Balancer((A, B), down_seconds=2.0)
    b.mark_down(A, now=10.0)
    assert picks(b, 2, now=11.0) == [B, B]
    assert set(picks(b, 2, now=12.5)) == {A, B}


def test_all_down_are_tried_anyway_the_one_back_soonest_first() -> None:
    b = Balancer((A, B, C), down_seconds=3.0)
    b.mark_down(B, 0.0)
    b.mark_down(A, 1.0)
    b.mark_down(C, 2.0)
    assert picks(b, 2, now=2.5) == [B, B]
    assert b.pick("", 2.5, frozenset({B})) == A        # B refused this connection again: A is next back
    assert set(picks(b, 4, now=3.5)) == {B}           # B's rest is over: only it is up
    assert set(picks(b, 4, now=4.5)) == {A, B}        # A's too: the two take turns, C still resting


def test_a_backend_is_said_down_once_until_it_takes_a_connection_again() -> None:
    b = Balancer((A, B), down_seconds=3.0)
    assert b.mark_down(A, 0.0) is True              # a change: logged as backend-down
    assert b.mark_down(A, 5.0) is False             # tried after its rest, still refusing: no new change
    b.expire(100.0)                                 # the mark expires; it is still failing
    assert b.mark_down(A, 100.0) is False
    assert b.mark_up(A) is True                     # back: a change, logged as backend-up
    assert b.mark_up(A) is False
    assert b.mark_up(B) is False                    # never failed


def test_a_success_clears_the_down_mark_at_once() -> None:
    b = Balancer((A, B), down_seconds=30.0)
    b.mark_down(A, 0.0)
    b.mark_up(A)                    # it took a connection as the last resort
    assert not b.is_down(A, 1.0)
    assert sorted(picks(b, 4, now=1.0)) == [A, A, B, B]


def test_state_says_each_backends_state() -> None:
    b = Balancer((A, B), down_seconds=3.0)
    b.mark_down(B, 0.0)
    assert [b.state(x, 1.0) for x in (A, B)] == ["up", "down"]
    assert [b.state(x, 4.0) for x in (A, B)] == ["up", "down, due a try"]


def test_a_swap_forgets_that_a_removed_backend_was_failing() -> None:
    b = Balancer((A, B))
    b.mark_down(A, 0.0)
    b.set_backends((B,))
    b.set_backends((A, B))
    assert b.mark_down(A, 1.0) is True


def test_marks_of_a_backend_not_served_are_ignored() -> None:
    b = Balancer((A,))
    assert b.mark_down(B, 0.0) is False and B not in b.down_until


def test_client_ip_affinity_sticks_until_timeout() -> None:
    b = Balancer((A, B, C), affinity_seconds=100)
    first = b.pick("192.168.0.7", 0.0)
    assert all(b.pick("192.168.0.7", t) == first for t in (1.0, 50.0, 120.0))   # each use refreshes
    other = b.pick("192.168.0.8", 121.0)
    assert other != first                       # another client still gets round robin
    assert b.pick("192.168.0.7", 300.0) is not None and b.affinity["192.168.0.7"][1] == 300.0


def test_affinity_expires_after_idle_timeout() -> None:
    b = Balancer((A, B, C), affinity_seconds=10)
    assert b.pick("c1", 0.0) == A
    assert b.pick("c2", 0.0) == B
    assert b.pick("c1", 11.0) == C             # idle too long: round robin again, and remembered
    assert b.pick("c1", 12.0) == C


def test_affinity_moves_off_a_down_backend() -> None:
    b = Balancer((A, B), affinity_seconds=100)
    assert b.pick("c", 0.0) == A
    b.mark_down(A, 1.0)
    assert b.pick("c", 1.5) == B
    assert b.pick("c", 5.0) == B               # the new choice sticks


def test_swapping_backends_forgets_removed_ones() -> None:
    b = Balancer((A, B, C), affinity_seconds=100)
    assert b.pick("c", 0.0) == A
    b.mark_down(B, 0.0)
    b.set_backends((B, C))
    assert "c" not in b.affinity
    assert B in b.down_until
    assert A not in picks(b, 10, now=0.5)


def test_swap_keeps_the_index_in_range() -> None:
    b = Balancer((A, B, C))
    picks(b, 2)
    b.set_backends((A,))
    assert picks(b, 2) == [A, A]


def test_expire_drops_old_affinity_and_marks() -> None:
    b = Balancer((A, B), affinity_seconds=10)
    b.pick("c", 0.0)
    b.mark_down(B, 0.0)
    b.expire(100.0)
    assert not b.affinity and not b.down_until


def test_changing_the_timeout_resets_affinity() -> None:
    b = Balancer((A, B), affinity_seconds=10)
    b.pick("c", 0.0)
    b.set_affinity(20)
    assert not b.affinity


def make_service(spec: dict, name: str = "web", namespace: str = "default") -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = name, namespace
    s.spec.cluster_ip = spec.get("clusterIP", "10.96.0.10")
    s.spec.type = spec.get("type", "ClusterIP")
    s.spec.session_affinity = spec.get("sessionAffinity", "")
    if "timeout" in spec:
        s.spec.session_affinity_config.client_ip.timeout_seconds = spec["timeout"]
    for p in spec.get("ports", [{"port": 80}]):
        sp = s.spec.ports.add(name=p.get("name", ""), port=p["port"], protocol=p.get("protocol", ""),
                              node_port=p.get("nodePort", 0))
        sp.target_port.number_value = p.get("targetPort", p["port"])
    return s


@pytest.mark.parametrize("spec, want", [
    pytest.param({}, 0, id="none"),
    pytest.param({"sessionAffinity": "ClientIP"}, DEFAULT_AFFINITY_SECONDS, id="clientip-default"),
    pytest.param({"sessionAffinity": "ClientIP", "timeout": 60}, 60, id="clientip-60"),
    pytest.param({"sessionAffinity": "None", "timeout": 60}, 0, id="explicit-none"),
])
def test_affinity_seconds(spec: dict, want: int) -> None:
    assert affinity_seconds(make_service(spec)) == want


def test_service_ports_cluster_ip_and_node_port() -> None:
    ports = service_ports(make_service({"type": "NodePort", "ports": [
        {"name": "http", "port": 80, "nodePort": 30080}, {"name": "dns", "port": 53, "protocol": "UDP",
                                                          "nodePort": 30053}]}))
    assert [(p.key, p.cluster_ip, p.port, p.node_port, p.protocol) for p in ports] == [
        ("default/web:http", "10.96.0.10", 80, 30080, "TCP"), ("default/web:dns", "10.96.0.10", 53, 30053, "UDP")]


@pytest.mark.parametrize("spec", [
    pytest.param({"clusterIP": "None"}, id="headless"),
    pytest.param({"clusterIP": ""}, id="no-ip-yet"),
    pytest.param({"type": "ExternalName"}, id="external-name"),
    pytest.param({"ports": [{"port": 0}, {"port": 70000}]}, id="ports-out-of-range"),
    pytest.param({"ports": []}, id="no-ports"),
])
def test_services_with_nothing_to_serve(spec: dict) -> None:
    assert service_ports(make_service(spec)) == []


def test_load_balancer_ingress_and_external_ips() -> None:
    lb = make_service({"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]})
    lb.status.load_balancer.ingress.add(ip="172.28.0.4")
    lb.status.load_balancer.ingress.add(ip="172.28.0.3")
    lb.status.load_balancer.ingress.add(hostname="lb.example")
    lb.spec.external_ips.append("192.0.2.10")
    (p,) = service_ports(lb)
    assert p.node_port == 30080 and p.external_ips == ("172.28.0.3", "172.28.0.4", "192.0.2.10")
    # ingress of a Service that is no longer a LoadBalancer is not served
    lb.spec.type = "ClusterIP"
    (p,) = service_ports(lb)
    assert p.external_ips == ("192.0.2.10",) and p.node_port == 0


def test_node_port_only_for_node_port_types() -> None:
    (p,) = service_ports(make_service({"ports": [{"port": 80, "nodePort": 30080}]}))
    assert p.node_port == 0


def endpoints(subsets: list[dict]) -> pb.Endpoints:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    for s in subsets:
        sub = ep.subsets.add()
        for ip in s.get("ready", []):
            sub.addresses.add(ip=ip)
        for ip in s.get("not_ready", []):
            sub.not_ready_addresses.add(ip=ip)
        for name, port in s.get("ports", []):
            sub.ports.add(name=name, port=port, protocol="TCP")
    return ep


def test_ready_backends_only_ready_addresses_of_the_named_port() -> None:
    ep = endpoints([{"ready": ["10.0.0.2", "10.0.0.1"], "not_ready": ["10.0.0.9"], "ports": [("http", 8080),
                                                                                         ("metrics", 9090)]},
                    {"ready": ["10.0.0.3"], "ports": [("http", 8081)]}])
    assert ready_backends(ep, "http") == (Backend("10.0.0.1", 8080), Backend("10.0.0.2", 8080),
                                          Backend("10.0.0.3", 8081))
    assert ready_backends(ep, "metrics") == (Backend("10.0.0.1", 9090), Backend("10.0.0.2", 9090))
    assert ready_backends(ep, "other") == ()
    assert ready_backends(ep, "http", "UDP") == ()


def test_ready_backends_of_nothing() -> None:
    assert ready_backends(None, "") == ()
    assert ready_backends(endpoints([{"ready": [""], "ports": [("", 0)]}]), "") == ()


def test_local_traffic_policies_keep_this_nodes_endpoints() -> None:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    sub = ep.subsets.add()
    sub.addresses.add(ip="10.0.0.1", node_name="node1")
    sub.addresses.add(ip="10.0.0.2", node_name="node2")
    sub.ports.add(name="http", port=8080, protocol="TCP")
    assert ready_backends(ep, "http", node="node2") == (Backend("10.0.0.2", 8080),)
    assert ready_backends(ep, "http", node="node3") == ()
    assert len(ready_backends(ep, "http")) == 2
    svc = make_service({"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]})
    (p,) = service_ports(svc)
    assert not p.external_local and not p.internal_local
    svc.spec.external_traffic_policy = "Local"
    (p,) = service_ports(svc)
    assert p.external_local and not p.internal_local
    svc.spec.internal_traffic_policy = "Local"
    (p,) = service_ports(svc)
    assert p.internal_local


def test_a_load_balancer_needs_distinct_backends() -> None:
    with pytest.raises(ValueError, match="at least one backend"):
        balancer_of(())
    with pytest.raises(ValueError, match="named twice"):
        balancer_of((A, A))
    assert balancer_of((A, B), down_seconds=3.0).down_seconds == 3.0


@pytest.mark.parametrize("text, want", [("apiserver:8443", Backend("apiserver", 8443)),
                                        ("127.0.0.1:6443", Backend("127.0.0.1", 6443)),
                                        ("[::1]:8443", Backend("::1", 8443)),
                                        (" apiserver2:8443 ", Backend("apiserver2", 8443))])
def test_parse_backend(text: str, want: Backend) -> None:
    assert parse_backend(text) == want


def test_a_listen_address_may_take_a_free_port() -> None:
    assert parse_backend("127.0.0.1:0", listen=True) == Backend("127.0.0.1", 0)


@pytest.mark.parametrize("text", ["apiserver", "apiserver:", ":8443", "apiserver:http", "apiserver:70000",
                                  "apiserver:0"])
def test_parse_backend_refuses_what_is_not_host_port(text: str) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        parse_backend(text)


def test_log_fields_quote_what_needs_it() -> None:
    assert logfmt(event="backend-down", backend=A, error="Connection refused", retry_after="3s") == \
        'event=backend-down backend=10.0.0.1:80 error="Connection refused" retry_after=3s'
    assert logfmt(a="", b='say "hi"', c="x=y") == 'a="" b="say \\"hi\\"" c="x=y"'
