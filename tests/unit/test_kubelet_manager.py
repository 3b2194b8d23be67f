"""The Docker kubelet's pod manager (kubelet.manager) without Docker: which pod updates wake a pod's worker, and
which containers and volumes housekeeping removes (those of pods this node neither has nor is still stopping)."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

from kubelab.client import new_object
from kubelab.timeutil import FakeClock
from kubelet.config import FORCE_GRACE, PodConfig
from kubelet.docker_runtime import L_UID, ContainerInfo
from kubelet.manager import PodManager, _spec_or_deletion_changed
from kubelet.worker import PodWorker
from tests.harness.docker_kubelet import FakeRuntime
from tests.harness.fake_client import FakeClient, FakeRecorder


def pod(name: str, uid: str) -> Any:
    p = new_object("Pod", name, "shop")
    p.metadata.uid, p.spec.node_name = uid, "node-1"
    p.spec.containers.add(name="app", image="kubelab/web")
    return p


def manager(rt: FakeRuntime, *bound: Any) -> PodManager:
    m = PodManager(FakeClient(*bound), rt, FakeRecorder(), PodConfig(node_name="node-1", service_links=False))
    for p in bound:                                  # as the pod informer lists them
        m.informer.store[f"{p.metadata.namespace}/{p.metadata.name}"] = p
    return m


def idle_worker(m: PodManager, uid: str) -> PodWorker:
    """A worker the manager has for `uid`, not running (its wake-up cleared)."""
    w = PodWorker(uid, None, config=m.config, runtime=m.runtime, client=m.client, recorder=m.recorder,
                  probes=m.probes, volumes=m.volumes, sandboxes=m.sandboxes, images=m.images, restarts=m.restarts,
                  services=None, on_done=m.worker_done, clock=m.clock)
    w.wake.clear()
    return w


async def test_housekeeping_removes_the_containers_and_volumes_of_pods_the_node_does_not_have() -> None:
    rt = FakeRuntime(FakeClock())
    ours, gone = pod("web", "uid-1"), pod("old", "uid-2")
    kept = [rt.add(ours, "POD", "running", kind="sandbox"), rt.add(ours, "app", "running")]
    running, exited = rt.add(gone, "app", "running"), rt.add(gone, "app", "exited", restart=1)
    rt.volumes = [{"Name": "uid-1-data", "Labels": {L_UID: "uid-1"}},
                  {"Name": "uid-2-data", "Labels": {L_UID: "uid-2"}}, {"Name": "someone-elses", "Labels": {}}]
    await manager(rt, ours).housekeeping()
    assert [c for c in rt.actions if c[0] == "stop"] == [("stop", running.id, FORCE_GRACE)]      # the running one
    assert sorted(c for c in rt.actions if c[0] != "stop") == [("remove", running.id), ("remove", exited.id),
                                                              ("remove_volume", "uid-2-data")]
    assert set(rt.containers) == {c.id for c in kept}


async def test_housekeeping_leaves_a_pod_its_worker_is_still_stopping() -> None:
    rt = FakeRuntime(FakeClock())
    deleted = pod("web", "uid-1")            # gone from the informer; its worker is stopping it
    rt.add(deleted, "app", "running")
    rt.volumes = [{"Name": "uid-1-data", "Labels": {L_UID: "uid-1"}}]
    m = manager(rt)
    m.workers["uid-1"] = idle_worker(m, "uid-1")
    await m.housekeeping()
    assert rt.actions == []


def changed(edit: Callable[[Any], None]) -> bool:
    old, new = pod("web", "uid-1"), pod("web", "uid-1")
    old.metadata.deletion_grace_period_seconds = new.metadata.deletion_grace_period_seconds = 30
    edit(new)
    return _spec_or_deletion_changed(old, new)


@pytest.mark.parametrize("edit,wakes", [
    pytest.param(lambda p: setattr(p.spec.containers[0], "image", "kubelab/web:2"), True, id="spec"),
    pytest.param(lambda p: setattr(p.metadata, "deletion_timestamp", "2026-12-04T14:00:00Z"), True, id="deleted"),
    pytest.param(lambda p: setattr(p.metadata, "deletion_grace_period_seconds", 0), True, id="grace-shortened"),
    pytest.param(lambda p: p.metadata.labels.update(app="web"), True, id="labels"),
    pytest.param(lambda p: p.metadata.annotations.update(note="x"), True, id="annotations"),
    pytest.param(lambda p: setattr(p.status, "phase", "Running"), False, id="status-only"),
    pytest.param(lambda p: setattr(p.metadata, "resource_version", "9"), False, id="resource-version"),
])
def test_which_updates_wake_the_pods_worker(edit: Callable[[Any], None], wakes: bool) -> None:
    assert changed(edit) is wakes


@pytest.mark.parametrize("action,wakes", [("die", True), ("oom", True), ("destroy", True), ("start", False),
                                          ("exec_start", False)])
async def test_docker_events_that_wake_a_pods_worker(action: str, wakes: bool) -> None:
    m = manager(FakeRuntime(FakeClock()))
    m._loop = asyncio.get_running_loop()
    w = m.workers["uid-1"] = idle_worker(m, "uid-1")
    m.wake_threadsafe("uid-1", action, {})
    await asyncio.sleep(0)
    assert w.wake.is_set() is wakes


class BoundWhileListing(FakeRuntime):
    """A runtime during whose container listing a pod is bound to the node (its worker made)."""

    def __init__(self, clock: FakeClock, arrive: Callable[[], None]) -> None:
        super().__init__(clock)
        self.arrive = arrive

    async def list_containers(self, uid: str | None = None, all_nodes: bool = False) -> list[ContainerInfo]:
        self.arrive()
        return await super().list_containers(uid, all_nodes)


async def test_housekeeping_leaves_a_pod_bound_while_it_listed_the_containers() -> None:
    m = manager(FakeRuntime(FakeClock()))

    def bind() -> None:
        m.workers["uid-1"] = idle_worker(m, "uid-1")
    rt = BoundWhileListing(FakeClock(), bind)
    m.runtime = rt
    rt.add(pod("web", "uid-1"), "app", "running")
    await m.housekeeping()
    assert rt.actions == []
