"""Endpoints: which pods, which addresses list, which ports (controller_manager/endpoints.py)."""
from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from controller_manager.endpoints import EndpointsController, compute_subsets, find_port
from tests.harness.controller_manager import Harness
from kubelab.v1 import objects_pb2 as pb
from kubelab import timeutil


def service(*ports: tuple[str, int, int | str | None], selector: dict[str, str] | None = None,
            headless: bool = False) -> pb.Service:
    s = pb.Service(api_version="v1", kind="Service")
    s.metadata.name, s.metadata.namespace = "web", "default"
    s.metadata.labels["team"] = "a"
    s.spec.selector.update({"app": "web"} if selector is None else selector)
    s.spec.cluster_ip = "None" if headless else "10.96.0.10"
    for name, port, target in ports:
        sp = s.spec.ports.add(name=name, port=port, protocol="TCP")
        if isinstance(target, int):
            sp.target_port.CopyFrom(struct_pb2.Value(number_value=target))
        elif isinstance(target, str):
            sp.target_port.CopyFrom(struct_pb2.Value(string_value=target))
    return s


def pod(name: str, ip: str, ready: bool = True, ports: dict[str, int] | None = None, terminating: bool = False,
        phase: str = "Running", node: str = "n1") -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace, p.metadata.uid = name, "default", f"uid-{name}"
    p.metadata.labels["app"] = "web"
    p.spec.node_name = node
    c = p.spec.containers.add(name="c", image="x")
    for pname, n in (ports or {}).items():
        c.ports.add(name=pname, container_port=n, protocol="TCP")
    p.status.phase, p.status.pod_ip = phase, ip
    p.status.conditions.add(type="Ready", status="True" if ready else "False")
    if terminating:
        p.metadata.deletion_timestamp = timeutil.fmt(1_700_000_000)
    return p


@pytest.mark.parametrize("target,ports,expected", [
    pytest.param(8080, {}, 8080, id="number"),
    pytest.param(None, {}, 80, id="unset-means-port"),
    pytest.param("http", {"http": 8000}, 8000, id="named"),
    pytest.param("http", {"metrics": 9000}, None, id="named-missing"),
    pytest.param("9090", {}, 9090, id="numeric-string"),
])
def test_find_port(target: int | str | None, ports: dict[str, int], expected: int | None) -> None:
    svc = service(("web", 80, target))
    assert find_port(pod("p", "10.0.0.1", ports=ports), svc.spec.ports[0]) == expected


def test_ready_not_ready_terminating_and_unassigned() -> None:
    svc = service(("web", 80, 8080))
    subsets = compute_subsets(svc, [pod("b", "10.0.0.2"), pod("a", "10.0.0.1"), pod("u", "10.0.0.3", ready=False),
                                    pod("t", "10.0.0.4", terminating=True), pod("n", ""),
                                    pod("f", "10.0.0.5", phase="Failed")])
    assert len(subsets) == 1
    s = subsets[0]
    assert [a.ip for a in s.addresses] == ["10.0.0.1", "10.0.0.2"]
    assert [a.ip for a in s.not_ready_addresses] == ["10.0.0.3"]
    a = s.addresses[0]
    assert (a.node_name, a.target_ref.kind, a.target_ref.name, a.target_ref.uid) == ("n1", "Pod", "a", "uid-a")
    assert [(p.name, p.port, p.protocol) for p in s.ports] == [("web", 8080, "TCP")]


def test_named_ports_split_subsets_by_resolved_port() -> None:
    svc = service(("http", 80, "http"))
    subsets = compute_subsets(svc, [pod("a", "10.0.0.1", ports={"http": 8000}),
                                    pod("b", "10.0.0.2", ports={"http": 9000}),
                                    pod("c", "10.0.0.3", ports={"other": 1})])
    got = sorted((s.ports[0].port, [a.ip for a in s.addresses]) for s in subsets)
    assert got == [(8000, ["10.0.0.1"]), (9000, ["10.0.0.2"])]


async def test_endpoints_follow_the_service() -> None:
    h = Harness(EndpointsController)
    svc = h.client.put(service(("web", 80, 8080)))
    h.seen(svc, h.client.put(pod("a", "10.0.0.1")))
    await h.reconcile("default/web")
    ep = h.client.stored("Endpoints", "web")
    assert ep is not None and [a.ip for a in ep.subsets[0].addresses] == ["10.0.0.1"]
    assert ep.metadata.labels["team"] == "a"
    h.sync_all()
    await h.reconcile("default/web")                       # unchanged: no write
    assert [a[0] for a in h.client.actions] == ["create"]
    h.client.objects.pop(("Service", "default", "web"))
    h.sync_all()
    await h.reconcile("default/web")
    assert h.client.stored("Endpoints", "web") is None


async def test_a_pod_starting_to_terminate_leaves_at_once() -> None:
    h = Harness(EndpointsController)
    svc = h.client.put(service(("web", 80, 8080)))
    a, b = h.client.put(pod("a", "10.0.0.1")), h.client.put(pod("b", "10.0.0.2"))
    h.seen(svc, a, b)
    await h.reconcile("default/web")
    h.sync_all()
    h.controller.queue._queue.clear()
    h.controller.queue._dirty.clear()
    b2 = pod("b", "10.0.0.2", terminating=True)
    b2.metadata.uid = b.metadata.uid
    h.seen(h.client.put(b2))
    assert h.queued() == ["default/web"]
    await h.reconcile("default/web")
    assert [a.ip for a in h.client.stored("Endpoints", "web").subsets[0].addresses] == ["10.0.0.1"]


async def test_services_without_selector_are_left_alone() -> None:
    h = Harness(EndpointsController)
    svc = h.client.put(service(("web", 80, 8080), selector={}))
    h.seen(svc, h.client.put(pod("a", "10.0.0.1")))
    await h.reconcile("default/web")
    assert h.client.actions == []
