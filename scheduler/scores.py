"""Stage 2 of the pipeline, ranking: of the feasible nodes, which suits the pod best?

A score is a small function `(pod, node) -> raw number` plus a normaliser
turning the raw numbers of all feasible nodes into 0..100 (MAX_SCORE).
algorithm.py adds the normalised scores times their weights and picks the
highest; ties go to the first node in the (rotating) node order, so a test
that injects the order knows the answer.

- least_requested: prefer nodes with the most cpu and memory left after the
  pod (Kubernetes' NodeResourcesFit LeastAllocated), counting best-effort
  pods at Kubernetes' default request so they spread too.
- owner_spread: prefer nodes with fewer pods of the pod's controller
  (Kubernetes' SelectorSpread / default topology spreading on hostname).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .cache import NodeInfo
from .podinfo import PodInfo

MAX_SCORE = 100

ScoreFn = Callable[[PodInfo, NodeInfo], float]
Normaliser = Callable[[list[float]], list[float]]


def least_requested(pod: PodInfo, node: NodeInfo) -> float:
    """0..100: the mean share of cpu and memory still free once the pod is on the node."""
    # Written out, not factored: this runs for every feasible node of every decision.
    # Each term: the share left free, 0 when the node has none or the pod would not fit.
    cpu_alloc, mem_alloc = node.alloc_cpu, node.alloc_memory
    cpu_req, mem_req = node.nz_cpu + pod.nz_cpu, node.nz_memory + pod.nz_memory
    cpu = (cpu_alloc - cpu_req) * MAX_SCORE / cpu_alloc if 0 < cpu_alloc and cpu_req <= cpu_alloc else 0.0
    mem = (mem_alloc - mem_req) * MAX_SCORE / mem_alloc if 0 < mem_alloc and mem_req <= mem_alloc else 0.0
    return (cpu + mem) / 2


def owner_count(pod: PodInfo, node: NodeInfo) -> float:
    """Raw: how many pods of the pod's controller the node already runs."""
    if not pod.owner_uid:
        return 0.0
    return float(node.owners.get(pod.owner_uid, 0))


def identity(raw: list[float]) -> list[float]:
    return raw


def fewer_is_better(raw: list[float]) -> list[float]:
    """Scale counts to 0..100 with the smallest count best (100) and the largest 0."""
    top = max(raw, default=0.0)
    if top <= 0:
        return [float(MAX_SCORE)] * len(raw)
    return [(top - r) * MAX_SCORE / top for r in raw]


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    fn: ScoreFn
    normalise: Normaliser = identity
    weight: int = 1
    applies: Callable[[PodInfo], bool] = lambda pod: True


SCORES: tuple[Score, ...] = (
    Score("NodeResourcesLeastAllocated", least_requested),
    Score("SelectorSpread", owner_count, fewer_is_better, weight=2, applies=lambda p: bool(p.owner_uid)),
)


def total_scores(pod: PodInfo, nodes: list[NodeInfo], scores: tuple[Score, ...] = SCORES) -> list[float]:
    """Weighted sum of the normalised scores, one per node, in `nodes` order."""
    totals = [0.0] * len(nodes)
    for s in scores:
        if not s.applies(pod):
            continue
        fn = s.fn
        normalised = s.normalise([fn(pod, n) for n in nodes])
        w = s.weight
        for i, v in enumerate(normalised):
            totals[i] += w * v
    return totals
