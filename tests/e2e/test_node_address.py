"""A node container put back on the lab network under a new address: the kubelet reports the new one.

`docker network disconnect kubelab kubelab-node3`, then `docker network connect --ip <another address>`
(what happens when a pod was given the node's address while it was off: bench/soak.py's reconnect).
Afterwards, as a user checks it: `kubelab get nodes -o wide` shows node3's new INTERNAL-IP, `kubelab logs`
and `exec` of a pod on node3 work (the apiserver reaches the kubelet at that address), the pod's hostIP
is the new address, and a ClusterIP answers from that pod (its service route goes via the node's new
address). At the end node3 is put back without --ip (a dynamic address, as compose gave it; a pinned one
would break its next `docker start` once a pod holds it), and reports that address.
"""
from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from lab.compose import NETWORK

from .conftest import apply, docker, get_json, kubectl, unique, wait_for, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

NODE = "node3"
CONTAINER = f"kubelab-{NODE}"


def internal_ip(node: str) -> str:
    lines = kubectl("get", "nodes", "-o", "wide", namespace=None).stdout.splitlines()
    col = lines[0].split().index("INTERNAL-IP")
    return next(ln.split()[col] for ln in lines[1:] if ln.split()[0] == node)


def container_ip() -> str:
    raw = json.loads(docker("inspect", CONTAINER).stdout)[0]
    net = raw["NetworkSettings"]["Networks"].get(NETWORK)
    return (net or {}).get("IPAddress", "")


def free_static_address() -> str:
    """An address of the lab network's subnet outside the range Docker hands out, which nothing has."""
    raw = json.loads(docker("network", "inspect", NETWORK).stdout)[0]
    conf = raw["IPAM"]["Config"][0]
    subnet = ipaddress.ip_network(conf["Subnet"])
    pool = ipaddress.ip_network(conf.get("IPRange") or conf["Subnet"])
    taken = {c["IPv4Address"].split("/")[0] for c in (raw.get("Containers") or {}).values()}
    for host in reversed(list(subnet.hosts())[-4000:]):
        if host not in pool and str(host) not in taken:
            return str(host)
    raise AssertionError(f"no free address outside {pool} in {subnet}")


def reconnect(ip: str | None) -> None:
    """Off the network and on again: at `ip` (pinned), or with None a dynamic address as compose gave it. Put
    back pinned, the node would keep that address in its endpoint config: a pod given it while the node is
    stopped later makes `docker start` fail with "Address already in use" (seen in a CI run: node3 never
    came back after test_nodes stopped it)."""
    raw = json.loads(docker("inspect", CONTAINER).stdout)[0]
    net = raw["NetworkSettings"]["Networks"][NETWORK]
    aliases = [a for a in (net.get("Aliases") or []) if a != raw["Id"][:12]]
    docker("network", "disconnect", NETWORK, CONTAINER)
    pin = ["--ip", ip] if ip else []
    docker("network", "connect", *pin, *[x for a in aliases for x in ("--alias", a)], NETWORK, CONTAINER)


def test_a_node_back_on_the_network_under_a_new_address_reports_it(lab: dict[str, Any]) -> None:
    web, client, svc = unique("addr-web"), unique("addr-client"), unique("addr-svc")
    apply(f"""
apiVersion: v1
kind: Pod
metadata: {{name: {web}, labels: {{app: {web}}}}}
spec:
  nodeName: node1
  containers:
  - name: web
    image: kubelab/web
    readinessProbe:
      httpGet: {{path: /, port: 80}}
      periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: {{name: {svc}}}
spec:
  selector: {{app: {web}}}
  ports: [{{port: 8080, targetPort: 80}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: {client}}}
spec:
  nodeName: {NODE}
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: kubelab/busybox
    command: ["sh", "-c", "echo started; exec sleep 3600"]
""")
    wait_running_ready(web, 120)
    wait_running_ready(client, 120)
    cluster_ip = get_json("service", svc)["spec"]["clusterIP"]

    def page() -> str:
        # (this busybox's wget has no -T: the timeout applet bounds it)
        p = kubectl("exec", client, "--", "timeout", "5", "wget", "-q", "-O-", f"http://{cluster_ip}:8080/",
                    check=False, timeout=30)
        if p.returncode != 0 or "nginx" not in p.stdout:       # (wait_for shows the last one)
            raise AssertionError(f"wget exit {p.returncode}: {(p.stdout + p.stderr)[-300:]}")
        return p.stdout

    assert wait_for(page, 60, "the ClusterIP from the pod on node3 before the move")
    first = container_ip()
    assert internal_ip(NODE) == first

    new = free_static_address()
    reconnect(new)
    try:
        assert container_ip() == new
        wait_for(lambda: internal_ip(NODE) == new or None, 60, f"{NODE}'s INTERNAL-IP {new} (was {first})")
        wait_for(lambda: get_json("pod", client)["status"].get("hostIP") == new or None, 60,
                 f"the hostIP {new} of the pod on {NODE}")
        # the apiserver reaches the kubelet at its new address: logs and exec of a pod there
        assert "started" in kubectl("logs", client).stdout
        assert kubectl("exec", client, "--", "echo", "through-the-new-address").stdout.strip() == \
            "through-the-new-address"
        # the pod's service route goes via the node's new address
        assert wait_for(page, 60, "the ClusterIP from the pod on node3 after the move")
        route = kubectl("exec", client, "--", "ip", "route").stdout
        assert f"via {new}" in route and f"via {first}" not in route, route
    finally:
        reconnect(None)
    back = container_ip()
    assert back != new
    wait_for(lambda: internal_ip(NODE) == back or None, 60, f"{NODE}'s INTERNAL-IP back on a dynamic address {back}")
    assert wait_for(page, 60, "the ClusterIP from the pod on node3 back on a dynamic address")
    kubectl("delete", "pod", client, web, "--wait=false")
    kubectl("delete", "service", svc)
