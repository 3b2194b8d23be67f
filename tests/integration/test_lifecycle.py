"""Components' process life cycle on a real control plane (`cluster up --local`: etcd and apiserver).

SIGTERM stops a component cleanly (status 0); a stopping leader gives its Lease back so a standby takes
over well before the lease would expire; a leader that loses its Lease ends with one log line (status 1),
not a traceback. kubelab.serving's own behaviour (second signal, grace period) is tests/unit's.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kubelab import errors, timeutil
from kubelab.client import Client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def spawn(cluster: dict[str, Any], module: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KUBELAB_SERVER": cluster["server"], "KUBELAB_TOKEN": cluster["token"]}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


async def holder(client: Client, name: str) -> str:
    try:
        return (await client.get("Lease", name, "kube-system")).spec.holder_identity
    except errors.NotFound:
        return ""


async def wait_holder(client: Client, name: str, pids: set[int], timeout: float) -> int:
    """The pid of the replica holding the lease (identities are host_pid_random), once one of `pids` does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = await holder(client, name)
        if h and int(h.split("_")[-2]) in pids:
            return int(h.split("_")[-2])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no holder of lease {name} among {pids} within {timeout}s (holder: {h!r})")


async def exited(p: subprocess.Popen[bytes], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if p.returncode is None:
        p.kill()
        raise AssertionError(f"pid {p.pid} still running {timeout}s later")
    return p.returncode


def stop_all(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


SCHEDULER = ("scheduler.main", ["--lease-name", "{lease}", "--lease-duration", "20"])
CONTROLLER_MANAGER = ("controller_manager.main", ["--leader-elect-resource-name", "{lease}",
                      "--leader-elect-lease-duration", "20", "--leader-elect-renew-deadline", "10",
                      "--leader-elect-retry-period", "0.5", "--controllers", "namespace"])


@pytest.mark.parametrize("component", [SCHEDULER, CONTROLLER_MANAGER], ids=["scheduler", "controller-manager"])
async def test_sigterm_releases_the_lease_and_the_standby_takes_it_at_once(
        local_cluster: dict[str, Any], client: Client, tmp_path: Path, component: tuple[str, list[str]]) -> None:
    module, args = component
    lease = f"handover-{module.split('.')[0].replace('_', '-')}"
    args = ["-v", *(a.format(lease=lease) for a in args)]
    first = spawn(local_cluster, module, args, tmp_path / "first.log")
    second = spawn(local_cluster, module, args, tmp_path / "second.log")
    try:
        leader = await wait_holder(client, lease, {first.pid, second.pid}, 30)
        leading, standby = (first, second) if leader == first.pid else (second, first)
        await asyncio.sleep(1.0)          # the standby has tried and found the lease held
        t0 = time.monotonic()
        leading.send_signal(signal.SIGTERM)
        assert await exited(leading, 20) == 0
        assert await wait_holder(client, lease, {standby.pid}, 15) == standby.pid
        took = time.monotonic() - t0
        assert took < 8, f"the standby took {took:.1f}s: the lease (20s) was waited out, not released"
        text = (tmp_path / ("first.log" if leading is first else "second.log")).read_text()
        assert "released lease" in text and "Traceback" not in text
    finally:
        stop_all(first, second)


async def steal(client: Client, name: str, stop: asyncio.Event) -> None:
    """Take the lease over and keep it fresh, as a replica that believes the holder gone would."""
    while not stop.is_set():
        try:
            lease = await client.get("Lease", name, "kube-system")
            lease.spec.holder_identity = "thief"
            lease.spec.renew_time = timeutil.now_str()
            await client.update(lease)
        except (errors.Conflict, errors.NotFound):
            pass
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("module,args", [
    ("scheduler.main", ["--lease-name", "lost-scheduler", "--lease-duration", "3"]),
    ("controller_manager.main", ["--leader-elect-resource-name", "lost-controller-manager",
                                 "--leader-elect-lease-duration", "3", "--leader-elect-renew-deadline", "2",
                                 "--leader-elect-retry-period", "0.3", "--controllers", "namespace"]),
], ids=["scheduler", "controller-manager"])
async def test_losing_the_lease_ends_the_process_with_one_log_line(
        local_cluster: dict[str, Any], client: Client, tmp_path: Path, module: str, args: list[str]) -> None:
    lease = args[1]
    p = spawn(local_cluster, module, args, tmp_path / "out.log")
    stop = asyncio.Event()
    try:
        await wait_holder(client, lease, {p.pid}, 30)
        thief = asyncio.create_task(steal(client, lease, stop))
        assert await exited(p, 20) == 1
        stop.set()
        await thief
        lines = (tmp_path / "out.log").read_text().splitlines()
        assert "Traceback" not in "\n".join(lines)
        lost = [line for line in lines if "lost leadership" in line]
        assert len(lost) == 1 and lost[0].endswith(f"lost leadership of kube-system/{lease}"), lines
    finally:
        stop.set()
        stop_all(p)


@pytest.mark.parametrize("module,args,ready", [
    ("dns.main", ["-v", "--listen", "127.0.0.1:0", "--upstream", "none"], "cluster DNS for"),
    ("proxy.main", ["-v", "--no-cluster-ips", "--bind-address", "127.0.0.1", "--no-exit-on-lost-network",
                    "--node-name", "lifecycle-node"], "proxy on node lifecycle-node"),
], ids=["dns", "proxy"])
async def test_sigterm_stops_a_serving_component_with_status_0(
        local_cluster: dict[str, Any], tmp_path: Path, module: str, args: list[str], ready: str) -> None:
    log = tmp_path / "out.log"
    p = spawn(local_cluster, module, args, log)
    try:
        deadline = time.monotonic() + 30
        while ready not in log.read_text() and time.monotonic() < deadline:
            assert p.poll() is None, log.read_text()
            await asyncio.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        assert await exited(p, 20) == 0
        text = log.read_text()
        assert "SIGTERM: shutting down" in text and "Traceback" not in text
    finally:
        stop_all(p)


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] == "Z"      # a zombie has exited
    except FileNotFoundError:
        return True


async def _serving(port: int, p: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert p.poll() is None, log.read_text()
        if log.read_text().count("apiserver serving on port") >= 2:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(log.read_text())


@pytest.mark.parametrize("how", ["sigterm", "sigint-to-the-group", "sigkill"])
async def test_apiserver_workers_stop_once_and_never_outlive_the_parent(
        local_cluster: dict[str, Any], tmp_path: Path, how: str) -> None:
    """--workers 2: a signal to the parent (or to its whole group, as Ctrl-C sends) stops each worker once,
    gracefully (not as a second signal would); a SIGKILLed parent takes its workers with it."""
    from lab.local import free_port
    port = free_port()
    log = tmp_path / "apiserver.log"
    tls = local_cluster["etcd_tls"]        # etcd answers only the apiserver's client certificate
    p = spawn(local_cluster, "apiserver.main", ["-v", "--listen", f"127.0.0.1:{port}", "--etcd-servers",
                                                local_cluster["etcd"], "--etcd-cafile", tls["ca_file"],
                                                "--etcd-certfile", tls["cert_file"], "--etcd-keyfile", tls["key_file"],
                                                "--token", "t", "--workers", "2"], log)
    try:
        await _serving(port, p, log)
        workers = _children(p.pid)
        assert len(workers) == 2
        if how == "sigkill":
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            deadline = time.monotonic() + 10
            while not all(_gone(w) for w in workers) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert all(_gone(w) for w in workers)
            return
        if how == "sigterm":
            p.send_signal(signal.SIGTERM)
        else:
            os.killpg(p.pid, signal.SIGINT)
        assert await exited(p, 30) == 0
        text = log.read_text()
        assert text.count("shutting down (a second signal exits at once)") == 2
        assert "exiting now" not in text and "Traceback" not in text
    finally:
        stop_all(p)


async def test_an_apiserver_on_a_port_in_use_refuses_to_start_and_the_owner_keeps_it(
        local_cluster: dict[str, Any], tmp_path: Path) -> None:
    """A second apiserver told to listen where the cluster's serves (its gRPC port, then its HTTPS port) ends
    at once with one line saying so, as kube-apiserver does: it never shares the port (SO_REUSEPORT is for
    --workers only), which would send part of the cluster's connections to a stranger holding other
    certificates. The cluster's apiserver keeps answering every call."""
    from lab.local import free_port
    tls = local_cluster["etcd_tls"]
    etcd = ["--etcd-servers", local_cluster["etcd"], "--etcd-cafile", tls["ca_file"],
            "--etcd-certfile", tls["cert_file"], "--etcd-keyfile", tls["key_file"], "--token", "t"]
    https_port = int(local_cluster["https"].rsplit(":", 1)[1])
    pki = Path(local_cluster["state_dir"]) / "pki"
    certs = ["--tls-cert-file", str(pki / "apiserver.crt"),
             "--tls-private-key-file", str(pki / "apiserver.key")]
    for what, args, taken in (
            ("gRPC", ["--listen", local_cluster["server"]], local_cluster["server"]),
            ("HTTPS", ["--listen", f"127.0.0.1:{free_port()}", "--secure-port", str(https_port), *certs],
             f"127.0.0.1:{https_port}")):
        log = tmp_path / f"apiserver-{what}.log"
        p = spawn(local_cluster, "apiserver.main", [*args, *etcd], log)
        try:
            assert await exited(p, 30) == 1, f"{what}: {log.read_text()}"
        finally:
            stop_all(p)
        text = log.read_text()
        assert f"failed to listen on {taken}" in text and "Traceback" not in text, text
    async with Client(local_cluster["server"], local_cluster["token"]) as c:
        for _ in range(20):                 # had the port been shared, some of these would reach the stranger
            await c.list("Namespace")
