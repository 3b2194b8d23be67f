"""lab.compose.heartbeat_ready: `cluster up` counts a node Ready only on a heartbeat of this run (a lab started
again after `down --keep-data` holds its last run's Node objects, still Ready)."""
from __future__ import annotations

from kubelab import timeutil
from kubelab.client import new_object
from lab.compose import heartbeat_ready

T = 1_800_000_000.0


def node(status: str, heartbeat: float) -> object:
    n = new_object("Node", "node1")
    n.status.conditions.add(type="Ready", status=status, last_heartbeat_time=timeutil.fmt(heartbeat))
    return n


def test_a_heartbeat_of_this_run_counts() -> None:
    assert heartbeat_ready(node("True", T + 3), since=T)


def test_the_last_runs_ready_node_does_not() -> None:
    assert not heartbeat_ready(node("True", T - 300), since=T)


def test_a_node_not_ready_does_not() -> None:
    assert not heartbeat_ready(node("False", T + 3), since=T)
