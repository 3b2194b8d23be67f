"""The local launcher: etcd and the control plane as processes on loopback.

`kubelab cluster up --local` and the integration tests and benchmarks use
this: no Docker, real etcd (from PATH), real component processes, real
sockets. State (pids, tokens, logs, etcd data) lives in one directory so
`cluster down --local` can stop exactly what was started.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubelab import config as kubeconfig

CONTEXT = "kubelab-local"


def default_state_dir() -> Path:
    return Path(os.environ.get("KUBELAB_LOCAL_STATE", Path.home() / ".kubelab" / "local"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class LauncherError(Exception):
    pass


def _record(state: Path, name: str, argv: list[str], env: dict[str, str]) -> None:
    """Remember how each component was started, so it can be restarted alike."""
    path = state / "commands.json"
    commands = json.loads(path.read_text()) if path.exists() else {}
    commands[name] = {"argv": argv, "env": env}
    path.write_text(json.dumps(commands, indent=2))


def restart_component(name: str, state_dir: Path | None = None, grace: float = 10.0) -> int:
    """Stop one component (SIGTERM, then SIGKILL) and start it again with the same command."""
    state = (state_dir or default_state_dir()).resolve()
    info = state_of(state)
    if info is None:
        raise LauncherError(f"no local cluster in {state}")
    commands = json.loads((state / "commands.json").read_text())
    if name in info["pids"]:
        _stop({name: info["pids"][name]}, grace)
    cmd = commands[name]
    info["pids"][name] = _spawn(name, cmd["argv"], state, cmd["env"])
    (state / "state.json").write_text(json.dumps(info, indent=2))
    return int(info["pids"][name])


def _spawn(name: str, argv: list[str], state: Path, env: dict[str, str] | None = None) -> int:
    _record(state, name, argv, env or {})
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **(env or {})})
    out.close()
    return proc.pid


def _wait_port(port: int, pid: int, name: str, state: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            log = (state / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
            raise LauncherError(f"{name} exited during start-up:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LauncherError(f"{name} did not open port {port} within {timeout:.0f}s")


async def _wait_api(server: str, token: str, timeout: float = 30.0) -> None:
    from kubelab.client import Client
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    async with Client(server, token, retries=0) as c:
        while time.monotonic() < deadline:
            try:
                await c.version()
                return
            except Exception as e:  # noqa: BLE001 - not up yet
                last = e
                await asyncio.sleep(0.1)
    raise LauncherError(f"apiserver at {server} did not answer: {last}")


def _component_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _python(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def state_of(state_dir: Path | None = None) -> dict[str, Any] | None:
    path = (state_dir or default_state_dir()) / "state.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


async def up_local(hollow_nodes: int = 0, state_dir: Path | None = None, write_kubeconfig: bool = True,
                   components: tuple[str, ...] = ("scheduler", "controller-manager"),
                   extra_args: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Start etcd, the apiserver (and what else exists) locally; return their addresses and pids."""
    state = (state_dir or default_state_dir()).resolve()
    existing = state_of(state)
    if existing and any(_alive(p) for p in existing["pids"].values()):
        raise LauncherError(f"a local cluster is already running from {state} "
                            f"(stop it with `kubelab cluster down --local`)")
    etcd = shutil.which("etcd")
    if etcd is None:
        raise LauncherError("etcd is not on PATH (on Debian: apt-get install etcd-server)")
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    extra = extra_args or {}
    token, kubelet_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    (state / "token").write_text(token)
    (state / "kubelet-token").write_text(kubelet_token)
    os.chmod(state / "token", 0o600)
    os.chmod(state / "kubelet-token", 0o600)
    etcd_port, peer_port, api_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    https_port = free_port()
    crt, key, ca_pem = kubeconfig.apiserver_certificates(state / "pki", "10.96.0.1")
    pids: dict[str, int] = {}
    info: dict[str, Any] = {"state_dir": str(state), "pids": pids, "token": token,
                            "server": f"127.0.0.1:{api_port}", "etcd": f"127.0.0.1:{etcd_port}",
                            "apiserver_metrics": f"http://127.0.0.1:{metrics_port}/metrics",
                            "https": f"https://127.0.0.1:{https_port}", "ca_file": str(state / "pki" / "ca.crt")}

    def save() -> None:
        (state / "state.json").write_text(json.dumps(info, indent=2))

    try:
        pids["etcd"] = _spawn("etcd", [
            etcd, "--name", "local", "--data-dir", str(state / "etcd-data"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"local=http://127.0.0.1:{peer_port}",
            "--quota-backend-bytes", str(4 * 1024 ** 3),
            *extra.get("etcd", [])], state)
        save()
        _wait_port(etcd_port, pids["etcd"], "etcd", state)
        pids["apiserver"] = _spawn("apiserver", _python("apiserver.main") + [
            "--listen", info["server"], "--etcd-servers", info["etcd"],
            "--token-file", str(state / "token"), "--kubelet-token-file", str(state / "kubelet-token"),
            "--metrics-address", f"127.0.0.1:{metrics_port}", "--secure-port", str(https_port),
            "--tls-cert-file", str(crt), "--tls-private-key-file", str(key), *extra.get("apiserver", [])], state)
        save()
        await _wait_api(info["server"], token)
        env = {"KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": token}
        for comp in components:
            module = comp.replace("-", "_") + ".main"
            if _component_available(module):
                pids[comp] = _spawn(comp, _python(module) + ["-v"] + extra.get(comp, []), state, env)
        if hollow_nodes:
            if not _component_available("kubelet.hollow"):
                raise LauncherError("hollow nodes are not available in this build")
            pids["hollow-nodes"] = _spawn("hollow-nodes", _python("kubelet.hollow") + [
                "--nodes", str(hollow_nodes), *extra.get("hollow-nodes", [])], state,
                {**env, "KUBELAB_KUBELET_TOKEN": kubelet_token})
        save()
    except BaseException:
        _stop(pids)
        raise
    if write_kubeconfig:
        cfg = kubeconfig.load()
        kubeconfig.set_cluster(cfg, CONTEXT, info["server"], token)
        kubeconfig.save(cfg)
        info["kubeconfig"] = str(kubeconfig.write_kube_context(info["https"], ca_pem, token, info["server"]))
    return info


def _stop(pids: dict[str, int], grace: float = 10.0) -> list[str]:
    """SIGTERM each process group, in reverse start order; SIGKILL what outlives the grace."""
    stopped = []
    for name, pid in reversed(list(pids.items())):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            continue
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        stopped.append(name)
    return stopped


def stop_component(name: str, state_dir: Path | None = None, sig: int = signal.SIGKILL) -> None:
    """Kill one component (tests use it to simulate a crash)."""
    info = state_of(state_dir)
    if info and name in info["pids"]:
        try:
            os.killpg(info["pids"][name], sig)
        except ProcessLookupError:
            pass


def down_local(state_dir: Path | None = None, remove_context: bool = True) -> list[str]:
    state = state_dir or default_state_dir()
    info = state_of(state)
    if info is None:
        return []
    stopped = _stop(info["pids"])
    shutil.rmtree(Path(info["state_dir"]) / "etcd-data", ignore_errors=True)
    (Path(info["state_dir"]) / "state.json").unlink(missing_ok=True)
    if remove_context:
        cfg = kubeconfig.load()
        if any(c.get("name") == CONTEXT for c in cfg["contexts"]):
            for key in ("clusters", "users", "contexts"):
                cfg[key] = [c for c in cfg[key] if c.get("name") != CONTEXT]
            if cfg.get("current-context") == CONTEXT:
                cfg["current-context"] = ""
            kubeconfig.save(cfg)
        kubeconfig.remove_kube_context()
    return stopped
