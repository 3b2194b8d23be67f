"""The read-change-write sites that lean on kubelab.retry keep their own rules when another writer gets in first
(a Conflict), against the controllers' in-memory API (which refuses a stale resourceVersion): the change lands
on the object as it is now and keeps the other writer's change, an object replaced by another of that name is
left alone, a deleted one is not recreated (except the kubelet's own Node, registered again)."""
from __future__ import annotations

from typing import Any

from controller_manager.garbagecollector import GarbageCollector
from controller_manager.namespace import NamespaceController
from controller_manager.replicaset import ReplicaSetController
from kubelab import conditions, errors
from kubelab.v1 import objects_pb2 as pb
from kubelet.node import NodeAgent, NodeConfig
from scheduler.recording import set_unschedulable
from tests.harness.controller_manager import Harness
from tests.harness.fake_client import FakeClient


def copy(obj: Any) -> Any:
    out = type(obj)()
    out.CopyFrom(obj)
    return out


async def someone_writes(client: FakeClient, kind: str, name: str, change: Any, namespace: str = "default") -> Any:
    obj = await client.get(kind, name, namespace)
    change(obj)
    return await client.update(obj)


# ------------------------------------------------------------------ the kubelet's Node
async def registered(client: FakeClient) -> NodeAgent:
    agent = NodeAgent(client, NodeConfig(name="node-1"))  # type: ignore[arg-type]
    await agent.register()
    return agent


async def test_a_heartbeat_after_a_cordon_keeps_the_cordon() -> None:
    client = FakeClient()
    agent = await registered(client)
    await someone_writes(client, "Node", "node-1", lambda n: setattr(n.spec, "unschedulable", True))
    await agent.heartbeat()                                  # from its own copy: a Conflict, then the live Node
    live = client.stored("Node", "node-1", "")
    assert agent.heartbeats == 1 and live.spec.unschedulable
    assert conditions.get(live.status.conditions, "Ready").status == "True"
    assert [a[0] for a in client.actions].count("update_status") == 2     # the refused one, then the write


async def test_a_heartbeat_for_a_deleted_node_registers_it_again() -> None:
    client = FakeClient()
    agent = await registered(client)
    await client.delete("Node", "node-1")
    await agent.heartbeat()
    assert agent.registrations == 2 and client.stored("Node", "node-1", "") is not None


async def test_a_heartbeat_that_keeps_meeting_other_writes_gives_way() -> None:
    client = FakeClient()
    agent = await registered(client)
    written = client.stored("Node", "node-1", "").metadata.resource_version

    async def refuse(obj: Any) -> Any:
        raise errors.Conflict('Operation cannot be fulfilled on nodes "node-1"')
    client.update_status = refuse                            # type: ignore[method-assign]
    await agent.heartbeat()                                  # no error: the next heartbeat tries again
    assert agent.heartbeats == 0 and agent.node is not None
    assert client.stored("Node", "node-1", "").metadata.resource_version == written


async def test_adopting_an_existing_node_retries_a_conflict_and_keeps_its_spec() -> None:
    client = FakeClient()
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name, node.spec.unschedulable = "node-1", True
    client.put(node)
    client.refusals["update_status"] = [errors.Conflict('Operation cannot be fulfilled on nodes "node-1"')]
    agent = await registered(client)
    live = client.stored("Node", "node-1", "")
    assert agent.registrations == 1 and live.spec.unschedulable
    assert live.metadata.labels["kubernetes.io/hostname"] == "node-1" and live.status.capacity["pods"] == "110"


# ------------------------------------------------------------------ the scheduler's condition
def pending_pod(client: FakeClient) -> Any:
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.name = "web"
    pod.spec.containers.add(name="c", image="nginx")
    return client.put(pod)


async def test_unschedulable_lands_on_the_fresh_pod() -> None:
    client = FakeClient()
    seen = pending_pod(client)
    await someone_writes(client, "Pod", "web", lambda p: p.metadata.labels.update({"tier": "front"}))
    await set_unschedulable(client, seen, "0/3 nodes are available")      # type: ignore[arg-type]
    live = client.stored("Pod", "web")
    cond = conditions.get(live.status.conditions, "PodScheduled")
    assert cond is not None and (cond.status, cond.reason) == ("False", "Unschedulable")
    assert live.metadata.labels["tier"] == "front"


async def test_unschedulable_is_not_written_on_a_pod_bound_meanwhile() -> None:
    client = FakeClient()
    seen = pending_pod(client)
    await someone_writes(client, "Pod", "web", lambda p: setattr(p.spec, "node_name", "n1"))
    await set_unschedulable(client, seen, "0/3 nodes are available")      # type: ignore[arg-type]
    assert conditions.get(client.stored("Pod", "web").status.conditions, "PodScheduled") is None


# ------------------------------------------------------------------ controllers
def replicaset() -> pb.ReplicaSet:
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name = "web-abc"
    rs.spec.replicas = 2
    rs.spec.selector.match_labels["app"] = "web"
    return rs


async def test_replicaset_status_from_a_stale_cache_lands_on_the_live_object() -> None:
    h = Harness(ReplicaSetController)
    cached = h.client.put(replicaset())
    await someone_writes(h.client, "ReplicaSet", "web-abc", lambda r: r.metadata.labels.update({"x": "y"}))
    status = copy(cached.status)
    status.replicas, status.observed_generation = 2, 1
    await h.controller._update_status(cached, status)
    live = h.client.stored("ReplicaSet", "web-abc")
    assert live.status.replicas == 2 and live.metadata.labels["x"] == "y"


async def test_replicaset_status_is_not_written_on_a_successor_of_that_name() -> None:
    h = Harness(ReplicaSetController)
    cached = h.client.put(replicaset())
    await h.client.delete("ReplicaSet", "web-abc")
    successor = h.client.put(replicaset())
    status = copy(cached.status)
    status.replicas = 2
    assert await h.controller._update_status(cached, status) is cached
    assert h.client.stored("ReplicaSet", "web-abc").status.replicas == 0
    assert successor.metadata.uid != cached.metadata.uid


async def test_a_finalizer_is_removed_despite_a_conflict_but_not_from_a_successor() -> None:
    h = Harness(GarbageCollector)
    pod = pb.Pod(api_version="v1", kind="Pod")
    pod.metadata.name = "web"
    pod.metadata.finalizers.extend(["orphan", "example.com/keep"])
    first = h.client.put(pod)
    h.client.refusals["update"] = [errors.Conflict('Operation cannot be fulfilled on pods "web"')]
    await h.controller.remove_finalizer("Pod", first, "orphan")
    assert list(h.client.stored("Pod", "web").metadata.finalizers) == ["example.com/keep"]

    h.client.objects.clear()
    h.client.put(pod)                                        # another pod of that name (a new uid), with "orphan"
    await h.controller.remove_finalizer("Pod", first, "orphan")
    assert "orphan" in h.client.stored("Pod", "web").metadata.finalizers


async def test_a_namespace_is_finalized_despite_a_conflict() -> None:
    h = Harness(NamespaceController)
    ns = pb.Namespace(api_version="v1", kind="Namespace")
    ns.metadata.name = "team"
    ns.spec.finalizers.append("kubernetes")
    ns.metadata.deletion_timestamp = "2024-01-01T00:00:00Z"
    h.seen(h.client.put(ns))
    h.client.refusals["finalize"] = [errors.Conflict('Operation cannot be fulfilled on namespaces "team"')]
    await h.reconcile("team")
    assert h.client.stored("Namespace", "team", "") is None
