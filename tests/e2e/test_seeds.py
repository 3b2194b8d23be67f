"""Seeds 002–004 replayed on the lab, command by command, as their reader types them.

The minikube bootcamp tutorials: `run` a Deployment, find the pod with a
go-template, reach it through `kubectl proxy`'s old URL, read its logs,
`exec POD env`, scale 1→4→1, `set image` to v2, then to a tag that does not
exist (the rollout stalls on ImagePullBackOff while the old pod serves), and
`rollout undo`. Images are ours (kubelab/hello:v1/v2 for jocatalin's
kubernetes-bootcamp); reaching the NodePort from the host is the service
proxy's part.
"""
from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from typing import Any

import pytest

from .conftest import kubectl, wait_for
from .test_streaming import kubelab_proxy

pytestmark = pytest.mark.e2e

NS = "seeds"
DEPLOY = "kubernetes-bootcamp"


def sk(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return kubectl(*args, check=check, timeout=timeout, namespace=NS)


def table(*args: str) -> list[dict[str, str]]:
    """A `get` table as rows of {COLUMN: value}, cut at the header's column offsets (as a reader's eye does:
    `NOMINATED NODE` is one column, `RESTARTS` may read `1 (5s ago)`)."""
    lines = sk("get", *args).stdout.splitlines()
    if not lines:
        return []
    cols = [(m.group(0), m.start()) for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    rows = []
    for line in lines[1:]:
        row = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else len(line)
            row[name] = line[start:end].strip()
        rows.append(row)
    return rows


def pods() -> list[dict[str, str]]:
    return table("pods", "-o", "wide")


def images_in_describe() -> list[str]:
    """`kubectl describe pods | grep Image:`, as seed 003 checks the rollout."""
    return [line.split()[-1] for line in sk("describe", "pods").stdout.splitlines()
            if line.strip().startswith("Image:")]


@pytest.fixture(scope="module")
def seeds_ns(lab: dict[str, Any]) -> Any:
    kubectl("create", "namespace", NS, namespace=None)
    yield NS
    kubectl("delete", "namespace", NS, "--wait=false", namespace=None, check=False)


def test_seed_002_run_proxy_logs_exec(seeds_ns: str) -> None:
    assert "Server Version" in kubectl("version", namespace=None).stdout
    nodes = table("nodes")
    assert len(nodes) == 3 and all(n["STATUS"] == "Ready" for n in nodes)

    out = sk("run", DEPLOY, "--image=kubelab/hello:v1", "--port=8080", "--generator=deployment/apps.v1").stdout
    assert out.strip() == f"deployment.apps/{DEPLOY} created"
    wait_for(lambda: [d for d in table("deployments") if d["NAME"] == DEPLOY and d["READY"] == "1/1"], 90,
             "the deployment to be ready")

    # export POD_NAME=$(kubectl get pods -o go-template --template '{{range .items}}{{.metadata.name}}{{"\n"}}{{end}}')
    names = sk("get", "pods", "-o", "go-template",
               "--template", '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}').stdout.split()
    assert len(names) == 1 and names[0].startswith(f"{DEPLOY}-")
    pod = names[0]

    with kubelab_proxy() as port:
        version = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10).read())
        assert version["gitVersion"].startswith("v")
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/proxy/namespaces/{NS}/pods/{pod}/",
                                      timeout=10).read().decode()
        assert body.strip() == f"Hello kubelab! | Running on: {pod} | v=1"

    assert "listening on port 8080" in sk("logs", pod).stdout
    env = sk("exec", pod, "env").stdout          # the seeds' form, without `--`
    assert f"HOSTNAME={pod}" in env.splitlines()
    # `kubectl exec -ti $POD_NAME bash`: our images' bash is busybox's shell.
    assert sk("exec", pod, "--", "bash", "-c", "hostname").stdout.strip() == pod
    # Seed 004, inside that shell: `cat server.js`, then `curl localhost:8080`.
    assert "Hello kubelab! | Running on: " in sk("exec", pod, "--", "bash", "-c", "cat server.js").stdout
    assert sk("exec", pod, "--", "bash", "-c", "curl localhost:8080").stdout == (
        f"Hello kubelab! | Running on: {pod} | v=1\n")


def test_seed_003_scale_update_and_undo(seeds_ns: str) -> None:
    assert sk("scale", f"deployments/{DEPLOY}", "--replicas=4").stdout.strip() == f"deployment.apps/{DEPLOY} scaled"
    running = wait_for(lambda: (lambda ps: ps if len(ps) == 4 and all(p["STATUS"] == "Running" for p in ps) else None)(
        pods()), 120, "4 pods Running")
    assert all(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", p["IP"]) for p in running)
    assert len({p["NODE"] for p in running}) > 1, f"4 replicas on one node: {running}"
    wait_for(lambda: [d for d in table("deployments") if d["READY"] == "4/4" and d["AVAILABLE"] == "4"], 60,
             "READY 4/4")

    sk("scale", f"deployments/{DEPLOY}", "--replicas=1")
    wait_for(lambda: len(pods()) == 1, 90, "scaled back to one pod")

    out = sk("set", "image", f"deployments/{DEPLOY}", f"{DEPLOY}=kubelab/hello:v2").stdout
    assert out.strip() == f"deployment.apps/{DEPLOY} image updated"
    sk("rollout", "status", f"deployments/{DEPLOY}", "--timeout=120s", timeout=150)
    wait_for(lambda: images_in_describe() == ["kubelab/hello:v2"], 60, "only v2 pods left")

    # A tag that does not exist: the new pod cannot pull, the v2 pod keeps serving.
    sk("set", "image", f"deployments/{DEPLOY}", f"{DEPLOY}=kubelab/hello:v10")

    def stalled() -> list[dict[str, str]] | None:
        ps = pods()
        bad = [p for p in ps if p["STATUS"] in ("ErrImagePull", "ImagePullBackOff")]
        good = [p for p in ps if p["STATUS"] == "Running" and p["READY"] == "1/1"]
        return ps if bad and good else None
    wait_for(stalled, 90, "a pod failing to pull v10 beside the running v2 pod")

    assert sk("rollout", "undo", f"deployments/{DEPLOY}").stdout.strip() == f"deployment.apps/{DEPLOY} rolled back"
    sk("rollout", "status", f"deployments/{DEPLOY}", "--timeout=120s", timeout=150)
    wait_for(lambda: (lambda ps: ps if len(ps) == 1 and ps[0]["STATUS"] == "Running" else None)(pods()), 90,
             "one Running pod after the undo")
    assert images_in_describe() == ["kubelab/hello:v2"]
