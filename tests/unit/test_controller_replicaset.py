"""ReplicaSet controller: deletion ranking, status maths, and reconcile against a fake API."""
from __future__ import annotations

import pytest

from controller_manager import podutil
from controller_manager.base import Requeue
from controller_manager.replicaset import (ReplicaSetController, calculate_status, next_availability_check,
                                           pod_from_template, slow_start_batch)
from tests.harness.controller_manager import Harness, pod_status_ready
from kubelab import errors, timeutil
from kubelab.v1 import objects_pb2 as pb

T0 = 1_700_000_000.0


def pod(name: str, node: str = "n1", phase: str = "Running", ready: bool | None = True, ready_since: float = T0,
        created: float = T0, restarts: int = 0, labels: dict[str, str] | None = None) -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace, p.metadata.uid = name, "default", f"uid-{name}"
    p.metadata.creation_timestamp = timeutil.fmt(created)
    p.metadata.labels.update(labels if labels is not None else {"app": "web"})
    p.spec.node_name = node
    p.spec.containers.add(name="c", image="nginx")
    p.status.phase = phase
    if ready is not None:
        p.status.conditions.add(type="Ready", status="True" if ready else "False",
                                last_transition_time=timeutil.fmt(ready_since))
    p.status.container_statuses.add(name="c", restart_count=restarts)
    return p


def replicaset(replicas: int = 3, min_ready: int = 0, name: str = "web-abc") -> pb.ReplicaSet:
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name, rs.metadata.namespace = name, "default"
    rs.metadata.generation = 2
    rs.spec.replicas = replicas
    rs.spec.min_ready_seconds = min_ready
    rs.spec.selector.match_labels["app"] = "web"
    rs.spec.template.metadata.labels.update({"app": "web", "tier": "front"})
    rs.spec.template.metadata.annotations["note"] = "x"
    rs.spec.template.spec.containers.add(name="c", image="nginx:1.15")
    return rs


# ------------------------------------------------------------------ which pods go first
@pytest.mark.parametrize("pods,expected_first", [
    pytest.param([pod("a"), pod("b", node="")], "b", id="unscheduled-before-scheduled"),
    pytest.param([pod("a"), pod("b", phase="Pending", ready=None)], "b", id="pending-before-running"),
    pytest.param([pod("a", phase="Running"), pod("b", phase="Unknown")], "b", id="unknown-before-running"),
    pytest.param([pod("a"), pod("b", ready=False)], "b", id="not-ready-before-ready"),
    pytest.param([pod("a", ready_since=T0), pod("b", ready_since=T0 + 5)], "b", id="ready-for-less-time-first"),
    pytest.param([pod("a", restarts=0), pod("b", restarts=4)], "b", id="more-restarts-first"),
    pytest.param([pod("a", created=T0), pod("b", created=T0 + 1)], "b", id="newest-first"),
    pytest.param([pod("a", node="", created=T0), pod("b", ready=False, created=T0 + 9)], "a",
                 id="unscheduled-beats-newer-not-ready"),
])
def test_deletion_ranking(pods: list[pb.Pod], expected_first: str) -> None:
    assert podutil.pods_to_delete(pods, 1)[0].metadata.name == expected_first
    assert podutil.pods_to_delete(list(reversed(pods)), 1)[0].metadata.name == expected_first


def test_deletion_ranking_full_order() -> None:
    pods = [pod("ready-old", created=T0), pod("ready-new", created=T0 + 2, ready_since=T0 + 2),
            pod("not-ready", ready=False), pod("pending", phase="Pending", ready=None), pod("unscheduled", node="",
                                                                                           phase="Pending", ready=None)]
    order = [p.metadata.name for p in podutil.pods_to_delete(pods, 5)]
    assert order == ["unscheduled", "pending", "not-ready", "ready-new", "ready-old"]
    assert podutil.pods_to_delete(pods, 0) == []


# ------------------------------------------------------------------ availability and status
@pytest.mark.parametrize("p,min_ready,now,available", [
    pytest.param(pod("a", ready_since=T0), 0, T0, True, id="ready-no-min"),
    pytest.param(pod("a", ready_since=T0), 10, T0 + 5, False, id="ready-too-short"),
    pytest.param(pod("a", ready_since=T0), 10, T0 + 10, True, id="ready-long-enough"),
    pytest.param(pod("a", ready=False), 0, T0, False, id="not-ready"),
    pytest.param(pod("a", ready=None, phase="Pending"), 0, T0, False, id="no-condition"),
])
def test_is_available(p: pb.Pod, min_ready: int, now: float, available: bool) -> None:
    assert podutil.is_available(p, min_ready, now) is available


def test_calculate_status_counts() -> None:
    rs = replicaset(3, min_ready=10)
    pods = [pod("a", ready_since=T0 - 60, labels={"app": "web", "tier": "front"}),
            pod("b", ready_since=T0 - 2), pod("c", ready=False)]
    st = calculate_status(rs, pods, None, T0)
    assert (st.replicas, st.fully_labeled_replicas, st.ready_replicas, st.available_replicas,
            st.observed_generation) == (3, 1, 2, 1, 2)
    assert next_availability_check(rs, pods, T0) == pytest.approx(8.0)
    failed = calculate_status(rs, pods[:1], errors.Forbidden("quota"), T0)
    assert [(c.type, c.reason, c.message) for c in failed.conditions] == [("ReplicaFailure", "FailedCreate", "quota")]
    rs.status.CopyFrom(failed)
    assert list(calculate_status(rs, pods, None, T0).conditions) == []


def test_pod_from_template() -> None:
    rs = replicaset()
    rs.metadata.uid = "rs-uid"
    p = pod_from_template(rs)
    assert p.metadata.generate_name == "web-abc-" and not p.metadata.name
    assert dict(p.metadata.labels) == {"app": "web", "tier": "front"} and p.metadata.annotations["note"] == "x"
    ref = p.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller, ref.block_owner_deletion) == (
        "ReplicaSet", "web-abc", "rs-uid", True, True)
    assert p.spec.containers[0].image == "nginx:1.15"


async def test_slow_start_batches_stop_at_the_first_failing_batch() -> None:
    calls: list[int] = []

    async def fn() -> None:
        calls.append(1)
        if len(calls) == 5:
            raise errors.Forbidden("no")
    ok, err = await slow_start_batch(20, 1, fn)
    # batches 1, 2, 4: the 5th call (in the batch of 4) fails; no batch of 8 follows
    assert len(calls) == 7 and ok == 6 and isinstance(err, errors.Forbidden)
    calls.clear()
    ok, err = await slow_start_batch(5, 1, fn)
    assert ok == 4 and err is not None


# ------------------------------------------------------------------ reconcile against a fake API
def _harness(replicas: int = 3) -> tuple[Harness, pb.ReplicaSet]:
    h = Harness(ReplicaSetController)
    rs = h.client.put(replicaset(replicas))
    h.seen(rs)
    return h, rs


def _pods(h: Harness) -> list[pb.Pod]:
    return [p for p in h.client.all("Pod") if not p.metadata.deletion_timestamp]


async def test_creates_missing_pods_once_thanks_to_expectations() -> None:
    h, rs = _harness(3)
    await h.reconcile("default/web-abc")
    assert len(_pods(h)) == 3
    assert all(p.metadata.name.startswith("web-abc-") and len(p.metadata.name) == len("web-abc-") + 5
               for p in _pods(h))
    assert [e[0] for e in h.events] == ["SuccessfulCreate"] * 3
    # The watch has not shown the pods yet: a second sync must not create doubles.
    await h.reconcile("default/web-abc")
    assert len(_pods(h)) == 3
    # Once it has, the controller trusts the cache again and computes status.
    h.sync_all()
    assert h.controller.expectations.satisfied("default/web-abc")
    await h.reconcile("default/web-abc")
    assert len(_pods(h)) == 3
    assert h.client.stored("ReplicaSet", "web-abc").status.replicas == 3


async def test_scale_down_deletes_the_least_useful_pods() -> None:
    h, rs = _harness(3)
    for name, p in [("ok-1", pod("ok-1")), ("ok-2", pod("ok-2", created=T0 + 1)),
                    ("unready", pod("unready", ready=False)),
                    ("pending", pod("pending", phase="Pending", ready=None, node=""))]:
        p.metadata.owner_references.add(kind="ReplicaSet", name="web-abc", uid=rs.metadata.uid, controller=True)
        h.seen(h.client.put(p))
    rs2 = h.client.stored("ReplicaSet", "web-abc")
    rs2.spec.replicas = 1
    h.seen(h.client.put(rs2))
    await h.reconcile("default/web-abc")
    deleted = sorted(a[2] for a in h.client.actions if a[0] == "delete")
    assert deleted == ["default/ok-2", "default/pending", "default/unready"]   # ok-1 is older: it stays
    assert sorted(m for r, m, _ in h.events if r == "SuccessfulDelete") == [
        "Deleted pod: ok-2", "Deleted pod: pending", "Deleted pod: unready"]


async def test_adopts_matching_orphans_and_releases_strays() -> None:
    h, rs = _harness(2)
    orphan = h.client.put(pod("orphan"))
    stray = pod("stray", labels={"app": "other"})
    stray.metadata.owner_references.add(kind="ReplicaSet", name="web-abc", uid=rs.metadata.uid, controller=True)
    stray = h.client.put(stray)
    someone_elses = pod("theirs")
    someone_elses.metadata.owner_references.add(kind="ReplicaSet", name="x", uid="other", controller=True)
    h.seen(orphan, stray, h.client.put(someone_elses))
    await h.reconcile("default/web-abc")
    adopted = h.client.stored("Pod", "orphan")
    assert [r.uid for r in adopted.metadata.owner_references] == [rs.metadata.uid]
    assert list(h.client.stored("Pod", "stray").metadata.owner_references) == []
    # one adopted pod of two: one more created
    assert len([a for a in h.client.actions if a[0] == "create"]) == 1


async def test_failed_create_is_reported_and_retried() -> None:
    h, rs = _harness(2)
    h.client.refusals["create"] = [errors.Forbidden('pods "x" is forbidden: exceeded quota')]
    with pytest.raises(errors.Forbidden):
        await h.reconcile("default/web-abc")
    assert h.events[0][0] == "FailedCreate"
    assert h.controller.expectations.satisfied("default/web-abc")      # nothing left to wait for
    st = h.client.stored("ReplicaSet", "web-abc").status
    assert st.conditions[0].type == "ReplicaFailure"


async def test_requeues_when_a_pod_will_become_available() -> None:
    h = Harness(ReplicaSetController)
    h.clock.t = T0
    rs = h.client.put(replicaset(1, min_ready=5))
    p = pod("p", ready_since=T0 - 2)
    p.metadata.owner_references.add(kind="ReplicaSet", name="web-abc", uid=rs.metadata.uid, controller=True)
    h.seen(rs, h.client.put(p))
    with pytest.raises(Requeue) as r:
        await h.reconcile("default/web-abc")
    assert r.value.delay == pytest.approx(3.05)
    assert h.client.stored("ReplicaSet", "web-abc").status.available_replicas == 0
    await h.clock.advance(3)
    h.sync_all()
    await h.reconcile("default/web-abc")
    assert h.client.stored("ReplicaSet", "web-abc").status.available_replicas == 1


async def test_pod_events_map_to_the_owner_key() -> None:
    h, rs = _harness(1)
    p = pod_status_ready(pod("p"), True, T0)
    p.metadata.owner_references.add(kind="ReplicaSet", name="web-abc", uid=rs.metadata.uid, controller=True)
    h.controller.queue._queue.clear()
    h.controller.queue._dirty.clear()
    h.seen(p)
    assert h.queued() == ["default/web-abc"]


async def test_replicas_2147483647_create_a_burst_of_500_per_sync_and_wait_to_see_them() -> None:
    """Issue 12 item 11: `replicas: 2147483647` must not try 2 billion creates at once (Kubernetes'
    burstReplicas: 500 per sync), and the next sync waits until the cache has shown those 500."""
    h = Harness(ReplicaSetController)
    rs = h.client.put(replicaset(replicas=2147483647))
    h.seen(rs)
    await h.reconcile("default/web-abc")
    creates = [a for a in h.client.actions if a[:2] == ("create", "Pod")]
    assert len(creates) == 500
    assert h.controller.expectations.pending("default/web-abc") == (500, 0)
    await h.reconcile("default/web-abc")                  # nothing seen yet: nothing more created
    assert len([a for a in h.client.actions if a[:2] == ("create", "Pod")]) == 500
    h.sync_all()                                          # the watch shows them
    assert h.controller.expectations.satisfied("default/web-abc")
    await h.reconcile("default/web-abc")
    assert len([a for a in h.client.actions if a[:2] == ("create", "Pod")]) == 1000


async def test_while_a_burst_is_unseen_pod_events_sync_at_most_every_second_and_the_last_at_once() -> None:
    """Issue 12 item 11: a sync (a pass over every pod) per event of a 500-pod burst kept the controller
    manager's event loop from the watch delivering the rest of the burst: 10,000 pods took minutes to go."""
    h, rs = _harness(4)
    pods = []
    for i in range(4):
        p = pod(f"p{i}")
        p.metadata.owner_references.add(kind="ReplicaSet", name="web-abc", uid=rs.metadata.uid, controller=True)
        pods.append(h.client.put(p))
    h.seen(*pods)
    rs2 = h.client.stored("ReplicaSet", "web-abc")
    rs2.spec.replicas = 0
    h.seen(h.client.put(rs2))
    await h.reconcile("default/web-abc")
    assert h.controller.expectations.pending("default/web-abc") == (0, 4)
    h.controller.queue._queue.clear()
    h.controller.queue._dirty.clear()
    for p in pods[:3]:
        h.gone(p)
    assert h.queued() == []                                        # waits: one more deletion is unseen
    assert "default/web-abc" in h.controller.queue._waiting          # in PENDING_SYNC_DELAY
    h.gone(pods[3])
    assert h.queued() == ["default/web-abc"]                       # the burst is seen: sync now
