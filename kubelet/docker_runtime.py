"""The Docker runtime: the kubelet's only door to the engine.

Sits under the pod workers (`kubelet.worker`, with `kubelet.sandbox`,
`kubelet.pulls`, `kubelet.hooks`), the probers (`kubelet.probes`), the volume
manager (`kubelet.volumes`) and the streaming server (`kubelet.streaming`);
nothing else in the kubelet talks to Docker. What a pod asks of the engine
(its containers' host configuration: namespaces, mounts, cgroup limits, log
rotation) is built here too.

docker-py is synchronous: every call runs on a private thread pool, so a
slow `docker stop` never blocks the event loop, and several pods start at
once. Streams (logs, exec, events) run their blocking generators on that
pool too and hand chunks to the loop through queues.

A sandbox leaves the pod network by an explicit disconnect, one at a time on the whole engine
(`EndpointLock`), before it is stopped, killed or removed: Docker 20.10's network library
miscounts a network's endpoints when endpoints are removed while others are created or
removed on the same network (its count and the endpoint objects race in its store's cache),
and a count left above the endpoints makes the network impossible to remove until dockerd
restarts (docs/troubleshooting.md; scripts/epcnt_race.py reproduces it). With removals
serialised the count stays exact.

Everything a kubelet creates carries labels (`io.kubelab.node`, `.namespace`,
`.pod`, `.uid`, `.container`, ...), and the labels are the kubelet's only
memory: after a restart it finds its containers, their restart counts and
spec hashes there, and adopts them instead of starting them again.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import fcntl
import logging
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator

import docker
import docker.errors
import requests

from kubelab.quantity import QuantityError, cpu_millis, to_bytes

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- labels
L_NODE = "io.kubelab.node"
L_NAMESPACE = "io.kubelab.namespace"
L_POD = "io.kubelab.pod"
L_UID = "io.kubelab.uid"
L_CONTAINER = "io.kubelab.container"
L_TYPE = "io.kubelab.type"                      # "sandbox" | "container"
L_RESTART = "io.kubelab.restart-count"
L_HASH = "io.kubelab.container-hash"
L_GRACE = "io.kubelab.termination-grace-period"
L_VOLUME = "io.kubelab.volume"
L_IMAGE = "io.kubelab.image"                     # the image as the pod names it (Config.Image may be the mirror's)
SANDBOX = "POD"                                 # the container label of infra containers (as dockershim did)

ZERO_TIME = "0001-01-01T00:00:00Z"
OOM_EVENT_WAIT = 1.0            # seconds a just-killed (137) limited container waits for Docker's "oom" event


class RuntimeError_(Exception):
    """A Docker call failed; `reason` is what a user sees (e.g. RunContainerError)."""

    def __init__(self, message: str, reason: str = "RuntimeError") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def pod_labels(node: str, pod: Any, container: str, kind: str, restart: int) -> dict[str, str]:
    """The labels of a container the kubelet creates for `pod` (kind "sandbox" or "container")."""
    return {L_NODE: node, L_NAMESPACE: pod.metadata.namespace, L_POD: pod.metadata.name,
            L_UID: pod.metadata.uid, L_CONTAINER: container, L_TYPE: kind, L_RESTART: str(restart),
            L_GRACE: str(pod.spec.termination_grace_period_seconds
                         if pod.spec.HasField("termination_grace_period_seconds") else 30)}


def docker_name(pod: Any, container: str, attempt: int) -> str:
    """dockershim's container names: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>."""
    return f"k8s_{container}_{pod.metadata.name}_{pod.metadata.namespace}_{pod.metadata.uid}_{attempt}"


def log_config(max_size: str) -> dict[str, Any]:
    """json-file logs, rotated: `kubectl logs` reads them back through the engine."""
    return {"Type": "json-file", "Config": {"max-size": max_size, "max-file": "2"}}


def cpu_shares(millis: int) -> int:
    """Kubernetes' MilliCPUToShares (2 for no request)."""
    return max(2, millis * 1024 // 1000) if millis else 2


def resource_limits(container: Any) -> dict[str, Any]:
    """A container's requests and limits as Docker's cgroup settings (an unparsable quantity sets none
    after it: validation let it through, the engine is not the place to refuse it)."""
    limits, requests = container.resources.limits, container.resources.requests
    res: dict[str, Any] = {}
    try:
        if "cpu" in limits:
            res["nano_cpus"] = cpu_millis(limits["cpu"]) * 1_000_000
        res["cpu_shares"] = cpu_shares(cpu_millis(requests["cpu"]) if "cpu" in requests else 0)
        if "memory" in limits:
            res["mem_limit"] = to_bytes(limits["memory"])
            res["memswap_limit"] = res["mem_limit"]
    except QuantityError:
        pass
    return res


class NotFound(RuntimeError_):
    def __init__(self, message: str) -> None:
        super().__init__(message, "NotFound")


def k8s_time(docker_time: str) -> str:
    """Docker's RFC 3339 with nanoseconds → Kubernetes' seconds; "" for Docker's zero time."""
    if not docker_time or docker_time.startswith("0001-01-01"):
        return ""
    return docker_time[:19] + "Z"


def parse_time(docker_time: str) -> float:
    """Seconds since the epoch (0.0 for the zero time)."""
    if not docker_time or docker_time.startswith("0001-01-01"):
        return 0.0
    base = docker_time[:19]
    frac = 0.0
    rest = docker_time[19:].rstrip("Z")
    if rest.startswith("."):
        digits = "".join(ch for ch in rest[1:] if ch.isdigit())
        frac = float("0." + digits) if digits else 0.0
    return dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp() + frac


@dataclass
class ContainerInfo:
    """One Docker container of a pod, as inspected."""
    id: str
    name: str
    labels: dict[str, str]
    status: str                      # created, running, paused, restarting, removing, exited, dead
    image: str                       # as the pod names it (label io.kubelab.image, else Config.Image)
    image_id: str                    # sha256:...
    created: float
    started_at: str = ""             # Kubernetes format ("" = never)
    finished_at: str = ""
    started_ts: float = 0.0
    finished_ts: float = 0.0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    ip: str = ""                     # sandbox only: the IP on the pod network
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def container_name(self) -> str:
        return self.labels.get(L_CONTAINER, "")

    @property
    def uid(self) -> str:
        return self.labels.get(L_UID, "")

    @property
    def is_sandbox(self) -> bool:
        return self.labels.get(L_TYPE) == "sandbox"

    @property
    def restart_count(self) -> int:
        try:
            return int(self.labels.get(L_RESTART, "0"))
        except ValueError:
            return 0

    @property
    def spec_hash(self) -> str:
        return self.labels.get(L_HASH, "")

    @property
    def running(self) -> bool:
        return self.status in ("running", "restarting", "paused")

    @property
    def exited(self) -> bool:
        return self.status in ("exited", "dead")

    @property
    def never_started(self) -> bool:
        return self.status == "created"

    @property
    def termination_reason(self) -> str:
        if self.oom_killed:
            return "OOMKilled"
        if self.error:
            return "ContainerCannotRun"
        return "Completed" if self.exit_code == 0 else "Error"


def _info(raw: dict[str, Any], network: str) -> ContainerInfo:
    state = raw.get("State", {})
    cfg = raw.get("Config", {})
    nets = (raw.get("NetworkSettings") or {}).get("Networks") or {}
    ip = (nets.get(network) or {}).get("IPAddress", "") if network else ""
    if not ip and nets:
        ip = next((n.get("IPAddress", "") for n in nets.values() if n.get("IPAddress")), "")
    created = parse_time(raw.get("Created", ""))
    status = state.get("Status", "")
    finished_at = state.get("FinishedAt", "")
    if status == "created" and state.get("Error"):
        # `docker start` failed (bad command, ...): Kubernetes shows that as terminated.
        status = "exited"
        if not parse_time(finished_at):
            finished_at = raw.get("Created", "")
    return ContainerInfo(
        id=raw["Id"], name=raw.get("Name", "").lstrip("/"), labels=dict(cfg.get("Labels") or {}),
        status=status, image=(cfg.get("Labels") or {}).get(L_IMAGE) or cfg.get("Image", ""),
        image_id=raw.get("Image", ""),
        created=created, started_at=k8s_time(state.get("StartedAt", "")),
        finished_at=k8s_time(finished_at), started_ts=parse_time(state.get("StartedAt", "")),
        finished_ts=parse_time(finished_at), exit_code=int(state.get("ExitCode") or 0),
        oom_killed=bool(state.get("OOMKilled")), error=state.get("Error", "") or "", ip=ip, raw=raw)


def _docker_message(e: Exception) -> str:
    if isinstance(e, docker.errors.APIError):
        return str(e.explanation or e)
    return str(e)


@dataclass
class ExecSession:
    """An exec attached through a raw (hijacked) socket."""
    exec_id: str
    sock: socket.socket
    tty: bool
    _keep: Any = None                # the HTTP response owning the socket


def _session(exec_id: str, hijacked: Any, tty: bool) -> ExecSession:
    """A session over the raw socket of a hijacked Docker connection (kept alive with its response)."""
    return ExecSession(exec_id, getattr(hijacked, "_sock", hijacked), tty, _keep=hijacked)


class EndpointLock:
    """One endpoint removal at a time on the pod network: within this kubelet (an asyncio lock) and, given a
    `path`, across every kubelet of the engine (an flock on that file, which the lab's nodes share through
    the `kubelab-locks` volume). See the module's docstring for why."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self._local: asyncio.Lock | None = None
        self._fd = -1

    async def __aenter__(self) -> None:
        if self._local is None:
            self._local = asyncio.Lock()
        await self._local.acquire()
        if not self.path:
            return
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            # flock blocks: on a thread of its own, so the loop goes on while another kubelet holds it.
            await asyncio.get_running_loop().run_in_executor(None, fcntl.flock, self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._close()
            self._local.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._close()
        assert self._local is not None
        self._local.release()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)        # closing the descriptor drops the flock
            self._fd = -1


class DockerRuntime:
    def __init__(self, node_name: str, network: str = "", base_url: str | None = None,
                 workers: int = 32, timeout: int = 120, endpoint_lock: str = "",
                 api: docker.APIClient | None = None) -> None:
        self.node_name = node_name
        self.network = network
        self.endpoint_lock = EndpointLock(endpoint_lock)
        self.on_network: set[str] = set()       # containers seen attached to `network` (sandboxes)
        if api is not None:
            self.api = api
        elif base_url:
            self.api = docker.APIClient(base_url=base_url, version="auto", timeout=timeout, max_pool_size=workers)
        else:   # DOCKER_HOST & co, as the docker CLI reads them
            self.api = docker.from_env(version="auto", timeout=timeout, max_pool_size=workers).api
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="docker")
        # Inspections of finished containers never change: cache them by id.
        self._finished: dict[str, ContainerInfo] = {}
        # Containers Docker sent an "oom" event for. With cgroup v2 Docker may handle a container's exit
        # before containerd's OOM notice, leaving State.OOMKilled false; the "oom" event still comes.
        self.oom_seen: set[str] = set()
        self.calls: dict[str, int] = {}                 # Docker API calls by name (for tuning and metrics)
        self.call_seconds: dict[str, float] = {}

    @property
    def api_version(self) -> str:
        return str(self.api.api_version)

    def supports(self, version: str) -> bool:
        def key(v: str) -> tuple[int, ...]:
            return tuple(int(x) for x in v.split("."))
        return key(self.api_version) >= key(version)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        name = getattr(fn, "__name__", "call")
        self.calls[name] = self.calls.get(name, 0) + 1
        t0 = time.perf_counter()
        try:
            return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))
        finally:
            self.call_seconds[name] = self.call_seconds.get(name, 0.0) + time.perf_counter() - t0

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        try:
            self.api.close()
        except Exception:  # noqa: BLE001
            pass

    # ------------------------------------------------------------ engine
    async def version(self) -> dict[str, Any]:
        return await self.call(self.api.version)

    async def info(self) -> dict[str, Any]:
        return await self.call(self.api.info)

    # ------------------------------------------------------------ images
    async def inspect_image(self, ref: str) -> dict[str, Any] | None:
        try:
            return await self.call(self.api.inspect_image, ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as e:
            if e.status_code == 404:
                return None
            raise RuntimeError_(_docker_message(e)) from e

    async def pull(self, ref: str) -> dict[str, Any]:
        """Pull an image; raises RuntimeError_ with Docker's message on failure."""
        repo, tag = _split_ref(ref)

        def do() -> None:
            for item in self.api.pull(repo, tag=tag, stream=True, decode=True):
                if isinstance(item, dict) and item.get("error"):
                    raise RuntimeError_(str(item["error"]), "ErrImagePull")
        try:
            await self.call(do)
        except RuntimeError_:
            raise
        except (docker.errors.APIError, requests.RequestException) as e:
            raise RuntimeError_(_docker_message(e), "ErrImagePull") from e
        img = await self.inspect_image(ref)
        if img is None:
            raise RuntimeError_(f"image {ref} missing after pull", "ErrImagePull")
        return img

    # ------------------------------------------------------------ networks
    async def ensure_network(self, name: str) -> None:
        """The pod network: a user-defined bridge (created here when compose did not)."""
        try:
            await self.call(self.api.inspect_network, name)
            return
        except docker.errors.NotFound:
            pass
        try:
            await self.call(self.api.create_network, name, driver="bridge", labels={"io.kubelab.network": "pods"})
            log.info("created pod network %s", name)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise RuntimeError_(_docker_message(e)) from e

    # ------------------------------------------------------------ containers
    async def list_containers(self, uid: str | None = None, all_nodes: bool = False) -> list[ContainerInfo]:
        """This node's pod containers (of one pod, if `uid`), inspected; newest first."""
        filters = [f"{L_UID}={uid}"] if uid else [L_UID]
        if not all_nodes:
            filters.append(f"{L_NODE}={self.node_name}")
        rows = await self.call(self.api.containers, all=True, filters={"label": filters})
        infos = await asyncio.gather(*(self.inspect(r["Id"]) for r in rows), return_exceptions=True)
        out = [i for i in infos if isinstance(i, ContainerInfo)]
        out.sort(key=lambda i: (i.restart_count, i.created), reverse=True)
        return out

    async def inspect(self, cid: str) -> ContainerInfo:
        cached = self._finished.get(cid)
        if cached is not None:
            return cached
        try:
            raw = await self.call(self.api.inspect_container, cid)
        except docker.errors.NotFound as e:
            raise NotFound(f"container {cid[:12]} not found") from e
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e)) from e
        info = _info(raw, self.network)
        if self.network and (((raw.get("NetworkSettings") or {}).get("Networks") or {}).get(self.network)
                             or {}).get("EndpointID"):
            self.on_network.add(cid)        # it holds an endpoint there: leave_network before it ends
        if info.exited and not info.oom_killed:
            await self._await_oom_event(info)
        if info.exited:
            if len(self._finished) > 4096:
                self._finished.clear()
            self._finished[cid] = info
        return info

    async def _await_oom_event(self, info: ContainerInfo) -> None:
        """Mark `info` OOM-killed when Docker's "oom" event says so, waiting a moment for a fresh SIGKILL."""
        if info.id in self.oom_seen:
            info.oom_killed = True
            return
        limited = bool(((info.raw.get("HostConfig") or {}).get("Memory")) or 0)
        if info.exit_code != 137 or not limited:
            return
        while time.time() - info.finished_ts < OOM_EVENT_WAIT:
            await asyncio.sleep(0.1)
            if info.id in self.oom_seen:
                info.oom_killed = True
                return

    async def create(self, name: str, image: str, labels: dict[str, str], host_config: dict[str, Any],
                     stdin_once: bool = False, **kwargs: Any) -> str:
        def do() -> Any:
            # As APIClient.create_container builds it (environment as a list), but with StdinOnce ours to set.
            env = kwargs.pop("environment", None)
            if isinstance(env, dict):
                env = docker.utils.format_environment(env)
            config = self.api.create_container_config(image, kwargs.pop("command", None), labels=labels,
                                                      host_config=host_config, environment=env, **kwargs)
            # docker-py makes every container with stdin open StdinOnce; a pod's spec says which it is.
            config["StdinOnce"] = bool(stdin_once and config.get("OpenStdin"))
            return self.api.create_container_from_config(config, name=name)
        try:
            res = await self.call(do)
        except docker.errors.APIError as e:
            if e.status_code == 409:
                # A container of that name exists (a create of ours whose answer was lost): reuse it.
                raw = await self.call(self.api.inspect_container, name)
                if raw.get("Config", {}).get("Labels", {}).get(L_UID) == labels.get(L_UID):
                    return str(raw["Id"])
            raise RuntimeError_(_docker_message(e), "CreateContainerError") from e
        return str(res["Id"])

    # ------------------------------------------------------------ host configuration (what the pod asks of Docker)
    def sandbox_host_config(self, network_mode: str, log_max_size: str, mounts: list[dict[str, Any]],
                            net_admin: bool = False, dns: dict[str, Any] | None = None) -> dict[str, Any]:
        """The infra container's: the pod's network (or the node's, for hostNetwork), a shareable IPC
        namespace, the pod-level mounts; NET_ADMIN when the kubelet routes the service range from it."""
        return self.api.create_host_config(network_mode=network_mode, ipc_mode="shareable",
                                           log_config=log_config(log_max_size),
                                           cap_add=["NET_ADMIN"] if net_admin else None,
                                           mounts=mounts or None, **(dns or {}))

    def container_host_config(self, sandbox_id: str, container: Any, mounts: list[dict[str, Any]],
                              binds: list[str], log_max_size: str) -> dict[str, Any]:
        """An app or init container's: it joins the sandbox's network and IPC namespaces; its resources
        become cgroup limits."""
        return self.api.create_host_config(network_mode=f"container:{sandbox_id}",
                                           ipc_mode=f"container:{sandbox_id}", mounts=mounts or None,
                                           binds=binds or None, log_config=log_config(log_max_size),
                                           **resource_limits(container))

    async def start(self, cid: str) -> None:
        try:
            await self.call(self.api.start, cid)
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e), "RunContainerError") from e

    async def leave_network(self, cid: str) -> None:
        """Take a container seen on the pod network off it, one endpoint removal at a time (`EndpointLock`):
        what stopping, killing or removing it would do anyway, but then at the same time as other kubelets'."""
        if cid not in self.on_network:
            return
        async with self.endpoint_lock:
            try:
                await self.call(self.api.disconnect_container_from_network, cid, self.network, force=True)
            except docker.errors.APIError as e:     # gone, or no longer on it: nothing to release
                log.debug("disconnecting %s from %s: %s", cid[:12], self.network, _docker_message(e))
        self.on_network.discard(cid)

    async def stop(self, cid: str, timeout: int) -> None:
        """The image's stop signal (SIGTERM unless it sets STOPSIGNAL), `timeout` seconds, SIGKILL (docker stop)."""
        await self.leave_network(cid)
        try:
            await self.call(self.api.stop, cid, timeout=max(0, int(timeout)))
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as e:
            log.warning("stopping %s: %s; killing it", cid[:12], _docker_message(e))
            await self.kill(cid)
        self._finished.pop(cid, None)

    async def kill(self, cid: str, signal: str = "KILL") -> None:
        if signal in ("KILL", "SIGKILL"):
            await self.leave_network(cid)
        try:
            await self.call(self.api.kill, cid, signal=signal)
        except docker.errors.APIError as e:
            if e.status_code not in (404, 409):      # gone, or not running
                raise RuntimeError_(_docker_message(e)) from e

    async def remove(self, cid: str) -> None:
        self._finished.pop(cid, None)
        await self.leave_network(cid)
        try:
            await self.call(self.api.remove_container, cid, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if e.status_code not in (404, 409):      # gone, or removal already in progress
                raise RuntimeError_(_docker_message(e)) from e

    # ------------------------------------------------------------ volumes
    async def create_volume(self, name: str, labels: dict[str, str], driver_opts: dict[str, str] | None = None) -> None:
        try:
            await self.call(self.api.create_volume, name=name, driver="local", driver_opts=driver_opts or None,
                            labels=labels)
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e), "FailedMount") from e

    async def put_archive(self, cid: str, path: str, data: bytes) -> None:
        """Unpack a tar archive into a running container at `path` (Docker's PUT /containers/ID/archive: the
        bytes travel in the request body, never on a command line that `docker events` or an exec's inspect
        would show)."""
        try:
            await self.call(self.api.put_archive, cid, path, data)
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e), "FailedMount") from e

    async def list_volumes(self, uid: str | None = None, all_nodes: bool = False) -> list[dict[str, Any]]:
        filters = [f"{L_UID}={uid}"] if uid else [L_UID]
        if not all_nodes:
            filters.append(f"{L_NODE}={self.node_name}")
        res = await self.call(self.api.volumes, filters={"label": filters})
        return list((res or {}).get("Volumes") or [])

    async def remove_volume(self, name: str) -> bool:
        try:
            await self.call(self.api.remove_volume, name, force=True)
            return True
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as e:
            log.debug("volume %s not removed yet: %s", name, _docker_message(e))
            return False

    # ------------------------------------------------------------ exec
    async def exec_run(self, cid: str, command: list[str], timeout: float) -> tuple[int | None, str]:
        """Run a command in a container; (exit code or None on timeout, combined output)."""
        def do() -> tuple[str, str]:
            ex = self.api.exec_create(cid, command, stdout=True, stderr=True)
            out = self.api.exec_start(ex["Id"])
            return ex["Id"], out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        try:
            exec_id, output = await asyncio.wait_for(self.call(do), timeout)
        except asyncio.TimeoutError:
            return None, f"command timed out after {timeout:g}s"
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e)) from e
        info = await self.call(self.api.exec_inspect, exec_id)
        return int(info.get("ExitCode") or 0), output

    async def exec_attach(self, cid: str, command: list[str], stdin: bool, tty: bool,
                          env: list[str] | None = None) -> ExecSession:
        """Start an exec and return its raw socket (non-blocking), for the streaming server."""
        def do() -> ExecSession:
            ex = self.api.exec_create(cid, command, stdout=True, stderr=True, stdin=stdin, tty=tty,
                                      environment=env)
            return _session(ex["Id"], self.api.exec_start(ex["Id"], tty=tty, socket=True), tty)
        return await self._open_session(do)

    async def _open_session(self, do: Callable[[], ExecSession]) -> ExecSession:
        """Run `do` (which hijacks a Docker connection) off the loop; its socket made non-blocking."""
        try:
            session: ExecSession = await self.call(do)
        except docker.errors.APIError as e:
            raise RuntimeError_(_docker_message(e)) from e
        session.sock.setblocking(False)
        return session

    async def container_attach(self, cid: str, stdin: bool, tty: bool) -> ExecSession:
        """Attach to a container's own process (its stdio, as `docker attach`): a raw socket as exec's, with no
        exec id. Output from before the attach is not replayed (the caller reads logs for that)."""
        def do() -> ExecSession:
            params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
            return _session("", self.api.attach_socket(cid, params=params), tty)
        return await self._open_session(do)

    async def container_resize(self, cid: str, width: int, height: int) -> None:
        try:
            await self.call(self.api.resize, cid, height=height, width=width)
        except docker.errors.APIError as e:
            log.debug("container resize: %s", _docker_message(e))

    async def container_exit_code(self, cid: str) -> int:
        """The exit code of a container whose attached output ended: 0 if it still runs (the client left)."""
        for _ in range(20):
            state = (await self.call(self.api.inspect_container, cid)).get("State") or {}
            if not state.get("Running"):
                return int(state.get("ExitCode") or 0)
            await asyncio.sleep(0.05)
        return 0

    async def exec_resize(self, exec_id: str, width: int, height: int) -> None:
        try:
            await self.call(self.api.exec_resize, exec_id, height=height, width=width)
        except docker.errors.APIError as e:
            log.debug("exec resize: %s", _docker_message(e))

    async def exec_exit_code(self, exec_id: str) -> int | None:
        for _ in range(50):
            info = await self.call(self.api.exec_inspect, exec_id)
            if not info.get("Running"):
                code = info.get("ExitCode")
                return int(code) if code is not None else None
            await asyncio.sleep(0.05)
        return None

    # ------------------------------------------------------------ logs
    async def logs(self, cid: str, follow: bool, tail: int | None, timestamps: bool,
                   since: int | None = None) -> AsyncIterator[bytes]:
        """Log chunks of a container (both streams interleaved, as `kubectl logs` shows them)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=256)
        holder: dict[str, Any] = {}
        stopped = threading.Event()

        def put(item: bytes | BaseException | None) -> None:
            if not stopped.is_set():
                fut = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
                try:
                    fut.result()
                except Exception:  # noqa: BLE001 - loop closed
                    stopped.set()

        def pump() -> None:
            try:
                kwargs: dict[str, Any] = {"stream": True, "follow": follow, "timestamps": timestamps,
                                          "tail": "all" if tail is None or tail < 0 else int(tail)}
                if since:
                    kwargs["since"] = int(since)
                stream = self.api.logs(cid, **kwargs)
                holder["stream"] = stream
                if stopped.is_set():
                    stream.close()
                    return
                for chunk in stream:
                    if stopped.is_set():
                        break
                    put(chunk)
                put(None)
            except Exception as e:  # noqa: BLE001
                put(e if not stopped.is_set() else None)

        fut = loop.run_in_executor(self.pool, pump)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, docker.errors.NotFound):
                        raise NotFound(f"container {cid[:12]} not found")
                    raise RuntimeError_(_docker_message(item)) if isinstance(item, Exception) else item
                yield item
        finally:
            stopped.set()
            stream = holder.get("stream")
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001
                    pass
            while not queue.empty():
                queue.get_nowait()
            fut.cancel()

    # ------------------------------------------------------------ events (our PLEG)
    def watch_events(self, on_event: Callable[[str, str, dict[str, str]], None], stop: threading.Event) -> None:
        """Blocking: call `on_event(uid, action, attributes)` for container events of this node.

        Runs on its own thread (started by the kubelet) and reconnects until `stop` is set.
        """
        filters = {"type": ["container"], "label": [f"{L_NODE}={self.node_name}"]}
        while not stop.is_set():
            stream = None
            try:
                stream = self.api.events(decode=True, filters=filters)
                self._events_stream = stream
                for ev in stream:
                    if stop.is_set():
                        break
                    attrs = (ev.get("Actor") or {}).get("Attributes") or {}
                    action = str(ev.get("Action") or ev.get("status") or "")
                    if action == "oom":
                        if len(self.oom_seen) > 4096:
                            self.oom_seen.clear()
                        cid = str((ev.get("Actor") or {}).get("ID") or ev.get("id") or "")
                        self.oom_seen.add(cid)
                        finished = self._finished.get(cid)
                        if finished is not None:
                            # The notice came after the exit was recorded: correct the record; the
                            # pod worker, woken by this event, writes OOMKilled.
                            finished.oom_killed = True
                    if action.startswith("exec_"):
                        continue
                    uid = attrs.get(L_UID, "")
                    if uid:
                        on_event(uid, action, attrs)
            except Exception as e:  # noqa: BLE001 - reconnect
                if not stop.is_set():
                    log.warning("docker events interrupted: %s; reconnecting", e)
            finally:
                if stream is not None:
                    try:
                        stream.close()
                    except Exception:  # noqa: BLE001
                        pass
            stop.wait(1.0)

    def stop_events(self) -> None:
        stream = getattr(self, "_events_stream", None)
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass


def _split_ref(ref: str) -> tuple[str, str]:
    """`repo[:tag][@digest]` → (repo, tag or digest); the tag defaults to latest."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = ref.rsplit(":", 1)
        return repo, tag
    return ref, "latest"


def demux(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take complete frames of Docker's multiplexed stream off the front of `buf`: (stream, payload)."""
    while len(buf) >= 8:
        stream, length = struct.unpack_from(">BxxxL", buf)
        if len(buf) < 8 + length:
            return
        payload = bytes(buf[8:8 + length])
        del buf[:8 + length]
        yield stream, payload
