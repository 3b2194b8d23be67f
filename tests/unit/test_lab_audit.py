"""lab.audit.problems: the lab's pod containers against the API's pods (the restart tests' and the soak's check)."""
from __future__ import annotations

from lab.audit import PodContainer, PodView, pod_view, problems


def pod(uid: str = "u1", node: str = "node1", phase: str = "Running", deleting: bool = False) -> PodView:
    return PodView(uid, "ns", f"p-{uid}", node, phase, ("app", "side"), deleting)


def box(cid: str, uid: str = "u1", node: str = "node1", kind: str = "container", name: str = "app",
        running: bool = True) -> PodContainer:
    return PodContainer(cid, running, uid, node, kind, name, "ns", f"p-{uid}")


def complete(uid: str = "u1", node: str = "node1") -> list[PodContainer]:
    return [box(f"{uid}s", uid, node, "sandbox", "POD"), box(f"{uid}a", uid, node), box(f"{uid}b", uid, node,
                                                                                          name="side")]


def test_a_running_pod_with_one_container_per_spec_is_in_order() -> None:
    # an exited earlier instance (kept for logs --previous) is no duplicate
    assert problems([pod()], complete() + [box("old", running=False)]) == []


def test_a_container_of_no_pod_is_an_orphan() -> None:
    out = problems([pod()], complete() + [box("x1", uid="gone", running=False)])
    assert len(out) == 1 and out[0].startswith("orphan:") and "no such pod" in out[0]


def test_a_container_on_another_node_than_its_pod_is_an_orphan() -> None:
    out = problems([pod()], complete() + [box("x2", node="node2")])
    assert len(out) == 1 and "bound to node1" in out[0]


def test_two_running_instances_of_one_container_are_a_duplicate() -> None:
    out = problems([pod()], complete() + [box("x3")])
    assert len(out) == 1 and out[0].startswith("duplicate: 2 running container containers app")
    out = problems([pod()], complete() + [box("x4", kind="sandbox", name="POD")])
    assert len(out) == 1 and out[0].startswith("duplicate: 2 running sandbox")


def test_a_running_pod_without_its_containers_is_reported_missing() -> None:
    out = problems([pod()], [box("s", kind="sandbox", name="POD"), box("a")])
    assert out == ["missing: Running pod ns/p-u1 on node1 has no running side"]
    # pending, finished or being deleted: nothing need run
    for p in (pod(phase="Pending"), pod(phase="Succeeded"), pod(deleting=True)):
        assert problems([p], []) == []


def test_pod_view_reads_the_api_json() -> None:
    v = pod_view({"metadata": {"uid": "u", "namespace": "n", "name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"},
                  "spec": {"nodeName": "node2", "containers": [{"name": "a"}, {"name": "b"}]},
                  "status": {"phase": "Running", "containerStatuses": [
                      {"name": "a", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
                      {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}})
    # b waits out its back-off: no running container is expected of it
    assert v == PodView("u", "n", "p", "node2", "Running", ("a",), True)
    assert problems([PodView("u", "n", "p", "node2", "Running", ("a",))], [
        PodContainer("s1", True, "u", "node2", "sandbox", "POD", "n", "p"),
        PodContainer("c1", True, "u", "node2", "container", "a", "n", "p"),
        PodContainer("c2", False, "u", "node2", "container", "b", "n", "p")]) == []
