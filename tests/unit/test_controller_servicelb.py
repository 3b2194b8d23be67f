"""Who gets a LoadBalancer's ports and which addresses it shows (pure decisions)."""
from __future__ import annotations

from controller_manager.servicelb import desired_ingress, port_holder
from kubelab.v1 import objects_pb2 as pb


def node(name: str, ip: str, ready: bool = True, unschedulable: bool = False) -> pb.Node:
    n = pb.Node()
    n.metadata.name = name
    n.spec.unschedulable = unschedulable
    n.status.addresses.add(type="InternalIP", address=ip)
    n.status.conditions.add(type="Ready", status="True" if ready else "False")
    return n


def lb(name: str, created: str, *ports: int, type_: str = "LoadBalancer", ns: str = "default") -> pb.Service:
    s = pb.Service()
    s.metadata.name, s.metadata.namespace, s.metadata.uid = name, ns, f"uid-{ns}-{name}"
    s.metadata.creation_timestamp = created
    s.spec.type = type_
    for p in ports:
        s.spec.ports.add(port=p, protocol="TCP")
    return s


NODES = [node("n2", "10.0.0.2"), node("n1", "10.0.0.1"), node("n3", "10.0.0.3", ready=False),
         node("n4", "10.0.0.4", unschedulable=True)]


def test_a_load_balancer_shows_every_ready_schedulable_node() -> None:
    svc = lb("web", "2026-01-01T00:00:00Z", 80)
    assert desired_ingress(svc, NODES, [svc]) == ["10.0.0.1", "10.0.0.2"]


def test_other_types_show_nothing() -> None:
    svc = lb("web", "2026-01-01T00:00:00Z", 80, type_="NodePort")
    assert desired_ingress(svc, NODES, [svc]) == []


def test_the_older_service_keeps_a_shared_port() -> None:
    old, new = lb("a", "2026-01-01T00:00:00Z", 80, 443), lb("b", "2026-01-02T00:00:00Z", 8080, 443)
    others = [new, old]
    assert desired_ingress(old, NODES, others) == ["10.0.0.1", "10.0.0.2"]
    assert desired_ingress(new, NODES, others) == []
    holder, port = port_holder(new, others)  # type: ignore[misc]
    assert holder.metadata.name == "a" and port == (443, "TCP")


def test_a_pending_service_does_not_block_a_third() -> None:
    a, b, c = lb("a", "2026-01-01T00:00:00Z", 80), lb("b", "2026-01-02T00:00:00Z", 80, 90), \
        lb("c", "2026-01-03T00:00:00Z", 90)
    others = [a, b, c]
    assert desired_ingress(b, NODES, others) == []          # 80 is a's
    assert desired_ingress(c, NODES, others) == ["10.0.0.1", "10.0.0.2"]   # b never got 90


def test_same_age_breaks_ties_by_namespace_and_name() -> None:
    x, y = lb("x", "2026-01-01T00:00:00Z", 80, ns="a"), lb("x", "2026-01-01T00:00:00Z", 80, ns="b")
    assert desired_ingress(x, NODES, [x, y]) and not desired_ingress(y, NODES, [x, y])


async def test_pending_is_said_once_and_forgotten_when_it_clears() -> None:
    from controller_manager.servicelb import ServiceLBController
    from tests.harness.controller_manager import Harness
    h = Harness(ServiceLBController)
    first = h.client.put(lb("first", "2026-01-01T00:00:00Z", 80))
    second = h.client.put(lb("second", "2026-01-02T00:00:00Z", 80))
    h.seen(h.client.put(node("n1", "10.0.0.1")), first, second)
    for _ in range(3):                                 # reconciled again and again while pending
        await h.reconcile("default/second")
        h.sync_all()
    assert [e[0] for e in h.events if e[2] == "second"] == ["LoadBalancerPending"]
    assert "default/second" in h.controller._reported
    h.client.objects.pop(("Service", "default", "first"))  # the holder goes: the port is free
    h.sync_all()
    await h.reconcile("default/second")
    assert "default/second" not in h.controller._reported
    h.client.objects.pop(("Service", "default", "second"))
    h.sync_all()
    await h.reconcile("default/second")
    assert h.controller._reported == {}
