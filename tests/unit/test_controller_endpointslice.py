"""EndpointSlices: the pure plan (controller_manager/endpointslice_plan.py) and the two controllers over the
in-memory harness (controller_manager/endpointslice.py)."""
from __future__ import annotations

import pytest

from controller_manager import endpointslice_plan as esp
from controller_manager.endpointslice import EndpointSliceController, EndpointSliceMirroringController
from kubelab import errors
from kubelab.workqueue import Requeue
from kubelab.v1 import objects_pb2 as pb
from tests.harness.controller_manager import Harness
from tests.unit.test_controller_endpoints import pod, service


def _svc(*ports: tuple[str, int, int | str | None], uid: str = "svc-uid", **kw: object) -> pb.Service:
    s = service(*ports, **kw)  # type: ignore[arg-type]
    s.metadata.uid = uid
    s.spec.ip_families.append("IPv4")
    return s


def _plan(svc: pb.Service, pods: list[pb.Pod], existing: list[pb.EndpointSlice] = (), most: int = 100) -> esp.Plan:
    return esp.plan(esp.service_owner(svc), esp.service_groups(svc, pods), list(existing),
                    esp.service_address_types(svc), most=most)


def _stored(p: esp.Plan, start: int = 0) -> list[pb.EndpointSlice]:
    """The plan's creates as the apiserver would store them (named, with a resourceVersion)."""
    out = []
    for i, eps in enumerate(p.create):
        s = pb.EndpointSlice()
        s.CopyFrom(eps)
        s.metadata.name = f"{eps.metadata.generate_name}{start + i:05d}"
        s.metadata.resource_version = str(10 + start + i)
        out.append(s)
    return out


def _addresses(slices: list[pb.EndpointSlice]) -> list[list[str]]:
    return [[e.addresses[0] for e in s.endpoints] for s in slices]


def test_one_slice_with_ports_conditions_labels_and_owner() -> None:
    svc = _svc(("http", 80, 8080))
    p = _plan(svc, [pod("b", "10.0.0.2"), pod("a", "10.0.0.1"), pod("u", "10.0.0.3", ready=False),
                    pod("t", "10.0.0.4", terminating=True), pod("n", ""), pod("f", "10.0.0.5", phase="Failed")])
    assert not p.update and not p.delete and len(p.create) == 1
    eps = p.create[0]
    assert eps.metadata.generate_name == "web-" and eps.address_type == "IPv4"
    assert dict(eps.metadata.labels) == {"team": "a", "kubernetes.io/service-name": "web",
                                         "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    ref = eps.metadata.owner_references[0]
    assert (ref.api_version, ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == \
        ("v1", "Service", "web", "svc-uid", True, True)
    assert [(x.name, x.port, x.protocol) for x in eps.ports] == [("http", 8080, "TCP")]
    by_ip = {e.addresses[0]: e for e in eps.endpoints}
    assert list(by_ip) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]   # in address order
    cond = {ip: (e.conditions.ready, e.conditions.serving, e.conditions.terminating) for ip, e in by_ip.items()}
    # A terminating pod stays, not ready, serving as long as it is ready, terminating (as Kubernetes has it).
    assert cond == {"10.0.0.1": (True, True, False), "10.0.0.2": (True, True, False),
                    "10.0.0.3": (False, False, False), "10.0.0.4": (False, True, True)}
    a = by_ip["10.0.0.1"]
    assert (a.node_name, a.target_ref.kind, a.target_ref.name, a.target_ref.uid) == ("n1", "Pod", "a", "uid-a")
    assert not a.HasField("hostname") and not a.HasField("zone")


def test_no_change_is_no_write_and_a_pod_gone_is_an_update_in_place() -> None:
    svc = _svc(("http", 80, 8080))
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    stored = _stored(_plan(svc, pods))
    assert _plan(svc, pods, stored).empty()
    p = _plan(svc, pods[:1], stored)
    assert not p.create and not p.delete and [s.metadata.name for s in p.update] == [stored[0].metadata.name]
    assert _addresses(p.update) == [["10.0.0.1"]]
    assert p.update[0].metadata.resource_version == stored[0].metadata.resource_version   # a conditional write


def test_readiness_change_updates_the_endpoint_where_it_is() -> None:
    svc = _svc(("http", 80, 8080))
    stored = _stored(_plan(svc, [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]))
    p = _plan(svc, [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False)], stored)
    assert len(p.update) == 1 and not p.create
    assert [e.conditions.ready for e in p.update[0].endpoints] == [True, False]


def test_more_than_100_endpoints_split_and_refill() -> None:
    svc = _svc(("http", 80, 8080))
    pods = [pod(f"p{i:03d}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(250)]
    p = _plan(svc, pods)
    assert [len(s.endpoints) for s in p.create] == [100, 100, 50]
    stored = _stored(p)
    assert _plan(svc, pods, stored).empty()
    # Ten new pods go into the slice with room (an unchanged slice that takes them all), not a fourth slice.
    more = pods + [pod(f"q{i}", f"10.1.0.{i + 1}") for i in range(10)]
    p2 = _plan(svc, more, stored)
    assert not p2.create and not p2.delete and [len(s.endpoints) for s in p2.update] == [60]
    # Removing the first 100 pods empties one slice: it goes, the others stay.
    p3 = _plan(svc, pods[100:], stored)
    assert [s.metadata.name for s in p3.delete] == [stored[0].metadata.name] and p3.empty() is False
    assert not p3.create and not p3.update


def test_max_per_slice_is_a_parameter() -> None:
    svc = _svc(("http", 80, 8080))
    p = _plan(svc, [pod(f"p{i}", f"10.0.0.{i + 1}") for i in range(5)], most=2)
    assert [len(s.endpoints) for s in p.create] == [2, 2, 1]


def test_no_endpoints_keeps_one_placeholder() -> None:
    svc = _svc(("http", 80, 8080))
    p = _plan(svc, [])
    assert len(p.create) == 1 and not p.create[0].endpoints and not p.create[0].ports
    placeholder = _stored(p)
    assert _plan(svc, [], placeholder).empty()                   # kept, not deleted and made again
    # The first pod turns the placeholder into the real slice (an update, not a delete and a create).
    p2 = _plan(svc, [pod("a", "10.0.0.1")], placeholder)
    assert not p2.create and not p2.delete and [s.metadata.name for s in p2.update] == [placeholder[0].metadata.name]
    assert [x.port for x in p2.update[0].ports] == [8080] and _addresses(p2.update) == [["10.0.0.1"]]
    # And the last pod's going turns it back into the placeholder.
    p3 = _plan(svc, [], p2.update)
    assert not p3.create and not p3.delete and len(p3.update) == 1
    assert not p3.update[0].ports and not p3.update[0].endpoints


def test_named_target_port_splits_slices_by_resolved_port() -> None:
    svc = _svc(("http", 80, "web"))
    p = _plan(svc, [pod("a", "10.0.0.1", ports={"web": 8000}), pod("b", "10.0.0.2", ports={"web": 9000}),
                    pod("c", "10.0.0.3", ports={"other": 1})])
    got = sorted(([x.port for x in s.ports], [e.addresses[0] for e in s.endpoints]) for s in p.create)
    # The pod without the named port is an endpoint all the same, in a slice without ports (Kubernetes').
    assert got == [([], ["10.0.0.3"]), ([8000], ["10.0.0.1"]), ([9000], ["10.0.0.2"])]


def test_labels_follow_the_service_and_headless() -> None:
    svc = _svc(("http", 80, 8080), headless=True)
    svc.metadata.labels["kubernetes.io/service-name"] = "spoof"
    pods = [pod("a", "10.0.0.1")]
    pods[0].spec.hostname, pods[0].spec.subdomain = "a-host", "web"
    stored = _stored(_plan(svc, pods))
    eps = stored[0]
    assert eps.metadata.labels["service.kubernetes.io/headless"] == ""
    assert eps.metadata.labels["kubernetes.io/service-name"] == "web"
    assert eps.endpoints[0].hostname == "a-host"
    svc.metadata.labels["team"] = "b"
    p = _plan(svc, pods, stored)
    assert len(p.update) == 1 and p.update[0].metadata.labels["team"] == "b"


def test_a_slice_of_a_former_service_of_that_name_is_deleted() -> None:
    svc = _svc(("http", 80, 8080))
    stored = _stored(_plan(svc, [pod("a", "10.0.0.1")]))
    new = _svc(("http", 80, 8080), uid="another-uid")
    p = _plan(new, [pod("a", "10.0.0.1")], stored)
    assert [s.metadata.name for s in p.delete] == [stored[0].metadata.name]
    assert len(p.create) == 1 and p.create[0].metadata.owner_references[0].uid == "another-uid"


def test_mirroring_an_endpoints() -> None:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace, ep.metadata.uid = "kubernetes", "default", "ep-uid"
    ep.metadata.labels["endpointslice.kubernetes.io/skip-mirror"] = "false"
    ep.metadata.labels["x"] = "y"
    ep.metadata.annotations["endpoints.kubernetes.io/last-change-trigger-time"] = "t"
    s = ep.subsets.add()
    s.addresses.add(ip="192.168.1.5")
    s.not_ready_addresses.add(ip="192.168.1.6")
    s.addresses.add(ip="not-an-ip")
    s.ports.add(name="https", port=6443, protocol="TCP")
    owner = esp.mirror_owner(ep)
    p = esp.plan(owner, esp.mirror_groups(ep), [], ("IPv4", "IPv6"), placeholder=False)
    assert len(p.create) == 1
    eps = p.create[0]
    assert eps.metadata.generate_name == "kubernetes-"
    assert dict(eps.metadata.labels) == {"x": "y", "kubernetes.io/service-name": "kubernetes",
                                         "endpointslice.kubernetes.io/managed-by":
                                             "endpointslicemirroring-controller.k8s.io"}
    assert dict(eps.metadata.annotations) == {}
    assert eps.metadata.owner_references[0].kind == "Endpoints"
    assert [(x.name, x.port) for x in eps.ports] == [("https", 6443)]
    assert [(e.addresses[0], e.conditions.ready, e.conditions.HasField("serving")) for e in eps.endpoints] == \
        [("192.168.1.5", True, False), ("192.168.1.6", False, False)]
    # Empty Endpoints: the slices go (no placeholder for a mirror).
    del ep.subsets[:]
    p2 = esp.plan(owner, esp.mirror_groups(ep), _stored(p), ("IPv4", "IPv6"), placeholder=False)
    assert len(p2.delete) == 1 and not p2.create and not p2.update


def test_tracker_waits_for_own_writes() -> None:
    t = esp.SliceTracker()
    eps = pb.EndpointSlice()
    eps.metadata.name, eps.metadata.resource_version = "web-abcde", "12"
    t.wrote("default/web", eps)
    assert t.stale("default/web", [])                    # created, not yet in the cache
    old = pb.EndpointSlice()
    old.CopyFrom(eps)
    old.metadata.resource_version = "11"
    assert t.stale("default/web", [old])                 # an older version cached
    assert not t.stale("default/web", [eps])             # caught up
    t.deleted("default/web", "web-abcde")
    assert t.stale("default/web", [eps])                 # deleted, still cached
    assert not t.stale("default/web", [])
    t.wrote("default/web", eps)
    t.observed_delete("default/web", "web-abcde")        # someone deleted it meanwhile: nothing to wait for
    assert not t.stale("default/web", [])


# ---------------------------------------------------------------- the controllers, over the harness
def _node(name: str = "n1") -> pb.Node:
    n = pb.Node(api_version="v1", kind="Node")
    n.metadata.name, n.metadata.uid = name, f"uid-{name}"
    return n


def test_pods_on_missing_nodes_are_left_out() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", node="gone"), pod("c", "", node="")]
    kept, skipped = esp.on_existing_nodes(pods, lambda node: node == "n1")
    assert [p.metadata.name for p in kept] == ["a", "c"] and [p.metadata.name for p in skipped] == ["b"]


async def test_controller_leaves_out_a_pod_whose_node_is_missing_until_it_exists() -> None:
    h = Harness(EndpointSliceController)
    svc = h.client.put(_svc(("http", 80, 8080)))
    h.seen(svc, h.client.put(_node()), h.client.put(pod("a", "10.0.0.1")),
           h.client.put(pod("b", "10.0.0.2", node="n2")))
    with pytest.raises(Requeue):                 # synced again until n2 exists or the pod goes
        await h.reconcile("default/web")
    assert _addresses(h.client.all("EndpointSlice")) == [["10.0.0.1"]]
    h.sync_all()
    h.seen(h.client.put(_node("n2")))
    await h.reconcile("default/web")
    assert _addresses(h.client.all("EndpointSlice")) == [["10.0.0.1", "10.0.0.2"]]


async def test_controller_creates_updates_and_waits_for_its_cache() -> None:
    h = Harness(EndpointSliceController)
    svc = h.client.put(_svc(("http", 80, 8080)))
    h.seen(svc, h.client.put(_node()), h.client.put(pod("a", "10.0.0.1")))
    await h.reconcile("default/web")
    [eps] = h.client.all("EndpointSlice")
    assert eps.metadata.name.startswith("web-") and _addresses([eps]) == [["10.0.0.1"]]
    # The cache has not shown the slice yet: the next sync waits instead of making a second one.
    with pytest.raises(Requeue):
        await h.reconcile("default/web")
    h.sync_all()
    await h.reconcile("default/web")
    assert [a[0] for a in h.client.actions] == ["create"]
    h.seen(h.client.put(pod("b", "10.0.0.2")))
    assert h.queued() == ["default/web"]
    await h.reconcile("default/web")
    assert [a[0] for a in h.client.actions] == ["create", "update"]
    assert _addresses(h.client.all("EndpointSlice")) == [["10.0.0.1", "10.0.0.2"]]


async def test_controller_leaves_selectorless_and_externalname_services() -> None:
    h = Harness(EndpointSliceController)
    h.seen(h.client.put(_svc(("http", 80, 8080), selector={})), h.client.put(pod("a", "10.0.0.1")))
    await h.reconcile("default/web")
    ext = _svc(("http", 80, 8080))
    ext.metadata.name, ext.spec.type = "ext", "ExternalName"
    h.seen(h.client.put(ext))
    await h.reconcile("default/ext")
    assert h.client.actions == []


async def test_failed_write_is_a_warning_event_on_the_service() -> None:
    h = Harness(EndpointSliceController)
    svc = h.client.put(_svc(("http", 80, 8080)))
    h.seen(svc, h.client.put(_node()), h.client.put(pod("a", "10.0.0.1")))
    h.client.refusals["create"] = [errors.Invalid('EndpointSlice "web-x" is invalid: nope')]
    with pytest.raises(errors.Invalid):
        await h.reconcile("default/web")
    assert h.events == [("FailedToUpdateEndpointSlices", 'Error updating Endpoint Slices for Service default/web: '
                                                         'EndpointSlice "web-x" is invalid: nope', "web")]


async def test_mirroring_controller_follows_selector_and_skip_mirror() -> None:
    h = Harness(EndpointSliceMirroringController)
    svc = h.client.put(_svc(("https", 443, 6443), selector={}))
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = "web", "default"
    s = ep.subsets.add()
    s.addresses.add(ip="192.168.1.5")
    s.ports.add(name="https", port=6443, protocol="TCP")
    ep = h.client.put(ep)
    h.seen(svc, ep)
    await h.reconcile("default/web")
    [eps] = h.client.all("EndpointSlice")
    assert eps.metadata.labels["endpointslice.kubernetes.io/managed-by"] == "endpointslicemirroring-controller.k8s.io"
    h.sync_all()
    await h.reconcile("default/web")
    assert [a[0] for a in h.client.actions] == ["create"]
    ep.metadata.labels["endpointslice.kubernetes.io/skip-mirror"] = "true"
    h.seen(h.client.put(ep))
    await h.reconcile("default/web")
    assert [a[0] for a in h.client.actions] == ["create", "delete"] and h.client.all("EndpointSlice") == []



def _kubernetes_endpoints(*ips: str, port: int = 6443) -> pb.Endpoints:
    ep = pb.Endpoints(api_version="v1", kind="Endpoints")
    ep.metadata.name, ep.metadata.namespace = "kubernetes", "default"
    s = ep.subsets.add()
    for ip in ips:
        s.addresses.add(ip=ip)
    s.ports.add(name="https", port=port, protocol="TCP")
    return ep


def test_the_apiserver_slice_is_as_kube_apiservers_endpoints_adapter_writes_it() -> None:
    want = esp.apiserver_slice(_kubernetes_endpoints("192.168.1.5"))
    assert (want.metadata.name, dict(want.metadata.labels), list(want.metadata.owner_references)) == \
        ("kubernetes", {"kubernetes.io/service-name": "kubernetes"}, [])
    assert want.address_type == "IPv4" and [(p.name, p.port, p.protocol) for p in want.ports] == [("https", 6443, "TCP")]
    assert [(list(e.addresses), e.conditions.ready) for e in want.endpoints] == [(["192.168.1.5"], True)]
    assert esp.apiserver_slice(_kubernetes_endpoints("fd00::5")).address_type == "IPv6"
    stored = pb.EndpointSlice()
    stored.CopyFrom(want)
    stored.metadata.resource_version = "7"
    assert esp.apiserver_slice_plan(_kubernetes_endpoints("192.168.1.5"), stored).empty()
    moved = esp.apiserver_slice_plan(_kubernetes_endpoints("192.168.1.6"), stored)
    assert not moved.create and not moved.delete and _addresses(moved.update) == [["192.168.1.6"]]
    assert moved.update[0].metadata.resource_version == "7"
    six = esp.apiserver_slice_plan(_kubernetes_endpoints("fd00::5"), stored)     # addressType is immutable
    assert [s.metadata.name for s in six.delete] == ["kubernetes"] and six.create[0].address_type == "IPv6"


async def test_mirroring_controller_writes_the_kubernetes_services_slice_by_name() -> None:
    h = Harness(EndpointSliceMirroringController)
    svc = _svc(("https", 443, 6443), selector={})
    svc.metadata.name = "kubernetes"
    h.seen(h.client.put(svc), h.client.put(_kubernetes_endpoints("192.168.1.5")))
    await h.reconcile("default/kubernetes")
    assert [(s.metadata.name, dict(s.metadata.labels)) for s in h.client.all("EndpointSlice")] == \
        [("kubernetes", {"kubernetes.io/service-name": "kubernetes"})]
    with pytest.raises(Requeue):                          # its own write not yet seen
        await h.reconcile("default/kubernetes")
    h.sync_all()
    await h.reconcile("default/kubernetes")
    h.seen(h.client.put(_kubernetes_endpoints("192.168.1.9")))
    await h.reconcile("default/kubernetes")
    assert [a[0] for a in h.client.actions] == ["create", "update"]
    assert _addresses(h.client.all("EndpointSlice")) == [["192.168.1.9"]]
