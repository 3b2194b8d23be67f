"""The controller manager's Prometheus metrics, read when scraped.

Per controller: reconciles, failed reconciles (retried) and time spent
(kubelab's own names), queue depth as Kubernetes' `workqueue_depth`, and
`leader_election_master_status` as Kubernetes names it. Served by
kubelab.serving at /metrics.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubelab.serving import render_collectors

LEASE_NAME = "kube-controller-manager"


class Metrics(Collector):
    def __init__(self) -> None:
        self.reconciles: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth: dict[str, Callable[[], int]] = {}
        self.leader = 0

    def observe(self, controller: str, seconds: float, ok: bool) -> None:
        self.reconciles[controller] += 1
        self.seconds[controller] += seconds
        if not ok:
            self.errors[controller] += 1

    def collect(self) -> Iterator[Metric]:
        reconciles = CounterMetricFamily("kubelab_controller_reconcile", "Reconciles run, per controller.",
                                         labels=["controller"])
        errors = CounterMetricFamily("kubelab_controller_reconcile_errors",
                                     "Reconciles that failed and were retried, per controller.", labels=["controller"])
        seconds = CounterMetricFamily("kubelab_controller_reconcile_seconds", "Time spent reconciling, per controller.",
                                      labels=["controller"])
        for c in sorted(self.reconciles):
            reconciles.add_metric([c], self.reconciles[c])
            errors.add_metric([c], self.errors.get(c, 0))
            seconds.add_metric([c], self.seconds[c])
        depth = GaugeMetricFamily("workqueue_depth", "Keys waiting in a controller's queue.", labels=["name"])
        for c, f in sorted(self.depth.items()):
            depth.add_metric([c], f())
        leader = GaugeMetricFamily("leader_election_master_status", "1 while this replica leads.", labels=["name"])
        leader.add_metric([LEASE_NAME], self.leader)
        yield from (reconciles, errors, seconds, depth, leader)

    def render(self) -> str:
        return render_collectors(self)
