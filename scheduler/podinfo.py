"""Stage 0 of the pipeline: what the scheduler needs to know about one pod, computed once.

A `PodInfo` is built from a Pod when it enters a scheduling cycle or the
cache (see cache.py), so the filters and scores of filters.py / scores.py
read plain integers and tuples instead of parsing quantities and selectors
once per node.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from kubelab import selectors
from kubelab.quantity import QuantityError, cpu_millis, to_bytes

# Kubernetes scores best-effort pods as if they asked for this much (GetNonzeroRequests),
# so that spreading them still works.
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

HOSTNAME_LABEL = "kubernetes.io/hostname"


@functools.lru_cache(maxsize=4096)
def _millis(q: str) -> int:
    try:
        return cpu_millis(q)
    except QuantityError:
        return 0


@functools.lru_cache(maxsize=4096)
def _bytes(q: str) -> int:
    try:
        return to_bytes(q)
    except QuantityError:
        return 0


def quantity_millis(q: str) -> int:
    return _millis(q)


def quantity_value(q: str) -> int:
    return _bytes(q)


@dataclass(frozen=True, slots=True)
class AffinityTerm:
    """One required (anti-)affinity term: pods matching `selector` in `namespaces`, per `topology_key`."""
    selector: selectors.Selector
    namespaces: frozenset[str]
    topology_key: str

    def matches(self, pod: "PodInfo") -> bool:
        return pod.namespace in self.namespaces and self.selector.matches(pod.labels)


@dataclass(frozen=True, slots=True)
class NodeSelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeSelectorTerm:
    expressions: tuple[NodeSelectorRequirement, ...]
    fields: tuple[NodeSelectorRequirement, ...]


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str


@dataclass(slots=True)
class PodInfo:
    key: str                        # namespace/name
    uid: str
    namespace: str
    name: str
    labels: dict[str, str]
    cpu: int                        # milli-CPU requested
    memory: int                     # bytes requested
    nz_cpu: int                     # as scored (defaults for best-effort)
    nz_memory: int
    host_ports: tuple[tuple[str, str, int], ...] = ()   # (hostIP, protocol, port)
    node_selector: dict[str, str] = field(default_factory=dict)
    node_affinity: tuple[NodeSelectorTerm, ...] | None = None
    tolerations: tuple[Toleration, ...] = ()
    affinity: tuple[AffinityTerm, ...] = ()
    anti_affinity: tuple[AffinityTerm, ...] = ()
    owner_uid: str = ""
    node_name: str = ""
    priority: int = 0
    scheduler_name: str = "default-scheduler"
    terminal: bool = False


def _container_requests(containers: Any) -> tuple[int, int]:
    cpu = mem = 0
    for c in containers:
        req = c.resources.requests
        if "cpu" in req:
            cpu += _millis(req["cpu"])
        if "memory" in req:
            mem += _bytes(req["memory"])
    return cpu, mem


def _requests(spec: Any) -> tuple[int, int]:
    """Kubernetes' effective request: max(sum of containers, largest init container)."""
    cpu, mem = _container_requests(spec.containers)
    for c in spec.init_containers:
        icpu, imem = _container_requests([c])
        cpu, mem = max(cpu, icpu), max(mem, imem)
    return cpu, mem


def _nonzero_requests(spec: Any) -> tuple[int, int]:
    cpu = mem = 0
    for c in spec.containers:
        req = c.resources.requests
        cpu += _millis(req["cpu"]) if "cpu" in req else DEFAULT_MILLI_CPU_REQUEST
        mem += _bytes(req["memory"]) if "memory" in req else DEFAULT_MEMORY_REQUEST
    return cpu, mem


def _host_ports(spec: Any) -> tuple[tuple[str, str, int], ...]:
    return tuple((p.host_ip or "0.0.0.0", p.protocol or "TCP", p.host_port)
                 for c in spec.containers for p in c.ports if p.host_port)


def _node_terms(spec: Any) -> tuple[NodeSelectorTerm, ...] | None:
    if not spec.HasField("affinity") or not spec.affinity.HasField("node_affinity"):
        return None
    na = spec.affinity.node_affinity
    if not na.HasField("required_during_scheduling_ignored_during_execution"):
        return None

    def reqs(items: Any) -> tuple[NodeSelectorRequirement, ...]:
        return tuple(NodeSelectorRequirement(r.key, r.operator, tuple(r.values)) for r in items)
    return tuple(NodeSelectorTerm(reqs(t.match_expressions), reqs(t.match_fields))
                 for t in na.required_during_scheduling_ignored_during_execution.node_selector_terms)


def _affinity_terms(pod: Any, which: str) -> tuple[AffinityTerm, ...]:
    spec = pod.spec
    if not spec.HasField("affinity") or not spec.affinity.HasField(which):
        return ()
    terms = []
    for t in getattr(spec.affinity, which).required_during_scheduling_ignored_during_execution:
        try:
            sel = selectors.from_label_selector(t.label_selector.match_labels, t.label_selector.match_expressions)
        except selectors.SelectorError:
            sel = selectors.Selector.nothing()
        if not t.HasField("label_selector"):
            sel = selectors.Selector.nothing()     # a nil selector matches no pod, as in Kubernetes
        namespaces = frozenset(t.namespaces) or frozenset({pod.metadata.namespace})
        terms.append(AffinityTerm(sel, namespaces, t.topology_key))
    return tuple(terms)


def controller_uid(pod: Any) -> str:
    for ref in pod.metadata.owner_references:
        if ref.HasField("controller") and ref.controller:
            return str(ref.uid)
    return ""


def pod_info(pod: Any) -> PodInfo:
    """Everything the filters and scores read, computed once per pod."""
    md, spec = pod.metadata, pod.spec
    cpu, mem = _requests(spec)
    nz_cpu, nz_mem = _nonzero_requests(spec)
    return PodInfo(
        key=f"{md.namespace}/{md.name}", uid=md.uid, namespace=md.namespace, name=md.name,
        labels=dict(md.labels), cpu=cpu, memory=mem, nz_cpu=nz_cpu, nz_memory=nz_mem,
        host_ports=_host_ports(spec), node_selector=dict(spec.node_selector), node_affinity=_node_terms(spec),
        tolerations=tuple(Toleration(t.key, t.operator, t.value, t.effect) for t in spec.tolerations),
        affinity=_affinity_terms(pod, "pod_affinity"), anti_affinity=_affinity_terms(pod, "pod_anti_affinity"),
        owner_uid=controller_uid(pod), node_name=spec.node_name, priority=spec.priority,
        scheduler_name=spec.scheduler_name or "default-scheduler",
        terminal=pod.status.phase in ("Succeeded", "Failed"))
