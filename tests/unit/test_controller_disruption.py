"""PodDisruptionBudget maths (controller_manager/disruption.py), table-driven."""
from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from controller_manager.disruption import DisruptionController, compute_budget, prune_disrupted
from tests.harness.controller_manager import Harness
from kubelab.v1 import objects_pb2 as pb
from kubelab import timeutil

T0 = 1_700_000_000.0


def pdb(min_available: int | str | None = None, max_unavailable: int | str | None = None) -> pb.PodDisruptionBudget:
    p = pb.PodDisruptionBudget(api_version="policy/v1", kind="PodDisruptionBudget")
    p.metadata.name, p.metadata.namespace = "budget", "default"
    p.metadata.generation = 3
    p.spec.selector.match_labels["app"] = "web"
    for field, v in (("min_available", min_available), ("max_unavailable", max_unavailable)):
        if v is not None:
            getattr(p.spec, field).CopyFrom(struct_pb2.Value(number_value=v) if isinstance(v, int)
                                            else struct_pb2.Value(string_value=v))
    return p


def pod(name: str, ready: bool = True, terminating: bool = False) -> pb.Pod:
    p = pb.Pod(api_version="v1", kind="Pod")
    p.metadata.name, p.metadata.namespace = name, "default"
    p.metadata.labels["app"] = "web"
    p.status.phase = "Running"
    p.status.conditions.add(type="Ready", status="True" if ready else "False")
    if terminating:
        p.metadata.deletion_timestamp = timeutil.fmt(T0)
    return p


def ready_pods(n: int, unready: int = 0) -> list[pb.Pod]:
    return [pod(f"p{i}") for i in range(n)] + [pod(f"u{i}", ready=False) for i in range(unready)]


@pytest.mark.parametrize("budget,pods,scale,expected", [
    # (expected, desired, healthy, allowed)
    pytest.param(pdb(min_available=1), ready_pods(2), 2, (2, 1, 2, 1), id="seed-minAvailable-1-of-2"),
    pytest.param(pdb(min_available=2), ready_pods(2), 2, (2, 2, 2, 0), id="minAvailable-equals-healthy"),
    pytest.param(pdb(min_available=3), ready_pods(2), 2, (2, 3, 2, 0), id="minAvailable-above-healthy-clamps-0"),
    pytest.param(pdb(min_available=1), ready_pods(2, unready=1), 3, (3, 1, 2, 1), id="unready-not-healthy"),
    pytest.param(pdb(min_available="50%"), ready_pods(3), 3, (3, 2, 3, 1), id="minAvailable-50%-of-3-rounds-up"),
    pytest.param(pdb(min_available="50%"), ready_pods(3), 4, (4, 2, 3, 1), id="percent-of-controller-scale"),
    pytest.param(pdb(max_unavailable=1), ready_pods(3), 3, (3, 2, 3, 1), id="maxUnavailable-1"),
    pytest.param(pdb(max_unavailable="25%"), ready_pods(4), 4, (4, 3, 4, 1), id="maxUnavailable-25%-of-4"),
    pytest.param(pdb(max_unavailable="30%"), ready_pods(4), 4, (4, 2, 4, 2), id="maxUnavailable-30%-rounds-up"),
    pytest.param(pdb(max_unavailable=5), ready_pods(3), 3, (3, 0, 3, 3), id="maxUnavailable-above-expected"),
    pytest.param(pdb(max_unavailable=1), ready_pods(3), 5, (5, 4, 3, 0), id="pods-missing-from-scale"),
    pytest.param(pdb(min_available=0), [], 0, (0, 0, 0, 0), id="nothing-expected-nothing-allowed"),
])
def test_compute_budget(budget: pb.PodDisruptionBudget, pods: list[pb.Pod], scale: int,
                        expected: tuple[int, int, int, int]) -> None:
    b = compute_budget(budget, pods, scale, {}, T0, 120)
    assert (b.expected, b.desired, b.healthy, b.allowed) == expected


def test_terminating_and_recently_disrupted_pods_are_not_healthy() -> None:
    pods = [pod("a"), pod("b", terminating=True), pod("c"), pod("d")]
    b = compute_budget(pdb(min_available=1), pods, 4, {"c": T0 - 10, "d": T0 - 500}, T0, 120)
    assert b.healthy == 2          # a, and d whose disruption entry is stale


def test_prune_disrupted() -> None:
    p = pdb(min_available=1)
    p.status.disrupted_pods["gone"] = timeutil.fmt(T0 - 5)
    p.status.disrupted_pods["terminating"] = timeutil.fmt(T0 - 5)
    p.status.disrupted_pods["fresh"] = timeutil.fmt(T0 - 20)
    p.status.disrupted_pods["stale"] = timeutil.fmt(T0 - 200)
    keep, expired, recheck = prune_disrupted(p, [pod("terminating", terminating=True), pod("fresh"), pod("stale")],
                                             T0, 120)
    assert list(keep) == ["fresh"] and expired == ["stale"] and recheck == pytest.approx(100)


async def test_status_written_with_controller_scale() -> None:
    h = Harness(DisruptionController)
    d = pb.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name = "web"
    d.spec.replicas = 4
    d = h.client.put(d)
    rs = pb.ReplicaSet(api_version="apps/v1", kind="ReplicaSet")
    rs.metadata.name = "web-1"
    rs.metadata.owner_references.add(kind="Deployment", name="web", uid=d.metadata.uid, controller=True)
    rs.spec.replicas = 3
    rs = h.client.put(rs)
    pods = []
    for i in range(3):
        p = pod(f"web-1-{i}")
        p.metadata.owner_references.add(kind="ReplicaSet", name="web-1", uid=rs.metadata.uid, controller=True)
        pods.append(h.client.put(p))
    budget = h.client.put(pdb(max_unavailable=1))
    h.seen(d, rs, *pods, budget)
    await h.reconcile("default/budget")
    st = h.client.stored("PodDisruptionBudget", "budget").status
    # expected from the Deployment (4), not the ReplicaSet (3) nor the pods (3)
    assert (st.expected_pods, st.desired_healthy, st.current_healthy, st.disruptions_allowed,
            st.observed_generation) == (4, 3, 3, 0, 3)
    assert [(c.type, c.status, c.reason) for c in st.conditions] == [
        ("DisruptionAllowed", "False", "InsufficientPods")]
