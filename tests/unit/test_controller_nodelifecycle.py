"""Node lifecycle decisions (controller_manager/nodelifecycle.py)."""
from __future__ import annotations

import pytest

from controller_manager.config import Config
from controller_manager.nodelifecycle import (NOT_READY_TAINT, UNREACHABLE_TAINT, NodeLifecycleController, assess)
from controller_manager.base import Requeue
from tests.harness.controller_manager import Harness
from kubelab import conditions, timeutil
from kubelab.v1 import objects_pb2 as pb

T0 = 1_700_000_000.0


def node(ready: str = "True", since: float = T0 - 100, beat: float = T0) -> pb.Node:
    n = pb.Node(api_version="v1", kind="Node")
    n.metadata.name = "n1"
    n.status.conditions.add(type="Ready", status=ready, last_transition_time=timeutil.fmt(since),
                            last_heartbeat_time=timeutil.fmt(beat))
    n.status.conditions.add(type="MemoryPressure", status="False")
    return n


@pytest.mark.parametrize("n,age,expected", [
    # (stale, ready, taint, evict, evict_in)
    pytest.param(node(), 5, (False, "True", None, False, None), id="healthy"),
    pytest.param(node(), 21, (True, "Unknown", UNREACHABLE_TAINT, False, 30), id="silent-becomes-unknown"),
    pytest.param(node("Unknown", since=T0 - 10), 60, (True, "Unknown", UNREACHABLE_TAINT, False, 20),
                 id="unknown-counting-down"),
    pytest.param(node("Unknown", since=T0 - 31), 60, (True, "Unknown", UNREACHABLE_TAINT, True, None),
                 id="unknown-past-timeout-evicts"),
    pytest.param(node("False", since=T0 - 5), 1, (False, "False", NOT_READY_TAINT, False, 25),
                 id="kubelet-says-not-ready"),
    pytest.param(node("False", since=T0 - 40), 1, (False, "False", NOT_READY_TAINT, True, None),
                 id="not-ready-too-long-evicts"),
])
def test_assess(n: pb.Node, age: float, expected: tuple[object, ...]) -> None:
    a = assess(n, age, grace=20, eviction_timeout=30, now=T0)
    assert (a.stale, a.ready, a.taint, a.evict, a.evict_in) == expected


def _pod(name: str, node_name: str = "n1") -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name = name
    p.spec.node_name = node_name
    p.spec.containers.add(name="c", image="x")
    p.status.phase = "Running"
    p.status.conditions.add(type="Ready", status="True")
    return p


async def test_silent_node_goes_unknown_then_its_pods_go() -> None:
    h = Harness(NodeLifecycleController, Config(node_monitor_grace_period=20, pod_eviction_timeout=30))
    h.clock.t = T0
    mono = [0.0]
    h.controller.monotonic = lambda: mono[0]
    n = h.client.put(node(beat=T0))
    p = h.client.put(_pod("p"))
    h.seen(n, p)
    await h.reconcile("n1")                       # first look: heartbeat fresh
    assert h.client.actions == []
    mono[0] = 21.0
    await h.clock.advance(21)
    await h.reconcile("n1")
    stored = h.client.stored("Node", "n1")
    ready = conditions.get(stored.status.conditions, "Ready")
    assert (ready.status, ready.reason, ready.message) == ("Unknown", "NodeStatusUnknown",
                                                           "Kubelet stopped posting node status.")
    # The controller's probe moved, and the transition with it; the kubelet's last heartbeat stays.
    assert (ready.last_probe_time, ready.last_transition_time, ready.last_heartbeat_time) == (
        timeutil.fmt(T0 + 21), timeutil.fmt(T0 + 21), timeutil.fmt(T0))
    assert conditions.get(stored.status.conditions, "MemoryPressure").status == "Unknown"
    assert [(t.key, t.effect) for t in stored.spec.taints] == [(UNREACHABLE_TAINT, "NoSchedule")]
    assert conditions.get(h.client.stored("Pod", "p").status.conditions, "Ready").status == "False"
    assert ("NodeNotReady", "Node n1 status is now: NodeNotReady", "n1") in h.events
    assert h.client.stored("Pod", "p") is not None     # not evicted yet
    h.sync_all()
    mono[0] = 60.0
    await h.clock.advance(39)
    await h.reconcile("n1")
    assert h.client.stored("Pod", "p") is None          # deleted with grace 0
    assert any(r == "DeletingAllPods" for r, _, _ in h.events)


async def test_a_node_seen_first_with_an_old_heartbeat_is_not_given_a_new_grace_period() -> None:
    h = Harness(NodeLifecycleController, Config(node_monitor_grace_period=20))
    h.clock.t = T0
    h.controller.monotonic = lambda: 1000.0
    h.seen(h.client.put(node(beat=T0 - 60)))
    await h.reconcile("n1")
    assert conditions.get(h.client.stored("Node", "n1").status.conditions, "Ready").status == "Unknown"


async def test_ready_again_removes_the_taint() -> None:
    h = Harness(NodeLifecycleController)
    h.clock.t = T0
    n = node()
    n.spec.taints.add(key=UNREACHABLE_TAINT, effect="NoSchedule")
    n.spec.taints.add(key="dedicated", value="x", effect="NoSchedule")
    h.seen(h.client.put(n))
    await h.reconcile("n1")
    assert [t.key for t in h.client.stored("Node", "n1").spec.taints] == ["dedicated"]


async def test_pods_of_a_missing_node_are_collected_after_the_quarantine() -> None:
    """Kubernetes' pod GC: a node missing for 40 s (quarantineTime) loses its pods; not before."""
    h = Harness(NodeLifecycleController)
    mono = [0.0]
    h.controller.monotonic = lambda: mono[0]
    h.client.put(_pod("orphan", node_name="gone"))
    h.sync_all()
    assert h.queued() == ["orphans:gone"]
    with pytest.raises(Requeue) as later:
        await h.reconcile("orphans:gone")
    assert later.value.delay == pytest.approx(40)
    assert h.client.stored("Pod", "orphan") is not None
    mono[0] = 40.5
    await h.reconcile("orphans:gone")
    assert h.client.stored("Pod", "orphan") is None
    assert h.events == [("PodGCOrphaned", 'Deleted pod: node "gone" does not exist (pods bound to a missing node '
                                          'are deleted after 40s)', "orphan")]


async def test_a_node_that_appears_during_the_quarantine_keeps_its_pods() -> None:
    h = Harness(NodeLifecycleController)
    mono = [0.0]
    h.controller.monotonic = lambda: mono[0]
    h.client.put(_pod("early", node_name="n1"))
    h.sync_all()
    h.seen(h.client.put(node()))
    mono[0] = 41.0
    await h.reconcile("orphans:n1")
    assert h.client.stored("Pod", "early") is not None
    assert h.client.actions == []


async def test_a_replica_set_bound_to_a_missing_node_is_replaced_once_per_quarantine() -> None:
    """Issue 12 item 14: a template with spec.nodeName: nope recreated its pod as soon as it was deleted
    (about 50 pods/s). Each replacement now waits out a quarantine of its own, and the ReplicaSet is told why."""
    from controller_manager.replicaset import ReplicaSetController
    from tests.harness.fake_client import FakeRecorder
    h = Harness(NodeLifecycleController)
    mono = [0.0]
    h.controller.monotonic = lambda: mono[0]
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name = "nope"
    rs.spec.replicas = 1
    rs.spec.selector.match_labels["app"] = "nope"
    rs.spec.template.metadata.labels["app"] = "nope"
    rs.spec.template.spec.node_name = "nope"
    rs.spec.template.spec.containers.add(name="c", image="x")
    rs = h.client.put(rs)
    rsc = ReplicaSetController(h.ctx)         # the same client and informers: its creates are what we collect
    rsc.recorder = FakeRecorder()
    rsc.setup()
    deleted = 0
    for second in range(0, 200):
        mono[0] = float(second)
        h.sync_all()
        await rsc.reconcile("default/nope")
        h.sync_all()
        for key in [k for k in h.queued() if k.startswith("orphans:")]:
            h.controller.queue._queue.remove(key)
            h.controller.queue._dirty.discard(key)
            try:
                await h.reconcile(key)
            except Requeue:
                h.controller.queue.add(key)       # as the work queue would, once the delay is over
        deleted = sum(1 for verb, kind, _ in h.client.actions if (verb, kind) == ("delete", "Pod"))
    assert 4 <= deleted <= 5, f"{deleted} pods deleted in 200 s"
    assert ("PodGCOrphaned", 'Deleted pod: node "nope" does not exist (pods bound to a missing node are deleted '
                             'after 40s)', "nope") in h.events
