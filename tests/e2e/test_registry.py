"""The lab registry and the tutorials as written: their own image names, build → push → deploy.

Seed 003's commands verbatim (`jocatalin/kubernetes-bootcamp:v1`, scale, NodePort, set image v2, the
missing `:v10`, rollout undo), seed 001's manifests with their images (`nginx:latest`, `nginx:1.15` →
`nginx:1.16`, `debian:stretch` with apt, `nginx:1.16` + `fluent/fluentd:v1.11` sharing an emptyDir), seed
000's `docker build` / `docker push localhost:5000/...` / deploy, `kubelab image load|ls`, invalid
references (Invalid at apply, naming the field) and the registries stopped (ErrImagePull with the dial
error; the pods start once they are back). Every name here is served by the lab registry
(kubelab.catalogue.STAND_INS) or pushed by the test.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import docker, kubectl, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NS = "tutorials"
DEPLOY = "kubernetes-bootcamp"


def tk(*args: str, check: bool = True, timeout: float = 60, input: str | None = None
       ) -> subprocess.CompletedProcess[str]:
    return kubectl(*args, check=check, timeout=timeout, namespace=NS, input=input)


def pods(selector: str = "") -> list[dict[str, Any]]:
    args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
    return json.loads(tk(*args).stdout)["items"]


def status_of(p: dict[str, Any]) -> str:
    """The STATUS column: a waiting reason, else the phase."""
    for cs in p.get("status", {}).get("containerStatuses", []) or []:
        w = (cs.get("state") or {}).get("waiting")
        if w:
            return w.get("reason", "")
    return p.get("status", {}).get("phase", "")


def ready(p: dict[str, Any]) -> bool:
    css = p.get("status", {}).get("containerStatuses", []) or []
    return bool(css) and all(cs.get("ready") for cs in css) and not p["metadata"].get("deletionTimestamp")


def events_of(pod: str) -> str:
    return tk("describe", "pod", pod).stdout


def wait_pod_ready(name: str, timeout: float = 120) -> dict[str, Any]:
    def ok() -> dict[str, Any] | None:
        p = json.loads(tk("get", "pod", name, "-o", "json").stdout)
        return p if ready(p) else None
    return wait_for(ok, timeout, f"pod {name} ready")


@pytest.fixture(scope="module")
def ns(lab: dict[str, Any]) -> Any:
    kubectl("create", "namespace", NS, namespace=None)
    yield NS
    kubectl("delete", "namespace", NS, "--wait=false", namespace=None, check=False)


def node_address() -> str:
    return kubectl("get", "nodes", "-o", "jsonpath={.items[0].status.addresses[0].address}", namespace=None
                   ).stdout.strip()


def curl(url: str) -> str:
    return urllib.request.urlopen(url, timeout=10).read().decode()


def test_seed_003_as_written(ns: str) -> None:
    out = tk("create", "deployment", DEPLOY, "--image=jocatalin/kubernetes-bootcamp:v1").stdout
    assert out.strip() == f"deployment.apps/{DEPLOY} created"
    tk("scale", f"deployments/{DEPLOY}", "--replicas=4")
    wait_for(lambda: (lambda ps: ps if len(ps) == 4 and all(ready(p) for p in ps) else None)(
        pods(f"app={DEPLOY}")), 180, "4 bootcamp pods ready")
    first = pods(f"app={DEPLOY}")[0]
    assert first["spec"]["containers"][0]["image"] == "jocatalin/kubernetes-bootcamp:v1"
    assert first["status"]["containerStatuses"][0]["image"] == "jocatalin/kubernetes-bootcamp:v1"
    tk("expose", f"deployment/{DEPLOY}", "--type=NodePort", "--port", "8080")
    port = tk("get", f"services/{DEPLOY}", "-o", "jsonpath={.spec.ports[0].nodePort}").stdout.strip()
    url = f"http://{node_address()}:{port}"
    names = {p["metadata"]["name"] for p in pods(f"app={DEPLOY}")}

    def answers(version: str) -> set[str] | None:
        seen = set()
        for _ in range(12):
            body = curl(url)
            m = re.fullmatch(r"Hello Kubernetes bootcamp! \| Running on: (\S+) \| v=(\d+)\n", body)
            assert m, body
            if m.group(2) != version:
                return None
            seen.add(m.group(1))
        return seen
    assert wait_for(lambda: answers("1"), 60, "v=1 answers") <= names

    out = tk("set", "image", f"deployments/{DEPLOY}", f"{DEPLOY}=jocatalin/kubernetes-bootcamp:v2").stdout
    assert out.strip() == f"deployment.apps/{DEPLOY} image updated"
    tk("rollout", "status", f"deployments/{DEPLOY}", "--timeout=180s", timeout=200)
    wait_for(lambda: answers("2"), 60, "every answer v=2")

    tk("set", "image", f"deployments/{DEPLOY}", f"{DEPLOY}=jocatalin/kubernetes-bootcamp:v10")
    seen: set[str] = set()

    def stalled() -> dict[str, Any] | None:
        ps = pods(f"app={DEPLOY}")
        bad = [p for p in ps if status_of(p) in ("ErrImagePull", "ImagePullBackOff")]
        seen.update(status_of(p) for p in bad)
        return bad[0] if bad and "ImagePullBackOff" in seen and "ErrImagePull" in seen else None
    bad = wait_for(stalled, 120, "ErrImagePull, then ImagePullBackOff for v10", interval=0.3)
    text = events_of(bad["metadata"]["name"])
    assert 'Failed to pull image "jocatalin/kubernetes-bootcamp:v10"' in text, text
    assert "manifest unknown" in text and "Error: ErrImagePull" in text, text
    assert 'Back-off pulling image "jocatalin/kubernetes-bootcamp:v10"' in text, text
    assert answers("2"), "the v2 pods keep serving"

    assert tk("rollout", "undo", f"deployments/{DEPLOY}").stdout.strip() == f"deployment.apps/{DEPLOY} rolled back"
    tk("rollout", "status", f"deployments/{DEPLOY}", "--timeout=180s", timeout=200)
    wait_for(lambda: (lambda ps: ps if len(ps) == 4 and all(
        p["spec"]["containers"][0]["image"] == "jocatalin/kubernetes-bootcamp:v2" and ready(p) for p in ps)
        else None)(pods(f"app={DEPLOY}")), 120, "4 v2 pods after the undo")
    assert answers("2")
    tk("delete", "deployment", DEPLOY)
    tk("delete", "service", DEPLOY)


SEED_001_POD = """apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels:
    app: nginx
spec:
  containers:
    - name: nginx
      image: nginx:latest
"""

SEED_001_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  selector:
    matchLabels:
      app: nginx-deploy
  replicas: 2
  template:
    metadata:
      labels:
        app: nginx-deploy
    spec:
      containers:
      - name: nginx
        image: nginx:%s
        ports:
        - containerPort: 80
"""

SEED_001_BASTION = """apiVersion: v1
kind: Pod
metadata:
  name: bastion
spec:
  containers:
  - name: bastion
    image: debian:stretch
    command: ["sleep", "infinity"]
"""

SEED_001_VOLUME = """apiVersion: v1
kind: Pod
metadata:
  name: nginx-fluentd
  labels:
    component: nginx
spec:
  containers:
    - name: nginx
      image: nginx:1.16
      volumeMounts:
        - name: nginx-log
          mountPath: /var/log/nginx

    - name: fluentd
      image: fluent/fluentd:v1.11
      volumeMounts:
        - name: nginx-log
          mountPath: /var/log/nginx
          readOnly: true

  volumes:
    - name: nginx-log
      emptyDir: {}
"""


def test_seed_001_manifests_as_written(ns: str) -> None:
    tk("apply", "-f", "-", input=SEED_001_POD)
    tk("apply", "-f", "-", input=SEED_001_DEPLOYMENT % "1.15")
    tk("apply", "-f", "-", input=SEED_001_BASTION)
    tk("apply", "-f", "-", input=SEED_001_VOLUME)
    pod = wait_pod_ready("nginx")
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    text = events_of("nginx")
    # :latest is pulled every time (the registry is asked; nothing is downloaded when unchanged).
    assert re.search(r'Successfully pulled image "nginx:latest" in \S+ \(\S+ including waiting\)\. '
                     r'Image size: \d+ bytes\.', text), text
    assert "Welcome to nginx!" in tk("exec", "nginx", "--", "python3", "-c", "import urllib.request as u; "
                                     "print(u.urlopen('http://localhost').read().decode())").stdout

    wait_for(lambda: (lambda ps: ps if len(ps) == 2 and all(ready(p) for p in ps) else None)(
        pods("app=nginx-deploy")), 120, "nginx-deployment ready")
    tk("apply", "-f", "-", input=SEED_001_DEPLOYMENT % "1.16")
    tk("rollout", "status", "deployment/nginx-deployment", "--timeout=180s", timeout=200)
    wait_for(lambda: (lambda ps: ps if len(ps) == 2 and all(
        p["status"]["containerStatuses"][0]["image"] == "nginx:1.16" and ready(p) for p in ps) else None)(
        pods("app=nginx-deploy")), 120, "two nginx:1.16 pods")

    wait_pod_ready("bastion")
    assert "Container image \"debian:stretch\" already present on machine" in events_of("bastion")
    apt = tk("exec", "bastion", "--", "bash", "-c", "apt-get update >/dev/null && apt-cache policy curl | head -1",
             timeout=240)
    assert apt.stdout.strip() == "curl:", apt.stdout + apt.stderr

    wait_pod_ready("nginx-fluentd")
    labels = json.loads(docker("image", "inspect", "fluent/fluentd:v1.11").stdout)[0]["Config"]["Labels"]
    assert labels["io.kubelab.stand-in-for"] == "fluent/fluentd:v1.11"
    # A path nginx does not have (404, so wget exits 1): the access log line names it.
    tk("exec", "nginx-fluentd", "-c", "fluentd", "--", "wget", "-qO-", "http://localhost/e2e-probe", check=False)
    wait_for(lambda: "GET /e2e-probe HTTP/1.1" in tk("logs", "nginx-fluentd", "-c", "fluentd").stdout, 30,
             "the sidecar to print nginx's access log line")
    for kind, name in (("pod", "nginx"), ("deployment", "nginx-deployment"), ("pod", "bastion"),
                       ("pod", "nginx-fluentd")):
        tk("delete", kind, name, "--wait=false")


def test_invalid_image_reference_is_invalid_at_apply(ns: str) -> None:
    # Refused by the apiserver naming the field (kube-apiserver would leave it to the kubelet's
    # InvalidImageName, which the kubelets still show for a pod that reaches them: tests/unit).
    for image, words in (("Nginx:1.16", "invalid reference format: repository name (library/Nginx) must be "
                                        "lowercase"),
                         ("nginx:", "invalid reference format"),
                         ("nginx@sha256:abc", "invalid reference format")):
        bad = tk("run", "badref", f"--image={image}", "--restart=Never", check=False)
        assert bad.returncode != 0
        assert f'spec.containers[0].image: Invalid value: "{image}": {words}' in bad.stderr, bad.stderr
        assert tk("get", "pod", "badref", check=False).returncode != 0      # nothing written
    bad = tk("create", "deployment", "badref", "--image=Nginx:1.16", check=False)
    assert bad.returncode != 0
    assert 'spec.template.spec.containers[0].image: Invalid value: "Nginx:1.16"' in bad.stderr, bad.stderr
    bad = tk("run", "spaces", "--image= nginx", "--restart=Never", check=False)
    assert bad.returncode != 0
    assert 'spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace' in \
        bad.stderr


COWWEB = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: cowweb
spec:
  replicas: 1
  selector:
    matchLabels: {app: cowweb}
  template:
    metadata:
      labels: {app: cowweb}
    spec:
      containers:
      - name: cowweb
        image: localhost:5000/handson-001/cowweb:v1.0
        ports:
        - containerPort: 80
"""
COWWEB_IMAGE = "localhost:5000/handson-001/cowweb:v1.0"


def test_seed_000_build_push_deploy(ns: str, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("moo from cowweb\n")
    (tmp_path / "Dockerfile").write_text("FROM nginx:1.16\nCOPY index.html /usr/share/nginx/html/index.html\n")
    docker("build", "--pull=false", "-t", COWWEB_IMAGE, str(tmp_path))
    docker("push", COWWEB_IMAGE)
    docker("image", "rm", COWWEB_IMAGE)          # so the kubelet has to pull it from the registry
    tk("apply", "-f", "-", input=COWWEB)
    pod = wait_for(lambda: (lambda ps: ps[0] if ps and ready(ps[0]) else None)(pods("app=cowweb")), 120,
                   "the cowweb pod ready")
    name = pod["metadata"]["name"]
    text = events_of(name)
    assert f'Pulling image "{COWWEB_IMAGE}"' in text, text
    assert re.search(rf'Successfully pulled image "{re.escape(COWWEB_IMAGE)}" in \S+ \(\S+ including waiting\)\. '
                     r'Image size: \d+ bytes\.', text), text
    assert tk("exec", name, "--", "cat", "/usr/share/nginx/html/index.html").stdout == "moo from cowweb\n"
    listing = kubectl("image", "ls", namespace=None).stdout
    assert re.search(r"^localhost:5000/handson-001/cowweb\s+v1\.0$", listing, re.M), listing
    assert re.search(r"^localhost:5001/docker.io/library/nginx\s+.*1\.16", listing, re.M), listing
    tk("delete", "deployment", "cowweb")


def test_image_load_and_the_stand_ins_kept_apart(ns: str) -> None:
    docker("tag", "kubelab/hello:v1", "e2e-loaded:v7")
    try:
        out = kubectl("image", "load", "e2e-loaded:v7", namespace=None).stdout
        assert out.strip() == 'Image: "e2e-loaded:v7" pushed to the lab registry as "localhost:5000/e2e-loaded:v7"'
        assert re.search(r"^localhost:5000/e2e-loaded\s+v7$", kubectl("image", "ls", namespace=None).stdout, re.M)
        refused = kubectl("image", "load", "localhost:5000/docker.io/library/nginx:1.16", namespace=None,
                          check=False)
        assert refused.returncode != 0 and "stand-ins" in refused.stderr
        missing = kubectl("image", "load", "e2e-not-here:v1", namespace=None, check=False)
        assert missing.returncode != 0 and 'image: "e2e-not-here:v1" not present locally' in missing.stderr
    finally:
        docker("image", "rm", "e2e-loaded:v7", "localhost:5000/e2e-loaded:v7", check=False)


def test_registries_stopped_are_err_image_pull_then_the_pods_start(ns: str) -> None:
    # Both registries: the read-only mirror (the tutorials' names) and the users' (localhost:5000/...).
    user_image = "localhost:5000/e2e/stopped:v1"
    docker("tag", "kubelab/busybox:latest", user_image)
    docker("push", user_image)
    docker("stop", "kubelab-registry-mirror", "kubelab-registry")
    try:
        tk("run", "needs-mirror", "--image=nginx", "--restart=Never")     # :latest → Always: asks the mirror
        tk("run", "needs-registry", f"--image={user_image}", "--image-pull-policy=Always", "--restart=Never",
           "--command", "--", "sleep", "3600")

        def failed(pod: str) -> str | None:
            p = json.loads(tk("get", "pod", pod, "-o", "json").stdout)
            cs = (p.get("status", {}).get("containerStatuses") or [{}])[0]
            w = (cs.get("state") or {}).get("waiting") or {}
            return w.get("message") if w.get("reason") == "ErrImagePull" else None
        for pod, host in (("needs-mirror", "localhost:5001"), ("needs-registry", "localhost:5000")):
            msg = wait_for(lambda: failed(pod), 60, f"ErrImagePull of {pod} while {host} is stopped", interval=0.3)
            assert host in msg and ("connection refused" in msg or "dial tcp" in msg), msg
    finally:
        docker("start", "kubelab-registry-mirror", "kubelab-registry")
    wait_pod_ready("needs-mirror", timeout=400)     # the back-off's next pull finds the registry back
    wait_pod_ready("needs-registry", timeout=400)
    tk("delete", "pod", "needs-mirror", "needs-registry", "--wait=false")
    docker("image", "rm", user_image, check=False)


def test_host_engine_has_the_stand_ins_under_their_names(ns: str) -> None:
    for name in ("nginx:1.16", "debian:stretch", "jocatalin/kubernetes-bootcamp:v1",
                 "gcr.io/google-samples/kubernetes-bootcamp:v1"):
        info = json.loads(docker("image", "inspect", name).stdout)[0]
        assert "io.kubelab.stand-in-for" in (info["Config"]["Labels"] or {}), name
    t0 = time.monotonic()
    p = subprocess.run(["docker", "run", "--rm", "gcr.io/google-samples/kubernetes-bootcamp:v1", "cat",
                        "/app/server.js"], capture_output=True, text=True, timeout=60)
    assert "Hello Kubernetes bootcamp! | Running on: " in p.stdout, p.stderr
    assert time.monotonic() - t0 < 60
