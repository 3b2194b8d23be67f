"""Pod workers: one asyncio task per pod, reconciling the pod spec with Docker.

Pipeline (as Kubernetes' kubelet, much abridged):

    pod informer (spec.nodeName=<node>) ─┐
    docker events (die/oom/destroy) ─────┼─▶ PodManager.wake(uid) ─▶ PodWorker.sync()
    probe results (kubelet.probes) ──────┤        (never two syncs of one pod at once)
    periodic resync, back-off timers ────┘

`PodWorker.sync()` reads the runtime (the pod's containers, by label), does
what is missing — volumes, the sandbox (infra container holding the pod's
network namespace), init containers in order, then every app container —
applying the restart policy with Kubernetes' back-off, the image pull
policy, liveness/startup restarts; then it computes the pod status from what
the runtime shows and writes it when it changed. A pod with a
deletionTimestamp is stopped gracefully (SIGTERM, grace period, SIGKILL)
and then deleted from the API with grace 0; a pod gone from the API has its
containers and volumes removed. `PodManager.housekeeping()` removes
containers of pods this node no longer has.

Everything the worker knows about a container is in Docker's labels, so a
restarted kubelet adopts running containers instead of recreating them.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from kubelab import errors, timeutil
from kubelab.client import Client
from kubelab.events import EventRecorder
from kubelab.informer import Informer
from kubelab.quantity import QuantityError, cpu_millis, parse_quantity, to_bytes
from kubelab.v1 import objects_pb2 as pb

from . import pulls
from .docker_runtime import (L_CONTAINER, L_GRACE, L_HASH, L_IMAGE, L_NAMESPACE, L_NODE, L_POD, L_RESTART, L_TYPE,
                             L_UID, SANDBOX, ContainerInfo, DockerRuntime, RuntimeError_)
from .probes import ProbeManager
from .service_env import service_env
from .volumes import VolumeManager

log = logging.getLogger(__name__)

TERMINAL = ("Succeeded", "Failed")
FORCE_GRACE = 2                # seconds given to containers of a pod force-deleted from the API


@dataclass
class PodConfig:
    node_name: str
    node_ip: str = ""
    network: str = "kubelab"
    pause_image: str = "kubelab/pause:latest"
    backoff_base: float = 10.0          # restart and image pull back-off: base doubling to max (Kubernetes: 10s, 5min)
    backoff_max: float = 300.0
    resync_period: float = 10.0
    housekeeping_period: float = 15.0
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    service_cidr_route: str = ""        # route this range via the node from every pod (userspace proxy, design §4)
    host_network_mode: str = "host"     # Docker network mode of hostNetwork pods: the node's namespace
    service_links: bool = True          # watch Services for the pods' service environment variables
    local_images: tuple[str, ...] = ("kubelab/",)   # built locally: never pulled while present
    log_max_size: str = "10m"
    node_cpu_millis: int = 0            # for resourceFieldRef without a limit
    node_memory_bytes: int = 0


class Backoff:
    """Kubernetes' flowcontrol.Backoff, keyed by pod/container (or pod/image).

    `remaining(key, t)`: seconds still to wait after an event at `t` (a
    container's finish); `next(key, t)` doubles the delay (base → max), or
    resets it when nothing happened for 2×max.
    """

    def __init__(self, base: float, cap: float, clock: Callable[[], float] = time.time) -> None:
        self.base, self.cap, self.clock = base, cap, clock
        self._entries: dict[str, tuple[float, float]] = {}      # key -> (delay, last update)

    def remaining(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        delay, last = entry
        if event_time - last > 2 * self.cap:
            return 0.0
        return max(0.0, delay - (self.clock() - event_time))

    def next(self, key: str, event_time: float) -> float:
        entry = self._entries.get(key)
        if entry is None or event_time - entry[1] > 2 * self.cap:
            delay = self.base
        else:
            delay = min(entry[0] * 2, self.cap)
        self._entries[key] = (delay, event_time)
        return delay

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry else self.base

    def forget_prefix(self, prefix: str) -> None:
        for k in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[k]


CLUSTER_FIRST = ("ClusterFirst", "ClusterFirstWithHostNet", "")     # "" is the default: ClusterFirst


def search_path(pod: Any, cluster_domain: str) -> list[str]:
    ns = pod.metadata.namespace
    return [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]


def resolv_conf(pod: Any, cluster_dns: list[str], cluster_domain: str) -> str | None:
    """/etc/resolv.conf for a ClusterFirst pod, as the kubelet writes it; None leaves Docker's (dnsPolicy
    Default, or no --cluster-dns: Kubernetes then falls back to the node's resolution too)."""
    if not cluster_dns or pod.spec.dns_policy not in CLUSTER_FIRST:
        return None
    lines = [f"search {' '.join(search_path(pod, cluster_domain))}"]
    lines += [f"nameserver {ip}" for ip in cluster_dns[:3]]       # the resolver reads three at most
    lines.append("options ndots:5")
    return "\n".join(lines) + "\n"


def container_hash(c: Any) -> str:
    return hashlib.sha256(c.SerializeToString(deterministic=True)).hexdigest()[:16]


_VAR_REF = re.compile(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, the rest stays."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)
    return _VAR_REF.sub(sub, value)


def should_restart(policy: str, exit_code: int) -> bool:
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code != 0
    return True


def cpu_shares(millis: int) -> int:
    """Kubernetes' MilliCPUToShares (2 for no request)."""
    return max(2, millis * 1024 // 1000) if millis else 2


class PodWorker:
    """The serialized life of one pod (by uid) on this node."""

    def __init__(self, manager: "PodManager", uid: str, pod: Any | None) -> None:
        self.m = manager
        self.uid = uid
        self.pod = pod
        self.wake = asyncio.Event()
        self.wake.set()
        self.task: asyncio.Task[None] | None = None
        self.next_sync: float | None = None
        self.waiting: dict[str, tuple[str, str]] = {}     # container -> (reason, message) shown while not running
        self.last_status: bytes | None = None
        self.last_status_rv = 0
        self.start_time = ""
        self.sandbox: ContainerInfo | None = None
        self.adopted_ready: dict[str, bool] = {}
        self.first_sync = True
        self.terminated = False                            # containers stopped for deletion
        self.done = False
        if pod is not None:
            self.adopted_ready = {s.name: s.ready for s in pod.status.container_statuses}
            self.start_time = pod.status.start_time

    @property
    def cfg(self) -> PodConfig:
        return self.m.config

    @property
    def rt(self) -> DockerRuntime:
        return self.m.runtime

    def name(self) -> str:
        if self.pod is not None:
            return f"{self.pod.metadata.namespace}/{self.pod.metadata.name}"
        return self.uid

    # ------------------------------------------------------------ loop
    async def run(self) -> None:
        while not self.done:
            timeout = None
            if self.next_sync is not None:
                timeout = max(0.0, self.next_sync - time.monotonic())
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()
            self.next_sync = None
            try:
                await self.sync()
                self.first_sync = False
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - retry later; one pod's trouble is not the node's
                log.exception("sync of pod %s failed: %s", self.name(), e)
                self.schedule(2.0)
        self.m.worker_done(self)

    def schedule(self, delay: float) -> None:
        at = time.monotonic() + delay
        if self.next_sync is None or at < self.next_sync:
            self.next_sync = at

    def record(self, type_: str, reason: str, message: str) -> None:
        if self.pod is not None:
            self.m.recorder.event(self.pod, type_, reason, message)

    # ------------------------------------------------------------ sync
    async def sync(self) -> None:
        pod = self.pod
        containers = await self.rt.list_containers(self.uid)
        if pod is None:
            await self._cleanup(containers)
            return
        if pod.metadata.deletion_timestamp:
            await self._terminate(pod, containers)
            return
        if pod.status.phase in TERMINAL or self.terminated:
            # Finished (or stopped for deletion): nothing runs again; containers stay for logs.
            await self._stop_running(pod, containers, pod.spec.termination_grace_period_seconds, "")
            return
        if not self.start_time:
            self.start_time = timeutil.now_str()
        sandbox = next((c for c in containers if c.is_sandbox), None)
        apps = [c for c in containers if not c.is_sandbox]
        if sandbox is not None and pod.spec.host_network:
            sandbox = self._on_node_network(sandbox)
        if sandbox is None or not sandbox.running:
            if sandbox is not None and self._all_done(pod, apps):
                # restartPolicy says nothing restarts: no new sandbox for a finished pod.
                await self._write_status(pod, self._status(pod, containers, sandbox))
                return
            had_sandbox = sandbox is not None
            sandbox = await self._new_sandbox(pod, sandbox, apps)
            if sandbox is None:
                await self._write_status(pod, self._status(pod, containers, None))
                return
            if had_sandbox or apps:      # old containers were stopped: see them as they are now
                containers = await self.rt.list_containers(self.uid)
                apps = [c for c in containers if not c.is_sandbox]
            else:
                containers = [sandbox]
        self.sandbox = sandbox
        await self._prepare_sandbox(pod, sandbox)
        by_name: dict[str, list[ContainerInfo]] = {}
        for c in apps:
            by_name.setdefault(c.container_name, []).append(c)
        changed = False
        if await self._init_containers(pod, sandbox, by_name):
            for c in pod.spec.containers:
                changed = await self._sync_container(pod, c, sandbox, by_name.get(c.name, [])) or changed
        if changed:
            containers = await self.rt.list_containers(self.uid)
        self._sync_probes(pod, containers, sandbox)
        status = self._status(pod, containers, sandbox)
        await self._write_status(pod, status)
        if status.phase in TERMINAL:
            await self._stop_running(pod, containers, 2, "")
            self.m.probes.forget_pod(self.uid)

    def _sync_probes(self, pod: Any, containers: list[ContainerInfo], sandbox: ContainerInfo) -> None:
        """Probe the running instance of every app container (new instances get new probe workers)."""
        latest: dict[str, ContainerInfo] = {}
        for c in containers:
            if not c.is_sandbox:
                latest.setdefault(c.container_name, c)
        for c in pod.spec.containers:
            cur = latest.get(c.name)
            if cur is not None and cur.running:
                self.m.probes.sync(pod, c, cur.id, cur.started_ts, sandbox.ip,
                                   was_ready=self.adopted_ready.pop(c.name, False))

    def _all_done(self, pod: Any, apps: list[ContainerInfo]) -> bool:
        """Every container has run, and none may run again (restartPolicy)."""
        latest: dict[str, ContainerInfo] = {}
        for c in apps:
            latest.setdefault(c.container_name, c)
        for c in pod.spec.containers:
            cur = latest.get(c.name)
            if cur is None or not cur.exited or should_restart(pod.spec.restart_policy, cur.exit_code):
                return False
        return True

    # ------------------------------------------------------------ sandbox
    def _labels(self, pod: Any, container: str, kind: str, restart: int) -> dict[str, str]:
        return {L_NODE: self.cfg.node_name, L_NAMESPACE: pod.metadata.namespace, L_POD: pod.metadata.name,
                L_UID: pod.metadata.uid, L_CONTAINER: container, L_TYPE: kind, L_RESTART: str(restart),
                L_GRACE: str(pod.spec.termination_grace_period_seconds
                             if pod.spec.HasField("termination_grace_period_seconds") else 30)}

    def _docker_name(self, pod: Any, container: str, attempt: int) -> str:
        return f"k8s_{container}_{pod.metadata.name}_{pod.metadata.namespace}_{pod.metadata.uid}_{attempt}"

    def _log_config(self) -> dict[str, Any]:
        return {"Type": "json-file", "Config": {"max-size": self.cfg.log_max_size, "max-file": "2"}}

    async def _new_sandbox(self, pod: Any, old: ContainerInfo | None, apps: list[ContainerInfo]) -> ContainerInfo | None:
        attempt = 0
        if old is not None:
            attempt = old.restart_count + 1
            log.info("sandbox of %s is gone (%s); creating a new one", self.name(), old.status)
            self.record("Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
            running = [c for c in apps if c.running]
            await asyncio.gather(*(self.rt.stop(c.id, 2) for c in running))
            for c in running:
                self.m.probes.forget_container(self.uid, c.container_name)
            await self.rt.remove(old.id)
            self.m.prepared.discard(old.id)
        try:
            await self.m.volumes.setup(pod)
        except RuntimeError_ as e:
            self.record("Warning", "FailedMount", f"MountVolume.SetUp failed: {e.message}")
            for c in pod.spec.containers:
                self.waiting[c.name] = ("ContainerCreating", "")
            self.schedule(5.0)
            return None
        if not await self._have_pause_image(pod):
            return None
        if pod.spec.host_network:
            # The node's own network namespace: its addresses, ports, hostname and resolv.conf.
            hc = self.rt.host_config(network_mode=self.cfg.host_network_mode, ipc_mode="shareable",
                                     log_config=self._log_config(),
                                     mounts=self.m.volumes.sandbox_mounts(pod) or None)
            return await self._start_sandbox(pod, attempt, hc, {})
        dns: dict[str, Any] = {}
        if self.cfg.cluster_dns and pod.spec.dns_policy in CLUSTER_FIRST:
            # Docker's own resolver forwards to these until _write_resolv_conf points the pod at them.
            dns = {"dns": list(self.cfg.cluster_dns), "dns_search": search_path(pod, self.cfg.cluster_domain),
                   "dns_opt": ["ndots:5"]}
        hc = self.rt.host_config(network_mode=self.cfg.network, ipc_mode="shareable", log_config=self._log_config(),
                                 cap_add=["NET_ADMIN"] if self.cfg.service_cidr_route else None,
                                 mounts=self.m.volumes.sandbox_mounts(pod) or None, **dns)
        hostname = (pod.spec.hostname or pod.metadata.name)[:63].rstrip("-.")
        kwargs: dict[str, Any] = {"hostname": hostname}
        if pod.spec.subdomain:
            kwargs["domainname"] = f"{pod.spec.subdomain}.{pod.metadata.namespace}.svc.{self.cfg.cluster_domain}"
        return await self._start_sandbox(pod, attempt, hc, kwargs)

    async def _start_sandbox(self, pod: Any, attempt: int, hc: Any, kwargs: dict[str, Any]) -> ContainerInfo | None:
        try:
            cid = await self.rt.create(self._docker_name(pod, SANDBOX, attempt), self.cfg.pause_image,
                                       self._labels(pod, SANDBOX, "sandbox", attempt), hc, **kwargs)
            await self.rt.start(cid)
            sandbox = await self.rt.inspect(cid)
            if pod.spec.host_network:
                sandbox = self._on_node_network(sandbox)
        except RuntimeError_ as e:
            log.warning("creating the sandbox of %s failed: %s", self.name(), e.message)
            self.record("Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {e.message}")
            self.schedule(self.m.backoff.next(f"{self.uid}/sandbox", time.time()) / 2)
            return None
        await self._prepare_sandbox(pod, sandbox)
        log.info("started sandbox of %s: ip %s", self.name(), sandbox.ip)
        return sandbox

    async def _prepare_sandbox(self, pod: Any, sandbox: ContainerInfo) -> None:
        """The pod's network namespace as the kubelet sets it up: service route and resolv.conf.

        Once per sandbox per kubelet process: a new sandbox gets it at creation, an adopted one
        (the kubelet restarted) on its first sync, so a node whose address changed while it was
        down points its pods at the new one. Both steps are idempotent.
        """
        if sandbox.id in self.m.prepared or pod.spec.host_network:
            return        # a hostNetwork pod is in the node's namespace: its routes and resolv.conf are the node's
        if await self._route_services(sandbox) and await self._write_resolv_conf(pod, sandbox):
            self.m.prepared.add(sandbox.id)

    def _on_node_network(self, sandbox: ContainerInfo) -> ContainerInfo:
        """A hostNetwork sandbox, as this pod sees it: its IP is the node's. One left in the namespace of a
        node container that has since restarted has no network any more: it counts as gone, and a new one
        is made. (A copy: the runtime may cache the one it gave us.)"""
        mode = (sandbox.raw.get("HostConfig") or {}).get("NetworkMode", "")
        stale = sandbox.running and bool(mode) and mode != self.cfg.host_network_mode
        if stale:
            log.info("sandbox of %s is on the network of a previous node (%s)", self.name(), mode)
        return dataclasses.replace(sandbox, ip=self.cfg.node_ip, status="exited" if stale else sandbox.status)

    async def _write_resolv_conf(self, pod: Any, sandbox: ContainerInfo) -> bool:
        """ClusterFirst pods get the cluster DNS as their nameserver, as the kubelet writes it.

        Docker points every container on a user network at its own resolver (127.0.0.11) and
        keeps the servers it was given as upstreams; dockershim rewrote the sandbox's file, and
        so does this. The pod's containers share the sandbox's /etc/resolv.conf (they join its
        network namespace), so one write serves them all.
        """
        content = resolv_conf(pod, self.cfg.cluster_dns, self.cfg.cluster_domain)
        if content is None:
            return True
        return await self._sandbox_exec(sandbox, ["sh", "-c", 'printf "%s" "$1" > /etc/resolv.conf', "sh", content],
                                        "DNSConfigForming", "cannot write /etc/resolv.conf: {}")

    async def _route_services(self, sandbox: ContainerInfo) -> bool:
        """Route the service range from the pod's network namespace to this node (design §4, way a)."""
        if not self.cfg.service_cidr_route or not self.cfg.node_ip:
            return True
        cidr = self.cfg.service_cidr_route
        return await self._sandbox_exec(sandbox, ["ip", "route", "replace", cidr, "via", self.cfg.node_ip],
                                        "FailedServiceRoute",
                                        f"cannot route {cidr} to the node: {{}} (ClusterIPs will not answer in this pod)")

    async def _sandbox_exec(self, sandbox: ContainerInfo, command: list[str], reason: str, message: str) -> bool:
        """Run a set-up command in the sandbox; a failure is logged and becomes a Warning event
        (`message` with the command's output in place of `{}`)."""
        try:
            code, out = await self.rt.exec_run(sandbox.id, command, 5)
        except RuntimeError_ as e:
            code, out = -1, e.message
        if code == 0:       # None is a timeout: the command may not have run
            return True
        said = message.format((out or "").strip())
        log.warning("%s in %s: %s", command[0], self.name(), said)
        self.record("Warning", reason, said)
        return False

    async def _have_pause_image(self, pod: Any) -> bool:
        if await self.m.image_present(self.cfg.pause_image):
            return True
        msg = f'failed to get sandbox image "{self.cfg.pause_image}": not present on this machine ' \
              f'(build it: python3 images/build.py --only pause)'
        self.record("Warning", "FailedCreatePodSandBox", msg)
        for c in pod.spec.containers:
            self.waiting[c.name] = ("ContainerCreating", msg)
        self.schedule(10.0)
        return False

    # ------------------------------------------------------------ containers
    async def _init_containers(self, pod: Any, sandbox: ContainerInfo,
                               by_name: dict[str, list[ContainerInfo]]) -> bool:
        """Run init containers in order; True once all succeeded (app containers may start)."""
        if not pod.spec.init_containers:
            return True
        if any(by_name.get(c.name) for c in pod.spec.containers):
            return True                        # already initialized (app containers exist)
        for ic in pod.spec.init_containers:
            insts = by_name.get(ic.name, [])
            cur = insts[0] if insts else None
            if cur is not None and cur.exited and cur.exit_code == 0:
                continue
            if cur is not None and cur.running:
                return False
            policy = "Never" if pod.spec.restart_policy == "Never" else "OnFailure"
            await self._start_or_backoff(pod, ic, sandbox, cur, insts, policy)
            return False
        return True

    async def _sync_container(self, pod: Any, c: Any, sandbox: ContainerInfo, insts: list[ContainerInfo]) -> bool:
        """Bring one app container to its wanted state; True if the runtime changed."""
        cur = insts[0] if insts else None
        if cur is not None and cur.running:
            reason = self.m.probes.must_restart(self.uid, c.name, cur.id)
            hash_changed = cur.spec_hash and cur.spec_hash != container_hash(c)
            if not reason and not hash_changed:
                self.waiting.pop(c.name, None)
                return False
            if reason:
                msg = f"Container {c.name} failed {reason} probe, will be restarted"
                probe = c.liveness_probe if reason == "liveness" else c.startup_probe
                grace = probe.termination_grace_period_seconds if probe.HasField(
                    "termination_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            else:
                msg = f"Container {c.name} definition changed, will be restarted"
                grace = pod.spec.termination_grace_period_seconds
            log.info("%s: %s", self.name(), msg)
            self.record("Normal", "Killing", msg)
            self.m.probes.forget_container(self.uid, c.name)
            await self._stop_container(pod, cur, grace)
            cur = await self.rt.inspect(cur.id)
            insts = [cur] + insts[1:]
            if pod.spec.restart_policy == "Never":
                return True
            # A container killed by the kubelet restarts at once (not a crash: no back-off).
            return await self._start(pod, c, sandbox, cur.restart_count + 1, insts) or True
        return await self._start_or_backoff(pod, c, sandbox, cur, insts, pod.spec.restart_policy)

    async def _start_or_backoff(self, pod: Any, c: Any, sandbox: ContainerInfo, cur: ContainerInfo | None,
                                insts: list[ContainerInfo], policy: str) -> bool:
        if cur is not None and cur.never_started:
            # Created by a kubelet that stopped before starting it.
            return await self._start_existing(pod, c, cur, insts)
        restart = 0
        if cur is not None:
            if not should_restart(policy, cur.exit_code):
                self.waiting.pop(c.name, None)
                return False
            key = f"{self.uid}/{c.name}"
            finished = cur.finished_ts or time.time()
            wait = self.m.backoff.remaining(key, finished)
            if wait > 0:
                delay = self.m.backoff.delay(key)
                pod_ref = f"{pod.metadata.name}_{pod.metadata.namespace}({pod.metadata.uid})"
                self.waiting[c.name] = ("CrashLoopBackOff",
                                        f"back-off {_fmt_duration(delay)} restarting failed container={c.name} "
                                        f"pod={pod_ref}")
                self.record("Warning", "BackOff", f"Back-off restarting failed container {c.name} in pod {pod_ref}")
                self.schedule(wait + 0.05)
                return False
            self.m.backoff.next(key, finished)
            restart = cur.restart_count + 1
        return await self._start(pod, c, sandbox, restart, insts)

    async def _start(self, pod: Any, c: Any, sandbox: ContainerInfo, restart: int,
                     insts: list[ContainerInfo]) -> bool:
        image = await self._ensure_image(pod, c)
        if image is None:
            return False
        try:
            env = self._env(pod, c, sandbox)
        except RuntimeError_ as e:
            self.waiting[c.name] = (e.reason, e.message)
            self.record("Warning", "Failed", f"Error: {e.message}")
            self.schedule(10.0)
            return False
        envmap = dict(kv.split("=", 1) for kv in env)
        try:
            mounts, binds = self.m.volumes.mounts(pod, c)
        except RuntimeError_ as e:
            self.waiting[c.name] = (e.reason, e.message)
            self.record("Warning", "Failed", f"Error: {e.message}")
            self.schedule(10.0)
            return False
        limits, requests = c.resources.limits, c.resources.requests
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
        hc = self.rt.host_config(network_mode=f"container:{sandbox.id}", ipc_mode=f"container:{sandbox.id}",
                                 mounts=mounts or None, binds=binds or None, log_config=self._log_config(), **res)
        labels = self._labels(pod, c.name, "container", restart)
        labels[L_HASH] = container_hash(c)
        labels[L_IMAGE] = c.image   # the name the user wrote; `image` may be the lab registry's copy
        # stdinOnce: the container's stdin closes when the first attached client detaches (kubectl run -i).
        kwargs: dict[str, Any] = {"environment": env, "tty": c.tty, "stdin_open": c.stdin,
                                  "stdin_once": c.stdin_once}
        if c.command:
            kwargs["entrypoint"] = [expand(a, envmap) for a in c.command]
            kwargs["command"] = [expand(a, envmap) for a in c.args]
        elif c.args:
            kwargs["command"] = [expand(a, envmap) for a in c.args]
        if c.working_dir:
            kwargs["working_dir"] = c.working_dir
        name = self._docker_name(pod, c.name, restart)
        try:
            cid = await self.rt.create(name, image, labels, hc, **kwargs)
        except RuntimeError_ as e:
            self.waiting[c.name] = ("CreateContainerError", e.message)
            self.record("Warning", "Failed", f"Error: {e.message}")
            self.schedule(self.m.backoff.next(f"{self.uid}/{c.name}", time.time()))
            return True
        self.record("Normal", "Created", f"Created container {c.name}")
        try:
            await self.rt.start(cid)
        except RuntimeError_ as e:
            log.info("%s: starting %s failed: %s", self.name(), c.name, e.message)
            self.waiting.pop(c.name, None)
            self.record("Warning", "Failed", f"Error: failed to start container \"{c.name}\": {e.message}")
            self.m.wake(self.uid)          # its state shows ContainerCannotRun; the next sync backs off
            await self._prune(insts, keep=cid)
            return True
        self.waiting.pop(c.name, None)
        self.record("Normal", "Started", f"Started container {c.name}")
        await self._prune(insts, keep=cid)
        if c.HasField("lifecycle") and c.lifecycle.HasField("post_start"):
            ok, msg = await self._run_hook(c.lifecycle.post_start, c, cid, sandbox.ip, 30.0)
            if not ok:
                self.record("Warning", "FailedPostStartHook", f"PostStartHook failed: {msg}".strip())
                self.record("Normal", "Killing", f"Container {c.name} failed to run its post-start hook, "
                                                 f"will be restarted")
                await self.rt.stop(cid, pod.spec.termination_grace_period_seconds)
        return True

    async def _run_hook(self, handler: Any, c: Any, cid: str, pod_ip: str, timeout: float) -> tuple[bool, str]:
        """A postStart/preStop handler: exec in the container, or httpGet/tcpSocket to the pod."""
        from .probes import http_get, resolve_port, tcp_socket, value_of
        try:
            if handler.HasField("exec"):
                code, out = await self.rt.exec_run(cid, list(handler.exec.command), timeout)
                return code == 0, out if code is not None else f"timed out after {timeout:g}s"
            if handler.HasField("http_get"):
                g = handler.http_get
                return await http_get(g.host or pod_ip, resolve_port(value_of(g.port), c), g.path or "/",
                                      g.scheme or "HTTP", [(h.name, h.value) for h in g.http_headers], timeout)
            if handler.HasField("tcp_socket"):
                t = handler.tcp_socket
                return await tcp_socket(t.host or pod_ip, resolve_port(value_of(t.port), c), timeout)
        except (RuntimeError_, ValueError) as e:
            return False, str(e)
        return True, ""

    async def _stop_container(self, pod: Any, c: ContainerInfo, grace: int) -> None:
        """preStop hook (within the grace period), then SIGTERM, the rest of the grace, SIGKILL."""
        spec = next((x for x in pod.spec.containers if x.name == c.container_name), None)
        t0 = time.monotonic()
        if spec is not None and spec.HasField("lifecycle") and spec.lifecycle.HasField("pre_stop") and grace > 0:
            ip = self.sandbox.ip if self.sandbox is not None else pod.status.pod_ip
            ok, msg = await self._run_hook(spec.lifecycle.pre_stop, spec, c.id, ip, float(grace))
            if not ok:
                self.record("Warning", "FailedPreStopHook", f"PreStopHook failed: {msg}".strip())
        # Kubernetes gives the container at least 2 s after a preStop hook used up the grace period.
        remaining = max(0 if grace == 0 else 2, int(grace - (time.monotonic() - t0)))
        await self.rt.stop(c.id, remaining)

    async def _start_existing(self, pod: Any, c: Any, cur: ContainerInfo, insts: list[ContainerInfo]) -> bool:
        try:
            await self.rt.start(cur.id)
            self.record("Normal", "Started", f"Started container {c.name}")
        except RuntimeError_ as e:
            self.record("Warning", "Failed", f"Error: {e.message}")
            await self.rt.remove(cur.id)
        return True

    async def _prune(self, insts: list[ContainerInfo], keep: str) -> None:
        """Keep the new instance and the one before it (for `logs --previous`); remove older ones."""
        for old in insts[1:]:
            if old.id != keep and not old.running:
                await self.rt.remove(old.id)

    # ------------------------------------------------------------ images
    async def _ensure_image(self, pod: Any, c: Any) -> str | None:
        """The image to run for `c` (pulled per its policy), or None while it waits (pulls.py)."""
        return await pulls.ensure_image(self, pod, c)

    # ------------------------------------------------------------ env
    def _env(self, pod: Any, c: Any, sandbox: ContainerInfo) -> list[str]:
        env: dict[str, str] = {}
        if self.m.services is not None:
            links = not pod.spec.HasField("enable_service_links") or pod.spec.enable_service_links
            env.update(service_env(self.m.services.list(), pod.metadata.namespace, links))
        for e in c.env:
            if e.HasField("value_from"):
                env[e.name] = self._value_from(pod, c, sandbox, e)
            else:
                env[e.name] = expand(e.value, env)
        return [f"{k}={v}" for k, v in env.items()]

    def _value_from(self, pod: Any, c: Any, sandbox: ContainerInfo, e: Any) -> str:
        src = e.value_from
        if src.HasField("field_ref"):
            path = src.field_ref.field_path
            md = pod.metadata
            simple = {"metadata.name": md.name, "metadata.namespace": md.namespace, "metadata.uid": md.uid,
                      "spec.nodeName": pod.spec.node_name or self.cfg.node_name,
                      "spec.serviceAccountName": pod.spec.service_account_name or "default",
                      "status.podIP": sandbox.ip, "status.podIPs": sandbox.ip, "status.hostIP": self.cfg.node_ip,
                      "status.hostIPs": self.cfg.node_ip}
            if path in simple:
                return simple[path]
            m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
            if m:
                return dict(getattr(md, m.group(1))).get(m.group(2), "")
            raise RuntimeError_(f'unsupported fieldRef "{path}" in env {e.name}', "CreateContainerConfigError")
        if src.HasField("resource_field_ref"):
            ref = src.resource_field_ref
            target = c
            if ref.container_name:
                target = next((x for x in pod.spec.containers if x.name == ref.container_name), c)
            kind, _, res = ref.resource.partition(".")
            values = target.resources.limits if kind == "limits" else target.resources.requests
            divisor = parse_quantity(ref.divisor) if ref.divisor else None
            if res == "cpu":
                millis = cpu_millis(values["cpu"]) if "cpu" in values else (
                    self.cfg.node_cpu_millis if kind == "limits" else 0)
                d = divisor or 1
                return str(max(1, -(-int(millis) // int(d * 1000)))) if d >= 1 else str(-(-millis // int(d * 1000)))
            if res in ("memory", "ephemeral-storage"):
                b = to_bytes(values[res]) if res in values else (self.cfg.node_memory_bytes if kind == "limits" else 0)
                d = divisor or 1
                return str(-(-b // int(d)))
            raise RuntimeError_(f'unsupported resourceFieldRef "{ref.resource}"', "CreateContainerConfigError")
        ref = src.config_map_key_ref if src.HasField("config_map_key_ref") else src.secret_key_ref
        what = "configmap" if src.HasField("config_map_key_ref") else "secret"
        if ref.HasField("optional") and ref.optional:
            return ""
        raise RuntimeError_(f'{what} "{ref.name}" not found', "CreateContainerConfigError")

    # ------------------------------------------------------------ status
    def _status(self, pod: Any, containers: list[ContainerInfo], sandbox: ContainerInfo | None) -> Any:
        st = pb.PodStatus()
        st.CopyFrom(pod.status)
        del st.container_statuses[:]
        del st.init_container_statuses[:]
        st.host_ip = self.cfg.node_ip
        if sandbox is not None and sandbox.running and sandbox.ip:
            st.pod_ip = sandbox.ip
            del st.pod_ips[:]
            st.pod_ips.add(ip=sandbox.ip)
        st.start_time = st.start_time or self.start_time
        latest: dict[str, list[ContainerInfo]] = {}
        for c in containers:
            if not c.is_sandbox:
                latest.setdefault(c.container_name, []).append(c)
        for c in pod.spec.init_containers:
            st.init_container_statuses.append(self._container_status(c, latest.get(c.name, []), init=True))
        for c in pod.spec.containers:
            st.container_statuses.append(self._container_status(c, latest.get(c.name, []), init=False))
        initialized = all(s.state.HasField("terminated") and s.state.terminated.exit_code == 0
                          for s in st.init_container_statuses)
        st.phase = self._phase(pod, st, initialized)
        st.reason, st.message = "", ""
        conditions = _conditions(pod, st, sandbox is not None and sandbox.running, initialized, self.start_time)
        del st.conditions[:]
        st.conditions.extend(conditions)
        return st

    def _container_status(self, c: Any, insts: list[ContainerInfo], init: bool) -> Any:
        s = pb.ContainerStatus(name=c.name, image=c.image)
        cur = insts[0] if insts else None
        prev = insts[1] if len(insts) > 1 else None
        waiting = self.waiting.get(c.name)
        if cur is not None:
            s.restart_count = cur.restart_count
            s.container_id = f"docker://{cur.id}"
            s.image_id = f"docker://{cur.image_id}"
            if cur.image and cur.image != c.image:
                s.image = cur.image
        if cur is not None and cur.running:
            s.state.running.started_at = cur.started_at
            if prev is not None and prev.exited:
                _terminated(s.last_state.terminated, prev)
            s.started = self.m.probes.started(self.uid, c.name, cur.id) if c.HasField("startup_probe") else True
            s.ready = False if init else self.m.probes.ready(self.uid, c.name, cur.id)
        elif waiting:
            s.state.waiting.reason = waiting[0]
            if waiting[1]:
                s.state.waiting.message = waiting[1]
            last = cur if cur is not None and cur.exited else prev if prev is not None and prev.exited else None
            if last is not None:
                _terminated(s.last_state.terminated, last)
            s.started = False
        elif cur is not None and cur.exited:
            _terminated(s.state.terminated, cur)
            if prev is not None and prev.exited:
                _terminated(s.last_state.terminated, prev)
            s.started = False
        else:
            s.state.waiting.reason = "ContainerCreating"
            s.started = False
        return s

    @staticmethod
    def _phase(pod: Any, st: Any, initialized: bool) -> str:
        """Kubernetes' getPhase."""
        if not initialized:
            failed_init = any(s.state.HasField("terminated") and s.state.terminated.exit_code != 0
                              for s in st.init_container_statuses)
            if failed_init and pod.spec.restart_policy == "Never":
                return "Failed"
            return "Pending"
        running = waiting = stopped = succeeded = 0
        for s in st.container_statuses:
            if s.state.HasField("running"):
                running += 1
            elif s.state.HasField("terminated"):
                stopped += 1
                if s.state.terminated.exit_code == 0:
                    succeeded += 1
            elif s.state.HasField("waiting"):
                if s.last_state.HasField("terminated"):
                    stopped += 1
                else:
                    waiting += 1
        if waiting:
            return "Pending"
        if running:
            return "Running"
        if stopped:
            policy = pod.spec.restart_policy or "Always"
            if policy == "Always":
                return "Running"
            if stopped == succeeded:
                return "Succeeded"
            if policy == "Never":
                return "Failed"
            return "Running"
        return "Pending"

    async def _write_status(self, pod: Any, status: Any) -> None:
        """update_status when the computed status differs from the API's (or from our last write,
        while the informer has not caught up with it)."""
        if status == pod.status:
            return
        blob = status.SerializeToString(deterministic=True)
        if blob == self.last_status and _rv(pod) <= self.last_status_rv:
            return
        current = pod
        for _ in range(5):
            obj = pb.Pod()
            obj.CopyFrom(current)
            if obj.metadata.uid != self.uid:
                return
            obj.status.CopyFrom(status)
            try:
                written = await self.m.client.update_status(obj)
                self.last_status = blob
                self.last_status_rv = _rv(written)
                log.debug("status of %s: %s", self.name(), status.phase)
                return
            except errors.Conflict:
                try:
                    current = await self.m.client.get("Pod", pod.metadata.name, pod.metadata.namespace)
                except errors.NotFound:
                    return
            except errors.NotFound:
                return
        log.warning("could not write the status of %s (conflicts)", self.name())
        self.schedule(1.0)

    # ------------------------------------------------------------ stopping
    async def _stop_running(self, pod: Any | None, containers: list[ContainerInfo], grace: int, reason: str) -> None:
        apps = [c for c in containers if c.running and not c.is_sandbox]
        if pod is not None:
            for c in apps:
                self.record("Normal", "Killing", reason or f"Stopping container {c.container_name}")
        await asyncio.gather(*(self.rt.stop(c.id, grace) for c in apps))
        sandboxes = [c for c in containers if c.running and c.is_sandbox]
        await asyncio.gather(*(self.rt.stop(c.id, 2) for c in sandboxes))

    async def _terminate(self, pod: Any, containers: list[ContainerInfo]) -> None:
        """Graceful deletion: stop everything within the grace period, then delete the pod (grace 0)."""
        if not self.terminated:
            grace = pod.metadata.deletion_grace_period_seconds if pod.metadata.HasField(
                "deletion_grace_period_seconds") else pod.spec.termination_grace_period_seconds
            running = [c for c in containers if c.running and not c.is_sandbox]
            log.info("stopping pod %s (grace %ss)", self.name(), grace)
            for c in running:
                self.record("Normal", "Killing", f"Stopping container {c.container_name}")
            stops = [asyncio.create_task(self._stop_container(pod, c, grace)) for c in running]
            while stops and not all(t.done() for t in stops):
                waker = asyncio.create_task(self.wake.wait())
                done, _ = await asyncio.wait([*stops, waker], return_when=asyncio.FIRST_COMPLETED)
                if waker in done:
                    self.wake.clear()
                    new = self.pod
                    new_grace = None if new is None else (new.metadata.deletion_grace_period_seconds
                                                          if new.metadata.HasField("deletion_grace_period_seconds")
                                                          else grace)
                    if new is None or (new_grace is not None and new_grace < grace):
                        log.info("grace period of %s shortened: killing", self.name())
                        await asyncio.gather(*(self.rt.kill(c.id) for c in running), return_exceptions=True)
                else:
                    waker.cancel()
            await asyncio.gather(*stops, return_exceptions=True)
            containers = await self.rt.list_containers(self.uid)
            await asyncio.gather(*(self.rt.stop(c.id, 2) for c in containers if c.is_sandbox and c.running))
            self.m.probes.forget_pod(self.uid)
            self.terminated = True
            containers = await self.rt.list_containers(self.uid)
            if self.pod is not None:
                status = self._status(self.pod, containers, None)
                status.phase = "Succeeded" if all(
                    s.state.HasField("terminated") and s.state.terminated.exit_code == 0
                    for s in status.container_statuses) else "Failed"
                for cond in status.conditions:
                    if cond.type in ("Ready", "ContainersReady") and cond.status == "True":
                        cond.status, cond.last_transition_time = "False", timeutil.now_str()
                await self._write_status(self.pod, status)
        pod = self.pod
        if pod is None:
            self.schedule(0)        # deleted meanwhile (its wake-up was used above): clean up now
            return
        try:
            await self.m.client.delete("Pod", pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                       precondition_uid=self.uid)
            log.info("deleted pod %s", self.name())
        except errors.NotFound:
            pass
        except errors.Conflict:
            pass      # a new pod of that name: ours is gone already
        except errors.ApiError as e:
            log.warning("deleting pod %s: %s", self.name(), e)
            self.schedule(2.0)

    async def _cleanup(self, containers: list[ContainerInfo]) -> None:
        """The pod is gone from the API: stop (fast) and remove its containers and volumes."""
        running = [c for c in containers if c.running]
        if running:
            grace = FORCE_GRACE
            log.info("pod %s was deleted; stopping %d containers", self.name(), len(running))
            await asyncio.gather(*(self.rt.stop(c.id, grace if not c.is_sandbox else 1) for c in running))
        await asyncio.gather(*(self.rt.remove(c.id) for c in containers))
        self.m.prepared.difference_update(c.id for c in containers)
        self.m.probes.forget_pod(self.uid)
        self.m.backoff.forget_prefix(self.uid + "/")
        self.m.pull_backoff.forget_prefix(self.uid + "/")
        if not await self.m.volumes.teardown(self.uid):
            self.schedule(5.0)
            return
        self.done = True


CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def _conditions(pod: Any, st: Any, sandbox_up: bool, initialized: bool, start_time: str) -> list[Any]:
    """The pod conditions the kubelet owns, transition times kept while a status stays the same;
    conditions others own (PodScheduled, ...) are kept as they are."""
    old = {c.type: c for c in pod.status.conditions}
    not_ready = [s.name for s in st.container_statuses if not s.ready]
    running_ready = not not_ready and st.phase == "Running"
    if not not_ready:
        why, msg = "", ""
    elif st.phase in TERMINAL:
        why, msg = "PodCompleted", ""
    else:
        why, msg = "ContainersNotReady", f"containers with unready status: [{' '.join(not_ready)}]"
    incomplete = [s.name for s in st.init_container_statuses
                  if not s.state.HasField("terminated") or s.state.terminated.exit_code]
    wanted = [("PodReadyToStartContainers", sandbox_up, "", ""),
              ("Initialized", initialized, "" if initialized else "ContainersNotInitialized",
               "" if initialized else f"containers with incomplete status: [{' '.join(incomplete)}]"),
              ("Ready", running_ready, why, msg),
              ("ContainersReady", running_ready, why, msg)]
    now = timeutil.now_str()
    out = []
    for type_, ok, reason, message in wanted:
        prev = old.get(type_)
        status = "True" if ok else "False"
        since = prev.last_transition_time if prev is not None and prev.status == status else now
        out.append(pb.Condition(type=type_, status=status, reason=reason, message=message,
                                last_transition_time=since))
    if "PodScheduled" not in old:
        out.append(pb.Condition(type="PodScheduled", status="True", last_transition_time=start_time or now))
    managed = {w[0] for w in wanted}
    for c in pod.status.conditions:
        if c.type not in managed:
            copy = pb.Condition()
            copy.CopyFrom(c)
            out.append(copy)
    rank = {t: i for i, t in enumerate(CONDITION_ORDER)}
    return sorted(out, key=lambda c: rank.get(c.type, len(rank)))


def _rv(obj: Any) -> int:
    try:
        return int(obj.metadata.resource_version)
    except ValueError:
        return 0


def _terminated(t: Any, c: ContainerInfo) -> None:
    t.exit_code = c.exit_code
    t.reason = c.termination_reason
    if c.error:
        t.message = c.error
    t.started_at = c.started_at
    t.finished_at = c.finished_at
    t.container_id = f"docker://{c.id}"


def _fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    return f"{m}m{s}s" if s else f"{m}m0s"


class PodManager:
    """The kubelet's pod side: informer → workers; docker events; housekeeping."""

    def __init__(self, client: Client, runtime: DockerRuntime, recorder: EventRecorder, config: PodConfig) -> None:
        self.client = client
        self.runtime = runtime
        self.recorder = recorder
        self.config = config
        self.backoff = Backoff(config.backoff_base, config.backoff_max)
        self.pull_backoff = Backoff(config.backoff_base, config.backoff_max)
        self.pull_failed_at: dict[str, float] = {}
        self.volumes = VolumeManager(runtime)
        self.probes = ProbeManager(runtime, lambda pod, t, r, m: recorder.event(pod, t, r, m), self.wake)
        self.workers: dict[str, PodWorker] = {}
        self.informer = Informer(client, "Pod", namespace="", field_selector=f"spec.nodeName={config.node_name}")
        self.informer.add_handlers(self._on_add, self._on_update, self._on_delete)
        # Services, for the containers' service environment variables (read when a container starts).
        self.services: Informer | None = Informer(client, "Service") if config.service_links else None
        self.prepared: set[str] = set()     # sandboxes whose route and resolv.conf are in place (this process)
        self._tasks: list[asyncio.Task[Any]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._images_seen: dict[str, float] = {}

    async def image_present(self, ref: str) -> bool:
        """Is the image on the engine? (A yes is believed for a few seconds: starting a burst of
        pods of one image asks once, not once per pod.)"""
        now = time.monotonic()
        seen = self._images_seen.get(ref)
        if seen is not None and now - seen < 5.0:
            return True
        present = await self.runtime.inspect_image(ref) is not None
        if present:
            self._images_seen[ref] = now
        else:
            self._images_seen.pop(ref, None)
        return present

    # ------------------------------------------------------------ life cycle
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.runtime.ensure_network(self.config.network)
        if self.services is not None:
            self.services.start()
            try:
                await self.services.wait_synced(30)
            except asyncio.TimeoutError:
                log.warning("service informer not synced after 30s; containers may start without service env")
        self.informer.start()
        await self.informer.wait_synced()
        log.info("pod informer synced: %d pods bound to %s", len(self.informer.store), self.config.node_name)
        self._tasks.append(asyncio.create_task(self._housekeeping_loop(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self._resync_loop(), name="resync"))

    async def stop(self) -> None:
        """Stop syncing; containers keep running (a restarted kubelet adopts them)."""
        for t in self._tasks:
            t.cancel()
        for w in list(self.workers.values()):
            if w.task is not None:
                w.task.cancel()
        self.probes.stop()
        await self.informer.stop()
        if self.services is not None:
            await self.services.stop()
        await asyncio.gather(*self._tasks, *(w.task for w in self.workers.values() if w.task),
                             return_exceptions=True)

    # ------------------------------------------------------------ inputs
    def _worker(self, uid: str, pod: Any | None) -> PodWorker:
        w = self.workers.get(uid)
        if w is None:
            w = self.workers[uid] = PodWorker(self, uid, pod)
            w.task = asyncio.create_task(w.run(), name=f"pod-{uid[:8]}")
        return w

    def worker_done(self, w: PodWorker) -> None:
        if self.workers.get(w.uid) is w:
            del self.workers[w.uid]

    def wake(self, uid: str) -> None:
        w = self.workers.get(uid)
        if w is not None:
            w.wake.set()

    def wake_threadsafe(self, uid: str, action: str, attrs: dict[str, str]) -> None:
        if action in ("die", "oom", "destroy") and self._loop is not None:
            self._loop.call_soon_threadsafe(self.wake, uid)

    def _on_add(self, pod: Any) -> None:
        w = self._worker(pod.metadata.uid, pod)
        w.pod = pod
        w.wake.set()

    def _on_update(self, old: Any, new: Any) -> None:
        if old.metadata.uid != new.metadata.uid:
            self._on_delete(old)
            self._on_add(new)
            return
        w = self._worker(new.metadata.uid, new)
        w.pod = new
        if _spec_or_deletion_changed(old, new) or w.first_sync:
            w.wake.set()

    def _on_delete(self, pod: Any) -> None:
        w = self.workers.get(pod.metadata.uid)
        if w is None:
            w = self._worker(pod.metadata.uid, None)
        w.pod = None
        w.wake.set()

    # ------------------------------------------------------------ periodic
    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync_period * (0.9 + random.random() * 0.2))
            for w in list(self.workers.values()):
                w.wake.set()

    async def _housekeeping_loop(self) -> None:
        while True:
            try:
                await self.housekeeping()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")
            await asyncio.sleep(self.config.housekeeping_period)

    async def housekeeping(self) -> None:
        """Remove containers and volumes of pods this node does not have (deleted, or never ours)."""
        known = set(self.workers)
        known |= {p.metadata.uid for p in self.informer.list()}
        orphans: dict[str, list[ContainerInfo]] = {}
        for c in await self.runtime.list_containers():
            if c.uid not in known:
                orphans.setdefault(c.uid, []).append(c)
        for uid, cs in orphans.items():
            if uid in self.workers:
                continue
            ns, name = cs[0].labels.get(L_NAMESPACE, ""), cs[0].labels.get(L_POD, "")
            log.info("removing %d containers of pod %s/%s (uid %s): not bound to %s", len(cs), ns, name, uid,
                     self.config.node_name)
            await asyncio.gather(*(self.runtime.stop(c.id, FORCE_GRACE) for c in cs if c.running))
            await asyncio.gather(*(self.runtime.remove(c.id) for c in cs))
        for v in await self.runtime.list_volumes():
            uid = (v.get("Labels") or {}).get(L_UID, "")
            if uid and uid not in known and uid not in self.workers:
                await self.runtime.remove_volume(v["Name"])


def _spec_or_deletion_changed(old: Any, new: Any) -> bool:
    if old.spec != new.spec:
        return True
    om, nm = old.metadata, new.metadata
    if om.deletion_timestamp != nm.deletion_timestamp:
        return True
    if om.deletion_grace_period_seconds != nm.deletion_grace_period_seconds:
        return True
    if om.labels != nm.labels or om.annotations != nm.annotations:
        return True
    return False
