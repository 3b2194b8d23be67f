"""Test harness: run a controller's reconcile against an in-memory API, no processes.

`Harness(ControllerClass)` builds the controller over a `FakeClient` (tests/harness/fake_client.py: a dict
of objects with uids, resourceVersions, generateName and the delete semantics controllers rely on: graceful
pods, finalizers) and unstarted informers that tests fill by hand with `seen(obj)` — so a test decides
exactly when the "watch" shows a write, which is what expectations are about. Every write is recorded in
`client.actions`, every Event in `events`.

The second half is what the controller-manager integration tests and benchmarks read of a running cluster:
the ReplicaSet syncs in its log, the pods that count, a watch that tracks a rollout's extremes. Starting
the cluster, processes and polling are tests/harness/cluster.py's and wait.py's; the manifests, manifests.py's.
"""
from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelab import conditions, kinds, timeutil
from kubelab.client import Client
from kubelab.v1 import objects_pb2 as pb

from controller_manager.base import Context, Controller
from controller_manager.config import Config
from controller_manager.informers import SharedInformers
from tests.harness.fake_client import FakeClient, FakeRecorder


class Harness:
    """One controller over a FakeClient, its informers filled by hand."""

    def __init__(self, controller: type[Controller], config: Config | None = None) -> None:
        self.clock = timeutil.FakeClock()
        self.client = FakeClient(clock=self.clock)
        self.informers = SharedInformers(self.client)
        self.ctx = Context(client=self.client, informers=self.informers, config=config or Config(), clock=self.clock)
        self.controller = controller(self.ctx)
        self.recorder = FakeRecorder()
        self.controller.recorder = self.recorder
        self.controller.setup()

    @property
    def events(self) -> list[tuple[str, str, str]]:
        """(reason, message, object name) of each Event the controller recorded."""
        return [(reason, message, name) for (reason, message), name in zip(self.recorder.events, self.recorder.names)]

    def seen(self, *objs: Any) -> None:
        """The watch shows these objects (added or updated): caches and handlers see them."""
        for obj in objs:
            self.informers.get(kinds.info_of(obj).kind)._put(obj)

    def gone(self, *objs: Any) -> None:
        for obj in objs:
            self.informers.get(kinds.info_of(obj).kind)._remove(obj)

    def sync_all(self) -> None:
        """Show every stored object in the caches, and drop what the store no longer has."""
        for kind in self.informers.kinds():
            inf = self.informers.get(kind)
            live = {kinds.key_of(o): o for o in self.client.all(kind)}
            for key, obj in list(inf.store.items()):
                if key not in live:
                    inf._remove(obj)
            for obj in live.values():
                cached = inf.store.get(kinds.key_of(obj))
                if cached is None or cached.metadata.resource_version != obj.metadata.resource_version:
                    inf._put(obj)

    def queued(self) -> list[str]:
        return list(self.controller.queue._queue)

    async def reconcile(self, key: str) -> None:
        await self.controller.reconcile(key)
        await asyncio.sleep(0)


def pod_status_ready(pod: pb.Pod, ready: bool, since: float) -> pb.Pod:
    """Mark a pod Running and Ready (or not) since `since`."""
    pod.status.phase = "Running"
    pod.status.pod_ip = pod.status.pod_ip or f"10.0.0.{random.randint(2, 250)}"
    del pod.status.conditions[:]
    pod.status.conditions.add(type="Ready", status="True" if ready else "False",
                              last_transition_time=timeutil.fmt(since))
    return pod


# ====================================================================== integration helpers
# What the controller-manager integration tests and benchmarks read of a running cluster (tests/harness/cluster.py
# starts it): the ReplicaSet syncs in the controller manager's log, the pods that count, and a watch that tracks a
# rollout's extremes.

_SYNC = re.compile(r"(creating|deleting) (\d+) pods (?:for|of) replica set (\S+) \(have (\d+), want (\d+)\)")


def replicaset_syncs(info: dict[str, Any], key: str) -> list[tuple[str, int, int]]:
    """(creating|deleting, n, pods the sync saw) for every sync of ReplicaSet `key` that wrote, from the
    controller manager's log."""
    text = (Path(info["state_path"]) / "logs" / "controller-manager.log").read_text(errors="replace")
    return [(m[1], int(m[2]), int(m[4])) for m in _SYNC.finditer(text) if m[3] == key]


def unseen_writes(steps: list[tuple[str, int, int]], start: int) -> list[str]:
    """Where a sync saw other than what the syncs before it left (a create or delete it had not observed)."""
    have, out = start, []
    for verb, n, seen in steps:
        if seen != have:
            out.append(f"{verb} {n}: saw {seen}, expected {have}")
        have = seen + (n if verb == "creating" else -n)
    return out


async def live_pods(client: Client, namespace: str, selector: str = "") -> list[pb.Pod]:
    """Pods that count: not terminating, not finished."""
    pods, _ = await client.list("Pod", namespace, label_selector=selector)
    return [p for p in pods if not p.metadata.deletion_timestamp and p.status.phase not in ("Succeeded", "Failed")]


is_ready = conditions.pod_ready


@dataclass
class PodObserver:
    """Watches a namespace's pods; tracks the extremes while armed."""
    client: Client
    namespace: str
    pods: dict[str, pb.Pod] = field(default_factory=dict)
    max_live: int = 0
    min_available: int = 10**9
    events: int = 0
    overlap: bool = False             # an old-image and a new-image pod existed at once
    new_image: str = ""

    def _measure(self) -> None:
        live = [p for p in self.pods.values() if not p.metadata.deletion_timestamp
                and p.status.phase not in ("Succeeded", "Failed")]
        self.max_live = max(self.max_live, len(live))
        self.min_available = min(self.min_available, sum(1 for p in live if is_ready(p)))
        if self.new_image:
            images = {p.spec.containers[0].image for p in self.pods.values()}
            if self.new_image in images and len(images) > 1:
                self.overlap = True

    async def run(self, ready: asyncio.Event) -> None:
        pods, rv = await self.client.list("Pod", self.namespace)
        self.pods = {p.metadata.name: p for p in pods}
        self._measure()
        stream = self.client.watch("Pod", self.namespace, resource_version=rv)
        ready.set()
        try:
            async for ev in stream:
                if ev.type == "BOOKMARK":
                    continue
                pod = kinds.unwrap(ev.object)
                if ev.type == "DELETED":
                    self.pods.pop(pod.metadata.name, None)
                else:
                    self.pods[pod.metadata.name] = pod
                self.events += 1
                self._measure()
        finally:
            stream.cancel()


async def observe(client: Client, ns: str) -> tuple[PodObserver, asyncio.Task[None]]:
    """A PodObserver of namespace `ns`, its watch running (stop it by cancelling the task)."""
    obs = PodObserver(client, ns)
    ready = asyncio.Event()
    task = asyncio.create_task(obs.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    return obs, task
