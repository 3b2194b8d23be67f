"""Services on the lab: ClusterIP by DNS name from a pod, NodePort from the host, load spread (seeds 001, 003).

Seed 001: a Deployment of web servers (`component: nginx`), the Service
`my-first-service` applied from the seed's manifest, a bastion pod that
fetches `http://my-first-service/`; then the seed's changed manifest
(`type: NodePort`, `nodePort: 30000`) is applied and the page is fetched
from the host at each node's INTERNAL-IP. Seed 003: `kubelab expose
deployment/kubernetes-bootcamp --type=NodePort --port 8080` over hello pods,
and repeated requests from the host are answered by more than one pod.
"""
from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

import pytest

from .conftest import NAMESPACE, REPO, apply, docker, get_json, kubectl, wait_for, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SEEDS = REPO / "tests" / "fixtures" / "seeds"
PAGE = "Welcome to nginx!"


def seed(name: str) -> str:
    """A seed's manifest with the lab's images (nothing can be pulled here)."""
    text = (SEEDS / name).read_text()
    return (text.replace("image: nginx:1.15", "image: kubelab/web")
            .replace("image: debian:stretch", "image: kubelab/debian")
            .replace("replicas: 3", "replicas: 2"))


def ready_pods(selector: str, n: int, timeout: float = 120) -> list[str]:
    def ok() -> list[str] | None:
        items = json.loads(kubectl("get", "pods", "-l", selector, "-o", "json").stdout)["items"]
        ready = [p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
        return sorted(ready) if len(ready) >= n else None
    return wait_for(ok, timeout, f"{n} ready pods with {selector}")


def node_ips() -> list[str]:
    """INTERNAL-IP of every node, as `kubelab get nodes -o wide` shows it."""
    lines = kubectl("get", "nodes", "-o", "wide", namespace=None).stdout.splitlines()
    col = lines[0].split().index("INTERNAL-IP")
    return [ln.split()[col] for ln in lines[1:]]


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode(errors="replace")


@pytest.fixture(scope="module")
def services(lab: dict[str, Any]) -> dict[str, Any]:
    apply(seed("001-07-deployment-nginx-deployment.yaml"))
    apply(seed("001-05-service-my-first-service.yaml"))
    kubectl("create", "deployment", "kubernetes-bootcamp", "--image=kubelab/hello:v1")
    kubectl("scale", "deployments/kubernetes-bootcamp", "--replicas=3")
    # the bastion starts after the Service exists: it gets the Service's environment variables too
    wait_for(lambda: get_json("service", "my-first-service")["spec"].get("clusterIP"), 30, "a ClusterIP")
    apply(seed("001-04-pod-bastion.yaml"))
    bastion = wait_running_ready("bastion", 120)
    # (bastion)# apt update && apt install -y curl   -- through the cluster DNS to the machine's Debian mirror
    p = kubectl("exec", "bastion", "--", "bash", "-c", "apt update && apt install -y curl", timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    return {"web": ready_pods("component=nginx", 2), "bastion": bastion}


def bastion_get(url: str, *flags: str) -> str:
    return kubectl("exec", "bastion", "--", "curl", "-sS", "--max-time", "10", *flags, url, timeout=30).stdout


def test_seed_001_bastion_reaches_a_web_pod_by_its_ip(services: dict[str, Any]) -> None:
    """(bastion)# curl -i http://<my-first-pod's IP>/ -> HTTP/1.1 200 OK, from nginx."""
    ip = get_json("pod", services["web"][0])["status"]["podIP"]
    answer = bastion_get(f"http://{ip}/", "-i")
    assert answer.startswith("HTTP/1.1 200 OK") and "Server: nginx/" in answer and PAGE in answer, answer[:300]


def test_cluster_ip_by_service_name_from_a_pod(services: dict[str, Any]) -> None:
    svc = get_json("service", "my-first-service")
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("10.96.")
    # `curl http://my-first-service/` from the bastion, as the seed does (DNS search path + ClusterIP)
    page = wait_for(lambda: bastion_get("http://my-first-service/"), 60, "the page through my-first-service")
    assert PAGE in page
    for name in (f"my-first-service.{NAMESPACE}", f"my-first-service.{NAMESPACE}.svc.cluster.local", ip):
        assert PAGE in bastion_get(f"http://{name}/"), name
    # the pod's resolver is the cluster DNS with the kubelet's search path
    resolv = kubectl("exec", "bastion", "--", "cat", "/etc/resolv.conf").stdout
    assert resolv == (f"search {NAMESPACE}.svc.cluster.local svc.cluster.local cluster.local\n"
                      f"nameserver {os.environ.get('KUBELAB_DNS_IP', '172.28.255.10')}\n"
                      "options ndots:5\n"), resolv       # the cluster DNS itself, not Docker's 127.0.0.11
    env = kubectl("exec", "bastion", "--", "env").stdout
    assert f"MY_FIRST_SERVICE_SERVICE_HOST={ip}" in env and "MY_FIRST_SERVICE_SERVICE_PORT=80" in env


def test_requests_through_the_cluster_ip_reach_every_web_pod(services: dict[str, Any]) -> None:
    """Round robin: each web pod's access log shows requests that came through the Service."""
    for _ in range(6):
        assert PAGE in bastion_get("http://my-first-service/")
    for pod in services["web"]:
        logs = kubectl("logs", pod).stdout
        assert '"GET / HTTP/1.1" 200' in logs, f"{pod} served nothing:\n{logs[-500:]}"


def test_unknown_service_name_fails_fast(services: dict[str, Any]) -> None:
    t0 = time.monotonic()
    p = kubectl("exec", "bastion", "--", "curl", "-sS", "http://no-such-service/", check=False, timeout=30)
    assert p.returncode != 0
    assert "Could not resolve host: no-such-service" in (p.stderr + p.stdout)
    assert time.monotonic() - t0 < 15


def test_node_port_from_the_host_on_every_node(services: dict[str, Any]) -> None:
    # seed 001's changed manifest: type NodePort, nodePort 30000, applied over the ClusterIP Service
    before = get_json("service", "my-first-service")["spec"]["clusterIP"]
    out = kubectl("apply", "-f", "-", input=seed("001-08-service-my-first-service.yaml")).stdout
    assert "service/my-first-service configured" in out
    row = kubectl("get", "service", "my-first-service").stdout.splitlines()[1].split()
    assert row[1] == "NodePort" and row[2] == before and row[4] == "80:30000/TCP"
    ips = node_ips()
    assert len(ips) == 3
    for ip in ips:      # every node answers, whether or not a web pod runs there
        page = wait_for(lambda: _try_get(f"http://{ip}:30000/"), 30, f"the page on {ip}:30000")
        assert PAGE in page
    # the Service deleted: the NodePort closes on every node
    kubectl("delete", "service", "my-first-service")
    for ip in ips:
        wait_for(lambda: _try_get(f"http://{ip}:30000/") is None, 30, f"{ip}:30000 to close", interval=1)


def _try_get(url: str) -> str | None:
    try:
        return http_get(url, timeout=3)
    except OSError:
        return None


def test_seed_003_node_port_answered_by_several_pods(services: dict[str, Any]) -> None:
    pods = ready_pods("app=kubernetes-bootcamp", 3)
    out = kubectl("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080").stdout
    assert "service/kubernetes-bootcamp exposed" in out
    node_port = kubectl("get", "services/kubernetes-bootcamp", "-o",
                        "jsonpath={.spec.ports[0].nodePort}").stdout.strip()
    assert 30000 <= int(node_port) <= 32767
    url = f"http://{node_ips()[0]}:{node_port}"
    wait_for(lambda: _try_get(url), 30, f"{url} to answer")
    answers = [http_get(url) for _ in range(8)]       # `curl $(minikube ip):$NODE_PORT`, repeatedly
    seen = set()
    for a in answers:
        assert a.startswith("Hello kubelab! | Running on: ") and a.rstrip().endswith("| v=1"), a
        seen.add(a.split("Running on: ")[1].split(" |")[0])
    assert len(seen) > 1, answers
    assert seen <= set(pods)
    # the proxies and the DNS run as their own containers next to the nodes
    names = docker("ps", "--format", "{{.Names}}").stdout.split()
    assert {"kubelab-dns", "kubelab-proxy1", "kubelab-proxy2", "kubelab-proxy3"} <= set(names)


def test_seed_000_load_balancer_answers_on_its_external_ips(services: dict[str, Any]) -> None:
    """Seed 000: cowweb behind `type: LoadBalancer`, then `curl http://<LB IP>/cowsay/say` from outside."""
    apply(seed("000-01-deployment-cowweb.yaml").replace("image: cowweb:v1.0", "image: kubelab/hello:v1"))
    apply(seed("000-02-service-cowweb.yaml"))
    pods = ready_pods("app=cowweb", 2)

    def external_ips() -> list[str] | None:
        row = kubectl("get", "service", "cowweb").stdout.splitlines()[1].split()
        return None if row[3] == "<pending>" else row[3].split(",")
    ips = wait_for(external_ips, 30, "cowweb's EXTERNAL-IP")
    assert sorted(ips) == sorted(node_ips())        # the lab's ServiceLB: every Ready node
    for ip in ips:
        url = f"http://{ip}/cowsay/say"
        answer = wait_for(lambda: _try_get(url), 30, f"{url} to answer")
        assert answer.startswith("Hello kubelab! | Running on: ")
        assert answer.split("Running on: ")[1].split(" |")[0] in pods
    kubectl("delete", "service", "cowweb")
    wait_for(lambda: all(_try_get(f"http://{ip}/") is None for ip in ips), 30, "port 80 to close with the Service")


UDP_ECHO = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: udp-echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: udp-echo}}
  template:
    metadata: {labels: {app: udp-echo}}
    spec:
      containers:
      - name: echo
        image: kubelab/debian
        command:
        - python3
        - -c
        - |
          import os, socket
          s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
          s.bind(("", 5353))
          while True:
              d, a = s.recvfrom(9000)
              s.sendto(os.uname().nodename.encode() + b":" + d, a)
        ports: [{containerPort: 5353, protocol: UDP}]
---
apiVersion: v1
kind: Service
metadata: {name: udp-echo}
spec:
  selector: {app: udp-echo}
  ports: [{name: echo, port: 53, targetPort: 5353, protocol: UDP}]
"""

# From a pod: a new UDP socket per question (a new session each time), to the Service's DNS name.
UDP_ASK = """
import socket
for i in range(6):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"q%d" % i, ("udp-echo", 53))
    print(s.recvfrom(9000)[0].decode())
"""


def test_udp_service_by_name_reaches_every_pod(services: dict[str, Any]) -> None:
    apply(UDP_ECHO)
    pods = ready_pods("app=udp-echo", 2)

    def answers() -> list[str] | None:
        p = kubectl("exec", "bastion", "--", "python3", "-c", UDP_ASK, check=False, timeout=30)
        return p.stdout.split() if p.returncode == 0 else None
    got = wait_for(answers, 60, "answers from udp-echo:53")
    assert [a.split(":", 1)[1] for a in got] == [f"q{i}" for i in range(6)]
    assert {a.split(":")[0] for a in got} == set(pods)     # both pods answered


def test_the_kubernetes_service_leads_to_the_apiserver(services: dict[str, Any]) -> None:
    """`kubernetes` (10.96.0.1:443) has the apiserver's HTTPS port as its Endpoints, as in Kubernetes; a pod's
    connection there is accepted."""
    row = kubectl("get", "endpoints", "kubernetes", namespace="default").stdout.splitlines()[1].split()
    assert row[0] == "kubernetes" and row[1].endswith(":8443"), row
    p = kubectl("exec", "bastion", "--", "bash", "-c", "exec 3<>/dev/tcp/10.96.0.1/443 && echo open",
                check=False, timeout=30)
    assert p.stdout.strip() == "open", p.stdout + p.stderr


def test_seed_001_curl_installed_in_an_nginx_pod_reaches_localhost(services: dict[str, Any]) -> None:
    """root@my-first-pod:/# apt update && apt install -y curl; curl -i localhost:80 -> HTTP/1.1 200 OK."""
    pod = services["web"][0]
    p = kubectl("exec", pod, "--", "/bin/bash", "-c", "apt update && apt install -y curl && curl -i localhost:80",
                timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-1500:] + p.stderr[-1500:]
    assert "HTTP/1.1 200 OK" in p.stdout and "Server: nginx/" in p.stdout and PAGE in p.stdout
