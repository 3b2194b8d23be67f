"""`kubelab cluster up|down --local` as a hostile neighbour on the same machine would try it.

Credentials on disk (0600 files in a 0700 directory, all gone after `down`), etcd that answers only the
apiserver's client certificate, and a `down` that never signals a process it did not start.
Each test starts its own cluster (etcd and the apiserver only: a few seconds).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from aetcd import rpc

from lab import local as launcher

from .conftest import etcd_storage, kubeconfig_in, need_etcd, open_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    need_etcd()
    with kubeconfig_in(tmp_path):
        info = asyncio.run(launcher.up_local(state_dir=tmp_path / "state", components=()))
        info["state_path"] = tmp_path / "state"
        try:
            yield info
        finally:
            try:
                launcher.down_local(tmp_path / "state")
            except launcher.LauncherError:
                # A test left a record pointing elsewhere: stop what up_local started, by the pids it returned.
                for rec in info["procs"].values():
                    try:
                        os.killpg(int(rec["pid"]), signal.SIGKILL)
                    except ProcessLookupError:
                        pass


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _kubelab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubectl", *args], capture_output=True, text=True, timeout=60)


# ---------------------------------------------------------------- tokens and keys on disk
def test_every_credential_is_private_and_removed_by_down(cluster: dict[str, Any]) -> None:
    state = Path(cluster["state_path"])
    credentials = [state / n for n in ("token", "kubelet-token", "state.json", "commands.json")]
    credentials += sorted((state / "pki").glob("*.key"))
    assert len(credentials) >= 7, credentials
    assert cluster["token"] in (state / "commands.json").read_text() or \
        cluster["token"] in (state / "state.json").read_text()
    assert _mode(state) == 0o700
    assert _mode(state / "pki") == 0o700
    for path in credentials:
        assert _mode(path) == 0o600, f"{path.name} is {oct(_mode(path))}"
    launcher.down_local(state)
    left = [p.name for p in credentials if p.exists()]
    assert left == [], f"left after down: {left}"
    assert not (state / "pki").exists()
    assert not (state / "etcd-data").exists()


# ---------------------------------------------------------------- etcd answers only the apiserver
def test_etcdctl_without_a_client_certificate_is_refused(cluster: dict[str, Any]) -> None:
    etcdctl = shutil.which("etcdctl")
    assert etcdctl, "etcdctl is not on PATH (Debian: etcd-client)"
    env = {**os.environ, "ETCDCTL_API": "3"}
    base = [etcdctl, "--dial-timeout=3s", "--command-timeout=5s"]
    # A refused call is retried by etcdctl until its command timeout: 2 s, not 5, for the two that must fail
    # (a get that etcd answered would take milliseconds on loopback).
    refused = [etcdctl, "--dial-timeout=2s", "--command-timeout=2s"]
    plain = subprocess.run(refused + ["--endpoints", f"http://{cluster['etcd']}", "get", "--prefix", "/registry"],
                           capture_output=True, text=True, env=env, timeout=30)
    assert plain.returncode != 0 and "/registry" not in plain.stdout
    tls = cluster["etcd_tls"]
    # Trusting etcd's CA is not enough: etcd asks for a client certificate.
    no_cert = subprocess.run(refused + ["--endpoints", f"https://{cluster['etcd']}", "--cacert", tls["ca_file"],
                                     "get", "--prefix", "/registry"], capture_output=True, text=True, env=env,
                             timeout=30)
    assert no_cert.returncode != 0 and "/registry" not in no_cert.stdout, no_cert.stdout
    with_cert = subprocess.run(base + ["--endpoints", f"https://{cluster['etcd']}", "--cacert", tls["ca_file"],
                                       "--cert", tls["cert_file"], "--key", tls["key_file"],
                                       "get", "--prefix", "/registry", "--keys-only"],
                               capture_output=True, text=True, env=env, timeout=30)
    assert with_cert.returncode == 0 and "/registry/" in with_cert.stdout, with_cert.stderr


async def test_raw_grpc_without_a_client_certificate_is_refused_and_the_apiserver_works(
        cluster: dict[str, Any]) -> None:
    request = rpc.RangeRequest(key=b"/registry/", range_end=b"/registry0", keys_only=True)
    async with grpc.aio.insecure_channel(cluster["etcd"]) as ch:
        with pytest.raises(grpc.aio.AioRpcError):
            await rpc.KVStub(ch).Range(request, timeout=5)
    ca = Path(cluster["etcd_tls"]["ca_file"]).read_bytes()
    async with grpc.aio.secure_channel(cluster["etcd"], grpc.ssl_channel_credentials(ca)) as ch:
        with pytest.raises(grpc.aio.AioRpcError):
            await rpc.KVStub(ch).Range(request, timeout=5)
    s = etcd_storage(cluster)          # the apiserver's certificate: answered
    await s.start()
    try:
        assert await s.current_revision() > 0
    finally:
        await s.close()
    async with open_client(cluster) as c:
        from kubelab.client import new_object
        ns = new_object("Namespace", "tls-check")
        await c.create(ns)
        assert (await c.get("Namespace", "tls-check")).metadata.name == "tls-check"


# ---------------------------------------------------------------- down never signals a stranger
def _stranger() -> subprocess.Popen[bytes]:
    """A process the launcher did not start, in its own session (as a reused pid may well be)."""
    return subprocess.Popen(["sleep", "300"], start_new_session=True)


def test_down_leaves_a_process_that_took_a_recorded_pid_alone_and_says_so(cluster: dict[str, Any]) -> None:
    state = Path(cluster["state_path"])
    stranger = _stranger()
    try:
        info = json.loads((state / "state.json").read_text())
        # The scheduler's recorded pid now belongs to someone else (pid reuse): same pid, another process.
        info["pids"]["scheduler"] = stranger.pid
        info["procs"]["scheduler"] = {"pid": stranger.pid, "start": 1,
                                      "cmdline": [sys.executable, "-m", "scheduler.main", "-v"]}
        (state / "state.json").write_text(json.dumps(info))
        status = _kubelab("cluster", "status", "--state-dir", str(state)).stdout
        assert f"scheduler: pid {stranger.pid} stopped" in status and "apiserver: pid" in status, status
        p = _kubelab("cluster", "down", "--local", "--state-dir", str(state))
        assert p.returncode == 0, p.stderr
        time.sleep(0.2)
        assert stranger.poll() is None, "cluster down killed a process it did not start"
        assert f"not stopped: scheduler: pid {stranger.pid} is now another process (sleep 300): not signalled" \
            in p.stderr, p.stderr
        assert "stopped: apiserver, etcd" in p.stdout
        assert not (state / "etcd-data").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_down_keeps_the_data_of_an_etcd_it_could_not_stop(cluster: dict[str, Any]) -> None:
    state = Path(cluster["state_path"])
    real = dict(cluster["procs"])
    stranger = _stranger()
    try:
        info = json.loads((state / "state.json").read_text())
        # etcd restarted by hand: the recorded pid is a stranger's, the live etcd is not recorded.
        info["pids"]["etcd"] = stranger.pid
        info["procs"]["etcd"] = {**real["etcd"], "pid": stranger.pid}
        (state / "state.json").write_text(json.dumps(info))
        p = _kubelab("cluster", "down", "--local", "--state-dir", str(state))
        assert p.returncode == 1
        assert stranger.poll() is None, "cluster down killed a process it did not start"
        assert f"etcd still answers on {cluster['etcd']}" in p.stderr, p.stderr
        assert f"etcd: pid {stranger.pid} is now another process (sleep 300)" in p.stderr, p.stderr
        assert (state / "etcd-data").is_dir(), "etcd's data was removed under a live etcd"
        assert (state / "state.json").exists()
    finally:
        stranger.kill()
        stranger.wait()
        os.killpg(real["etcd"]["pid"], signal.SIGKILL)
    # Once that etcd is gone, down finishes the job.
    deadline = time.monotonic() + 20
    while launcher._answering(cluster["etcd"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    launcher.down_local(state)
    assert not (state / "etcd-data").exists() and not (state / "state.json").exists()


# ---------------------------------------------------------------- a port taken under the launcher
async def test_a_port_taken_between_picking_and_binding_starts_the_control_plane_again_elsewhere(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ports are free when picked, not reserved: a neighbour (another cluster starting at the same moment) may
    bind one first. The apiserver then refuses to start ("failed to listen on", never sharing the port), and
    `up` starts etcd and the apiserver again on fresh ports; the cluster that comes up is ours alone."""
    import socket
    need_etcd()
    neighbour = socket.socket()
    neighbour.bind(("127.0.0.1", 0))
    neighbour.listen()
    taken = neighbour.getsockname()[1]
    picks = iter([None, None, taken])           # etcd's client and peer ports, then the apiserver's: taken
    real_free_port = launcher.free_port
    monkeypatch.setattr(launcher, "free_port", lambda: next(picks, None) or real_free_port())
    state = tmp_path / "state"
    with kubeconfig_in(tmp_path):
        info = await launcher.up_local(state_dir=state, components=())
        try:
            assert info["server"] != f"127.0.0.1:{taken}"
            assert f"failed to listen on 127.0.0.1:{taken}" in (state / "logs" / "apiserver.log").read_text()
            async with open_client(info) as c:
                assert (await c.version()) is not None
                await c.list("Namespace")
            assert json.loads((state / "state.json").read_text())["server"] == info["server"]
        finally:
            launcher.down_local(state)
            neighbour.close()
