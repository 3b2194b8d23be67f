"""The controller manager on a real local cluster: etcd, apiserver, scheduler, hollow nodes.

One cluster per module (short lab timings: node grace 8 s, eviction 6 s,
lease 4 s); each test works in its own namespace. The leader hand-over test
runs last because it kills the leading controller manager.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.harness.cluster import component_log, ensure_namespace, kill, namespace_for_test, spawn
from tests.harness.controller_manager import is_ready, live_pods
from tests.harness.manifests import deployment_manifest, replicaset_manifest
from tests.harness.wait import wait_for, wait_gone
from kubelab import errors
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

from .conftest import control_plane_fixture

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

cluster = control_plane_fixture("controllers")


@pytest.fixture
async def ns(client: Client, request: pytest.FixtureRequest) -> str:
    name = await namespace_for_test(client, request.node.name)
    await wait_for(lambda: _nodes_ready(client, 3), 30, what="3 hollow nodes Ready")
    return name


async def _nodes_ready(client: Client, n: int) -> bool:
    nodes, _ = await client.list("Node")
    ready = [x for x in nodes if any(c.type == "Ready" and c.status == "True" for c in x.status.conditions)
             and not x.spec.unschedulable]
    return len(ready) >= n


async def events_for(client: Client, ns: str, name: str) -> list[tuple[str, str]]:
    evs, _ = await client.list("Event", ns)
    return [(e.reason, e.message) for e in evs if e.involved_object.name == name]


# ---------------------------------------------------------------------------- LoadBalancer Services
def lb_service(name: str, namespace: str, port: int, type_: str = "LoadBalancer") -> pb.Service:
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = name, namespace
    svc.spec.type = type_
    svc.spec.selector["app"] = name
    svc.spec.ports.add(port=port, protocol="TCP")
    return svc


async def ingress_of(client: Client, ns: str, name: str) -> list[str]:
    return [i.ip for i in (await client.get("Service", name, ns)).status.load_balancer.ingress]


async def test_load_balancers_get_the_node_addresses_and_one_port_goes_to_the_oldest(client: Client, ns: str) -> None:
    nodes, _ = await client.list("Node")
    addresses = sorted(a.address for n in nodes for a in n.status.addresses if a.type == "InternalIP")
    await client.create(lb_service("first", ns, 18080))
    assert await wait_for(lambda: ingress_of(client, ns, "first"), 20, what="first's ingress") == addresses
    await asyncio.sleep(1.1)            # creationTimestamps have one-second resolution
    await client.create(lb_service("second", ns, 18080))

    async def second_pending() -> bool:
        return any(r == "LoadBalancerPending" and f"{ns}/first" in m for r, m in await events_for(client, ns, "second"))
    await wait_for(second_pending, 20, what="second's LoadBalancerPending event")
    assert await ingress_of(client, ns, "second") == []
    assert ("EnsuredLoadBalancer", f"Ensured load balancer on {', '.join(addresses)}") in \
        await events_for(client, ns, "first")

    await client.delete("Service", "first", ns)       # the port is free: the next in line gets it
    assert await wait_for(lambda: ingress_of(client, ns, "second"), 20, what="second's ingress") == addresses
    svc = await client.get("Service", "second", ns)
    svc.spec.type = "ClusterIP"
    for p in svc.spec.ports:
        p.node_port = 0
    await client.update(svc)
    await wait_for(lambda: _no_ingress(client, ns, "second"), 20, what="the ingress cleared with the type")


async def _no_ingress(client: Client, ns: str, name: str) -> bool:
    return await ingress_of(client, ns, name) == []


# ---------------------------------------------------------------------------- ReplicaSets
async def test_scale_1_to_4_to_1(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("web", ns, 1, "nginx:1.15"))

    async def deploy_ready(n: int) -> bool:
        d = await client.get("Deployment", "web", ns)
        pods = await live_pods(client, ns, "component=web")
        return (d.status.ready_replicas == n and d.status.available_replicas == n and d.status.replicas == n
                and len(pods) == n and all(is_ready(p) for p in pods))
    await wait_for(lambda: deploy_ready(1), 30, what="1/1")
    await client.patch("Deployment", "web", {"spec": {"replicas": 4}}, ns)
    await wait_for(lambda: deploy_ready(4), 30, what="4/4")
    rs_list, _ = await client.list("ReplicaSet", ns)
    assert len(rs_list) == 1 and rs_list[0].status.ready_replicas == 4
    await client.patch("Deployment", "web", {"spec": {"replicas": 1}}, ns)
    await wait_for(lambda: deploy_ready(1), 30, what="back to 1/1")
    evs = await events_for(client, ns, "web")
    rs_name = rs_list[0].metadata.name
    assert ("ScalingReplicaSet", f"Scaled up replica set {rs_name} to 1") in evs
    assert ("ScalingReplicaSet", f"Scaled up replica set {rs_name} to 4") in evs
    assert ("ScalingReplicaSet", f"Scaled down replica set {rs_name} to 1") in evs
    rs_evs = await events_for(client, ns, rs_name)
    assert sum(1 for r, _ in rs_evs if r == "SuccessfulCreate") == 4
    assert sum(1 for r, _ in rs_evs if r == "SuccessfulDelete") == 3


async def test_deleted_pod_is_replaced_under_a_new_name(client: Client, ns: str) -> None:
    await client.create(replicaset_manifest("rs", ns, 2))
    await wait_for(lambda: _count_ready(client, ns, "app=rs", 2), 30, what="2 ready pods")
    before = {p.metadata.name for p in await live_pods(client, ns, "app=rs")}
    victim = sorted(before)[0]
    await client.delete("Pod", victim, ns)

    async def replaced() -> set[str] | None:
        names = {p.metadata.name for p in await live_pods(client, ns, "app=rs")}
        return names if len(names) == 2 and victim not in names else None
    after = await wait_for(replaced, 30, what="a replacement pod")
    new = after - before
    assert len(new) == 1 and all(n.startswith("rs-") and len(n) == len("rs-") + 5 for n in after)
    await wait_for(lambda: _count_ready(client, ns, "app=rs", 2), 30, what="2 ready again")

    async def status_caught_up() -> bool:
        # The controller writes status after it sees the pods Ready: a moment after they are.
        rs = await client.get("ReplicaSet", "rs", ns)
        return (rs.status.replicas, rs.status.ready_replicas, rs.status.available_replicas,
                rs.status.fully_labeled_replicas) == (2, 2, 2, 2)
    await wait_for(status_caught_up, 30, what="the ReplicaSet's status to count 2 ready and available")
    rs = await client.get("ReplicaSet", "rs", ns)
    assert rs.status.observed_generation == rs.metadata.generation


async def _count_ready(client: Client, ns: str, selector: str, n: int) -> bool:
    pods = await live_pods(client, ns, selector)
    return len(pods) == n and all(is_ready(p) for p in pods)


async def test_replicaset_3_to_4_then_deleted_takes_its_pods(client: Client, ns: str) -> None:
    await client.create(replicaset_manifest("rs", ns, 3))
    await wait_for(lambda: _count_ready(client, ns, "app=rs", 3), 30, what="3 ready pods")
    await client.patch("ReplicaSet", "rs", {"spec": {"replicas": 4}}, ns)
    await wait_for(lambda: _count_ready(client, ns, "app=rs", 4), 30, what="4 ready pods")
    pods = await live_pods(client, ns, "app=rs")
    assert all(p.metadata.owner_references[0].name == "rs" and p.metadata.owner_references[0].controller
               for p in pods)
    await client.delete("ReplicaSet", "rs", ns)

    async def no_pods() -> bool:
        all_pods, _ = await client.list("Pod", ns, label_selector="app=rs")
        return not all_pods
    await wait_for(no_pods, 30, what="the replica set's pods to go")


async def test_orphans_are_adopted_and_surplus_deleted(client: Client, ns: str) -> None:
    for i in range(2):
        p = pb.Pod(api_version="v1", kind="Pod")
        p.metadata.name, p.metadata.namespace = f"loose-{i}", ns
        p.metadata.labels["app"] = "rs"
        p.spec.containers.add(name="nginx", image="nginx:1.15")
        await client.create(p)
    await client.create(replicaset_manifest("rs", ns, 1))

    async def one_owned() -> bool:
        pods = await live_pods(client, ns, "app=rs")
        return len(pods) == 1 and pods[0].metadata.owner_references[0].name == "rs"
    await wait_for(one_owned, 30, what="one adopted pod left")


# ---------------------------------------------------------------------------- garbage collection
async def test_deleting_a_deployment_cascades_foreground(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("web", ns, 2, "nginx:1.15"))
    await wait_for(lambda: _count_ready(client, ns, "component=web", 2), 30, what="2 ready")
    await client.delete("Deployment", "web", ns, propagation_policy="Foreground")
    d = await client.get("Deployment", "web", ns)          # still there, waiting for its dependents
    assert d.metadata.deletion_timestamp and "foregroundDeletion" in d.metadata.finalizers
    await wait_gone(client, "Deployment", "web", ns, 30)
    rs, _ = await client.list("ReplicaSet", ns)
    pods, _ = await client.list("Pod", ns)
    assert rs == [] and pods == []


async def test_orphan_propagation_keeps_the_replica_set(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("web", ns, 2, "nginx:1.15"))
    await wait_for(lambda: _count_ready(client, ns, "component=web", 2), 30, what="2 ready")
    await client.delete("Deployment", "web", ns, propagation_policy="Orphan")
    await wait_gone(client, "Deployment", "web", ns, 30)

    async def orphaned() -> bool:
        rss, _ = await client.list("ReplicaSet", ns)
        return len(rss) == 1 and not rss[0].metadata.owner_references
    await wait_for(orphaned, 30, what="the replica set without owner")
    await asyncio.sleep(1.0)
    assert len(await live_pods(client, ns, "component=web")) == 2


# ---------------------------------------------------------------------------- namespaces
async def test_namespace_deletion_empties_it(client: Client) -> None:
    ns = "doomed"
    await ensure_namespace(client, ns)
    await client.create(deployment_manifest("web", ns, 3, "nginx:1.15"))
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "web", ns
    svc.spec.selector["component"] = "web"
    svc.spec.ports.add(port=80)
    await client.create(svc)
    await wait_for(lambda: _count_ready(client, ns, "component=web", 3), 30, what="3 ready")
    await client.delete("Namespace", ns)
    got = await client.get("Namespace", ns)
    assert got.status.phase == "Terminating"
    await wait_gone(client, "Namespace", ns, None, 60)
    for kind in ("Pod", "ReplicaSet", "Deployment", "Service", "Endpoints"):
        items, _ = await client.list(kind, ns)
        assert items == [], kind


# ---------------------------------------------------------------------------- endpoints
async def test_endpoints_track_ready_pods(client: Client, ns: str) -> None:
    d = deployment_manifest("web", ns, 2, "nginx:1.15")
    d.spec.template.spec.containers[0].ports.add(name="http", container_port=8080)
    await client.create(d)
    svc = pb.Service(api_version="v1", kind="Service")
    svc.metadata.name, svc.metadata.namespace = "web", ns
    svc.spec.selector["component"] = "web"
    sp = svc.spec.ports.add(name="web", port=80)
    sp.target_port.string_value = "http"
    await client.create(svc)

    async def two_addresses() -> Any:
        ep = await client.get("Endpoints", "web", ns)
        return ep if ep.subsets and len(ep.subsets[0].addresses) == 2 else None
    ep = await wait_for(two_addresses, 30, what="2 ready addresses")
    pods = {p.metadata.name: p for p in await live_pods(client, ns, "component=web")}
    s = ep.subsets[0]
    assert [(p.name, p.port) for p in s.ports] == [("web", 8080)]
    assert {a.target_ref.name for a in s.addresses} == set(pods)
    assert {a.ip for a in s.addresses} == {p.status.pod_ip for p in pods.values()}
    assert all(a.node_name == pods[a.target_ref.name].spec.node_name for a in s.addresses)
    victim = sorted(pods)[0]
    await client.delete("Pod", victim, ns)

    async def victim_left() -> bool:
        ep = await client.get("Endpoints", "web", ns)
        return all(a.target_ref.name != victim for s in ep.subsets for a in s.addresses)
    await wait_for(victim_left, 10, what="the deleted pod to leave the endpoints")
    await client.delete("Service", "web", ns)
    await wait_gone(client, "Endpoints", "web", ns, 15)


# ---------------------------------------------------------------------------- disruption budgets
async def test_pdb_status_and_eviction(client: Client, ns: str) -> None:
    await client.create(deployment_manifest("nginx", ns, 2, "nginx:1.15", ready_delay=4))
    pdb = pb.PodDisruptionBudget(api_version="policy/v1", kind="PodDisruptionBudget")
    pdb.metadata.name, pdb.metadata.namespace = "nginx-pdb", ns
    pdb.spec.min_available.number_value = 1
    pdb.spec.selector.match_labels["component"] = "nginx"
    await client.create(pdb)

    async def status(expected: tuple[int, int, int, int]) -> Any:
        p = await client.get("PodDisruptionBudget", "nginx-pdb", ns)
        st = p.status
        got = (st.expected_pods, st.desired_healthy, st.current_healthy, st.disruptions_allowed)
        return p if got == expected and st.observed_generation == p.metadata.generation else None
    await wait_for(lambda: status((2, 1, 2, 1)), 40, what="pdb 2/1/2/1")
    pods = sorted(p.metadata.name for p in await live_pods(client, ns, "component=nginx"))
    await client.evict(ns, pods[0])
    with pytest.raises(errors.TooManyRequests, match="nginx-pdb"):
        await client.evict(ns, pods[1])        # the replacement is not ready yet (4 s ready delay)
    # the replacement gets ready: one disruption allowed again
    await wait_for(lambda: status((2, 1, 2, 1)), 40, what="pdb allows one disruption again")
    p = await client.get("PodDisruptionBudget", "nginx-pdb", ns)
    assert pods[0] not in p.status.disrupted_pods        # gone, so pruned


# ---------------------------------------------------------------------------- node failure
async def test_a_stopped_hollow_nodes_pods_are_recreated_elsewhere(cluster: dict[str, Any], client: Client,
                                                                   ns: str) -> None:
    runner = spawn(cluster, "kubelet.main", ["--runtime", "hollow", "--node-name", "doomed-node", "--heartbeat", "2"],
                   "doomed-node")
    others = [n.metadata.name for n in (await client.list("Node"))[0] if n.metadata.name != "doomed-node"]
    try:
        async def doomed_ready() -> bool:
            node = await client.get("Node", "doomed-node")
            return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        await wait_for(doomed_ready, 30, what="doomed-node Ready")
        for name in others:      # cordon the rest so that every pod lands on the doomed node
            await client.patch("Node", name, {"spec": {"unschedulable": True}})
        await client.create(deployment_manifest("web", ns, 3, "nginx:1.15"))
        await wait_for(lambda: _count_ready(client, ns, "component=web", 3), 30, what="3 ready on doomed-node")
        assert {p.spec.node_name for p in await live_pods(client, ns, "component=web")} == {"doomed-node"}
        for name in others:
            await client.patch("Node", name, {"spec": {"unschedulable": False}})
        kill(runner)                            # the node falls silent
        t0 = asyncio.get_running_loop().time()

        async def node_unknown() -> Any:
            node = await client.get("Node", "doomed-node")
            ready = next(c for c in node.status.conditions if c.type == "Ready")
            return node if ready.status == "Unknown" else None
        node = await wait_for(node_unknown, 30, what="doomed-node Unknown")
        ready = next(c for c in node.status.conditions if c.type == "Ready")
        assert (ready.reason, ready.message) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")

        async def tainted() -> bool:      # the taint is a second write, right after the status
            node = await client.get("Node", "doomed-node")
            return ("node.kubernetes.io/unreachable", "NoSchedule") in [(t.key, t.effect) for t in node.spec.taints]
        await wait_for(tainted, 5, what="doomed-node tainted unreachable:NoSchedule")

        async def pods_not_ready() -> bool:
            pods, _ = await client.list("Pod", ns, field_selector="spec.nodeName=doomed-node")
            return bool(pods) and not any(is_ready(p) for p in pods)
        await wait_for(pods_not_ready, 15, what="the doomed node's pods NotReady")

        async def moved() -> bool:
            pods = await live_pods(client, ns, "component=web")
            return (len(pods) == 3 and all(is_ready(p) for p in pods)
                    and all(p.spec.node_name in others for p in pods))
        await wait_for(moved, 60, what="3 ready pods on the other nodes")
        took = asyncio.get_running_loop().time() - t0
        assert took >= 6, f"pods moved after {took:.1f}s, before the eviction timeout"
        node_evs = await events_for(client, "default", "doomed-node")
        assert ("NodeNotReady", "Node doomed-node status is now: NodeNotReady") in node_evs
        assert any(r == "DeletingAllPods" for r, _ in node_evs)
    finally:
        kill(runner)
        for name in others:
            try:
                await client.patch("Node", name, {"spec": {"unschedulable": False}})
            except errors.ApiError:
                pass
        try:
            await client.delete("Node", "doomed-node")
        except errors.ApiError:
            pass


# ---------------------------------------------------------------------------- what the user is told
async def test_a_deployment_whose_replica_set_name_is_too_long_says_so(client: Client, ns: str) -> None:
    """Issue 12 item 12: a valid 250-character Deployment name makes a ReplicaSet name over 253 characters.
    Kubernetes' sync.go: Progressing=False ReplicaSetCreateError and a Warning event, with the API's message."""
    name = "d" * 250
    d = deployment_manifest(name, ns, 1, "nginx:1.15")
    for labels in (d.metadata.labels, d.spec.selector.match_labels, d.spec.template.metadata.labels):
        labels["component"] = "long-name"         # a label value has 63 characters at most
    await client.create(d)

    async def refused() -> Any:
        got = await client.get("Deployment", name, ns)
        cond = next((c for c in got.status.conditions if c.type == "Progressing"), None)
        return cond if cond is not None and cond.status == "False" else None
    cond = await wait_for(refused, 20, what="Progressing=False")
    assert cond.reason == "ReplicaSetCreateError"
    assert cond.message.startswith(f'Failed to create new replica set "{name}-')
    assert "must be no more than 253 characters" in cond.message

    async def warned() -> list[Any]:
        evs, _ = await client.list("Event", ns)
        return [e for e in evs if e.involved_object.name == name and e.reason == "ReplicaSetCreateError"]
    [ev] = await wait_for(warned, 20, what="a ReplicaSetCreateError event on the Deployment")
    assert ev.type == "Warning" and ev.message == cond.message


async def test_pods_bound_to_a_node_that_does_not_exist_are_replaced_at_a_sane_rate(client: Client, ns: str) -> None:
    """Issue 12 item 14: a template with spec.nodeName: nope had its pod deleted (pod GC: a missing node) and
    recreated about 50 times a second. The pod GC now waits out Kubernetes' 40 s quarantine first."""
    rs = replicaset_manifest("nope", ns, 2)
    rs.spec.template.spec.node_name = "nope"
    await client.create(rs)
    async def both() -> list[pb.Pod]:
        pods = await live_pods(client, ns, "app=nope")
        return pods if len(pods) == 2 else []
    first = await wait_for(both, 20, what="the 2 pods")
    await asyncio.sleep(10)
    pods = await live_pods(client, ns, "app=nope")
    assert {p.metadata.uid for p in pods} == {p.metadata.uid for p in first} and len(pods) == 2
    created = [m for r, m in await events_for(client, ns, "nope") if r == "SuccessfulCreate"]
    assert len(created) == 2, f"{len(created)} pods created in 10 s"


# ---------------------------------------------------------------------------- leader election (last)
def _leader_pid(identity: str) -> int:
    return int(identity.rsplit("_", 2)[-2])


async def test_killing_the_leader_hands_over_and_work_completes(cluster: dict[str, Any], client: Client,
                                                                ns: str) -> None:
    standby = spawn(cluster, "controller_manager.main",
                    ["-v", "--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
                     "--leader-elect-retry-period", "0.5"], "controller-manager-2")
    try:
        lease = await client.get("Lease", "kube-controller-manager", "kube-system")
        first = lease.spec.holder_identity
        state = json.loads((Path(cluster["state_path"]) / "state.json").read_text())
        assert _leader_pid(first) == state["pids"]["controller-manager"], "the launcher's replica leads"
        await client.create(deployment_manifest("web", ns, 3, "nginx:1.15", ready_delay=1))
        await wait_for(lambda: _count_ready(client, ns, "component=web", 3), 30, what="3 ready")
        # work in progress: a rollout to 1.16, then the leader dies (SIGKILL: no lease release)
        await client.patch("Deployment", "web",
                           {"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.16"}]}}}},
                           ns)
        await asyncio.sleep(0.5)
        import os
        import signal
        os.killpg(state["pids"]["controller-manager"], signal.SIGKILL)

        async def new_leader() -> str | None:
            lease = await client.get("Lease", "kube-controller-manager", "kube-system")
            return lease.spec.holder_identity if lease.spec.holder_identity not in ("", first) else None
        second = await wait_for(new_leader, 20, what="a new leader")
        assert _leader_pid(second) == standby.pid
        lease = await client.get("Lease", "kube-controller-manager", "kube-system")
        assert lease.spec.lease_transitions >= 1

        async def rolled_out() -> bool:
            d = await client.get("Deployment", "web", ns)
            pods = await live_pods(client, ns, "component=web")
            return (d.status.updated_replicas == 3 and d.status.available_replicas == 3 and d.status.replicas == 3
                    and len(pods) == 3 and all(p.spec.containers[0].image == "nginx:1.16" for p in pods))
        await wait_for(rolled_out, 60, what="the rollout to finish under the new leader")
    except AssertionError:
        print(component_log(cluster, "controller-manager-2"))
        raise
    finally:
        kill(standby, 15)
