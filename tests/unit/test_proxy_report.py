"""What a node's proxy reports for `kubelab trace` (proxy/report.py): the pods it newly sends to, per
Endpoints, once; a Service that goes and comes back is new again; the queue is bounded and batched."""
from __future__ import annotations

from typing import Any

from kubelab.v1 import objects_pb2 as pb
from proxy import report
from proxy.balancer import ServicePortSpec

SPEC = ServicePortSpec("default", "web", "http", "TCP", "10.96.0.10", 80, 0, 0)


def endpoints(rv: str, pods: dict[str, str], port_name: str = "http", not_ready: tuple[str, ...] = ()) -> Any:
    ep = pb.Endpoints()
    ep.metadata.name, ep.metadata.namespace, ep.metadata.resource_version = "web", "default", rv
    sub = ep.subsets.add()
    sub.ports.add(name=port_name, port=8080, protocol="TCP")
    for uid, node in pods.items():
        sub.addresses.add(ip=f"10.0.0.{len(sub.addresses) + 1}", node_name=node,
                          target_ref=pb.ObjectReference(kind="Pod", uid=uid))
    for uid in not_ready:
        sub.not_ready_addresses.add(ip="10.0.1.1", target_ref=pb.ObjectReference(kind="Pod", uid=uid))
    return ep


def test_new_ready_pods_are_reported_once_per_endpoints_change() -> None:
    t = report.Tracker()
    assert t.observe({"default/web": (endpoints("5", {"a": "n1"}, not_ready=("c",)), [SPEC])}, "n1", now=0) == 1
    assert t.observe({"default/web": (endpoints("5", {"a": "n1"}), [SPEC])}, "n1", now=1) == 0
    assert t.observe({"default/web": (endpoints("6", {"a": "n1", "b": "n2"}), [SPEC])}, "n1", now=2) == 1
    rep = t.take("n1")
    assert rep is not None and rep.node_name == "n1"
    assert [(p.name, p.resource_version, list(p.pod_uids)) for p in rep.programmed] == [
        ("web", "5", ["a"]), ("web", "6", ["b"])]
    assert rep.programmed[1].time == "1970-01-01T00:00:02.000000Z"
    assert t.take("n1") is None


def test_a_port_no_spec_serves_and_a_local_policy_elsewhere_are_not_sent_to() -> None:
    t = report.Tracker()
    assert t.observe({"default/web": (endpoints("5", {"a": "n1"}, port_name="metrics"), [SPEC])}, "n1") == 0
    local = ServicePortSpec("default", "web", "http", "TCP", "10.96.0.10", 80, 0, 0,
                            internal_local=True, external_local=True)
    t.observe({"default/web": (endpoints("6", {"a": "n1", "b": "n2"}), [local])}, "n1")
    rep = t.take("n1")
    assert rep is not None and [list(p.pod_uids) for p in rep.programmed] == [["a"]]


def test_a_service_gone_and_back_is_reported_again_and_the_queue_is_bounded(monkeypatch: Any) -> None:
    t = report.Tracker()
    t.observe({"default/web": (endpoints("5", {"a": "n1"}), [SPEC])}, "n1")
    t.observe({}, "n1")
    t.observe({"default/web": (endpoints("7", {"a": "n1"}), [SPEC])}, "n1")
    assert len(t.pending) == 2
    monkeypatch.setattr(report, "MAX_PENDING", 1)
    monkeypatch.setattr(report, "MAX_PER_CALL", 1)
    t.observe({}, "n1")
    t.observe({"default/web": (endpoints("8", {"a": "n1"}), [SPEC])}, "n1")
    assert len(t.pending) == 1 and t.dropped == 2
    assert t.take("n1") is not None and t.take("n1") is None
