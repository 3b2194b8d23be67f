"""Reading a condition (kubelab.conditions.is_true, pod_ready, node_ready): the one answer every component gives
to "is this pod/node Ready"."""
from __future__ import annotations

import pytest

from kubelab import conditions
from kubelab.v1 import objects_pb2 as pb


def pod_with(*conds: tuple[str, str]) -> pb.Pod:
    pod = pb.Pod()
    for type_, status in conds:
        pod.status.conditions.add(type=type_, status=status)
    return pod


@pytest.mark.parametrize("conds,ready", [
    pytest.param([("Ready", "True")], True, id="true"),
    pytest.param([("Ready", "False")], False, id="false"),
    pytest.param([("Ready", "Unknown")], False, id="unknown"),
    pytest.param([], False, id="absent"),
    pytest.param([("ContainersReady", "True"), ("Ready", "False")], False, id="another-type-true"),
    pytest.param([("PodScheduled", "True"), ("Ready", "True")], True, id="not-first"),
])
def test_pod_ready(conds: list[tuple[str, str]], ready: bool) -> None:
    assert conditions.pod_ready(pod_with(*conds)) is ready


def test_node_ready_and_is_true() -> None:
    node = pb.Node()
    assert not conditions.node_ready(node)
    node.status.conditions.add(type="MemoryPressure", status="True")
    node.status.conditions.add(type="Ready", status="True")
    assert conditions.node_ready(node)
    assert conditions.is_true(node.status.conditions, "MemoryPressure")
    assert not conditions.is_true(node.status.conditions, "DiskPressure")
