"""The pod worker's decisions (kubelet.worker.PodWorker) without Docker: one pod synced over an in-memory
runtime (tests/harness/docker_kubelet.py) with the real collaborators (probes, volumes, sandboxes, image
puller, restart back-off on a FakeClock). Which containers it starts, restarts, stops or leaves alone, what a
crash loop looks like, init containers in order, postStart failures, deletion within the grace period."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelab.client import new_object
from kubelab.timeutil import FakeClock, cancel
from kubelet.backoff import Backoff
from kubelet.config import FORCE_GRACE, PodConfig
from kubelet.docker_runtime import L_HASH, L_UID, ContainerInfo
from kubelet.probes import ProbeManager
from kubelet.pulls import ImagePuller
from kubelet.sandbox import Sandboxes
from kubelet.volumes import VolumeManager
from kubelet.worker import PodWorker, container_hash, should_restart
from tests.harness.docker_kubelet import FakeRuntime
from tests.harness.fake_client import FakeClient, FakeRecorder


def web_pod(policy: str = "Always", init: tuple[str, ...] = ()) -> Any:
    p = new_object("Pod", "web", "shop")
    p.metadata.uid, p.metadata.resource_version = "uid-1", "3"
    p.spec.node_name, p.spec.restart_policy = "node-1", policy
    for name in init:
        p.spec.init_containers.add(name=name, image="kubelab/busybox")
    p.spec.containers.add(name="app", image="kubelab/web")
    return p


class Node:
    """One pod's worker on a node of fakes; the pod's sandbox is up (and its network prepared)."""

    def __init__(self, pod: Any) -> None:
        self.pod = pod
        self.clock = FakeClock()
        self.rt = FakeRuntime(self.clock)
        self.client = FakeClient(pod)
        self.recorder = FakeRecorder()
        self.restarts = Backoff(10, 300, clock=self.clock)
        cfg = PodConfig(node_name="node-1", node_ip="172.28.0.3", service_links=False)
        volumes = VolumeManager(self.rt)
        sandboxes = Sandboxes(cfg, self.rt, volumes)
        self.worker = PodWorker(pod.metadata.uid, pod, config=cfg, runtime=self.rt, client=self.client,
                                recorder=self.recorder, probes=ProbeManager(self.rt, lambda *event: None, self.woken),
                                volumes=volumes, sandboxes=sandboxes, images=ImagePuller(cfg, self.rt, self.clock),
                                restarts=self.restarts, services=None, on_done=lambda w: None, clock=self.clock)
        self.sandbox = self.rt.add(pod, "POD", "running", kind="sandbox")
        sandboxes.prepared.add(self.sandbox.id)

    def woken(self, uid: str) -> None:
        self.worker.wake.set()

    def app(self, name: str = "app", status: str = "running", restart: int = 0, exit_code: int = 0,
            labels: dict[str, str] | None = None) -> ContainerInfo:
        return self.rt.add(self.pod, name, status, restart=restart, exit_code=exit_code, labels=labels)

    def newest(self, name: str = "app") -> ContainerInfo:
        return max((c for c in self.rt.containers.values() if c.container_name == name),
                   key=lambda c: c.restart_count)

    def status(self) -> Any:
        return self.client.status_writes[-1].status


# ---------------------------------------------------------------- restart policy
@pytest.mark.parametrize("policy,exit_code,restart", [
    ("Always", 0, True), ("Always", 1, True),
    ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_restart_policy(policy: str, exit_code: int, restart: bool) -> None:
    assert should_restart(policy, exit_code) is restart


@pytest.mark.parametrize("policy,exit_code,restarted", [
    ("Always", 0, True), ("OnFailure", 0, False), ("OnFailure", 2, True), ("Never", 2, False),
])
async def test_an_exited_container_is_restarted_as_its_pods_policy_says(policy: str, exit_code: int,
                                                                        restarted: bool) -> None:
    node = Node(web_pod(policy))
    node.app(status="exited", exit_code=exit_code)
    await node.worker.sync()
    assert node.rt.created() == (["k8s_app_web_shop_uid-1_1"] if restarted else [])
    if restarted:
        assert node.newest().running and node.recorder.reasons() == ["Pulled", "Created", "Started"]


async def test_a_crash_loop_backs_off_doubling_and_says_so_while_waiting() -> None:
    node = Node(web_pod())
    crashed = node.app(status="exited", exit_code=1)
    await node.worker.sync()                          # first crash: restarted at once
    assert node.rt.created() == ["k8s_app_web_shop_uid-1_1"]
    node.rt.finish(node.newest().id, 1)
    node.clock.t += 4
    await node.worker.sync()                          # crashed again: 10 s back-off, 4 s of it passed
    assert node.rt.created() == ["k8s_app_web_shop_uid-1_1"]
    waiting = node.status().container_statuses[0].state.waiting
    assert (waiting.reason, waiting.message) == (
        "CrashLoopBackOff", "back-off 10s restarting failed container=app pod=web_shop(uid-1)")
    assert node.recorder.events[-1] == ("BackOff", "Back-off restarting failed container app in pod web_shop(uid-1)")
    assert node.worker.next_sync is not None and node.worker.next_sync - node.clock.now() == pytest.approx(6.05)
    node.clock.t += 6
    await node.worker.sync()                          # waited it out: restarted (and the old instance pruned)
    assert node.rt.created()[-1] == "k8s_app_web_shop_uid-1_2" and crashed.id not in node.rt.containers
    node.rt.finish(node.newest().id, 1)
    await node.worker.sync()
    assert node.status().container_statuses[0].state.waiting.message.startswith("back-off 20s ")


async def sync(node: Node) -> None:
    """One sync as the worker's loop runs it: the timer it answers to is used up."""
    node.worker.next_sync = None
    await node.worker.sync()


async def test_the_restart_back_off_doubles_to_5_minutes_and_starts_again_after_10_minutes_running() -> None:
    # Kubernetes' CrashLoopBackOff: 10s, 20s, 40s, ... capped at 5m; a container that then ran for 10 minutes
    # before crashing is restarted at once and its next back-off is 10s again.
    node = Node(web_pod())
    node.app(status="exited", exit_code=1)
    await sync(node)                                      # the first crash: restarted at once
    shown, waited = [], []
    for _ in range(7):
        node.rt.finish(node.newest().id, 1)
        await sync(node)
        waiting = node.status().container_statuses[0].state.waiting
        assert waiting.reason == "CrashLoopBackOff"
        shown.append(waiting.message.split()[1])
        assert node.worker.next_sync is not None
        waited.append(round(node.worker.next_sync - node.clock.now()))
        created = len(node.rt.created())
        node.clock.t += waited[-1] - 0.5
        await sync(node)                                  # half a second early: still waiting
        assert len(node.rt.created()) == created
        node.clock.t += 0.6
        await sync(node)
        assert len(node.rt.created()) == created + 1      # the back-off is over: restarted
    assert shown == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s", "5m0s"]
    assert waited == [10, 20, 40, 80, 160, 300, 300]      # and the worker's timer says the same
    node.clock.t += 10 * 60 + 1                           # this instance runs for 10 minutes, then crashes
    node.rt.finish(node.newest().id, 1)
    created = len(node.rt.created())
    await sync(node)
    assert len(node.rt.created()) == created + 1          # restarted at once
    node.rt.finish(node.newest().id, 1)
    await sync(node)
    assert node.status().container_statuses[0].state.waiting.message.startswith("back-off 10s ")


async def test_the_running_worker_restarts_a_crashed_container_when_the_back_off_is_over_on_its_clock() -> None:
    node = Node(web_pod())
    node.app(status="exited", exit_code=1)
    task = asyncio.create_task(node.worker.run())
    try:
        await node.clock.advance(0)                       # the first crash: restarted at once
        assert node.rt.created() == ["k8s_app_web_shop_uid-1_1"]
        node.rt.finish(node.newest().id, 1)
        node.worker.wake.set()                            # as Docker's "die" event does
        await node.clock.advance(9)
        assert len(node.rt.created()) == 1 and node.status().container_statuses[0].state.waiting.reason == (
            "CrashLoopBackOff")
        await node.clock.advance(1.1)                     # 10 s after the crash: the worker wakes and restarts it
        assert node.rt.created()[-1] == "k8s_app_web_shop_uid-1_2" and node.newest().running
    finally:
        await cancel(task)


# ---------------------------------------------------------------- init containers
async def test_init_containers_run_one_at_a_time_in_order_before_the_app() -> None:
    node = Node(web_pod(init=("migrate", "seed")))
    await node.worker.sync()
    assert node.rt.created() == ["k8s_migrate_web_shop_uid-1_0"]
    await node.worker.sync()                          # still running: nothing else starts
    assert len(node.rt.created()) == 1
    node.rt.finish(node.newest("migrate").id, 0)
    await node.worker.sync()
    assert node.rt.created()[1:] == ["k8s_seed_web_shop_uid-1_0"]
    node.rt.finish(node.newest("seed").id, 0)
    await node.worker.sync()
    assert node.rt.created()[2:] == ["k8s_app_web_shop_uid-1_0"]


@pytest.mark.parametrize("policy,rerun", [("Always", True), ("OnFailure", True), ("Never", False)])
async def test_a_failed_init_container_is_rerun_unless_the_pod_never_restarts(policy: str, rerun: bool) -> None:
    node = Node(web_pod(policy, init=("migrate", "seed")))
    node.app("migrate", status="exited", exit_code=1)
    await node.worker.sync()
    assert node.rt.created() == (["k8s_migrate_web_shop_uid-1_1"] if rerun else [])
    assert node.status().phase == ("Pending" if rerun else "Failed")


# ---------------------------------------------------------------- adoption and changes
async def test_a_running_container_of_the_same_spec_is_adopted_not_recreated() -> None:
    pod = web_pod()
    node = Node(pod)
    node.app(labels={L_HASH: container_hash(pod.spec.containers[0])})
    await node.worker.sync()
    assert node.rt.actions == [] and node.recorder.events == []
    assert node.status().phase == "Running"


async def test_a_running_container_of_another_spec_is_stopped_and_started_anew() -> None:
    pod = web_pod()
    pod.spec.termination_grace_period_seconds = 12
    node = Node(pod)
    old = node.app(labels={L_HASH: "0123456789abcdef"})
    await node.worker.sync()
    assert node.recorder.events[0] == ("Killing", "Container app definition changed, will be restarted")
    assert ("stop", old.id, 12) in node.rt.actions and node.rt.created() == ["k8s_app_web_shop_uid-1_1"]


async def test_a_failed_post_start_hook_kills_the_container() -> None:
    pod = web_pod()
    pod.spec.termination_grace_period_seconds = 5
    pod.spec.containers[0].lifecycle.post_start.exec.command.extend(["register"])
    node = Node(pod)
    node.rt.exec_results[("register",)] = (1, "registry down\n")
    await node.worker.sync()
    started = node.newest()
    assert node.recorder.events[-2:] == [
        ("FailedPostStartHook", "PostStartHook failed: registry down"),
        ("Killing", "Container app failed to run its post-start hook, will be restarted")]
    assert node.rt.actions[-1] == ("stop", started.id, 5)


# ---------------------------------------------------------------- stopping
async def test_a_deleted_pod_is_stopped_within_its_grace_period_then_deleted_with_grace_0() -> None:
    pod = web_pod()
    pod.metadata.deletion_timestamp = "2026-12-04T14:00:00Z"
    pod.metadata.deletion_grace_period_seconds = 7
    node = Node(pod)
    app = node.app()
    await node.worker.sync()
    assert [c for c in node.rt.actions if c[0] == "stop"] == [("stop", app.id, 7), ("stop", node.sandbox.id, 2)]
    assert node.recorder.events == [("Killing", "Stopping container app")]
    assert node.client.deletes == [("web", 0, "uid-1")]
    assert node.worker.terminated and node.status().phase == "Failed"      # Always: stopped, not finished


async def test_a_pod_gone_from_the_api_has_its_containers_and_volumes_removed() -> None:
    node = Node(web_pod())
    app, done = node.app(), node.app(status="exited", restart=1)
    node.rt.volumes = [{"Name": "uid-1-data", "Labels": {L_UID: "uid-1"}}]
    node.worker.pod = None
    await node.worker.sync()
    assert sorted(c for c in node.rt.actions if c[0] == "stop") == sorted(
        [("stop", app.id, FORCE_GRACE), ("stop", node.sandbox.id, 1)])
    assert {c[1] for c in node.rt.actions if c[0] == "remove"} == {app.id, done.id, node.sandbox.id}
    assert ("remove_volume", "uid-1-data") in node.rt.actions and node.worker.done


@pytest.mark.parametrize("policy", ["OnFailure", "Never"])
async def test_a_finished_pod_gets_no_new_sandbox(policy: str) -> None:
    node = Node(web_pod(policy))
    node.sandbox.status = "exited"
    node.app(status="exited", exit_code=0)
    await node.worker.sync()
    assert node.rt.actions == [] and node.status().phase == "Succeeded"
