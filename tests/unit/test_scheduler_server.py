"""The scheduler's loop and handlers against an in-memory API (tests/harness/fake_client.py): binds, events,
conditions, retries."""
from __future__ import annotations

import asyncio
from typing import Any

from kubelab import errors
from kubelab.timeutil import FakeClock
from scheduler.server import Config, Scheduler
from tests.harness.fake_client import FakeClient
from tests.harness.scheduler import make_node, make_pod


def pending(s: Scheduler, api: FakeClient, pod: Any) -> None:
    """A pod the API has and the scheduler's watch shows."""
    s.pods._put(api.put(pod))


def later(s: Scheduler, t: float) -> None:
    """The scheduler's clock (a FakeClock: new_scheduler's) at `t`."""
    assert isinstance(s.queue.clock, FakeClock)
    s.queue.clock.t = t


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def new_scheduler(api: FakeClient, *nodes: Any) -> Scheduler:
    s = Scheduler(api, Config(leader_elect=False), clock=FakeClock(0.0))
    for n in nodes:
        s.nodes._put(n)
    return s


async def run_queue(s: Scheduler) -> None:
    while (qp := s.queue.try_pop()) is not None:
        await s._bind_slots.acquire()
        if s.schedule_one(qp) is None:
            s._bind_slots.release()
    await settle()


async def test_binds_with_uid_and_records_scheduled():
    api = FakeClient()
    s = new_scheduler(api, make_node("node-1"))
    pending(s, api, make_pod("x"))
    await run_queue(s)
    assert api.binds == [("default/x", "node-1", "uid-default-x")]
    assert [(e.reason, e.message) for e in api.all("Event")] == [("Scheduled", "Successfully assigned default/x to node-1")]
    assert s.cache.is_assumed("uid-default-x")
    s.pods._put(make_pod("x", node_name="node-1"))     # the watch shows the binding
    assert not s.cache.is_assumed("uid-default-x") and s.cache.pod_node("uid-default-x") == "node-1"
    assert len(s.queue) == 0


async def test_unschedulable_writes_event_and_condition_once():
    api = FakeClient()
    s = new_scheduler(api, make_node("n0", cpu="1"), make_node("n1", cpu="1"), make_node("n2", cpu="1"))
    pending(s, api, make_pod("big", cpu="2"))
    await run_queue(s)
    message = "0/3 nodes are available: 3 Insufficient cpu."
    assert [(e.type, e.reason, e.message) for e in api.all("Event")] == [("Warning", "FailedScheduling", message)]
    (pod,) = api.status_writes
    cond = {c.type: c for c in pod.status.conditions}["PodScheduled"]
    assert (cond.status, cond.reason, cond.message) == ("False", "Unschedulable", message)
    s.pods._put(pod)                                    # our own write comes back: no retry loop
    await run_queue(s)
    assert len(api.status_writes) == 1 and s.queue.where("default/big") == "unschedulable"


async def test_uncordon_retries_the_pending_pod():
    api = FakeClient()
    s = new_scheduler(api, make_node("n0", unschedulable=True))
    pending(s, api, make_pod("p"))
    await run_queue(s)
    assert api.binds == [] and "1 node(s) were unschedulable" in api.status_writes[0].status.conditions[0].message
    s.nodes._put(make_node("n0"))                       # uncordoned
    later(s, 10.0)
    await run_queue(s)
    assert api.binds == [("default/p", "n0", "uid-default-p")]


async def test_heartbeat_updates_do_not_retry_pods():
    api = FakeClient()
    s = new_scheduler(api, make_node("n0", cpu="1"))
    pending(s, api, make_pod("big", cpu="2"))
    await run_queue(s)
    heartbeat = make_node("n0", cpu="1")
    heartbeat.status.conditions[0].last_heartbeat_time = "2030-01-01T00:00:00Z"
    s.nodes._put(heartbeat)
    assert s.queue.where("default/big") == "unschedulable"


async def test_bind_failure_forgets_and_backs_off():
    api = FakeClient()
    api.refusals["bind"] = [errors.Unavailable("apiserver down")]
    s = new_scheduler(api, make_node("n0", cpu="1"))
    pending(s, api, make_pod("p", cpu="1"))
    await run_queue(s)
    assert s.cache.pod_node("uid-default-p") is None and s.cache.nodes["n0"].req_cpu == 0
    assert s.queue.where("default/p") == "backoff"
    assert any(e.reason == "FailedScheduling" and e.message.startswith("Binding rejected") for e in api.all("Event"))


async def test_ignores_other_schedulers_bound_and_terminating_pods():
    api = FakeClient()
    s = new_scheduler(api, make_node("n0"))
    other = make_pod("other")
    other.spec.scheduler_name = "my-scheduler"
    dying = make_pod("dying")
    dying.metadata.deletion_timestamp = "2030-01-01T00:00:00Z"
    for p in (other, dying, make_pod("bound", node_name="n0")):
        s.pods._put(p)
    await run_queue(s)
    assert api.binds == [] and len(s.queue) == 0
    assert s.cache.pod_node("uid-default-bound") == "n0"


async def test_deleting_a_placed_pod_frees_room_for_a_pending_one():
    api = FakeClient()
    s = new_scheduler(api, make_node("n0", cpu="1"))
    s.pods._put(make_pod("old", cpu="1", node_name="n0"))
    pending(s, api, make_pod("new", cpu="1"))
    await run_queue(s)
    assert api.binds == []
    s.pods._remove(make_pod("old", cpu="1", node_name="n0"))
    later(s, 10.0)
    await run_queue(s)
    assert api.binds == [("default/new", "n0", "uid-default-new")]


async def test_the_binding_carries_the_decision_for_the_audit_log():
    import json
    from scheduler.server import DECISION_ANNOTATION
    api = FakeClient()
    s = new_scheduler(api, make_node("n0"), make_node("n1", cpu="1"), make_node("n2", unschedulable=True))
    pending(s, api, make_pod("x", cpu="2"))
    await run_queue(s)
    assert api.binds == [("default/x", "n0", "uid-default-x")]
    decision = json.loads(api.bind_annotations[0][DECISION_ANNOTATION])
    assert decision["node"] == "n0" and decision["nodes"] == 3 and decision["feasible"] == 1
    assert decision["unfeasible"] == {"Insufficient cpu": 1, "node(s) were unschedulable": 1}
    assert decision["score"] is None                 # the only feasible node is not scored


async def test_the_decision_names_the_chosen_nodes_score():
    import json
    from scheduler.server import DECISION_ANNOTATION
    api = FakeClient()
    s = new_scheduler(api, make_node("n0"), make_node("n1"))
    pending(s, api, make_pod("x"))
    await run_queue(s)
    decision = json.loads(api.bind_annotations[0][DECISION_ANNOTATION])
    assert decision["feasible"] == 2 and decision["unfeasible"] == {}
    assert isinstance(decision["score"], float) and decision["score"] > 0
