"""The Docker kubelet's /metrics text, from the pods bound to it and the runtime's call counts."""
from __future__ import annotations

import re
from types import SimpleNamespace

from kubelab import manifests
from kubelet.metrics import KubeletMetrics


def pod(phase: str, states: list[tuple[str, int]]) -> object:
    statuses = [{"name": f"c{i}", "restartCount": restarts,
                 "state": {state: {"reason": "ContainerCreating"} if state == "waiting" else {}}}
                for i, (state, restarts) in enumerate(states)]
    return manifests.from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                "spec": {"containers": [{"name": "c", "image": "x"}]},
                                "status": {"phase": phase, "containerStatuses": statuses}})


def value(text: str, series: str) -> float:
    m = re.search(re.escape(series) + r" ([0-9.e+]+)$", text, re.M)
    assert m, f"{series} not in:\n{text}"
    return float(m.group(1))


def test_pods_containers_restarts_and_docker_calls() -> None:
    pods = [pod("Running", [("running", 2), ("running", 0)]), pod("Pending", [("waiting", 0)]),
            pod("Running", [("terminated", 1)])]
    runtime = SimpleNamespace(calls={"create_container": 3, "start": 2}, call_seconds={"create_container": 0.5})
    text = KubeletMetrics("node1", lambda: pods, runtime).render()
    assert value(text, 'kubelet_node_name{node="node1"}') == 1
    assert value(text, "kubelet_running_pods") == 2
    assert value(text, 'kubelab_kubelet_pods{phase="Pending"}') == 1
    assert value(text, 'kubelet_running_containers{container_state="running"}') == 2
    assert value(text, 'kubelet_running_containers{container_state="waiting"}') == 1
    assert value(text, 'kubelet_running_containers{container_state="terminated"}') == 1
    assert value(text, "kubelab_kubelet_container_restarts_total") == 3
    assert value(text, 'kubelet_runtime_operations_total{operation_type="create_container"}') == 3
    assert value(text, 'kubelet_runtime_operations_duration_seconds_total{operation_type="create_container"}') == 0.5
    assert value(text, 'kubelet_runtime_operations_duration_seconds_total{operation_type="start"}') == 0
