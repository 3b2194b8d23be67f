"""Each component's credential is readable only by it: a node keeps its own as kubeadm does, a kubeconfig at
/etc/kubernetes/kubelet.conf, which its kubelet reads; the scheduler has its token and nobody else's."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from .conftest import docker, kubectl

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _in(container: str, *cmd: str, check: bool = True) -> Any:
    return docker("exec", container, *cmd, check=check, timeout=240)


def test_a_node_keeps_its_credential_in_kubelet_conf_and_its_kubelet_uses_it(lab: dict[str, Any]) -> None:
    conf = yaml.safe_load(_in("kubelab-node1", "cat", "/etc/kubernetes/kubelet.conf").stdout)
    context = next(c for c in conf["contexts"] if c["name"] == conf["current-context"])["context"]
    assert context["user"] == "system:node:node1"
    cluster = next(c for c in conf["clusters"] if c["name"] == context["cluster"])["cluster"]
    assert cluster["server"] == "https://apiserver:8443"
    assert cluster["certificate-authority-data"]
    # Whoever holds the file is node1 to the apiserver (the CLI inside the node reads $KUBECONFIG, as the
    # kubelet does).
    who = _in("kubelab-node1", "kubelab", "auth", "whoami").stdout
    assert "system:node:node1" in who, who
    # The kubelet has no other credential: no token in its environment, no shared secrets directory.
    env = docker("inspect", "kubelab-node1", "--format", "{{json .Config.Env}}").stdout
    assert "KUBELAB_TOKEN" not in env and "KUBECONFIG=/etc/kubernetes/kubelet.conf" in env
    assert _in("kubelab-node1", "ls", "/secrets", check=False).returncode != 0
    # ...and it is the kubelet that keeps node1 Ready: its heartbeats authenticate with that file.
    nodes = kubectl("get", "nodes", namespace=None).stdout
    assert any(line.split()[:2] == ["node1", "Ready"] for line in nodes.splitlines()), nodes
    # node2 holds node2's, not node1's.
    token1 = next(u for u in conf["users"] if u["name"] == "system:node:node1")["user"]["token"]
    conf2 = _in("kubelab-node2", "cat", "/etc/kubernetes/kubelet.conf").stdout
    assert token1 not in conf2 and "system:node:node2" in conf2


def test_the_scheduler_cannot_read_the_controller_managers_token(lab: dict[str, Any]) -> None:
    cm_token = _in("kubelab-controller-manager", "cat", "/secrets/controller-manager.token").stdout.strip()
    assert cm_token
    assert _in("kubelab-scheduler", "ls", "/secrets").stdout.split() == ["scheduler.token"]
    assert _in("kubelab-scheduler", "cat", "/secrets/controller-manager.token", check=False).returncode != 0
    # Nowhere in the scheduler's file system (grep exits 1 when it finds nothing).
    found = _in("kubelab-scheduler", "grep", "-rlsF", "--exclude-dir=proc", "--exclude-dir=sys",
                "--exclude-dir=dev", "-e", cm_token, "/", check=False)
    assert found.returncode == 1 and not found.stdout.strip(), f"found in: {found.stdout}"
    # Nor in a node's.
    found = _in("kubelab-node1", "grep", "-rlsF", "--exclude-dir=proc", "--exclude-dir=sys",
                "--exclude-dir=dev", "-e", cm_token, "/etc", "/root", "/tmp", check=False)
    assert found.returncode == 1, f"found in: {found.stdout}"
