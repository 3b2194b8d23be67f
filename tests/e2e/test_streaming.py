"""logs, exec, port-forward and proxy: CLI → apiserver → kubelet → container."""
from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import subprocess
import time
import urllib.request
from typing import Any, Iterator

import pytest

from lab.local import free_port

from .conftest import NAMESPACE, apply, kubectl, kubectl_argv, unique, wait_running_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NAMES = {k: unique(k) for k in ("counter", "shell", "hello")}
MANIFESTS = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['counter']}, labels: {{app: counter}}}}
spec:
  containers:
  - name: count
    image: kubelab/busybox
    command: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.3; done"]
  - name: side
    image: kubelab/busybox
    command: ["sh", "-c", "echo side says hi; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['shell']}}}
spec:
  containers:
  - name: sh
    image: kubelab/busybox
    command: ["sleep", "3600"]
    env: [{{name: GREETING, value: hello-env}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: {NAMES['hello']}, labels: {{app: hello}}}}
spec:
  containers:
  - name: hello
    image: kubelab/hello:v1
    ports: [{{containerPort: 8080}}]
"""


@pytest.fixture(scope="module")
def pods(lab: dict[str, Any]) -> dict[str, str]:
    apply(MANIFESTS)
    for name in NAMES.values():
        wait_running_ready(name)
    return NAMES


def _read_until(proc: subprocess.Popen[bytes], pattern: bytes, timeout: float) -> bytes:
    assert proc.stdout is not None
    buf = b""
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            if re.search(pattern, buf):
                return buf
    raise AssertionError(f"{pattern!r} not seen within {timeout}s; got {buf[-500:]!r}")


@contextlib.contextmanager
def running(*args: str, namespace: str | None = NAMESPACE) -> Iterator[subprocess.Popen[bytes]]:
    """`kubelab ARGS` in the background (logs -f, port-forward, proxy), stopped after the block."""
    proc = subprocess.Popen(kubectl_argv(*args, namespace=namespace), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_logs_follow_streams_new_lines(pods: dict[str, str]) -> None:
    with running("logs", "-f", pods["counter"], "-c", "count", "--tail", "1") as proc:
        first = _read_until(proc, rb"line \d+\n", 15)
        n0 = int(re.findall(rb"line (\d+)", first)[-1])
        later = _read_until(proc, rb"line %d\n" % (n0 + 5), 15)     # five new lines arrive while we follow
        assert later


def test_logs_flags(pods: dict[str, str]) -> None:
    name = pods["counter"]
    tail = kubectl("logs", name, "-c", "count", "--tail", "3").stdout.splitlines()
    assert len(tail) == 3 and all(line.startswith("line ") for line in tail)
    ts = kubectl("logs", name, "-c", "count", "--tail", "1", "--timestamps").stdout
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d+$", ts.strip())
    # two containers, no -c: the first, with kubectl's notice
    p = kubectl("logs", name, "--tail", "1")
    assert "line" in p.stdout and 'Defaulted container "count"' in p.stderr
    both = kubectl("logs", name, "--all-containers", "--prefix", "--tail", "1").stdout
    assert f"[pod/{name}/side] side says hi" in both and f"[pod/{name}/count] line" in both
    by_label = kubectl("logs", "-l", "app=counter", "-c", "side").stdout
    assert "side says hi" in by_label
    missing = kubectl("logs", name, "-c", "count", "--previous", check=False)
    assert missing.returncode != 0 and "previous terminated container" in missing.stderr


def test_exec_command_env_and_exit_code(pods: dict[str, str]) -> None:
    name = pods["shell"]
    env = kubectl("exec", name, "--", "env").stdout
    assert "GREETING=hello-env" in env and f"HOSTNAME={name}" in env
    old_form = kubectl("exec", name, "env").stdout          # the seeds' `kubectl exec POD env`
    assert "GREETING=hello-env" in old_form
    p = kubectl("exec", name, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n" and "err\n" in p.stderr and "command terminated with exit code 3" in p.stderr
    piped = kubectl("exec", "-i", name, "--", "tr", "a-z", "A-Z", input="shout\n").stdout
    assert piped == "SHOUT\n"


def test_exec_into_a_container_the_pod_does_not_have_says_so_with_input_waiting(pods: dict[str, str]) -> None:
    """The kubelet's refusal, not a transport error: the CLI holds its input until the kubelet accepts."""
    for _ in range(3):
        p = kubectl("exec", "-i", pods["shell"], "-c", "nope", "--", "cat", input="x" * 200_000, check=False)
        assert p.returncode == 1
        assert f"container nope is not valid for pod {pods['shell']}" in p.stderr, p.stderr


def test_exec_it_sh_under_a_pty(pods: dict[str, str]) -> None:
    name = pods["shell"]
    pid, fd = pty.fork()
    if pid == 0:   # the child: the CLI on a real terminal
        os.execvp(kubectl_argv()[0], kubectl_argv("exec", "-it", name, "--", "sh"))
    buf = b""

    def read_until(pattern: bytes, timeout: float = 15) -> bytes:
        nonlocal buf
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    buf += os.read(fd, 4096)
                except OSError:
                    break
                if re.search(pattern, buf):
                    return buf
        raise AssertionError(f"{pattern!r} not seen; got {buf[-400:]!r}")
    try:
        read_until(rb"# ")                                   # the shell's prompt
        os.write(fd, b"echo $((6*7)); tty\r")
        read_until(rb"42\r\n/dev/pts/\d+")                  # a real tty inside; \r\n from the remote pty
        os.write(fd, b"exit 7\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_port_forward_then_a_request(pods: dict[str, str]) -> None:
    name = pods["hello"]
    port = free_port()
    with running("port-forward", f"pod/{name}", f"{port}:8080") as proc:
        _read_until(proc, rb"Forwarding from 127.0.0.1:%d -> 8080" % port, 20)
        for _ in range(2):     # two connections through one forward
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read().decode()
            assert body.strip() == f"Hello kubelab! | Running on: {name} | v=1"


@contextlib.contextmanager
def kubelab_proxy() -> Iterator[int]:
    """`kubelab proxy --port P` running in the background (seeds 002, 004); yields P."""
    port = free_port()
    with running("proxy", "--port", str(port), namespace=None) as proc:
        _read_until(proc, rb"Starting to serve on 127.0.0.1:%d" % port, 20)
        yield port


def test_proxy_serves_version_and_the_pod_proxy_url(pods: dict[str, str]) -> None:
    name = pods["hello"]
    with kubelab_proxy() as port:
        version = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10).read())
        assert version["major"] and version["gitVersion"].startswith("v")
        url = f"http://127.0.0.1:{port}/api/v1/namespaces/{NAMESPACE}/pods/{name}/proxy/"
        body = urllib.request.urlopen(url, timeout=10).read().decode()
        assert body.strip() == f"Hello kubelab! | Running on: {name} | v=1"
        # Seeds 002 and 004 type the pre-1.10 form.
        legacy = f"http://127.0.0.1:{port}/api/v1/proxy/namespaces/{NAMESPACE}/pods/{name}/"
        assert urllib.request.urlopen(legacy, timeout=10).read().decode() == body
        pod = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/namespaces/{NAMESPACE}/pods/{name}", timeout=10).read())
        assert pod["metadata"]["name"] == name and pod["status"]["phase"] == "Running"


def test_run_i_rm_pipes_stdin_to_a_throwaway_pod_and_deletes_it(lab: dict[str, Any]) -> None:
    """`kubectl run -i --rm --restart=Never`: stdin reaches the container's own process (attach, stdinOnce),
    its output comes back, the pod is deleted after, and the container's exit code is the command's."""
    name = unique("run-i")
    p = kubectl("run", "-i", "--rm", name, "--image=kubelab/busybox", "--restart=Never", "--", "tr", "a-z", "A-Z",
                input="hello\nworld\n", timeout=120)
    assert p.stdout == f'HELLO\nWORLD\npod "{name}" deleted from {NAMESPACE} namespace\n'
    gone = kubectl("get", "pod", name, check=False)
    assert gone.returncode != 0 or "Terminating" in gone.stdout

    failing = unique("run-fail")
    p = kubectl("run", "-i", "--rm", failing, "--image=kubelab/busybox", "--restart=Never", "--",
                "sh", "-c", "echo said; exit 3", input="", timeout=120, check=False)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert "said\n" in p.stdout and f'pod "{failing}" deleted from {NAMESPACE} namespace' in p.stdout
    assert f"pod {NAMESPACE}/{failing} terminated (Error)" in p.stderr


def test_attach_to_a_running_container_relays_its_stdio(lab: dict[str, Any]) -> None:
    name = unique("attach")
    kubectl("run", name, "--image=kubelab/busybox", "-i", "--attach=false", "--", "tr", "a-z", "A-Z")
    wait_running_ready(name)
    proc = subprocess.Popen(kubectl_argv("attach", "-i", name), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"attached\n")
        proc.stdin.flush()
        assert b"ATTACHED\n" in _read_until(proc, rb"ATTACHED\n", 30)
    finally:
        proc.terminate()
        proc.wait(10)
    completed = unique("attach-done")
    kubectl("run", completed, "--image=kubelab/busybox", "--restart=Never", "--", "true")
    deadline = time.monotonic() + 60
    while kubectl("get", "pod", completed, "-o", "jsonpath={.status.phase}").stdout != "Succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    p = kubectl("attach", completed, check=False)
    assert p.returncode == 1
    assert p.stderr == "error: cannot attach a container in a completed pod; current phase is Succeeded\n"
