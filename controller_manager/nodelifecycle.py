"""Node lifecycle controller: silent nodes become Unknown, their pods NotReady, then are evicted.

Where it sits: reads Nodes and Pods; writes Node status and taints, Pod
status (Ready=False) and deletes pods. The scheduler reads the taints and
the Ready condition; ReplicaSet controllers replace the deleted pods.

Every `--node-monitor-period` the monitor looks at every node:

1. Health. A kubelet heartbeats by refreshing `lastHeartbeatTime` of its
   Ready condition. The controller times heartbeats with its own monotonic
   clock from when it *saw* them change (Kubernetes' probeTimestamp), so
   clock skew between hosts does not matter; a heartbeat seen for the first
   time is aged by its wall-clock timestamp, so a replica that has just
   taken over does not grant a dead node a fresh grace period. Silent for
   longer than `--node-monitor-grace-period` → every condition the kubelet
   owns becomes Unknown (`NodeStatusUnknown`, "Kubelet stopped posting node
   status."), Event NodeNotReady.
2. Taints. Not Ready → `node.kubernetes.io/not-ready:NoSchedule`; Unknown →
   `node.kubernetes.io/unreachable:NoSchedule` (the scheduler respects
   them). Removed when the node is Ready again (Event NodeReady).
3. Pods. On a node that is not Ready, pods still marked Ready get
   Ready=False (Event NodeNotReady on the pod), so Endpoints and PDBs stop
   counting them.
4. Eviction. A node not Ready for longer than `--pod-eviction-timeout`
   (measured from the Ready condition's last transition) has its pods
   deleted so their controllers recreate them elsewhere (Event
   DeletingAllPods on the node, NodeControllerEviction on each pod). On an
   unreachable node the delete has grace 0: no kubelet is there to finish a
   graceful delete, and a terminating pod would otherwise linger forever.
5. Pods bound to a node that does not exist are deleted (grace 0), as
   Kubernetes' pod garbage collector does: only once the node has been
   missing for `Config.pod_gc_quarantine` (Kubernetes' quarantineTime,
   40 s), checked live at the end. A node that is only slow to register
   keeps its pods; and a ReplicaSet whose template names a node that does
   not exist (`spec.nodeName: nope`) has its pod replaced once per
   quarantine, not as fast as create and delete go (it was about 50
   pods/s). Each deletion is a Warning event on the pod and on its
   controller saying why.

The per-node decision is the pure `assess()`; the controller applies it.
Node keys go through the work queue (one node is never handled twice at
once); so do missing nodes, as `orphans:<node name>`. The periodic
monitor times every node's heartbeat from the cache and queues only the
nodes that need something (not Ready, stale, or carrying a taint to
remove), so a thousand healthy nodes cost a loop, not a thousand
reconciles, per period.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from kubelab import conditions, errors, timeutil
from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .base import Controller, Requeue
from .informers import NODE

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
# Conditions the kubelet owns; all of them go Unknown when it falls silent.
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
ORPHANS = "orphans:"            # queue key prefix: the pods bound to a node that does not exist
ORPHAN_REASON = "PodGCOrphaned"


@dataclass(frozen=True)
class Assessment:
    stale: bool                  # no heartbeat within the grace period
    ready: str                   # the Ready status the node should show: True, False or Unknown
    taint: str | None            # the NoSchedule taint key it should carry, if any
    evict: bool                  # its pods should be deleted now
    evict_in: float | None       # else: seconds until they should be (None: not counting down)


def assess(node: pb.Node, heartbeat_age: float, grace: float, eviction_timeout: float, now: float) -> Assessment:
    """What the node's state should be, given how long ago its heartbeat last moved."""
    ready_cond = conditions.get(node.status.conditions, "Ready")
    stale = heartbeat_age > grace
    if stale:
        ready = "Unknown"
    else:
        ready = ready_cond.status if ready_cond is not None and ready_cond.status else "Unknown"
    taint = {"True": None, "False": NOT_READY_TAINT}.get(ready, UNREACHABLE_TAINT)
    if ready == "True":
        return Assessment(stale, ready, None, False, None)
    # Not ready since the condition last changed, if it already says not-ready; else from now on.
    since = now
    if ready_cond is not None and ready_cond.status in ("False", "Unknown"):
        since = timeutil.parse(ready_cond.last_transition_time) or now
    left = since + eviction_timeout - now
    return Assessment(stale, ready, taint, left <= 0, None if left <= 0 else left)


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    component = "node-controller"
    default_workers = 4

    def setup(self) -> None:
        self.node_informer = self.informers.get("Node")
        self.pod_informer = self.informers.get("Pod")
        self.monotonic = time.monotonic
        # node name -> (heartbeat value last seen, monotonic time it was seen to change)
        self.heartbeats: dict[str, tuple[str, float]] = {}
        # missing node name -> monotonic time its quarantine started
        self.missing_since: dict[str, float] = {}
        self.node_informer.add_handlers(on_add=self.enqueue, on_update=self._node_updated,
                                        on_delete=self._node_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_seen, on_update=lambda o, n: self._pod_seen(n))

    @staticmethod
    def _state(node: pb.Node) -> tuple[Any, ...]:
        ready = conditions.get(node.status.conditions, "Ready")
        return (ready.status if ready else "", tuple((t.key, t.effect) for t in node.spec.taints))

    def _node_updated(self, old: pb.Node, new: pb.Node) -> None:
        # A heartbeat alone changes nothing to act on; the monitor times heartbeats.
        if self._state(old) != self._state(new):
            self.enqueue(new)

    def _node_deleted(self, node: pb.Node) -> None:
        self.heartbeats.pop(node.metadata.name, None)
        if self.pod_informer.by_index(NODE, node.metadata.name):
            self._quarantine(node.metadata.name)

    def _quarantine(self, node_name: str) -> None:
        """Pods are bound to `node_name`, which does not exist: collect them after the quarantine."""
        if node_name not in self.missing_since:
            self.missing_since[node_name] = self.monotonic()
            self.queue.add(ORPHANS + node_name)

    def _pod_seen(self, pod: pb.Pod) -> None:
        node = pod.spec.node_name
        if not node:
            return
        if self.node_informer.get(node) is None:
            self._quarantine(node)
        elif podutil.is_ready(pod):
            cond = conditions.get(self.node_informer.get(node).status.conditions, "Ready")
            if cond is not None and cond.status != "True":
                self.queue.add(node)      # a Ready pod on a NotReady node: mark it

    async def background(self) -> None:
        """The monitor: every period, time every node's heartbeat; queue the nodes that need work."""
        while True:
            now = self.clock()
            for node in self.node_informer.list():
                if self.needs_attention(node, now):
                    self.enqueue(node)
            await asyncio.sleep(self.config.node_monitor_period)

    def needs_attention(self, node: pb.Node, now: float) -> bool:
        a = assess(node, self.heartbeat_age(node), self.config.node_monitor_grace_period,
                   self.config.pod_eviction_timeout, now)
        managed = any(t.key in (UNREACHABLE_TAINT, NOT_READY_TAINT) for t in node.spec.taints)
        return a.ready != "True" or managed

    def heartbeat_age(self, node: pb.Node) -> float:
        ready = conditions.get(node.status.conditions, "Ready")
        beat = ready.last_heartbeat_time if ready is not None else ""
        beat = beat or node.metadata.creation_timestamp
        mono = self.monotonic()
        seen = self.heartbeats.get(node.metadata.name)
        if seen is None or seen[0] != beat:
            if seen is None:
                wall = timeutil.parse(beat)
                age = max(0.0, self.clock() - wall) if wall is not None else 0.0
            else:
                age = 0.0
            self.heartbeats[node.metadata.name] = (beat, mono - age)
            return age
        return mono - seen[1]

    async def reconcile(self, key: str) -> None:
        if key.startswith(ORPHANS):
            await self._gc_orphans(key[len(ORPHANS):])
            return
        node = self.node_informer.get(key)
        if node is None:
            return
        now = self.clock()
        a = assess(node, self.heartbeat_age(node), self.config.node_monitor_grace_period,
                   self.config.pod_eviction_timeout, now)
        if a.stale:
            node = await self._mark_unknown(node, now)
        node = await self._sync_taints(node, a.taint)
        if a.ready == "True":
            return
        pods = self.pod_informer.by_index(NODE, node.metadata.name)
        await self._mark_pods_not_ready(node, pods, now)
        if a.evict:
            await self._evict_pods(node, pods, grace_zero=(a.ready == "Unknown"))
        elif a.evict_in is not None and pods:
            self.queue.add_after(key, a.evict_in + 0.1)

    async def _mark_unknown(self, node: pb.Node, now: float) -> pb.Node:
        ready = conditions.get(node.status.conditions, "Ready")
        if ready is not None and ready.status == "Unknown":
            return node
        new = podutil.copy(node)
        now_s = timeutil.fmt(now)
        for t in KUBELET_CONDITIONS:
            if t == "Ready" or conditions.get(new.status.conditions, t) is not None:
                conditions.set_simple(new.status.conditions, t, "Unknown", UNKNOWN_REASON, UNKNOWN_MESSAGE, now_s,
                                      probe_time=now_s)
        self.log.info("node %s: no heartbeat for more than %.0fs; Ready=Unknown", node.metadata.name,
                      self.config.node_monitor_grace_period)
        node = await self.client.update_status(new)
        self.event(node, "Normal", "NodeNotReady", f"Node {node.metadata.name} status is now: NodeNotReady")
        return node

    async def _sync_taints(self, node: pb.Node, want: str | None) -> pb.Node:
        managed = (UNREACHABLE_TAINT, NOT_READY_TAINT)
        have = {t.key for t in node.spec.taints if t.key in managed and t.effect == "NoSchedule"}
        if have == ({want} if want else set()):
            return node
        new = podutil.copy(node)
        keep = [t for t in new.spec.taints if not (t.key in managed and t.effect == "NoSchedule")]
        copies = [pb.Taint() for _ in keep]
        for dst, src in zip(copies, keep):
            dst.CopyFrom(src)
        del new.spec.taints[:]
        new.spec.taints.extend(copies)
        if want:
            new.spec.taints.add(key=want, effect="NoSchedule", time_added=timeutil.fmt(self.clock()))
        node = await self.client.update(new)
        if want:
            self.log.info("node %s: tainted %s:NoSchedule", node.metadata.name, want)
        else:
            self.log.info("node %s: Ready again; taints removed", node.metadata.name)
            self.event(node, "Normal", "NodeReady", f"Node {node.metadata.name} status is now: NodeReady")
        return node

    async def _mark_pods_not_ready(self, node: pb.Node, pods: list[pb.Pod], now: float) -> None:
        now_s = timeutil.fmt(now)

        async def mark(pod: pb.Pod) -> None:
            new = podutil.copy(pod)
            conditions.set_simple(new.status.conditions, "Ready", "False", "", "", now_s)
            try:
                await self.client.update_status(new)
            except (errors.NotFound, errors.Conflict):
                self.queue.add_after(node.metadata.name, 1.0)
                return
            self.event(pod, "Warning", "NodeNotReady", "Node is not ready")
        todo = [p for p in pods if podutil.is_ready(p)]
        if todo:
            self.log.info("node %s not ready: marking %d pod(s) NotReady", node.metadata.name, len(todo))
            await asyncio.gather(*(mark(p) for p in todo))

    async def _evict_pods(self, node: pb.Node, pods: list[pb.Pod], grace_zero: bool) -> None:
        # On an unreachable node terminating pods are force-deleted too: nobody will finish them.
        todo = [p for p in pods if grace_zero or not p.metadata.deletion_timestamp]
        if not todo:
            return
        self.log.info("node %s not ready for more than %.0fs: deleting its %d pod(s)", node.metadata.name,
                      self.config.pod_eviction_timeout, len(todo))
        self.event(node, "Normal", "DeletingAllPods", f"Deleting all Pods from Node {node.metadata.name}.")

        async def delete(pod: pb.Pod) -> None:
            try:
                await self.client.delete("Pod", pod.metadata.name, pod.metadata.namespace,
                                         grace_period_seconds=0 if grace_zero else None,
                                         precondition_uid=pod.metadata.uid)
            except errors.NotFound:
                return
            self.event(pod, "Normal", "NodeControllerEviction",
                       f"Marking for deletion Pod {pod.metadata.name} from Node {node.metadata.name}")
        results = await asyncio.gather(*(delete(p) for p in todo), return_exceptions=True)
        for r in results:
            if isinstance(r, Exception):
                raise r

    async def _gc_orphans(self, node_name: str) -> None:
        """Delete the pods bound to `node_name` once it has been missing for the quarantine (checked live)."""
        since = self.missing_since.get(node_name)
        if since is None:
            return
        if self.node_informer.get(node_name) is not None:
            del self.missing_since[node_name]
            return
        left = since + self.config.pod_gc_quarantine - self.monotonic()
        if left > 0:
            raise Requeue(left)
        try:
            await self.client.get("Node", node_name)
            del self.missing_since[node_name]   # it exists: the cache will show it
            return
        except errors.NotFound:
            pass
        # Pods bound to it from now on start a quarantine of their own: this is what paces their replacement.
        del self.missing_since[node_name]
        pods = self.pod_informer.by_index(NODE, node_name)
        if not pods:
            return
        self.log.info("node %s does not exist: deleting the %d pods bound to it", node_name, len(pods))
        message = (f'Deleted pod: node "{node_name}" does not exist (pods bound to a missing node are deleted '
                   f'after {self.config.pod_gc_quarantine:g}s)')
        results = await asyncio.gather(*(self._delete_orphan(p, message) for p in pods), return_exceptions=True)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            self.missing_since[node_name] = since     # quarantine served: the retry deletes what is left
            raise failed[0]

    async def _delete_orphan(self, pod: pb.Pod, message: str) -> None:
        try:
            await self.client.delete("Pod", pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                     precondition_uid=pod.metadata.uid)
        except (errors.NotFound, errors.Conflict):
            return          # gone already, or a new pod of that name
        self.event(pod, "Warning", ORPHAN_REASON, message)
        owner = self._controller_of(pod)
        if owner is not None:   # the pod's events go with it: its controller keeps (and counts) why
            self.event(owner, "Warning", ORPHAN_REASON, message)

    def _controller_of(self, pod: pb.Pod) -> Any | None:
        ref = podutil.controller_ref(pod)
        if ref is None or not self.informers.watched(ref.kind):
            return None
        owner = self.informers.get(ref.kind).get(f"{pod.metadata.namespace}/{ref.name}")
        return owner if owner is not None and owner.metadata.uid == ref.uid else None
