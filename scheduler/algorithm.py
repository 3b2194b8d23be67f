"""One scheduling decision: filter the nodes, score the feasible ones, pick one.

Pure and synchronous over the cache (cache.py), so it can be run against a
copy of any state (tests do) and nothing can change under it mid-decision.
Like Kubernetes, it stops filtering once it has found "enough" feasible
nodes (`num_feasible_nodes_to_find`, percentageOfNodesToScore) and starts
each search where the previous one stopped, which spreads pods and keeps a
decision cheap on big clusters. A pod no node takes gets a `FitError` whose
message is Kubernetes' exactly.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .cache import NodeInfo, SchedulerCache
from .filters import FILTERS, CycleState, Filter, affinity_state, chain_for
from .podinfo import PodInfo
from .scores import SCORES, Score, total_scores

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE = 5
NO_NODES_MESSAGE = "no nodes available to schedule pods"


def num_feasible_nodes_to_find(num_nodes: int, percentage: int = 0) -> int:
    """Kubernetes' rule: all nodes up to 100, else a share of them (adaptive when percentage is 0)."""
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND or percentage >= 100:
        return num_nodes
    if percentage <= 0:
        percentage = max(50 - num_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE)
    return max(num_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def fit_error_message(num_nodes: int, reasons: Counter[str] | dict[str, int]) -> str:
    """`0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.`

    Sorted as Kubernetes sorts them: as strings, count first.
    """
    if num_nodes == 0:
        return NO_NODES_MESSAGE
    histogram = sorted(f"{n} {reason}" for reason, n in reasons.items())
    return f"0/{num_nodes} nodes are available: {', '.join(histogram)}."


@dataclass(slots=True)
class Result:
    node: str | None
    num_nodes: int
    evaluated: int
    feasible: int
    reasons: Counter[str] = field(default_factory=Counter)    # why examined nodes were not feasible
    score: float | None = None       # the chosen node's total score (None: it was the only feasible node)

    @property
    def message(self) -> str:
        return fit_error_message(self.num_nodes, self.reasons)


class Algorithm:
    def __init__(self, cache: SchedulerCache, filters: tuple[Filter, ...] = FILTERS,
                 scores: tuple[Score, ...] = SCORES, percentage_of_nodes_to_score: int = 0) -> None:
        self.cache = cache
        self.filters = filters
        self.scores = scores
        self.percentage = percentage_of_nodes_to_score
        self.next_start = 0

    def schedule(self, pod: PodInfo) -> Result:
        nodes = self.cache.node_list()
        n = len(nodes)
        if n == 0:
            return Result(None, 0, 0, 0)
        state = CycleState(affinity_state(pod, self.cache))
        chain = chain_for(pod, state, self.filters)
        # Most nodes are Ready, schedulable and untainted: their node-condition filters are skipped.
        plain_chain = chain_for(pod, state, self.filters, plain_node=True)
        want = num_feasible_nodes_to_find(n, self.percentage)
        feasible: list[NodeInfo] = []
        reasons: Counter[str] = Counter()
        start = self.next_start % n
        examined = 0
        for i in range(n):
            node = nodes[(start + i) % n]
            examined += 1
            for fn in (plain_chain if node.plain else chain):
                failed = fn(pod, node, state)
                if failed:
                    for r in failed:
                        reasons[r] += 1
                    break
            else:
                feasible.append(node)
                if len(feasible) >= want:
                    break
        self.next_start = (start + examined) % n
        if not feasible:
            return Result(None, n, examined, 0, reasons)
        node, score = self._pick(pod, feasible)
        return Result(node, n, examined, len(feasible), reasons, score)

    def _pick(self, pod: PodInfo, feasible: list[NodeInfo]) -> tuple[str, float | None]:
        if len(feasible) == 1:
            return feasible[0].name, None
        totals = total_scores(pod, feasible, self.scores)
        best = max(range(len(feasible)), key=totals.__getitem__)   # first of equals: deterministic
        return feasible[best].name, totals[best]
