"""A lab restart keeps what was pushed: `kubelab cluster down` then `up`, and the lab registry still serves
an image pushed before (its storage is the external volume kubelab-registry). Runs late (before
test_zz_down): the restart empties etcd, so the e2e namespace is made again afterwards."""
from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from .conftest import NAMESPACE, docker, kubectl, unique, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IMAGE = "localhost:5000/e2e/kept:v1"


def _cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubectl", "cluster", *args], capture_output=True, text=True,
                          timeout=500)


def test_lab_restart_keeps_what_was_pushed(lab: dict[str, Any]) -> None:
    docker("tag", "kubelab/busybox:latest", IMAGE)
    docker("push", IMAGE)
    docker("image", "rm", IMAGE)
    down = _cluster("down")
    assert down.returncode == 0, down.stderr
    assert docker("volume", "inspect", "kubelab-registry", check=False).returncode == 0
    up = _cluster("up")
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n",
            namespace=None)
    assert re.search(r"^localhost:5000/e2e/kept\s+v1$", kubectl("image", "ls", namespace=None).stdout, re.M)
    name = unique("kept")
    kubectl("run", name, f"--image={IMAGE}", "--restart=Never", "--command", "--", "sleep", "3600")
    wait_running_ready(name, timeout=120)
    assert f'Successfully pulled image "{IMAGE}"' in kubectl("describe", "pod", name).stdout
    kubectl("delete", "pod", name, "--wait=false")
