"""Garbage collector: what happens to a dependent, and the three propagation policies."""
from __future__ import annotations

import pytest

from controller_manager.garbagecollector import DANGLING, SOLID, WAITING, GarbageCollector, classify
from tests.harness.controller_manager import Harness
from kubelab.v1 import objects_pb2 as pb


@pytest.mark.parametrize("states,action", [
    pytest.param({}, "keep", id="no-owners"),
    pytest.param({"a": SOLID}, "keep", id="owner-alive"),
    pytest.param({"a": DANGLING}, "delete", id="owner-gone"),
    pytest.param({"a": SOLID, "b": DANGLING}, "strip", id="one-of-two-gone"),
    pytest.param({"a": SOLID, "b": WAITING}, "strip", id="one-of-two-foreground-deleting"),
    pytest.param({"a": WAITING}, "foreground", id="owner-foreground-deleting"),
    pytest.param({"a": WAITING, "b": DANGLING}, "foreground", id="waiting-and-gone"),
])
def test_classify(states: dict[str, str], action: str) -> None:
    assert classify(states) == action


def _chain(h: Harness) -> tuple[pb.Deployment, pb.ReplicaSet, list[pb.Pod]]:
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name = "web"
    d = h.client.put(d)
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name = "web-1"
    rs.metadata.owner_references.add(api_version="apps/v1", kind="Deployment", name="web", uid=d.metadata.uid,
                                     controller=True, block_owner_deletion=True)
    rs = h.client.put(rs)
    pods = []
    for i in range(2):
        p = pb.Pod(api_version="v1", kind="Pod")
        p.metadata.name = f"web-1-{i}"
        p.metadata.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="web-1",
                                        uid=rs.metadata.uid, controller=True, block_owner_deletion=True)
        p.spec.containers.add(name="c", image="x")
        pods.append(h.client.put(p))
    h.sync_all()
    return d, rs, pods


async def drain(h: Harness, rounds: int = 20) -> None:
    """Run queued keys until nothing is left (the caches follow the fake store after each)."""
    from controller_manager.base import Requeue
    for _ in range(rounds):
        keys = h.queued()
        h.controller.queue._queue.clear()
        h.controller.queue._dirty.clear()
        if not keys:
            return
        for k in keys:
            try:
                await h.reconcile(k)
            except Requeue:
                h.controller.queue.add(k)
            h.sync_all()


async def test_background_cascade() -> None:
    h = Harness(GarbageCollector)
    d, rs, pods = _chain(h)
    await drain(h)
    assert h.client.actions == []                       # everything owned by live owners
    await h.client.delete("Deployment", "web")
    h.sync_all()
    await drain(h)
    assert h.client.all("ReplicaSet") == [] and h.client.all("Pod") == []


async def test_foreground_cascade_deletes_dependents_first() -> None:
    h = Harness(GarbageCollector)
    d, rs, pods = _chain(h)
    await h.client.delete("Deployment", "web", propagation_policy="Foreground")
    h.sync_all()
    await drain(h)
    order = [a[2] for a in h.client.actions if a[0] in ("delete", "update")]
    assert h.client.all("Deployment") == [] and h.client.all("ReplicaSet") == [] and h.client.all("Pod") == []
    # the pods went before the replica set's finalizer was removed, which came before the deployment's
    assert order.index("default/web-1-0") < order.index("default/web-1", order.index("default/web-1-0"))
    assert order[-1] == "default/web"


async def test_orphan_keeps_dependents_without_the_reference() -> None:
    h = Harness(GarbageCollector)
    d, rs, pods = _chain(h)
    await h.client.delete("Deployment", "web", propagation_policy="Orphan")
    h.sync_all()
    await drain(h)
    assert h.client.all("Deployment") == []
    kept = h.client.stored("ReplicaSet", "web-1")
    assert kept is not None and list(kept.metadata.owner_references) == []
    assert len(h.client.all("Pod")) == 2


async def test_a_reference_to_a_gone_owner_is_dropped_when_another_owner_lives() -> None:
    h = Harness(GarbageCollector)
    d, rs, pods = _chain(h)
    p = h.client.stored("Pod", "web-1-0")
    p.metadata.owner_references.add(api_version="v1", kind="Service", name="ghost", uid="ghost-uid")
    h.client.put(p)
    h.sync_all()
    await drain(h)
    assert [r.name for r in h.client.stored("Pod", "web-1-0").metadata.owner_references] == ["web-1"]
