"""The image pull back-off (kubelet.pulls) without Docker, on a FakeClock: what a container whose image cannot be
pulled shows (ErrImagePull, then ImagePullBackOff), when the kubelet pulls again (10 s doubling to 5 minutes,
as Kubernetes' image manager), and that a hollow node (kubelet.hollow) shows the same at the same moments."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from kubelab.client import new_object
from kubelab.timeutil import FakeClock
from kubelet.config import PodConfig
from kubelet.docker_runtime import RuntimeError_
from kubelet.hollow import HollowConfig, HollowRunner, PodSim
from kubelet.pulls import ImagePuller, PullBackoff, pull_waiting
from tests.harness.docker_kubelet import FakeRuntime
from tests.harness.fake_client import FakeClient

IMAGE = "nginx:missing"
NOT_FOUND = "manifest for nginx:missing not found: manifest unknown"


@pytest.mark.parametrize("since,delay,want", [
    pytest.param(0.0, 10.0, (("ErrImagePull", NOT_FOUND), 2.0), id="just-failed"),
    pytest.param(1.5, 10.0, (("ErrImagePull", NOT_FOUND), 0.5), id="error-shown-2s"),
    pytest.param(2.0, 10.0, (("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'), 8.0), id="then-back-off"),
    pytest.param(10.0, 10.0, None, id="delay-over-pull-again"),
    pytest.param(0.5, 1.0, (("ErrImagePull", NOT_FOUND), 0.5), id="short-delay-error-all-along"),
])
def test_what_a_container_shows_after_a_failed_pull(since: float, delay: float, want: Any) -> None:
    assert pull_waiting(IMAGE, NOT_FOUND, since, delay) == want


class NoImages(FakeRuntime):
    """An engine that has no image and whose every pull fails; `pulls` are the clock times of the pulls."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.pulls: list[float] = []

    async def inspect_image(self, ref: str) -> dict[str, Any] | None:
        return None

    async def pull(self, ref: str) -> dict[str, Any]:
        self.pulls.append(self.clock())
        raise RuntimeError_(NOT_FOUND)


def docker_node() -> tuple[FakeClock, NoImages, ImagePuller]:
    clock = FakeClock(start=0.0)
    rt = NoImages(clock)
    return clock, rt, ImagePuller(PodConfig(node_name="node-1"), rt, clock)


CONTAINER = SimpleNamespace(image=IMAGE, image_pull_policy="IfNotPresent")


async def test_a_failed_pull_is_not_retried_before_its_back_off_is_over() -> None:
    clock, rt, puller = docker_node()
    events: list[tuple[str, str, str]] = []
    first = await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: events.append(e))
    assert (first.ok, first.waiting, first.retry_in) == (False, ("ErrImagePull", NOT_FOUND), 2.0)
    assert [e[1] for e in events] == ["Pulling", "Failed", "Failed"]
    clock.t = 2.0
    events.clear()
    backing_off = await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: events.append(e))
    assert backing_off.waiting == ("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"')
    assert backing_off.retry_in == pytest.approx(8.05)
    assert events == [("Normal", "BackOff", f'Back-off pulling image "{IMAGE}"'),
                      ("Warning", "Failed", "Error: ImagePullBackOff")]
    clock.t = 9.9
    await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: None)
    assert rt.pulls == [0.0]                               # 10 s not over: no second pull
    clock.t = 10.0
    again = await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: None)
    assert rt.pulls == [0.0, 10.0] and again.waiting == ("ErrImagePull", NOT_FOUND)
    other = await puller.ensure("uid-2", "shop/api", CONTAINER, lambda *e: None)
    assert rt.pulls == [0.0, 10.0, 10.0] and other.waiting == ("ErrImagePull", NOT_FOUND)   # per pod
    puller.forget("uid-1")
    await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: None)
    assert rt.pulls[-1] == 10.0 and len(rt.pulls) == 4     # a pod gone and back starts afresh
    clock.t = 12.0
    assert (await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: None)).retry_in == pytest.approx(8.05)


def hollow_node(clock: FakeClock) -> tuple[HollowRunner, PodSim, Any]:
    runner = HollowRunner(FakeClient(), ["hn-0"], HollowConfig(events=False), clock=clock)
    pod = new_object("Pod", "web", "shop")
    pod.metadata.uid, pod.spec.node_name = "uid-1", "hn-0"
    pod.spec.containers.add(name="app", image=IMAGE)
    return runner, PodSim("uid-1", "shop/web", "hn-0", seen=0.0, start_time="2026-12-04T16:00:00Z"), pod


async def test_a_hollow_node_pulls_and_backs_off_as_a_docker_node_does() -> None:
    # Both kubelets looked at every second for 20 minutes: the same reason at every moment, the same pulls
    # (at 0, 10, 30, 70, 150, 310 s, then every 300 s).
    clock, rt, puller = docker_node()
    runner, sim, pod = hollow_node(clock)
    hollow_pulls: list[float] = []
    runner.container_event = lambda _pod, _node, _c, _type, reason, _message: (   # type: ignore[method-assign]
        hollow_pulls.append(clock.t) if reason == "Pulling" else None)
    docker_seen, hollow_seen = [], []
    for t in range(0, 1201):
        clock.t = float(t)
        docker_seen.append((await puller.ensure("uid-1", "shop/web", CONTAINER, lambda *e: None)).waiting[0])
        status, wake = runner.desired_status(pod, sim, clock.now())
        hollow_seen.append(status.container_statuses[0].state.waiting.reason)
        assert wake is not None and wake > t
    assert rt.pulls == hollow_pulls == [0, 10, 30, 70, 150, 310, 610, 910]
    assert docker_seen == hollow_seen
    assert docker_seen[:13] == ["ErrImagePull"] * 2 + ["ImagePullBackOff"] * 8 + ["ErrImagePull"] * 2 + [
        "ImagePullBackOff"]


def test_the_back_off_doubles_to_5_minutes_and_starts_again_after_ten_quiet_minutes() -> None:
    backoff = PullBackoff(10, 300)
    delays: list[float] = []
    now = 0.0
    for _ in range(7):
        (reason, _), _shown = backoff.failed("uid-1", IMAGE, NOT_FOUND, now)
        assert reason == "ErrImagePull" and backoff.waiting("uid-1", IMAGE, now + 1) is not None
        shown = backoff.waiting("uid-1", IMAGE, now + 2)
        assert shown is not None and shown[0][0] == "ImagePullBackOff"
        delays.append(2 + shown[1])
        now += delays[-1]
        assert backoff.waiting("uid-1", IMAGE, now) is None              # over: pull again
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    # A pull that fails again more than 2x5 minutes after the last failure (an `Always` pull at a later
    # restart, say) backs off from 10 s again.
    backoff.failed("uid-1", IMAGE, NOT_FOUND, now + 601)
    assert backoff.waiting("uid-1", IMAGE, now + 601 + 2) == (("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'),
                                                              8.0)
