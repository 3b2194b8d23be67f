"""Nodes: a restarted kubelet adopts its pods; a stopped node's pods come back elsewhere."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.harness.manifests import deployment

from .conftest import apply, docker, kubectl, pod_containers, unique, wait_for, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]


def node_ready(name: str) -> bool:
    node = json.loads(kubectl("get", "node", name, "-o", "json", namespace=None).stdout)
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def pods_of(selector: str) -> list[dict[str, Any]]:
    return json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]


def test_restarting_a_kubelet_leaves_its_pods_running_and_not_duplicated(lab: dict[str, Any]) -> None:
    name = unique("adopt")
    apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  nodeName: node1
  containers:
  - name: app
    image: kubelab/web
    readinessProbe:
      httpGet: {{path: /, port: 80}}
      periodSeconds: 2
""")
    wait_running_ready(name)
    before = sorted(pod_containers(name, running=False))
    status_before = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)["status"]
    docker("restart", "-t", "10", "kubelab-node1")
    wait_for(lambda: node_ready("node1"), 60, "node1 Ready again")
    time.sleep(5)        # the new kubelet syncs every pod at once: it must adopt them, not recreate them
    after = sorted(pod_containers(name, running=False))
    assert after == before, "the restarted kubelet recreated or removed containers"
    status_after = json.loads(kubectl("get", "pod", name, "-o", "json").stdout)["status"]
    assert status_after["containerStatuses"][0].get("restartCount", 0) == 0
    assert status_after["containerStatuses"][0]["containerID"] == status_before["containerStatuses"][0]["containerID"]
    assert status_after["containerStatuses"][0]["ready"] is True
    assert status_after["podIP"] == status_before["podIP"]


def _has_controller_manager() -> bool:
    return docker("ps", "-q", "--filter", "name=^kubelab-controller-manager$", "--filter", "status=running",
                  check=False).stdout.strip() != ""


def _controller_manager_log() -> str:
    r = docker("logs", "--tail", "40", "kubelab-controller-manager", check=False)
    return (r.stdout + r.stderr)[-3000:]


def test_stopping_a_node_container_recreates_its_pods_elsewhere(lab: dict[str, Any]) -> None:
    # Without a controller manager no pod is ever recreated: that is the fault this test is here to catch.
    assert _has_controller_manager(), (
        "the controller manager is not running in this lab:\n"
        + _controller_manager_log())
    name = unique("spread")
    apply(deployment(name, 3, "name: web, image: kubelab/web"))

    def all_running() -> list[dict[str, Any]] | None:
        items = pods_of(f"app={name}")
        running = [p for p in items if p["status"].get("phase") == "Running"
                   and not p["metadata"].get("deletionTimestamp")]
        return running if len(running) == 3 else None
    pods = wait_for(all_running, 90, "3 running replicas")
    victim = pods[0]["spec"]["nodeName"]
    lost = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}
    docker("stop", f"kubelab-{victim}")
    try:
        # node-monitor-grace-period 20 s + pod-eviction-timeout 30 s in the lab, plus scheduling and start
        def replaced() -> list[dict[str, Any]] | None:
            items = pods_of(f"app={name}")
            ok = [p for p in items if p["status"].get("phase") == "Running" and p["spec"]["nodeName"] != victim
                  and not p["metadata"].get("deletionTimestamp")]
            return ok if len(ok) == 3 else None
        now_running = wait_for(replaced, 150, f"3 replicas running on nodes other than {victim}", interval=2)
        assert not lost & {p["metadata"]["name"] for p in now_running}
    finally:
        docker("start", f"kubelab-{victim}")
        wait_for(lambda: node_ready(victim), 60, f"{victim} Ready again")
    # back, its kubelet removes the containers of the pods it lost
    wait_for(lambda: not [c for p in lost for c in pod_containers(p, running=False)], 60,
             f"{victim}'s stale pod containers removed")
    kubectl("delete", "deployment", name, "--wait=false")
