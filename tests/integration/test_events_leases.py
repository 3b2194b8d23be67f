"""Events (counted, expiring) and leader election on Lease objects."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelab import errors
from kubelab.client import Client, new_object
from kubelab.events import EventRecorder
from kubelab.leaderelection import LeaderElector

from .conftest import etcd_storage


async def record_repeatedly(client: Client, pod_name: str, times: int, type_: str, reason: str,
                            message: str) -> tuple[Any, list[Any]]:
    """A new pod, the same event recorded `times` times on it; the pod and the events listed for it."""
    pod = new_object("Pod", pod_name)
    pod.spec.containers.add(name="c", image="i")
    pod = await client.create(pod)
    rec = EventRecorder(client, "test-component", "host-1")
    for _ in range(times):
        await rec.record(pod, type_, reason, message)
    events, _ = await client.list("Event", field_selector=f"involvedObject.name={pod_name}")
    return pod, events


async def test_repeated_events_are_counted_on_one_object(client: Client) -> None:
    pod, events = await record_repeatedly(client, "evented", 3, "Warning", "BackOff",
                                          "Back-off restarting failed container")
    assert len(events) == 1
    ev = events[0]
    assert ev.count == 3 and ev.reason == "BackOff" and ev.involved_object.uid == pod.metadata.uid
    assert ev.source.component == "test-component"
    # the series says when it was last seen, to the microsecond, after its first time
    assert ev.series.count == 3 and ev.series.last_observed_time > ev.event_time


async def test_a_counted_event_keeps_its_ttl_lease(client: Client, local_cluster: dict[str, Any]) -> None:
    """An Event's count goes up by update; the update must not detach it from the lease that expires it."""
    from aetcd import rpc

    _, events = await record_repeatedly(client, "leased", 2, "Normal", "Pulled", "pulled")
    assert [e.count for e in events] == [2]
    etcd = etcd_storage(local_cluster)
    await etcd.start()
    try:
        key = f"/registry/events/default/{events[0].metadata.name}".encode()
        resp = await etcd.kv.Range(rpc.RangeRequest(key=key))
        assert resp.kvs and resp.kvs[0].lease != 0 and resp.kvs[0].version == 2
    finally:
        await etcd.close()


async def test_one_leader_at_a_time_and_handover(client: Client) -> None:
    leading: list[str] = []
    done = asyncio.Event()

    def make(identity: str) -> LeaderElector:
        return LeaderElector(client, "test-lock", "default", identity, lease_duration=2, renew_deadline=1.5,
                             retry_period=0.3)
    a, b = make("a"), make("b")

    async def lead(name: str) -> None:
        leading.append(name)
        await done.wait()
    task_a = asyncio.create_task(a.run(lambda: lead("a")))
    await asyncio.sleep(0.5)
    task_b = asyncio.create_task(b.run(lambda: lead("b")))
    await asyncio.sleep(1.0)
    assert leading == ["a"] and a.is_leader and not b.is_leader
    task_a.cancel()                 # the leader stops: it gives the lease back, b takes it at its next try
    with pytest.raises((asyncio.CancelledError, SystemExit)):
        await task_a
    for _ in range(50):
        if b.is_leader:
            break
        await asyncio.sleep(0.2)
    assert leading == ["a", "b"]
    lease = await client.get("Lease", "test-lock", "default")
    assert lease.spec.holder_identity == "b" and lease.spec.lease_transitions == 1
    done.set()
    task_b.cancel()
    try:
        await task_b
    except (asyncio.CancelledError, SystemExit, errors.ApiError):
        pass


class _WritesOnly(Client):
    """A client of the same apiserver, as the same identity, that fails the test if it is asked to get an Event."""

    async def get(self, kind: str, name: str, namespace: str | None = None) -> Any:
        assert kind != "Event", "the recorder read an event"
        return await super().get(kind, name, namespace)


async def test_repeats_are_counted_without_reading_an_event(client: Client) -> None:
    """As client-go's recorder: the repeat is a patch on the event it remembers, never a get; a new run of the
    component (which does not know the count) writes an event of its own instead of miscounting."""
    pod = new_object("Pod", "unread")
    pod.spec.containers.add(name="c", image="i")
    pod = await client.create(pod)
    async with _WritesOnly(client.server, client.token) as writes:
        rec = EventRecorder(writes, "test-component", "host-1")
        for _ in range(4):
            await rec.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
        events, _ = await client.list("Event", field_selector="involvedObject.name=unread")
        assert [(e.count, e.series.count) for e in events] == [(4, 4)]
        again = EventRecorder(writes, "test-component", "host-1")
        await again.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
        await again.record(pod, "Warning", "BackOff", "Back-off restarting failed container")
    events, _ = await client.list("Event", field_selector="involvedObject.name=unread")
    assert sorted(e.count for e in events) == [2, 4]
