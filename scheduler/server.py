"""The scheduler's life cycle: informers → cache and queue → scheduling loop → binder.

    Pod informer ──pending pods──▶ SchedulingQueue ──pop──▶ Algorithm.schedule (filters, scores)
         │ bound pods                   ▲  ▲                      │ node          │ no node
         ▼                              │  │ cluster events       ▼               ▼
    SchedulerCache ◀── Node informer ───┘  │ (move_all)     assume in cache   FailedScheduling event,
         ▲                                 │                 + bind (bounded,  PodScheduled=False,
         └──────────── confirm / forget ───┴──────────────── concurrent)       park as unschedulable

Informers run on every replica (a standby has a warm cache); only the
leader (kubelab.leaderelection) runs the scheduling loop. On SIGTERM the
leader gives its lease back, so a standby takes over at once; losing the
lease ends the process with one log line, as kube-scheduler does, so a
restart rejoins cleanly.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubelab import errors, kinds
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.informer import Informer
from kubelab.leaderelection import LeaderElector, default_identity
from kubelab.timeutil import Clock, RealClock

from .algorithm import Algorithm, Result
from .cache import NodeOrder, SchedulerCache, name_order
from .podinfo import PodInfo, pod_info
from .metrics import SchedulerCollector
from .queue import QueueClosed, QueuedPod, SchedulingQueue
from .recording import set_unschedulable
from kubelab.serving import HealthServer, MetricsServer, render_collectors

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_NAME = "default-scheduler"


@dataclass
class Config:
    server: str = ""
    token: str = ""
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    leader_elect: bool = True
    lease_name: str = "kube-scheduler"
    lease_namespace: str = "kube-system"
    lease_duration: float = 15.0
    identity: str = ""
    bind_concurrency: int = 256
    percentage_of_nodes_to_score: int = 0
    initial_backoff: float = 1.0
    max_backoff: float = 10.0
    max_unschedulable: float = 60.0
    shutdown_grace: float = 5.0
    health_address: str = ""        # gRPC health service, e.g. 127.0.0.1:10259 ("" = off)
    metrics_address: str = ""       # HTTP /metrics and /healthz ("" = off)


# The Binding's annotation that carries the decision to the apiserver's audit record (and `kubelab trace`).
DECISION_ANNOTATION = "kubelab.io/scheduler-decision"


def decision_annotation(result: Result) -> str:
    """The decision as JSON: nodes in the cache, examined, feasible, why the others were not, node and score."""
    return json.dumps({"nodes": result.num_nodes, "examined": result.evaluated, "feasible": result.feasible,
                       "unfeasible": dict(result.reasons), "node": result.node,
                       "score": None if result.score is None else round(result.score, 2)},
                      separators=(",", ":"), sort_keys=True)


def _terminal(pod: Any) -> bool:
    return pod.status.phase in ("Succeeded", "Failed")


def _wants_pod_events(pod: Any) -> bool:
    aff = pod.spec.affinity
    return pod.spec.HasField("affinity") and aff.HasField("pod_affinity") and bool(
        aff.pod_affinity.required_during_scheduling_ignored_during_execution)


class Scheduler:
    def __init__(self, client: Client, config: Config, clock: Clock | None = None,
                 order: NodeOrder = name_order) -> None:
        self.client = client
        self.config = config
        self.cache = SchedulerCache(order)
        self.queue = SchedulingQueue(clock or RealClock(), config.initial_backoff, config.max_backoff,
                                     config.max_unschedulable)
        self.algorithm = Algorithm(self.cache, percentage_of_nodes_to_score=config.percentage_of_nodes_to_score)
        self.pods = Informer(client, "Pod")
        self.nodes = Informer(client, "Node")
        self.recorder = EventRecorder(client, config.scheduler_name, max_in_flight=32)
        self._bind_slots = asyncio.Semaphore(max(1, config.bind_concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self.scheduled = 0            # binds that succeeded
        self.failed = 0               # decisions that found no node
        self.bind_errors = 0
        self.decision_seconds = 0.0   # time spent in Algorithm.schedule
        self.decisions = 0
        self.leading = False
        self._wire()

    # ------------------------------------------------------------ informer handlers
    def _wire(self) -> None:
        self.nodes.add_handlers(self._node_set, lambda old, new: self._node_set(new), self._node_deleted)
        self.pods.add_handlers(self._pod_added, self._pod_updated, self._pod_deleted)

    def _node_set(self, node: Any) -> None:
        added, changed = self.cache.set_node(node)
        if changed:
            self.queue.move_all("NodeAdd" if added else "NodeUpdate")

    def _node_deleted(self, node: Any) -> None:
        self.cache.remove_node(node.metadata.name)

    def _responsible(self, pod: Any) -> bool:
        return (not pod.spec.node_name and not pod.metadata.deletion_timestamp and not _terminal(pod)
                and (pod.spec.scheduler_name or DEFAULT_SCHEDULER_NAME) == self.config.scheduler_name)

    def _enqueue(self, pod: Any) -> None:
        md = pod.metadata
        self.queue.add(f"{md.namespace}/{md.name}", md.uid, pod.spec.priority, _wants_pod_events(pod))

    def _pod_added(self, pod: Any) -> None:
        if pod.spec.node_name:
            self._placed(pod)
        elif self._responsible(pod):
            self._enqueue(pod)

    def _placed(self, pod: Any) -> None:
        key = kinds.key_of(pod)
        self.queue.delete(key)
        info = pod_info(pod)
        self.cache.set_pod(info)
        if info.terminal:
            self.queue.move_all("AssignedPodCompleted")
        elif info.labels:
            self.queue.move_all("AssignedPodAdd", only=lambda qp: qp.wants_pod_events)

    def _pod_updated(self, old: Any, new: Any) -> None:
        if new.spec.node_name:
            if (old.spec.node_name == new.spec.node_name and old.metadata.labels == new.metadata.labels
                    and _terminal(old) == _terminal(new) and not self.cache.is_assumed(new.metadata.uid)
                    and self.cache.pod_node(new.metadata.uid) == new.spec.node_name):
                return    # a status update of a placed pod: nothing the scheduler counts changed
            self._placed(new)
            return
        key = kinds.key_of(new)
        if not self._responsible(new):
            self.queue.delete(key)
            return
        if self.queue.where(key) is None or old.spec != new.spec or old.metadata.labels != new.metadata.labels:
            self._enqueue(new)     # our own condition writes change neither, so they don't loop

    def _pod_deleted(self, pod: Any) -> None:
        self.queue.delete(kinds.key_of(pod))
        if self.cache.remove_pod(pod.metadata.uid) is not None:
            self.queue.move_all("AssignedPodDelete")

    # ------------------------------------------------------------ the loop
    def schedule_one(self, qp: QueuedPod) -> asyncio.Task[None] | None:
        """One decision (synchronous); returns the bind task when a node was chosen."""
        pod = self.pods.get(qp.key)
        if (pod is None or (qp.uid and pod.metadata.uid != qp.uid) or not self._responsible(pod)
                or self.cache.pod_node(pod.metadata.uid) is not None):
            self.queue.done(qp.key)
            return None
        info = pod_info(pod)
        started = time.perf_counter()
        result = self.algorithm.schedule(info)
        self.decision_seconds += time.perf_counter() - started
        self.decisions += 1
        if result.node is None:
            self._unschedulable(qp, pod, result.message)
            return None
        log.debug("%s → %s (%d nodes examined, %d feasible)", qp.key, result.node, result.evaluated,
                  result.feasible)
        self.cache.assume(info, result.node)
        return self._spawn(self._bind(qp, pod, info, result.node, decision_annotation(result)))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _unschedulable(self, qp: QueuedPod, pod: Any, message: str) -> None:
        self.failed += 1
        log.info("unable to schedule %s: %s", qp.key, message)
        self.queue.requeue_unschedulable(qp)
        self.recorder.event(pod, "Warning", "FailedScheduling", message)
        self._spawn(set_unschedulable(self.client, pod, message))

    async def _bind(self, qp: QueuedPod, pod: Any, info: PodInfo, node: str, decision: str = "") -> None:
        md = pod.metadata
        try:
            await self.client.bind(md.namespace, md.name, node, md.uid,
                                   annotations={DECISION_ANNOTATION: decision} if decision else None)
        except errors.NotFound:
            self.cache.forget(md.uid)
            self.queue.done(qp.key)
        except errors.ApiError as e:
            self.cache.forget(md.uid)
            if isinstance(e, errors.Conflict) and ("already assigned" in e.message or "being deleted" in e.message
                                                   or "Precondition failed" in e.message):
                self.queue.done(qp.key)
                return
            self.bind_errors += 1
            log.warning("binding %s to %s failed: %s", qp.key, node, e)
            self.recorder.event(pod, "Warning", "FailedScheduling", f"Binding rejected: {e.message}")
            self.queue.requeue_backoff(qp)
        else:
            self.scheduled += 1
            self.queue.done(qp.key)
            self.recorder.event(pod, "Normal", "Scheduled", f"Successfully assigned {md.namespace}/{md.name} to {node}")
        finally:
            self._bind_slots.release()

    async def run_loop(self) -> None:
        """Schedule pods until cancelled (only while leading)."""
        await self.pods.wait_synced()
        await self.nodes.wait_synced()
        self.leading = True
        log.info("scheduling: %d nodes, %d pending pods", len(self.cache.node_list()), len(self.queue))
        try:
            while True:
                await self._bind_slots.acquire()   # back-pressure: never more binds in flight than allowed
                try:
                    qp = await self.queue.pop()
                except QueueClosed:
                    self._bind_slots.release()
                    return
                if self.schedule_one(qp) is None:
                    self._bind_slots.release()
                await asyncio.sleep(0)             # let informers and binds run between decisions
        finally:
            # Stopped (or the lease lost): decide nothing more, but let binds in flight finish before the
            # lease is given back, so a new leader does not find them half done.
            self.leading = False
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=self.config.shutdown_grace)

    def metrics(self) -> str:
        """Prometheus text exposition of what the scheduler has done."""
        return render_collectors(SchedulerCollector(self))

    # ------------------------------------------------------------ life cycle
    def start_informers(self) -> None:
        self.nodes.start()
        self.pods.start()

    async def stop(self) -> None:
        self.queue.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.config.shutdown_grace)
        await self.recorder.flush()
        await self.pods.stop()
        await self.nodes.stop()

    async def run(self) -> None:
        """Informers always; the scheduling loop while leader (or at once without leader election)."""
        self.start_informers()
        if not self.config.leader_elect:
            await self.run_loop()
            return
        d = self.config.lease_duration
        elector = LeaderElector(self.client, self.config.lease_name, self.config.lease_namespace,
                                self.config.identity or default_identity(), lease_duration=d,
                                renew_deadline=d * 2 / 3, retry_period=max(0.2, d / 7.5))
        await elector.run(self.run_loop)


class Server:
    """The scheduler process, as kubelab.serving drives it: start (client, health, metrics) → run (informers,
    the loop while leading) → stop (stop deciding, let binds in flight finish, give the lease back)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.client = Client(config.server, config.token, pipeline=True)   # binds and Events by the thousand
        self.scheduler = Scheduler(self.client, config)
        self.endpoints: list[HealthServer | MetricsServer] = []
        if config.health_address:
            self.endpoints.append(HealthServer(config.health_address))
        if config.metrics_address:
            self.endpoints.append(MetricsServer(config.metrics_address, self.scheduler.metrics))

    async def start(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.start()

    async def run(self) -> None:
        await self.scheduler.run()

    async def stop(self) -> None:
        await self.scheduler.stop()
        for endpoint in self.endpoints:
            await endpoint.stop()
        await self.client.close()
