"""`kubelab cluster down` leaves nothing behind (runs last: it removes the session's lab)."""
from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

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
    for network in ("kubelab", "kubelab-control-plane"):
        assert docker("network", "inspect", network, check=False).returncode != 0, f"the {network} network is left"
