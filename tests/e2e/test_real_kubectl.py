"""The real kubectl drives the lab: kubectl 1.37 (PyPI) and 1.20 (Debian, the seeds' era, SPDY for exec and
port-forward) read the kubeconfig `kubelab cluster up` wrote and talk to the apiserver's HTTPS API, with
real containers behind it. Nothing on the client side is ours."""
from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.local import free_port
from tests import realclients

from .conftest import NAMESPACE, unique, wait_for


@pytest.fixture(scope="module", params=["1.37", "1.20"])
def kubectl(request: pytest.FixtureRequest, lab: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    binary = realclients.kubectl_137() if request.param == "1.37" else realclients.kubectl_120()
    # a copy of the kubeconfig `cluster up` wrote, in a home of its own (kubectl keeps a cache there)
    home = tmp_path_factory.mktemp(f"kubectl-{request.param}")
    config = home / "config"
    config.write_bytes(Path(lab["kube_config"]).read_bytes())

    def run(*args: str, input: bytes | None = None, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
        return realclients.run_kubectl(binary, config, "-n", NAMESPACE, *args, input=input, timeout=timeout)
    run.binary, run.config = binary, config  # type: ignore[attr-defined]
    return run


def ok(r: subprocess.CompletedProcess[bytes]) -> str:
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout.decode()


def test_get_nodes_shows_the_three_ready_nodes(kubectl: Any) -> None:
    out = ok(kubectl("get", "nodes"))
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {"node1": "Ready", "node2": "Ready", "node3": "Ready"}


def test_a_deployment_from_create_to_exec_logs_and_delete(kubectl: Any) -> None:
    name = unique("kc")
    ok(kubectl("create", "deployment", name, "--image=kubelab/hello:v1"))
    ok(kubectl("scale", f"deployment/{name}", "--replicas=2"))
    ok(kubectl("rollout", "status", f"deployment/{name}", "--timeout=120s", timeout=150))
    out = ok(kubectl("get", "deployment", name))
    assert out.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out.splitlines()[1].split()[1:4] == ["2/2", "2", "2"]
    pods = ok(kubectl("get", "pods", "-l", f"app={name}", "-o", "name")).split()
    assert len(pods) == 2
    pod = pods[0].split("/", 1)[1]
    assert ok(kubectl("exec", pod, "--", "echo", "from", "the", "pod")) == "from the pod\n"
    r = kubectl("exec", pod, "--", "sh", "-c", "exit 3")
    assert r.returncode == 3 and b"command terminated with exit code 3" in r.stderr
    assert ok(kubectl("exec", "-i", pod, "--", "cat", input=b"round trip\n")) == "round trip\n"
    ok(kubectl("logs", pod))                     # the hello app's log: present, whatever it says
    ok(kubectl("delete", "deployment", name))
    wait_for(lambda: not ok(kubectl("get", "pods", "-l", f"app={name}", "-o", "name")).split(), 90,
             "the deployment's pods to go")


def test_port_forward_reaches_the_container(kubectl: Any) -> None:
    name = unique("kcpf")
    ok(kubectl("run", name, "--image=kubelab/hello:v1", "--port=8080"))
    ok(kubectl("wait", f"pod/{name}", "--for=condition=Ready", "--timeout=120s", timeout=150))
    local = free_port()
    proc = subprocess.Popen([str(kubectl.binary), "-n", NAMESPACE, "port-forward", f"pod/{name}", f"{local}:8080"],
                            env={"PATH": "/usr/bin:/bin", "KUBECONFIG": str(kubectl.config),
                                 "HOME": str(kubectl.config.parent)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert b"Forwarding from" in line, (line, proc.stderr.read() if proc.poll() is not None else b"")  # type: ignore[union-attr]
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", local), timeout=20) as c:
                c.sendall(b"GET / HTTP/1.0\r\n\r\n")
                got = b""
                while chunk := c.recv(4096):
                    got += chunk
            assert re.search(rb"Running on: " + name.encode() + rb" \| v=1", got), got
    finally:
        proc.terminate()
        proc.wait(10)
        ok(kubectl("delete", "pod", name, "--wait=false"))
