"""Stage 1 of the pipeline, feasibility: may this pod run on this node?

Each filter is a small pure function `(pod, node, state) -> reasons`: an
empty tuple means the node passes; otherwise the reasons are constants,
worded exactly as Kubernetes words them, which algorithm.py counts per node
into the message a user sees ("0/3 nodes are available: 3 Insufficient
cpu."). The filters run in Kubernetes' order and the first that rejects a
node decides its reasons.

A filter only reads precomputed data: the pod's `PodInfo` (podinfo.py), the
node's aggregates (`NodeInfo`, cache.py) and, for inter-pod affinity, the
per-cycle `AffinityState` computed once per pod by `affinity_state`.
Filters that cannot matter for a pod (no host ports, no node selector, no
affinity anywhere) are left out of its chain (`chain_for`), as
Kubernetes' PreFilter "Skip" does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .cache import NOT_READY_TAINT, UNREACHABLE_TAINT, UNSCHEDULABLE_TAINT, NodeInfo, SchedulerCache, tolerates
from .podinfo import AffinityTerm, NodeSelectorRequirement, NodeSelectorTerm, PodInfo

Reasons = tuple[str, ...]
PASS: Reasons = ()

# Reasons, worded as Kubernetes' plugins word them.
UNSCHEDULABLE = "node(s) were unschedulable"
NOT_READY = "node(s) were not ready"
NODE_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"
TOO_MANY_PODS = "Too many pods"
AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"


def untolerated_taint(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


@dataclass(slots=True)
class AffinityState:
    """Inter-pod affinity facts for one pod, computed once per scheduling cycle."""
    anti: set[tuple[str, str]] = field(default_factory=set)        # domains the pod's anti-affinity forbids
    existing: set[tuple[str, str]] = field(default_factory=set)    # domains placed pods' anti-affinity forbid
    affinity_domains: set[tuple[str, str]] = field(default_factory=set)  # domains holding pods the pod wants
    affinity_anywhere: bool = False   # no pod matches yet, but the pod matches its own terms: first of a group


@dataclass(slots=True)
class CycleState:
    affinity: AffinityState | None = None


FilterFn = Callable[[PodInfo, NodeInfo, CycleState], Reasons]


# ---------------------------------------------------------------- the filters
def node_unschedulable(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    if node.unschedulable and not tolerates(pod.tolerations, UNSCHEDULABLE_TAINT, "", "NoSchedule"):
        return (UNSCHEDULABLE,)
    return PASS


def node_ready(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    """Not Ready, and not (yet) tainted for it by the node lifecycle controller.

    Once the controller has put node.kubernetes.io/not-ready or unreachable on the
    node, the taint filter speaks for it, with Kubernetes' wording.
    """
    if node.ready == "True" or any(t.key in (NOT_READY_TAINT, UNREACHABLE_TAINT) for t in node.taints):
        return PASS
    taint = NOT_READY_TAINT if node.ready == "False" else UNREACHABLE_TAINT
    if tolerates(pod.tolerations, taint, "", "NoSchedule"):
        return PASS
    return (NOT_READY,)


def taint_toleration(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    for t in node.taints:
        if not tolerates(pod.tolerations, t.key, t.value, t.effect):
            return (untolerated_taint(t.key, t.value),)
    return PASS


def _requirement_matches(r: NodeSelectorRequirement, labels: dict[str, str]) -> bool:
    op, has = r.operator, r.key in labels
    if op == "In":
        return has and labels[r.key] in r.values
    if op == "NotIn":
        return not has or labels[r.key] not in r.values
    if op == "Exists":
        return has
    if op == "DoesNotExist":
        return not has
    if op in ("Gt", "Lt") and has and len(r.values) == 1:
        try:
            have, want = int(labels[r.key]), int(r.values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _term_matches(term: NodeSelectorTerm, node: NodeInfo) -> bool:
    if not term.expressions and not term.fields:
        return False     # an empty term matches no node
    if not all(_requirement_matches(r, node.labels) for r in term.expressions):
        return False
    return all(r.key == "metadata.name" and _requirement_matches(r, {"metadata.name": node.name})
               for r in term.fields)


def node_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return (NODE_AFFINITY,)
    if pod.node_affinity is not None and not any(_term_matches(t, node) for t in pod.node_affinity):
        return (NODE_AFFINITY,)
    return PASS


def node_ports(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    for ip, proto, port in pod.host_ports:
        used = node.ports.get((proto, port))
        if used and (ip == "0.0.0.0" or "0.0.0.0" in used or ip in used):
            return (PORTS,)
    return PASS


def resources_fit(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    if (len(node.pods) < node.alloc_pods and node.req_cpu + pod.cpu <= node.alloc_cpu
            and node.req_memory + pod.memory <= node.alloc_memory):
        return PASS          # the common case, checked without building a list (it runs per node per pod)
    reasons: list[str] = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append(TOO_MANY_PODS)
    if pod.cpu and node.req_cpu + pod.cpu > node.alloc_cpu:
        reasons.append(INSUFFICIENT_CPU)
    if pod.memory and node.req_memory + pod.memory > node.alloc_memory:
        reasons.append(INSUFFICIENT_MEMORY)
    return tuple(reasons)


def inter_pod_affinity(pod: PodInfo, node: NodeInfo, state: CycleState) -> Reasons:
    st = state.affinity
    if st is None:
        return PASS
    labels = node.labels
    if pod.affinity:
        keys_present = all(t.topology_key in labels for t in pod.affinity)
        if not keys_present:
            return (AFFINITY,)
        if not st.affinity_anywhere and not all(
                (t.topology_key, labels[t.topology_key]) in st.affinity_domains for t in pod.affinity):
            return (AFFINITY,)
    if st.anti:
        for t in pod.anti_affinity:
            v = labels.get(t.topology_key)
            if v is not None and (t.topology_key, v) in st.anti:
                return (ANTI_AFFINITY,)
    if st.existing:
        for key, v in labels.items():
            if (key, v) in st.existing:
                return (EXISTING_ANTI_AFFINITY,)
    return PASS


# ---------------------------------------------------------------- the chain
@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    fn: FilterFn
    applies: Callable[[PodInfo], bool] = lambda pod: True
    passes_plain_nodes: bool = False   # passes on every Ready, schedulable, untainted node, whatever the pod


FILTERS: tuple[Filter, ...] = (
    Filter("NodeUnschedulable", node_unschedulable, passes_plain_nodes=True),
    Filter("NodeReady", node_ready, passes_plain_nodes=True),
    Filter("TaintToleration", taint_toleration, passes_plain_nodes=True),
    Filter("NodeAffinity", node_affinity, lambda p: bool(p.node_selector) or p.node_affinity is not None),
    Filter("NodePorts", node_ports, lambda p: bool(p.host_ports)),
    Filter("NodeResourcesFit", resources_fit),
)
INTER_POD_AFFINITY = Filter("InterPodAffinity", inter_pod_affinity)


def chain_for(pod: PodInfo, state: CycleState, filters: tuple[Filter, ...] = FILTERS,
              plain_node: bool = False) -> list[FilterFn]:
    """The filters to run for `pod`; for a plain node (NodeInfo.plain) without those that always pass there."""
    chain = [f.fn for f in filters if f.applies(pod) and not (plain_node and f.passes_plain_nodes)]
    if state.affinity is not None:
        chain.append(INTER_POD_AFFINITY.fn)
    return chain


# ---------------------------------------------------------------- per-cycle inter-pod affinity state
def _domain(cache: SchedulerCache, node_name: str, key: str) -> tuple[str, str] | None:
    ni = cache.nodes.get(node_name)
    if ni is None or key not in ni.labels:
        return None
    return key, ni.labels[key]


def _matches_all(terms: tuple[AffinityTerm, ...], pod: PodInfo) -> bool:
    return all(t.matches(pod) for t in terms)


def affinity_state(pod: PodInfo, cache: SchedulerCache) -> AffinityState | None:
    """What inter-pod affinity needs for `pod`; None when neither it nor any placed pod has such rules.

    Cost: the placed pods that could match the pod's terms (through the label
    index) plus the placed pods that carry required anti-affinity.
    """
    if not pod.affinity and not pod.anti_affinity and not cache.with_anti_affinity:
        return None
    st = AffinityState()
    for other in cache.with_anti_affinity.values():
        if other.uid == pod.uid:
            continue
        for t in other.anti_affinity:
            if t.matches(pod) and (d := _domain(cache, other.node_name, t.topology_key)):
                st.existing.add(d)
    for t in pod.anti_affinity:
        for uid in cache.candidates(t.namespaces, t.selector):
            placed = cache.placed(uid)
            if placed and uid != pod.uid and t.matches(placed[0]) and (d := _domain(cache, placed[1], t.topology_key)):
                st.anti.add(d)
    if pod.affinity:
        first = pod.affinity[0]
        found = False
        for uid in cache.candidates(first.namespaces, first.selector):
            placed = cache.placed(uid)
            if placed is None or uid == pod.uid or not _matches_all(pod.affinity, placed[0]):
                continue
            found = True
            for t in pod.affinity:
                if d := _domain(cache, placed[1], t.topology_key):
                    st.affinity_domains.add(d)
        st.affinity_anywhere = not found and _matches_all(pod.affinity, pod)
    return st
