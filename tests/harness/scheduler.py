"""A harness for the scheduling pipeline without a cluster (tests and what-if runs).

`make_node` / `make_pod` build API objects tersely; `Harness` loads them
into a SchedulerCache and runs the real Algorithm, assuming each placement
as the scheduler does, and records the plan (pod -> node, or the FitError
message) it would have submitted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from kubelab.v1 import objects_pb2 as pb

from scheduler.algorithm import Algorithm
from scheduler.cache import NodeOrder, SchedulerCache, name_order
from scheduler.podinfo import pod_info


def make_node(name: str, cpu: str = "4", memory: str = "16Gi", pods: int = 110, ready: str = "True",
              unschedulable: bool = False, labels: dict[str, str] | None = None,
              taints: Iterable[tuple[str, str, str]] = ()) -> pb.Node:
    node = pb.Node(api_version="v1", kind="Node")
    node.metadata.name = name
    node.metadata.labels.update({"kubernetes.io/hostname": name, **(labels or {})})
    node.spec.unschedulable = unschedulable
    for key, value, effect in taints:
        node.spec.taints.add(key=key, value=value, effect=effect)
    node.status.capacity.update({"cpu": cpu, "memory": memory, "pods": str(pods)})
    node.status.allocatable.update({"cpu": cpu, "memory": memory, "pods": str(pods)})
    node.status.conditions.add(type="Ready", status=ready)
    return node


def make_pod(name: str, namespace: str = "default", cpu: str = "", memory: str = "",
             labels: dict[str, str] | None = None, node_name: str = "", host_ports: Iterable[int] = (),
             node_selector: dict[str, str] | None = None, tolerations: Iterable[dict[str, str]] = (),
             anti_affinity: Iterable[tuple[dict[str, str], str]] = (),
             affinity: Iterable[tuple[dict[str, str], str]] = (), owner_uid: str = "", uid: str = "",
             phase: str = "Pending") -> pb.Pod:
    """anti_affinity / affinity: (matchLabels, topologyKey) pairs of required terms."""
    pod = pb.Pod(api_version="v1", kind="Pod")
    md = pod.metadata
    md.name, md.namespace, md.uid = name, namespace, uid or f"uid-{namespace}-{name}"
    md.labels.update(labels or {})
    if owner_uid:
        md.owner_references.add(api_version="apps/v1", kind="ReplicaSet", name="rs", uid=owner_uid, controller=True)
    c = pod.spec.containers.add(name="c", image="nginx:1.16")
    if cpu:
        c.resources.requests["cpu"] = cpu
    if memory:
        c.resources.requests["memory"] = memory
    for port in host_ports:
        c.ports.add(container_port=port, host_port=port, protocol="TCP")
    pod.spec.node_name = node_name
    pod.spec.scheduler_name = "default-scheduler"
    pod.spec.node_selector.update(node_selector or {})
    for t in tolerations:
        pod.spec.tolerations.add(**t)
    for labels_, key in anti_affinity:
        term = pod.spec.affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution.add()
        term.label_selector.match_labels.update(labels_)
        term.topology_key = key
    for labels_, key in affinity:
        term = pod.spec.affinity.pod_affinity.required_during_scheduling_ignored_during_execution.add()
        term.label_selector.match_labels.update(labels_)
        term.topology_key = key
    pod.status.phase = phase
    return pod


@dataclass
class Harness:
    nodes: list[pb.Node]
    placed: list[pb.Pod] = field(default_factory=list)
    order: NodeOrder = name_order
    percentage: int = 0
    plan: dict[str, str] = field(default_factory=dict)        # pod name -> node, or "" when unschedulable
    messages: dict[str, str] = field(default_factory=dict)    # pod name -> FitError message

    def __post_init__(self) -> None:
        self.cache = SchedulerCache(self.order)
        for n in self.nodes:
            self.cache.set_node(n)
        for p in self.placed:
            self.cache.set_pod(pod_info(p))
        self.algorithm = Algorithm(self.cache, percentage_of_nodes_to_score=self.percentage)

    def schedule(self, *pods: Any) -> dict[str, str]:
        """Schedule pods one after another, assuming each placement; returns the plan."""
        for pod in pods:
            info = pod_info(pod)
            result = self.algorithm.schedule(info)
            if result.node is None:
                self.plan[pod.metadata.name] = ""
                self.messages[pod.metadata.name] = result.message
            else:
                self.cache.assume(info, result.node)
                self.plan[pod.metadata.name] = result.node
        return self.plan
