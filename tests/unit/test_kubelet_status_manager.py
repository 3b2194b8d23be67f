"""The kubelet's status writes (kubelet.status_manager.StatusWriter) against an in-memory API: no write when
nothing changed, a conflict retried on a fresh read, and a refused write backing off (doubling, capped) with one
FailedSync event per attempt until a success resets it."""
from __future__ import annotations

from typing import Any

import pytest

from kubelab import errors
from kubelab.client import new_object
from kubelab.timeutil import FakeClock
from kubelab.v1 import objects_pb2 as pb
from kubelet.status_manager import FAILED_SYNC, StatusWriter
from tests.harness.fake_client import FakeClient


def web_pod(rv: str = "5") -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid, p.metadata.resource_version = "uid-1", rv
    p.status.phase = "Pending"
    return p


def running() -> Any:
    st = pb.PodStatus()
    st.phase, st.pod_ip = "Running", "10.244.1.5"
    return st


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, type_: str, reason: str, message: str) -> None:
        self.seen.append((type_, reason, message))


def writer(client: FakeClient, clock: FakeClock, events: Events) -> StatusWriter:
    return StatusWriter(client, "uid-1", events, base=1.0, cap=4.0, clock=clock)


async def test_no_write_when_the_status_is_the_apis_or_our_last_write() -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    client = FakeClient(pod)
    w = writer(client, clock, events)
    assert await w.write(pod, pod.status) is None and client.status_writes == []
    assert await w.write(pod, running()) is None and len(client.status_writes) == 1
    # The informer has not caught up (still rv 5, Pending): our last write stands, nothing is written again.
    assert await w.write(pod, running()) is None and len(client.status_writes) == 1
    # A newer object that lost our status (someone else wrote it): written again.
    assert await w.write(web_pod(rv="9"), running()) is None and len(client.status_writes) == 2


async def test_a_conflict_is_retried_on_a_fresh_read() -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    client = FakeClient(web_pod(rv="7"))
    client.refusals["update_status"] = [errors.Conflict("the object has been modified")]
    assert await writer(client, clock, events).write(pod, running()) is None
    assert [p.metadata.resource_version for p in client.status_writes] == ["8"]   # written over the fresh rv 7
    assert events.seen == []


async def test_no_write_for_another_pod_of_that_name() -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    successor = web_pod(rv="7")
    successor.metadata.uid = "uid-2"
    client = FakeClient(successor)
    client.refusals["update_status"] = [errors.Conflict("the object has been modified")]
    assert await writer(client, clock, events).write(pod, running()) is None
    assert client.status_writes == []


@pytest.mark.parametrize("refusal", [
    errors.Invalid("status.podIP: Invalid value"),
    errors.Unavailable("apiserver unavailable"),
    errors.RequestEntityTooLarge("request is too large"),
], ids=lambda e: type(e).__name__)
async def test_a_refused_write_backs_off_doubling_with_one_event_per_attempt(refusal: errors.ApiError) -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    client = FakeClient(pod)
    client.refusals["update_status"] = [refusal] * 4
    w = writer(client, clock, events)
    assert await w.write(pod, running()) == 1.0
    assert events.seen == [("Warning", FAILED_SYNC, f"error updating pod status: {refusal}")]
    # Within the back-off: not tried, no second event, told how long is left.
    clock.t += 0.25
    assert await w.write(pod, running()) == 0.75 and len(events.seen) == 1
    delays = []
    for _ in range(3):
        clock.t = w.retry_at
        delays.append(await w.write(pod, running()))
    assert delays == [2.0, 4.0, 4.0]                      # doubling, capped
    assert len(events.seen) == 4 and client.status_writes == []
    clock.t = w.retry_at
    assert await w.write(pod, running()) is None and len(client.status_writes) == 1
    assert (w.failures, w.retry_at) == (0, 0.0)           # a success resets the back-off
    client.refusals["update_status"] = [refusal]
    assert await w.write(web_pod(rv="9"), running()) == 1.0   # the next refusal starts from the base again


async def test_a_pod_gone_from_the_api_is_not_a_refusal() -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    client = FakeClient(pod)
    client.refusals["update_status"] = [errors.NotFound('pods "web" not found')]
    assert await writer(client, clock, events).write(pod, running()) is None
    assert events.seen == []


async def test_endless_conflicts_are_retried_a_second_later_without_an_event() -> None:
    pod, clock, events = web_pod(), FakeClock(), Events()
    client = FakeClient(pod)
    client.refusals["update_status"] = [errors.Conflict("the object has been modified")] * 5
    assert await writer(client, clock, events).write(pod, running()) == 1.0
    assert events.seen == [] and client.status_writes == []


async def test_a_hollow_node_reports_a_refused_write_as_the_docker_kubelet_does(
        caplog: pytest.LogCaptureFixture) -> None:
    """kubelet.hollow's runner and the StatusWriter report refused writes with one function: the same log lines,
    the same FailedSync events, the same doubling delays."""
    import logging

    from kubelet.hollow import HollowConfig, HollowRunner, PodSim
    from tests.harness.fake_client import FakeRecorder
    refusal = errors.RequestEntityTooLarge("request is too large")
    clock, events = FakeClock(), Events()
    docker_client, hollow_client = FakeClient(web_pod()), FakeClient(web_pod())
    docker_client.refusals["update_status"] = [refusal] * 3
    hollow_client.refusals["update_status"] = [refusal] * 3
    w = writer(docker_client, clock, events)
    runner = HollowRunner(hollow_client, ["hn-0"], HollowConfig(status_backoff=1.0, status_backoff_max=4.0),
                          clock=clock)
    runner.recorder = recorder = FakeRecorder()
    sim = PodSim("uid-1", "shop/web", "hn-0", seen=0.0, start_time="")
    docker_delays, hollow_delays = [], []
    with caplog.at_level(logging.WARNING, logger="kubelet.status_manager"):
        for _ in range(3):
            docker_delays.append(await w.write(web_pod(), running()))
            await runner._write(web_pod(), sim, running())
            hollow_delays.append(sim.status_retry_at - clock.now())
            clock.t = w.retry_at
    assert docker_delays == hollow_delays == [1.0, 2.0, 4.0]
    assert [(r, m) for _, r, m in events.seen] == recorder.events == [
        (FAILED_SYNC, "error updating pod status: request is too large")] * 3
    lines = [r.getMessage() for r in caplog.records if r.name == "kubelet.status_manager"]
    assert lines[0::2] == lines[1::2] and "shop/web: RequestEntityTooLarge" in lines[0] and "next in 1s" in lines[0]
