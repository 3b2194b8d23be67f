"""The scheduler's own view of the cluster: nodes with per-node aggregates, and assumed pods.

Fed by the informers (server.py) and by the scheduling loop itself: when a
pod is placed, it is *assumed* onto its node at once, so the next pod sees
the CPU, memory, ports and labels it takes even though the bind (and the
watch event that confirms it) is still in flight. A failed bind *forgets*
the assumption; the watch event of the bound pod *confirms* it.

Filters never scan pods: each NodeInfo keeps sums (requested cpu/memory,
pod count, host ports, pods per owner), and the cache keeps a
(namespace, label, value) -> pods index and the list of placed pods that
carry required anti-affinity, so inter-pod affinity looks only at pods
that can match.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubelab import conditions, selectors

from .podinfo import PodInfo, Toleration, quantity_millis, quantity_value

log = logging.getLogger(__name__)

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_INDEXABLE = frozenset({selectors.EQUALS, selectors.DOUBLE_EQUALS, selectors.IN})


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(slots=True)
class NodeInfo:
    """One node and the sums of the pods on it (assumed ones included)."""
    name: str
    node: Any = None                       # pb.Node; None while only pods name it
    labels: dict[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    ready: str = "Unknown"                 # the Ready condition's status
    taints: tuple[Taint, ...] = ()         # NoSchedule / NoExecute only: the ones filters care about
    alloc_cpu: int = 0
    alloc_memory: int = 0
    alloc_pods: int = 0
    req_cpu: int = 0
    req_memory: int = 0
    nz_cpu: int = 0
    nz_memory: int = 0
    pods: dict[str, PodInfo] = field(default_factory=dict)          # uid -> pod
    ports: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)  # (proto, port) -> ip -> n
    owners: dict[str, int] = field(default_factory=dict)            # controller uid -> pods here
    plain: bool = False                    # Ready, schedulable, untainted: the node-condition filters pass

    def set_node(self, node: Any) -> None:
        st = node.status
        self.node = node
        self.labels = dict(node.metadata.labels)
        self.unschedulable = node.spec.unschedulable
        ready = conditions.get(st.conditions, "Ready")
        self.ready = ready.status if ready is not None else "Unknown"
        self.taints = tuple(Taint(t.key, t.value, t.effect) for t in node.spec.taints
                            if t.effect in ("NoSchedule", "NoExecute"))
        self.plain = self.ready == "True" and not self.unschedulable and not self.taints
        alloc = st.allocatable or st.capacity
        self.alloc_cpu = quantity_millis(alloc["cpu"]) if "cpu" in alloc else 0
        self.alloc_memory = quantity_value(alloc["memory"]) if "memory" in alloc else 0
        self.alloc_pods = quantity_value(alloc["pods"]) if "pods" in alloc else 0

    def schedulability_key(self) -> tuple[Any, ...]:
        """What a node update must change for unschedulable pods to deserve another try."""
        return (self.unschedulable, self.ready, self.taints, self.alloc_cpu, self.alloc_memory, self.alloc_pods,
                tuple(sorted(self.labels.items())))

    def add_pod(self, p: PodInfo) -> None:
        self.pods[p.uid] = p
        self.req_cpu += p.cpu
        self.req_memory += p.memory
        self.nz_cpu += p.nz_cpu
        self.nz_memory += p.nz_memory
        for ip, proto, port in p.host_ports:
            ips = self.ports.setdefault((proto, port), {})
            ips[ip] = ips.get(ip, 0) + 1
        if p.owner_uid:
            self.owners[p.owner_uid] = self.owners.get(p.owner_uid, 0) + 1

    def remove_pod(self, uid: str) -> PodInfo | None:
        p = self.pods.pop(uid, None)
        if p is None:
            return None
        self.req_cpu -= p.cpu
        self.req_memory -= p.memory
        self.nz_cpu -= p.nz_cpu
        self.nz_memory -= p.nz_memory
        for ip, proto, port in p.host_ports:
            ips = self.ports.get((proto, port), {})
            ips[ip] = ips.get(ip, 0) - 1
            if ips.get(ip, 0) <= 0:
                ips.pop(ip, None)
            if not ips:
                self.ports.pop((proto, port), None)
        if p.owner_uid:
            n = self.owners.get(p.owner_uid, 0) - 1
            if n > 0:
                self.owners[p.owner_uid] = n
            else:
                self.owners.pop(p.owner_uid, None)
        return p


def name_order(nodes: Iterable[NodeInfo]) -> list[NodeInfo]:
    """The default node order: by name (deterministic; the scheduler rotates its starting point)."""
    return sorted(nodes, key=lambda n: n.name)


NodeOrder = Callable[[Iterable[NodeInfo]], list[NodeInfo]]


@dataclass(slots=True)
class _PodState:
    info: PodInfo
    node: str
    assumed: bool


class SchedulerCache:
    def __init__(self, order: NodeOrder = name_order) -> None:
        self.order = order
        self.nodes: dict[str, NodeInfo] = {}
        self._list: list[NodeInfo] | None = None
        self._pods: dict[str, _PodState] = {}                       # uid -> where it sits
        self.label_index: dict[tuple[str, str, str], set[str]] = {}  # (ns, key, value) -> uids
        self.by_namespace: dict[str, set[str]] = {}
        self.with_anti_affinity: dict[str, PodInfo] = {}              # placed pods with required anti-affinity

    # ------------------------------------------------------------ nodes
    def node_list(self) -> list[NodeInfo]:
        """Schedulable candidates (nodes we have a Node object for), in the injected order."""
        if self._list is None:
            self._list = self.order(n for n in self.nodes.values() if n.node is not None)
        return self._list

    def set_node(self, node: Any) -> tuple[bool, bool]:
        """Add or update a node; returns (added, schedulability changed)."""
        name = node.metadata.name
        ni = self.nodes.get(name)
        added = ni is None or ni.node is None
        if ni is None:
            ni = self.nodes[name] = NodeInfo(name)
        before = ni.schedulability_key() if not added else None
        ni.set_node(node)
        if added:
            self._list = None
        return added, added or before != ni.schedulability_key()

    def remove_node(self, name: str) -> None:
        ni = self.nodes.get(name)
        if ni is None:
            return
        self._list = None
        if ni.pods:
            ni.node = None   # keep its pods counted until they go (Kubernetes does the same)
        else:
            del self.nodes[name]

    # ------------------------------------------------------------ pods
    def pod_node(self, uid: str) -> str | None:
        st = self._pods.get(uid)
        return st.node if st else None

    def is_assumed(self, uid: str) -> bool:
        st = self._pods.get(uid)
        return st is not None and st.assumed

    def _place(self, p: PodInfo, node: str, assumed: bool) -> None:
        ni = self.nodes.get(node)
        if ni is None:
            ni = self.nodes[node] = NodeInfo(node)
        ni.add_pod(p)
        self._pods[p.uid] = _PodState(p, node, assumed)
        for k, v in p.labels.items():
            self.label_index.setdefault((p.namespace, k, v), set()).add(p.uid)
        self.by_namespace.setdefault(p.namespace, set()).add(p.uid)
        if p.anti_affinity:
            self.with_anti_affinity[p.uid] = p

    def _unplace(self, uid: str) -> PodInfo | None:
        st = self._pods.pop(uid, None)
        if st is None:
            return None
        p = st.info
        ni = self.nodes.get(st.node)
        if ni is not None:
            ni.remove_pod(uid)
            if ni.node is None and not ni.pods:
                del self.nodes[st.node]
        for k, v in p.labels.items():
            uids = self.label_index.get((p.namespace, k, v))
            if uids is not None:
                uids.discard(uid)
                if not uids:
                    del self.label_index[(p.namespace, k, v)]
        ns = self.by_namespace.get(p.namespace)
        if ns is not None:
            ns.discard(uid)
            if not ns:
                del self.by_namespace[p.namespace]
        self.with_anti_affinity.pop(uid, None)
        return p

    def assume(self, p: PodInfo, node: str) -> None:
        """Count `p` on `node` now, before its binding is confirmed."""
        self._unplace(p.uid)
        p.node_name = node
        self._place(p, node, assumed=True)

    def forget(self, uid: str) -> None:
        """Undo an assumption (the bind failed)."""
        st = self._pods.get(uid)
        if st is not None and st.assumed:
            self._unplace(uid)

    def set_pod(self, p: PodInfo) -> None:
        """A pod the API says is on a node (confirms an assumption, or one bound by someone else)."""
        if p.terminal:
            self._unplace(p.uid)
            return
        st = self._pods.get(p.uid)
        if st is not None and st.node == p.node_name and not st.assumed and st.info.labels == p.labels:
            st.info = p
            return
        self._unplace(p.uid)
        self._place(p, p.node_name, assumed=False)

    def remove_pod(self, uid: str) -> PodInfo | None:
        return self._unplace(uid)

    # ------------------------------------------------------------ lookups for inter-pod affinity
    def placed(self, uid: str) -> tuple[PodInfo, str] | None:
        st = self._pods.get(uid)
        return (st.info, st.node) if st else None

    def candidates(self, namespaces: Iterable[str], selector: selectors.Selector) -> Iterable[str]:
        """Uids of placed pods in `namespaces` that may match `selector` (a superset).

        Narrowed through the label index by the selector's first equality or
        `in` requirement; a selector with neither falls back to the namespace.
        """
        if selector.match_nothing:
            return
        narrow = next((r for r in selector.requirements if r.operator in _INDEXABLE), None)
        for ns in namespaces:
            if narrow is None:
                yield from self.by_namespace.get(ns, ())
                continue
            for v in narrow.values:
                yield from self.label_index.get((ns, narrow.key, v), ())


def tolerates(tolerations: Iterable[Toleration], key: str, value: str, effect: str) -> bool:
    """Kubernetes' ToleratesTaint over a pod's tolerations."""
    for t in tolerations:
        if t.effect and t.effect != effect:
            continue
        if t.operator == "Exists":
            if not t.key or t.key == key:
                return True
        elif t.key == key and t.value == value:
            return True
    return False
