"""`kubelab trace` on a real control plane (etcd, apiserver, scheduler, controller manager, hollow kubelets, and a
real node proxy per hollow node, as `system:kube-proxy`): the trace of a 2-replica Deployment names every
component that acted (down to each node's proxy beginning to send to each pod), both pods and their nodes, in
time order; `-o json` carries the same steps; a missing object is NotFound in Kubernetes' words; a user who is
not a proxy may not report to the trace index."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from kubectl.main import cli
from kubelab import errors, manifests
from kubelab.client import Client

from tests.harness.cluster import component_log

from .conftest import control_plane_fixture

cluster = control_plane_fixture("trace", hollow_nodes=2)


@pytest.fixture(scope="module", autouse=True)
def proxies(cluster: dict[str, Any]) -> Iterator[list[str]]:
    """A kubelab-proxy per hollow node, with the proxy's own credential (not the admin's). ClusterIPs are
    not served (no CAP_NET_ADMIN here): the proxies' balancers, what they report, are what counts."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.harness.cluster import kill

    async def nodes() -> list[str]:
        async with Client(cluster["server"], cluster["token"]) as c:
            deadline = time.monotonic() + 60
            while True:      # the hollow nodes register a moment after the cluster is up
                names = sorted(n.metadata.name for n in (await c.list("Node"))[0])
                if len(names) == 2 or time.monotonic() > deadline:
                    return names
                await asyncio.sleep(0.3)
    names = asyncio.run(nodes())
    assert len(names) == 2, names
    state = Path(cluster["state_path"])
    token = (state / "identities" / "proxy.token").read_text().strip()
    procs = []
    for name in names:
        out = open(state / "logs" / f"proxy-{name}.log", "ab")
        env = {**os.environ, "KUBELAB_SERVER": cluster["server"], "KUBELAB_TOKEN": token}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "proxy.main", "--node-name", name, "--bind-address", "127.0.0.1",
             "--no-cluster-ips", "--no-exit-on-lost-network", "-v"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True))
        out.close()
    try:
        yield names
    finally:
        for proc in procs:
            kill(proc, 15)

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: traced}
spec:
  replicas: 2
  selector: {matchLabels: {app: traced}}
  template:
    metadata: {labels: {app: traced}}
    spec:
      containers: [{name: app, image: kubelab/hello:v1}]
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: traced}
spec:
  selector: {app: traced}
  ports: [{port: 80, targetPort: 8080}]
"""


def kl(info: dict[str, Any], *args: str) -> Any:
    env = {"KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": info["token"]}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


async def _ready_pods(c: Client, timeout: float = 60) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        pods, _ = await c.list("Pod", "default", label_selector="app=traced")
        ready = [p for p in pods if any(x.type == "Ready" and x.status == "True" for x in p.status.conditions)]
        if len(ready) == 2 or time.monotonic() > deadline:
            return ready
        await asyncio.sleep(0.3)


def test_a_deployment_trace_names_every_component_both_pods_and_their_nodes(cluster: dict[str, Any],
                                                                         proxies: list[str]) -> None:
    async def apply() -> tuple[list[Any], Any]:
        async with Client(cluster["server"], cluster["token"]) as c:
            await c.create(manifests.from_dict(yaml.safe_load(SERVICE)))
            await c.create(manifests.from_dict(yaml.safe_load(DEPLOYMENT)))
            pods = await _ready_pods(c)
            assert len(pods) == 2, pods
            deadline = time.monotonic() + 30
            while True:       # the Ready status writes are seen by the index through the watch cache
                t = await c.trace("Deployment", "traced", "default")
                adds = [s for s in t.steps if s.action == "endpoints add"]
                sending = [s for s in t.steps if s.component == "kube-proxy"]
                if (t.critical_path.startswith("apply → all pods Ready") and len(adds) == 2
                        and len(sending) == 4) or time.monotonic() > deadline:
                    return pods, t
                await asyncio.sleep(0.3)
    pods, t = asyncio.run(apply())
    steps = list(t.steps)
    nodes = proxies
    assert t.critical_path.startswith("apply → all pods Ready"), (t.critical_path, steps)
    for part in ("controllers", "scheduling", "image", "container start", "readiness", "last pod traced-"):
        assert part in t.critical_path, t.critical_path
    times = [s.time for s in steps]
    assert times == sorted(times)
    components = {s.component for s in steps}
    assert {"kube-controller-manager", "kube-scheduler", "kubelet"} <= components, components
    assert steps[0].action == "create" and steps[0].object == "deployment/default/traced"
    for p in pods:
        me = f"pod/default/{p.metadata.name}"
        mine = [s for s in steps if s.object == me]
        actions = [s.action for s in mine]
        assert "create" in actions and f"bind to {p.spec.node_name}" in actions, actions
        bind = next(s for s in mine if s.action.startswith("bind to"))
        assert bind.component == "kube-scheduler" and bind.identity, bind   # the harness runs it as admin
        assert "nodes feasible" in bind.detail, bind.detail
        assert [s for s in mine if s.detail == "Ready=True" and s.component == "kubelet"], mine
        assert {"Pulled", "Started"} <= set(actions), actions
        # the ReplicaSet controller made the pod, the scheduler bound it, then the kubelet ran it
        order = [actions.index("create"), actions.index(f"bind to {p.spec.node_name}"), actions.index("Started")]
        assert order == sorted(order), actions
    # the Endpoints writes that added each pod, by the endpoints controller, after the pod was Ready
    adds = [s for s in steps if s.action == "endpoints add"]
    assert sorted(s.detail for s in adds) == sorted(f"ready address for pod {p.metadata.name}" for p in pods), adds
    assert all(s.object == "endpoints/default/traced" and s.component == "kube-controller-manager" for s in adds)
    for p in pods:
        ready = next(s for s in steps if s.object == f"pod/default/{p.metadata.name}" and s.detail == "Ready=True")
        add = next(s for s in adds if s.detail.endswith(p.metadata.name))
        assert ready.time <= add.time
    assert any(s.object.startswith("replicaset/default/traced-") and s.action == "create"
               and s.component == "kube-controller-manager" for s in steps)
    # each node's proxy began sending to each pod, after the Endpoints write that added it
    for p in pods:
        add = next(s for s in adds if s.detail.endswith(p.metadata.name))
        sends = [s for s in steps if s.component == "kube-proxy" and s.object == f"pod/default/{p.metadata.name}"]
        assert sorted(s.action for s in sends) == [f"proxy on {n} sends" for n in nodes], \
            (sends, component_log(cluster, f"proxy-{nodes[0]}"))
        assert all(s.identity == "system:kube-proxy" and s.time >= add.time for s in sends), (add, sends)
        assert all("endpoints/default/traced" in s.detail for s in sends), sends
    if steps[-1].component == "kube-proxy":        # the proxies were the last step: the critical path says so
        assert "; → every proxy sending" in t.critical_path, t.critical_path

    # -o json: the same steps, each with its time
    r = kl(cluster, "trace", "deployment/traced", "-o", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # (a later call: steps recorded since may be among them, in time order)
    in_json = [(s["time"], s["component"], s["action"], s["object"], s["detail"]) for s in doc["steps"]]
    assert all((s.time, s.component, s.action, s.object, s.detail) in in_json for s in steps), (in_json, steps)
    assert [s["time"] for s in doc["steps"]] == sorted(s["time"] for s in doc["steps"])
    assert doc["criticalPath"].startswith("apply → all pods Ready")

    # the table names both pods and their nodes
    r = kl(cluster, "trace", "deployment/traced")
    assert r.exit_code == 0, r.output
    print(r.stdout)
    for p in pods:
        assert p.metadata.name in r.stdout and p.spec.node_name in r.stdout
    assert "Critical path: apply → all pods Ready" in r.stdout
    assert all(f"proxy on {n} sends" in r.stdout for n in nodes), r.stdout
    assert [s for s in doc["steps"] if s["component"] == "kube-proxy"], doc["steps"]


def test_only_a_proxy_may_report_to_the_trace_index(cluster: dict[str, Any]) -> None:
    """The `view` user (reads everything) is Forbidden, in Kubernetes' words; nothing is indexed."""
    from pathlib import Path

    from kubelab.v1 import api_pb2 as api
    view = (Path(cluster["state_path"]) / "identities" / "view.token").read_text().strip()
    report = api.ProxyReport(node_name="hollow-node-0", programmed=[api.ProxyProgrammed(
        namespace="default", name="traced", resource_version="1", pod_uids=["x"], time="2026-01-01T00:00:00Z")])

    async def go() -> str:
        async with Client(cluster["server"], view, retries=0) as c:
            try:
                await c.report_proxy(report)
            except errors.Forbidden as e:
                return e.message
        return ""
    assert asyncio.run(go()) == ('proxyreports.kubelab.io is forbidden: User "view" cannot create resource '
                                 '"proxyreports" in API group "kubelab.io" at the cluster scope')

    async def unnamed() -> str:        # a proxy's report that names no node is refused, not indexed
        proxy = (Path(cluster["state_path"]) / "identities" / "proxy.token").read_text().strip()
        async with Client(cluster["server"], proxy, retries=0) as c:
            try:
                await c.report_proxy(api.ProxyReport(programmed=report.programmed))
            except errors.BadRequest as e:
                return e.message
        return ""
    assert asyncio.run(unnamed()) == "a proxy report names its node (node_name)"


def test_a_pod_trace_and_a_missing_object(cluster: dict[str, Any], proxies: list[str]) -> None:
    async def go() -> tuple[Any, str]:
        async with Client(cluster["server"], cluster["token"]) as c:
            pods = await _ready_pods(c)
            t = await c.trace("Pod", pods[0].metadata.name, "default")
            try:
                await c.trace("Deployment", "nonexistent", "default")
            except errors.NotFound as e:
                return t, e.message
            return t, ""
    t, message = asyncio.run(go())
    assert t.critical_path.startswith("pod created → all pods Ready"), t.critical_path
    # the pod's trace has each node's proxy beginning to send to it
    assert sorted(s.action for s in t.steps if s.component == "kube-proxy") == \
        [f"proxy on {n} sends" for n in proxies], list(t.steps)
    r = kl(cluster, "trace", "service/traced", "-o", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["steps"][0]["action"] == "create" and doc["steps"][0]["object"] == "service/default/traced"
    assert len([s for s in doc["steps"] if s["action"] == "endpoints add"]) == 2, doc["steps"]
    assert doc["criticalPath"].startswith("service created → last endpoints add"), doc["criticalPath"]
    # the Service's trace: each node's proxy, for each pod, through this Service's Endpoints
    sends = [s for s in doc["steps"] if s["component"] == "kube-proxy"]
    assert len(sends) == 2 * len(proxies) and all("endpoints/default/traced " in s["detail"] for s in sends), sends
    assert " → last proxy sending " in doc["criticalPath"], doc["criticalPath"]
    assert message == 'deployments.apps "nonexistent" not found'
    r = kl(cluster, "trace", "deployment/nonexistent")
    assert r.exit_code == 1
    assert 'Error from server (NotFound): deployments.apps "nonexistent" not found' in r.stderr


def test_watch_follows_new_steps(cluster: dict[str, Any]) -> None:
    """`-w` prints the timeline, then the steps that happen after: here a scale to 3 (a new pod, bound)."""
    import os
    import subprocess
    import sys
    import threading
    from pathlib import Path
    env = {**os.environ, "KUBELAB_SERVER": cluster["server"], "KUBELAB_TOKEN": cluster["token"]}
    proc = subprocess.Popen([sys.executable, "-m", "kubectl", "trace", "deployment/traced", "-w"],
                            cwd=Path(__file__).resolve().parents[2], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while not any(x.startswith("Critical path:") for x in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(x.startswith("Critical path:") for x in lines), (lines, proc.poll())
        before = len(lines)

        async def scale() -> None:
            async with Client(cluster["server"], cluster["token"]) as c:
                await c.patch("Deployment", "traced", {"spec": {"replicas": 3}}, "default")
        asyncio.run(scale())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            new = lines[before:]
            if any("patch" in x and "deployment/default/traced" in x for x in new) and \
                    any("bind to hollow-node-" in x for x in new):
                break
            time.sleep(0.2)
        new = lines[before:]
        assert any(" patch " in x and "deployment/default/traced" in x for x in new), new
        assert any("bind to hollow-node-" in x and "kube-scheduler" in x for x in new), new
        assert not any(x.startswith("TIME") for x in new)        # rows only, no second header
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_http_api_serves_the_same_trace(cluster: dict[str, Any]) -> None:
    """/apis/kubelab.io/v1/namespaces/NS/traces/KIND/NAME: the gRPC answer's steps, for the dashboard and curl."""
    import json as _json
    import ssl
    import urllib.error
    import urllib.request
    from pathlib import Path
    ctx = ssl.create_default_context(cadata=Path(cluster["ca_file"]).read_text())

    def get(path: str, token: str = cluster["token"]) -> Any:
        req = urllib.request.Request(cluster["https"] + path, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
            return _json.loads(r.read())
    doc = get("/apis/kubelab.io/v1/namespaces/default/traces/deployment/traced")

    async def grpc_trace() -> Any:
        async with Client(cluster["server"], cluster["token"]) as c:
            return await c.trace("Deployment", "traced", "default")
    t = asyncio.run(grpc_trace())
    assert doc["kind"] == "Trace" and doc["object"]["name"] == "traced"
    http_steps = [(s["time"], s["action"], s["object"]) for s in doc["steps"]]
    grpc_steps = [(s.time, s.action, s.object) for s in t.steps]
    assert http_steps[:len(grpc_steps) - 2] == grpc_steps[:len(grpc_steps) - 2] and len(http_steps) >= 5
    with pytest.raises(urllib.error.HTTPError) as e:
        get("/apis/kubelab.io/v1/namespaces/default/traces/deployment/nonexistent")
    assert e.value.code == 404 and _json.loads(e.value.read())["message"] == \
        'deployments.apps "nonexistent" not found'
    with pytest.raises(urllib.error.HTTPError) as e:
        get("/apis/kubelab.io/v1/namespaces/default/traces/deployment/traced", token="wrong")
    assert e.value.code == 401
