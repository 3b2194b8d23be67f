"""The scheduler's Prometheus metrics, named as kube-scheduler names them, read when scraped."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .server import Scheduler


class SchedulerCollector(Collector):
    def __init__(self, scheduler: "Scheduler") -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        s = self.scheduler
        attempts = CounterMetricFamily("scheduler_schedule_attempts", "Scheduling attempts, per result.",
                                       labels=["result"])
        for result, n in (("scheduled", s.scheduled), ("unschedulable", s.failed), ("error", s.bind_errors)):
            attempts.add_metric([result], n)
        pending = GaugeMetricFamily("scheduler_pending_pods", "Pending pods, per sub-queue.", labels=["queue"])
        for queue, n in sorted(s.queue.counts().items()):
            pending.add_metric([queue], n)
        algorithm = SummaryMetricFamily("scheduler_scheduling_algorithm_duration_seconds",
                                        "Time spent deciding (filters and scores).",
                                        count_value=s.decisions, sum_value=s.decision_seconds)
        nodes = GaugeMetricFamily("scheduler_nodes", "Nodes in the scheduler's cache.", value=len(s.cache.node_list()))
        leader = GaugeMetricFamily("leader_election_master_status", "1 while this replica runs the scheduling loop.",
                                   labels=["name"])
        leader.add_metric([s.config.lease_name], int(s.leading))
        yield from (attempts, pending, algorithm, nodes, leader)
