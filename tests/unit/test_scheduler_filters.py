"""Each filter alone: a table of (pod, node, placed pods) -> reasons."""
from __future__ import annotations

import pytest

from scheduler import filters as f
from scheduler.cache import SchedulerCache
from scheduler.podinfo import pod_info
from tests.harness.scheduler import make_node, make_pod


def run(fn, pod, node, placed=()):
    cache = SchedulerCache()
    cache.set_node(node)
    for p in placed:
        cache.set_pod(pod_info(p))
    info = pod_info(pod)
    state = f.CycleState(f.affinity_state(info, cache))
    return fn(info, cache.nodes[node.metadata.name], state)


@pytest.mark.parametrize("pod,node,expected", [
    pytest.param(make_pod("p"), make_node("n"), (), id="schedulable"),
    pytest.param(make_pod("p"), make_node("n", unschedulable=True), (f.UNSCHEDULABLE,), id="cordoned"),
    pytest.param(make_pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                             "effect": "NoSchedule"}]),
                 make_node("n", unschedulable=True), (), id="cordoned-but-tolerated"),
])
def test_node_unschedulable(pod, node, expected):
    assert run(f.node_unschedulable, pod, node) == expected


@pytest.mark.parametrize("ready,tolerations,expected", [
    pytest.param("True", [], (), id="ready"),
    pytest.param("False", [], (f.NOT_READY,), id="not-ready"),
    pytest.param("Unknown", [], (f.NOT_READY,), id="unknown"),
    pytest.param("False", [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}], (), id="tolerated"),
    pytest.param("Unknown", [{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}], (),
                 id="unreachable-tolerated"),
])
def test_node_ready(ready, tolerations, expected):
    assert run(f.node_ready, make_pod("p", tolerations=tolerations), make_node("n", ready=ready)) == expected


def test_not_ready_node_tainted_by_the_lifecycle_controller_reads_as_kubernetes_says():
    from tests.harness.scheduler import Harness
    h = Harness([make_node("n0", ready="Unknown", taints=[("node.kubernetes.io/unreachable", "", "NoSchedule")]),
                 make_node("n1", ready="False")])
    h.schedule(make_pod("p"))
    assert h.messages["p"] == ("0/2 nodes are available: 1 node(s) had untolerated taint "
                               "{node.kubernetes.io/unreachable: }, 1 node(s) were not ready.")


@pytest.mark.parametrize("taints,tolerations,expected", [
    pytest.param([], [], (), id="no-taints"),
    pytest.param([("dedicated", "gpu", "NoSchedule")], [], ("node(s) had untolerated taint {dedicated: gpu}",),
                 id="untolerated"),
    pytest.param([("dedicated", "gpu", "NoExecute")], [], ("node(s) had untolerated taint {dedicated: gpu}",),
                 id="untolerated-noexecute"),
    pytest.param([("dedicated", "gpu", "PreferNoSchedule")], [], (), id="prefer-is-not-a-filter"),
    pytest.param([("dedicated", "gpu", "NoSchedule")], [{"key": "dedicated", "value": "gpu"}], (), id="equal"),
    pytest.param([("dedicated", "gpu", "NoSchedule")], [{"key": "dedicated", "value": "cpu"}],
                 ("node(s) had untolerated taint {dedicated: gpu}",), id="equal-wrong-value"),
    pytest.param([("dedicated", "gpu", "NoSchedule")], [{"key": "dedicated", "operator": "Exists"}], (),
                 id="exists"),
    pytest.param([("dedicated", "gpu", "NoSchedule")], [{"operator": "Exists"}], (), id="exists-everything"),
    pytest.param([("dedicated", "gpu", "NoSchedule")],
                 [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
                 ("node(s) had untolerated taint {dedicated: gpu}",), id="other-effect"),
    pytest.param([("a", "", "NoSchedule")], [], ("node(s) had untolerated taint {a: }",), id="empty-value"),
])
def test_taint_toleration(taints, tolerations, expected):
    assert run(f.taint_toleration, make_pod("p", tolerations=tolerations), make_node("n", taints=taints)) == expected


def _with_node_affinity(pod, *terms):
    na = pod.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    for exprs in terms:
        t = na.node_selector_terms.add()
        for key, op, values in exprs:
            t.match_expressions.add(key=key, operator=op, values=values)
    return pod


@pytest.mark.parametrize("pod,labels,expected", [
    pytest.param(make_pod("p", node_selector={"disk": "ssd"}), {"disk": "ssd"}, (), id="selector-match"),
    pytest.param(make_pod("p", node_selector={"disk": "ssd"}), {"disk": "hdd"}, (f.NODE_AFFINITY,),
                 id="selector-mismatch"),
    pytest.param(make_pod("p", node_selector={"disk": "ssd"}), {}, (f.NODE_AFFINITY,), id="selector-missing"),
    pytest.param(_with_node_affinity(make_pod("p"), [("zone", "In", ["a", "b"])]), {"zone": "b"}, (), id="in"),
    pytest.param(_with_node_affinity(make_pod("p"), [("zone", "NotIn", ["a"])]), {"zone": "a"},
                 (f.NODE_AFFINITY,), id="notin"),
    pytest.param(_with_node_affinity(make_pod("p"), [("gpu", "Exists", [])]), {}, (f.NODE_AFFINITY,),
                 id="exists"),
    pytest.param(_with_node_affinity(make_pod("p"), [("gpu", "DoesNotExist", [])]), {}, (), id="doesnotexist"),
    pytest.param(_with_node_affinity(make_pod("p"), [("cores", "Gt", ["4"])]), {"cores": "8"}, (), id="gt"),
    pytest.param(_with_node_affinity(make_pod("p"), [("cores", "Lt", ["4"])]), {"cores": "8"},
                 (f.NODE_AFFINITY,), id="lt"),
    pytest.param(_with_node_affinity(make_pod("p"), [("zone", "In", ["x"])], [("gpu", "Exists", [])]),
                 {"gpu": "1"}, (), id="terms-are-ored"),
])
def test_node_affinity(pod, labels, expected):
    assert run(f.node_affinity, pod, make_node("n", labels=labels)) == expected


@pytest.mark.parametrize("placed_ports,wanted,expected", [
    pytest.param([], [8080], (), id="free"),
    pytest.param([8080], [8080], (f.PORTS,), id="taken"),
    pytest.param([8080], [8081], (), id="other-port"),
])
def test_node_ports(placed_ports, wanted, expected):
    placed = [make_pod("old", node_name="n", host_ports=placed_ports)] if placed_ports else []
    assert run(f.node_ports, make_pod("p", host_ports=wanted), make_node("n"), placed) == expected


@pytest.mark.parametrize("pod,node,placed,expected", [
    pytest.param(make_pod("p", cpu="1"), make_node("n", cpu="2"), [], (), id="fits"),
    pytest.param(make_pod("p", cpu="3"), make_node("n", cpu="2"), [], (f.INSUFFICIENT_CPU,), id="cpu"),
    pytest.param(make_pod("p", cpu="1"), make_node("n", cpu="2"), [make_pod("o", cpu="1500m", node_name="n")],
                 (f.INSUFFICIENT_CPU,), id="cpu-taken-by-others"),
    pytest.param(make_pod("p", memory="2Gi"), make_node("n", memory="1Gi"), [], (f.INSUFFICIENT_MEMORY,),
                 id="memory"),
    pytest.param(make_pod("p", cpu="3", memory="2Gi"), make_node("n", cpu="2", memory="1Gi"), [],
                 (f.INSUFFICIENT_CPU, f.INSUFFICIENT_MEMORY), id="both"),
    pytest.param(make_pod("p"), make_node("n", pods=1), [make_pod("o", node_name="n")], (f.TOO_MANY_PODS,),
                 id="pods"),
    pytest.param(make_pod("p"), make_node("n", cpu="0"), [], (), id="best-effort-fits-anywhere"),
    pytest.param(make_pod("p", cpu="1"), make_node("n", cpu="2"), [make_pod("o", cpu="2", node_name="n",
                                                                            phase="Succeeded")],
                 (), id="finished-pods-free-resources"),
])
def test_resources_fit(pod, node, placed, expected):
    assert run(f.resources_fit, pod, node, placed) == expected


HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"


@pytest.mark.parametrize("pod,node,placed,expected", [
    pytest.param(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, HOST)]), make_node("n"),
                 [], (), id="anti-empty-node"),
    pytest.param(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, HOST)]), make_node("n"),
                 [make_pod("o", labels={"app": "web"}, node_name="n")], (f.ANTI_AFFINITY,), id="anti-same-host"),
    pytest.param(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, HOST)]), make_node("n"),
                 [make_pod("o", labels={"app": "web"}, node_name="m")], (), id="anti-other-host"),
    pytest.param(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, HOST)]), make_node("n"),
                 [make_pod("o", labels={"app": "web"}, node_name="n", namespace="other")], (),
                 id="anti-other-namespace"),
    pytest.param(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, ZONE)]),
                 make_node("n", labels={ZONE: "a"}),
                 [make_pod("o", labels={"app": "web"}, node_name="m")], (), id="anti-zone-unknown-node"),
    pytest.param(make_pod("p", labels={"app": "db"}), make_node("n"),
                 [make_pod("o", labels={"app": "web"}, node_name="n", anti_affinity=[({"app": "db"}, HOST)])],
                 (f.EXISTING_ANTI_AFFINITY,), id="existing-pods-anti-affinity"),
    pytest.param(make_pod("p", labels={"app": "db"}, affinity=[({"app": "cache"}, HOST)]), make_node("n"),
                 [make_pod("o", labels={"app": "cache"}, node_name="m")], (f.AFFINITY,), id="affinity-elsewhere"),
    pytest.param(make_pod("p", labels={"app": "db"}, affinity=[({"app": "cache"}, HOST)]), make_node("n"),
                 [make_pod("o", labels={"app": "cache"}, node_name="n")], (), id="affinity-here"),
    pytest.param(make_pod("p", labels={"app": "db"}, affinity=[({"app": "db"}, HOST)]), make_node("n"), [], (),
                 id="affinity-first-of-its-group"),
    pytest.param(make_pod("p", labels={"app": "db"}, affinity=[({"app": "cache"}, HOST)]), make_node("n"), [],
                 (f.AFFINITY,), id="affinity-nothing-to-join"),
])
def test_inter_pod_affinity(pod, node, placed, expected):
    assert run(f.inter_pod_affinity, pod, node, placed) == expected


def test_anti_affinity_on_zone_forbids_the_whole_zone():
    cache = SchedulerCache()
    for name, zone in (("a1", "a"), ("a2", "a"), ("b1", "b")):
        cache.set_node(make_node(name, labels={ZONE: zone}))
    cache.set_pod(pod_info(make_pod("o", labels={"app": "web"}, node_name="a1")))
    info = pod_info(make_pod("p", labels={"app": "web"}, anti_affinity=[({"app": "web"}, ZONE)]))
    state = f.CycleState(f.affinity_state(info, cache))
    got = {n: f.inter_pod_affinity(info, cache.nodes[n], state) for n in ("a1", "a2", "b1")}
    assert got == {"a1": (f.ANTI_AFFINITY,), "a2": (f.ANTI_AFFINITY,), "b1": ()}


def test_no_affinity_anywhere_skips_the_filter():
    cache = SchedulerCache()
    cache.set_node(make_node("n"))
    cache.set_pod(pod_info(make_pod("o", node_name="n")))
    info = pod_info(make_pod("p"))
    state = f.CycleState(f.affinity_state(info, cache))
    assert state.affinity is None
    assert f.inter_pod_affinity not in f.chain_for(info, state)
    assert f.node_ports not in f.chain_for(info, state)


def test_filters_said_to_pass_plain_nodes_do_pass_them_for_any_pod():
    """The algorithm skips NodeUnschedulable/NodeReady/TaintToleration on plain nodes: that must change nothing."""
    cache = SchedulerCache()
    plain = make_node("plain")
    cache.set_node(plain)
    assert cache.nodes["plain"].plain
    pods = [make_pod("p"), make_pod("t", tolerations=[{"operator": "Exists"}]), make_pod("c", cpu="100m"),
            make_pod("s", node_selector={"disk": "ssd"})]
    skipped = [flt for flt in f.FILTERS if flt.passes_plain_nodes]
    assert {flt.name for flt in skipped} == {"NodeUnschedulable", "NodeReady", "TaintToleration"}
    for pod in pods:
        info = pod_info(pod)
        for flt in skipped:
            assert flt.fn(info, cache.nodes["plain"], f.CycleState()) == f.PASS, (flt.name, pod.metadata.name)
    for not_plain in (make_node("cordoned", unschedulable=True), make_node("down", ready="False"),
                      make_node("tainted", taints=[("dedicated", "gpu", "NoSchedule")])):
        cache.set_node(not_plain)
        assert not cache.nodes[not_plain.metadata.name].plain


def test_cordoned_and_tainted_nodes_still_reject_through_the_algorithm():
    from tests.harness.scheduler import Harness
    h = Harness([make_node("n0", unschedulable=True), make_node("n1", taints=[("dedicated", "gpu", "NoSchedule")]),
                 make_node("n2", ready="False")])
    h.schedule(make_pod("p"))
    assert h.messages["p"] == ("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
                               "1 node(s) were not ready, 1 node(s) were unschedulable.")
