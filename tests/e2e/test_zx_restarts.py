"""The lab survives its restarts: each node container restarted, the whole lab stopped and started
(`docker-compose stop`/`start` of the lab's project), and `kubelab cluster down --keep-data` then
`cluster up`. After each: every object is there, the bare pod is Running under its name and uid,
the Deployment's pods converge, the NodePort answers from the host, the registry answers
(`kubelab image ls`), and the Docker engine holds one running container per container of each pod
and none of no pod (lab/audit.py).

Runs late (before test_zy/test_zz): it restarts the whole lab.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from kubelab import timeutil
from lab import audit
from lab import compose as kubelab_lab

from .conftest import NAMESPACE, apply, docker, get_json, kubectl, unique, wait_for, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PAGE = "Welcome to nginx!"
SETTLE = 180        # seconds a restarted lab has to converge


@pytest.fixture(scope="module")
def workload(lab: dict[str, Any]) -> dict[str, Any]:
    bare, web, conf = unique("rs-bare"), unique("rs-web"), unique("rs-role")
    apply(f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {conf}, annotations: {{greeting: hello}}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: {bare}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: app, image: kubelab/busybox, command: [sleep, "36000"]}}
  - {{name: side, image: kubelab/busybox, command: [sleep, "36000"]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {web}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: {web}}}}}
  template:
    metadata: {{labels: {{app: {web}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {{name: web, image: kubelab/web, ports: [{{containerPort: 80}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {web}}}
spec:
  type: NodePort
  selector: {{app: {web}}}
  ports: [{{port: 80, targetPort: 80}}]
""")
    wait_running_ready(bare, 120)
    state = {"bare": bare, "web": web, "conf": conf, "uid": get_json("pod", bare)["metadata"]["uid"],
             "node_port": get_json("service", web)["spec"]["ports"][0]["nodePort"]}
    check_everything(state)
    return state


# ---------------------------------------------------------------- what a user checks after a restart
def api_pods() -> list[dict[str, Any]]:
    return json.loads(kubectl("get", "pods", "-A", "-o", "json", namespace=None).stdout)["items"]


def node_ips() -> list[str]:
    lines = kubectl("get", "nodes", "-o", "wide", namespace=None).stdout.splitlines()
    col = lines[0].split().index("INTERNAL-IP")
    return [ln.split()[col] for ln in lines[1:]]


def node_port_answers(port: int) -> bool:
    for ip in node_ips():
        try:
            with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=5) as r:
                if PAGE not in r.read().decode(errors="replace"):
                    return False
        except OSError:
            return False
    return True


def deployment_converged(name: str) -> bool:
    d = get_json("deployment", name)
    st = d.get("status") or {}
    if st.get("readyReplicas") != 3 or st.get("updatedReplicas") != 3:
        return False
    pods = [p for p in api_pods() if p["metadata"].get("namespace") == NAMESPACE
            and p["metadata"]["name"].startswith(name + "-") and not p["metadata"].get("deletionTimestamp")]
    return len(pods) == 3 and all(p["status"].get("phase") == "Running" for p in pods)


def container_problems() -> list[str] | None:
    """None when the engine's pod containers match the API's pods, else what is wrong."""
    found = audit.problems([audit.pod_view(p) for p in api_pods()], audit.pod_containers())
    return found or None


def check_everything(state: dict[str, Any]) -> None:
    # Every object is there, as written.
    role = get_json("role", state["conf"])
    assert role["metadata"]["annotations"]["greeting"] == "hello" and role["rules"][0]["verbs"] == ["get"]
    assert get_json("service", state["web"])["spec"]["ports"][0]["nodePort"] == state["node_port"]
    # The bare pod is the same pod (name and uid), Running and Ready again.
    wait_running_ready(state["bare"], SETTLE)
    assert get_json("pod", state["bare"])["metadata"]["uid"] == state["uid"]
    wait_for(lambda: deployment_converged(state["web"]), SETTLE, f"deployment {state['web']}: 3 pods Running, Ready")
    wait_for(lambda: node_port_answers(state["node_port"]), 60, f"NodePort {state['node_port']} on every node")
    p = kubectl("image", "ls", namespace=None, check=False)
    assert p.returncode == 0 and re.search(r"^localhost:5000/docker.io/library/nginx\s", p.stdout, re.M), \
        p.stdout + p.stderr
    # No orphaned, duplicated or missing pod container (housekeeping may need a round to remove leftovers).
    last: list[list[str] | None] = [None]

    def in_order() -> bool:
        last[0] = container_problems()
        return last[0] is None
    try:
        wait_for(in_order, 90, "pod containers in order")
    except AssertionError:
        raise AssertionError("pod containers out of order:\n" + "\n".join(last[0] or [])) from None


def wait_nodes_ready(timeout: float = SETTLE) -> None:
    def ready() -> bool:
        lines = kubectl("get", "nodes", namespace=None).stdout.splitlines()[1:]
        return len(lines) == 3 and all(ln.split()[1] == "Ready" for ln in lines)
    wait_for(ready, timeout, "3 nodes Ready")


# ---------------------------------------------------------------- the restarts
@pytest.mark.parametrize("node", ["node1", "node2", "node3"])
def test_a_restarted_node_container_adopts_its_pods(workload: dict[str, Any], node: str) -> None:
    docker("restart", "-t", "5", f"kubelab-{node}")
    wait_nodes_ready()
    check_everything(workload)


def test_the_whole_lab_stopped_and_started(workload: dict[str, Any]) -> None:
    kubelab_lab.compose(["stop", "-t", "5"], capture=True)
    assert docker("ps", "-q", "--filter", "label=io.kubelab.lab").stdout.strip() == "", "lab containers running"
    kubelab_lab.compose(["start"], capture=True)
    wait_nodes_ready()
    check_everything(workload)


def test_cluster_down_keeping_the_data_then_up(workload: dict[str, Any]) -> None:
    down = subprocess.run([sys.executable, "-m", "kubectl", "cluster", "down", "--keep-data"], capture_output=True,
                          text=True, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert docker("ps", "-aq", "--filter", "label=io.kubelab.uid").stdout.strip() == "", "pod containers left"
    assert docker("volume", "inspect", "kubelab-etcd-data", check=False).returncode == 0, "etcd's data removed"
    before = time.time()
    up = subprocess.run([sys.executable, "-m", "kubectl", "cluster", "up"], capture_output=True, text=True,
                        timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    # `up` said the lab is ready: every node's kubelet of this run has said so (not the last run's Node
    # objects, kept in etcd and still Ready until the controller manager notices their silence).
    for node in json.loads(kubectl("get", "nodes", "-o", "json", namespace=None).stdout)["items"]:
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True" and timeutil.parse(ready["lastHeartbeatTime"]) >= before - 1, \
            (node["metadata"]["name"], ready)
    wait_nodes_ready()
    check_everything(workload)
