"""Pods on the Docker kubelet: sandbox, emptyDir, restarts, probes, image pulls, limits.

All pods of this module are created at once (module fixture), so their
waits overlap; each test then checks its own pod.
"""
from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import (apply, describe, docker, get_json, kubectl, pod_containers, pod_row, unique,
                       wait_for, wait_running_ready)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

NAMES = {k: unique(k) for k in ("shared", "killme", "health", "missing", "oom", "crash", "done")}

MANIFESTS = f"""
# seed 001-11's pattern: a web server writing its access log into an emptyDir,
# a log reader in the same pod reading it; the reader also reaches the server on localhost.
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['shared']}, labels: {{app: shared}}}}
spec:
  containers:
  - name: nginx
    image: kubelab/web
    volumeMounts: [{{name: nginx-log, mountPath: /var/log/nginx}}]
  - name: log-reader
    image: kubelab/busybox
    command: ["sh", "-c", "touch /var/log/nginx/access.log; tail -F /var/log/nginx/access.log"]
    volumeMounts: [{{name: nginx-log, mountPath: /var/log/nginx, readOnly: true}}]
  volumes:
  - name: nginx-log
    emptyDir: {{}}
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['killme']}}}
spec:
  containers:
  - name: app
    image: kubelab/busybox
    command: ["sh", "-c", "echo instance started; exec sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['crash']}}}
spec:
  containers:
  - name: app
    image: kubelab/busybox
    command: ["sh", "-c", "echo crashing; exit 2"]
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['done']}}}
spec:
  restartPolicy: OnFailure
  containers:
  - name: app
    image: kubelab/busybox
    command: ["sh", "-c", "echo done"]
---
# seed 001-09 (sample-healthcheck) on kubelab/web
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['health']}, labels: {{app: sample-app}}}}
spec:
  containers:
  - name: nginx-container
    image: kubelab/web
    ports: [{{containerPort: 80}}]
    livenessProbe:
      httpGet: {{path: /index.html, port: 80, scheme: HTTP}}
      timeoutSeconds: 1
      successThreshold: 1
      failureThreshold: 2
      initialDelaySeconds: 5
      periodSeconds: 3
    readinessProbe:
      exec:
        command: ["ls", "/usr/share/nginx/html/50x.html"]
      timeoutSeconds: 1
      successThreshold: 2
      failureThreshold: 1
      initialDelaySeconds: 5
      periodSeconds: 3
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['oom']}}}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: kubelab/busybox
    # The kernel kills dd; the shell outlives it for a second and exits with its status (137). Were
    # dd the container's only process, the container's cgroup could be gone before containerd reads
    # its OOM count, and Docker would report neither OOMKilled nor an "oom" event (seen about one
    # run in five here under load). dd also waits a second after the start: an OOM in the first
    # moments of a container can come before containerd watches its cgroup (seen once in five).
    command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; s=$?; sleep 1; exit $s"]
    resources:
      limits: {{memory: 16Mi, cpu: 500m}}
"""


@pytest.fixture(scope="module")
def pods(lab: dict[str, Any]) -> dict[str, str]:
    apply(MANIFESTS)
    return NAMES


def test_two_containers_share_an_empty_dir_and_localhost(pods: dict[str, str]) -> None:
    name = pods["shared"]
    wait_running_ready(name)
    pod = get_json("pod", name)
    assert pod["status"]["podIP"] and pod["status"]["hostIP"] and pod["status"]["startTime"]
    # localhost is the pod's: the reader reaches nginx on 127.0.0.1:80
    page = kubectl("exec", name, "-c", "log-reader", "--", "wget", "-qO-", "http://localhost:80/").stdout
    assert "Welcome to nginx!" in page
    # the request nginx logged into the emptyDir shows up in the reader's output
    logged = wait_for(lambda: '"GET / HTTP/1.1" 200' in kubectl("logs", name, "-c", "log-reader").stdout, 20,
                      "the access log line in the log reader's output")
    assert logged
    # one network namespace, one hostname: the pod's name
    assert kubectl("exec", name, "-c", "log-reader", "--", "hostname").stdout.strip() == name
    assert kubectl("exec", name, "-c", "nginx", "--", "hostname").stdout.strip() == name
    # the pod's containers are labelled on the engine
    ids = pod_containers(name)
    assert len(ids) == 3      # sandbox + 2
    labels = docker("inspect", "--format", "{{json .Config.Labels}}", ids[0]).stdout
    for key in ("io.kubelab.node", "io.kubelab.namespace", "io.kubelab.pod", "io.kubelab.uid",
                "io.kubelab.container"):
        assert key in labels


def test_restarts_rise_after_docker_kill(pods: dict[str, str]) -> None:
    name = pods["killme"]
    wait_running_ready(name)
    assert pod_row(name)["RESTARTS"] == "0"
    (cid,) = pod_containers(name, "app")
    docker("kill", cid)
    row = wait_for(lambda: (r := pod_row(name))["RESTARTS"] == "1" and r["STATUS"] == "Running" and r,
                   30, "RESTARTS 1 after docker kill")
    assert row["READY"] == "1/1"
    status = get_json("pod", name)["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert status["restartCount"] == 1
    # the killed instance's logs stay readable
    assert kubectl("logs", name, "--previous").stdout == "instance started\n"


def test_crash_loop_back_off_and_completed(pods: dict[str, str]) -> None:
    crash, done = pods["crash"], pods["done"]
    # exits at once: restarted at once, then held back 10 s (doubling): CrashLoopBackOff
    row = wait_for(lambda: (r := pod_row(crash))["STATUS"] == "CrashLoopBackOff" and r, 30, "CrashLoopBackOff")
    assert int(row["RESTARTS"]) >= 1
    status = get_json("pod", crash)["status"]
    cs = status["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    # 10 s after the first crash, doubling after each (the test may look after the second)
    assert re.search(r"^back-off (10|20|40)s restarting failed container=app pod=", cs["state"]["waiting"]["message"])
    assert cs["lastState"]["terminated"]["exitCode"] == 2 and cs["lastState"]["terminated"]["reason"] == "Error"
    assert status["phase"] == "Running"       # as Kubernetes: restartPolicy Always keeps it Running
    assert "Back-off restarting failed container app" in describe(crash)
    assert kubectl("logs", crash).stdout == "crashing\n"
    # restartPolicy OnFailure and exit 0: Completed, phase Succeeded, never restarted
    wait_for(lambda: pod_row(done)["STATUS"] == "Completed", 30, "Completed")
    pod = get_json("pod", done)
    assert pod["status"]["phase"] == "Succeeded"
    assert pod["status"]["containerStatuses"][0].get("restartCount", 0) == 0


def test_liveness_restarts_and_readiness_gates_ready(pods: dict[str, str]) -> None:
    name = pods["health"]
    # readiness: successThreshold 2 after initialDelaySeconds 5 → Ready after ~8 s, not before 5
    wait_running_ready(name, timeout=40)
    # readiness gate: without 50x.html the exec probe fails once (failureThreshold 1) → 0/1, still Running
    kubectl("exec", name, "--", "mv", "/usr/share/nginx/html/50x.html", "/tmp/50x.html")
    wait_for(lambda: (r := pod_row(name))["READY"] == "0/1" and r["STATUS"] == "Running", 20,
             "READY 0/1 while the readiness probe fails")
    assert pod_row(name)["RESTARTS"] == "0"
    kubectl("exec", name, "--", "mv", "/tmp/50x.html", "/usr/share/nginx/html/50x.html")
    wait_for(lambda: pod_row(name)["READY"] == "1/1", 20, "READY 1/1 after two successes")
    # liveness: index.html gone → httpGet 404 twice → killed and restarted → healthy again
    kubectl("exec", name, "--", "rm", "/usr/share/nginx/html/index.html")
    wait_for(lambda: pod_row(name)["RESTARTS"] == "1", 30, "a restart after the liveness probe failed")
    wait_running_ready(name, timeout=40)
    text = describe(name)
    assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in text
    assert "failed liveness probe, will be restarted" in text
    assert "Readiness probe failed" in text


def test_missing_image_err_image_pull_then_image_pull_back_off(pods: dict[str, str]) -> None:
    # created here, not with the others: the first pull attempts come at once, later ones back off
    name = pods["missing"]
    apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: kubelab/does-not-exist:v1
""")
    seen: list[str] = []

    def status() -> str | None:
        s = pod_row(name)["STATUS"]
        if not seen or seen[-1] != s:
            seen.append(s)
        return s if "ErrImagePull" in seen and s == "ImagePullBackOff" else None
    wait_for(status, 60, "ErrImagePull then ImagePullBackOff", interval=0.2)
    assert "ImagePullBackOff" in seen[seen.index("ErrImagePull"):]
    text = describe(name)
    assert "ImagePullBackOff" in text and "Error: ErrImagePull" in text
    assert 'Failed to pull image "kubelab/does-not-exist:v1"' in text
    assert 'Back-off pulling image "kubelab/does-not-exist:v1"' in text
    assert pod_row(name)["READY"] == "0/1"


def test_over_limit_container_is_oom_killed(pods: dict[str, str]) -> None:
    name = pods["oom"]
    # Generous: on a loaded 2-core machine the pod may start late; the message shows the last state seen.
    wait_for(lambda: pod_row(name)["STATUS"] == "OOMKilled" or print(
        "oom pod:", pod_row(name), get_json("pod", name).get("status", {}).get("containerStatuses")), 90,
        "STATUS OOMKilled")
    pod = get_json("pod", name)
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled"
    assert term["exitCode"] == 137
    assert pod["status"]["phase"] == "Failed"
    # the limits reached Docker
    (cid,) = pod_containers(name, "hog", running=False)
    mem, cpus = docker("inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", cid).stdout.split()
    assert int(mem) == 16 * 1024 * 1024 and int(cpus) == 500_000_000


def test_graceful_delete_shows_terminating_then_removes_containers(lab: dict[str, Any]) -> None:
    name = unique("grace")
    apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 20
  containers:
  - name: app
    image: kubelab/busybox
    command: ["sh", "-c", "trap 'echo TERM received; sleep 6; exit 0' TERM; while true; do sleep 0.2; done"]
""")
    wait_running_ready(name)
    kubectl("delete", "pod", name, "--wait=false")
    wait_for(lambda: pod_row(name)["STATUS"] == "Terminating", 10, "STATUS Terminating")
    # SIGTERM handled in ~6 s (a window wide enough to see Terminating on a loaded machine), well inside the 20 s grace; then the pod object and its containers go
    wait_for(lambda: kubectl("get", "pod", name, check=False).returncode != 0, 30, "the pod to be deleted")
    wait_for(lambda: not pod_containers(name, running=False), 30, "its containers to be removed")


def test_an_empty_dir_starts_empty_over_image_content(pods: dict[str, str]) -> None:
    """Kubernetes' emptyDir is empty: the image's own /var/log/nginx (links to stdout) does not show through."""
    name = pods["shared"]
    wait_running_ready(name)
    listing = kubectl("exec", name, "-c", "nginx", "--", "ls", "-l", "/var/log/nginx").stdout
    assert "->" not in listing and "access.log" in listing, listing


def test_a_host_network_pod_is_on_its_nodes_address_and_name(lab: dict[str, Any]) -> None:
    """hostNetwork: the pod's IP is its node's, its port answers there from the host, its hostname is the node's."""
    import urllib.request
    name = unique("hostnet")
    apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  hostNetwork: true
  containers:
  - name: hello
    image: kubelab/hello:v1
    ports: [{{containerPort: 8080}}]
""")
    wait_running_ready(name)
    pod = get_json("pod", name)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080          # defaulted, as Kubernetes does
    assert pod["status"]["podIP"] == pod["status"]["hostIP"]

    def fetch() -> str | None:
        try:
            return urllib.request.urlopen(f"http://{pod['status']['hostIP']}:8080/", timeout=5).read().decode()
        except OSError:
            return None
    answer = wait_for(fetch, 30, "the pod's port on its node's address")
    assert answer.startswith(f"Hello kubelab! | Running on: {pod['spec']['nodeName']} |"), answer
    kubectl("delete", "pod", name, "--grace-period=0")
