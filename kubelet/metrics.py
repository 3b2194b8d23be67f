"""The Docker kubelet's Prometheus metrics, named as Kubernetes' kubelet names them.

Everything is read when scraped (no cost on the pod workers' path): pods and
containers by state from the pods bound here, and the Docker API calls the
runtime counted (`kubelet_runtime_operations_total` and the seconds spent).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubelab.serving import render_collectors


def container_state(cs: Any) -> str:
    for state in ("running", "waiting", "terminated"):
        if cs.state.HasField(state):
            return state
    return "unknown"


class _KubeletCollector(Collector):
    def __init__(self, node: str, pods: Callable[[], list[Any]], runtime: Any) -> None:
        self.node, self.pods, self.runtime = node, pods, runtime

    def collect(self) -> Iterator[Any]:
        pods = self.pods()
        phases = Counter(p.status.phase or "Pending" for p in pods)
        states = Counter(container_state(cs) for p in pods for cs in p.status.container_statuses)
        restarts = sum(cs.restart_count for p in pods for cs in p.status.container_statuses)
        node = GaugeMetricFamily("kubelet_node_name", "The node's name (always 1).", labels=["node"])
        node.add_metric([self.node], 1)
        yield node
        running = GaugeMetricFamily("kubelet_running_pods", "Pods bound here whose phase is Running.")
        running.add_metric([], phases.get("Running", 0))
        yield running
        by_phase = GaugeMetricFamily("kubelab_kubelet_pods", "Pods bound here, per phase.", labels=["phase"])
        for phase, n in sorted(phases.items()):
            by_phase.add_metric([phase], n)
        yield by_phase
        containers = GaugeMetricFamily("kubelet_running_containers", "Containers of pods bound here, per state.",
                                       labels=["container_state"])
        for state in ("running", "waiting", "terminated"):
            containers.add_metric([state], states.get(state, 0))
        yield containers
        restart = CounterMetricFamily("kubelab_kubelet_container_restarts", "Restarts of the containers of the pods "
                                      "bound here (the sum of RESTARTS).")
        restart.add_metric([], restarts)
        yield restart
        ops = CounterMetricFamily("kubelet_runtime_operations", "Docker API calls, per operation.",
                                  labels=["operation_type"])
        seconds = CounterMetricFamily("kubelet_runtime_operations_duration_seconds",
                                      "Time spent in Docker API calls, per operation.", labels=["operation_type"])
        for op, n in sorted(dict(self.runtime.calls).items()):
            ops.add_metric([op], n)
            seconds.add_metric([op], self.runtime.call_seconds.get(op, 0.0))
        yield ops
        yield seconds


class KubeletMetrics:
    def __init__(self, node: str, pods: Callable[[], list[Any]], runtime: Any) -> None:
        self.collector = _KubeletCollector(node, pods, runtime)

    def render(self) -> str:
        return render_collectors(self.collector)
