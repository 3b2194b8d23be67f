"""On the compose lab: `kubelab trace` of a 2-replica Deployment names every component that acted (the
controller manager for the ReplicaSet and the pods, the scheduler for both bindings and their nodes, both
kubelets, the endpoints controller, each node's proxy), in time order, and `-o json` carries the same steps;
the audit log holds one record per write with the writer's user agent and identity; `kubelab dashboard` in
headless chromium (Debian's chromium + chromium-driver, selenium) shows the three nodes and the Deployment's
pods, a pod created after the page loaded without a reload, a scale through the page; no console errors; a
screenshot is written where the output says.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.harness import browser as chromium, manifests

from .conftest import NAMESPACE, apply, docker, kubectl, unique, wait_for

browser = pytest.fixture(scope="module")(chromium.browser_session)
wait = functools.partial(chromium.wait, timeout=30.0)

NODES = ["node1", "node2", "node3"]


def deployment(name: str, replicas: int) -> str:
    return manifests.deployment(name, replicas, 'name: app, image: "kubelab/hello:v1"') + f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""


def ready_pods(app: str, n: int) -> list[dict[str, Any]]:
    doc = json.loads(kubectl("get", "pods", "-l", f"app={app}", "-o", "json").stdout)
    ready = [p for p in doc["items"] if any(c["type"] == "Ready" and c["status"] == "True"
                                            for c in p.get("status", {}).get("conditions", []))]
    return ready if len(ready) == n else []


@pytest.fixture(scope="module")
def traced(lab: dict[str, Any]) -> dict[str, Any]:
    """A 2-replica Deployment behind a Service, Ready, and its trace once every node's proxy sends to both."""
    name = unique("traced")
    apply(deployment(name, 2))
    pods = wait_for(lambda: ready_pods(name, 2), 120, f"2 ready {name} pods")

    def complete() -> dict[str, Any] | None:
        doc = json.loads(kubectl("trace", f"deployment/{name}", "-o", "json").stdout)
        sends = [s for s in doc["steps"] if s["component"] == "kube-proxy"]
        adds = [s for s in doc["steps"] if s["action"] == "endpoints add"]
        ok = doc["criticalPath"].startswith("apply → all pods Ready") and len(adds) >= 2 and len(sends) >= 6
        return doc if ok else None
    doc = wait_for(complete, 60, f"the trace of {name} down to every node's proxy")
    return {"name": name, "pods": pods, "doc": doc}


def test_the_trace_of_a_deployment_names_every_component_in_time_order(traced: dict[str, Any]) -> None:
    name, pods, doc = traced["name"], traced["pods"], traced["doc"]
    steps = doc["steps"]
    print(f"\ncritical path: {doc['criticalPath']}")
    times = [s["time"] for s in steps]
    assert times == sorted(times)
    assert steps[0]["object"] == f"deployment/{NAMESPACE}/{name}" and steps[0]["action"] == "create"
    # the controller manager made the ReplicaSet, and the pods
    rs = [s for s in steps if s["object"].startswith(f"replicaset/{NAMESPACE}/{name}-") and s["action"] == "create"]
    assert rs and rs[0]["component"] == "kube-controller-manager", rs
    assert rs[0]["identity"] == "system:kube-controller-manager"
    for p in pods:
        pod, node = p["metadata"]["name"], p["spec"]["nodeName"]
        mine = [s for s in steps if s["object"] == f"pod/{NAMESPACE}/{pod}"]
        by = {s["action"]: s for s in mine}
        assert by["create"]["component"] == "kube-controller-manager", mine
        bind = by[f"bind to {node}"]
        assert bind["component"] == "kube-scheduler" and bind["identity"] == "system:kube-scheduler", bind
        assert "nodes feasible" in bind["detail"], bind
        # this pod's kubelet: its node's identity made it Ready
        ready = [s for s in mine if s["detail"] == "Ready=True"]
        assert ready and ready[0]["component"] == "kubelet" and ready[0]["identity"] == f"system:node:{node}", mine
        assert "Started" in by and by["Started"]["identity"] == f"system:node:{node}", by.get("Started")
        add = next(s for s in steps if s["action"] == "endpoints add" and s["detail"].endswith(pod))
        assert add["component"] == "kube-controller-manager" and add["object"] == f"endpoints/{NAMESPACE}/{name}"
        # each node's proxy began sending to it, after the Endpoints write that added it
        sends = sorted(s["action"] for s in mine if s["component"] == "kube-proxy")
        assert sends == [f"proxy on {n} sends" for n in NODES], mine
        assert all(s["identity"] == "system:kube-proxy" and s["time"] >= add["time"]
                   for s in mine if s["component"] == "kube-proxy")
        order = [times.index(x) for x in (by["create"]["time"], bind["time"], ready[0]["time"], add["time"])]
        assert order == sorted(order), mine

    # the table: the same steps, both pods and their nodes, the critical path
    table = kubectl("trace", f"deployment/{name}").stdout
    print(table)
    for p in pods:
        assert p["metadata"]["name"] in table and p["spec"]["nodeName"] in table
    for component in ("kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"):
        assert component in table
    assert "Critical path: apply → all pods Ready" in table
    again = json.loads(kubectl("trace", f"deployment/{name}", "-o", "json").stdout)["steps"]
    key = lambda s: (s["time"], s["component"], s["action"], s["object"])  # noqa: E731
    assert {key(s) for s in steps} <= {key(s) for s in again}


def audit_records() -> list[dict[str, Any]]:
    text = docker("exec", "kubelab-apiserver", "cat", "/var/log/kubernetes/audit.log").stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_audit_log_has_one_record_per_write_with_agent_and_identity(traced: dict[str, Any]) -> None:
    name, pods = traced["name"], traced["pods"]

    def writes() -> list[dict[str, Any]] | None:     # the log is written in batches: wait for the last
        recs = audit_records()
        binds = [r for r in recs if (r.get("objectRef") or {}).get("subresource") == "binding"
                 and (r["objectRef"].get("name") or "").startswith(f"{name}-")]
        return recs if len(binds) >= 2 else None
    recs = wait_for(writes, 30, "the bindings in the audit log")
    ids = [r["auditID"] for r in recs if r["stage"] == "ResponseComplete"]
    assert len(ids) == len(set(ids))
    ours = [r for r in recs if (r.get("objectRef") or {}).get("namespace") == NAMESPACE
            and (r["objectRef"].get("name") or "").startswith(name)]
    creates = [r for r in ours if r["verb"] == "create" and r["objectRef"]["resource"] == "deployments"]
    assert len(creates) == 1, creates             # one write, one record
    assert creates[0]["userAgent"].startswith("kubelab/") and creates[0]["user"]["username"]
    for p in pods:
        pod, node = p["metadata"]["name"], p["spec"]["nodeName"]
        mine = [r for r in ours if r["objectRef"].get("name") == pod]
        made = [r for r in mine if r["verb"] == "create" and not r["objectRef"].get("subresource")]
        assert len(made) == 1 and made[0]["user"]["username"] == "system:kube-controller-manager"
        assert made[0]["userAgent"].startswith("kube-controller-manager/")
        bound = [r for r in mine if r["objectRef"].get("subresource") == "binding"]
        assert len(bound) == 1 and bound[0]["user"]["username"] == "system:kube-scheduler"
        assert bound[0]["userAgent"].startswith("kube-scheduler/")
        status = [r for r in mine if r["objectRef"].get("subresource") == "status"]
        assert status and all(r["user"]["username"] == f"system:node:{node}" and r["userAgent"].startswith("kubelet/")
                              for r in status), status
    eps = [r for r in ours if r["objectRef"]["resource"] == "endpoints"]
    assert eps and all(r["user"]["username"] == "system:kube-controller-manager" for r in eps)
    assert all(r["stage"] == "ResponseComplete" for r in ours)


# ---------------------------------------------------------------- the dashboard against the lab
@pytest.fixture(scope="module")
def dashboard(lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kubelab dashboard --url` with the kubeconfig `cluster up` wrote for the lab."""
    log = tmp_path_factory.mktemp("dashboard") / "dashboard.log"
    proc = subprocess.Popen([sys.executable, "-m", "kubectl", "dashboard", "--url"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=open(log, "wb"), start_new_session=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), (url, log.read_text())
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def cards(driver: Any, prefix: str) -> list[Any]:
    return [c for c in driver.find_elements("css selector", f'.pod-card[data-namespace="{NAMESPACE}"]')
            if (c.get_attribute("data-name") or "").startswith(prefix)]


def create_pod(lab: dict[str, Any], name: str) -> float:
    """Create a pod with the lab's client; returns time.monotonic() just before the create call."""
    import asyncio

    from kubelab.client import Client, new_object

    async def go() -> float:
        async with Client(lab["server"], lab["token"]) as c:
            p = new_object("Pod", name, NAMESPACE)
            p.spec.containers.add(name="app", image="kubelab/hello:v1")
            start = time.monotonic()
            await c.create(p)
            return start
    return asyncio.run(go())


def test_the_dashboard_shows_the_lab_live(lab: dict[str, Any], traced: dict[str, Any], dashboard: str,
                                          browser: Any, tmp_path: Path) -> None:
    name = traced["name"]
    browser.get("about:blank")
    browser.get_log("browser")
    browser.get(dashboard)
    columns = lambda: sorted(filter(None, (c.get_attribute("data-node") for c in browser.find_elements(  # noqa: E731
        "css selector", ".node-column[data-node]"))))      # (the unscheduled pods' column names no node)
    wait(lambda: columns() == NODES, what=lambda: f"the three nodes' columns (now {columns()})")
    wait(lambda: len([c for c in cards(browser, f"{name}-") if c.get_attribute("data-state") == "ok"]) == 2,
         what="the Deployment's 2 running pods")
    for card in cards(browser, f"{name}-"):
        column = card.find_element("xpath", "ancestor::section[@data-node]")
        assert column.get_attribute("data-node") in NODES

    # a pod created after the page loaded: on the page within 5 s, no reload
    browser.execute_script("window.__same_page = true")
    late = unique("late")
    start = create_pod(lab, late)
    wait(lambda: cards(browser, late), timeout=5.0 - (time.monotonic() - start), what="the late pod's card")
    print(f"\nlate pod's card on the page {time.monotonic() - start:.2f} s after its create call")
    assert browser.execute_script("return window.__same_page") is True

    # scale through the page: the API's Deployment follows, then the cards
    row = browser.find_element("css selector", f'.workload[data-name="{name}"]')
    box = row.find_element("css selector", ".scale-input")
    box.clear()
    box.send_keys("3")
    row.find_element("css selector", "button.scale").click()
    wait(lambda: browser.find_element("id", "action-result").text == f"deployment.apps/{name} scaled",
         what="scaled")
    got = json.loads(kubectl("get", "deployment", name, "-o", "json").stdout)
    assert got["spec"]["replicas"] == 3
    wait(lambda: len([c for c in cards(browser, f"{name}-") if c.get_attribute("data-state") == "ok"]) == 3,
         timeout=90, what="3 running pods on the page")

    # the Deployment's trace as a swimlane, down to the proxies
    row.find_element("css selector", ".workload-name").click()
    lanes = lambda: {g.get_attribute("data-component") for g in browser.find_elements(  # noqa: E731
        "css selector", "#detail-trace svg.swimlane g.lane")}
    wait(lambda: {"kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} <= lanes(),
         what=lambda: f"the swimlane's lanes (now {lanes()})")
    shot = tmp_path / "dashboard-lab.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    assert chromium.console_errors(browser) == []
    kubectl("delete", "pod", late, "--wait=false", check=False)
