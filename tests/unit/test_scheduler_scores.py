"""Scores: raw values, normalisation, and the weighted total."""
from __future__ import annotations

import pytest

from scheduler import scores as s
from scheduler.cache import SchedulerCache
from scheduler.podinfo import pod_info
from tests.harness.scheduler import make_node, make_pod


def nodes_with(*placed_per_node):
    cache = SchedulerCache()
    for i, placed in enumerate(placed_per_node):
        cache.set_node(make_node(f"n{i}", cpu="4", memory="4Gi"))
        for p in placed:
            p.spec.node_name = f"n{i}"
            cache.set_pod(pod_info(p))
    return cache.node_list()


@pytest.mark.parametrize("pod,placed,expected", [
    pytest.param(make_pod("p", cpu="1", memory="1Gi"), [], 75.0, id="empty-node"),
    pytest.param(make_pod("p", cpu="1", memory="1Gi"), [make_pod("o", cpu="2", memory="2Gi")], 25.0, id="half-used"),
    pytest.param(make_pod("p", cpu="4", memory="4Gi"), [], 0.0, id="fills-it"),
    pytest.param(make_pod("p"), [], (3900 / 4000 * 100 + (4096 - 200) / 4096 * 100) / 2,
                 id="best-effort-counts-as-defaults"),
])
def test_least_requested(pod, placed, expected):
    (node,) = nodes_with(placed)
    assert s.least_requested(pod_info(pod), node) == pytest.approx(expected)


@pytest.mark.parametrize("raw,expected", [
    pytest.param([0.0, 0.0], [100.0, 100.0], id="none-anywhere"),
    pytest.param([2.0, 0.0, 1.0], [0.0, 100.0, 50.0], id="fewer-is-better"),
    pytest.param([], [], id="empty"),
])
def test_fewer_is_better(raw, expected):
    assert s.fewer_is_better(raw) == expected


def test_owner_spread_prefers_nodes_without_siblings():
    sibling = dict(owner_uid="rs-1", labels={"app": "web"})
    nodes = nodes_with([make_pod("a", **sibling)], [], [make_pod("b", owner_uid="rs-2")])
    pod = pod_info(make_pod("p", **sibling))
    assert [s.owner_count(pod, n) for n in nodes] == [1.0, 0.0, 0.0]
    totals = s.total_scores(pod, nodes)
    assert totals[1] > totals[0] and totals[1] == pytest.approx(totals[2], rel=0.1)


def test_spread_does_not_apply_to_bare_pods():
    nodes = nodes_with([], [])
    pod = pod_info(make_pod("p"))
    assert s.total_scores(pod, nodes) == [s.least_requested(pod, n) for n in nodes]
