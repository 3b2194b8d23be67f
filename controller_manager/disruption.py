"""Disruption controller: PodDisruptionBudget status, which the eviction API enforces.

Where it sits: watches PDBs and Pods, reads ReplicaSets and Deployments (to
know how many pods a budget *should* cover); writes PDB status. The
apiserver's eviction endpoint reads `disruptionsAllowed`, decrements it and
records the evicted pod in `disruptedPods`.

    expectedPods    pods the budget should cover: with minAvailable as an
                    int, the pods matched; otherwise the sum of the scales
                    of the pods' controllers (a Deployment's replicas for
                    its ReplicaSets' pods), a pod without a known controller
                    counting as one
    desiredHealthy  minAvailable (int, or % of expectedPods rounded up), or
                    expectedPods − maxUnavailable (% rounded up), ≥ 0
    currentHealthy  matched pods that are Ready, not being deleted, and not
                    just evicted (in disruptedPods for less than 2 minutes)
    disruptionsAllowed = max(0, currentHealthy − desiredHealthy), 0 if
                    nothing is expected

disruptedPods entries go when their pod goes (or starts terminating) or
after 2 minutes (the eviction evidently did not happen; Event NotDeleted).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from kubelab import conditions, errors, kinds, timeutil
from kubelab.selectors import Selector, from_label_selector
from kubelab.v1 import objects_pb2 as pb

from . import podutil
from .base import Controller, Requeue
from .deployment.util import int_or_percent, scaled_value
from .informers import NAMESPACE


@dataclass(frozen=True)
class Budget:
    expected: int
    desired: int
    healthy: int
    allowed: int


def pdb_selector(pdb: pb.PodDisruptionBudget) -> Selector:
    sel = pdb.spec.selector
    if not sel.match_labels and not sel.match_expressions:
        return Selector.nothing()       # as the eviction API: an empty selector covers no pod
    return from_label_selector(sel.match_labels, sel.match_expressions)


def count_healthy(pods: list[pb.Pod], disrupted: Mapping[str, float], now: float, timeout: float) -> int:
    n = 0
    for pod in pods:
        if pod.metadata.deletion_timestamp:
            continue
        when = disrupted.get(pod.metadata.name)
        if when is not None and when + timeout > now:
            continue
        if podutil.is_ready(pod):
            n += 1
    return n


def compute_budget(pdb: pb.PodDisruptionBudget, pods: list[pb.Pod], controller_scale: int,
                   disrupted: Mapping[str, float], now: float, timeout: float) -> Budget:
    """The numbers of a PDB's status. `controller_scale` is the expected pods by controllers' scales."""
    max_unavailable = int_or_percent(pdb.spec.max_unavailable)
    min_available = int_or_percent(pdb.spec.min_available)
    expected, desired = 0, 0
    if max_unavailable is not None:
        expected = controller_scale
        desired = max(0, expected - scaled_value(max_unavailable, expected, True))
    elif isinstance(min_available, int):
        expected = len(pods)
        desired = min_available
    elif isinstance(min_available, str):
        expected = controller_scale
        desired = scaled_value(min_available, expected, True)
    healthy = count_healthy(pods, disrupted, now, timeout)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    return Budget(expected, desired, healthy, allowed)


def prune_disrupted(pdb: pb.PodDisruptionBudget, pods: list[pb.Pod], now: float,
                    timeout: float) -> tuple[dict[str, float], list[str], float | None]:
    """(entries to keep as name → time, pods that outlived their entry, seconds until the next expiry)."""
    by_name = {p.metadata.name: p for p in pods}
    keep: dict[str, float] = {}
    expired: list[str] = []
    recheck: float | None = None
    for name, ts in pdb.status.disrupted_pods.items():
        pod = by_name.get(name)
        if pod is None or pod.metadata.deletion_timestamp:
            continue
        when = timeutil.parse(ts)
        if when is None:
            continue
        if when + timeout < now:
            expired.append(name)
            continue
        keep[name] = when
        left = when + timeout - now
        recheck = left if recheck is None else min(recheck, left)
    return keep, expired, recheck


class DisruptionController(Controller):
    name = "disruption"
    component = "controllermanager"

    def setup(self) -> None:
        self.pdb_informer = self.informers.get("PodDisruptionBudget")
        self.pod_informer = self.informers.get("Pod")
        self.rs_informer = self.informers.get("ReplicaSet")
        self.d_informer = self.informers.get("Deployment")
        self.pdb_informer.add_handlers(on_add=self.enqueue, on_update=lambda o, n: self.enqueue(n),
                                       on_delete=self.enqueue)
        self.pod_informer.add_handlers(on_add=self._pod_changed, on_update=self._pod_updated,
                                       on_delete=self._pod_changed)

    def _pdbs_for(self, pod: pb.Pod) -> list[pb.PodDisruptionBudget]:
        return [p for p in self.pdb_informer.by_index(NAMESPACE, pod.metadata.namespace)
                if pdb_selector(p).matches(pod.metadata.labels)]

    def _pod_changed(self, pod: pb.Pod) -> None:
        for pdb in self._pdbs_for(pod):
            self.enqueue(pdb)

    def _pod_updated(self, old: pb.Pod, new: pb.Pod) -> None:
        keys = {kinds.key_of(p) for p in self._pdbs_for(new)}
        if dict(old.metadata.labels) != dict(new.metadata.labels):
            keys |= {kinds.key_of(p) for p in self._pdbs_for(old)}
        for k in keys:
            self.queue.add(k)

    def controller_scale(self, pods: list[pb.Pod]) -> int:
        """Sum of the scales of the pods' controllers, each counted once; uncontrolled pods count 1."""
        scales: dict[str, int] = {}
        loose = 0
        for pod in pods:
            ref = podutil.controller_ref(pod)
            if ref is None or ref.kind != "ReplicaSet":
                loose += 1
                continue
            rs = self.rs_informer.get(f"{pod.metadata.namespace}/{ref.name}")
            if rs is None or rs.metadata.uid != ref.uid:
                loose += 1
                continue
            owner: Any = rs
            dref = podutil.controller_ref(rs)
            if dref is not None and dref.kind == "Deployment":
                d = self.d_informer.get(f"{rs.metadata.namespace}/{dref.name}")
                if d is not None and d.metadata.uid == dref.uid:
                    owner = d
            scales[owner.metadata.uid] = owner.spec.replicas
        return sum(scales.values()) + loose

    async def reconcile(self, key: str) -> None:
        pdb = self.pdb_informer.get(key)
        if pdb is None:
            return
        namespace = pdb.metadata.namespace
        selector = pdb_selector(pdb)
        pods = [p for p in self.pod_informer.by_index(NAMESPACE, namespace) if selector.matches(p.metadata.labels)]
        if not pods:
            self.event(pdb, "Normal", "NoPods", "No matching pods found")
        now = self.clock()
        timeout = self.config.disrupted_pod_timeout
        keep, expired, recheck = prune_disrupted(pdb, pods, now, timeout)
        for name in expired:
            pod = next(p for p in pods if p.metadata.name == name)
            self.event(pod, "Warning", "NotDeleted",
                       f"Pod was expected by PDB {namespace}/{pdb.metadata.name} to be deleted but it wasn't")
        b = compute_budget(pdb, pods, self.controller_scale(pods), keep, now, timeout)
        status = pb.PodDisruptionBudgetStatus()
        status.CopyFrom(pdb.status)
        status.expected_pods = b.expected
        status.desired_healthy = b.desired
        status.current_healthy = b.healthy
        status.disruptions_allowed = b.allowed
        status.observed_generation = pdb.metadata.generation
        status.disrupted_pods.clear()
        for name, when in keep.items():
            status.disrupted_pods[name] = pdb.status.disrupted_pods[name]
        if b.allowed > 0:
            conditions.set_simple(status.conditions, "DisruptionAllowed", "True", "SufficientPods", "",
                                  timeutil.fmt(now))
        else:
            conditions.set_simple(status.conditions, "DisruptionAllowed", "False", "InsufficientPods", "",
                                  timeutil.fmt(now))
        if status != pdb.status:
            new = podutil.copy(pdb)
            new.status.CopyFrom(status)
            try:
                await self.client.update_status(new)
            except errors.NotFound:
                return
        if recheck is not None:
            raise Requeue(recheck + 0.5)
