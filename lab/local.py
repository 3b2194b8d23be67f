"""The local launcher: etcd and the control plane as processes on loopback.

`kubelab cluster up --local` and the integration tests and benchmarks use
this: no Docker, real etcd (from PATH), real component processes, real
sockets. State (pids, tokens, certificates, logs, etcd data) lives in one
directory so `cluster down --local` can stop exactly what was started.

Credentials: the state directory is 0700 and every file in it that holds one
(`token`, `kubelet-token`, `state.json` and `commands.json`, which carry the
tokens, `pki/*.key`) is 0600; `down` removes them all (the logs stay).
etcd speaks only TLS and asks for a client certificate (`--client-cert-auth`)
signed by the lab's CA (`lab/pki.py`): only the apiserver holds one.

Stopping: each component's pid is recorded with its start time and command
line (from /proc); `down` signals a pid only while it is still that process
(pids are reused), stops every process before it removes any data, leaves
the data alone when etcd or the apiserver still answer on their ports, and
says what it could not stop.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kubelab import config as kubeconfig
from kubelab.hostport import split_host_port

from . import identities, pki

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


# Files in the state directory that hold a credential (the tokens, or the components' environments carrying
# them), removed by `down` with the pki/ directory.
CREDENTIAL_FILES = ("token", "kubelet-token", "state.json", "commands.json")


def _write_json(path: Path, data: Any) -> None:
    pki.write_private(path, json.dumps(data, indent=2).encode())


def identity(pid: int) -> dict[str, Any] | None:
    """What tells this process from a later one with the same pid: its start time (clock ticks since boot,
    field 22 of /proc/PID/stat) and its command line. None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()     # after "pid (comm)": comm may hold spaces and parentheses
    return {"pid": pid, "start": int(fields[19]), "cmdline": [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]}


def _stranger(record: dict[str, Any]) -> str | None:
    """Why the recorded process must not be signalled (None: it is still the one we started, and alive)."""
    now = identity(int(record["pid"]))
    if now is None or not _alive(int(record["pid"])):
        return "exited"
    if now["start"] != record.get("start") or now["cmdline"] != record.get("cmdline"):
        what = " ".join(now["cmdline"])[:100] or "a kernel thread"
        return f"pid {record['pid']} is now another process ({what}): not signalled"
    return None


def _records(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each component's recorded identity; a pid recorded without one (an older state.json) cannot be verified."""
    procs = info.get("procs", {})
    return {name: procs.get(name, {"pid": pid}) for name, pid in info["pids"].items()}


def _record(state: Path, name: str, argv: list[str], env: dict[str, str]) -> None:
    """Remember how each component was started, so it can be restarted alike (0600: the env holds tokens)."""
    path = state / "commands.json"
    commands = json.loads(path.read_text()) if path.exists() else {}
    commands[name] = {"argv": argv, "env": env}
    _write_json(path, commands)


def restart_component(name: str, state_dir: Path | None = None, grace: float = 10.0) -> int:
    """Stop one component (SIGTERM, then SIGKILL) and start it again with the same command."""
    state = (state_dir or default_state_dir()).resolve()
    info = state_of(state)
    if info is None:
        raise LauncherError(f"no local cluster in {state}")
    commands = json.loads((state / "commands.json").read_text())
    if name in info["pids"]:
        report = _stop({name: _records(info)[name]}, grace)
        if report.not_stopped:
            raise LauncherError(f"{name}: {report.not_stopped[name]}")
    cmd = commands[name]
    record = _spawn(name, cmd["argv"], state, cmd["env"])
    info["pids"][name] = record["pid"]
    info.setdefault("procs", {})[name] = record
    _write_json(state / "state.json", info)
    return int(info["pids"][name])


def _spawn(name: str, argv: list[str], state: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Start one component in its own session (so its group can be signalled); return its identity."""
    _record(state, name, argv, env or {})
    logs = state / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = open(logs / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, **(env or {})})
    out.close()
    # Popen may return before /proc shows the new program (an empty command line while the child is still
    # on its way to exec): read until it shows the one we started.
    deadline = time.monotonic() + 5
    while True:
        ident = identity(proc.pid)
        if ident is None or ident["cmdline"] == argv or time.monotonic() > deadline:
            return ident or {"pid": proc.pid}
        time.sleep(0.005)


class PortTaken(LauncherError):
    """A component found a port we picked already taken: another process bound it between `free_port`
    handing it out and the component binding it (two clusters starting at once)."""


def _exited(name: str, state: Path) -> LauncherError:
    """The error for a component that ended during start-up, with its log's tail."""
    log = (state / "logs" / f"{name}.log").read_text(errors="replace")[-2000:]
    taken = "address already in use" in log.lower() or "failed to listen on" in log
    return (PortTaken if taken else LauncherError)(f"{name} exited during start-up:\n{log}")


def _wait_port(port: int, pid: int, name: str, state: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise _exited(name, state)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise LauncherError(f"{name} did not open port {port} within {timeout:.0f}s")


async def _wait_api(server: str, token: str, pid: int | None = None, state: Path | None = None,
                    timeout: float = 30.0) -> None:
    """Until the apiserver at `server` answers. Given its `pid` (and `state`, for its log), its end during
    start-up is an error at once: whoever else may answer on its port meanwhile is not ours."""
    from kubelab.client import Client
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    async with Client(server, token, retries=0) as c:
        while time.monotonic() < deadline:
            if pid is not None and state is not None and not _alive(pid):
                raise _exited("apiserver", state)
            try:
                await asyncio.wait_for(c.version(), 2.0)    # a stranger on the port may never answer
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


def running(info: dict[str, Any]) -> list[str]:
    """The components of `info` still running as started (a reused pid does not count)."""
    return [name for name, rec in _records(info).items()
            if ("start" in rec and _stranger(rec) is None) or ("start" not in rec and _alive(int(rec["pid"])))]


def make_certificates(state: Path) -> dict[str, str]:
    """The lab's CA, etcd's serving (and peer) certificate and the apiserver's client certificate for etcd,
    in `state`/pki (0700, keys 0600); returns the apiserver's files as EtcdTLS's fields."""
    directory = pki.secure_dir(state / "pki")
    ca = pki.make_ca("kubelab-local-ca")
    pki.save(ca, directory, "ca")
    # Also a client certificate: etcd's own gateway connects to its gRPC port with it under --client-cert-auth.
    pki.save(pki.issue(ca, "etcd", server_names=["127.0.0.1", "localhost"], client=True), directory, "etcd")
    crt, key = pki.save(pki.issue(ca, "kube-apiserver-etcd-client", client=True, organizations=["system:masters"]),
                        directory, "apiserver-etcd-client")
    return {"ca_file": str(directory / "ca.crt"), "cert_file": str(crt), "key_file": str(key)}


def _etcd_argv(etcd: str, state: Path, client_port: int, peer_port: int) -> list[str]:
    """etcd on loopback, TLS only, answering only clients with a certificate of the lab's CA (peers too)."""
    d = state / "pki"
    tls = ["--cert-file", str(d / "etcd.crt"), "--key-file", str(d / "etcd.key"),
           "--trusted-ca-file", str(d / "ca.crt"), "--client-cert-auth",
           "--peer-cert-file", str(d / "etcd.crt"), "--peer-key-file", str(d / "etcd.key"),
           "--peer-trusted-ca-file", str(d / "ca.crt"), "--peer-client-cert-auth"]
    return [etcd, "--name", "local", "--data-dir", str(state / "etcd-data"),
            "--listen-client-urls", f"https://127.0.0.1:{client_port}",
            "--advertise-client-urls", f"https://127.0.0.1:{client_port}",
            "--listen-peer-urls", f"https://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls", f"https://127.0.0.1:{peer_port}",
            "--initial-cluster", f"local=https://127.0.0.1:{peer_port}",
            "--quota-backend-bytes", str(4 * 1024 ** 3), *tls]


PORT_ATTEMPTS = 3      # control plane starts on fresh ports after a port was taken under it


async def _control_plane(info: dict[str, Any], state: Path, etcd: str, token: str, etcd_tls: dict[str, str],
                         files: tuple[Path, Path, Path], extra: dict[str, list[str]], pids: dict[str, int],
                         procs: dict[str, dict[str, Any]], start: Callable[[str, list[str]], None]) -> None:
    """etcd and the apiserver on ports picked now, `info` filled with their addresses; PortTaken when one of
    them found a port taken."""
    crt, key, sa_key = files
    etcd_port, peer_port, api_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    https_port = free_port()
    info.clear()
    info.update({"state_dir": str(state), "pids": pids, "procs": procs, "token": token,
                 "server": f"127.0.0.1:{api_port}", "etcd": f"127.0.0.1:{etcd_port}", "etcd_tls": etcd_tls,
                 "apiserver_metrics": f"http://127.0.0.1:{metrics_port}/metrics",
                 "https": f"https://127.0.0.1:{https_port}", "ca_file": etcd_tls["ca_file"]})
    start("etcd", _etcd_argv(etcd, state, etcd_port, peer_port) + extra.get("etcd", []))
    _wait_port(etcd_port, pids["etcd"], "etcd", state)
    start("apiserver", _python("apiserver.main") + [
        "--listen", info["server"], "--etcd-servers", info["etcd"],
        "--etcd-cafile", etcd_tls["ca_file"], "--etcd-certfile", etcd_tls["cert_file"],
        "--etcd-keyfile", etcd_tls["key_file"],
        "--token-file", str(state / "token"), "--kubelet-token-file", str(state / "kubelet-token"),
        "--token-auth-file", str(state / "identities" / "tokens.csv"),
        "--metrics-address", f"127.0.0.1:{metrics_port}", "--secure-port", str(https_port),
        "--tls-cert-file", str(crt), "--tls-private-key-file", str(key),
        "--service-account-signing-key-file", str(sa_key),
        "--audit-log-path", str(state / "logs" / "audit.log"), "--audit-log-maxsize", "100",
        "--audit-log-maxbackup", "3", *extra.get("apiserver", [])])
    await _wait_api(info["server"], token, pids["apiserver"], state)


async def up_local(hollow_nodes: int = 0, state_dir: Path | None = None, write_kubeconfig: bool = True,
                   components: tuple[str, ...] = ("scheduler", "controller-manager"),
                   extra_args: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """Start etcd, the apiserver (and what else exists) locally; return their addresses and pids."""
    state = (state_dir or default_state_dir()).resolve()
    existing = state_of(state)
    if existing and running(existing):
        raise LauncherError(f"a local cluster is already running from {state} "
                            f"(stop it with `kubelab cluster down --local`)")
    etcd = shutil.which("etcd")
    if etcd is None:
        raise LauncherError("etcd is not on PATH (on Debian: apt-get install etcd-server)")
    if state.exists():
        shutil.rmtree(state)
    pki.secure_dir(state)
    extra = extra_args or {}
    token, kubelet_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    pki.write_private(state / "token", token.encode())
    pki.write_private(state / "kubelet-token", kubelet_token.encode())
    etcd_tls = make_certificates(state)
    # A credential per component (kube-apiserver's --token-auth-file); hollow nodes, many kubelets in one
    # process, keep the admin's.
    component_tokens = identities.write_tokens(state / "identities", [])
    crt, key, ca_pem = pki.apiserver_certificates(state / "pki", "10.96.0.1")
    sa_key, _ = pki.load_or_make_service_account_key(state / "pki")
    pids: dict[str, int] = {}
    procs: dict[str, dict[str, Any]] = {}
    info: dict[str, Any] = {}

    def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        procs[name] = _spawn(name, argv, state, env)
        pids[name] = int(procs[name]["pid"])
        _write_json(state / "state.json", info)

    # The ports are free when picked, not reserved: another cluster starting at the same moment may take one
    # first. The component then ends saying so, and the control plane starts again on fresh ports.
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            await _control_plane(info, state, etcd, token, etcd_tls, (crt, key, sa_key), extra, pids, procs,
                                 start)
            break
        except PortTaken:
            _stop(procs)
            procs.clear()
            pids.clear()
            shutil.rmtree(state / "etcd-data", ignore_errors=True)
            if attempt == PORT_ATTEMPTS:
                raise
        except BaseException:
            _stop(procs)
            raise
    try:
        await identities.bind_view(info["server"], token)
        env = {"KUBELAB_SERVER": info["server"], "KUBELAB_TOKEN": token}
        for comp in components:
            module = comp.replace("-", "_") + ".main"
            if _component_available(module):
                own = component_tokens.get(f"{comp}.token", token)
                start(comp, _python(module) + ["-v"] + extra.get(comp, []), {**env, "KUBELAB_TOKEN": own})
        if hollow_nodes:
            if not _component_available("kubelet.hollow"):
                raise LauncherError("hollow nodes are not available in this build")
            start("hollow-nodes", _python("kubelet.main") + ["--runtime", "hollow", "--nodes", str(hollow_nodes),
                                                            *extra.get("hollow-nodes", [])],
                  {**env, "KUBELAB_KUBELET_TOKEN": kubelet_token})
    except BaseException:
        _stop(procs)
        raise
    if write_kubeconfig:
        cfg = kubeconfig.load()
        kubeconfig.set_cluster(cfg, CONTEXT, info["server"], token)
        kubeconfig.save(cfg)
        info["kubeconfig"] = str(kubeconfig.write_kube_context(info["https"], ca_pem, token, info["server"]))
    return info


@dataclass
class StopReport:
    """What `down` did: the components it stopped, and those it could not (name → why)."""
    stopped: list[str] = field(default_factory=list)
    not_stopped: dict[str, str] = field(default_factory=dict)


def _stop(records: dict[str, dict[str, Any]], grace: float = 10.0) -> StopReport:
    """SIGTERM each process group, in reverse start order; SIGKILL what outlives the grace.

    A pid is signalled only while it is still the process that was started (same start time and command
    line): a pid reused by a stranger is left alone and reported."""
    report = StopReport()
    for name, rec in reversed(list(records.items())):
        pid = int(rec["pid"])
        why = _stranger(rec) if "start" in rec else (
            f"pid {pid}: no record of when it started, so it cannot be told from a stranger: not signalled"
            if _alive(pid) else "exited")
        if why == "exited":
            continue
        if why is not None:
            report.not_stopped[name] = why
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError) as e:
            report.not_stopped[name] = f"pid {pid}: {e.strerror}"
            continue
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            time.sleep(0.1)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if _alive(pid):
            report.not_stopped[name] = f"pid {pid} outlived SIGKILL"
        else:
            report.stopped.append(name)
    return report


def stop_component(name: str, state_dir: Path | None = None, sig: int = signal.SIGKILL) -> None:
    """Signal one component (tests use it to simulate a crash), if its pid is still that component."""
    info = state_of(state_dir)
    if info and name in info["pids"]:
        rec = _records(info)[name]
        why = _stranger(rec) if "start" in rec else None
        if why == "exited":
            return
        if why is not None:
            raise LauncherError(f"{name}: {why}")
        try:
            os.killpg(int(rec["pid"]), sig)
        except ProcessLookupError:
            pass


def _answering(address: str) -> bool:
    try:
        with socket.create_connection(split_host_port(address), timeout=0.5):
            return True
    except (OSError, ValueError):
        return False


def _remove_credentials(state: Path) -> None:
    for name in CREDENTIAL_FILES:
        (state / name).unlink(missing_ok=True)
    shutil.rmtree(state / "pki", ignore_errors=True)


def down_local(state_dir: Path | None = None, remove_context: bool = True) -> StopReport:
    """Stop the local cluster, then remove its data and every credential file (the logs stay).

    Processes first, data after: when etcd or the apiserver still answer on their ports (restarted by hand,
    or not ours to stop), nothing is removed and LauncherError says what is still running."""
    state = (state_dir or default_state_dir())
    info = state_of(state)
    if info is None:
        _remove_credentials(state)              # left by an older launcher (commands.json outlived `down`)
        return StopReport()
    state = Path(info["state_dir"])
    report = _stop(_records(info))
    live = {name: info[key] for name, key in (("apiserver", "server"), ("etcd", "etcd"))
            if info.get(key) and _answering(info[key])}
    if live:
        lines = [f"{name} still answers on {addr}" for name, addr in live.items()]
        lines += [f"{name}: {why}" for name, why in report.not_stopped.items()]
        done = f"stopped: {', '.join(report.stopped)}; " if report.stopped else ""
        raise LauncherError(f"{done}could not stop the local cluster ({'; '.join(lines)}); its data and "
                            f"credentials in {state} are kept: stop those processes, then run "
                            f"`kubelab cluster down --local` again")
    shutil.rmtree(state / "etcd-data", ignore_errors=True)
    _remove_credentials(state)
    if remove_context:
        cfg = kubeconfig.load()
        if any(c.get("name") == CONTEXT for c in cfg["contexts"]):
            for key in ("clusters", "users", "contexts"):
                cfg[key] = [c for c in cfg[key] if c.get("name") != CONTEXT]
            if cfg.get("current-context") == CONTEXT:
                cfg["current-context"] = ""
            kubeconfig.save(cfg)
        kubeconfig.remove_kube_context()
    return report
