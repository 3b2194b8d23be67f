"""Whole decisions through the harness: filters, scores, assumed pods, node order, messages."""
from __future__ import annotations

import random

import pytest

from scheduler.cache import SchedulerCache
from scheduler.podinfo import pod_info
from tests.harness.scheduler import Harness, make_node, make_pod

HOST = "kubernetes.io/hostname"


def web(name: str, **kw):
    return make_pod(name, labels={"app": "web"}, anti_affinity=[({"app": "web"}, HOST)], **kw)


def test_design_message_unschedulable_and_anti_affinity():
    h = Harness([make_node("node-1"), make_node("node-2"), make_node("node-3", unschedulable=True)],
                placed=[web("a", node_name="node-1"), web("b", node_name="node-2")])
    h.schedule(web("c"))
    assert h.plan == {"c": ""}
    assert h.messages["c"] == ("0/3 nodes are available: 1 node(s) were unschedulable, "
                               "2 node(s) didn't match pod anti-affinity rules.")


def test_anti_affinity_leaves_exactly_the_surplus_pending():
    h = Harness([make_node(f"n{i}") for i in range(3)])
    h.schedule(*[web(f"w{i}") for i in range(5)])
    placed = [p for p, n in h.plan.items() if n]
    assert len(placed) == 3 and len({h.plan[p] for p in placed}) == 3
    assert [h.messages[p] for p in ("w3", "w4")] == [
        "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."] * 2


def test_assumed_pods_prevent_overcommit():
    h = Harness([make_node("n0", cpu="1"), make_node("n1", cpu="1")])
    h.schedule(*[make_pod(f"p{i}", cpu="600m") for i in range(3)])
    assert sorted(h.plan.values()) == ["", "n0", "n1"]
    assert h.messages["p2"] == "0/2 nodes are available: 2 Insufficient cpu."


def test_too_big_for_any_node():
    h = Harness([make_node("n0", cpu="2"), make_node("n1", cpu="4")])
    h.schedule(make_pod("big", cpu="8"))
    assert h.messages["big"] == "0/2 nodes are available: 2 Insufficient cpu."


def test_mixed_reasons_are_counted_per_node():
    h = Harness([make_node("n0", cpu="1", labels={"disk": "ssd"}), make_node("n1", ready="False"),
                 make_node("n2", taints=[("dedicated", "gpu", "NoSchedule")]),
                 make_node("n3", labels={"disk": "hdd"}, cpu="8")])
    h.schedule(make_pod("p", cpu="2", node_selector={"disk": "ssd"}))
    assert h.messages["p"] == ("0/4 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node "
                               "affinity/selector, 1 node(s) had untolerated taint {dedicated: gpu}, "
                               "1 node(s) were not ready.")


def test_least_requested_picks_the_emptiest_node():
    h = Harness([make_node("n0"), make_node("n1"), make_node("n2")],
                placed=[make_pod("x", cpu="3", node_name="n0"), make_pod("y", cpu="1", node_name="n2")])
    h.schedule(make_pod("p", cpu="500m"))
    assert h.plan["p"] == "n1"


def test_pods_of_one_owner_spread_across_nodes():
    h = Harness([make_node(f"n{i}") for i in range(4)])
    h.schedule(*[make_pod(f"r{i}", cpu="100m", owner_uid="rs-1") for i in range(8)])
    per_node = {n: list(h.plan.values()).count(n) for n in ("n0", "n1", "n2", "n3")}
    assert per_node == {"n0": 2, "n1": 2, "n2": 2, "n3": 2}


def test_injected_node_order_makes_ties_deterministic():
    nodes = [make_node(f"n{i}") for i in range(3)]
    reverse = Harness(nodes, order=lambda ns: sorted(ns, key=lambda n: n.name, reverse=True))
    assert reverse.schedule(make_pod("p"))["p"] == "n2"
    forward = Harness(nodes)
    assert forward.schedule(make_pod("p"))["p"] == "n0"


def test_big_cluster_examines_only_enough_nodes():
    h = Harness([make_node(f"n{i:04d}") for i in range(1000)])
    info = pod_info(make_pod("p", cpu="100m"))
    result = h.algorithm.schedule(info)
    assert (result.evaluated, result.feasible) == (420, 420)
    assert h.algorithm.next_start == 420      # the next search starts where this one stopped


def test_unschedulable_pod_examines_every_node():
    h = Harness([make_node(f"n{i:04d}", cpu="1") for i in range(300)])
    result = h.algorithm.schedule(pod_info(make_pod("p", cpu="2")))
    assert result.node is None and result.evaluated == 300
    assert result.message == "0/300 nodes are available: 300 Insufficient cpu."


def test_no_nodes():
    h = Harness([])
    h.schedule(make_pod("p"))
    assert h.messages["p"] == "no nodes available to schedule pods"


def test_cordoned_and_not_ready_nodes_get_nothing():
    h = Harness([make_node("ok"), make_node("cordoned", unschedulable=True), make_node("down", ready="Unknown")])
    h.schedule(*[make_pod(f"p{i}") for i in range(5)])
    assert set(h.plan.values()) == {"ok"}


def test_cache_forget_and_confirm():
    cache = SchedulerCache()
    cache.set_node(make_node("n", cpu="1"))
    info = pod_info(make_pod("p", cpu="1"))
    cache.assume(info, "n")
    assert cache.nodes["n"].req_cpu == 1000 and cache.is_assumed(info.uid)
    cache.forget(info.uid)
    assert cache.nodes["n"].req_cpu == 0 and cache.pod_node(info.uid) is None
    cache.assume(info, "n")
    cache.set_pod(pod_info(make_pod("p", cpu="1", node_name="n")))   # the watch confirms it
    assert not cache.is_assumed(info.uid) and cache.nodes["n"].req_cpu == 1000
    cache.forget(info.uid)                                           # confirmed: forget no longer applies
    assert cache.nodes["n"].req_cpu == 1000
    cache.remove_pod(info.uid)
    assert cache.nodes["n"].req_cpu == 0 and not cache.nodes["n"].pods


def test_cache_aggregates_match_a_full_recount():
    """Random adds, moves and removals: the per-node sums always equal a recount."""
    rng = random.Random(7)
    cache = SchedulerCache()
    for i in range(5):
        cache.set_node(make_node(f"n{i}"))
    live: dict[str, str] = {}
    for step in range(500):
        name = f"p{rng.randrange(40)}"
        if name in live and rng.random() < 0.4:
            cache.remove_pod(f"uid-default-{name}")
            del live[name]
            continue
        node = f"n{rng.randrange(5)}"
        pod = make_pod(name, cpu=f"{rng.randrange(1, 500)}m", labels={"k": str(rng.randrange(3))}, node_name=node,
                       host_ports=[8000 + rng.randrange(3)] if rng.random() < 0.3 else [])
        if rng.random() < 0.5:
            cache.assume(pod_info(pod), node)
        else:
            cache.set_pod(pod_info(pod))
        live[name] = node
    for ni in cache.nodes.values():
        assert ni.req_cpu == sum(p.cpu for p in ni.pods.values())
        assert sum(sum(ips.values()) for ips in ni.ports.values()) == sum(len(p.host_ports) for p in ni.pods.values())
    assert sum(len(ni.pods) for ni in cache.nodes.values()) == len(live)
    indexed = set().union(*cache.label_index.values()) if cache.label_index else set()
    assert indexed == {f"uid-default-{n}" for n in live}


@pytest.mark.parametrize("pct,expected_evaluated", [(0, 100), (100, 150)])
def test_percentage_of_nodes_to_score(pct, expected_evaluated):
    h = Harness([make_node(f"n{i:03d}") for i in range(150)], percentage=pct)
    assert h.algorithm.schedule(pod_info(make_pod("p"))).evaluated == expected_evaluated
