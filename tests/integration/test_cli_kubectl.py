"""The `kubelab` CLI against a real local cluster, asserting what a user sees.

One cluster per module: etcd, apiserver, scheduler, controller-manager and
two hollow (simulated) nodes, started through lab.local with a temp
state dir and $KUBELAB_CONFIG in a temp dir. Commands run through click's
CliRunner (stdout and stderr apart) and, where the process matters
(exit codes, Ctrl-C), as `python -m kubectl` subprocesses.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner, Result

from kubectl.main import cli
from kubelab import manifests
from tests.harness.wait import wait_until

from .conftest import launched

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
HOLLOW = ["--heartbeat", "1", "--start-delay", "0.3", "--ready-delay", "0.3", "--stop-delay", "0.2",
          "--backoff-base", "1"]

# The seeds' manifests as the tutorials have them: the fixture files the e2e tier and the README use too.
# Keys name the role each plays in these tests; each seed is applied in a namespace of its own.
SEED_FILES = {
    "nginx-pod.yaml": "001-03-pod-my-first-pod.yaml", "bastion.yaml": "001-04-pod-bastion.yaml",
    "nginx-service.yaml": "001-05-service-my-first-service.yaml",
    "nginx-replicaset.yaml": "001-06-replicaset-nginx-replicaset.yaml",
    "nginx-deployment.yaml": "001-07-deployment-nginx-deployment.yaml",
    "sample-healthcheck.yaml": "001-09-pod-sample-healthcheck.yaml", "sample-resource.yaml": "001-10-pod-nginx.yaml",
    "sample-volume.yaml": "001-11-pod-nginx.yaml", "sample-affinity.yaml": "001-12-deployment-nginx-deployment.yaml",
    "frontend-pdb.yaml": "001-13-poddisruptionbudget-nginx-pdb.yaml", "cowweb.yaml": "000-01-deployment-cowweb.yaml",
    "cowweb-service.yaml": "000-02-service-cowweb.yaml",
}
SEEDS = {key: (ROOT / "tests" / "fixtures" / "seeds" / name).read_text() for key, name in SEED_FILES.items()}

EXPECTED_NAMES = {
    "nginx-pod.yaml": "pod/my-first-pod", "bastion.yaml": "pod/bastion",
    "nginx-service.yaml": "service/my-first-service", "nginx-replicaset.yaml": "replicaset.apps/nginx-replicaset",
    "nginx-deployment.yaml": "deployment.apps/nginx-deployment", "sample-healthcheck.yaml": "pod/sample-healthcheck",
    "sample-resource.yaml": "pod/nginx", "sample-volume.yaml": "pod/nginx",
    "sample-affinity.yaml": "deployment.apps/nginx-deployment",
    "frontend-pdb.yaml": "poddisruptionbudget.policy/nginx-pdb", "cowweb.yaml": "deployment.apps/cowweb",
    "cowweb-service.yaml": "service/cowweb",
}

# One change per seed that a re-apply must report as `configured`.
CHANGES = {
    "nginx-pod.yaml": ("component: nginx", "component: nginx\n    tier: web"),
    "bastion.yaml": ("name: bastion\n", "name: bastion\n  labels:\n    role: jump\n"),
    "nginx-service.yaml": ("      targetPort: 80\n", "      targetPort: 80\n      nodePort: 30000\n  type: NodePort\n"),
    "nginx-replicaset.yaml": ("replicas: 3", "replicas: 4"),
    "nginx-deployment.yaml": ("nginx:1.15", "nginx:1.16"),
    "sample-healthcheck.yaml": ("app: sample-app", "app: sample-app\n    v: '2'"),
    "sample-resource.yaml": ("component: nginx", "component: nginx\n    v: '2'"),
    "sample-volume.yaml": ("component: nginx", "component: nginx\n    v: '2'"),
    "sample-affinity.yaml": ("replicas: 2", "replicas: 1"),
    "frontend-pdb.yaml": ("minAvailable: 1", "minAvailable: 2"),
    "cowweb.yaml": ("replicas: 2", "replicas: 4"),
    "cowweb-service.yaml": ("port: 80", "port: 8080"),
}


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cli")
    with launched(tmp, hollow_nodes=2, extra_args={"hollow-nodes": HOLLOW}) as info:
        info["kubeconfig"] = str(tmp / "kubeconfig")
        info["tmp"] = tmp
        wait_until(lambda: kl("get", "nodes").stdout.count(" Ready ") == 2, 30, "two Ready nodes")
        yield info


def kl(*args: str, input: str | None = None) -> Result:
    """Run `kubelab ARGS` in-process; stdout and stderr apart, exceptions as a user would see them."""
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def ok(*args: str, input: str | None = None) -> str:
    r = kl(*args, input=input)
    assert r.exit_code == 0, f"kubelab {' '.join(args)} failed ({r.exit_code}):\n{r.output}"
    return r.stdout


def write(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


@pytest.fixture
def namespace(cluster: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, so tests do not see each other's objects."""
    name = "t-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()[5:])[:45].strip("-")
    assert ok("create", "namespace", name) == f"namespace/{name} created\n"
    yield name
    kl("delete", "namespace", name, "--wait=false")


# ---------------------------------------------------------------- tests
def test_version_and_nodes(cluster: dict[str, Any]) -> None:
    lines = ok("version").splitlines()
    assert lines[0].startswith("Client Version: v") and lines[1].startswith("Server Version: v")
    nodes = ok("get", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[1] for line in nodes[1:]] == ["Ready", "Ready"]
    wide = ok("get", "nodes", "-o", "wide").splitlines()[0].split()
    assert wide[5:] == ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]


def test_every_seed_manifest_applies(cluster: dict[str, Any], tmp_path: Path) -> None:
    """created, unchanged on re-apply, configured after a change, unchanged again.

    Each seed gets its own namespace: several select `component: nginx`, and a
    ReplicaSet adopts (and trims) the matching pods of its namespace, as in Kubernetes.
    """
    spaces: dict[str, str] = {}
    try:
        for i, (fname, text) in enumerate(SEEDS.items()):
            ns = spaces[fname] = f"seed-{i}"
            ok("create", "namespace", ns)
            path = write(tmp_path, fname, text)
            name = EXPECTED_NAMES[fname]
            assert ok("apply", "-n", ns, "-f", path) == f"{name} created\n", fname
            assert ok("apply", "-n", ns, "-f", path) == f"{name} unchanged\n", fname
            old, new = CHANGES[fname]
            assert old in text
            write(tmp_path, fname, text.replace(old, new, 1))
            assert ok("apply", "-n", ns, "-f", path) == f"{name} configured\n", fname
            assert ok("apply", "-n", ns, "-f", path) == f"{name} unchanged\n", fname
        # the seed's NodePort exercise: the service is now a NodePort on 30000
        svc = ok("get", "service", "my-first-service", "-n", spaces["nginx-service.yaml"]).splitlines()
        assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
        cells = svc[1].split()
        assert cells[1] == "NodePort" and cells[3] == "<none>" and cells[4] == "80:30000/TCP"
        # the LoadBalancer: the lab's servicelb gives it the Ready nodes' addresses (kubectl shows
        # <pending> until then)
        node_ips = sorted(line.split()[5] for line in ok("get", "nodes", "-o", "wide").splitlines()[1:])
        deadline = time.monotonic() + 20
        while True:
            lb = ok("get", "svc", "cowweb", "-n", spaces["cowweb-service.yaml"]).splitlines()[1].split()
            if lb[3] != "<pending>" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert lb[1] == "LoadBalancer" and lb[3] == ",".join(node_ips) and lb[4].startswith("8080:"), lb
        pdb = ok("get", "pdb", "-n", spaces["frontend-pdb.yaml"]).splitlines()
        assert pdb[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
        assert pdb[1].split()[:3] == ["nginx-pdb", "2", "N/A"]
        rs = ok("get", "rs", "-n", spaces["nginx-replicaset.yaml"]).splitlines()
        assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        assert rs[1].split()[:2] == ["nginx-replicaset", "4"]
    finally:
        for ns in spaces.values():
            kl("delete", "namespace", ns, "--wait=false")


def test_applying_the_cluster_ip_manifest_over_the_node_port_one(cluster: dict[str, Any], namespace: str,
                                                                  tmp_path: Path) -> None:
    """Seed 001 backwards: the NodePort Service goes back to ClusterIP by `apply`, and its node port is freed."""
    cluster_ip_text = SEEDS["nginx-service.yaml"]
    old, new = CHANGES["nginx-service.yaml"]
    node_port_text = cluster_ip_text.replace(old, new, 1).replace("30000", "31999")
    path = write(tmp_path, "svc.yaml", node_port_text)
    ok("apply", "-n", namespace, "-f", path)
    write(tmp_path, "svc.yaml", cluster_ip_text)
    assert ok("apply", "-n", namespace, "-f", path) == "service/my-first-service configured\n"
    row = ok("get", "service", "my-first-service", "-n", namespace).splitlines()[1].split()
    assert row[1] == "ClusterIP" and row[4] == "80/TCP", row
    # 31999 is free again: another Service can have it
    write(tmp_path, "other.yaml", node_port_text.replace("my-first-service", "other"))
    assert ok("apply", "-n", namespace, "-f", str(tmp_path / "other.yaml")) == "service/other created\n"


def test_apply_directory_stdin_and_several_files(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    d = tmp_path / "app"
    (d / "sub").mkdir(parents=True)
    write(d, "cowweb.yaml", SEEDS["cowweb.yaml"])
    write(d / "sub", "svc.yaml", SEEDS["cowweb-service.yaml"])
    assert ok("apply", "-n", namespace, "-f", str(d)) == "deployment.apps/cowweb created\n"
    assert ok("apply", "-n", namespace, "-R", "-f", str(d)) == \
        "deployment.apps/cowweb unchanged\nservice/cowweb created\n"
    assert ok("apply", "-n", namespace, "-f", "-", input=SEEDS["bastion.yaml"]) == "pod/bastion created\n"
    pod = write(tmp_path, "pod.yaml", SEEDS["nginx-pod.yaml"])
    assert ok("apply", "-n", namespace, "-f", pod, "-f", str(d / "sub" / "svc.yaml")) == \
        "pod/my-first-pod created\nservice/cowweb unchanged\n"
    multi = write(tmp_path, "multi.yaml", SEEDS["nginx-service.yaml"] + "---\n" + SEEDS["frontend-pdb.yaml"])
    assert ok("apply", "-n", namespace, "-f", multi) == \
        "service/my-first-service created\npoddisruptionbudget.policy/nginx-pdb created\n"


def test_apply_asks_the_server_whether_anything_changed(cluster: dict[str, Any], namespace: str,
                                                        tmp_path: Path) -> None:
    """`unchanged` is the server's answer to the apply patch (it keeps the resourceVersion), not a merge
    the CLI runs on its own copy: every apply of an existing object sends the patch."""
    import urllib.request

    def patches() -> float:
        with urllib.request.urlopen(cluster["apiserver_metrics"], timeout=5) as resp:
            text = resp.read().decode()
        m = re.search(r'^apiserver_request_total\{code="OK",resource="services",verb="patch"\} ([0-9.e+]+)$',
                      text, re.M)
        return float(m.group(1)) if m else 0.0

    path = write(tmp_path, "svc.yaml", SEEDS["nginx-service.yaml"])
    assert ok("apply", "-n", namespace, "-f", path) == "service/my-first-service created\n"
    rv = ok("get", "service", "my-first-service", "-n", namespace, "-o", "jsonpath={.metadata.resourceVersion}")
    sent = patches()
    assert ok("apply", "-n", namespace, "-f", path) == "service/my-first-service unchanged\n"
    assert patches() == sent + 1
    assert ok("get", "service", "my-first-service", "-n", namespace,
              "-o", "jsonpath={.metadata.resourceVersion}") == rv


def test_get_pod_service_prints_both_kinds(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    ok("apply", "-n", namespace, "-f", write(tmp_path, "p.yaml", SEEDS["nginx-pod.yaml"]),
       "-f", write(tmp_path, "s.yaml", SEEDS["nginx-service.yaml"]))
    out = ok("get", "pod,service", "-n", namespace)
    blocks = out.split("\n\n")
    assert len(blocks) == 2
    pods, svcs = blocks[0].splitlines(), blocks[1].splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert pods[1].startswith("pod/my-first-pod   ")
    assert svcs[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svcs[1].split()[:2] == ["service/my-first-service", "ClusterIP"]
    assert svcs[1].split()[3:5] == ["<none>", "80/TCP"]
    # columns are aligned with three spaces, as kubectl's tabwriter
    assert pods[0].index("READY") == pods[1].index("0/1") if "0/1" in pods[1] else pods[0].index("READY") == \
        pods[1].index("1/1")
    assert ok("get", "pod/my-first-pod", "service/my-first-service", "-n", namespace, "-o", "name") == \
        "pod/my-first-pod\nservice/my-first-service\n"


def test_pod_becomes_running_and_describe_ends_with_events(cluster: dict[str, Any], namespace: str,
                                                           tmp_path: Path) -> None:
    ok("apply", "-n", namespace, "-f", write(tmp_path, "hc.yaml", SEEDS["sample-healthcheck.yaml"]),
       "-f", write(tmp_path, "p.yaml", SEEDS["nginx-pod.yaml"]))
    assert ok("wait", "--for=condition=Ready", "pod/my-first-pod", "-n", namespace, "--timeout=30s") == \
        "pod/my-first-pod condition met\n"
    row = ok("get", "pod", "my-first-pod", "-n", namespace).splitlines()[1].split()
    assert row[:4] == ["my-first-pod", "1/1", "Running", "0"]
    wide = ok("get", "pods", "-n", namespace, "-o", "wide").splitlines()
    assert wide[0].split()[5:] == ["IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES"]
    assert any(line.startswith("my-first-pod") and "hollow-node-" in line for line in wide)
    text = ok("describe", "pod", "my-first-pod", "-n", namespace)
    lines = text.splitlines()
    assert lines[0].startswith("Name:") and lines[0].split() == ["Name:", "my-first-pod"]
    assert lines[1].split() == ["Namespace:", namespace]
    # the header's values line up after its longest label ("Service Account:", as kubectl's tabwriter)
    assert "Service Account:  default\n" in text
    assert "Labels:           component=nginx\n" in text
    assert "Node:             hollow-node-" in text
    events = lines[lines.index("Events:"):]
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert any("Scheduled" in e and f"Successfully assigned {namespace}/my-first-pod to hollow-node-" in e
               for e in events)
    hc = ok("describe", "pod", "sample-healthcheck", "-n", namespace)
    assert ("    Liveness:       http-get http://:80/index.html delay=5s timeout=1s period=3s successThreshold=1 "
            "failureThreshold=2") in hc.splitlines()
    assert any(line.split(None, 1) == ["Readiness:", "exec [ls /usr/share/nginx/html/50x.html] delay=5s timeout=1s "
                                                      "period=3s successThreshold=2 failureThreshold=1"]
               for line in hc.splitlines())
    # `describe pods` describes them all; events only when asked, as kubectl 1.37 (for one object by default)
    assert "Events:" not in ok("describe", "pods", "-n", namespace)
    assert ok("describe", "pods", "-n", namespace, "--show-events").count("\nEvents:") == 2
    # a service has no events: `Events:  <none>`
    ok("apply", "-n", namespace, "-f", write(tmp_path, "s.yaml", SEEDS["nginx-service.yaml"]))
    svc = ok("describe", "service", "my-first-service", "-n", namespace).splitlines()
    assert svc[-1].split() == ["Events:", "<none>"]


def test_get_yaml_and_json_round_trip(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    ok("apply", "-n", namespace, "-f", write(tmp_path, "d.yaml", SEEDS["cowweb.yaml"]))
    ok("rollout", "status", "deployment/cowweb", "-n", namespace, "--timeout=60s")
    text = ok("get", "deployment", "cowweb", "-n", namespace, "-o", "yaml")
    assert text.startswith("apiVersion: apps/v1\nkind: Deployment\n")
    obj = manifests.parse_text(text, "get -o yaml")[0].obj
    again = manifests.parse_text(ok("get", "deployments/cowweb", "-n", namespace, "-o", "json"), "json")[0].obj
    assert obj.metadata.uid == again.metadata.uid and obj.spec == again.spec
    # what `get -o yaml` prints can be applied back (it carries its resourceVersion: fine while current);
    # the last-applied annotation becomes that whole document, so it is `configured`, as with kubectl
    assert ok("apply", "-n", namespace, "-f", "-", input=text) == "deployment.apps/cowweb configured\n"
    listed = yaml.safe_load(ok("get", "deployments", "-n", namespace, "-o", "yaml"))
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["cowweb"]
    names = ok("get", "deploy", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}")
    assert names == "cowweb"
    cols = ok("get", "deploy", "-n", namespace, "-o",
              "custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[*].image").splitlines()
    assert cols[0].split() == ["NAME", "IMAGE"]
    assert cols[1].split() == ["cowweb", "cowweb:v1.0"]
    tpl = ok("get", "deploy", "-n", namespace, "-o", "go-template", "--template",
             '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}')
    assert tpl == "cowweb\n"


def test_delete_waits_until_gone(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", SEEDS["nginx-pod.yaml"])
    ok("apply", "-n", namespace, "-f", path)
    ok("wait", "--for=condition=Ready", "pod/my-first-pod", "-n", namespace)
    assert ok("delete", "pod", "my-first-pod", "-n", namespace) == f'pod "my-first-pod" deleted from {namespace} namespace\n'
    r = kl("get", "pod", "my-first-pod", "-n", namespace)
    assert r.exit_code == 1 and r.stderr == 'Error from server (NotFound): pods "my-first-pod" not found\n'
    # by file, by kind/name, --ignore-not-found
    ok("apply", "-n", namespace, "-f", path)
    assert ok("delete", "-n", namespace, "-f", path) == f'pod "my-first-pod" deleted from {namespace} namespace\n'
    r = kl("delete", "pod/my-first-pod", "-n", namespace)
    assert r.exit_code == 1 and 'pods "my-first-pod" not found' in r.stderr
    assert kl("delete", "pod/my-first-pod", "-n", namespace, "--ignore-not-found").exit_code == 0
    # a ReplicaSet takes its pods with it (background cascade)
    ok("apply", "-n", namespace, "-f", write(tmp_path, "rs.yaml", SEEDS["nginx-replicaset.yaml"]))
    wait_until(lambda: ok("get", "pods", "-n", namespace, "-l", "component=nginx", "-o", "name").count("pod/") == 3,
             30, "3 replica pods")
    assert ok("delete", "rs", "nginx-replicaset", "-n", namespace) == \
        f'replicaset.apps "nginx-replicaset" deleted from {namespace} namespace\n'
    wait_until(lambda: kl("get", "pods", "-n", namespace).stderr ==
             f"No resources found in {namespace} namespace.\n", 30, "the replica pods to go")
    # --all and -l
    ok("run", "a", "--image=nginx", "-n", namespace, "--labels=x=1")
    ok("run", "b", "--image=nginx", "-n", namespace, "--labels=x=2")
    assert ok("delete", "pods", "-l", "x=1", "-n", namespace, "--grace-period=0", "--force") == \
        f'pod "a" force deleted from {namespace} namespace\n'
    assert ok("delete", "pods", "--all", "-n", namespace, "--wait=false") == f'pod "b" deleted from {namespace} namespace\n'


def test_set_context_namespace(cluster: dict[str, Any], tmp_path: Path) -> None:
    assert ok("create", "namespace", "handson") == "namespace/handson created\n"
    current = ok("config", "current-context").strip()
    try:
        assert ok("config", "set-context", current, "--namespace=handson") == f'Context "{current}" modified.\n'
        r = kl("get", "pods")
        assert r.exit_code == 0 and r.stderr == "No resources found in handson namespace.\n"
        assert ok("apply", "-f", write(tmp_path, "p.yaml", SEEDS["bastion.yaml"])) == "pod/bastion created\n"
        assert ok("get", "pods", "-o", "jsonpath={.items[*].metadata.namespace}") == "handson"
        assert "bastion" in ok("get", "pods", "-A")
        assert ok("get", "pods", "-A").splitlines()[0].split()[0] == "NAMESPACE"
        assert kl("get", "pod", "bastion", "-n", "default").exit_code == 1
    finally:
        ok("config", "set-context", "--current", "--namespace=default")
    ok("delete", "namespace", "handson", "--wait=false")


@pytest.mark.parametrize("bad,message", [
    pytest.param("      imagee: x\n", 'unknown field "spec.containers[0].imagee"', id="unknown-field"),
    pytest.param("kind: Widget\n", 'no matches for kind "Widget"', id="unknown-kind"),
    pytest.param(": :\n  - [\n", "invalid YAML", id="invalid-yaml"),
])
def test_bad_input_creates_nothing(cluster: dict[str, Any], namespace: str, tmp_path: Path, bad: str,
                                   message: str) -> None:
    good = SEEDS["nginx-service.yaml"]
    broken = SEEDS["bastion.yaml"] + bad if "imagee" in bad else (
        SEEDS["bastion.yaml"].replace("kind: Pod\n", bad) if "kind" in bad else SEEDS["bastion.yaml"] + bad)
    path = write(tmp_path, "app.yaml", good + "---\n" + broken)
    r = kl("apply", "-n", namespace, "-f", path)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert r.stderr.startswith("error: ") and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert kl("get", "service", "my-first-service", "-n", namespace).exit_code == 1   # the good one was not sent


def test_server_side_errors_are_one_line(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    r = kl("get", "pod", "nothere", "-n", namespace)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", 'Error from server (NotFound): pods "nothere" not found\n')
    path = write(tmp_path, "p.yaml", SEEDS["bastion.yaml"])
    ok("create", "-n", namespace, "-f", path)
    r = kl("create", "-n", namespace, "-f", path)
    assert r.exit_code == 1 and r.stderr.startswith("Error from server (AlreadyExists): ")
    invalid = SEEDS["nginx-replicaset.yaml"].replace("replicas: 3", "replicas: -1")
    r = kl("apply", "-n", namespace, "-f", write(tmp_path, "rs.yaml", invalid))
    assert r.exit_code == 1 and r.stderr.startswith("Error from server (Invalid): ")
    assert len(r.stderr.splitlines()) == 1
    r = kl("get", "widgets")
    assert r.stderr == 'error: the server doesn\'t have a resource type "widgets"\n'


def test_workload_verbs_and_rollout(cluster: dict[str, Any], namespace: str) -> None:
    ns = ("-n", namespace)
    assert ok("create", "deployment", "kubernetes-bootcamp", "--image=hello:v1", "--port=8080", *ns) == \
        "deployment.apps/kubernetes-bootcamp created\n"
    out = ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", *ns)
    assert out.splitlines()[-1] == 'deployment "kubernetes-bootcamp" successfully rolled out'
    assert ok("scale", "deployments/kubernetes-bootcamp", "--replicas=4", *ns) == \
        "deployment.apps/kubernetes-bootcamp scaled\n"
    r = kl("scale", "deployments/kubernetes-bootcamp", "--replicas=5", "--current-replicas=3", *ns)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "error: Expected replicas to be 3, was 4\n")
    r = kl("patch", "pod", "nothere", "-p", '{"metadata":{"labels":{"a":"b"}}}', *ns)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", 'Error from server (NotFound): pods "nothere" not found\n')
    ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", *ns)
    row = ok("get", "deployments", *ns).splitlines()
    assert row[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row[1].split()[:4] == ["kubernetes-bootcamp", "4/4", "4", "4"]
    assert ok("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080", *ns) == \
        "service/kubernetes-bootcamp exposed\n"
    svc = ok("get", "services/kubernetes-bootcamp", *ns).splitlines()[1].split()
    assert svc[1] == "NodePort" and svc[4].startswith("8080:") and svc[4].endswith("/TCP")
    node_port = ok("get", "services/kubernetes-bootcamp", *ns, "-o", "go-template={{(index .spec.ports 0).nodePort}}")
    assert svc[4] == f"8080:{node_port}/TCP"
    described = ok("describe", "services/kubernetes-bootcamp", *ns)
    assert "Selector:                 app=kubernetes-bootcamp" in described or "app=kubernetes-bootcamp" in described
    assert ok("set", "image", "deployments/kubernetes-bootcamp", "hello=hello:v2", *ns) == \
        "deployment.apps/kubernetes-bootcamp image updated\n"
    ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", *ns)
    images = ok("describe", "pods", *ns)
    wait_until(lambda: [line.split()[1] for line in ok("describe", "pods", *ns).splitlines()
                      if line.strip().startswith("Image:")] == ["hello:v2"] * 4, 30, "4 pods on v2")
    assert images
    history = ok("rollout", "history", "deployment/kubernetes-bootcamp", *ns).splitlines()
    assert history[1].split() == ["REVISION", "CHANGE-CAUSE"]
    assert [line.split()[0] for line in history[2:] if line.strip()] == ["1", "2"]
    assert ok("rollout", "undo", "deployments/kubernetes-bootcamp", *ns) == \
        "deployment.apps/kubernetes-bootcamp rolled back\n"
    ok("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", *ns)
    image = ok("get", "deploy", "kubernetes-bootcamp", *ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
    assert image == "hello:v1"
    assert ok("rollout", "undo", "deployment/kubernetes-bootcamp", "--to-revision=2", *ns) == \
        "deployment.apps/kubernetes-bootcamp rolled back\n"
    r = kl("rollout", "undo", "deployment/kubernetes-bootcamp", "--to-revision=99", *ns)
    assert r.exit_code == 1 and r.stderr == "error: unable to find specified revision 99 in history\n"
    assert ok("rollout", "pause", "deployment/kubernetes-bootcamp", *ns) == \
        "deployment.apps/kubernetes-bootcamp paused\n"
    r = kl("rollout", "undo", "deployment/kubernetes-bootcamp", *ns)
    assert r.exit_code == 1 and "resume it first" in r.stderr
    r = kl("rollout", "pause", "deployment/kubernetes-bootcamp", *ns)
    assert r.exit_code == 1 and r.stderr == 'error: deployments.apps "kubernetes-bootcamp" is already paused\n'
    r = kl("rollout", "restart", "deployment/kubernetes-bootcamp", *ns)
    assert r.exit_code == 1 and r.stderr == ('error: deployments.apps "kubernetes-bootcamp" can\'t restart paused '
                                             "deployment (run rollout resume first)\n")
    assert ok("rollout", "resume", "deployment/kubernetes-bootcamp", *ns) == \
        "deployment.apps/kubernetes-bootcamp resumed\n"
    assert ok("rollout", "restart", "deployment/kubernetes-bootcamp", *ns) == \
        "deployment.apps/kubernetes-bootcamp restarted\n"
    # label and annotate
    assert ok("label", "deployment", "kubernetes-bootcamp", "tier=web", *ns) == \
        "deployment.apps/kubernetes-bootcamp labeled\n"
    r = kl("label", "deployment", "kubernetes-bootcamp", "tier=db", *ns)
    assert r.exit_code == 1 and r.stderr == "error: 'tier' already has a value (web), and --overwrite is false\n"
    ok("label", "deployment", "kubernetes-bootcamp", "tier=db", "--overwrite", *ns)
    assert "tier=db" in ok("get", "deploy", "--show-labels", *ns)
    assert ok("label", "deployment", "kubernetes-bootcamp", "tier-", *ns) == \
        "deployment.apps/kubernetes-bootcamp unlabeled\n"
    assert ok("annotate", "deploy/kubernetes-bootcamp", "note=hello", *ns) == \
        "deployment.apps/kubernetes-bootcamp annotated\n"
    assert "note: hello" in ok("describe", "deploy", "kubernetes-bootcamp", *ns)


def test_rollout_status_fails_when_the_deadline_passes(cluster: dict[str, Any], namespace: str,
                                                       tmp_path: Path) -> None:
    stuck = SEEDS["cowweb.yaml"].replace("replicas: 2\n", "replicas: 2\n  progressDeadlineSeconds: 3\n")
    path = write(tmp_path, "d.yaml", stuck)
    ok("apply", "-n", namespace, "-f", path)
    ok("rollout", "status", "deployment/cowweb", "-n", namespace, "--timeout=60s")
    write(tmp_path, "d.yaml", stuck.replace("cowweb:v1.0", "cowweb:missing"))
    assert ok("apply", "-n", namespace, "-f", path) == "deployment.apps/cowweb configured\n"
    r = kl("rollout", "status", "deployment/cowweb", "-n", namespace, "--timeout=60s")
    assert r.exit_code == 1
    assert r.stdout.startswith("Waiting for deployment")
    assert r.stderr == 'error: deployment "cowweb" exceeded its progress deadline\n'
    pods = ok("get", "pods", "-n", namespace)
    assert "ErrImagePull" in pods or "ImagePullBackOff" in pods
    ok("rollout", "undo", "deployment/cowweb", "-n", namespace)
    ok("rollout", "status", "deployment/cowweb", "-n", namespace, "--timeout=60s")


def test_cordon_and_drain_with_a_disruption_budget(cluster: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    ns = ("-n", namespace)
    ok("apply", *ns, "-f", write(tmp_path, "d.yaml", SEEDS["cowweb.yaml"].replace("replicas: 2", "replicas: 1")),
       "-f", write(tmp_path, "pdb.yaml", SEEDS["frontend-pdb.yaml"].replace("component: nginx", "app: cowweb")))
    ok("rollout", "status", "deployment/cowweb", *ns, "--timeout=60s")
    node = ok("get", "pods", *ns, "-l", "app=cowweb", "-o", "jsonpath={.items[0].spec.nodeName}")
    pod = ok("get", "pods", *ns, "-l", "app=cowweb", "-o", "jsonpath={.items[0].metadata.name}")
    wait_until(lambda: ok("get", "pdb", "nginx-pdb", *ns, "-o", "jsonpath={.status.currentHealthy}") == "1", 30,
             "the budget to count the pod")
    try:
        assert ok("cordon", node) == f"node/{node} cordoned\n"
        assert ok("cordon", node) == f"node/{node} already cordoned\n"
        assert "Ready,SchedulingDisabled" in ok("get", "node", node)
        # one replica and minAvailable 1: the eviction is refused until the timeout
        r = kl("drain", node, "--timeout=3s", "--retry-interval=1", "--ignore-daemonsets", "--force",
               "--delete-emptydir-data")
        assert r.exit_code == 1
        assert r.stdout.splitlines()[:2] == [f"node/{node} already cordoned", f"evicting pod {namespace}/{pod}"]
        assert (f'error when evicting pods/"{pod}" -n "{namespace}" (will retry after 1s): Cannot evict pod as it '
                "would violate the pod's disruption budget.") in r.stderr
        assert f'error: unable to drain node "{node}" due to error:' in r.stderr
        # with a second replica (on the other node) the budget allows it
        ok("uncordon", node)
        ok("scale", "deployment/cowweb", "--replicas=2", *ns)
        ok("rollout", "status", "deployment/cowweb", *ns, "--timeout=60s")
        wait_until(lambda: ok("get", "pdb", "nginx-pdb", *ns, "-o", "jsonpath={.status.disruptionsAllowed}") == "1",
                 30, "one allowed disruption")
        pods_on_node = ok("get", "pods", *ns, "-l", "app=cowweb", "--field-selector", f"spec.nodeName={node}",
                          "-o", "name").split()
        r = kl("drain", node, "--timeout=60s", "--retry-interval=1", "--ignore-daemonsets", "--force",
               "--delete-emptydir-data")
        assert r.exit_code == 0, r.output
        lines = r.stdout.splitlines()
        assert lines[0] == f"node/{node} cordoned" and lines[-1] == f"node/{node} drained"
        for p in pods_on_node:
            assert f"{p} evicted" in lines
        assert ok("get", "pods", *ns, "--field-selector", f"spec.nodeName={node}", "-o", "name") == ""
    finally:
        kl("uncordon", node)
    assert ok("uncordon", node) == f"node/{node} already uncordoned\n"


def test_drain_refuses_unmanaged_pods_without_force(cluster: dict[str, Any], namespace: str) -> None:
    ok("run", "lonely", "--image=nginx", "-n", namespace)
    ok("wait", "--for=condition=Ready", "pod/lonely", "-n", namespace)
    node = ok("get", "pod", "lonely", "-n", namespace, "-o", "jsonpath={.spec.nodeName}")
    try:
        r = kl("drain", node, "--timeout=5s")
        assert r.exit_code == 1
        assert (f'error: unable to drain node "{node}" due to error: cannot delete Pods that declare no controller '
                f"(use --force to override): {namespace}/lonely") in r.stderr
        assert kl("get", "pod", "lonely", "-n", namespace).exit_code == 0
    finally:
        ok("uncordon", node)


def test_run_label_expose_and_events(cluster: dict[str, Any], namespace: str) -> None:
    assert ok("run", "nginx", "--image=nginx", "--port=80", "-n", namespace) == "pod/nginx created\n"
    assert ok("expose", "pod", "nginx", "--port=80", "--name=web", "-n", namespace) == "service/web exposed\n"
    ok("wait", "--for=condition=Ready", "pod/nginx", "-n", namespace)
    assert "run=nginx" in ok("get", "pods", "--show-labels", "-n", namespace)
    wait_until(lambda: ok("get", "endpoints", "web", "-n", namespace).splitlines()[1].split()[1].endswith(":80"), 30,
             "the endpoints of web")
    events = ok("get", "events", "-n", namespace).splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = [line.split()[2] for line in events[1:]]
    assert "Scheduled" in reasons and reasons.index("Scheduled") < reasons.index("Started")
    assert ok("wait", "--for=delete", "pod/nothere", "-n", namespace) == "pod/nothere condition met\n"
    r = kl("wait", "--for=condition=Nope", "pod/nginx", "-n", namespace, "--timeout=1s")
    assert r.exit_code == 1 and r.stderr == "error: timed out waiting for the condition on pods/nginx\n"


# ---------------------------------------------------------------- as a real process
def _process(args: list[str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kubectl", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ), **kw)


def test_process_exit_codes_and_streams(cluster: dict[str, Any]) -> None:
    p = _process(["get", "pod", "nothere"])
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (1, "", 'Error from server (NotFound): pods "nothere" not found\n')
    p = _process(["get", "nodes", "-o", "name"])
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0 and out.split() == ["node/hollow-node-0", "node/hollow-node-1"]


def test_watch_prints_rows_as_events_arrive_and_ctrl_c_exits_0(cluster: dict[str, Any], namespace: str) -> None:
    ok("run", "w", "--image=nginx", "-n", namespace)
    p = _process(["get", "pods", "-n", namespace, "-w"],
                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(p.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def rows() -> int:
        return len([line for line in list(lines) if line.startswith("w ")])
    try:
        # Event-driven, not timed: on a loaded machine the first row may take seconds.
        deadline = time.monotonic() + 30
        while rows() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rows() >= 1, lines
        ok("label", "pod", "w", "seen=yes", "-n", namespace)
        deadline = time.monotonic() + 30
        while rows() < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    reader.join(10)
    assert p.returncode == 0, err
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows() >= 2, lines
    assert "Traceback" not in err


# ---------------------------------------------------------------- hollow nodes, proxy discovery, cluster up
@contextlib.contextmanager
def background(args: list[str]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`kubelab ARGS` as a process until the block ends; yields it and its first line of output."""
    p = _process(args)
    try:
        assert p.stdout is not None
        yield p, p.stdout.readline()
    finally:
        p.terminate()
        p.wait(timeout=10)


def _refusal(pod: str, lack: str) -> str:
    """A regular expression: the API's message for `pod`, on either hollow node."""
    return (re.escape(f'pod "{pod}" runs on hollow node "') + r"hollow-node-\d" +
            re.escape(f'": its containers are simulated, {lack}'))


def _cli_refusal(pod: str, lack: str) -> str:
    """The same as the line the CLI prints."""
    return re.escape("Error from server (BadRequest): ") + _refusal(pod, lack) + "\n"


def test_streaming_verbs_on_hollow_nodes_say_why(cluster: dict[str, Any], namespace: str) -> None:
    import socket
    import urllib.error
    import urllib.request
    ok("create", "deployment", "nginx", "--image=nginx", "--replicas=2", "-n", namespace)
    wait_until(lambda: ok("get", "pods", "-n", namespace, "--no-headers").count(" Running ") == 2, 30, "two pods")
    pods = ok("get", "pods", "-n", namespace, "-o", "name").replace("pod/", "").split()

    r = kl("logs", pods[0], "-n", namespace)
    assert r.exit_code == 1 and re.fullmatch(_cli_refusal(pods[0], "there are no logs to read"), r.stderr)
    r = kl("logs", "-l", "app=nginx", "-n", namespace)     # as kubectl: the first pod's error ends it
    assert r.exit_code == 1 and r.stdout == ""
    assert re.fullmatch(_cli_refusal(sorted(pods)[0], "there are no logs to read"), r.stderr)
    r = kl("logs", "-l", "app=nginx", "-n", namespace, "--ignore-errors")     # every pod says so, among the logs
    assert r.exit_code == 0 and r.stderr == ""
    assert re.fullmatch("".join("error: " + _refusal(p, "there are no logs to read") + "\n" for p in sorted(pods)),
                        r.stdout)
    r = kl("logs", "deployment/nginx", "-n", namespace)
    assert re.match(r"Found 2 pods, using pod/nginx-\S+\n", r.stderr)
    r = kl("exec", pods[0], "-n", namespace, "--", "ls")
    assert r.exit_code == 1
    assert re.fullmatch(_cli_refusal(pods[0], "there is no container to run a command in"), r.stderr)

    with background(["port-forward", f"pod/{pods[0]}", ":80", "-n", namespace]) as (p, first):
        port = int(re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80", first).group(1))  # type: ignore[union-attr]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert s.recv(100) == b""                          # closed: nothing to forward to
        assert p.wait(timeout=30) == 1                         # and port-forward ends, as kubectl's does
    assert p.stderr is not None
    said = p.stderr.read()
    assert re.search(_cli_refusal(pods[0], "there is no port to forward to"), said)
    assert said.endswith("error: lost connection to pod\n")

    with background(["proxy", "--port", "0"]) as (p, first):
        base = "http://" + first.split()[-1]
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/api/v1/namespaces/{namespace}/pods/{pods[0]}/proxy/", timeout=10)
        status = json.loads(e.value.read())
    assert e.value.code == 400 and status["reason"] == "BadRequest"
    assert re.fullmatch(_refusal(pods[0], "there is no server to proxy to"), status["message"])


def test_a_pod_that_is_not_running_is_refused_at_once(cluster: dict[str, Any], namespace: str,
                                                     tmp_path: Path) -> None:
    """port-forward to a pod named directly does not wait for it (only one found for a deployment may start);
    exec into a completed pod is kubectl's own refusal. The pods fit no node, so no kubelet changes them."""
    pods = "".join(f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {n}}}\nspec:\n  nodeSelector: {{fits: none}}\n"
                   f"  containers: [{{name: c, image: kubelab/web}}]\n" for n in ("pending", "done"))
    ok("apply", "-n", namespace, "-f", write(tmp_path, "pods.yaml", pods))
    ok("patch", "pod", "done", "-n", namespace, "--subresource=status", "--type=merge",
       "-p", '{"status":{"phase":"Succeeded"}}')
    r = kl("port-forward", "pod/pending", "8080:80", "-n", namespace, "--pod-running-timeout=1h")
    assert (r.exit_code, r.stderr) == (1, "error: unable to forward port because pod is not running. "
                                          "Current status=Pending\n")
    r = kl("exec", "done", "-n", namespace, "--", "ls")
    assert (r.exit_code, r.stderr) == (1, "error: cannot exec into a container in a completed pod; current phase "
                                          "is Succeeded\n")


def test_proxy_serves_discovery_and_healthz(cluster: dict[str, Any]) -> None:
    import urllib.error
    import urllib.request
    with background(["proxy", "--port", "0"]) as (_, first):
        base = "http://" + first.split()[-1]

        def get(path: str) -> Any:
            with urllib.request.urlopen(base + path, timeout=10) as resp:
                body = resp.read()
                return json.loads(body) if resp.headers["Content-Type"] == "application/json" else body
        assert {"/api", "/api/v1", "/apis", "/apis/apps/v1", "/healthz", "/version"} <= set(get("/")["paths"])
        assert get("/api")["versions"] == ["v1"]
        assert "apps" in [g["name"] for g in get("/apis")["groups"]]
        assert "deployments" in [r["name"] for r in get("/apis/apps/v1")["resources"]]
        assert "pods" in [r["name"] for r in get("/api/v1")["resources"]]
        assert get("/healthz") == b"ok"
        with pytest.raises(urllib.error.HTTPError) as e:
            get("/apis/nope/v1")
        assert e.value.code == 404


def test_cluster_up_local_returns_with_its_hollow_nodes_ready(tmp_path: Path) -> None:
    kubeconfig, state = str(tmp_path / "kubeconfig"), str(tmp_path / "state")
    common = ["--kubeconfig", kubeconfig]
    p = _process(["cluster", "up", "--local", "--hollow-nodes", "2", "--state-dir", state, *common])
    try:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "2/2 nodes Ready" in out.splitlines()
        nodes = _process(["get", "nodes", "--no-headers", *common])       # at once: no waiting in the test
        listed, _ = nodes.communicate(timeout=30)
        assert [line.split()[:2] for line in listed.splitlines()] == [["hollow-node-0", "Ready"],
                                                                      ["hollow-node-1", "Ready"]]
    finally:
        _process(["cluster", "down", "--local", "--state-dir", state, *common]).communicate(timeout=60)
