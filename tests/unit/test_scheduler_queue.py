"""The scheduling queue, with fake time so back-off costs nothing."""
from __future__ import annotations

import asyncio

import pytest

from kubelab.timeutil import FakeClock
from scheduler.queue import ACTIVE, BACKOFF, IN_FLIGHT, UNSCHEDULABLE, SchedulingQueue


def new_queue(clock: FakeClock | None = None) -> SchedulingQueue:
    return SchedulingQueue(clock or FakeClock(0.0), initial_backoff=1.0, max_backoff=10.0, max_unschedulable=60.0)


def test_fifo_and_priority():
    q = new_queue()
    q.add("ns/a")
    q.add("ns/b")
    q.add("ns/urgent", priority=100)
    assert [q.try_pop().key for _ in range(3)] == ["ns/urgent", "ns/a", "ns/b"]
    assert q.try_pop() is None


def test_duplicate_adds_are_one_entry():
    q = new_queue()
    q.add("ns/a")
    q.add("ns/a")
    assert q.try_pop().key == "ns/a"
    assert q.try_pop() is None


@pytest.mark.parametrize("attempts,expected", [(0, 0.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0),
                                               (9, 10.0)])
def test_backoff_doubles_to_the_cap(attempts, expected):
    assert new_queue().backoff_duration(attempts) == expected


def test_unschedulable_waits_for_an_event():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    qp = q.try_pop()
    q.requeue_unschedulable(qp)
    assert q.where("ns/a") == UNSCHEDULABLE
    clock.t = 30.0
    assert q.try_pop() is None           # nothing happened: it stays parked
    assert q.move_all("NodeAdd") == 1
    assert q.where("ns/a") == ACTIVE     # back-off (1 s) long expired
    assert q.try_pop().attempts == 2


def test_move_goes_through_backoff_when_not_expired():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    q.requeue_unschedulable(q.try_pop())
    q.move_all("NodeUpdate")
    assert q.where("ns/a") == BACKOFF
    clock.t = 0.5
    assert q.try_pop() is None
    clock.t = 1.0
    assert q.try_pop().key == "ns/a"


def test_event_during_the_cycle_is_not_lost():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    qp = q.try_pop()
    q.move_all("NodeAdd")                # arrives while ns/a is being decided
    q.requeue_unschedulable(qp)
    assert q.where("ns/a") == BACKOFF


def test_a_filtered_event_during_the_cycle_only_concerns_its_pods():
    q = new_queue()
    q.add("ns/plain")
    q.add("ns/affine", wants_pod_events=True)
    plain, affine = q.try_pop(), q.try_pop()
    q.move_all("AssignedPodAdd", only=lambda qp: qp.wants_pod_events)
    q.requeue_unschedulable(plain)
    q.requeue_unschedulable(affine)
    assert (q.where("ns/plain"), q.where("ns/affine")) == (UNSCHEDULABLE, BACKOFF)


def test_update_of_an_unschedulable_pod_retries_it():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a", uid="u1")
    q.requeue_unschedulable(q.try_pop())
    clock.t = 5.0
    q.add("ns/a", uid="u1")
    assert q.where("ns/a") == ACTIVE


def test_recreated_pod_starts_afresh():
    q = new_queue()
    q.add("ns/a", uid="u1")
    q.requeue_unschedulable(q.try_pop())
    q.add("ns/a", uid="u2")
    qp = q.try_pop()
    assert (qp.uid, qp.attempts) == ("u2", 1)


def test_parked_too_long_is_retried_anyway():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    q.requeue_unschedulable(q.try_pop())
    clock.t = 59.0
    assert q.try_pop() is None
    clock.t = 60.0
    assert q.try_pop().key == "ns/a"


def test_move_only_some():
    q = new_queue()
    q.add("ns/a", wants_pod_events=True)
    q.add("ns/b")
    for qp in (q.try_pop(), q.try_pop()):
        q.requeue_unschedulable(qp)
    q.scheduling_cycle += 1
    assert q.move_all("AssignedPodAdd", only=lambda qp: qp.wants_pod_events) == 1
    assert q.where("ns/b") == UNSCHEDULABLE


def test_bind_error_backs_off_and_delete_forgets():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    qp = q.try_pop()
    assert q.where("ns/a") == IN_FLIGHT
    q.requeue_backoff(qp)
    assert q.where("ns/a") == BACKOFF
    q.delete("ns/a")
    clock.t = 100.0
    assert q.try_pop() is None and len(q) == 0


def test_done_forgets_and_late_requeue_is_ignored():
    q = new_queue()
    q.add("ns/a")
    qp = q.try_pop()
    q.done("ns/a")
    q.requeue_backoff(qp)
    assert len(q) == 0


async def test_pop_waits_for_backoff_with_fake_time():
    clock = FakeClock(0.0)
    q = new_queue(clock)
    q.add("ns/a")
    q.requeue_backoff(q.try_pop())       # attempts=1: ready at t=1
    popper = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    assert not popper.done()
    await clock.advance(1.0)
    qp = await asyncio.wait_for(popper, 1)
    assert qp.key == "ns/a" and qp.attempts == 2


async def test_pop_wakes_on_add_and_close():
    q = new_queue()
    popper = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    q.add("ns/a")
    assert (await asyncio.wait_for(popper, 1)).key == "ns/a"
    popper = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    q.close()
    with pytest.raises(Exception):
        await asyncio.wait_for(popper, 1)
