"""ReplicaSet controller: keep `spec.replicas` pods matching the selector.

Where it sits: watches ReplicaSets and Pods (shared informers); writes Pods
and ReplicaSet status. The Deployment controller above it only changes
ReplicaSets' `spec.replicas`; the scheduler and kubelets below take the pods
it creates from Pending to Ready.

One sync (`reconcile(key)`):

1. claim pods: ours (controller reference to this uid) if they still match,
   release those that stopped matching, adopt matching orphans;
2. only if the expectations for the key are satisfied (the cache has shown
   every create/delete of the previous sync), create or delete the
   difference: creates in slow-start batches (1, 2, 4, ...) so a failing
   template costs one failed create, not 500; deletes pick the pods that
   hurt least (unscheduled, pending, not ready, newest first);
3. always recompute status (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas honouring minReadySeconds, observedGeneration,
   ReplicaFailure) and, if some pods are ready but not yet available,
   look again when the first of them will be.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from kubelab import conditions, errors, kinds, timeutil
from kubelab.retry import cached_first, retry_on_conflict
from kubelab.selectors import selector_of
from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .base import Controller, Requeue
from .expectations import Expectations
from .informers import NAMESPACE
from .refmanager import RefManager

BURST_REPLICAS = 500          # at most this many creates/deletes per sync (Kubernetes' burstReplicas)
SLOW_START_INITIAL_BATCH = 1
PENDING_SYNC_DELAY = 1.0      # seconds between syncs while a burst's creates/deletes are still unseen
STATUS_UPDATE_TRIES = 2       # the cached copy, then once more on a fresh read (Kubernetes' statusUpdateRetries = 1)


def pod_from_template(rs: pb.ReplicaSet) -> pb.Pod:
    """A pod for `rs`: template labels/annotations/spec, generateName `<rs>-`, controller reference."""
    t = rs.spec.template
    pod = pb.Pod(api_version="v1", kind="Pod")
    md = pod.metadata
    md.generate_name = f"{rs.metadata.name}-"
    md.namespace = rs.metadata.namespace
    md.labels.update(t.metadata.labels)
    md.annotations.update(t.metadata.annotations)
    md.finalizers.extend(t.metadata.finalizers)
    md.owner_references.add().CopyFrom(podutil.new_controller_ref(rs))
    pod.spec.CopyFrom(t.spec)
    return pod


def calculate_status(rs: pb.ReplicaSet, pods: list[pb.Pod], manage_error: Exception | None,
                     now: float) -> pb.ReplicaSetStatus:
    """The status `rs` should have given the pods it owns (active ones)."""
    status = pb.ReplicaSetStatus()
    status.CopyFrom(rs.status)
    template_labels = dict(rs.spec.template.metadata.labels).items()
    min_ready = rs.spec.min_ready_seconds
    labeled = ready = available = 0
    # One pass: this runs on every sync, and a sync follows every pod event, so with 10,000 pods it is
    # most of what the controller manager does.
    for p in pods:
        labels = p.metadata.labels
        if all(labels.get(k) == v for k, v in template_labels):
            labeled += 1
        if podutil.is_ready(p):
            ready += 1
            if min_ready <= 0 or podutil.is_available(p, min_ready, now):
                available += 1
    status.replicas = len(pods)
    status.fully_labeled_replicas, status.ready_replicas, status.available_replicas = labeled, ready, available
    status.observed_generation = rs.metadata.generation
    failure = conditions.get(status.conditions, "ReplicaFailure")
    if manage_error is not None and failure is None:
        diff = len(pods) - rs.spec.replicas
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        status.conditions.add().CopyFrom(conditions.new("ReplicaFailure", "True", reason,
                                                        getattr(manage_error, "message", str(manage_error)),
                                                        timeutil.fmt(now)))
    elif manage_error is None and failure is not None:
        conditions.remove(status.conditions, "ReplicaFailure")
    return status


def next_availability_check(rs: pb.ReplicaSet, pods: list[pb.Pod], now: float) -> float | None:
    """Seconds until the first ready-but-not-yet-available pod becomes available."""
    waits = [w for w in (podutil.available_in(p, rs.spec.min_ready_seconds, now) for p in pods) if w is not None]
    return min(waits) if waits else None


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[None]]) -> tuple[int, Exception | None]:
    """Run `fn` `count` times in doubling batches; stop after a batch with a failure.

    Returns (successes, first error).
    """
    successes = 0
    remaining = count
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(failures)
        if failures:
            for f in failures:
                if not isinstance(f, Exception):
                    raise f
            return successes, failures[0]  # type: ignore[return-value]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


class ReplicaSetController(Controller):
    name = "replicaset"
    component = "replicaset-controller"

    def setup(self) -> None:
        self.expectations = Expectations()
        self.rs_informer = self.informers.get("ReplicaSet")
        self.pod_informer = self.informers.get("Pod")
        self.rs_informer.add_handlers(on_add=self.enqueue, on_update=self._rs_updated, on_delete=self._rs_deleted)
        self.pod_informer.add_handlers(on_add=self._pod_added, on_update=self._pod_updated,
                                       on_delete=self._pod_deleted)

    # ---------------------------------------------------------------- handlers
    def _rs_updated(self, old: pb.ReplicaSet, new: pb.ReplicaSet) -> None:
        if old.spec.replicas != new.spec.replicas:
            self.log.debug("replica set %s/%s: replicas %d -> %d", new.metadata.namespace, new.metadata.name,
                           old.spec.replicas, new.spec.replicas)
        if old.spec == new.spec and old.metadata.deletion_timestamp == new.metadata.deletion_timestamp:
            # Our own status write, most often: each one during a burst would start another pass over every pod.
            self._enqueue_observed(new)
        else:
            self.enqueue(new)

    def _rs_deleted(self, rs: pb.ReplicaSet) -> None:
        self.expectations.forget(kinds.key_of(rs))
        self.enqueue(rs)

    def _resolve(self, namespace: str, ref: pb.OwnerReference | None) -> pb.ReplicaSet | None:
        if ref is None or ref.kind != "ReplicaSet":
            return None
        rs = self.rs_informer.get(f"{namespace}/{ref.name}")
        return rs if rs is not None and rs.metadata.uid == ref.uid else None

    def _matching(self, pod: pb.Pod) -> list[pb.ReplicaSet]:
        out = []
        for rs in self.rs_informer.by_index(NAMESPACE, pod.metadata.namespace):
            sel = selector_of(rs)
            if not sel.empty and sel.matches(pod.metadata.labels):
                out.append(rs)
        return out

    def _pod_added(self, pod: pb.Pod) -> None:
        if pod.metadata.deletion_timestamp:
            # e.g. after a restart: a pod already on its way out counts as a deletion
            self._pod_deleted(pod)
            return
        ref = podutil.controller_ref(pod)
        if ref is not None:
            rs = self._resolve(pod.metadata.namespace, ref)
            if rs is not None:
                self.expectations.creation_observed(kinds.key_of(rs))
                self._enqueue_observed(rs)
            return
        for rs in self._matching(pod):       # an orphan: whoever matches may adopt it
            self.enqueue(rs)

    def _pod_updated(self, old: pb.Pod, new: pb.Pod) -> None:
        if old.metadata.resource_version == new.metadata.resource_version:
            return
        labels_changed = dict(old.metadata.labels) != dict(new.metadata.labels)
        if new.metadata.deletion_timestamp:
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = podutil.controller_ref(old), podutil.controller_ref(new)
        ref_changed = old_ref != new_ref
        if ref_changed and old_ref is not None:
            rs = self._resolve(old.metadata.namespace, old_ref)
            if rs is not None:
                self.enqueue(rs)
        if new_ref is not None:
            rs = self._resolve(new.metadata.namespace, new_ref)
            if rs is not None:
                self._enqueue_observed(rs)
            return
        if labels_changed or ref_changed:
            for rs in self._matching(new):
                self.enqueue(rs)

    def _pod_deleted(self, pod: pb.Pod) -> None:
        rs = self._resolve(pod.metadata.namespace, podutil.controller_ref(pod))
        if rs is None:
            return
        self.expectations.deletion_observed(kinds.key_of(rs), kinds.key_of(pod))
        self._enqueue_observed(rs)

    def _enqueue_observed(self, rs: pb.ReplicaSet) -> None:
        """Sync at once when this pod event completes what the last sync wrote (or nothing was pending);
        while a burst is still being observed, at most every PENDING_SYNC_DELAY. A sync goes over every
        pod: one per event of a 500-pod burst kept the event loop from the watch that delivers the rest
        (10,000 pods scaled to 0 stalled for minutes); such a sync could only rewrite the status."""
        key = kinds.key_of(rs)
        if self.expectations.satisfied(key):
            self.queue.add(key)
        else:
            self.queue.add_after(key, PENDING_SYNC_DELAY)

    # ---------------------------------------------------------------- sync
    async def reconcile(self, key: str) -> None:
        rs = self.rs_informer.get(key)
        if rs is None:
            self.expectations.forget(key)
            return
        satisfied = self.expectations.satisfied(key)
        if self.expectations.expired(key):
            adds, deletes = self.expectations.pending(key)
            self.log.warning("expectations of replica set %s expired: %d creates and %d deletes never seen",
                             key, adds, deletes)
        selector = selector_of(rs)
        candidates = [p for p in self.pod_informer.by_index(NAMESPACE, rs.metadata.namespace) if podutil.is_active(p)]
        pods = await RefManager(self.client, rs, selector).claim(candidates)

        manage_error: Exception | None = None
        if satisfied and not rs.metadata.deletion_timestamp:
            try:
                await self._manage_replicas(rs, pods)
            except errors.ApiError as e:
                manage_error = e
        # Let the informers in before the next pass over every pod (see RefManager.claim).
        await asyncio.sleep(0)
        now = self.clock()
        status = calculate_status(rs, pods, manage_error, now)
        await self._update_status(rs, status)
        if manage_error is not None:
            raise manage_error
        wait = next_availability_check(rs, pods, now)
        if wait is not None:
            raise Requeue(wait + 0.05)

    async def _manage_replicas(self, rs: pb.ReplicaSet, pods: list[pb.Pod]) -> None:
        key = kinds.key_of(rs)
        diff = len(pods) - rs.spec.replicas
        if diff < 0:
            n = min(-diff, BURST_REPLICAS)
            self.log.info("creating %d pods for replica set %s (have %d, want %d)", n, key, len(pods),
                          rs.spec.replicas)
            self.expectations.expect_creations(key, n)
            successes, err = await slow_start_batch(n, SLOW_START_INITIAL_BATCH, lambda: self._create_pod(rs))
            skipped = n - successes
            if skipped:
                self.expectations.creation_observed(key, skipped)
            if err is not None:
                raise err
        elif diff > 0:
            n = min(diff, BURST_REPLICAS)
            victims = podutil.pods_to_delete(pods, n)
            self.log.info("deleting %d pods of replica set %s (have %d, want %d): %s", n, key, len(pods),
                          rs.spec.replicas, ", ".join(p.metadata.name for p in victims))
            self.expectations.expect_deletions(key, [kinds.key_of(p) for p in victims])
            results = await asyncio.gather(*(self._delete_pod(rs, p) for p in victims), return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    raise r

    async def _create_pod(self, rs: pb.ReplicaSet) -> None:
        try:
            pod = await self.client.create(pod_from_template(rs))
        except errors.ApiError as e:
            if isinstance(e, errors.Forbidden) and "being terminated" in e.message:
                return None   # the namespace is going away: nothing to create, nothing to report
            self.event(rs, "Warning", "FailedCreate", f"Error creating: {e.message}")
            raise
        self.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {pod.metadata.name}")
        return None

    async def _delete_pod(self, rs: pb.ReplicaSet, pod: pb.Pod) -> None:
        try:
            await self.client.delete("Pod", pod.metadata.name, pod.metadata.namespace,
                                     precondition_uid=pod.metadata.uid)
        except errors.NotFound:
            self.expectations.deletion_observed(kinds.key_of(rs), kinds.key_of(pod))
            return
        except errors.ApiError as e:
            self.expectations.deletion_observed(kinds.key_of(rs), kinds.key_of(pod))
            self.event(rs, "Warning", "FailedDelete", f"Error deleting: {e.message}")
            raise
        self.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod.metadata.name}")

    async def _update_status(self, rs: pb.ReplicaSet, status: pb.ReplicaSetStatus) -> pb.ReplicaSet:
        if rs.status == status:
            return rs
        read = cached_first(rs, lambda: self.client.get("ReplicaSet", rs.metadata.name, rs.metadata.namespace))

        async def attempt() -> pb.ReplicaSet:
            current = await read()
            if current.metadata.uid != rs.metadata.uid:
                return rs            # another replica set of that name now: not ours to write
            new = podutil.copy(current)
            new.status.CopyFrom(status)
            try:
                return await self.client.update_status(new)
            except errors.NotFound:
                return rs
        return await retry_on_conflict(attempt, steps=STATUS_UPDATE_TRIES)
