"""`kubelab cluster down` leaves nothing behind (runs last: it removes the session's lab).

One thing Docker itself can keep: a network whose endpoint count (libnetwork's, in dockerd's store) is above
the endpoints it holds refuses removal until dockerd starts again (Docker 20.10 miscounts endpoints removed at
once, docs/troubleshooting.md; the kubelets and `down` remove theirs one at a time, but a container dying on
its own is beyond them). The network may be left only then: no endpoint Docker lists or holds, the count read
from dockerd's store (lab/docker_store.py) above them, and `down` saying so."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from lab import docker_store
from tests.harness.manifests import sleeping_pod

from .conftest import apply, docker, unique, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _cluster_down() -> subprocess.CompletedProcess[str]:
    """`kubelab cluster down`, the user's command (kubectl/cluster.py → lab.compose.down)."""
    return subprocess.run([sys.executable, "-m", "kubectl", "cluster", "down"], capture_output=True, text=True,
                          timeout=240)


def test_cluster_down_leaves_no_container_behind(lab: dict[str, Any]) -> None:
    name = unique("leftover")
    apply(sleeping_pod(name, spec="  volumes: [{name: scratch, emptyDir: {}}]\n"))
    wait_running_ready(name)
    assert docker("ps", "-q", "--filter", "label=io.kubelab.node").stdout.strip()
    # The store reader reads the live network: its endpoints name the lab's node containers.
    live = readable_count(docker_store.network_id("kubelab"))
    if live is not None:
        assert {"kubelab-node1", "kubelab-node2", "kubelab-node3"} <= set(live.endpoints), live
    # An endpoint on the lab's network that is none of the lab's containers (as a stale one Docker keeps
    # is): down must force it off, not fail for good with "network kubelab ... has active endpoints".
    stray = unique("kubelab-e2e-stray")
    docker("run", "-d", "--name", stray, "--network", "kubelab", "kubelab/busybox", "sleep", "600")
    try:
        p = _cluster_down()
    finally:
        docker("rm", "-f", stray, check=False)
    assert p.returncode == 0, f"kubelab cluster down failed:\n{p.stdout}\n{p.stderr}"
    for node in ("node1", "node2", "node3"):
        left = docker("ps", "-aq", "--filter", f"label=io.kubelab.node={node}").stdout.strip()
        assert left == "", f"pod containers of {node} left"
    assert docker("ps", "-aq", "--filter", "label=io.kubelab.lab").stdout.strip() == "", "lab containers left"
    for node in ("node1", "node2", "node3"):
        left = docker("volume", "ls", "-q", "--filter", f"label=io.kubelab.node={node}").stdout.strip()
        assert left == "", f"emptyDir volumes of {node} left"
    assert docker("network", "inspect", "kubelab-control-plane", check=False).returncode != 0, \
        "the kubelab-control-plane network is left"
    nid = docker_store.network_id("kubelab")
    if nid:
        kept = readable_count(nid)
        assert kept is not None, (f"the kubelab network is left, and Docker's count of its endpoints cannot be "
                                  f"read to tell whether that is Docker's fault ({docker_store.STORE} is root's)")
        listed = docker("network", "inspect", "-f", "{{json .Containers}}", "kubelab").stdout.strip()
        assert listed in ("{}", "null") and not kept.endpoints and kept.drift > 0, \
            f"the kubelab network is left with endpoints: inspect lists {listed}, Docker's store holds {kept}"
        assert f"Docker counts {kept.count} endpoint(s) on it but holds 0" in p.stderr, p.stderr


def readable_count(nid: str) -> docker_store.EndpointCount | None:
    """Docker's count of the network's endpoints; None when dockerd's store cannot be read (not root)."""
    try:
        return docker_store.endpoint_count(nid)
    except PermissionError:
        return None
